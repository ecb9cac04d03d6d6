{#- Incremental strategy `replace_keys`: delete+insert that can also remove keys and update a few columns in place.
    The new rows carry `_change` (incremental runs only, macro change_column):
      'replace' — the key's stored rows are deleted and the new row inserted;
      'remove'  — the key left the model (e.g. a later version of the appeal is excluded): its rows are deleted,
                  as a full refresh would not have them;
      'update'  — only the model's `update_columns` (and processed_at) change, e.g. a repeat flag that a newer
                  appeal of the same citizen moved: an UPDATE touches those columns of the stored row instead of
                  reading and rewriting all of its (wide) columns.
    Any other difference between the new rows and the table fails like on_schema_change='fail'. Plain DELETE,
    INSERT and UPDATE … FROM: DuckDB and PostgreSQL. -#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set target_columns = arg_dict['dest_columns'] | map(attribute='name') | map('lower') | list -%}
    {%- set source_columns = adapter.get_columns_in_relation(source) | map(attribute='name') | map('lower')
        | reject('equalto', '_change') | list -%}
    {%- if target_columns | sort != source_columns | sort -%}
        {{ exceptions.raise_compiler_error(
            "The columns of " ~ this ~ " changed (" ~ source_columns | join(', ') ~ "): run it with --full-refresh.") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where ({{ keys | join(', ') }}) in (
        select {{ keys | join(', ') }} from {{ source }} where _change in ('replace', 'remove')
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }} where _change = 'replace'
    {%- set update_columns = config.get('update_columns') or [] %}
    {%- if update_columns %};

    update {{ target }} as stored
    set
        {%- for column in update_columns + ['processed_at'] %}
        {{ column }} = changes.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ source }} as changes
    where changes._change = 'update'
        {%- for key in keys %}
        and stored.{{ key }} = changes.{{ key }}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}

{#- The `_change` column of the new rows of a replace_keys model ('replace', 'remove' or 'update'). Nothing on a
    full build, whose table has no such column. -#}
{% macro change_column(change) -%}
    {%- if is_incremental() %}, {{ change }} as _change{% endif -%}
{%- endmacro %}

{#- Rows that remove keys from a replace_keys model: `keys` is a query of the key column (named as in the model);
    every other column is null. Incremental runs only (the columns come from the stored table). -#}
{% macro removed_rows(keys, key='appeal_key') -%}
    {{ changed_rows(keys, key, 'remove') }}
{%- endmacro %}

{#- Rows that update the `update_columns` of stored rows in place: `rows` is a query of the key and those columns;
    every other column is null. Incremental runs only. -#}
{% macro updated_rows(rows, key='appeal_key') -%}
    {{ changed_rows(rows, key, 'update', config.get('update_columns')) }}
{%- endmacro %}

{% macro changed_rows(rows, key, change, given=[]) -%}
    select
        {%- for column in adapter.get_columns_in_relation(this) | map(attribute='name') %}
        {% if column == key or column in given %}changed.{{ column }}{% elif column == 'processed_at' %}{{ processed_at() }}{% else %}null{% endif %} as {{ column }},
        {%- endfor %}
        '{{ change }}' as _change
    from ({{ rows }}) as changed
{%- endmacro %}
