{#- Which landed lake parts a staging model reads. Parts are immutable and a record version may be landed again
    or late (an older version after a newer one), so the watermark is the set of parts already read — kept by
    stg_lake__landed_parts — not a landing time: `_landed_at` is stamped when a part is opened, and a long
    extraction commits its part minutes after a shorter one that was opened later. -#}

{#- The raw tables whose parts are tracked: every `raw` source. A literal because dbt's `graph` is empty while it
    parses, when the source() dependencies below are recorded; tests/test_definitions.py checks that it, the `raw`
    sources and the registry dagster_project/lib/contracts.py RAW_TABLES agree. -#}
{% macro landed_tables() -%}
    {{ return(['pos_messages', 'pos_message_events', 'pos_polls', 'incidents', 'incident_events', 'sed_appeals',
               'portal_appeals']) }}
{%- endmacro %}

{#- The parts of one raw table that are in the lake now (part_path). -#}
{% macro landed_parts(table) -%}
    {{ return(adapter.dispatch('landed_parts')(table)) }}
{%- endmacro %}

{#- DuckDB reads the lake itself; the path is the one of the sources' meta.external_location. -#}
{% macro duckdb__landed_parts(table) -%}
    select file as part_path from glob('{{ env_var("CUR_DATA_DIR", "../data") }}/lake/raw/{{ table }}/*/*.parquet')
{%- endmacro %}

{#- PostgreSQL reads tables that lib/postgres.py reloads whole before every build: there are no parts. -#}
{% macro default__landed_parts(table) -%}
    select cast(null as {{ dbt.type_string() }}) as part_path where 1 = 0
{%- endmacro %}

{#- The predicate on a raw source (read with filename=true) that keeps the parts this model has not read yet:
    the parts recorded after this model's latest processed_at. A literal list, so that DuckDB opens only those
    files; `1 = 0` when there is none. A full build reads every part but the held ones (macros/held_parts.sql, which
    the ledger does not record either); PostgreSQL reads everything. -#}
{% macro landed_since_last_run(table) -%}
    {#- ref() outside the condition: dbt records the dependency while parsing, when `execute` is false -#}
    {%- set ledger = ref('stg_lake__landed_parts') -%}
    {%- if target.type != 'duckdb' -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return(not_held('filename', "'" ~ table ~ "'")) -}}
    {%- endif -%}
    {%- set parts_query -%}
        select part_path from {{ ledger }}
        where table_name = '{{ table }}' and processed_at > {{ incremental_watermark() }}
        order by part_path
    {%- endset -%}
    {%- set parts = run_query(parts_query).columns[0].values() -%}
    {%- if parts | length == 0 -%}
        {{- return('1 = 0') -}}
    {%- endif -%}
    {{- return("filename in ('" ~ parts | join("', '") ~ "')") -}}
{%- endmacro %}
