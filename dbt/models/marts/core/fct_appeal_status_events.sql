{{ config(materialized='incremental', unique_key='appeal_key') }}
-- One row per status transition (смена статуса). Incremental by appeal (strategy replace_keys): the whole history of
-- every appeal conformed again since this table's latest run replaces the stored one; the history of an appeal that
-- became excluded is removed.
{%- set since = incremental_watermark() %}
{%- set stored_histories_needed = false %}
{%- if execute and is_incremental() %}
    {#- ПОС and incident histories are restaged with their record; when a record changed alone, its history is read whole #}
    {%- set unmatched -%}
        select count(*) from (
            select appeal_key from {{ ref('int_appeals_conformed') }}
            where processed_at > {{ since }} and exclusion_reason is null and channel_code in ('pos', 'incident')
            except
            select appeal_key from {{ ref('int_appeal_events_unioned') }} where processed_at > {{ since }}
        ) as appeals_only
    {%- endset %}
    {%- set stored_histories_needed = run_query(unmatched).columns[0].values()[0] > 0 %}
{%- endif %}

with appeals as (
    select appeal_key, exclusion_reason, updated_at from {{ ref('int_appeals_conformed') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

events as (
    select * from {{ ref('int_appeal_events_unioned') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- if stored_histories_needed %}
    union all
    select * from {{ ref('int_appeal_events_unioned') }}
    where processed_at <= {{ since }} and appeal_key in (select appeal_key from appeals)
    {%- endif %}
    {%- endif %}
),

agencies as (
    select distinct agency_id from {{ ref('dim_agency') }}
)

select
    events.appeal_key,
    events.event_seq,
    events.channel_code,
    events.status,
    events.source_status,
    events.event_at,
    coalesce(agencies.agency_id, 'unknown') as agency_id,
    appeals.updated_at,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from events
inner join appeals
    on events.appeal_key = appeals.appeal_key
    and appeals.exclusion_reason is null
left join agencies
    on events.agency_id = agencies.agency_id

{%- if is_incremental() %}

union all

-- a later version is excluded: its history leaves the fact
{{ removed_rows('select appeal_key from appeals where exclusion_reason is not null') }}
{%- endif %}
