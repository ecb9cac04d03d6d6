-- The roadmap status log, typed; status codes lower-cased.
select
    trim(region_code) as region_code,
    trim(event_code) as event_code,
    cast(status_date as date) as status_date,
    lower(trim(status)) as status,
    comment
from {{ source('manual', 'roadmap_status_log') }}
where nullif(trim(status), '') is not null
