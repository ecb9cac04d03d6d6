select
    channel_code,
    channel_name,
    appeal_kind_default
from {{ ref('channels') }}
