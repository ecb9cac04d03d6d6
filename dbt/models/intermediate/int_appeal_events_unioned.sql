-- Status transitions of every channel. ПОС and Инцидент Менеджмент send their history; СЭД and portal exports
-- only carry the appeal's state, so their transitions are derived from its dated columns.
with pos_events as (
    select * from {{ ref('stg_pos__message_events') }}
),

incident_events as (
    select * from {{ ref('stg_incident__incident_events') }}
),

sed_appeals as (
    select * from {{ ref('stg_sed__appeals') }}
),

portal_appeals as (
    select * from {{ ref('stg_portal__appeals') }}
),

sed_events as (
    select appeal_id, 1 as step, 'registered' as status, registered_at as event_at, agency_id, updated_at, processed_at
    from sed_appeals
    union all
    select appeal_id, 2, 'redirected', redirected_at, agency_id, updated_at, processed_at
    from sed_appeals where redirected_at is not null
    union all
    select appeal_id, 3, 'extended', extended_at, agency_id, updated_at, processed_at
    from sed_appeals where extended_at is not null
    union all
    select appeal_id, 4, 'answered', answered_at, agency_id, updated_at, processed_at
    from sed_appeals where answered_at is not null
    union all
    select appeal_id, 5, 'closed', updated_at, agency_id, updated_at, processed_at
    from sed_appeals where status = 'closed'
),

portal_events as (
    select appeal_id, 1 as step, 'registered' as status, created_at as event_at, agency_id, updated_at, processed_at
    from portal_appeals
    union all
    select appeal_id, 2, 'answered', answered_at, agency_id, updated_at, processed_at
    from portal_appeals where answered_at is not null
    union all
    -- the current state, when it is a later move than registration or answer (e.g. closed, reopened)
    select appeal_id, 3, status, updated_at, agency_id, updated_at, processed_at
    from portal_appeals where status not in ('registered', 'answered')
),

-- processed_at is one value per appeal, so partitioning by it too changes nothing but lets a filter on it
-- (an incremental run's) be applied before the window instead of after numbering every appeal's events
derived as (
    select
        'sed:' || appeal_id as appeal_key,
        'sed' as channel_code,
        cast(row_number() over (partition by appeal_id, processed_at order by event_at, step) as {{ dbt.type_int() }})
            as event_seq,
        status,
        cast(null as {{ dbt.type_string() }}) as source_status,
        event_at,
        agency_id,
        updated_at,
        processed_at
    from sed_events
    union all
    select
        'portal:' || appeal_id,
        'portal',
        cast(row_number() over (partition by appeal_id, processed_at order by event_at, step) as {{ dbt.type_int() }}),
        status,
        cast(null as {{ dbt.type_string() }}),
        event_at,
        agency_id,
        updated_at,
        processed_at
    from portal_events
),

unioned as (
    select
        'pos:' || message_id as appeal_key,
        'pos' as channel_code,
        event_seq,
        status,
        source_status,
        event_at,
        agency_id,
        updated_at,
        processed_at
    from pos_events
    union all
    select
        'incident:' || incident_id,
        'incident',
        event_seq,
        status,
        source_status,
        event_at,
        agency_id,
        updated_at,
        processed_at
    from incident_events
    union all
    select * from derived
)

select * from unioned
