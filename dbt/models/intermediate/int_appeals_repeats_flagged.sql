-- Повторное обращение: the same citizen already appealed in the same category within repeat_window_days before.
-- Unknown categories and anonymous appeals never count as repeats.
with appeals as (
    select * from {{ ref('int_appeals_conformed') }}
    where exclusion_reason is null
)

select
    appeals.*,
    case
        when appeals.citizen_hash is not null and appeals.category_code <> 'unknown' and exists (
            select 1
            from appeals as earlier
            where earlier.citizen_hash = appeals.citizen_hash
                and earlier.category_code = appeals.category_code
                and earlier.appeal_key <> appeals.appeal_key
                and earlier.registered_at < appeals.registered_at
                and earlier.registered_at >= {{ dbt.dateadd('day', -1 * var('repeat_window_days'), 'appeals.registered_at') }}
        ) then true
        else false
    end as is_repeat
from appeals
