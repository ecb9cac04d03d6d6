{{ config(unique_key='message_id') }}
-- The answer text is not staged: nothing downstream reads it, and wide text is what a stored table pays for most.
with source as (
    select * from {{ source('raw', 'pos_messages') }}
    where {{ landed_since_last_run('pos_messages') }}
),

-- not materialized: read once per use (macro latest_version), streamed rather than stored in memory
renamed as {{ cte_inlined() }} (
    select
        cast(message_id as {{ dbt.type_string() }}) as message_id,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(oktmo as {{ dbt.type_string() }}) as oktmo,
        cast(opa_id as {{ dbt.type_string() }}) as agency_id,
        coalesce(cast(is_59fz as {{ dbt.type_boolean() }}), false) as is_59fz,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(subcategory_code as {{ dbt.type_string() }}) as subcategory_code,
        cast(text as {{ dbt.type_string() }}) as message_text,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(citizen_hash as {{ dbt.type_string() }}) as citizen_hash,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at,
        cast(rating as {{ dbt.type_int() }}) as rating,
        cast(rated_at as {{ dbt.type_timestamp() }}) as rated_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at,
        {{ processed_at() }} as processed_at
    from source
),

current_versions as (
    {{ current_versions('renamed', 'message_id', 'updated_at desc nulls last, landed_at desc nulls last') }}
)

select * from current_versions
