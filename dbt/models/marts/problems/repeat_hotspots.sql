{{ config(materialized='incremental', unique_key='hotspot_key') }}
-- Кандидаты в первопричины: clusters of appeals from at least hotspot_min_citizens distinct citizens within one
-- 30-day window (repeat_window_days), either on the same address or in the same municipality × category
-- (the latter only when the window has at least hotspot_surge_ratio × the usual volume of that pair).
-- Windows are fixed 30-day periods counted from 2000-01-01, so every cluster spans at most 30 days and the
-- result does not depend on the load order.
-- Incremental: the address clusters of the windows that overlap a changed month (macros/marts/incremental_marts.sql)
-- are recounted from their appeals, the others kept; the municipality × category clusters come from
-- hotspot_area_windows; recurrence and the fast-track flag are then recomputed over all clusters, and the
-- clusters that changed are rewritten.
-- depends_on: {{ ref('reporting_months') }}
{%- set window_days = var('repeat_window_days') %}
{%- set stored_window_index = repeat_window_index('window_start') %}

with as_of as (
    select as_of_at from {{ ref('reporting_as_of') }}
),
{%- if is_incremental() %}

rebuilt_windows as (
    {{ mart_changed_windows(stored_window_index=stored_window_index) }}
),
{%- endif %}

appeals as (
    select
        appeal_key,
        region_code,
        coalesce(oktmo, '00000000') as oktmo,
        category_code,
        citizen_hash,
        registered_at,
        is_answered,
        -- lower case, no outer or doubled spaces (cheap string functions: a regexp costs seconds per million rows)
        lower(trim(replace(address, '  ', ' '))) as address_key,
        {{ repeat_window_index('registered_date') }} as window_index
    from {{ ref('fct_appeals') }}
    {%- if is_incremental() %}
    where {{ repeat_window_index('registered_date') }} in (select window_index from rebuilt_windows)
    {%- endif %}
),

address_clusters as (
    select
        'address' as hotspot_kind,
        region_code,
        oktmo,
        address_key as address,
        window_index,
        {{ hotspot_cluster_measures() }}
    from appeals
    where address_key is not null and address_key <> ''
    group by region_code, oktmo, address_key, window_index
    having count(distinct citizen_hash) >= {{ var('hotspot_min_citizens') }}
),

-- the most frequent category of an address cluster names its problem
address_categories as (
    select region_code, oktmo, address, window_index, category_code
    from (
        select
            a.region_code,
            a.oktmo,
            a.address_key as address,
            a.window_index,
            a.category_code,
            row_number() over (
                partition by a.region_code, a.oktmo, a.address_key, a.window_index
                order by count(*) desc, a.category_code
            ) as category_order
        from appeals as a
        inner join address_clusters as c
            on c.region_code = a.region_code and c.oktmo = a.oktmo
           and c.address = a.address_key and c.window_index = a.window_index
        group by a.region_code, a.oktmo, a.address_key, a.window_index, a.category_code
    ) as counted
    where category_order = 1
),

area_windows as (
    select
        area.*,
        avg(appeals) over (partition by region_code, oktmo, category_code) as usual_appeals
    from {{ ref('hotspot_area_windows') }} as area
),

clusters as (
    select
        c.hotspot_kind, c.region_code, c.oktmo, c.address, ac.category_code, c.window_index,
        c.appeals, c.distinct_citizens, c.open_appeals, c.first_registered_at, c.last_registered_at
    from address_clusters as c
    inner join address_categories as ac
        on ac.region_code = c.region_code and ac.oktmo = c.oktmo
       and ac.address = c.address and ac.window_index = c.window_index
    {%- if is_incremental() %}
    union all
    -- the address clusters of the windows not recounted, as stored
    select
        hotspot_kind, region_code, oktmo, address, category_code, {{ stored_window_index }},
        appeals, distinct_citizens, open_appeals, first_registered_at, last_registered_at
    from {{ this }}
    where hotspot_kind = 'address'
      and {{ stored_window_index }} not in (select window_index from rebuilt_windows)
    {%- endif %}
    union all
    select
        'municipality_category', region_code, oktmo, cast(null as {{ dbt.type_string() }}), category_code, window_index,
        appeals, distinct_citizens, open_appeals, first_registered_at, last_registered_at
    from area_windows
    where distinct_citizens >= {{ var('hotspot_min_citizens') }}
      and appeals >= {{ var('hotspot_surge_ratio') }} * usual_appeals
),

recurrence as (
    select
        clusters.*,
        count(*) over (
            partition by hotspot_kind, region_code, oktmo, coalesce(address, category_code)
        ) as hotspot_windows
    from clusters
),

hotspots as (
    select
        r.hotspot_kind || '|' || r.region_code || '|' || r.oktmo || '|' || coalesce(r.address, r.category_code)
            || '|' || cast(r.window_index as {{ dbt.type_string() }}) as hotspot_key,
        r.hotspot_kind,
        r.region_code,
        reg.region_name,
        r.oktmo,
        m.municipality_name,
        r.address,
        r.category_code,
        c.category_name,
        c.sector_code,
        cast({{ dbt.dateadd('day', 'r.window_index * ' ~ window_days, "cast('2000-01-01' as date)") }} as date) as window_start,
        r.appeals,
        r.distinct_citizens,
        r.open_appeals,
        r.first_registered_at,
        r.last_registered_at,
        r.hotspot_windows,
        -- a problem that comes back in several windows has a root cause to remove
        r.hotspot_windows >= 2 as is_root_cause_candidate,
        -- still active: open appeals, and the latest one within the window before the as-of moment
        (r.open_appeals > 0
         and r.last_registered_at >= {{ dbt.dateadd('day', -window_days, 'as_of.as_of_at') }}) as is_fast_track_candidate
    from recurrence as r
    cross join as_of
    left join {{ ref('dim_municipality') }} as m on m.oktmo = r.oktmo
    left join {{ ref('dim_category') }} as c on c.category_code = r.category_code
    left join {{ ref('dim_region') }} as reg on reg.region_code = r.region_code
)

select hotspots.*, {{ processed_at() }} as processed_at{{ change_column("'replace'") }}
from hotspots
{%- if is_incremental() %}
-- only the clusters that are new or changed (recurrence and the fast-track flag move clusters of other windows too)
left join {{ this }} as stored
    on stored.hotspot_key = hotspots.hotspot_key
where stored.hotspot_key is null
    {%- for column in adapter.get_columns_in_relation(this) | map(attribute='name')
        if column not in ('hotspot_key', 'processed_at') %}
    or hotspots.{{ column }} is distinct from stored.{{ column }}
    {%- endfor %}

union all

-- clusters that are no more
{{ removed_rows('select hotspot_key from ' ~ this ~ ' where hotspot_key not in (select hotspot_key from hotspots)', key='hotspot_key') }}
{%- endif %}
