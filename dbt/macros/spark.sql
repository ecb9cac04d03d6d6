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
    has no VARCHAR without a length: read them as STRING (the rows below are loaded with the same types). -#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- for column, type in column_types.items() if type | lower == 'varchar' -%}
        {%- do column_types.update({column: 'string'}) -%}
    {%- endfor -%}
    {{ return(dbt.spark__create_csv_table(model, agate_table)) }}
{%- endmacro %}

{#- dbt-spark binds a seed's empty cells in session mode as the text 'None': write literals, NULL for empty cells. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for column in agate_table.column_names -%}
        {%- do types.append(column_types.get(column, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {%- for row in chunk %}
            ({% for value in row -%}
                cast({{ 'null' if value is none else "'" ~ (value | string).replace('\\', '\\\\').replace("'", "\\'") ~ "'" }}
                    as {{ types[loop.index0] }}){{ ', ' if not loop.last }}
            {%- endfor %}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first %}{% do statements.append(sql) %}{% endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{#- dbt-spark counts hours, minutes and seconds between two timestamps as elapsed time rounded up; DuckDB and
    PostgreSQL count the boundaries crossed (10:59:50 → 11:00:10 is one minute): so does this. -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- set seconds = {'hour': 3600, 'minute': 60, 'second': 1}.get(datepart) -%}
    {%- if not seconds -%}
        {{ return(dbt.spark__datediff(first_date, second_date, datepart)) }}
    {%- endif -%}
    (floor(unix_seconds(cast({{ second_date }} as timestamp)) / {{ seconds }})
     - floor(unix_seconds(cast({{ first_date }} as timestamp)) / {{ seconds }}))
{%- endmacro %}

{#- dbt-spark's listagg drops the order (collect_list): Spark 4 has LISTAGG … WITHIN GROUP (ORDER BY …). -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with limit_num is not implemented for Spark") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}
