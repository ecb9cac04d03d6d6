{#- Write-audit-publish. A build writes its rows into the warehouse before its data tests read them, so the rows of a
    build whose tests failed — or that was killed before they ran — are in the tables. The ledger
    `ops.unaudited_models` (on PostgreSQL `<schema>_ops`) keeps them unaudited until a build's tests pass:
      - on-run-start of `dbt build` / `dbt run`: every selected model gets a row (kept if it has one already), its
        `unaudited_since` the start of the build: from now on its rows processed since then are unaudited;
      - test scope (macros/incremental/test_scope.sql): an incremental build tests a model's rows processed since its
        `unaudited_since`, not only the rows it wrote itself, so rows a failed build left are tested again by every
        later build;
      - on-run-end: a model leaves the ledger when it built (or was not rebuilt, by `dbt test`) and every data test
        attached to it ran in this invocation and passed (warn counts as passed). Otherwise it stays, with the failed
        or skipped tests as the reason; a killed build never gets here, so all its models stay.
    dbt skips what lies downstream of a failed test, so the marts never read unaudited rows; publish
    (lib/serving.py) refuses to serve while the ledger has rows, so the serving copy keeps the last audited marts.
    Spark has no ledger: it rebuilds every model whole at every build and tests whole tables (macros/spark.sql). -#}

{% macro audit_ledger() -%}
    {%- set schema = generate_schema_name('ops', none) | trim -%}
    {{- return(api.Relation.create(database=target.database, schema=schema, identifier='unaudited_models')) -}}
{%- endmacro %}

{#- The start of this invocation, the `processed_at` of every row it writes, as the ledger stores it. -#}
{% macro audit_started_at() -%}
    {{- return(run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f")) -}}
{%- endmacro %}

{% macro audit_ledger_start() -%}
    {%- if not execute or flags.WHICH not in ('build', 'run') or target.type == 'spark' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set ledger = audit_ledger() -%}
    {%- set models = [] -%}
    {%- for unique_id in selected_resources -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node is not none and node.resource_type == 'model' -%}
            {%- do models.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    create schema if not exists {{ ledger.schema }};
    create table if not exists {{ ledger }} (
        model {{ dbt.type_string() }},
        unaudited_since {{ dbt.type_timestamp() }},
        invocation_id {{ dbt.type_string() }},
        reason {{ dbt.type_string() }}
    );
    {%- for batch in models | batch(200) %}
    insert into {{ ledger }} (model, unaudited_since, invocation_id, reason)
    select model, cast('{{ audit_started_at() }}' as {{ dbt.type_timestamp() }}), '{{ invocation_id }}',
        'written by a {{ flags.WHICH }} whose tests have not passed yet'
    from (
        {%- for name in batch %}
        select '{{ name }}' as model{{ ' union all' if not loop.last }}
        {%- endfor %}
    ) as selected
    where model not in (select model from {{ ledger }});
    {%- endfor %}
{%- endmacro %}

{% macro audit_ledger_end(results) -%}
    {%- if not execute or flags.WHICH not in ('build', 'run', 'test') or target.type == 'spark' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set ledger = audit_ledger() -%}
    {%- if flags.WHICH == 'test' and adapter.get_relation(ledger.database, ledger.schema, ledger.identifier) is none -%}
        {{- return('') -}}
    {%- endif -%}
    {#- the data tests of every model in the project, and what this invocation did with each test and model -#}
    {%- set tests_of = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' -%}
        {%- for model in audited_models_of(node) -%}
            {%- do tests_of.setdefault(model, []).append(node.unique_id) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set status = {} -%}
    {%- for result in results -%}
        {%- do status.update({result.node.unique_id: result.status | string}) -%}
    {%- endfor -%}
    {%- set audited, unaudited = [], {} -%}
    {%- for unique_id, node in graph.nodes.items() if node.resource_type == 'model' -%}
        {%- set written = status.get(unique_id) -%}
        {%- set not_passed = [] -%}
        {%- for test in tests_of.get(unique_id, []) -%}
            {%- if status.get(test) not in ('pass', 'warn') -%}
                {%- do not_passed.append(graph.nodes[test].name ~ ': ' ~ (status.get(test) or 'not run')) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if written == 'success' or (written is none and flags.WHICH == 'test') -%}
            {%- if not_passed -%}
                {%- do unaudited.update({node.name: not_passed}) -%}
            {%- elif written == 'success' or tests_of.get(unique_id) -%}
                {%- do audited.append(node.name) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for batch in audited | batch(200) %}
    delete from {{ ledger }} where model in ('{{ batch | join("', '") }}');
    {%- endfor %}
    {%- for name, failed in unaudited.items() %}
    update {{ ledger }} set reason = '{{ (failed | join('; '))[:1000] | replace("'", "''") }}', invocation_id = '{{ invocation_id }}'
    where model = '{{ name }}';
    {%- endfor %}
    select 1
{%- endmacro %}

{#- The unique ids of the models a data test audits: the model it is attached to, or every model it reads. -#}
{% macro audited_models_of(test) -%}
    {%- if test.attached_node -%}
        {{- return([test.attached_node]) -}}
    {%- endif -%}
    {%- set models = [] -%}
    {%- for unique_id in test.depends_on.nodes if unique_id.startswith('model.') -%}
        {%- do models.append(unique_id) -%}
    {%- endfor -%}
    {{- return(models) -}}
{%- endmacro %}

{#- Since when the rows of a model are unaudited: a timestamp literal, or none when the ledger has no row for it. -#}
{% macro unaudited_since(model_name) -%}
    {%- set ledger = audit_ledger() -%}
    {%- if adapter.get_relation(ledger.database, ledger.schema, ledger.identifier) is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set since = run_query("select min(unaudited_since) from " ~ ledger ~ " where model = '" ~ model_name ~ "'")
        .columns[0].values()[0] -%}
    {%- if since is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return("cast('" ~ since ~ "' as " ~ dbt.type_timestamp() ~ ")") -}}
{%- endmacro %}
