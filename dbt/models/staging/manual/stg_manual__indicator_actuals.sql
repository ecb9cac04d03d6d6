-- Manual indicator actuals, typed. Rows with an empty value are ignored (a template line not filled in).
select
    trim(region_code) as region_code,
    trim(indicator_code) as indicator_code,
    cast(actual_date as date) as actual_date,
    cast(replace(trim(value), ',', '.') as {{ mart_double() }}) as actual_value,
    comment
from {{ source('manual', 'indicator_actuals') }}
where nullif(trim(value), '') is not null
