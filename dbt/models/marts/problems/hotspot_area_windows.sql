{{ config(materialized='incremental', unique_key='window_index') }}
-- Appeals per region × municipality × category × fixed 30-day window (repeat_window_days from 2000-01-01): the
-- municipality × category clusters of repeat_hotspots and the usual volume of every pair (its average per window).
-- Kept as a table so that an incremental run recounts only the windows of the changed months
-- (macros/marts/incremental_marts.sql), not every appeal.
-- depends_on: {{ ref('reporting_months') }}
with
{%- if is_incremental() %}
rebuilt_windows as (
    {{ mart_changed_windows() }}
),
{%- endif %}

appeals as (
    select
        region_code,
        coalesce(oktmo, '00000000') as oktmo,
        category_code,
        citizen_hash,
        registered_at,
        is_answered,
        {{ repeat_window_index('registered_date') }} as window_index
    from {{ ref('fct_appeals') }}
),

windows as (
    select
        region_code,
        oktmo,
        category_code,
        window_index,
        {{ hotspot_cluster_measures() }}
    from appeals
    {%- if is_incremental() %}
    where window_index in (select window_index from rebuilt_windows)
    {%- endif %}
    group by region_code, oktmo, category_code, window_index
)

select windows.*, {{ processed_at() }} as processed_at{{ change_column("'replace'") }}
from windows
{%- if is_incremental() %}

union all

-- a rebuilt window without appeals: its stored rows go
{{ removed_rows('select window_index from rebuilt_windows where window_index not in (select window_index from windows)', key='window_index') }}
{%- endif %}
