select
    category_code,
    sector_code,
    category_name,
    deadline_working_days,
    is_other
from {{ ref('categories') }}

union all

select
    'unknown',
    'unknown',
    'не определено',
    {{ var('default_deadline_working_days') }},
    false
