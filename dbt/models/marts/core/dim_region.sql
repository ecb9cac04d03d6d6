select
    region_code,
    region_name,
    region_name_genitive,
    region_name_prepositional,
    iso_3166_2,
    capital_name,
    timezone,
    utc_offset_hours
from {{ ref('regions') }}
