{#- Folder schemas: on DuckDB (one file per warehouse) they are used as-is (staging, intermediate, reference);
    on PostgreSQL they are prefixed with the target schema (cur_staging, …) so that several builds can share one database.
    Models without a folder schema (marts) go to the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}
    {%- elif target.type == 'duckdb' -%}{{ custom_schema_name | trim }}
    {%- else -%}{{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
