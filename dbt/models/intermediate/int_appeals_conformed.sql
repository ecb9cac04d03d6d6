{{ config(materialized='incremental', unique_key='appeal_key') }}
-- The conformed appeal: codes resolved against the dimensions (unknown → «не определено» members, never dropped, the
-- code as sent kept in unresolved_* for unknown_codes_monthly), the local registration date in the region's IANA zone
-- (macro to_local), the agency version valid at registration (SCD2), and facts taken from the status history.
-- An appeal whose local registration date lies outside the production calendar (dim_date: from the lake's first year
-- to next year) is excluded with that reason rather than breaking the deadlines of the build; the test
-- within_production_calendar on int_appeals_excluded names it.
-- Incremental: the appeals whose staging row or status history was processed after this table's latest run are
-- conformed again; all of them when the reference data changed (int_reference_versions).
{%- set since = incremental_watermark() %}
{%- set appeals_of_changed_histories, histories_of_changed_appeals = false, false %}
{%- if execute and is_incremental() %}
    {%- set current_reference = run_query('select reference_version from ' ~ ref('int_reference_versions')) %}
    {%- if stored_value('max(reference_version)') != current_reference.columns[0].values()[0] %}
        {%- set since = "cast('1900-01-01' as " ~ dbt.type_timestamp() ~ ")" %}
    {%- endif %}
    {#- A history and its record normally change together; when only one of them did, the other is read whole. #}
    {%- set unmatched -%}
        select
            (select count(*) from (
                select appeal_key from {{ ref('int_appeal_events_unioned') }} where processed_at > {{ since }}
                except
                select appeal_key from {{ ref('int_appeals_unioned') }} where processed_at > {{ since }}
            ) as histories_only),
            (select count(*) from (
                select appeal_key from {{ ref('int_appeals_unioned') }}
                where processed_at > {{ since }} and channel_code in ('pos', 'incident')
                except
                select appeal_key from {{ ref('int_appeal_events_unioned') }} where processed_at > {{ since }}
            ) as appeals_only)
    {%- endset %}
    {%- set counts = run_query(unmatched).rows[0] %}
    {%- set appeals_of_changed_histories, histories_of_changed_appeals = counts[0] > 0, counts[1] > 0 %}
{%- endif %}

with changed_appeals as (
    select * from {{ ref('int_appeals_unioned') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

changed_events as (
    select * from {{ ref('int_appeal_events_unioned') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

appeals as (
    select * from changed_appeals
    {%- if appeals_of_changed_histories %}
    union all
    select * from {{ ref('int_appeals_unioned') }}
    where processed_at <= {{ since }} and appeal_key in (select appeal_key from changed_events)
    {%- endif %}
),

events as (
    select * from changed_events
    {%- if histories_of_changed_appeals %}
    union all
    select * from {{ ref('int_appeal_events_unioned') }}
    where processed_at <= {{ since }} and appeal_key in (select appeal_key from changed_appeals)
    {%- endif %}
),

reference as (
    select reference_version from {{ ref('int_reference_versions') }}
),

regions as (
    select * from {{ ref('dim_region') }}
),

municipalities as (
    select * from {{ ref('dim_municipality') }}
),

categories as (
    select * from {{ ref('dim_category') }}
),

subcategories as (
    select * from {{ ref('dim_subcategory') }}
),

agencies as (
    select * from {{ ref('dim_agency') }}
),

calendar_span as (
    select min(date_day) as first_day, max(date_day) as last_day from {{ ref('dim_date') }}
),

event_summary as (
    select
        appeal_key,
        min(case when status in ('in_work', 'answered') then event_at end) as first_work_at,
        min(case when status = 'answered' then event_at end) as first_answer_event_at,
        max(case when status = 'closed' then event_at end) as last_closed_at,
        min(case when status = 'extended' then event_at end) as first_extended_at,
        sum(case when status = 'redirected' then 1 else 0 end) as redirect_events,
        sum(case when status = 'returned_for_rework' then 1 else 0 end) as rework_events,
        sum(case when status = 'reopened' then 1 else 0 end) as reopen_events
    from events
    group by appeal_key
),

-- Each agency's versions cover all time: the first one also before its valid_from, the last one also after valid_to,
-- so every appeal of a known agency finds exactly one version.
agency_versions as (
    select
        agency_id,
        agency_sk,
        agency_kind,
        case
            when valid_from = min(valid_from) over (partition by agency_id) then cast('1900-01-01' as date)
            else valid_from
        end as match_from,
        case
            when valid_from = max(valid_from) over (partition by agency_id) then cast('9999-12-31' as date)
            else valid_to
        end as match_to
    from agencies
),

localized as (
    select
        appeals.*,
        regions.timezone as time_zone,
        cast({{ to_local('appeals.registered_at', 'regions.timezone') }} as date) as registered_date
    from appeals
    left join regions
        on appeals.region_code = regions.region_code
),

conformed as (
    select
        localized.appeal_key,
        localized.channel_code,
        localized.appeal_kind,
        localized.source_id,
        localized.region_code,
        localized.time_zone,
        coalesce(municipalities.oktmo, '00000000') as oktmo,
        coalesce(agency_versions.agency_id, 'unknown') as agency_id,
        coalesce(agency_versions.agency_sk, 'unknown') as agency_sk,
        coalesce(agency_versions.agency_kind, 'не определено') as agency_kind,
        coalesce(categories.sector_code, 'unknown') as sector_code,
        coalesce(categories.category_code, 'unknown') as category_code,
        case
            when localized.subcategory_code is null then cast(null as {{ dbt.type_string() }})
            else coalesce(subcategories.subcategory_code, 'unknown')
        end as subcategory_code,
        -- the codes as sent, where they did not resolve (null otherwise): what unknown_codes_monthly counts
        case when municipalities.oktmo is null then localized.oktmo end as unresolved_oktmo,
        case when agency_versions.agency_id is null then localized.agency_id end as unresolved_agency_id,
        case
            when categories.category_code is null
                then case when localized.channel_code = 'sed' then localized.classifier_code else localized.category_code end
        end as unresolved_category_code,
        case
            when localized.subcategory_code is not null and subcategories.subcategory_code is null
                then localized.subcategory_code
        end as unresolved_subcategory_code,
        coalesce(categories.deadline_working_days, {{ var('default_deadline_working_days') }}) as deadline_working_days,
        localized.citizen_hash,
        localized.address,
        localized.appeal_text,
        localized.registered_at,
        localized.registered_date,
        case
            when localized.channel_code = 'incident' then localized.reaction_at
            else coalesce(event_summary.first_work_at, localized.answered_at, event_summary.first_answer_event_at)
        end as first_response_at,
        coalesce(localized.answered_at, event_summary.first_answer_event_at) as answered_at,
        case
            when localized.status = 'closed' then coalesce(event_summary.last_closed_at, localized.updated_at)
        end as closed_at,
        coalesce(localized.extended_at, event_summary.first_extended_at) as extended_at,
        coalesce(localized.redirect_count, event_summary.redirect_events, 0) as redirect_count,
        coalesce(localized.rework_count, event_summary.rework_events, 0) as rework_count,
        (localized.status = 'reopened' or coalesce(event_summary.reopen_events, 0) > 0) as is_reopened,
        localized.is_repeat_declared,
        localized.rating,
        localized.rated_at,
        localized.status,
        localized.source_status,
        localized.updated_at,
        case
            when localized.time_zone is null then 'unknown_region'
            when localized.registered_at is null then 'missing_registration_time'
            when localized.registered_date < calendar_span.first_day or localized.registered_date > calendar_span.last_day
                then 'outside_production_calendar'
        end as exclusion_reason,
        reference.reference_version,
        {{ processed_at() }} as processed_at
    from localized
    cross join reference
    cross join calendar_span
    left join event_summary
        on localized.appeal_key = event_summary.appeal_key
    left join municipalities
        on localized.oktmo = municipalities.oktmo
    left join categories
        on localized.category_code = categories.category_code
    left join subcategories
        on localized.subcategory_code = subcategories.subcategory_code
    left join agency_versions
        on localized.agency_id = agency_versions.agency_id
        and localized.registered_date >= agency_versions.match_from
        and localized.registered_date < agency_versions.match_to
)

select * from conformed
