-- SCD type 2 from the rename history (seed agency_names): one row per name version.
-- agency_id is durable across renames; agency_sk identifies the version. valid_to is exclusive, null = current.
with agencies as (
    select * from {{ ref('agencies') }}
),

names as (
    select * from {{ ref('agency_names') }}
),

versions as (
    select
        agency_id,
        agency_name,
        valid_from,
        coalesce(lead(valid_from) over (partition by agency_id order by valid_from), valid_to) as valid_to,
        row_number() over (partition by agency_id order by valid_from) as version_number
    from names
)

select
    versions.agency_id || '|' || cast(versions.valid_from as {{ dbt.type_string() }}) as agency_sk,
    versions.agency_id,
    agencies.region_code,
    agencies.agency_kind,
    agencies.oktmo,
    agencies.parent_agency_id,
    versions.agency_name,
    versions.valid_from,
    versions.valid_to,
    versions.version_number,
    versions.valid_to is null as is_current
from versions
inner join agencies
    on versions.agency_id = agencies.agency_id

union all

select
    'unknown',
    'unknown',
    cast(null as {{ dbt.type_string() }}),
    'не определено',
    cast(null as {{ dbt.type_string() }}),
    cast(null as {{ dbt.type_string() }}),
    'не определено',
    cast('1900-01-01' as date),
    cast(null as date),
    1,
    true
