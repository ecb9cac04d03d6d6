{{ config(materialized='incremental', unique_key='appeal_key', update_columns=['is_open_overdue']) }}
-- One row per appeal with the outcome flags every business mart counts, evaluated as of the latest loaded data.
-- Without the texts, addresses and citizens: the marts that need them read fct_appeals (wide text is what a stored
-- table pays for most).
-- Incremental (strategy replace_keys): the appeals (re)written in fct_appeals since this table's latest run are
-- replaced, the ones that left it removed, and the overdue flag of a stored open appeal whose deadline the new
-- as-of moment passed is updated in place.
-- depends_on: {{ ref('int_appeals_conformed') }}
{%- set since = incremental_watermark() %}

with as_of as (
    select as_of_at from {{ ref('reporting_as_of') }}
),

appeals as (
    select * from {{ ref('fct_appeals') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

outcomes as (
    select
        a.appeal_key,
        a.channel_code,
        a.region_code,
        a.oktmo,
        a.agency_id,
        a.agency_kind,
        a.sector_code,
        a.category_code,
        a.subcategory_code,
        coalesce(c.is_other, false) as is_other,
        a.registered_at,
        a.registered_date,
        cast({{ dbt.date_trunc('month', 'a.registered_date') }} as date) as month_start,
        cast({{ dbt.date_trunc('quarter', 'a.registered_date') }} as date) as quarter_start,
        cast({{ dbt.date_trunc('year', 'a.registered_date') }} as date) as year_start,
        a.first_response_at,
        a.answered_at,
        a.closed_at,
        a.deadline_at,
        a.response_hours,
        a.rating,
        coalesce(a.is_answered, false) as is_answered,
        coalesce(a.is_answered and a.is_on_time, false) as is_answered_on_time,
        -- still open (no answer, not closed) and past its deadline at the as-of moment
        coalesce({{ overdue_open('a', 'as_of.as_of_at') }}, false) as is_open_overdue,
        coalesce(a.is_repeat, false) as is_repeat,
        -- полнота: answered, not returned for rework, not reopened, and no repeat by the same citizen
        -- in the same category within repeat_window_days after the answer (fct_appeals.has_repeat_after_answer)
        (
            coalesce(a.is_answered, false)
            and coalesce(a.rework_count, 0) = 0
            and not coalesce(a.is_reopened, false)
            and not coalesce(a.has_repeat_after_answer, false)
        ) as is_complete,
        -- Инцидент Менеджмент: the agency reacted within incident_reaction_hours of detection
        coalesce(
            a.first_response_at <= {{ dbt.dateadd('hour', var('incident_reaction_hours'), 'a.registered_at') }},
            false) as is_reacted_in_time,
        {{ processed_at() }} as processed_at
    from appeals as a
    cross join as_of
    left join {{ ref('dim_category') }} as c
        on c.category_code = a.category_code
)

select *{{ change_column("'replace'") }} from outcomes

{%- if is_incremental() %}

union all

-- the as-of moment moved: open appeals whose deadline it passed (their flag, updated in place)
{%- set moved_flags %}
    select stored.appeal_key, coalesce({{ overdue_open('stored', 'as_of.as_of_at') }}, false) as is_open_overdue
    from {{ this }} as stored
    cross join as_of
    where stored.is_open_overdue <> coalesce({{ overdue_open('stored', 'as_of.as_of_at') }}, false)
      and stored.appeal_key not in (select appeal_key from outcomes)
{%- endset %}
{{ updated_rows(moved_flags) }}

union all

-- removed from fct_appeals since (a later version is excluded)
{{ removed_rows(appeals_excluded_since(since)) }}
{%- endif %}
