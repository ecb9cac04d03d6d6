-- Оперативная обстановка (003 §1.3, §4.10): sudden bursts of appeals in a municipality × category (or × sector).
-- The alarm hours of spike_alarm_hours (either window) of one series that follow each other within spike_gap_hours
-- make one spike. Rebuilt whole with spike_alarm_hours by every build (docs/kpi_methodology.md «problem_spikes»).
with as_of as (
    select as_of_at from {{ ref('reporting_as_of') }}
),

alarms as (
    select
        spike_alarm_hours.*,
        case
            when lag(hour_at) over (partition by oktmo, series_kind, series_code order by hour_at, window_hours)
                 >= {{ dbt.dateadd('hour', -var('spike_gap_hours'), 'hour_at') }}
            then 0 else 1
        end as starts_spike
    from {{ ref('spike_alarm_hours') }}
),

numbered as (
    select
        alarms.*,
        sum(starts_spike) over (
            partition by oktmo, series_kind, series_code order by hour_at, window_hours
            rows between unbounded preceding and current row) as spike_no
    from alarms
),

ranked as (
    select
        numbered.*,
        row_number() over (
            partition by oktmo, series_kind, series_code, spike_no
            order by appeals * 1.0 / window_hours desc, hour_at, window_hours) as peak_rank
    from numbered
),

spikes as (
    select
        region_code,
        oktmo,
        series_kind,
        series_code,
        spike_no,
        min(hour_at) as first_alarm_hour,
        max(hour_at) as last_alarm_hour,
        count(*) as alarm_windows,
        max(surprise_z) as max_surprise_z,
        max(case when peak_rank = 1 then hour_at end) as peak_hour,
        max(case when peak_rank = 1 then window_hours end) as peak_window_hours,
        max(case when peak_rank = 1 then appeals end) as peak_appeals,
        max(case when peak_rank = 1 then expected_appeals end) as peak_expected_appeals
    from ranked
    group by region_code, oktmo, series_kind, series_code, spike_no
),

-- the appeals of each spike: its series in the municipality, from 24 h before the first alarm to the end of the last
spike_appeals as (
    select
        s.oktmo,
        s.series_kind,
        s.series_code,
        s.spike_no,
        f.appeal_key,
        f.registered_at,
        f.agency_id,
        f.citizen_hash,
        f.text,
        f.is_answered,
        f.closed_at
    from spikes as s
    inner join {{ ref('fct_appeals') }} as f
        on f.oktmo = s.oktmo
       and (case when s.series_kind = 'category' then f.category_code else f.sector_code end) = s.series_code
       and f.registered_at >= {{ dbt.dateadd('hour', -23, 's.first_alarm_hour') }}
       and f.registered_at < {{ dbt.dateadd('hour', 1, 's.last_alarm_hour') }}
),

appeal_counts as (
    select
        oktmo,
        series_kind,
        series_code,
        spike_no,
        min(registered_at) as onset_at,
        count(*) as appeals,
        {{ mart_count_if('not is_answered and closed_at is null') }} as appeals_unanswered,
        count(distinct citizen_hash) as citizens
    from spike_appeals
    group by oktmo, series_kind, series_code, spike_no
),

agencies as (
    select oktmo, series_kind, series_code, spike_no,
        {{ dbt.listagg('agency_name', "', '", 'order by agency_name') }} as agencies
    from (
        select distinct sa.oktmo, sa.series_kind, sa.series_code, sa.spike_no,
            coalesce(a.agency_name, sa.agency_id) as agency_name
        from spike_appeals as sa
        left join {{ ref('dim_agency') }} as a
            on a.agency_id = sa.agency_id and a.is_current
    ) as distinct_agencies
    group by oktmo, series_kind, series_code, spike_no
),

-- up to spike_sample_texts texts, the earliest first, generalised: digits and capitalised words inside a sentence
-- (names, streets) are replaced, and only for a spike of at least hotspot_min_citizens different applicants
samples as (
    select oktmo, series_kind, series_code, spike_no,
        {{ dbt.listagg('sample_text', "' ¦ '", 'order by sample_rank') }} as sample_texts
    from (
        select
            sa.oktmo, sa.series_kind, sa.series_code, sa.spike_no,
            substr({{ spike_generalised_text('sa.text') }}, 1, 300) as sample_text,
            row_number() over (
                partition by sa.oktmo, sa.series_kind, sa.series_code, sa.spike_no
                order by sa.registered_at, sa.appeal_key) as sample_rank
        from spike_appeals as sa
        where sa.text is not null
    ) as ranked_texts
    where sample_rank <= {{ var('spike_sample_texts') }}
    group by oktmo, series_kind, series_code, spike_no
)

select
    {{ dbt.hash(dbt.concat(['s.oktmo', "'|'", 's.series_kind', "'|'", 's.series_code', "'|'",
                            dbt.cast('s.first_alarm_hour', dbt.type_string())])) }} as spike_id,
    s.region_code,
    reg.region_name,
    s.oktmo,
    m.municipality_name,
    s.series_kind,
    case when s.series_kind = 'category' then s.series_code end as category_code,
    c.category_name,
    coalesce(c.sector_code, s.series_code) as sector_code,
    sec.sector_name,
    coalesce(c.category_name, sec.sector_name) as problem_name,
    ac.onset_at,
    {{ dbt.dateadd('hour', 1, 's.first_alarm_hour') }} as detected_at,
    {{ dbt.dateadd('hour', 1, 's.last_alarm_hour') }} as last_alarm_at,
    {{ dbt.dateadd('hour', 1, 's.peak_hour') }} as peak_at,
    s.peak_window_hours,
    s.peak_appeals,
    s.peak_expected_appeals,
    {{ mart_round(mart_ratio('s.peak_appeals', 's.peak_expected_appeals'), 1) }} as peak_ratio,
    s.max_surprise_z,
    s.alarm_windows,
    ac.appeals,
    ac.appeals_unanswered,
    ac.citizens,
    {{ dbt.dateadd('hour', var('spike_gap_hours') + 1, 's.last_alarm_hour') }} > as_of.as_of_at as is_open,
    case when {{ dbt.dateadd('hour', var('spike_gap_hours') + 1, 's.last_alarm_hour') }} > as_of.as_of_at
         then 'открыт' else 'закрыт' end as spike_status,
    ag.agencies,
    case when ac.citizens >= {{ var('hotspot_min_citizens') }} then smp.sample_texts end as sample_texts
from spikes as s
cross join as_of
inner join appeal_counts as ac
    on ac.oktmo = s.oktmo and ac.series_kind = s.series_kind and ac.series_code = s.series_code
   and ac.spike_no = s.spike_no
left join agencies as ag
    on ag.oktmo = s.oktmo and ag.series_kind = s.series_kind and ag.series_code = s.series_code
   and ag.spike_no = s.spike_no
left join samples as smp
    on smp.oktmo = s.oktmo and smp.series_kind = s.series_kind and smp.series_code = s.series_code
   and smp.spike_no = s.spike_no
left join {{ ref('dim_region') }} as reg
    on reg.region_code = s.region_code
left join {{ ref('dim_municipality') }} as m
    on m.oktmo = s.oktmo
left join {{ ref('dim_category') }} as c
    on s.series_kind = 'category' and c.category_code = s.series_code
left join {{ ref('dim_sector') }} as sec
    on sec.region_code = s.region_code and sec.sector_code = coalesce(c.sector_code, s.series_code)
