{#- Held loads (dagster_project/lib/held_loads.py): lake parts that a raw quality check held out of the warehouse
    after an ERROR, listed in the control table ops.held_loads of the DuckDB warehouse. The ledger of landed parts
    (stg_lake__landed_parts) does not record them and a full build does not read them, so the rest of the lake goes on
    to the marts; once released, the next build records and reads them like newly landed parts. PostgreSQL: the raw
    tables are copied without them (lib/postgres.py), so nothing is held here. -#}

{#- The held parts as (table, part name `load_date=…/<file>.parquet`) pairs, read when the SQL is rendered. -#}
{% macro held_lake_parts() -%}
    {%- if not execute or target.type != 'duckdb' -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set held_loads = adapter.get_relation(database=target.database, schema='ops', identifier='held_loads') -%}
    {%- if held_loads is none -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set rows = run_query('select source, part_name from ' ~ held_loads ~ ' where released_at is null order by 1, 2').rows -%}
    {{- return(rows | map('list') | list) -}}
{%- endmacro %}

{#- A predicate: the part at `path_column` (a lake path) of table `table_expr` is not held. `1 = 1` when nothing is. -#}
{% macro not_held(path_column, table_expr) -%}
    {%- set held = held_lake_parts() -%}
    {%- if held | length == 0 -%}
        1 = 1
    {%- else -%}
        ({{ table_expr }}, regexp_extract({{ path_column }}, '[^/]+/[^/]+$')) not in (
            {%- for table, part in held %}('{{ table }}', '{{ part }}'){{ ', ' if not loop.last }}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}
