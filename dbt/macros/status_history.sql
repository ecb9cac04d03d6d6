{#- Staging of a status history that travels with each record version (ПОС messages, incidents): only the
    history of the latest version counts, so a transition dropped by the source in a later version disappears
    here too; a history re-delivered within one version keeps its latest landing. -#}
{% macro status_history(source_table, id_column) -%}
with source as (
    select * from {{ source('raw', source_table) }}
),

renamed as (
    select
        cast({{ id_column }} as {{ dbt.type_string() }}) as {{ id_column }},
        cast(event_seq as {{ dbt.type_int() }}) as event_seq,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(event_at as {{ dbt.type_timestamp() }}) as event_at,
        cast(agency_id as {{ dbt.type_string() }}) as agency_id,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at
    from source
),

-- A window, not a correlated subquery: PostgreSQL would run the latter once per row.
versioned as (
    select renamed.*, max(updated_at) over (partition by {{ id_column }}) as latest_updated_at
    from renamed
),

latest_history as (
    select {{ id_column }}, event_seq, source_status, status, event_at, agency_id, updated_at, landed_at
    from versioned
    where updated_at = latest_updated_at
),

deduplicated as (
    {{ latest_version('latest_history', id_column ~ ', event_seq', 'landed_at desc nulls last') }}
)

select * from deduplicated
{%- endmacro %}
