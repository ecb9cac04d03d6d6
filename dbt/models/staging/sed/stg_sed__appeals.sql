{{ config(unique_key='appeal_id') }}
with source as (
    select * from {{ source('raw', 'sed_appeals') }}
    where {{ landed_since_last_run('sed_appeals') }}
),

-- not materialized: read once per use (macro latest_version), streamed rather than stored in memory
renamed as {{ cte_inlined() }} (
    select
        cast(appeal_id as {{ dbt.type_string() }}) as appeal_id,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(oktmo as {{ dbt.type_string() }}) as oktmo,
        cast(agency_id as {{ dbt.type_string() }}) as agency_id,
        cast(classifier_code as {{ dbt.type_string() }}) as classifier_code,
        cast(citizen_hash as {{ dbt.type_string() }}) as citizen_hash,
        cast(address as {{ dbt.type_string() }}) as address,
        cast(text as {{ dbt.type_string() }}) as appeal_text,
        cast(registered_at as {{ dbt.type_timestamp() }}) as registered_at,
        cast(status as {{ dbt.type_string() }}) as source_status,
        {{ map_status('status') }} as status,
        cast(extended_at as {{ dbt.type_timestamp() }}) as extended_at,
        coalesce(cast(redirect_count as {{ dbt.type_int() }}), 0) as redirect_count,
        cast(redirected_at as {{ dbt.type_timestamp() }}) as redirected_at,
        cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at,
        coalesce(cast(is_repeat as {{ dbt.type_boolean() }}), false) as is_repeat_declared,
        cast(exported_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at,
        {{ processed_at() }} as processed_at
    from source
),

current_versions as (
    {{ current_versions('renamed', 'appeal_id', 'updated_at desc nulls last, landed_at desc nulls last') }}
)

select * from current_versions
