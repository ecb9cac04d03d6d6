-- Исполнение дорожной карты (000, приложение 3) by every region's ЦУР: each event with its stage, deadline,
-- responsible roles and expected result, its latest status from the status log, and the overdue flags.
-- The plan's texts are the regulation's (Saratov's) with the region's name as placeholders ({region_genitive},
-- {region_prepositional}, seeds/roadmap_events.csv): every region reads its own name, never Saratov's.
with as_of as (
    select as_of_date from {{ ref('reporting_as_of') }}
),

log as (
    select
        l.region_code,
        l.event_code,
        l.status_date,
        l.status,
        l.comment,
        row_number() over (
            partition by l.region_code, l.event_code order by l.status_date desc, l.status
        ) as recency
    from {{ ref('stg_manual__roadmap_status_logs') }} as l
    cross join as_of
    where l.status_date <= as_of.as_of_date
),

completed as (
    select region_code, event_code, min(status_date) as done_date
    from log
    where status = 'done'
    group by region_code, event_code
),

events as (
    select
        r.region_code,
        r.region_name,
        e.event_code,
        e.stage,
        {{ region_wording('e.event_name', 'r') }} as event_name,
        e.deadline,
        e.responsible_roles,
        {{ region_wording('e.expected_result', 'r') }} as expected_result,
        coalesce(l.status, 'not_started') as status,
        l.status_date,
        l.comment as status_comment,
        c.done_date
    from {{ ref('roadmap_events') }} as e
    cross join {{ ref('dim_region') }} as r
    left join log as l on l.region_code = r.region_code and l.event_code = e.event_code and l.recency = 1
    left join completed as c on c.region_code = r.region_code and c.event_code = e.event_code
)

select
    e.region_code,
    e.region_name,
    e.event_code,
    e.stage,
    e.event_name,
    e.deadline,
    {{ mart_date_ru('e.deadline') }} as deadline_ru,
    e.responsible_roles,
    e.expected_result,
    e.status,
    case e.status
        when 'not_started' then 'не начато'
        when 'in_progress' then 'в работе'
        when 'done' then 'выполнено'
        when 'cancelled' then 'отменено'
    end as status_ru,
    e.status_date,
    e.status_comment,
    case when e.status = 'done' then e.done_date end as done_date,
    -- просрочено: the deadline has passed and the event is neither done nor cancelled
    e.status not in ('done', 'cancelled') and e.deadline < as_of.as_of_date as is_overdue,
    case
        when e.status not in ('done', 'cancelled') and e.deadline < as_of.as_of_date
            then {{ dbt.datediff('e.deadline', 'as_of.as_of_date', 'day') }}
    end as days_overdue,
    -- what the overdue days count, in words (a reader of «1553 дня» should not have to guess)
    case
        when e.status not in ('done', 'cancelled') and e.deadline < as_of.as_of_date
            then 'срок ' || {{ mart_date_ru('e.deadline') }} || ' прошёл, мероприятие '
                || case e.status when 'in_progress' then 'в работе' else 'не начато' end
                || ': просрочка ' || cast({{ dbt.datediff('e.deadline', 'as_of.as_of_date', 'day') }} as {{ dbt.type_string() }})
                || ' дн. на ' || {{ mart_date_ru('as_of.as_of_date') }}
    end as overdue_explanation,
    -- выполнено с нарушением срока
    (e.status = 'done' and e.done_date > e.deadline) as is_done_late,
    as_of.as_of_date
from events as e
cross join as_of
