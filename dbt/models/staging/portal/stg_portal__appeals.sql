{{ config(unique_key='appeal_id') }}
with source as (
    select * from {{ source('raw', 'portal_appeals') }}
    where {{ landed_since_last_run('portal_appeals') }}
),

-- not materialized: read once per use (macro latest_version), streamed rather than stored in memory
renamed as {{ cte_inlined() }} (
    select
        cast(appeal_id as {{ dbt.type_string() }}) as appeal_id,
        cast(portal as {{ dbt.type_string() }}) as portal,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(oktmo as {{ dbt.type_string() }}) as oktmo,
        cast(agency_id as {{ dbt.type_string() }}) as agency_id,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(subcategory_code as {{ dbt.type_string() }}) as subcategory_code,
        cast(citizen_hash as {{ dbt.type_string() }}) as citizen_hash,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(text as {{ dbt.type_string() }}) as appeal_text,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at,
        coalesce(cast(rework_count as {{ dbt.type_int() }}), 0) as rework_count,
        cast(rating as {{ dbt.type_int() }}) as rating,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at,
        {{ processed_at() }} as processed_at
    from source
),

current_versions as (
    {{ current_versions('renamed', 'appeal_id', 'updated_at desc nulls last, landed_at desc nulls last') }}
)

select * from current_versions
