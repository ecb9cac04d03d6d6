-- As for ПОС: the history of the latest incident version replaces earlier ones.
with source as (
    select * from {{ source('raw', 'incident_events') }}
),

renamed as (
    select
        cast(incident_id as {{ dbt.type_string() }}) as incident_id,
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
        select max(newer.updated_at) from renamed as newer where newer.incident_id = renamed.incident_id
    )
),

deduplicated as (
    {{ latest_version('latest_history', 'incident_id, event_seq', 'landed_at desc nulls last') }}
)

select * from deduplicated
