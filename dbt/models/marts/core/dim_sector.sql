-- Отраслевые блоки per region, in the region's own wording, plus a «не определено» member for every region.
with region_sectors as (
    select * from {{ ref('region_sectors') }}
),

sectors as (
    select * from {{ ref('sectors') }}
)

select
    region_sectors.region_code,
    region_sectors.sector_code,
    coalesce(region_sectors.sector_name_local, sectors.sector_name) as sector_name,
    sectors.sector_name as sector_name_common,
    sectors.is_core,
    region_sectors.valid_from
from region_sectors
inner join sectors
    on region_sectors.sector_code = sectors.sector_code

union all

select
    region_code,
    'unknown',
    'не определено',
    'не определено',
    false,
    cast(null as date)
from {{ ref('regions') }}
