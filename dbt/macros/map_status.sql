{#- The warehouse status code of a landed status. The codes are listed once, in the seed statuses.csv (dim_status);
    the landing admits no other value (an export's wording is mapped there), so this only guards the warehouse:
    anything else becomes 'unknown' (the «не определено» member of dim_status), kept and counted, never dropped. -#}
{% macro map_status(column) -%}
    coalesce(
        (select max(statuses.status_code) from {{ ref('statuses') }} as statuses where statuses.status_code = {{ column }}),
        'unknown'
    )
{%- endmacro %}
