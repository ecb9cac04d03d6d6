-- Парето по муниципальным образованиям per region × year: municipalities ordered by appeals with the cumulative
-- share; the minimal set that covers at least pareto_share of the region's appeals is flagged as candidates for
-- pilot municipal management centres (дорожная карта 000, п. 2.7). Appeals without a known municipality are left out.
with yearly as (
    select a.region_code, a.year_start, a.oktmo, count(*) as appeals
    from {{ ref('appeal_outcomes') }} as a
    inner join {{ ref('dim_municipality') }} as m
        on m.oktmo = a.oktmo and m.oktmo <> '00000000'
    group by a.region_code, a.year_start, a.oktmo
),

ordered as (
    select
        yearly.*,
        row_number() over (partition by region_code, year_start order by appeals desc, oktmo) as pareto_rank,
        sum(appeals) over (partition by region_code, year_start) as region_appeals,
        sum(appeals) over (
            partition by region_code, year_start order by appeals desc, oktmo
            rows between unbounded preceding and current row
        ) as cumulative_appeals
    from yearly
)

select
    o.region_code,
    reg.region_name,
    cast(extract(year from o.year_start) as {{ dbt.type_int() }}) as year,
    o.oktmo,
    m.municipality_name,
    m.population,
    o.appeals,
    o.pareto_rank,
    -- the Pareto chart's axis label: Superset's mixed chart orders its categories alphabetically, so the zero-padded
    -- place keeps the bars in descending volume (at most 99 municipalities per region)
    lpad(cast(o.pareto_rank as {{ dbt.type_string() }}), 2, '0') || '. ' || m.municipality_name as pareto_label,
    {{ mart_round(mart_ratio('o.appeals', 'o.region_appeals')) }} as share,
    {{ mart_round(mart_ratio('o.cumulative_appeals', 'o.region_appeals')) }} as cumulative_share,
    -- in the minimal set while the municipalities before it cover less than the cut (compared in exact numbers)
    (o.cumulative_appeals - o.appeals) < {{ var('pareto_share') }} * o.region_appeals as is_pilot_candidate,
    -- the dashboard's Pareto chart shows one year per region: the latest
    o.year_start = max(o.year_start) over (partition by o.region_code) as is_latest_year
from ordered as o
inner join {{ ref('dim_municipality') }} as m on m.oktmo = o.oktmo
left join {{ ref('dim_region') }} as reg on reg.region_code = o.region_code
