{#- SCD2 versions of one durable key follow each other without overlap: each valid_to is the next valid_from,
    and only the last version may be open (valid_to null). -#}
{% test scd2_versions_do_not_overlap(model, column_name, valid_from, valid_to) %}
with versions as (
    select
        {{ column_name }} as durable_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (partition by {{ column_name }} order by {{ valid_from }}) as next_valid_from
    from {{ model }}
)
select *
from versions
where (next_valid_from is not null and (valid_to is null or valid_to <> next_valid_from))
    or (valid_to is not null and valid_to <= valid_from)
{% endtest %}
