select
    status_code,
    status_name,
    is_terminal,
    is_answered
from {{ ref('statuses') }}

union all

select
    'unknown',
    'не определено',
    false,
    false
