{{ config(materialized='incremental', unique_key='quarter_start') }}
-- Декомпозиция «прочих по направлению»: for every region × sector × quarter where the sector's «прочие» category
-- is a priority, its appeals broken down by subcategory and by the most frequent terms of their texts.
-- Incremental (by quarter, macros/marts/incremental_marts.sql): the quarters of the changed months are rebuilt.
-- depends_on: {{ ref('reporting_months') }}
{%- set stop_words = mart_stop_words() %}

with
{%- if is_incremental() %}
rebuilt_quarters as (
    {{ mart_changed_quarters() }}
),
{%- endif %}

priority_other as (
    select region_code, sector_code, quarter_start, category_code
    from {{ ref('category_priorities') }}
    where is_other and is_priority
    {%- if is_incremental() %}
      and quarter_start in (select quarter_start from rebuilt_quarters)
    {%- endif %}
),

other_appeals as (
    select a.appeal_key, a.region_code, a.sector_code, a.quarter_start, a.subcategory_code
    from {{ ref('appeal_outcomes') }} as a
    inner join priority_other as p
        on p.region_code = a.region_code
       and p.sector_code = a.sector_code
       and p.quarter_start = a.quarter_start
       and p.category_code = a.category_code
    {%- if is_incremental() %}
    where a.quarter_start in (select quarter_start from rebuilt_quarters)
    {%- endif %}
),

-- their texts (fct_appeals keeps them; appeal_outcomes does not)
other_texts as (
    select o.appeal_key, o.region_code, o.sector_code, o.quarter_start, f.text
    from other_appeals as o
    inner join {{ ref('fct_appeals') }} as f
        on f.appeal_key = o.appeal_key
    where f.text is not null
),

by_subcategory as (
    select
        o.region_code,
        o.sector_code,
        o.quarter_start,
        'subcategory' as breakdown_kind,
        coalesce(o.subcategory_code, 'unknown') as item_code,
        coalesce(sc.subcategory_name, 'подкатегория не указана') as item_name,
        count(*) as appeals
    from other_appeals as o
    left join {{ ref('dim_subcategory') }} as sc on sc.subcategory_code = o.subcategory_code
    group by o.region_code, o.sector_code, o.quarter_start, coalesce(o.subcategory_code, 'unknown'),
        coalesce(sc.subcategory_name, 'подкатегория не указана')
),

words as (
    select appeal_key, region_code, sector_code, quarter_start, word
    from (
        select appeal_key, region_code, sector_code, quarter_start, {{ mart_split_words('text') }} as word
        from other_texts
    ) as split
    where {{ dbt.length('word') }} >= {{ var('decomposition_min_word_length') }}
      and word not in ('{{ stop_words | join("', '") }}')
      and {{ dbt.length("translate(word, '0123456789', '')") }} > 0  -- not a bare number
),

by_term as (
    -- a term counts once per appeal that uses it
    select
        region_code,
        sector_code,
        quarter_start,
        'term' as breakdown_kind,
        word as item_code,
        word as item_name,
        count(distinct appeal_key) as appeals
    from words
    group by region_code, sector_code, quarter_start, word
),

items as (
    select * from by_subcategory
    union all
    select * from by_term
),

ranked_items as (
    select
        items.*,
        row_number() over (
            partition by region_code, sector_code, quarter_start, breakdown_kind order by appeals desc, item_code
        ) as item_rank
    from items
)

select
    i.region_code, reg.region_name, i.sector_code, coalesce(s.sector_name, 'не определено') as sector_name, i.quarter_start,
    i.breakdown_kind,
    case i.breakdown_kind when 'subcategory' then 'подкатегория' when 'term' then 'слово в тексте' end as breakdown_kind_ru,
    i.item_rank, i.item_code, i.item_name, i.appeals,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from ranked_items as i
left join {{ ref('dim_sector') }} as s on s.region_code = i.region_code and s.sector_code = i.sector_code
left join {{ ref('dim_region') }} as reg on reg.region_code = i.region_code
where i.item_rank <= {{ var('decomposition_top_n') }}
{%- if is_incremental() %}

union all

-- a rebuilt quarter without a priority «прочие» category: its stored rows go
{{ removed_rows('select quarter_start from rebuilt_quarters where quarter_start not in (select quarter_start from ranked_items)', key='quarter_start') }}
{%- endif %}
