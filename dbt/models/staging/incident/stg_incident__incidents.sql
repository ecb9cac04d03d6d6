{{ config(unique_key='incident_id') }}
with source as (
    select * from {{ source('raw', 'incidents') }}
    where {{ landed_since_last_run('incidents') }}
),

-- not materialized: read once per use (macro latest_version), streamed rather than stored in memory
renamed as {{ cte_inlined() }} (
    select
        cast(incident_id as {{ dbt.type_string() }}) as incident_id,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(oktmo as {{ dbt.type_string() }}) as oktmo,
        cast(platform as {{ dbt.type_string() }}) as platform,
        cast(post_url as {{ dbt.type_string() }}) as post_url,
        cast(author_hash as {{ dbt.type_string() }}) as author_hash,
        cast(text as {{ dbt.type_string() }}) as post_text,
        cast(category_code as {{ dbt.type_string() }}) as category_code,
        cast(published_at as {{ dbt.type_timestamp() }}) as published_at,
        cast(detected_at as {{ dbt.type_timestamp() }}) as detected_at,
        cast(reaction_at as {{ dbt.type_timestamp() }}) as reaction_at,
        cast(agency_id as {{ dbt.type_string() }}) as agency_id,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at,
        {{ processed_at() }} as processed_at
    from source
),

current_versions as (
    {{ current_versions('renamed', 'incident_id', 'updated_at desc nulls last, landed_at desc nulls last') }}
)

select * from current_versions
