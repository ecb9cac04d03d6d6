{{
    config(
        materialized='incremental',
        unique_key='appeal_key',
        update_columns=['is_repeat', 'has_repeat_after_answer', 'is_overdue_open']
    )
}}
-- One row per appeal (обращение / сообщение / инцидент). Incremental (strategy replace_keys): the appeals conformed
-- again since this table's latest run are replaced, the ones whose latest version is excluded removed; the stored
-- appeals whose flags moved without the appeal changing — a repeat flag moved by another appeal of the same
-- citizen, the overdue flag of an open appeal whose deadline the as-of moment passed — are updated in place.
--
-- depends_on: {{ ref('int_appeals_repeats_flagged') }}, {{ ref('int_appeals_conformed') }}
{%- set since = incremental_watermark() %}

-- «now» of the warehouse: the latest change of the appeals this table holds, so reloads of the same data agree. The
-- same moment as reporting_as_of (which reads this table after the build): an excluded appeal — say one dated 2031 —
-- must not make every open appeal overdue.
with data_as_of as (
    select max(coalesce(updated_at, registered_at)) as as_of_at from {{ ref('int_appeals_conformed') }}
    where exclusion_reason is null
),

appeals as (
    select * from {{ ref('int_appeals_deadlines_computed') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

computed as (
    select
        appeals.appeal_key,
        appeals.channel_code,
        appeals.appeal_kind,
        appeals.source_id,
        appeals.region_code,
        appeals.oktmo,
        appeals.agency_id,
        appeals.agency_sk,
        appeals.agency_kind,
        appeals.sector_code,
        appeals.category_code,
        appeals.subcategory_code,
        appeals.citizen_hash,
        appeals.address,
        appeals.appeal_text as text,
        appeals.registered_at,
        appeals.registered_date,
        appeals.first_response_at,
        appeals.answered_at,
        appeals.closed_at,
        appeals.extended_at,
        appeals.deadline_rule,
        appeals.deadline_date,
        appeals.deadline_at,
        appeals.is_answered,
        appeals.is_on_time,
        {{ overdue_open('appeals', 'data_as_of.as_of_at') }} as is_overdue_open,
        appeals.response_hours,
        appeals.response_working_days,
        appeals.redirect_count,
        appeals.rework_count,
        appeals.is_reopened,
        appeals.is_repeat,
        appeals.has_repeat_after_answer,
        appeals.is_repeat_declared,
        appeals.rating,
        appeals.rated_at,
        appeals.status,
        appeals.source_status,
        appeals.updated_at,
        {{ processed_at() }} as processed_at
    from appeals
    cross join data_as_of
)

select *{{ change_column("'replace'") }} from computed

{%- if is_incremental() %}

union all

-- stored appeals whose flags moved: read from the narrow repeat table and the stored dates, updated in place
{%- set moved_flags %}
    select
        stored.appeal_key,
        coalesce(repeats.is_repeat, stored.is_repeat) as is_repeat,
        coalesce(repeats.has_repeat_after_answer, stored.has_repeat_after_answer) as has_repeat_after_answer,
        {{ overdue_open('stored', 'data_as_of.as_of_at') }} as is_overdue_open
    from {{ this }} as stored
    cross join data_as_of
    left join {{ ref('int_appeals_repeats_flagged') }} as repeats
        on repeats.appeal_key = stored.appeal_key
        and repeats.processed_at > {{ since }}
    where (repeats.appeal_key is not null
           or stored.is_overdue_open is distinct from {{ overdue_open('stored', 'data_as_of.as_of_at') }})
      and stored.appeal_key not in (select appeal_key from computed)
{%- endset %}
{{ updated_rows(moved_flags) }}

union all

-- a later version is excluded (int_appeals_excluded): the appeal leaves the fact
{{ removed_rows(appeals_excluded_since(since)) }}
{%- endif %}
