-- Всплески, шаг 1: the hours at which a municipality × category (or × sector) series went above its control limit,
-- over a 1-hour and a 24-hour window (docs/kpi_methodology.md «problem_spikes»). Evaluated at every hour in which the
-- series has an appeal (the count in a window only grows at such an hour), from spike_history_days before the as-of
-- moment on. A table rebuilt whole by every (hourly) build over that bounded window: equal to a full refresh by
-- construction.
--
-- Expected count of a window ending at hour t of the series' municipality m:
--   baseline rate  = (appeals of the series in the spike_baseline_days before the 24 h that end at t + 1)
--                    ÷ (spike_baseline_days × 24)                      — the municipality's own normal level
--   × weekly shape = Σ over the window's hours of the region's hour-of-week profile (mean 1)   — weekday and hour
--   × season       = max(1, (rest of region in the window + k) ÷ (rest of region expected + k)) — the same series in
--                    the other municipalities of the region now against their own baseline: a seasonal or
--                    region-wide rise lifts the limit, a rise in one municipality does not
-- and the window is above its limit when it has at least spike_min_appeals_hour / _day appeals and the Poisson
-- surprise (Wilson–Hilferty: P(X ≥ n | λ) = Φ(−z), z = 3√n · (1 − 1/(9n) − (λ/n)^⅓)) is at least spike_z.
{%- set baseline_hours = var('spike_baseline_days') * 24 %}
{%- set windows = {1: var('spike_min_appeals_hour'), 24: var('spike_min_appeals_day')} %}

with as_of as (
    select
        as_of_at,
        {{ dbt.dateadd('day', -var('spike_history_days'), dbt.date_trunc('hour', 'as_of_at')) }} as evaluate_from,
        {{ dbt.dateadd('hour', -(baseline_hours + 24), dbt.dateadd('day', -var('spike_history_days'),
                                                                        dbt.date_trunc('hour', 'as_of_at'))) }} as read_from
    from {{ ref('reporting_as_of') }}
),

appeals as (
    select
        f.region_code,
        f.oktmo,
        f.sector_code,
        f.category_code,
        {{ dbt.date_trunc('hour', 'f.registered_at') }} as hour_at,
        {{ to_local('f.registered_at', 'r.timezone') }} as registered_local
    from {{ ref('fct_appeals') }} as f
    cross join as_of
    inner join {{ ref('dim_region') }} as r
        on r.region_code = f.region_code
    where f.oktmo is not null
      and f.oktmo <> '00000000'
      and f.registered_at >= as_of.read_from
      and f.registered_at <= as_of.as_of_at
),

-- an hour is evaluated when the region has a full baseline before it, and within spike_history_days of the as-of
warmed_up as (
    select
        appeals.region_code,
        greatest(max(as_of.evaluate_from),
                 {{ dbt.dateadd('hour', baseline_hours + 24, 'min(appeals.hour_at)') }}) as evaluate_from
    from appeals
    cross join as_of
    group by appeals.region_code
),

-- the region's hour-of-week profile, mean 1 over the 168 hours of the week (local time)
profile as (
    select
        region_code,
        how,
        count(*) * 168.0 / sum(count(*)) over (partition by region_code) as weight
    from (
        select
            region_code,
            (cast({{ iso_day_of_week('registered_local') }} as {{ dbt.type_int() }}) - 1) * 24
                + cast(extract(hour from registered_local) as {{ dbt.type_int() }}) as how
        from appeals
    ) as slots
    group by region_code, how
),

-- Σ of the profile over the `window_hours` hours that end at hour-of-week `how`
window_shape as (
    {%- for window_hours in windows %}
    {% if not loop.first %}union all{% endif %}
    select
        ends.region_code,
        ends.how,
        {{ window_hours }} as window_hours,
        sum(hours.weight) as shape
    from profile as ends
    inner join profile as hours
        on hours.region_code = ends.region_code
       and mod(ends.how - hours.how + 168, 168) < {{ window_hours }}
    group by ends.region_code, ends.how
    {%- endfor %}
),

series_appeals as (
    select region_code, oktmo, 'category' as series_kind, category_code as series_code, hour_at, registered_local
    from appeals
    where category_code <> 'unknown'
    union all
    select region_code, oktmo, 'sector' as series_kind, sector_code as series_code, hour_at, registered_local
    from appeals
    where sector_code <> 'unknown'
),

hourly as (
    select
        region_code,
        oktmo,
        series_kind,
        series_code,
        hour_at,
        (cast({{ iso_day_of_week('min(registered_local)') }} as {{ dbt.type_int() }}) - 1) * 24
            + cast(extract(hour from min(registered_local)) as {{ dbt.type_int() }}) as how,
        count(*) as appeals
    from series_appeals
    group by region_code, oktmo, series_kind, series_code, hour_at
),

{#- the appeals in the 24 h that end with the hour, and in the baseline days before those 24 h -#}
{%- set rolling_sums -%}
        sum(appeals) over (
            partition by PARTITION order by hour_at
            range between interval '23 hours' preceding and current row) as appeals_24h,
        sum(appeals) over (
            partition by PARTITION order by hour_at
            range between interval '{{ baseline_hours + 23 }} hours' preceding and interval '24 hours' preceding
        ) as baseline_appeals
{%- endset %}

municipal as (
    select
        hourly.*,
        {{ rolling_sums | replace('PARTITION', 'oktmo, series_kind, series_code') }}
    from hourly
),

regional as (
    select
        region_code,
        series_kind,
        series_code,
        hour_at,
        appeals,
        {{ rolling_sums | replace('PARTITION', 'region_code, series_kind, series_code') }}
    from (
        select region_code, series_kind, series_code, hour_at, sum(appeals) as appeals
        from hourly
        group by region_code, series_kind, series_code, hour_at
    ) as region_hourly
),

windows as (
    {%- for window_hours, min_appeals in windows.items() %}
    {% if not loop.first %}union all{% endif %}
    select
        m.region_code,
        m.oktmo,
        m.series_kind,
        m.series_code,
        m.hour_at,
        {{ window_hours }} as window_hours,
        {{ min_appeals }} as min_appeals,
        {{ 'm.appeals' if window_hours == 1 else 'm.appeals_24h' }} as appeals,
        coalesce(m.baseline_appeals, 0) as baseline_appeals,
        {{ 'g.appeals - m.appeals' if window_hours == 1 else 'g.appeals_24h - m.appeals_24h' }} as rest_appeals,
        coalesce(g.baseline_appeals, 0) - coalesce(m.baseline_appeals, 0) as rest_baseline_appeals,
        s.shape
    from municipal as m
    inner join regional as g
        on g.region_code = m.region_code
       and g.series_kind = m.series_kind
       and g.series_code = m.series_code
       and g.hour_at = m.hour_at
    inner join window_shape as s
        on s.region_code = m.region_code
       and s.how = m.how
       and s.window_hours = {{ window_hours }}
    inner join warmed_up as w
        on w.region_code = m.region_code
    where m.hour_at >= w.evaluate_from
      and {{ 'm.appeals' if window_hours == 1 else 'm.appeals_24h' }} >= {{ min_appeals }}
    {%- endfor %}
),

expected as (
    select
        windows.*,
        -- +1: a series never seen in the baseline still has a small positive rate
        (baseline_appeals + 1) * shape / {{ baseline_hours }} as normal_expected,
        greatest(1.0, (rest_appeals + {{ var('spike_region_prior') }})
                      / (rest_baseline_appeals * shape / {{ baseline_hours }} + {{ var('spike_region_prior') }}))
            as season_factor
    from windows
),

scored as (
    select
        expected.*,
        normal_expected * season_factor as expected_appeals,
        3 * sqrt(cast(appeals as {{ mart_double() }}))
          * (1 - 1 / (9.0 * appeals) - power(normal_expected * season_factor / appeals, 1.0 / 3)) as surprise_z
    from expected
)

select
    region_code,
    oktmo,
    series_kind,
    series_code,
    hour_at,
    window_hours,
    appeals,
    {{ mart_round('expected_appeals', 3) }} as expected_appeals,
    {{ mart_round('season_factor', 3) }} as season_factor,
    {{ mart_round('surprise_z', 3) }} as surprise_z
from scored
where surprise_z >= {{ var('spike_z') }}
