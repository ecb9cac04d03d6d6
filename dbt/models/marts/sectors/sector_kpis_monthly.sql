{{ config(materialized='incremental', unique_key='month_start') }}
-- Отраслевые показатели per region × sector (отраслевой блок) × month of registration.
-- Incremental (by month, macros/marts/incremental_marts.sql): the changed months are rebuilt from their appeals.
-- depends_on: {{ ref('reporting_months') }}
with
{%- if is_incremental() %}
rebuilt_months as (
    {{ mart_changed_months() }}
),
{%- endif %}

monthly as (
    select
        region_code,
        sector_code,
        month_start,
        {{ mart_outcome_counts() }},
        {{ mart_count_if('is_other') }} as other_category
    from {{ ref('appeal_outcomes') }}
    {%- if is_incremental() %}
    where month_start in (select month_start from rebuilt_months)
    {%- endif %}
    group by region_code, sector_code, month_start
)

select
    m.region_code,
    r.region_name,
    m.sector_code,
    coalesce(s.sector_name, 'не определено') as sector_name,
    m.month_start,
    {{ mart_month_label('m.month_start') }} as report_month,
    m.received,
    m.answered,
    m.answered_on_time,
    m.open_overdue as overdue_open,
    {{ mart_round(mart_ratio('m.answered_on_time', 'm.answered + m.open_overdue')) }} as on_time_share,
    {{ mart_round('m.median_response_hours', 1) }} as median_response_hours,
    m.rated,
    m.rated_4_5,
    {{ mart_round(mart_ratio('m.rated_4_5', 'm.rated')) }} as satisfaction_share,
    m.repeats,
    {{ mart_round(mart_ratio('m.repeats', 'm.received')) }} as repeat_share,
    m.other_category,
    {{ mart_round(mart_ratio('m.other_category', 'm.received')) }} as other_share,
    m.month_start = as_of.as_of_month as is_partial_month,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from monthly as m
cross join {{ ref('reporting_as_of') }} as as_of
left join {{ ref('dim_region') }} as r on r.region_code = m.region_code
left join {{ ref('dim_sector') }} as s
    on s.region_code = m.region_code and s.sector_code = m.sector_code
{%- if is_incremental() %}

union all

-- a rebuilt month without appeals: its stored rows go
{{ removed_rows('select month_start from rebuilt_months where month_start not in (select month_start from monthly)', key='month_start') }}
{%- endif %}
