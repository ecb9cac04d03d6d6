-- Мониторинг обязательных и дополнительных показателей ЦУР: per region × indicator × target year, the actual value
-- as of the latest loaded data, a linear projection to the target date, and the status:
--   achieved (достигнут)  — the target is met;
--   failed (не достигнут)  — the target date has passed without the target being met;
--   at_risk (под угрозой)  — the linear projection misses the target at the target date (or there is no value yet);
--   on_track (в графике)   — otherwise.
-- Only the targets whose period overlaps the region's own loaded data are tracked: a target date before the region's
-- first appeal is not tracked, whatever other regions loaded (a region without appeals has no tracked targets).
with as_of as (
    select as_of_date from {{ ref('reporting_as_of') }}
),

first_loaded as (
    select region_code, min(registered_date) as first_date
    from {{ ref('appeal_outcomes') }}
    group by region_code
),

targets as (
    select
        t.region_code,
        t.indicator_code,
        t.year,
        cast(t.target_value as {{ mart_double() }}) as target_value,
        t.target_date,
        cast({{ dbt.date_trunc('year', 't.target_date') }} as date) as period_start,
        case when t.target_date < as_of.as_of_date then t.target_date else as_of.as_of_date end as measure_end,
        as_of.as_of_date
    from {{ ref('indicator_targets') }} as t
    cross join as_of
    inner join first_loaded
        on first_loaded.region_code = t.region_code
    where cast({{ dbt.date_trunc('year', 't.target_date') }} as date) <= as_of.as_of_date
      and t.target_date >= first_loaded.first_date
),

points as (
    select
        t.region_code,
        t.indicator_code,
        t.year,
        v.value_date,
        v.numerator,
        v.denominator,
        v.value,
        cast({{ dbt.datediff('t.period_start', 'v.value_date', 'day') }} as {{ mart_double() }}) as x_days,
        row_number() over (
            partition by t.region_code, t.indicator_code, t.year order by v.value_date desc
        ) as recency
    from targets as t
    inner join {{ ref('indicator_values') }} as v
        on v.region_code = t.region_code
       and v.indicator_code = t.indicator_code
       and v.value_date >= t.period_start
       and v.value_date <= t.measure_end
),

fits as (
    select
        region_code,
        indicator_code,
        year,
        count(*) as data_points,
        max(value_date) as last_value_date,
        100 * {{ mart_ratio('sum(numerator)', 'sum(denominator)') }} as period_ratio,
        max(case when recency = 1 then value end) as latest_value,
        max(case when recency = 1 then x_days end) as latest_x_days,
        regr_slope(value, x_days) as slope,
        regr_intercept(value, x_days) as intercept
    from points
    group by region_code, indicator_code, year
),

evaluated as (
    select
        t.*,
        i.indicator_kind,
        i.function,
        i.indicator_name,
        i.unit,
        i.direction,
        i.owner_role,
        i.source,
        i.computed_metric,
        i.federal_project_result,
        i.qualitative_characteristic,
        i.quantitative_characteristic,
        coalesce(f.data_points, 0) as data_points,
        f.last_value_date,
        -- computed: the share over the period so far; manual: the latest value entered (нарастающим итогом)
        case when i.source = 'computed' then f.period_ratio else f.latest_value end as actual_value,
        case
            -- a straight line through the period's values, read at the target date
            when f.data_points >= 2 and f.slope is not null
                then f.intercept + f.slope * {{ dbt.datediff('t.period_start', 't.target_date', 'day') }}
            -- a single count: its run rate since the period start
            when i.source = 'manual' and i.unit <> '%'
                then f.latest_value * {{ dbt.datediff('t.period_start', 't.target_date', 'day') }}
                     / (case when f.latest_x_days < 1 then 1 else f.latest_x_days end)
            -- a single share stays where it is
            when i.source = 'computed' then f.period_ratio
            else f.latest_value
        end as projected_value
    from targets as t
    inner join {{ ref('indicators') }} as i on i.indicator_code = t.indicator_code
    left join fits as f
        on f.region_code = t.region_code and f.indicator_code = t.indicator_code and f.year = t.year
),

statuses as (
    select
        evaluated.*,
        case
            when actual_value is not null and (
                (direction = 'lower_is_better' and actual_value <= target_value)
                or (direction <> 'lower_is_better' and actual_value >= target_value)
            ) then 'achieved'
            when as_of_date > target_date then 'failed'
            when projected_value is null
              or (direction = 'lower_is_better' and projected_value > target_value)
              or (direction <> 'lower_is_better' and projected_value < target_value) then 'at_risk'
            else 'on_track'
        end as status
    from evaluated
)

select
    statuses.region_code,
    reg.region_name,
    indicator_code,
    indicator_kind,
    case indicator_kind when 'mandatory' then 'обязательный' when 'additional' then 'дополнительный' end as indicator_kind_ru,
    function,
    indicator_name,
    unit,
    direction,
    owner_role,
    source,
    computed_metric,
    federal_project_result,
    qualitative_characteristic,
    quantitative_characteristic,
    year,
    period_start,
    target_date,
    {{ mart_date_ru('target_date') }} as target_date_ru,
    target_value,
    {{ mart_round('actual_value', 2) }} as actual_value,
    last_value_date,
    data_points,
    {{ mart_round('projected_value', 2) }} as projected_value,
    status,
    case status
        when 'achieved' then 'достигнут'
        when 'on_track' then 'в графике'
        when 'at_risk' then 'под угрозой'
        when 'failed' then 'не достигнут'
    end as status_ru,
    as_of_date
from statuses
left join {{ ref('dim_region') }} as reg on reg.region_code = statuses.region_code
