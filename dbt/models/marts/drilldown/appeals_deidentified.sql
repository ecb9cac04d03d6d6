{{ config(materialized='view') }}
-- One row per appeal for drill-down in BI, de-identified (152-ФЗ): no text, no address, no citizen hash, no exact
-- times — the outcome flags the marts count, the codes and names to filter by, the registration date. A view over
-- appeal_outcomes: the warehouse stores no second copy; `publish` writes it to the serving layer like any mart.
select
    o.appeal_key,
    o.channel_code,
    o.region_code,
    reg.region_name,
    o.oktmo,
    m.municipality_name,
    o.agency_id,
    o.agency_kind,
    a.agency_name,
    o.sector_code,
    coalesce(s.sector_name, 'не определено') as sector_name,
    o.category_code,
    c.category_name,
    o.is_other,
    o.registered_date,
    o.month_start,
    o.is_answered,
    o.is_answered_on_time,
    o.is_open_overdue,
    o.response_hours,
    o.rating,
    o.is_repeat,
    o.is_complete
from {{ ref('appeal_outcomes') }} as o
left join {{ ref('dim_municipality') }} as m
    on m.oktmo = o.oktmo
left join {{ ref('dim_agency') }} as a
    on a.agency_id = o.agency_id and a.is_current
left join {{ ref('dim_sector') }} as s
    on s.region_code = o.region_code and s.sector_code = o.sector_code
left join {{ ref('dim_category') }} as c
    on c.category_code = o.category_code
left join {{ ref('dim_region') }} as reg on reg.region_code = o.region_code
