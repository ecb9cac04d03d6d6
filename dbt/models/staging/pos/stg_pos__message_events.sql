-- The status history travels with each message version: only the history of the latest version counts,
-- so a transition dropped by the source in a later version disappears here too.
with source as (
    select * from {{ source('raw', 'pos_message_events') }}
),

renamed as (
    select
        cast(message_id as {{ dbt.type_string() }}) as message_id,
        cast(event_seq as {{ dbt.type_int() }}) as event_seq,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(event_at as {{ dbt.type_timestamp() }}) as event_at,
        cast(agency_id as {{ dbt.type_string() }}) as agency_id,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at
    from source
),

latest_history as (
    select *
    from renamed
    where updated_at = (
        select max(newer.updated_at) from renamed as newer where newer.message_id = renamed.message_id
    )
),

deduplicated as (
    {{ latest_version('latest_history', 'message_id, event_seq', 'landed_at desc nulls last') }}
)

select * from deduplicated
