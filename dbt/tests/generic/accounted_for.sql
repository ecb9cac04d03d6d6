{#- Reconciliation (сверка): every landed record's appeal key is either in the fact or in the explained exclusions.
    `key` is the SQL expression that builds the appeal key from the tested model's columns. -#}
{% test accounted_for(model, key, fact, exclusions) %}
select {{ key }} as appeal_key from {{ model }}
except
select appeal_key from {{ fact }}
except
select appeal_key from {{ exclusions }}
{% endtest %}
