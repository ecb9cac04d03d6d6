-- Нагрузка отраслевых блоков: appeals per ЦУР staff member of the sector block per ISO week, and the
-- кадровое усиление flag when the load is above the threshold for workload_consecutive_weeks weeks in a row.
with as_of as (
    select as_of_date from {{ ref('reporting_as_of') }}
),

staff as (
    select region_code, sector_code, cast(staff_count as {{ dbt.type_int() }}) as staff_count
    from {{ ref('sector_staff') }}
),

weekly_appeals as (
    select a.region_code, a.sector_code, d.iso_week_start, count(*) as appeals
    from {{ ref('appeal_outcomes') }} as a
    inner join {{ ref('dim_date') }} as d on d.date_day = a.registered_date
    group by a.region_code, a.sector_code, d.iso_week_start
),

-- every week from the region's own first appeal to the as-of date, so that weeks without appeals break a streak (and
-- a region whose history starts later gets no zero weeks before it)
first_appeals as (
    select region_code, min(registered_date) as first_date
    from {{ ref('appeal_outcomes') }}
    group by region_code
),

weeks as (
    select distinct f.region_code, d.iso_week_start
    from first_appeals as f
    cross join as_of
    inner join {{ ref('dim_date') }} as d
        on d.date_day >= f.first_date and d.date_day <= as_of.as_of_date
),

loads as (
    select
        s.region_code,
        s.sector_code,
        s.staff_count,
        w.iso_week_start,
        coalesce(wa.appeals, 0) as appeals,
        {{ mart_ratio('coalesce(wa.appeals, 0)', 's.staff_count') }} as appeals_per_staff
    from staff as s
    inner join weeks as w
        on w.region_code = s.region_code
    left join weekly_appeals as wa
        on wa.region_code = s.region_code
       and wa.sector_code = s.sector_code
       and wa.iso_week_start = w.iso_week_start
),

flagged as (
    select
        loads.*,
        coalesce(appeals_per_staff > {{ var('workload_threshold_per_staff_week') }}, false) as is_above_threshold
    from loads
),

-- gaps and islands: the weeks of one streak share (row number − row number within the same flag value)
streaks as (
    select
        flagged.*,
        row_number() over (partition by region_code, sector_code order by iso_week_start)
        - row_number() over (partition by region_code, sector_code, is_above_threshold order by iso_week_start)
            as streak_id
    from flagged
),

counted as (
    select
        streaks.*,
        case
            when is_above_threshold then row_number() over (
                partition by region_code, sector_code, is_above_threshold, streak_id order by iso_week_start)
            else 0
        end as consecutive_weeks_above
    from streaks
)

select
    c.region_code,
    reg.region_name,
    c.sector_code,
    coalesce(s.sector_name, c.sector_code) as sector_name,
    c.iso_week_start,
    c.appeals,
    c.staff_count,
    {{ mart_round('c.appeals_per_staff', 2) }} as appeals_per_staff,
    {{ var('workload_threshold_per_staff_week') }} as threshold_per_staff,
    c.is_above_threshold,
    c.consecutive_weeks_above,
    c.consecutive_weeks_above >= {{ var('workload_consecutive_weeks') }} as needs_reinforcement,
    cast({{ dbt.dateadd('day', 6, 'c.iso_week_start') }} as date) > as_of.as_of_date as is_partial_week
from counted as c
cross join as_of
left join {{ ref('dim_sector') }} as s
    on s.region_code = c.region_code and s.sector_code = c.sector_code
left join {{ ref('dim_region') }} as reg on reg.region_code = c.region_code
