-- Deadlines (сроки) and response times:
--   обращение 59-ФЗ: 30 calendar days from the local registration date, +30 when extended (продление);
--   сообщение (ПОС, portals): the category's deadline in working days of the production calendar, from the local date;
--   инцидент из соцсетей: reaction within incident_reaction_hours of detection.
-- A date deadline expires at the local midnight ending that date, in the region's IANA zone (macro local_date_end_utc).
-- A view: row by row over the conformed appeals (a table) with their repeat flags (a table), read by fct_appeals.
with appeals as (
    select
        conformed.*,
        repeats.is_repeat,
        repeats.has_repeat_after_answer,
        repeats.processed_at as repeat_processed_at
    from {{ ref('int_appeals_conformed') }} as conformed
    inner join {{ ref('int_appeals_repeats_flagged') }} as repeats
        on conformed.appeal_key = repeats.appeal_key
    where conformed.exclusion_reason is null
),

calendar as (
    select date_day, is_working_day, working_day_index from {{ ref('dim_date') }}
),

with_rule as (
    select
        appeals.*,
        case
            when appeal_kind = 'обращение 59-ФЗ' then 'calendar_days'
            when appeal_kind = 'инцидент из соцсетей' then 'reaction_hours'
            else 'working_days'
        end as deadline_rule,
        cast({{ to_local('answered_at', 'time_zone') }} as date) as answered_date
    from appeals
),

with_deadline_date as (
    select
        with_rule.*,
        registered_day.working_day_index as registered_working_day_index,
        answered_day.working_day_index as answered_working_day_index,
        case
            when deadline_rule = 'calendar_days' then cast(
                {{ dbt.dateadd('day', 'case when extended_at is not null then 60 else 30 end', 'registered_date') }}
                as date)
            when deadline_rule = 'working_days' then deadline_day.date_day
        end as deadline_date_by_days
    from with_rule
    left join calendar as registered_day
        on with_rule.registered_date = registered_day.date_day
    left join calendar as answered_day
        on with_rule.answered_date = answered_day.date_day
    left join calendar as deadline_day
        on with_rule.deadline_rule = 'working_days'
        and deadline_day.is_working_day
        and deadline_day.working_day_index = registered_day.working_day_index + with_rule.deadline_working_days
),

with_deadline as (
    select
        with_deadline_date.*,
        case
            when deadline_rule = 'reaction_hours'
                then {{ dbt.dateadd('hour', var('incident_reaction_hours'), 'registered_at') }}
            else {{ local_date_end_utc('deadline_date_by_days', 'time_zone') }}
        end as deadline_at
    from with_deadline_date
)

select
    with_deadline.*,
    case
        when deadline_rule = 'reaction_hours'
            then cast({{ to_local('deadline_at', 'time_zone') }} as date)
        else deadline_date_by_days
    end as deadline_date,
    answered_at is not null as is_answered,
    case when answered_at is not null then answered_at <= deadline_at end as is_on_time,
    cast(round(cast({{ dbt.datediff('registered_at', 'answered_at', 'minute') }} as {{ dbt.type_numeric() }}) / 60, 2)
        as {{ mart_double() }}) as response_hours,
    answered_working_day_index - registered_working_day_index as response_working_days
from with_deadline
