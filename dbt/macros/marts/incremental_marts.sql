{#- Incremental business marts (strategy replace_keys on the month, or the quarter): an incremental run rebuilds
    the months that reporting_months marks as changed since the mart's latest run, and removes the months the mart
    still has but that no longer have appeals. -#}

{#- The registration months to rebuild; with `following`, also the months after a changed one, for marts that
    compare a month with the previous one (rank_change, *_change). -#}
{% macro mart_changed_months(following=0) -%}
    {%- set since = incremental_watermark() -%}
    select month_start from {{ ref('reporting_months') }} where processed_at > {{ since }}
    {%- for n in range(1, following + 1) %}
    union
    select cast({{ dbt.dateadd('month', n, 'month_start') }} as date) from {{ ref('reporting_months') }}
    where processed_at > {{ since }}
    {%- endfor %}
    union
    select month_start from {{ this }} where month_start not in (select month_start from {{ ref('reporting_months') }})
{%- endmacro %}

{#- What rebuilding the months of the CTE `rebuilt` reads in a mart that compares a month with the previous one:
    those months and the months before them. -#}
{% macro mart_read_months(rebuilt='rebuilt_months') -%}
    select month_start from {{ rebuilt }}
    union
    select cast({{ dbt.dateadd('month', -1, 'month_start') }} as date) from {{ rebuilt }}
{%- endmacro %}

{#- The same for a quarterly mart: the quarters of the changed months, and the quarters it has but no month has. -#}
{% macro mart_changed_quarters() -%}
    {%- set since = incremental_watermark() -%}
    select cast({{ dbt.date_trunc('quarter', 'month_start') }} as date) as quarter_start
    from {{ ref('reporting_months') }} where processed_at > {{ since }}
    union
    select quarter_start from {{ this }}
    where quarter_start not in (
        select cast({{ dbt.date_trunc('quarter', 'month_start') }} as date) from {{ ref('reporting_months') }}
    )
{%- endmacro %}

{#- The same for the 30-day windows of repeat_hotspots: the windows that overlap a changed month (at most two per
    month), and the windows the model has (`stored_window_index`: its expression there) that no month overlaps. -#}
{% macro mart_changed_windows(stored_window_index='window_index') -%}
    {%- set since = incremental_watermark() -%}
    {%- set month_end = 'cast(' ~ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) ~ ' as date)' -%}
    select {{ repeat_window_index('month_start') }} as window_index
    from {{ ref('reporting_months') }} where processed_at > {{ since }}
    union
    select {{ repeat_window_index(month_end) }} from {{ ref('reporting_months') }} where processed_at > {{ since }}
    union
    select {{ stored_window_index }} from {{ this }}
    where {{ stored_window_index }} not in (
        select {{ repeat_window_index('month_start') }} from {{ ref('reporting_months') }}
        union
        select {{ repeat_window_index(month_end) }} from {{ ref('reporting_months') }}
    )
{%- endmacro %}
