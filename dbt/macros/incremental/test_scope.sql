{#- What a data test reads. A `dbt build` tests what it built: in an incremental build, a test on a model with a
    `processed_at` column reads the rows processed since the model became unaudited — the rows this build (re)wrote,
    and the rows of earlier builds whose tests failed or that were killed (the ledger, macros/incremental/audit_ledger.sql);
    the other stored rows passed the builds that wrote them. A full build (`--full-refresh`, where every row is new)
    tests everything again, and so does every build on Spark (macros/spark.sql). `dbt test` always reads whole tables. Overrides dbt's get_where_subquery, which generic
    tests call on their model. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [config.get('where', ''), built_rows_condition()] | select | list -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro built_rows_condition() -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH or target.type == 'spark' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if tested is none or 'processed_at' not in tested.get('columns', {}) -%}
        {{- return('') -}}
    {%- endif -%}
    {{- return('processed_at >= ' ~ (unaudited_since(tested.name) or processed_at())) -}}
{%- endmacro %}
