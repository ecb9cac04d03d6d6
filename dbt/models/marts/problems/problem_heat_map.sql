{{ config(materialized='incremental', unique_key='month_start') }}
-- Тепловая карта проблем per region × municipality × sector × month: appeals, appeals per 10 000 residents,
-- overdue share, and the intensity index = per-10k ÷ the region's median per-10k for that sector and month
-- (median over the municipalities that had appeals of that sector in that month). A cell is hot (is_hot) when its
-- index reaches var heat_hot_index (1.5) on at least var heat_min_appeals appeals: an index on one or two appeals is noise.
-- Incremental (by month, macros/marts/incremental_marts.sql): the changed months are rebuilt from their appeals.
-- depends_on: {{ ref('reporting_months') }}
with
{%- if is_incremental() %}
rebuilt_months as (
    {{ mart_changed_months() }}
),
{%- endif %}

cells as (
    select
        region_code,
        oktmo,
        sector_code,
        month_start,
        count(*) as appeals,
        {{ mart_count_if('is_open_overdue or (is_answered and not is_answered_on_time)') }} as overdue
    from {{ ref('appeal_outcomes') }}
    {%- if is_incremental() %}
    where month_start in (select month_start from rebuilt_months)
    {%- endif %}
    group by region_code, oktmo, sector_code, month_start
),

rates as (
    select
        c.*,
        m.municipality_name,
        m.population,
        m.latitude,
        m.longitude,
        10000 * {{ mart_ratio('c.appeals', 'm.population') }} as per_10k
    from cells as c
    -- the «не определено» municipality has no population and no place on the map
    inner join {{ ref('dim_municipality') }} as m
        on m.oktmo = c.oktmo and m.population > 0
),

medians as (
    select region_code, sector_code, month_start, {{ mart_median('per_10k') }} as region_median_per_10k
    from rates
    group by region_code, sector_code, month_start
)

select
    r.region_code,
    reg.region_name,
    r.oktmo,
    r.municipality_name,
    r.latitude,
    r.longitude,
    r.sector_code,
    coalesce(s.sector_name, 'не определено') as sector_name,
    r.month_start,
    {{ mart_month_label('r.month_start') }} as report_month,
    r.month_start = as_of.as_of_month as is_partial_month,
    r.appeals,
    r.population,
    {{ mart_round('r.per_10k', 3) }} as appeals_per_10k,
    r.overdue,
    {{ mart_round(mart_ratio('r.overdue', 'r.appeals')) }} as overdue_share,
    {{ mart_round('md.region_median_per_10k', 3) }} as region_median_per_10k,
    {{ mart_round(mart_ratio('r.per_10k', 'md.region_median_per_10k'), 3) }} as intensity_index,
    r.appeals >= {{ var('heat_min_appeals') }} as has_min_volume,
    coalesce(
        r.appeals >= {{ var('heat_min_appeals') }}
        and {{ mart_ratio('r.per_10k', 'md.region_median_per_10k') }} >= {{ var('heat_hot_index') }},
        false
    ) as is_hot,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from rates as r
cross join {{ ref('reporting_as_of') }} as as_of
inner join medians as md
    on md.region_code = r.region_code and md.sector_code = r.sector_code and md.month_start = r.month_start
left join {{ ref('dim_sector') }} as s on s.region_code = r.region_code and s.sector_code = r.sector_code
left join {{ ref('dim_region') }} as reg on reg.region_code = r.region_code
{%- if is_incremental() %}

union all

-- a rebuilt month without cells on the map: its stored rows go
{{ removed_rows('select month_start from rebuilt_months where month_start not in (select month_start from rates)', key='month_start') }}
{%- endif %}
