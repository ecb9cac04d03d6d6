-- Повторное обращение: the same citizen already appealed in the same category within repeat_window_days before.
-- Unknown categories and anonymous appeals never count as repeats.
-- The closest strictly earlier registration comes from lag() over distinct registration moments: a sort instead
-- of a correlated self-join, which PostgreSQL runs as a nested loop over all appeals.
with appeals as (
    select * from {{ ref('int_appeals_conformed') }}
    where exclusion_reason is null
),

registrations as (
    select distinct citizen_hash, category_code, registered_at
    from appeals
    where citizen_hash is not null and category_code <> 'unknown'
),

previous_registrations as (
    select
        citizen_hash,
        category_code,
        registered_at,
        lag(registered_at) over (partition by citizen_hash, category_code order by registered_at) as previous_registered_at
    from registrations
)

select
    appeals.*,
    coalesce(
        previous_registrations.previous_registered_at
            >= {{ dbt.dateadd('day', -1 * var('repeat_window_days'), 'appeals.registered_at') }},
        false
    ) as is_repeat
from appeals
left join previous_registrations
    on previous_registrations.citizen_hash = appeals.citizen_hash
    and previous_registrations.category_code = appeals.category_code
    and previous_registrations.registered_at = appeals.registered_at
