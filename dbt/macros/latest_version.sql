{#- Keeps one row per key: the latest re-delivered version wins (order_by must put it first). `key` is a column or
    a comma-separated list of columns. -#}
{% macro latest_version(relation, key, order_by) -%}
    {{ return(adapter.dispatch('latest_version')(relation, key, order_by)) }}
{%- endmacro %}

{#- DISTINCT ON is supported by both DuckDB and PostgreSQL. -#}
{% macro default__latest_version(relation, key, order_by) -%}
    select distinct on ({{ key }}) *
    from {{ relation }}
    order by {{ key }}, {{ order_by }}
{%- endmacro %}

{#- Spark has no DISTINCT ON: rank the versions of each key and keep the first row's columns (a struct of all of them,
    so that the rank itself is not among the columns). -#}
{% macro spark__latest_version(relation, key, order_by) -%}
    select ranked.version.*
    from (
        select struct(*) as version, row_number() over (partition by {{ key }} order by {{ order_by }}) as version_rank
        from {{ relation }}
    ) as ranked
    where ranked.version_rank = 1
{%- endmacro %}

{#- DuckDB runs DISTINCT ON as a hash aggregate that carries every column of every key, which spills when the rows
    are wide. Most keys have one version: those rows stream through an anti-join, only the others are ranked.
    The relation is read more than once: define it `as not materialized` when it is a CTE. -#}
{% macro duckdb__latest_version(relation, key, order_by) -%}
    {%- set keys = key.split(',') | map('trim') | list -%}
    {%- set same_key -%}
        {%- for column in keys %}repeated.{{ column }} is not distinct from versions.{{ column }}{{ ' and ' if not loop.last }}{% endfor -%}
    {%- endset -%}
    {%- set repeated -%}
        (select {{ key }} from {{ relation }} group by {{ key }} having count(*) > 1) as repeated
    {%- endset -%}
    select * from {{ relation }} as versions
    where not exists (select 1 from {{ repeated }} where {{ same_key }})
    union all
    select * from (
        select distinct on ({{ key }}) *
        from {{ relation }} as versions
        where exists (select 1 from {{ repeated }} where {{ same_key }})
        order by {{ key }}, {{ order_by }}
    ) as ranked
{%- endmacro %}

{#- The current version of every record (staging of a raw table). A full build keeps the latest version of all
    landed rows. An incremental run sees only the newly landed rows (`relation`): their latest version per key is
    ranked against the stored current version of the same key (only its version columns are read), and the keys
    whose winner is new are returned — the same winner as over all landings, because the stored row won over
    everything landed before. A tie goes to the stored row, so a part read twice changes nothing.
    order_by may use only the `version_columns`. -#}
{% macro current_versions(relation, key, order_by, version_columns=['updated_at', 'landed_at']) -%}
    {%- if not is_incremental() -%}
        {{ latest_version(relation, key, order_by) }}
    {%- else -%}
        {%- set ranked_columns = key ~ ', ' ~ version_columns | join(', ') -%}
    select newest.*
    from ({{ latest_version(relation, key, order_by) }}) as newest
    where ({{ key }}) in (
        select {{ key }}
        from (
            select distinct on ({{ key }}) {{ key }}, is_new
            from (
                select {{ ranked_columns }}, 1 as is_new from {{ relation }}
                union all
                select {{ ranked_columns }}, 0 as is_new from {{ this }}
                where ({{ key }}) in (select {{ key }} from {{ relation }})
            ) as candidates
            order by {{ key }}, {{ order_by }}, is_new
        ) as winners
        where is_new = 1
    )
    {%- endif -%}
{%- endmacro %}
