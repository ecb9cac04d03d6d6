{{
    config(
        materialized='incremental',
        unique_key='appeal_key',
        incremental_strategy='replace_keys',
        on_schema_change='ignore'
    )
}}
-- Повторное обращение: the same citizen already appealed in the same category within repeat_window_days before
-- (an appeal at the very same moment is not an earlier one). Полнота реагирования: the answer was not complete when
-- the same citizen's next appeal in the same category came after the answer — strictly later than answered_at — and
-- at most repeat_window_days after it (exactly 30 days counts); appeals made before the answer or at the same moment
-- are not reactions to it. Unknown categories and anonymous appeals are never repeats and never make an answer
-- incomplete: their sameness cannot be established. Both come from windows over one citizen × category — sorts,
-- not correlated self-joins, which PostgreSQL runs as nested loops over all appeals: the previous distinct
-- registration moment, and for each answer the earliest registration after it on a timeline of registrations and
-- answers.
-- Incremental: an appeal that changed can move the flags of the citizen's other appeals, so every citizen ×
-- category it is in (now or before) is recomputed from the stored rows; the changed appeals and the rows whose
-- flags moved are replaced. (on_schema_change: the replace_keys strategy checks the columns itself.)
{%- set since = incremental_watermark() %}
{%- set window_days = var('repeat_window_days') %}

with changed as (
    select appeal_key, citizen_hash, category_code, registered_at, answered_at, exclusion_reason
    from {{ ref('int_appeals_conformed') }}
    {%- if is_incremental() %}
    where processed_at > {{ since }}
    {%- endif %}
),

{%- if is_incremental() %}

affected_pairs as (
    select citizen_hash, category_code from changed where citizen_hash is not null
    union
    select citizen_hash, category_code from {{ this }}
    where appeal_key in (select appeal_key from changed) and citizen_hash is not null
),

appeals as (
    select appeal_key, citizen_hash, category_code, registered_at, answered_at, true as is_changed,
        cast(null as {{ dbt.type_boolean() }}) as stored_is_repeat,
        cast(null as {{ dbt.type_boolean() }}) as stored_has_repeat_after_answer
    from changed
    where exclusion_reason is null
    union all
    select appeal_key, citizen_hash, category_code, registered_at, answered_at, false, is_repeat,
        has_repeat_after_answer
    from {{ this }}
    where (citizen_hash, category_code) in (select citizen_hash, category_code from affected_pairs)
      and appeal_key not in (select appeal_key from changed)
),

{%- else %}

appeals as (
    select appeal_key, citizen_hash, category_code, registered_at, answered_at, true as is_changed
    from changed
    where exclusion_reason is null
),

{%- endif %}

neighbours as (
    select
        appeals.*,
        max(registered_at) over (
            partition by citizen_hash, category_code order by registered_at
            {{ earlier_rows_frame() }}
        ) as previous_registered_at
    from appeals
),

-- registrations and answers of one citizen × category on one timeline, latest first; at the same moment the answer
-- comes first, so the registrations before an answer in this order are those strictly after it
timeline as (
    select appeal_key, citizen_hash, category_code, registered_at as moment, 0 as is_answer from appeals
    union all
    select appeal_key, citizen_hash, category_code, answered_at, 1 from appeals where answered_at is not null
),

next_after_answer as (
    select appeal_key, next_registered_at
    from (
        select
            appeal_key,
            is_answer,
            min(case when is_answer = 0 then moment end) over (
                partition by citizen_hash, category_code order by moment desc, is_answer desc
                rows between unbounded preceding and 1 preceding
            ) as next_registered_at
        from timeline
    ) as answers
    where is_answer = 1
),

flagged as (
    select
        neighbours.appeal_key,
        citizen_hash,
        category_code,
        registered_at,
        answered_at,
        coalesce(
            citizen_hash is not null and category_code <> 'unknown'
            and previous_registered_at >= {{ dbt.dateadd('day', -1 * window_days, 'registered_at') }},
            false
        ) as is_repeat,
        coalesce(
            citizen_hash is not null and category_code <> 'unknown'
            and next_after_answer.next_registered_at <= {{ dbt.dateadd('day', window_days, 'answered_at') }},
            false
        ) as has_repeat_after_answer,
        {{ processed_at() }} as processed_at
        {%- if is_incremental() %},
        is_changed,
        stored_is_repeat,
        stored_has_repeat_after_answer
        {%- endif %}
    from neighbours
    left join next_after_answer
        on neighbours.appeal_key = next_after_answer.appeal_key
)

select
    appeal_key, citizen_hash, category_code, registered_at, answered_at, is_repeat, has_repeat_after_answer,
    processed_at
    {{- change_column("'replace'") }}
from flagged
{%- if is_incremental() %}
where is_changed
   or is_repeat <> stored_is_repeat
   or has_repeat_after_answer <> stored_has_repeat_after_answer

union all

-- a later version of the appeal is excluded: it leaves the table
{{ removed_rows('select appeal_key from changed where exclusion_reason is not null') }}
{%- endif %}
