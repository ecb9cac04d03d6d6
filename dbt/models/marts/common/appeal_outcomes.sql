-- One row per appeal with the outcome flags every business mart counts, evaluated as of the latest loaded data.
with as_of as (
    select as_of_at from {{ ref('reporting_as_of') }}
),

appeals as (
    select
        a.*,
        -- the citizen's next appeal in the same category (any agency)
        lead(a.registered_at) over (
            partition by a.citizen_hash, a.category_code order by a.registered_at, a.appeal_key
        ) as next_same_citizen_at
    from {{ ref('fct_appeals') }} as a
)

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
    a.citizen_hash,
    a.address,
    a.text,
    a.registered_at,
    a.registered_date,
    cast({{ dbt.date_trunc('month', 'a.registered_date') }} as date) as month_start,
    cast({{ dbt.date_trunc('quarter', 'a.registered_date') }} as date) as quarter_start,
    cast({{ dbt.date_trunc('year', 'a.registered_date') }} as date) as year_start,
    a.first_response_at,
    a.answered_at,
    a.deadline_at,
    a.response_hours,
    a.rating,
    coalesce(a.is_answered, false) as is_answered,
    coalesce(a.is_answered and a.is_on_time, false) as is_answered_on_time,
    -- still open (no answer, not closed) and past its deadline at the as-of moment
    coalesce(not a.is_answered and a.closed_at is null and a.deadline_at < as_of.as_of_at, false) as is_open_overdue,
    coalesce(a.is_repeat, false) as is_repeat,
    -- полнота: answered, not returned for rework, not reopened, and no repeat by the same citizen
    -- in the same category within repeat_window_days after the answer
    (
        coalesce(a.is_answered, false)
        and coalesce(a.rework_count, 0) = 0
        and not coalesce(a.is_reopened, false)
        and not coalesce(
            a.citizen_hash is not null
            and a.next_same_citizen_at <= {{ dbt.dateadd('day', var('repeat_window_days'), 'a.answered_at') }},
            false)
    ) as is_complete,
    -- Инцидент Менеджмент: the agency reacted within incident_reaction_hours of detection
    coalesce(
        a.first_response_at <= {{ dbt.dateadd('hour', var('incident_reaction_hours'), 'a.registered_at') }},
        false) as is_reacted_in_time
from appeals as a
cross join as_of
left join {{ ref('dim_category') }} as c
    on c.category_code = a.category_code
