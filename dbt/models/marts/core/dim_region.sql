select
    region_code,
    region_name,
    capital_name,
    timezone,
    utc_offset_hours
from {{ ref('regions') }}
