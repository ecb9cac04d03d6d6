{#- Просрочено без ответа: no answer, not closed, and the deadline passed before the as-of moment. One definition for
    fct_appeals and appeal_outcomes, which also use it to find the stored rows whose flag a later as-of changes. -#}
{% macro overdue_open(relation, as_of) -%}
    (not {{ relation }}.is_answered and {{ relation }}.closed_at is null and {{ relation }}.deadline_at < {{ as_of }})
{%- endmacro %}
