{#- Values of the column outside [min_value, max_value]; nulls pass (a share without a denominator is null). -#}
{% test between(model, column_name, min_value, max_value) %}
select {{ column_name }} as value_outside
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
