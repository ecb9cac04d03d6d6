"""A small hand-made warehouse of the served marts, and the serving layer published from it, for the BI tests.

Two regions, five agencies, three months, three sectors: enough rows for every chart, RLS and the report to
have something to show, and small enough that Superset answers instantly. Values are pseudo-random with a
fixed seed; the tests compute their expectations from these files, never from constants.
"""

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.lib import semantic, serving

REGIONS = {"65": "Сахалинская область", "37": "Ивановская область"}
ISO_CODES = {"65": "RU-SAK", "37": "RU-IVA"}
AGENCIES = [
    ("65-ROIV-fish", "65", "РОИВ", "Министерство по рыболовству Сахалинской области"),
    ("65-ROIV-health", "65", "РОИВ", "Министерство здравоохранения Сахалинской области"),
    ("65-OMSU-01", "65", "ОМСУ", "Администрация г. Южно-Сахалинска"),
    ("37-ROIV-edu", "37", "РОИВ", "Департамент образования Ивановской области"),
    ("37-OMSU-01", "37", "ОМСУ", "Администрация г. Иваново"),
]
MUNICIPALITIES = [
    ("64701000", "65", "г. Южно-Сахалинск", 200000),
    ("64708000", "65", "Корсаковский ГО", 45000),
    ("24701000", "37", "г. Иваново", 400000),
    ("24607000", "37", "Кинешемский МР", 80000),
]
SECTORS = {"housing": "ЖКХ", "health": "здравоохранение", "roads": "дороги"}
MONTHS = [date(2025, 9, 1), date(2025, 10, 1), date(2025, 11, 1)]
PARTIAL_MONTH = MONTHS[-1]  # the month in progress at the fixture's as-of moment


def publish_serving_fixture(root: Path, seed: int = 8) -> Path:
    """The fixture's marts published as the platform publishes them: `root/serving/marts.duckdb`, the catalog."""
    return publish_marts(
        build_serving_fixture(root / "warehouse.duckdb", seed),
        serving.served_mart_names(),
        root / "serving" / "marts.duckdb",
    )


def publish_marts(warehouse: Path, marts, catalog: Path) -> Path:
    """serving.publish from a warehouse file opened read-only, as the publish asset does; returns the catalog."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return serving.publish(con, marts, catalog).catalog


def build_serving_fixture(path: Path, seed: int = 8) -> Path:
    """A DuckDB file with every served mart (the dimensions among them) as tables in `main`."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("""create table dim_region(region_code varchar, region_name varchar, iso_3166_2 varchar)""")
        con.executemany(
            "insert into dim_region values (?, ?, ?)", [(code, name, ISO_CODES[code]) for code, name in REGIONS.items()]
        )
        con.execute("""create table dim_agency(agency_sk varchar, agency_id varchar, region_code varchar, agency_kind
            varchar,
            agency_name varchar, valid_from date, valid_to date, is_current boolean)""")
        con.executemany(
            "insert into dim_agency values (?, ?, ?, ?, ?, date '2020-01-01', null, true)",
            [(f"{a}#1", a, r, k, n) for a, r, k, n in AGENCIES],
        )
        con.execute(
            """create table dim_municipality(oktmo varchar, region_code varchar, municipality_name varchar,
                population bigint)"""
        )
        con.executemany("insert into dim_municipality values (?, ?, ?, ?)", MUNICIPALITIES)
        con.execute("create table dim_sector(region_code varchar, sector_code varchar, sector_name varchar)")
        con.executemany(
            "insert into dim_sector values (?, ?, ?)",
            [(region, code, name) for region in REGIONS for code, name in SECTORS.items()],
        )
        _rating(con, rng)
        _sector_kpis(con, rng)
        _heat_map(con, rng)
        _pareto(con)
        _hotspots(con)
        _category_priorities(con, rng)
        _indicators(con)
        _roadmap(con)
        _workload(con, rng)
        _governor(con)
        _appeals(con, rng)
        _spikes(con, rng)
        _names_and_months(con)
    return path


def _names_and_months(con) -> None:
    """What the marts derive from their keys: the region's name, the month as ГГГГ-ММ, whether it is in progress."""
    for (table,) in con.sql(
        "select table_name from information_schema.columns where column_name = 'region_code' "
        "and table_name not like 'dim_%' and table_name != 'governor_monthly_summary'"
    ).fetchall():
        if "region_name" not in semantic.mart_columns(table):
            continue
        con.execute(f"alter table {table} add column region_name varchar")
        con.execute(
            f"""update {table} as t set region_name = r.region_name from dim_region as r where r.region_code =
                t.region_code"""
        )
    for table in ("agency_rating_monthly", "sector_kpis_monthly", "problem_heat_map", "governor_monthly_summary"):
        con.execute(f"alter table {table} add column report_month varchar")
        con.execute(f"update {table} set report_month = strftime(month_start, '%Y-%m')")
    for table in ("agency_rating_monthly", "sector_kpis_monthly", "problem_heat_map"):
        con.execute(f"alter table {table} add column is_partial_month boolean")
        con.execute(f"update {table} set is_partial_month = month_start = date '{PARTIAL_MONTH}'")


def _rating(con, rng) -> None:
    con.execute("""create table agency_rating_monthly(region_code varchar, month_start date, agency_kind varchar,
        agency_id varchar, agency_name varchar, agency_name_in_month varchar, received bigint, answered bigint,
        quantity_score double, speed_score double, quality_score double, completeness_score double,
        median_response_hours double, score double, is_ranked boolean, not_ranked_reason varchar,
        rating_rank bigint, prev_rating_rank bigint, rank_change bigint, open_overdue bigint, ranked_agencies
            bigint)""")
    for month in MONTHS:
        con.executemany(
            """insert into agency_rating_monthly(region_code, month_start, agency_kind, agency_id, agency_name,
                agency_name_in_month, received, answered, quantity_score, speed_score, quality_score,
                completeness_score, median_response_hours, score, is_ranked, not_ranked_reason)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, null)""",
            [
                (
                    region,
                    month,
                    kind,
                    agency,
                    name,
                    name,
                    received,
                    answered,
                    round(answered / received, 4),
                    speed,
                    quality,
                    completeness,
                    round(rng.uniform(5, 200), 1),
                    round(100 * (answered / received + speed + quality + completeness) / 4, 2),
                )
                for agency, region, kind, name in AGENCIES
                for received in [rng.randint(20, 200)]
                for answered in [rng.randint(received // 2, received)]
                for speed, quality, completeness in [[round(rng.uniform(0.3, 1), 4) for _ in range(3)]]
            ],
        )
    # One agency-month below the minimum of received appeals: no rank, and the reason shown.
    con.execute("""update agency_rating_monthly set received = 8, answered = 6, is_ranked = false,
        not_ranked_reason = 'менее 10 обращений за месяц' where agency_id = '37-OMSU-01' and month_start =
            '2025-09-01'""")
    con.execute("""update agency_rating_monthly as r set rating_rank = ranked.rank from (
            select agency_id, month_start,
                   dense_rank() over (partition by region_code, month_start, agency_kind order by score desc) as rank
            from agency_rating_monthly where is_ranked) as ranked
        where ranked.agency_id = r.agency_id and ranked.month_start = r.month_start""")
    con.execute("""update agency_rating_monthly as r set prev_rating_rank = p.rating_rank, rank_change =
        p.rating_rank - r.rating_rank
        from agency_rating_monthly as p where p.agency_id = r.agency_id and p.month_start = r.month_start - interval
            1 month""")
    con.execute("""update agency_rating_monthly as r set ranked_agencies = g.ranked from (
            select region_code, month_start, agency_kind, count(*) as ranked from agency_rating_monthly where
                is_ranked group by all) as g
        where g.region_code = r.region_code and g.month_start = r.month_start and g.agency_kind = r.agency_kind and
            r.is_ranked""")
    con.execute("update agency_rating_monthly set open_overdue = (received - answered) // 3")


def _sector_kpis(con, rng) -> None:
    con.execute("""create table sector_kpis_monthly(region_code varchar, sector_code varchar, sector_name varchar,
        month_start date, received bigint, answered bigint, answered_on_time bigint, overdue_open bigint,
        on_time_share double, median_response_hours double, rated bigint, rated_4_5 bigint, satisfaction_share double,
        repeats bigint, repeat_share double, other_category bigint, other_share double)""")
    rows = []
    for region in REGIONS:
        for sector, sector_name in SECTORS.items():
            for month in MONTHS:
                received = rng.randint(50, 400)
                answered = rng.randint(received // 2, received)
                on_time = rng.randint(answered // 2, answered)
                overdue = rng.randint(0, received - answered)
                rated = rng.randint(0, answered // 3)
                rated_4_5 = rng.randint(0, rated)
                satisfaction = round(rated_4_5 / rated, 4) if rated else None
                repeats = rng.randint(0, received // 10)
                other = rng.randint(0, received // 5)
                rows.append(
                    (
                        region,
                        sector,
                        sector_name,
                        month,
                        received,
                        answered,
                        on_time,
                        overdue,
                        round(on_time / (answered + overdue), 4),
                        round(rng.uniform(10, 300), 1),
                        rated,
                        rated_4_5,
                        satisfaction,
                        repeats,
                        round(repeats / received, 4),
                        other,
                        round(other / received, 4),
                    )
                )
    con.executemany(f"insert into sector_kpis_monthly values ({', '.join('?' * 17)})", rows)


def _heat_map(con, rng) -> None:
    con.execute("""create table problem_heat_map(region_code varchar, oktmo varchar, municipality_name varchar,
        sector_code varchar, sector_name varchar, month_start date, appeals bigint, population bigint,
        appeals_per_10k double, overdue bigint, overdue_share double, region_median_per_10k double, intensity_index
            double)""")
    for oktmo, region, name, population in MUNICIPALITIES:
        for sector, sector_name in SECTORS.items():
            for month in MONTHS:
                appeals = rng.randint(5, 300)
                overdue = rng.randint(0, appeals // 4)
                con.execute(
                    "insert into problem_heat_map values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, null)",
                    [
                        region,
                        oktmo,
                        name,
                        sector,
                        sector_name,
                        month,
                        appeals,
                        population,
                        round(10000 * appeals / population, 3),
                        overdue,
                        round(overdue / appeals, 4),
                    ],
                )
    con.execute("""update problem_heat_map as h set region_median_per_10k = m.median_per_10k,
            intensity_index = round(h.appeals_per_10k / m.median_per_10k, 3)
        from (select region_code, sector_code, month_start, median(appeals_per_10k) as median_per_10k
              from problem_heat_map group by all) as m
        where m.region_code = h.region_code and m.sector_code = h.sector_code and m.month_start = h.month_start""")
    # a cell under the minimum volume: its index is not compared
    con.execute("update problem_heat_map set appeals = 3 where oktmo = '64708000' and sector_code = 'roads'")
    con.execute("alter table problem_heat_map add column has_min_volume boolean")
    con.execute("alter table problem_heat_map add column is_hot boolean")
    con.execute(
        "update problem_heat_map set has_min_volume = appeals >= 5, is_hot = appeals >= 5 and intensity_index >= 1.5"
    )
    # the administrative centre's point: made-up but distinct per municipality
    con.execute("alter table problem_heat_map add column latitude double")
    con.execute("alter table problem_heat_map add column longitude double")
    con.execute("""update problem_heat_map set latitude = 50 + cast(right(oktmo, 3) as integer) % 7 / 4,
        longitude = 40 + cast(substr(oktmo, 1, 2) as integer) / 2 + cast(right(oktmo, 3) as integer) % 5 / 8""")


def _pareto(con) -> None:
    con.execute("""create table municipality_pareto as
        with yearly as (
            select region_code, cast(extract(year from month_start) as integer) as year, oktmo, municipality_name,
                   any_value(population) as population, sum(appeals) as appeals
            from problem_heat_map group by all),
        ordered as (
            select *, row_number() over (partition by region_code, year order by appeals desc, oktmo) as pareto_rank,
                   sum(appeals) over (partition by region_code, year) as region_appeals,
                   sum(appeals) over (partition by region_code, year order by appeals desc, oktmo) as cumulative_appeals
            from yearly)
        select region_code, year, oktmo, municipality_name, population, appeals, pareto_rank,
               lpad(cast(pareto_rank as varchar), 2, '0') || '. ' || municipality_name as pareto_label,
               round(appeals / region_appeals, 4) as share, round(cumulative_appeals / region_appeals, 4) as
                   cumulative_share,
               cumulative_appeals - appeals < 0.5 * region_appeals as is_pilot_candidate,
               year = max(year) over (partition by region_code) as is_latest_year
        from ordered""")


def _hotspots(con) -> None:
    con.execute("""create table repeat_hotspots as
        select 'address' as hotspot_kind, region_code, oktmo, municipality_name, 'ул. Ленина, 1' as address,
               sector_code || '.01' as category_code, 'Категория ' || sector_name as category_name, sector_code,
               month_start as window_start, appeals // 10 as appeals, appeals // 20 + 2 as distinct_citizens,
               appeals // 30 as open_appeals, (appeals % 3) + 1 as hotspot_windows,
               (appeals % 3) + 1 >= 2 as is_root_cause_candidate, appeals // 30 > 0 as is_fast_track_candidate
        from problem_heat_map where intensity_index >= 1""")


def _category_priorities(con, rng) -> None:
    con.execute("""create table category_priorities(region_code varchar, sector_code varchar, sector_name varchar,
        quarter_start date, category_code varchar, category_name varchar, is_other boolean, appeals bigint,
        share_of_sector double, volume_rank bigint, is_priority boolean)""")
    con.execute("""create table other_category_decomposition(region_code varchar, sector_code varchar, sector_name
        varchar,
        quarter_start date, breakdown_kind varchar, breakdown_kind_ru varchar, item_rank bigint, item_code varchar,
        item_name varchar, appeals bigint)""")
    for region in REGIONS:
        for sector, sector_name in SECTORS.items():
            volumes = sorted(((rng.randint(10, 200), number) for number in (1, 2, 3, 4, 99)), reverse=True)
            total = sum(appeals for appeals, _ in volumes)
            for rank, (appeals, number) in enumerate(volumes, start=1):
                con.execute(
                    "insert into category_priorities values (?, ?, ?, date '2025-07-01', ?, ?, ?, ?, ?, ?, ?)",
                    [
                        region,
                        sector,
                        sector_name,
                        f"{sector}.{number:02d}",
                        "прочие по направлению" if number == 99 else f"Категория {number}",
                        number == 99,
                        appeals,
                        round(appeals / total, 4),
                        rank,
                        rank <= 3,
                    ],
                )
            for rank, word in enumerate(("подъезд", "освещение"), start=1):
                con.execute(
                    """insert into other_category_decomposition values (?, ?, ?, date '2025-07-01', 'term',
                        'слово в тексте', ?, ?, ?, ?)""",
                    [region, sector, sector_name, rank, word, word, rng.randint(1, 30)],
                )


def _indicators(con) -> None:
    con.execute("""create table indicator_tracking(region_code varchar, indicator_code varchar, indicator_kind varchar,
        indicator_kind_ru varchar, function varchar, indicator_name varchar, unit varchar, owner_role varchar, year
            integer, period_start date,
        target_date date, target_date_ru varchar, target_value double, actual_value double, status varchar, status_ru
            varchar)""")
    statuses = [
        ("achieved", "достигнут"),
        ("on_track", "в графике"),
        ("at_risk", "под угрозой"),
        ("failed", "не достигнут"),
    ]
    rows = []
    for region_index, region in enumerate(REGIONS):
        for number in range(1, 7):
            status, status_ru = statuses[(number + region_index) % 4]
            kind = "mandatory" if number <= 4 else "additional"
            rows.append(
                (
                    region,
                    f"{'M' if kind == 'mandatory' else 'A'}{number:02d}",
                    kind,
                    "обязательный" if kind == "mandatory" else "дополнительный",
                    "обратная связь",
                    f"Показатель {number}",
                    "share",
                    "руководитель ЦУР",
                    2025,
                    date(2025, 1, 1),
                    date(2025, 12, 31),
                    "31.12.2025",
                    0.9,
                    round(0.5 + number / 20, 2),
                    status,
                    status_ru,
                )
            )
    con.executemany(f"insert into indicator_tracking values ({', '.join('?' * 16)})", rows)


def _roadmap(con) -> None:
    con.execute("""create table roadmap_status(region_code varchar, event_code varchar, stage integer, event_name
        varchar,
        deadline date, deadline_ru varchar, responsible_roles varchar, expected_result varchar, status varchar,
        status_ru varchar, is_overdue boolean, days_overdue integer, overdue_explanation varchar, as_of_date date)""")
    events = [
        ("1.1", 1, "Создание ЦУР", date(2020, 10, 31), "done", "выполнено", False, None),
        ("2.7", 2, "Пилотные МЦУ", date(2021, 6, 30), "in_progress", "в работе", True, 1600),
        ("3.1", 3, "Тиражирование", date(2026, 12, 31), "not_started", "не начато", False, None),
    ]
    con.executemany(
        """insert into roadmap_status values ('65', ?, ?, ?, ?, strftime(?, '%d.%m.%Y'), 'руководитель ЦУР',
            'результат', ?, ?, ?, ?, ?, """
        "date '2025-11-28')",
        [
            (
                code,
                stage,
                name,
                deadline,
                deadline,
                status,
                status_ru,
                overdue,
                days,
                f"срок {deadline:%d.%m.%Y} прошёл, мероприятие {status_ru}: просрочка {days} дн. на 28.11.2025"
                if overdue
                else None,
            )
            for code, stage, name, deadline, status, status_ru, overdue, days in events
        ],
    )


def _workload(con, rng) -> None:
    con.execute("""create table sector_workload_weekly(region_code varchar, sector_code varchar, sector_name varchar,
        iso_week_start date, appeals bigint, staff_count integer, appeals_per_staff double, threshold_per_staff double,
        is_above_threshold boolean, consecutive_weeks_above integer, needs_reinforcement boolean, is_partial_week
            boolean)""")
    week0 = date(2025, 9, 1)
    for region in REGIONS:
        for sector, sector_name in SECTORS.items():
            streak = 0
            staff = rng.randint(2, 5)
            for week in range(12):
                appeals = rng.randint(40, 200)
                above = appeals / staff > 40
                streak = streak + 1 if above else 0
                con.execute(
                    "insert into sector_workload_weekly values (?, ?, ?, ?, ?, ?, ?, 40, ?, ?, ?, ?)",
                    [
                        region,
                        sector,
                        sector_name,
                        week0 + timedelta(weeks=week),
                        appeals,
                        staff,
                        round(appeals / staff, 2),
                        above,
                        streak,
                        streak >= 4,
                        week == 11,
                    ],
                )


def _governor(con) -> None:
    con.execute("""create table governor_monthly_summary as
        with headline as (
            select region_code, month_start, sum(received) as received, sum(answered) as answered,
                   sum(answered_on_time) / nullif(sum(answered) + sum(overdue_open), 0) as on_time_share,
                   sum(satisfaction_share * rated) / nullif(sum(case when satisfaction_share is not null then rated
                       end), 0) as satisfaction_share,
                   sum(repeats) / sum(received) as repeat_share, sum(overdue_open) as overdue_open,
                   median(median_response_hours) as median_response_hours
            from sector_kpis_monthly group by all),
        lowest as (
            select region_code, month_start, agency_name_in_month, agency_kind, score,
                   row_number() over (partition by region_code, month_start order by score, agency_id) as low_rank
            from agency_rating_monthly),
        hottest as (
            select region_code, month_start, municipality_name, sector_name, intensity_index,
                   row_number() over (partition by region_code, month_start order by intensity_index desc, oktmo,
                       sector_code) as hot_rank
            from problem_heat_map where appeals >= 5)
        select h.region_code, r.region_name, r.iso_3166_2, h.month_start, h.month_start = date '2025-11-01' as
            is_partial_month,
               h.received, h.received - p.received as received_change,
               round((h.received - p.received) / p.received, 4) as received_change_share,
               h.answered, round(h.answered / h.received, 4) as answered_share,
               round(h.answered / h.received - p.answered / p.received, 4) as answered_share_change,
               round(h.on_time_share, 4) as on_time_share, round(h.on_time_share - p.on_time_share, 4) as
                   on_time_share_change,
               round(h.satisfaction_share, 4) as satisfaction_share,
               round(h.satisfaction_share - p.satisfaction_share, 4) as satisfaction_share_change,
               round(h.repeat_share, 4) as repeat_share, round(h.repeat_share - p.repeat_share, 4) as
                   repeat_share_change,
               h.overdue_open, h.overdue_open - p.overdue_open as overdue_open_change,
               round(h.median_response_hours, 1) as median_response_hours,
               round(h.median_response_hours - p.median_response_hours, 1) as median_response_hours_change,
               'Ремонт дорог' as top_problem_1, 'дороги' as top_problem_1_sector, 120 as top_problem_1_appeals,
               'Отопление' as top_problem_2, 'ЖКХ' as top_problem_2_sector, 90 as top_problem_2_appeals,
               'Запись к врачу' as top_problem_3, 'здравоохранение' as top_problem_3_sector, 60 as
                   top_problem_3_appeals,
               hot.municipality_name as hottest_municipality, hot.sector_name as hottest_sector,
               hot.intensity_index as hottest_intensity_index,
               l1.agency_name_in_month as lowest_agency_1, l1.agency_kind as lowest_agency_1_kind, l1.score as
                   lowest_agency_1_score,
               l2.agency_name_in_month as lowest_agency_2, l2.agency_kind as lowest_agency_2_kind, l2.score as
                   lowest_agency_2_score,
               l3.agency_name_in_month as lowest_agency_3, l3.agency_kind as lowest_agency_3_kind, l3.score as
                   lowest_agency_3_score
        from headline as h
        join dim_region as r using (region_code)
        left join headline as p on p.region_code = h.region_code and p.month_start = h.month_start - interval 1 month
        left join hottest as hot on hot.region_code = h.region_code and hot.month_start = h.month_start and
            hot.hot_rank = 1
        left join lowest as l1 on l1.region_code = h.region_code and l1.month_start = h.month_start and l1.low_rank = 1
        left join lowest as l2 on l2.region_code = h.region_code and l2.month_start = h.month_start and l2.low_rank = 2
        left join lowest as l3 on l3.region_code = h.region_code and l3.month_start = h.month_start and l3.low_rank =
            3""")


def _appeals(con, rng) -> None:
    """appeals_deidentified: a dozen appeals per agency and month in the agency's region."""
    con.execute("""create table appeals_deidentified(appeal_key varchar, channel_code varchar, region_code varchar,
        oktmo varchar, municipality_name varchar, agency_id varchar, agency_kind varchar, agency_name varchar,
        sector_code varchar, sector_name varchar, category_code varchar, category_name varchar, is_other boolean,
        registered_date date, month_start date, is_answered boolean, is_answered_on_time boolean,
        is_open_overdue boolean, response_hours double, rating integer, is_repeat boolean, is_complete boolean)""")
    rows = []
    for agency, region, kind, name in AGENCIES:
        municipalities = [m for m in MUNICIPALITIES if m[1] == region]
        for month in MONTHS:
            for number in range(rng.randint(8, 16)):
                oktmo, _, municipality, _ = rng.choice(municipalities)
                sector, sector_name = rng.choice(list(SECTORS.items()))
                answered = rng.random() < 0.8
                on_time = answered and rng.random() < 0.7
                rows.append(
                    (
                        f"pos:{agency}-{month:%Y%m}-{number}",
                        "pos",
                        region,
                        oktmo,
                        municipality,
                        agency,
                        kind,
                        name,
                        sector,
                        sector_name,
                        f"{sector}.01",
                        f"Категория {sector_name}",
                        False,
                        month + timedelta(days=rng.randint(0, 27)),
                        month,
                        answered,
                        on_time,
                        not answered and rng.random() < 0.5,
                        round(rng.uniform(2, 300), 1) if answered else None,
                        rng.randint(1, 5) if answered and rng.random() < 0.4 else None,
                        rng.random() < 0.1,
                        on_time and rng.random() < 0.8,
                    )
                )
    con.executemany(f"insert into appeals_deidentified values ({', '.join('?' * 22)})", rows)


def _spikes(con, rng) -> None:
    con.execute("""create table problem_spikes(spike_id varchar, region_code varchar, oktmo varchar,
        municipality_name varchar, series_kind varchar, category_code varchar, category_name varchar, sector_code
            varchar,
        sector_name varchar, problem_name varchar, onset_at timestamp, detected_at timestamp, last_alarm_at timestamp,
        peak_at timestamp, peak_window_hours integer, peak_appeals bigint, peak_expected_appeals double,
        peak_ratio double, max_surprise_z double, alarm_windows bigint, appeals bigint, appeals_unanswered bigint,
        citizens bigint, is_open boolean, spike_status varchar, agencies varchar, sample_texts varchar)""")
    categories = [("housing.01", "Отопление", "housing"), ("roads.01", "Ямы на дорогах", "roads")]
    for n in range(12):
        oktmo, region, municipality, _ = MUNICIPALITIES[n % len(MUNICIPALITIES)]
        code, name, sector = categories[n % 2]
        kind = "category" if n % 3 else "sector"
        detected = datetime(2025, 9, 1) + timedelta(days=7 * n, hours=rng.randint(0, 23))
        peak, expected = rng.randint(6, 40), round(rng.uniform(0.2, 3.0), 3)
        is_open = n >= 10
        con.execute(
            """insert into problem_spikes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 24, ?, ?, ?, 6.0, 3, ?,
                ?, ?, ?, ?, ?, ?)""",
            [
                f"spike-{n}",
                region,
                oktmo,
                municipality,
                kind,
                code if kind == "category" else None,
                name if kind == "category" else None,
                sector,
                SECTORS[sector],
                name if kind == "category" else SECTORS[sector],
                detected - timedelta(hours=5),
                detected,
                detected + timedelta(hours=6),
                detected + timedelta(hours=3),
                peak,
                expected,
                round(peak / expected, 1),
                peak + 5,
                rng.randint(0, 5),
                peak,
                is_open,
                "открыт" if is_open else "закрыт",
                AGENCIES[n % len(AGENCIES)][3],
                "Нет отопления в доме № # по ул. …",
            ],
        )
