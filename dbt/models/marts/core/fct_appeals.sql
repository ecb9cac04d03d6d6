{{
    config(
        materialized='incremental',
        unique_key='appeal_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- One row per appeal (обращение / сообщение / инцидент). Incremental: re-reads appeals updated within
-- incremental_lookback_days of the latest loaded version, and every appeal still open (its overdue flag moves with time).
with appeals as (
    select * from {{ ref('int_appeals_deadlines_computed') }}
    {% if is_incremental() %}
    where updated_at >= (
            select {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'), 'max(updated_at)') }} from {{ this }}
        )
        or appeal_key in (select appeal_key from {{ this }} where not is_answered and closed_at is null)
    {% endif %}
),

-- «now» of the warehouse: the latest change landed from any source, so reloads of the same data agree
data_as_of as (
    select max(updated_at) as as_of_at from {{ ref('int_appeals_unioned') }}
)

select
    appeals.appeal_key,
    appeals.channel_code,
    appeals.appeal_kind,
    appeals.source_id,
    appeals.region_code,
    appeals.oktmo,
    appeals.agency_id,
    appeals.agency_sk,
    appeals.agency_kind,
    appeals.sector_code,
    appeals.category_code,
    appeals.subcategory_code,
    appeals.citizen_hash,
    appeals.address,
    appeals.appeal_text as text,
    appeals.registered_at,
    appeals.registered_date,
    appeals.first_response_at,
    appeals.answered_at,
    appeals.closed_at,
    appeals.extended_at,
    appeals.deadline_rule,
    appeals.deadline_date,
    appeals.deadline_at,
    appeals.is_answered,
    appeals.is_on_time,
    (not appeals.is_answered and appeals.closed_at is null and appeals.deadline_at < data_as_of.as_of_at)
        as is_overdue_open,
    appeals.response_hours,
    appeals.response_working_days,
    appeals.redirect_count,
    appeals.rework_count,
    appeals.is_reopened,
    appeals.is_repeat,
    appeals.is_repeat_declared,
    appeals.rating,
    appeals.rated_at,
    appeals.status,
    appeals.source_status,
    appeals.updated_at
from appeals
cross join data_as_of
