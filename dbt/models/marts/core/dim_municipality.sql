select
    oktmo,
    region_code,
    municipality_name,
    municipality_kind,
    population,
    population_year,
    is_capital,
    admin_centre,
    latitude,
    longitude
from {{ ref('municipalities') }}

union all

-- «не определено»: appeals whose OKTMO is missing or unknown
select
    '00000000',
    cast(null as {{ dbt.type_string() }}),
    'не определено',
    'не определено',
    cast(null as {{ dbt.type_bigint() }}),
    cast(null as {{ dbt.type_int() }}),
    false,
    cast(null as {{ dbt.type_string() }}),
    -- the coordinates keep the seed's numeric(9,6): a float here made DuckDB's union a 4-byte real (53.62 → 53.6199989)
    null,
    null
