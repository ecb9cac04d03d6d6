-- Отраслевые показатели per region × sector (отраслевой блок) × month of registration.
with monthly as (
    select
        region_code,
        sector_code,
        month_start,
        {{ mart_outcome_counts() }},
        {{ mart_count_if('is_other') }} as other_category
    from {{ ref('appeal_outcomes') }}
    group by region_code, sector_code, month_start
)

select
    m.region_code,
    m.sector_code,
    coalesce(s.sector_name, 'не определено') as sector_name,
    m.month_start,
    m.received,
    m.answered,
    m.answered_on_time,
    m.open_overdue as overdue_open,
    {{ mart_round(mart_ratio('m.answered_on_time', 'm.answered + m.open_overdue')) }} as on_time_share,
    {{ mart_round('m.median_response_hours', 1) }} as median_response_hours,
    m.rated,
    {{ mart_round(mart_ratio('m.rated_4_5', 'm.rated')) }} as satisfaction_share,
    m.repeats,
    {{ mart_round(mart_ratio('m.repeats', 'm.received')) }} as repeat_share,
    m.other_category,
    {{ mart_round(mart_ratio('m.other_category', 'm.received')) }} as other_share
from monthly as m
left join {{ ref('dim_sector') }} as s
    on s.region_code = m.region_code and s.sector_code = m.sector_code
