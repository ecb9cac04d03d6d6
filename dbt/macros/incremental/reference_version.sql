{#- The version of everything besides the landed data that the stored rows of the incremental models depend on:
    the reference dimensions (seeds: an agency rename, a new classifier code, a calendar correction) and the
    project vars of the formulas. int_appeals_conformed stores it; when it differs, the incremental run
    re-conforms every appeal and the change flows through every incremental model downstream. -#}
{% macro reference_version() -%}
    {%- set relations = [ref('dim_region'), ref('dim_municipality'), ref('dim_agency'), ref('dim_category'),
                         ref('dim_subcategory'), ref('dim_sector'), ref('dim_date'), ref('classifier_codes'),
                         ref('sector_staff')] -%}
    {%- set var_names = ['incident_reaction_hours', 'repeat_window_days', 'default_deadline_working_days',
                         'rating_min_appeals', 'rating_weight_quantity', 'rating_weight_speed',
                         'rating_weight_quality', 'rating_weight_completeness', 'rating_quality_min_ratings',
                         'priority_categories_per_sector', 'decomposition_top_n', 'decomposition_min_word_length',
                         'pareto_share', 'workload_threshold_per_staff_week', 'workload_consecutive_weeks',
                         'hotspot_min_citizens', 'hotspot_surge_ratio', 'governor_top_n'] -%}
    {%- set settings = [] -%}
    {%- for name in var_names %}{% do settings.append(name ~ '=' ~ var(name)) %}{% endfor -%}
    md5(
        '{{ settings | join(";") }}'
        {%- for relation in relations %}
        || '|' || {{ relation_fingerprint(relation) }}
        {%- endfor %}
    )
{%- endmacro %}

{#- md5 of a relation's rows in a stable order (reference relations only: they are small). -#}
{% macro relation_fingerprint(relation) -%}
    {{ return(adapter.dispatch('relation_fingerprint')(relation)) }}
{%- endmacro %}

{% macro duckdb__relation_fingerprint(relation) -%}
    (select coalesce(md5(string_agg(cast(r as varchar), '|' order by cast(r as varchar))), '') from {{ relation }} as r)
{%- endmacro %}

{% macro spark__relation_fingerprint(relation) -%}
    (select coalesce(md5(concat_ws('|', sort_array(collect_list(to_json(struct(*)))))), '') from {{ relation }})
{%- endmacro %}

{% macro postgres__relation_fingerprint(relation) -%}
    (select coalesce(md5(string_agg(r::text, '|' order by r::text)), '') from {{ relation }} as r)
{%- endmacro %}
