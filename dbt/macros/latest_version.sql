{#- Keeps one row per key: the latest re-delivered version wins (order_by must put it first).
    DISTINCT ON is supported by both DuckDB and PostgreSQL. -#}
{% macro latest_version(relation, key, order_by) -%}
    select distinct on ({{ key }}) *
    from {{ relation }}
    order by {{ key }}, {{ order_by }}
{%- endmacro %}
