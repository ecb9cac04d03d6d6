-- Landed appeals that cannot enter fct_appeals, with the reason (исключённые обращения). Together with fct_appeals
-- they account for every landed appeal id (test `accounted_for` on the staging models).
select
    appeal_key,
    channel_code,
    source_id,
    region_code,
    registered_at,
    registered_date,
    exclusion_reason,
    processed_at
from {{ ref('int_appeals_conformed') }}
where exclusion_reason is not null
