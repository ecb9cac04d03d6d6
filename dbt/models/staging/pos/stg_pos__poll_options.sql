{{ config(unique_key=['poll_id', 'option_id']) }}
with source as (
    select * from {{ source('raw', 'pos_polls') }}
    where {{ landed_since_last_run('pos_polls') }}
),

-- not materialized: read once per use (macro latest_version), streamed rather than stored in memory
renamed as {{ cte_inlined() }} (
    select
        cast(poll_id as {{ dbt.type_string() }}) as poll_id,
        cast(option_id as {{ dbt.type_string() }}) as option_id,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(oktmo as {{ dbt.type_string() }}) as oktmo,
        cast(title as {{ dbt.type_string() }}) as title,
        cast(question as {{ dbt.type_string() }}) as question,
        cast(option_text as {{ dbt.type_string() }}) as option_text,
        coalesce(cast(votes as {{ dbt.type_int() }}), 0) as votes,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_landed_at as {{ dbt.type_timestamp() }}) as landed_at,
        {{ processed_at() }} as processed_at
    from source
),

current_versions as (
    {{ current_versions('renamed', 'poll_id, option_id', 'updated_at desc nulls last, landed_at desc nulls last') }}
)

select * from current_versions
