-- The engine's floor for `make bench`: the same mart results as the dbt project (fct_appeals,
-- agency_rating_monthly, sector_kpis_monthly), written by hand as one DuckDB script straight from the landed
-- Parquet: no per-model materialization, no tests, no intermediate tables beyond what the marts need.
-- Reference data (dimensions built from the seeds, a few thousand rows) is read from the warehouse.
-- Placeholders: {lake} (the lake directory), {warehouse} (the warehouse file).
-- The bench compares floor_appeals, floor_rating and floor_sector_kpis with the marts (row counts and sums).
attach '{warehouse}' as wh (read_only);

-- Statuses land as warehouse codes (the seed statuses.csv); anything else is 'unknown', as in dbt's map_status.
create temp macro status_code(s) as coalesce(
    (select max(status_code) from wh.reference.statuses where status_code = s), 'unknown');

-- Latest version of every appeal of every channel, in one conformed shape.
create temp table floor_latest as
with pos as (
    select distinct on (message_id) * from read_parquet('{lake}/raw/pos_messages/*/*.parquet', union_by_name = true)
    order by message_id, updated_at desc nulls last, _landed_at desc nulls last
), incidents as (
    select distinct on (incident_id) * from read_parquet('{lake}/raw/incidents/*/*.parquet', union_by_name = true)
    order by incident_id, updated_at desc nulls last, _landed_at desc nulls last
), sed as (
    select distinct on (appeal_id) * from read_parquet('{lake}/raw/sed_appeals/*/*.parquet', union_by_name = true)
    order by appeal_id, exported_at desc nulls last, _landed_at desc nulls last
), portal as (
    select distinct on (appeal_id) * from read_parquet('{lake}/raw/portal_appeals/*/*.parquet', union_by_name = true)
    order by appeal_id, updated_at desc nulls last, _landed_at desc nulls last
)
select 'pos:' || message_id as appeal_key, 'pos' as channel_code,
    case when coalesce(is_59fz, false) then 'обращение 59-ФЗ' else 'сообщение' end as appeal_kind,
    message_id as source_id, region_code, oktmo, opa_id as agency_id, category_code, subcategory_code,
    citizen_hash, address, text, created_at as registered_at, null::timestamp as reaction_at, answered_at,
    null::timestamp as extended_at, null::int as redirect_count, null::timestamp as redirected_at,
    null::int as rework_count, rating, rated_at, null::boolean as is_repeat_declared,
    status_code(status) as status, status as source_status, updated_at
from pos
union all
select 'incident:' || incident_id, 'incident', 'инцидент из соцсетей', incident_id, region_code, oktmo, agency_id,
    category_code, null, author_hash, post_url, text, detected_at, reaction_at, reaction_at, null, null, null, null,
    null, null, null, status_code(status), status, updated_at
from incidents
union all
select 'sed:' || appeal_id, 'sed', 'обращение 59-ФЗ', appeal_id, region_code, oktmo, sed.agency_id,
    classifier.category_code, null, citizen_hash, address, text, registered_at, null, answered_at, extended_at,
    coalesce(redirect_count, 0), redirected_at, null, null, null, coalesce(is_repeat, false),
    status_code(status), status, exported_at
from sed left join wh.reference.classifier_codes as classifier using (classifier_code)
union all
select 'portal:' || appeal_id, 'portal', 'сообщение', appeal_id, region_code, oktmo, agency_id, category_code,
    subcategory_code, citizen_hash, address, text, created_at, null, answered_at, null, null, null,
    coalesce(rework_count, 0), rating, null, null, status_code(status), status, updated_at
from portal;

-- Status history: ПОС and incidents send it (the history of the latest version counts); СЭД and portal
-- transitions are derived from the dated columns. Only the per-appeal summary is needed for the marts.
create temp table floor_event_summary as
with pos_events as (
    select distinct on (message_id, event_seq) 'pos:' || message_id as appeal_key, status_code(status) as status, event_at
    from read_parquet('{lake}/raw/pos_message_events/*/*.parquet', union_by_name = true)
    qualify updated_at = max(updated_at) over (partition by message_id)
    order by message_id, event_seq, _landed_at desc nulls last
), incident_events as (
    select distinct on (incident_id, event_seq) 'incident:' || incident_id as appeal_key, status_code(status) as status, event_at
    from read_parquet('{lake}/raw/incident_events/*/*.parquet', union_by_name = true)
    qualify updated_at = max(updated_at) over (partition by incident_id)
    order by incident_id, event_seq, _landed_at desc nulls last
), events as (
    select * from pos_events
    union all select * from incident_events
    union all select appeal_key, 'registered', registered_at from floor_latest where channel_code in ('sed', 'portal')
    union all select appeal_key, 'redirected', redirected_at from floor_latest where channel_code = 'sed' and redirected_at is not null
    union all select appeal_key, 'extended', extended_at from floor_latest where channel_code = 'sed' and extended_at is not null
    union all select appeal_key, 'answered', answered_at from floor_latest where channel_code in ('sed', 'portal') and answered_at is not null
    union all select appeal_key, 'closed', updated_at from floor_latest where channel_code = 'sed' and status = 'closed'
    union all select appeal_key, status, updated_at from floor_latest
        where channel_code = 'portal' and status not in ('registered', 'answered')
)
select appeal_key,
    min(event_at) filter (where status in ('in_work', 'answered')) as first_work_at,
    min(event_at) filter (where status = 'answered') as first_answer_event_at,
    max(event_at) filter (where status = 'closed') as last_closed_at,
    min(event_at) filter (where status = 'extended') as first_extended_at,
    count(*) filter (where status = 'redirected') as redirect_events,
    count(*) filter (where status = 'returned_for_rework') as rework_events,
    count(*) filter (where status = 'reopened') as reopen_events
from events
group by appeal_key;

-- fct_appeals: conformed codes, the agency version at registration, facts from the history, repeats, deadlines.
create temp table floor_appeals as
with agency_versions as (
    select agency_id, agency_sk, agency_kind,
        case when valid_from = min(valid_from) over (partition by agency_id) then date '1900-01-01' else valid_from end as match_from,
        case when valid_from = max(valid_from) over (partition by agency_id) then date '9999-12-31' else valid_to end as match_to
    from wh.main.dim_agency
), conformed as (
    select a.appeal_key, a.channel_code, a.appeal_kind, a.region_code, r.timezone,
        coalesce(av.agency_id, 'unknown') as agency_id, coalesce(av.agency_kind, 'не определено') as agency_kind,
        coalesce(c.sector_code, 'unknown') as sector_code, coalesce(c.category_code, 'unknown') as category_code,
        coalesce(c.deadline_working_days, 10) as deadline_working_days,
        a.citizen_hash, a.registered_at, ld.registered_date,
        case when a.channel_code = 'incident' then a.reaction_at
            else coalesce(e.first_work_at, a.answered_at, e.first_answer_event_at) end as first_response_at,
        coalesce(a.answered_at, e.first_answer_event_at) as answered_at,
        case when a.status = 'closed' then coalesce(e.last_closed_at, a.updated_at) end as closed_at,
        coalesce(a.extended_at, e.first_extended_at) as extended_at,
        coalesce(a.rework_count, e.rework_events, 0) as rework_count,
        (a.status = 'reopened' or coalesce(e.reopen_events, 0) > 0) as is_reopened,
        a.rating, a.updated_at
    from floor_latest as a
    left join wh.main.dim_region as r using (region_code)
    cross join lateral (select cast(timezone(r.timezone, timezone('UTC', a.registered_at)) as date) as registered_date) as ld
    left join floor_event_summary as e using (appeal_key)
    left join wh.main.dim_category as c on c.category_code = a.category_code
    left join agency_versions as av on av.agency_id = a.agency_id
        and ld.registered_date >= av.match_from and ld.registered_date < av.match_to
    where r.timezone is not null and a.registered_at is not null
), repeats as (
    select citizen_hash, category_code, registered_at,
        lag(registered_at) over (partition by citizen_hash, category_code order by registered_at) as previous_at
    from (select distinct citizen_hash, category_code, registered_at from conformed
          where citizen_hash is not null and category_code <> 'unknown')
), dated as (
    select conformed.*,
        coalesce(repeats.previous_at >= conformed.registered_at - interval 30 day, false) as is_repeat,
        case when appeal_kind = 'обращение 59-ФЗ' then conformed.registered_date + case when extended_at is not null then 60 else 30 end
             when appeal_kind <> 'инцидент из соцсетей' then deadline_day.date_day end as deadline_date,
        registered_day.working_day_index as registered_index,
        answered_day.working_day_index as answered_index
    from conformed
    left join repeats using (citizen_hash, category_code, registered_at)
    left join wh.main.dim_date as registered_day on registered_day.date_day = conformed.registered_date
    left join wh.main.dim_date as answered_day
        on answered_day.date_day = cast(timezone(conformed.timezone, timezone('UTC', conformed.answered_at)) as date)
    left join wh.main.dim_date as deadline_day
        on conformed.appeal_kind not in ('обращение 59-ФЗ', 'инцидент из соцсетей') and deadline_day.is_working_day
        and deadline_day.working_day_index = registered_day.working_day_index + conformed.deadline_working_days
), with_deadline as (
    select dated.*,
        case when appeal_kind = 'инцидент из соцсетей' then registered_at + interval 8 hour
             else timezone('UTC', timezone(timezone, cast(deadline_date as timestamp) + interval 1 day)) end as deadline_at
    from dated
)
select appeal_key, channel_code, region_code, agency_id, agency_kind, sector_code, category_code, citizen_hash,
    registered_at, registered_date, first_response_at, answered_at, closed_at, deadline_at,
    answered_at is not null as is_answered,
    case when answered_at is not null then answered_at <= deadline_at end as is_on_time,
    (answered_at is null and closed_at is null and deadline_at < (select max(updated_at) from floor_latest)) as is_overdue_open,
    round(date_diff('minute', registered_at, answered_at)::decimal(28, 6) / 60, 2)::double as response_hours,
    answered_index - registered_index as response_working_days,
    rework_count, is_reopened, is_repeat, rating, updated_at
from with_deadline;

-- appeal_outcomes, the common base of the business marts.
create temp table floor_outcomes as
with as_of as (select max(coalesce(updated_at, registered_at)) as as_of_at from floor_appeals),
-- the same citizen's first appeal in the same (known) category strictly after the answer
next_after_answer as (
    select a.appeal_key, r.registered_at as next_registered_at
    from (select * from floor_appeals
          where answered_at is not null and citizen_hash is not null and category_code <> 'unknown') as a
    asof left join (select citizen_hash, category_code, registered_at from floor_appeals) as r
        on a.citizen_hash = r.citizen_hash and a.category_code = r.category_code and r.registered_at > a.answered_at
)
select a.region_code, a.agency_id, a.agency_kind, a.sector_code, date_trunc('month', a.registered_date)::date as month_start,
    a.rating, a.response_hours, a.is_answered, coalesce(a.is_answered and a.is_on_time, false) as is_answered_on_time,
    coalesce(not a.is_answered and a.closed_at is null and a.deadline_at < as_of.as_of_at, false) as is_open_overdue,
    a.is_repeat, coalesce(c.is_other, false) as is_other,
    a.is_answered and a.rework_count = 0 and not a.is_reopened
        and not coalesce(n.next_registered_at <= a.answered_at + interval 30 day, false) as is_complete
from floor_appeals as a
cross join as_of
left join next_after_answer as n using (appeal_key)
left join wh.main.dim_category as c using (category_code);

-- agency_rating_monthly: the four sub-scores, the weighted score (equal weights) and the rank.
create temp table floor_rating as
with counts as (
    select region_code, agency_id, agency_kind, month_start, count(*) as received,
        count(*) filter (where is_answered) as answered,
        count(*) filter (where is_answered_on_time) as answered_on_time,
        count(*) filter (where is_open_overdue) as open_overdue,
        count(*) filter (where rating is not null) as rated,
        count(*) filter (where rating >= 4) as rated_4_5,
        count(*) filter (where is_complete) as answered_complete
    from floor_outcomes
    where agency_kind in ('РОИВ', 'ОМСУ') and agency_id is not null
    group by all
), scores as (
    select *, answered / nullif(received, 0)::double as quantity_score,
        answered_on_time / nullif(answered + open_overdue, 0)::double as speed_score,
        case when rated >= 5 then rated_4_5 / nullif(rated, 0)::double end as quality_score,
        answered_complete / nullif(answered, 0)::double as completeness_score
    from counts
), scored as (
    select *, round((100 * ((coalesce(quantity_score, 0) + coalesce(speed_score, 0) + coalesce(quality_score, 0)
            + coalesce(completeness_score, 0))
        / nullif((quantity_score is not null)::int + (speed_score is not null)::int + (quality_score is not null)::int
            + (completeness_score is not null)::int, 0)::double))::decimal(28, 6), 2)::double as score
    from scores
)
select *, case when received >= 10 and score is not null
        then dense_rank() over (partition by region_code, month_start, agency_kind, received >= 10 and score is not null
                                order by score desc) end as rating_rank
from scored;

-- sector_kpis_monthly
create temp table floor_sector_kpis as
select region_code, sector_code, month_start, count(*) as received,
    count(*) filter (where is_answered) as answered,
    count(*) filter (where is_answered_on_time) as answered_on_time,
    count(*) filter (where is_open_overdue) as overdue_open,
    count(*) filter (where rating is not null) as rated,
    count(*) filter (where is_repeat) as repeats,
    count(*) filter (where is_other) as other_category,
    round(percentile_cont(0.5) within group (order by case when is_answered then response_hours end)::decimal(28, 6), 1)::double
        as median_response_hours
from floor_outcomes
group by all;
