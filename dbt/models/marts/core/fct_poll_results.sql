-- ПОС polls and votes (опросы и голосования): one row per poll option with its share of the poll's votes.
with options as (
    select * from {{ ref('stg_pos__poll_options') }}
)

select
    poll_id,
    option_id,
    region_code,
    oktmo,
    title,
    question,
    option_text,
    votes,
    round(
        cast(votes as {{ dbt.type_numeric() }}) / nullif(sum(votes) over (partition by poll_id), 0), 4
    ) as vote_share,
    started_at,
    ended_at,
    updated_at
from options
