{{ config(materialized='incremental', unique_key='quarter_start') }}
-- Категории региональных проблем: per region × sector × quarter, categories ranked by volume; the top
-- priority_categories_per_sector (at least three) are the priorities. When «прочие по направлению» is among
-- them, other_category_decomposition breaks it down into concrete problems (000 §15, 001 §4.6).
-- Incremental (by quarter, macros/marts/incremental_marts.sql): the quarters of the changed months are rebuilt.
-- depends_on: {{ ref('reporting_months') }}
with
{%- if is_incremental() %}
rebuilt_quarters as (
    {{ mart_changed_quarters() }}
),
{%- endif %}

volumes as (
    select region_code, sector_code, quarter_start, category_code, count(*) as appeals
    from {{ ref('appeal_outcomes') }}
    {%- if is_incremental() %}
    where quarter_start in (select quarter_start from rebuilt_quarters)
    {%- endif %}
    group by region_code, sector_code, quarter_start, category_code
),

ranked as (
    select
        volumes.*,
        sum(appeals) over (partition by region_code, sector_code, quarter_start) as sector_appeals,
        row_number() over (
            partition by region_code, sector_code, quarter_start order by appeals desc, category_code
        ) as volume_rank
    from volumes
)

select
    r.region_code,
    reg.region_name,
    r.sector_code,
    coalesce(s.sector_name, 'не определено') as sector_name,
    r.quarter_start,
    r.category_code,
    coalesce(c.category_name, 'не определено') as category_name,
    coalesce(c.is_other, false) as is_other,
    r.appeals,
    {{ mart_round(mart_ratio('r.appeals', 'r.sector_appeals')) }} as share_of_sector,
    r.volume_rank,
    r.volume_rank <= {{ var('priority_categories_per_sector') }} as is_priority,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from ranked as r
left join {{ ref('dim_category') }} as c on c.category_code = r.category_code
left join {{ ref('dim_sector') }} as s on s.region_code = r.region_code and s.sector_code = r.sector_code
left join {{ ref('dim_region') }} as reg on reg.region_code = r.region_code
{%- if is_incremental() %}

union all

-- a rebuilt quarter without appeals: its stored rows go
{{ removed_rows('select quarter_start from rebuilt_quarters where quarter_start not in (select quarter_start from volumes)', key='quarter_start') }}
{%- endif %}
