{{
    config(
        materialized='incremental',
        unique_key='appeal_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
-- One row per status transition (смена статуса). Incremental by appeal: the whole history of every appeal updated
-- within the lookback replaces the stored one (delete+insert on appeal_key).
with events as (
    select * from {{ ref('int_appeal_events_unioned') }}
),

appeals as (
    select appeal_key, updated_at from {{ ref('int_appeals_conformed') }}
    where exclusion_reason is null
    {% if is_incremental() %}
        and updated_at >= (
            select {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'), 'max(updated_at)') }} from {{ this }}
        )
    {% endif %}
),

agencies as (
    select distinct agency_id from {{ ref('dim_agency') }}
)

select
    events.appeal_key,
    events.event_seq,
    events.channel_code,
    events.status,
    events.source_status,
    events.event_at,
    coalesce(agencies.agency_id, 'unknown') as agency_id,
    appeals.updated_at
from events
inner join appeals
    on events.appeal_key = appeals.appeal_key
left join agencies
    on events.agency_id = agencies.agency_id
