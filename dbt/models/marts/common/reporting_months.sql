{{ config(materialized='incremental', unique_key='month_start') }}
-- One row per registration month with its number of appeals and the latest run that changed the month: the monthly
-- and quarterly marts recompute only the months processed after their own latest run.
-- A month changed when an appeal of it was rewritten in appeal_outcomes, when it lost an appeal (its count differs
-- from the stored one: the appeal moved to another month or became excluded), and when it becomes or stops being the
-- as-of month; the as-of month is recomputed on every run, because the as-of moment moves within it. A month left
-- without appeals is removed (the marts then drop their rows of it too).
{%- set since = incremental_watermark() %}

with as_of as (
    select as_of_month from {{ ref('reporting_as_of') }}
),

counted as (
    select month_start, count(*) as appeals
    from {{ ref('appeal_outcomes') }}
    group by month_start
)

{%- if not is_incremental() %}

select counted.month_start, counted.appeals, counted.month_start = as_of.as_of_month as is_as_of_month,
    {{ processed_at() }} as processed_at
from counted
cross join as_of

{%- else %},

compared as (
    select
        coalesce(counted.month_start, stored.month_start) as month_start,
        coalesce(counted.appeals, 0) as appeals,
        coalesce(counted.month_start, stored.month_start) = as_of.as_of_month as is_as_of_month,
        stored.appeals as stored_appeals,
        stored.is_as_of_month as stored_is_as_of_month
    from counted
    full outer join {{ this }} as stored
        on counted.month_start = stored.month_start
    cross join as_of
)

select
    month_start, appeals, is_as_of_month, {{ processed_at() }} as processed_at,
    case when appeals = 0 then 'remove' else 'replace' end as _change
from compared
where is_as_of_month
   or stored_is_as_of_month
   or appeals is distinct from stored_appeals
   or month_start in (select month_start from {{ ref('appeal_outcomes') }} where processed_at > {{ since }})
{%- endif %}
