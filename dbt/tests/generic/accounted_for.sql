{#- Reconciliation (сверка): every landed record's appeal key is either in the fact or in the explained exclusions.
    `key` is the SQL expression that builds the appeal key from the tested model's columns. NOT EXISTS, not EXCEPT:
    the engine can then hash the (smaller) tested side and only scan the fact's keys. -#}
{% test accounted_for(model, key, fact, exclusions) %}
select landed.appeal_key
from (select {{ key }} as appeal_key from {{ model }}) as landed
where not exists (select 1 from {{ fact }} as fact where fact.appeal_key = landed.appeal_key)
  and not exists (select 1 from {{ exclusions }} as excluded where excluded.appeal_key = landed.appeal_key)
{% endtest %}
