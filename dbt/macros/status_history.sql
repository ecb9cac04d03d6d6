{#- Staging of a status history that travels with each record version (ПОС messages, incidents): only the
    history of the latest version counts, so a transition dropped by the source in a later version disappears
    here too; a history re-delivered within one version keeps its latest landing.
    Incremental: the newly landed rows are ranked together with the stored history of the same records, and the
    records whose history changed are replaced whole (delete+insert on the record id). -#}
{% macro status_history(source_table, id_column) -%}
{%- set columns = [id_column, 'event_seq', 'source_status', 'status', 'event_at', 'agency_id', 'updated_at',
                   'landed_at'] -%}
with source as (
    select * from {{ source('raw', source_table) }}
    where {{ landed_since_last_run(source_table) }}
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

-- not materialized: read once per use, streamed rather than stored in memory
candidates as {{ cte_inlined() }} (
    select {{ columns | join(', ') }}, 1 as is_new from renamed
    {%- if is_incremental() %}
    union all
    select {{ columns | join(', ') }}, 0 as is_new from {{ this }}
    where {{ id_column }} in (select {{ id_column }} from renamed)
    {%- endif %}
),

-- A grouped join, not a correlated subquery (PostgreSQL would run that once per row) nor a window (which holds
-- every row of a record in memory at once).
latest_versions as (
    select {{ id_column }}, max(updated_at) as updated_at
    from candidates
    group by {{ id_column }}
),

latest_history as {{ cte_inlined() }} (
    select candidates.*
    from candidates
    inner join latest_versions
        on candidates.{{ id_column }} = latest_versions.{{ id_column }}
        and candidates.updated_at = latest_versions.updated_at
),

deduplicated as (
    {{ latest_version('latest_history', id_column ~ ', event_seq', 'landed_at desc nulls last, is_new') }}
)
{%- if is_incremental() %},

-- the records with a newly landed transition in their current history; the others stay as stored
changed as (
    select {{ id_column }} from deduplicated group by {{ id_column }} having max(is_new) = 1
)
{%- endif %}

select {{ columns | join(', ') }}, {{ processed_at() }} as processed_at
from deduplicated
{%- if is_incremental() %}
where {{ id_column }} in (select {{ id_column }} from changed)
{%- endif %}
{%- endmacro %}
