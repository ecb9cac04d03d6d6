-- Фактические значения показателей ЦУР: one row per region × indicator × date of a value.
-- Computed indicators (source = computed): one value per month from the facts, in % (0–100), with its
-- numerator and denominator. Manual indicators (source = manual): the values the ЦУР entered by hand.
with monthly as (
    select
        region_code,
        month_start,
        {{ mart_outcome_counts() }},
        {{ mart_count_if("channel_code = 'incident'") }} as incidents,
        {{ mart_count_if("channel_code = 'incident' and is_reacted_in_time") }} as incidents_reacted_in_time
    from {{ ref('appeal_outcomes') }}
    group by region_code, month_start
),

metrics as (
    select region_code, month_start, 'on_time_share' as computed_metric,
        answered_on_time as numerator, answered + open_overdue as denominator
    from monthly
    union all
    select region_code, month_start, 'answered_share', answered, received from monthly
    union all
    select region_code, month_start, 'satisfaction_share', rated_4_5, rated from monthly
    union all
    select region_code, month_start, 'incident_reaction_share', incidents_reacted_in_time, incidents from monthly
    union all
    select region_code, month_start, 'repeat_share', repeats, received from monthly
),

computed as (
    select
        m.region_code,
        i.indicator_code,
        m.month_start as value_date,
        m.numerator,
        m.denominator,
        100 * {{ mart_ratio('m.numerator', 'm.denominator') }} as value
    from metrics as m
    inner join {{ ref('indicators') }} as i
        on i.source = 'computed' and i.computed_metric = m.computed_metric
    where m.denominator > 0
),

manual as (
    select
        a.region_code,
        a.indicator_code,
        a.actual_date as value_date,
        cast(null as {{ dbt.type_bigint() }}) as numerator,
        cast(null as {{ dbt.type_bigint() }}) as denominator,
        a.actual_value as value
    from {{ ref('stg_manual__indicator_actuals') }} as a
    inner join {{ ref('indicators') }} as i
        on i.source = 'manual' and i.indicator_code = a.indicator_code
)

select * from computed
union all
select * from manual
