{#- Change tracking of the incremental models. Every row an incremental model (re)writes carries `processed_at`,
    the start of the dbt invocation that wrote it; a downstream model reads only the upstream rows processed after
    its own latest `processed_at`. Recent rows sit at the end of a table, so on DuckDB the filter prunes whole row
    groups by their min/max statistics: an hourly run reads what changed, not the warehouse. -#}

{#- This invocation's start as a timestamp literal (the same value in every model of the run). -#}
{% macro processed_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The latest `processed_at` of this model's stored rows, as a literal (a literal, not a subquery, so that the
    engine can prune by it): rows processed upstream after it are new to this model. A full build reads from the
    beginning of time. -#}
{% macro incremental_watermark() -%}
    {%- set since = '1900-01-01 00:00:00' -%}
    {%- if execute and is_incremental() -%}
        {%- set stored = run_query('select max(processed_at) from ' ~ this).columns[0].values()[0] -%}
        {%- if stored is not none -%}{%- set since = stored | string -%}{%- endif -%}
    {%- endif -%}
    {{- return("cast('" ~ since ~ "' as " ~ dbt.type_timestamp() ~ ")") -}}
{%- endmacro %}

{#- An aggregate of this model's stored rows as a Python value (none on a full build or an empty table): for
    decisions that Jinja takes before the SQL runs, e.g. whether the as-of moment has moved. -#}
{% macro stored_value(expression) -%}
    {%- if execute and is_incremental() -%}
        {{- return(run_query('select ' ~ expression ~ ' from ' ~ this).columns[0].values()[0]) -}}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{#- The appeals whose latest version int_appeals_conformed excluded after `since`: they leave fct_appeals and
    appeal_outcomes (the models that call this depend on int_appeals_conformed: `-- depends_on:`). -#}
{% macro appeals_excluded_since(since) -%}
    select appeal_key from {{ ref('int_appeals_conformed') }}
    where processed_at > {{ since }} and exclusion_reason is not null
{%- endmacro %}
