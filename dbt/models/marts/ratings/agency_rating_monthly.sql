{{ config(materialized='incremental', unique_key='month_start') }}
-- Рейтинг органов власти по количеству, скорости, качеству и полноте реагирования (РОИВ и ОМСУ отдельно),
-- per region × month. Cohort: appeals registered in the month, by the final responsible agency (durable agency_id,
-- so a rating follows its agency across a rename).
-- Incremental (by month, macros/marts/incremental_marts.sql): the changed months and the month after each (its
-- rank_change), from the appeals of those months and the month before.
-- depends_on: {{ ref('reporting_months') }}
{%- set w_quantity = var('rating_weight_quantity') %}
{%- set w_speed = var('rating_weight_speed') %}
{%- set w_quality = var('rating_weight_quality') %}
{%- set w_completeness = var('rating_weight_completeness') %}

with as_of as (
    select as_of_date, as_of_month from {{ ref('reporting_as_of') }}
),
{%- if is_incremental() %}

rebuilt_months as (
    {{ mart_changed_months(following=1) }}
),

-- the rebuilt months and the months before them (for the previous rank)
read_months as (
    {{ mart_read_months() }}
),
{%- endif %}

counts as (
    select
        region_code,
        agency_id,
        agency_kind,
        month_start,
        {{ mart_outcome_counts() }},
        {{ mart_count_if('is_complete') }} as answered_complete
    from {{ ref('appeal_outcomes') }}
    where agency_kind in ('РОИВ', 'ОМСУ')
      and agency_id is not null
      {%- if is_incremental() %}
      and month_start in (select month_start from read_months)
      {%- endif %}
    group by region_code, agency_id, agency_kind, month_start
),

sub_scores as (
    select
        counts.*,
        {{ mart_ratio('answered', 'received') }} as quantity_score,
        {{ mart_ratio('answered_on_time', 'answered + open_overdue') }} as speed_score,
        case
            when rated >= {{ var('rating_quality_min_ratings') }} then {{ mart_ratio('rated_4_5', 'rated') }}
        end as quality_score,
        {{ mart_ratio('answered_complete', 'answered') }} as completeness_score
    from counts
),

weighted as (
    select
        sub_scores.*,
        coalesce({{ w_quantity }} * quantity_score, 0)
            + coalesce({{ w_speed }} * speed_score, 0)
            + coalesce({{ w_quality }} * quality_score, 0)
            + coalesce({{ w_completeness }} * completeness_score, 0) as weighted_sum,
        -- only the weights of non-null sub-scores count: a null sub-score's weight goes to the others
        (case when quantity_score is not null then {{ w_quantity }} else 0 end)
            + (case when speed_score is not null then {{ w_speed }} else 0 end)
            + (case when quality_score is not null then {{ w_quality }} else 0 end)
            + (case when completeness_score is not null then {{ w_completeness }} else 0 end) as weight_total
    from sub_scores
),

scored as (
    select
        weighted.*,
        {{ mart_round('100 * ' ~ mart_ratio('weighted_sum', 'weight_total'), 2) }} as score
    from weighted
),

eligibility as (
    select
        scored.*,
        case
            when received < {{ var('rating_min_appeals') }}
                then 'менее {{ var("rating_min_appeals") }} обращений за месяц'
            when score is null then 'нет данных для оценки'
        end as not_ranked_reason
    from scored
),

ranked as (
    select
        agency_id,
        month_start,
        dense_rank() over (partition by region_code, month_start, agency_kind order by score desc) as rating_rank,
        count(*) over (partition by region_code, month_start, agency_kind) as ranked_agencies
    from eligibility
    where not_ranked_reason is null
),

with_rank as (
    select
        e.*,
        r.rating_rank,
        r.ranked_agencies
    from eligibility as e
    left join ranked as r
        on e.agency_id = r.agency_id and e.month_start = r.month_start
),

names as (
    select agency_id, agency_name, valid_from, is_current
    from {{ ref('dim_agency') }}
),

-- the name valid in the month: the latest version that started by the month's end (or by the as-of date)
name_in_month as (
    select agency_id, month_start, agency_name
    from (
        select
            m.agency_id,
            m.month_start,
            n.agency_name,
            row_number() over (partition by m.agency_id, m.month_start order by n.valid_from desc) as version_order
        from with_rank as m
        cross join as_of
        inner join names as n
            on n.agency_id = m.agency_id
           and n.valid_from <= least(
                   cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'm.month_start')) }} as date),
                   as_of.as_of_date)
    ) as versions
    where version_order = 1
)

select
    r.region_code,
    region.region_name,
    r.month_start,
    {{ mart_month_label('r.month_start') }} as report_month,
    r.agency_kind,
    r.agency_id,
    current_name.agency_name as agency_name,
    coalesce(name_in_month.agency_name, current_name.agency_name) as agency_name_in_month,
    r.received,
    r.answered,
    r.answered_on_time,
    r.open_overdue,
    r.rated,
    r.rated_4_5,
    r.answered_complete,
    {{ mart_round('r.quantity_score') }} as quantity_score,
    {{ mart_round('r.speed_score') }} as speed_score,
    {{ mart_round('r.quality_score') }} as quality_score,
    {{ mart_round('r.completeness_score') }} as completeness_score,
    {{ mart_round('r.median_response_hours', 1) }} as median_response_hours,
    r.score,
    r.not_ranked_reason is null as is_ranked,
    r.not_ranked_reason,
    r.rating_rank,
    r.ranked_agencies,
    prev.rating_rank as prev_rating_rank,
    -- positive: the agency moved up
    prev.rating_rank - r.rating_rank as rank_change,
    r.month_start = as_of.as_of_month as is_partial_month,
    {{ processed_at() }} as processed_at
    {{- change_column("'replace'") }}
from with_rank as r
cross join as_of
left join with_rank as prev
    on prev.agency_id = r.agency_id
   and prev.month_start = cast({{ dbt.dateadd('month', -1, 'r.month_start') }} as date)
left join names as current_name
    on current_name.agency_id = r.agency_id and current_name.is_current
left join {{ ref('dim_region') }} as region on region.region_code = r.region_code
left join name_in_month
    on name_in_month.agency_id = r.agency_id and name_in_month.month_start = r.month_start
{%- if is_incremental() %}
where r.month_start in (select month_start from rebuilt_months)

union all

-- a rebuilt month without any rated agency: its stored rows go
{{ removed_rows('select month_start from rebuilt_months where month_start not in (select month_start from with_rank)', key='month_start') }}
{%- endif %}
