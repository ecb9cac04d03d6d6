{#- Portable helpers for the business marts (DuckDB, PostgreSQL and Spark). -#}

{#- Double precision on every engine (dbt.type_float() is a 4-byte float on DuckDB). -#}
{% macro mart_double() -%}
    {{ 'double' if target.type == 'spark' else 'double precision' }}
{%- endmacro %}

{#- ISO day of the week of a date or timestamp, Monday 1 … Sunday 7. -#}
{% macro iso_day_of_week(expr) -%}
    extract({{ 'dayofweek_iso' if target.type == 'spark' else 'isodow' }} from {{ expr }})
{%- endmacro %}

{#- Floating-point division that never divides integers and gives null on a zero denominator. -#}
{% macro mart_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as {{ mart_double() }}) / nullif(cast({{ denominator }} as {{ mart_double() }}), 0))
{%- endmacro %}

{#- round() on a float: PostgreSQL rounds to N digits only on numeric. -#}
{% macro mart_round(expr, digits=4) -%}
    cast(round(cast({{ expr }} as {{ dbt.type_numeric() }}), {{ digits }}) as {{ mart_double() }})
{%- endmacro %}

{#- Median as an ordered-set aggregate: the same syntax works on both engines (not as a window function). -#}
{% macro mart_median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{#- A date as ДД.ММ.ГГГГ, the format of the regulations. -#}
{% macro mart_date_ru(expr) -%}
    (lpad(cast(extract(day from {{ expr }}) as {{ dbt.type_string() }}), 2, '0') || '.'
     || lpad(cast(extract(month from {{ expr }}) as {{ dbt.type_string() }}), 2, '0') || '.'
     || cast(extract(year from {{ expr }}) as {{ dbt.type_string() }}))
{%- endmacro %}

{#- Set-returning split of a text column into lower-case words (letters and digits). Used in a FROM subquery's select list. -#}
{% macro mart_split_words(expr) -%}
    {{ return(adapter.dispatch('mart_split_words')(expr)) }}
{%- endmacro %}

{% macro default__mart_split_words(expr) -%}
    regexp_split_to_table(lower({{ expr }}), '[^a-zа-яё0-9]+')
{%- endmacro %}

{% macro spark__mart_split_words(expr) -%}
    explode(split(lower({{ expr }}), '[^a-zа-яё0-9]+'))
{%- endmacro %}

{% macro duckdb__mart_split_words(expr) -%}
    unnest(regexp_split_to_array(lower({{ expr }}), '[^a-zа-яё0-9]+'))
{%- endmacro %}

{#- Russian stop words left out of the term counts of «прочие по направлению» (short words go by length). -#}
{% macro mart_stop_words() -%}
    {{ return([
        'этот', 'этого', 'этой', 'этом', 'эти', 'этих', 'этому', 'также', 'только', 'очень', 'уже', 'еще', 'ещё',
        'когда', 'потому', 'поэтому', 'чтобы', 'который', 'которая', 'которые', 'которых', 'может', 'можно',
        'нужно', 'надо', 'просим', 'прошу', 'просьба', 'пожалуйста', 'помогите', 'здравствуйте', 'добрый',
        'день', 'вечер', 'спасибо', 'более', 'менее', 'будет', 'были', 'было', 'была', 'есть', 'нет', 'него',
        'нему', 'ними', 'свой', 'своих', 'себя', 'тоже', 'даже', 'всех', 'весь', 'всего', 'всем', 'всё', 'все',
        'где', 'какой', 'какие', 'почему', 'сейчас', 'после', 'перед', 'через', 'около', 'года', 'году', 'дней',
        'меры', 'принять', 'примите', 'разобраться', 'решить', 'вопрос', 'вопросу', 'проблема', 'проблему',
        'проблемой', 'жители', 'жителей', 'жителям', 'наш', 'наша', 'наши', 'нашего', 'нашей', 'наших', 'нашем',
        'улица', 'улице', 'улицы', 'дома', 'доме', 'дом', 'город', 'города', 'городе'
    ]) }}
{%- endmacro %}

{#- Number of rows where a condition holds (0, not null, on an empty group's rows). -#}
{% macro mart_count_if(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- The outcome counts every mart aggregates from appeal_outcomes, one definition for all of them
    (поступило, дан ответ, в срок, просрочено без ответа, оценено, оценки 4–5, повторные, медиана времени ответа). -#}
{% macro mart_outcome_counts() -%}
        count(*) as received,
        {{ mart_count_if('is_answered') }} as answered,
        {{ mart_count_if('is_answered_on_time') }} as answered_on_time,
        {{ mart_count_if('is_open_overdue') }} as open_overdue,
        {{ mart_count_if('rating is not null') }} as rated,
        {{ mart_count_if('rating >= 4') }} as rated_4_5,
        {{ mart_count_if('is_repeat') }} as repeats,
        {{ mart_median('case when is_answered then response_hours end') }} as median_response_hours
{%- endmacro %}

{#- The fixed 30-day window (repeat_window_days, counted from 2000-01-01) of a date: the clusters of repeat_hotspots. -#}
{% macro repeat_window_index(date_expr) -%}
    cast(floor({{ dbt.datediff("cast('2000-01-01' as date)", date_expr, 'day') }} / {{ var('repeat_window_days') }}.0)
        as {{ dbt.type_int() }})
{%- endmacro %}

{#- The measures of a cluster of appeals (repeat_hotspots and hotspot_area_windows, which it unions): one definition. -#}
{% macro hotspot_cluster_measures() -%}
        count(*) as appeals,
        count(distinct citizen_hash) as distinct_citizens,
        {{ mart_count_if('not is_answered') }} as open_appeals,
        min(registered_at) as first_registered_at,
        max(registered_at) as last_registered_at
{%- endmacro %}

{#- A text generalised for display next to aggregates (problem_spikes' samples): extraction already masked phones,
    e-mails, ФИО patterns and handles; here every digit (house and flat numbers, dates) becomes «#» and every
    capitalised word that does not start a sentence (a name, a street) becomes «…». -#}
{% macro spike_generalised_text(expr) -%}
    {{ return(adapter.dispatch('spike_generalised_text')(expr)) }}
{%- endmacro %}

{% macro default__spike_generalised_text(expr) -%}
    regexp_replace(
        regexp_replace({{ expr }}, '[0-9]', '#', 'g'),
        '([^.!?…\s]\s+)[А-ЯЁA-Z][А-ЯЁA-Zа-яёa-z-]*', '\1…', 'g')
{%- endmacro %}

{#- Spark's regexp_replace replaces every match (no flags) and writes a group as $1 (Java). -#}
{% macro spark__spike_generalised_text(expr) -%}
    regexp_replace(
        regexp_replace({{ expr }}, '[0-9]', '#'),
        '([^.!?…\\s]\\s+)[А-ЯЁA-Z][А-ЯЁA-Zа-яёa-z-]*', '$1…')
{%- endmacro %}

{#- A roadmap text of the regulation with the region's own name put in place of {region_genitive} / {region_prepositional}
    (seeds/roadmap_events.csv); `region` is the alias of a dim_region row. -#}
{% macro region_wording(expr, region) -%}
    replace(replace({{ expr }}, '{region_genitive}', {{ region }}.region_name_genitive),
            '{region_prepositional}', {{ region }}.region_name_prepositional)
{%- endmacro %}

{#- The month as text 'ГГГГ-ММ' (sorts in time order): the dashboards' «Месяц отчёта» filter selects on it. -#}
{% macro mart_month_label(expr) -%}
    (cast(extract(year from {{ expr }}) as {{ dbt.type_string() }}) || '-'
     || lpad(cast(extract(month from {{ expr }}) as {{ dbt.type_string() }}), 2, '0'))
{%- endmacro %}
