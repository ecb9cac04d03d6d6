{{ config(materialized='incremental', unique_key='month_start') }}
-- Ежемесячная сводка Губернатору (001 §3): one row per region × month with the headline numbers, their change
-- against the previous month, the top problems (categories by volume), the hottest cell of the heat map and the
-- lowest-rated agencies, as plain columns that a report renders directly.
-- Incremental (by month, macros/marts/incremental_marts.sql): the changed months and the month after each (its
-- *_change), from the appeals of those months and the month before.
-- depends_on: {{ ref('reporting_months') }}
{%- set top_n = var('governor_top_n') %}

with as_of as (
    select as_of_month from {{ ref('reporting_as_of') }}
),
{%- if is_incremental() %}

rebuilt_months as (
    {{ mart_changed_months(following=1) }}
),

-- the rebuilt months and the months before them (for the changes against the previous month)
read_months as (
    {{ mart_read_months() }}
),
{%- endif %}

monthly as (
    select
        region_code,
        month_start,
        {{ mart_outcome_counts() }}
    from {{ ref('appeal_outcomes') }}
    {%- if is_incremental() %}
    where month_start in (select month_start from read_months)
    {%- endif %}
    group by region_code, month_start
),

headline as (
    select
        region_code,
        month_start,
        received,
        answered,
        open_overdue as overdue_open,
        {{ mart_ratio('answered', 'received') }} as answered_share,
        {{ mart_ratio('answered_on_time', 'answered + open_overdue') }} as on_time_share,
        {{ mart_ratio('rated_4_5', 'rated') }} as satisfaction_share,
        {{ mart_ratio('repeats', 'received') }} as repeat_share,
        median_response_hours
    from monthly
),

problems as (
    select
        p.region_code,
        p.month_start,
        coalesce(c.category_name, 'не определено') as category_name,
        coalesce(s.sector_name, 'не определено') as sector_name,
        p.appeals,
        row_number() over (partition by p.region_code, p.month_start order by p.appeals desc, p.category_code)
            as problem_rank
    from (
        select region_code, month_start, sector_code, category_code, count(*) as appeals
        from {{ ref('appeal_outcomes') }}
        {%- if is_incremental() %}
        where month_start in (select month_start from rebuilt_months)
        {%- endif %}
        group by region_code, month_start, sector_code, category_code
    ) as p
    left join {{ ref('dim_category') }} as c on c.category_code = p.category_code
    left join {{ ref('dim_sector') }} as s on s.region_code = p.region_code and s.sector_code = p.sector_code
),

hottest as (
    select region_code, month_start, municipality_name, sector_name, intensity_index
    from (
        select
            h.region_code,
            h.month_start,
            h.municipality_name,
            h.sector_name,
            h.intensity_index,
            row_number() over (
                partition by h.region_code, h.month_start order by h.intensity_index desc, h.oktmo, h.sector_code
            ) as heat_rank
        from {{ ref('problem_heat_map') }} as h
        -- only cells with enough appeals to mean something (var heat_min_appeals)
        where h.intensity_index is not null and h.appeals >= {{ var('heat_min_appeals') }}
        {%- if is_incremental() %}
          and h.month_start in (select month_start from rebuilt_months)
        {%- endif %}
    ) as ranked
    where heat_rank = 1
),

lowest as (
    select
        region_code,
        month_start,
        agency_name_in_month,
        agency_kind,
        score,
        row_number() over (partition by region_code, month_start order by score, agency_id) as low_rank
    from {{ ref('agency_rating_monthly') }}
    where is_ranked
    {%- if is_incremental() %}
      and month_start in (select month_start from rebuilt_months)
    {%- endif %}
)

select
    h.region_code,
    r.region_name,
    r.iso_3166_2,
    h.month_start,
    {{ mart_month_label('h.month_start') }} as report_month,
    h.month_start = as_of.as_of_month as is_partial_month,
    h.received,
    h.received - prev.received as received_change,
    {{ mart_round(mart_ratio('h.received - prev.received', 'prev.received')) }} as received_change_share,
    h.answered,
    {{ mart_round('h.answered_share') }} as answered_share,
    {{ mart_round('h.answered_share - prev.answered_share') }} as answered_share_change,
    {{ mart_round('h.on_time_share') }} as on_time_share,
    {{ mart_round('h.on_time_share - prev.on_time_share') }} as on_time_share_change,
    {{ mart_round('h.satisfaction_share') }} as satisfaction_share,
    {{ mart_round('h.satisfaction_share - prev.satisfaction_share') }} as satisfaction_share_change,
    {{ mart_round('h.repeat_share') }} as repeat_share,
    {{ mart_round('h.repeat_share - prev.repeat_share') }} as repeat_share_change,
    h.overdue_open,
    h.overdue_open - prev.overdue_open as overdue_open_change,
    {{ mart_round('h.median_response_hours', 1) }} as median_response_hours,
    {{ mart_round('h.median_response_hours - prev.median_response_hours', 1) }} as median_response_hours_change,
    {%- for n in range(1, top_n + 1) %}
    p{{ n }}.category_name as top_problem_{{ n }},
    p{{ n }}.sector_name as top_problem_{{ n }}_sector,
    p{{ n }}.appeals as top_problem_{{ n }}_appeals,
    {%- endfor %}
    hot.municipality_name as hottest_municipality,
    hot.sector_name as hottest_sector,
    hot.intensity_index as hottest_intensity_index,
    {%- for n in range(1, top_n + 1) %}
    low{{ n }}.agency_name_in_month as lowest_agency_{{ n }},
    low{{ n }}.agency_kind as lowest_agency_{{ n }}_kind,
    low{{ n }}.score as lowest_agency_{{ n }}_score,
    {%- endfor %}
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from headline as h
cross join as_of
left join {{ ref('dim_region') }} as r on r.region_code = h.region_code
left join headline as prev
    on prev.region_code = h.region_code
   and prev.month_start = cast({{ dbt.dateadd('month', -1, 'h.month_start') }} as date)
left join hottest as hot on hot.region_code = h.region_code and hot.month_start = h.month_start
{%- for n in range(1, top_n + 1) %}
left join problems as p{{ n }}
    on p{{ n }}.region_code = h.region_code and p{{ n }}.month_start = h.month_start and p{{ n }}.problem_rank = {{ n }}
left join lowest as low{{ n }}
    on low{{ n }}.region_code = h.region_code and low{{ n }}.month_start = h.month_start and low{{ n }}.low_rank = {{ n }}
{%- endfor %}
{%- if is_incremental() %}
where h.month_start in (select month_start from rebuilt_months)

union all

-- a rebuilt month without appeals: its stored rows go
{{ removed_rows('select month_start from rebuilt_months where month_start not in (select month_start from headline)', key='month_start') }}
{%- endif %}
