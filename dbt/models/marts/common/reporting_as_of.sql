-- The «as of» moment of every mart: the latest timestamp in the loaded data, not the wall clock,
-- so that the same data always gives the same numbers.
with latest as (
    select max(coalesce(updated_at, registered_at)) as as_of_at
    from {{ ref('fct_appeals') }}
)

select
    as_of_at,
    cast(as_of_at as date) as as_of_date,
    cast({{ dbt.date_trunc('month', 'as_of_at') }} as date) as as_of_month
from latest
