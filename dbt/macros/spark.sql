{#- Apache Spark (target `spark`, docs/scaling.md). Spark's own tables are Parquet files: without Delta or Iceberg
    (their jars cannot be fetched here) there is no DELETE, UPDATE or MERGE, only INSERT and INSERT OVERWRITE of
    whole tables or partitions. The incremental strategies of this project need rows removed by key (delete+insert
    of staging, replace_keys of the marts: a key leaves, a few columns change in place), and the keys an hourly
    run touches lie in any partition (a re-delivered appeal of 2023, an overdue flag of last year), so partition
    overwrite would rewrite about everything anyway and could never remove an emptied partition. So on Spark every
    incremental model is rebuilt whole at every build (a full refresh, the honest choice), is_incremental() is
    false, and data tests read whole tables. -#}

{#- dbt's is_incremental() everywhere else. -#}
{% macro is_incremental() -%}
    {{- return(false if target.type == 'spark' else dbt.is_incremental()) -}}
{%- endmacro %}

{#- An incremental model on Spark: the table materialization (drop and create as select). -#}
{% materialization incremental, adapter='spark' -%}
    {{ return(materialization_table_spark()) }}
{%- endmaterialization %}

{#- The sources on Spark, created at the start of every invocation in the sources' schema: a view over each raw
    table's Parquet parts in the lake (the path of its DuckDB meta.external_location, read where it lies, parts
    held out by a raw quality check left out), over each manual CSV, and over the production calendar that
    dagster_project/lib/spark.py writes for the lake's span before dbt runs (the plugin source of DuckDB). -#}
{% macro spark_sources() -%}
    {%- if not execute or target.type != 'spark' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set spark_dir = env_var('CUR_DATA_DIR', '../data') ~ '/spark' -%}
    {%- for schema in graph.sources.values() | map(attribute='schema') | unique -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
    {%- endfor -%}
    {%- for source in graph.sources.values() -%}
        {%- set relation = source.schema ~ '.' ~ source.identifier -%}
        {%- set location = source.meta.get('external_location', '') -%}
        {%- set path = location.split("'")[1] | replace('{name}', source.name) if location else '' -%}
        {%- if source.meta.get('plugin') -%}
            {%- do run_query('create or replace view ' ~ relation ~ ' as select * from parquet.`' ~ spark_dir ~ '/'
                ~ source.meta['plugin'] ~ '.parquet`') -%}
        {%- elif location.startswith('read_parquet(') -%}
            {%- do run_query('create or replace view ' ~ relation ~ ' as select * from parquet.`' ~ path ~ '`'
                ~ " where regexp_extract(_metadata.file_path, '([^/]+/[^/]+)$', 1) not in (select part_name from parquet.`"
                ~ spark_dir ~ "/held_parts.parquet` where source = '" ~ source.name ~ "')") -%}
        {%- elif location.startswith('read_csv(') -%}
            {#- a CSV file with a header and text columns, as DuckDB reads it (all_varchar) -#}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query('create table ' ~ relation ~ " using csv options (path '" ~ path ~ "', header 'true')") -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error("source " ~ source.unique_id ~ " has no location Spark can read") }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- The window frame of the rows strictly before the current row's timestamp (its peers left out). Spark has no
    EXCLUDE GROUP, and its timestamps count microseconds: the frame ends one microsecond before. -#}
{% macro earlier_rows_frame() -%}
    {%- if target.type == 'spark' -%}
    range between unbounded preceding and interval 1 microsecond preceding
    {%- else -%}
    range between unbounded preceding and current row exclude group
    {%- endif -%}
{%- endmacro %}

{#- `as not materialized` on a CTE (DuckDB, PostgreSQL: inline it rather than store it); Spark inlines CTEs. -#}
{% macro cte_inlined() -%}
    {{- '' if target.type == 'spark' else 'not materialized' -}}
{%- endmacro %}

{#- Seeds on Spark: the column types of seeds/_seeds__properties.yml are written for DuckDB and PostgreSQL, and Spark
    has no VARCHAR without a length: read them as STRING (the seed then loads its rows with the same types). -#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- for column, type in column_types.items() if type | lower == 'varchar' -%}
        {%- do column_types.update({column: 'string'}) -%}
    {%- endfor -%}
    {{ return(dbt.spark__create_csv_table(model, agate_table)) }}
{%- endmacro %}
