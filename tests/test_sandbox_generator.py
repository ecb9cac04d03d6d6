"""Distributions of the generated sandbox data: seasons, Pareto, agencies, lifecycles, ratings, repeats, determinism."""

import json
import re
from datetime import date, datetime, timedelta

import duckdb
import pyarrow.parquet as pq
import pytest

from sandbox import generate
from sandbox.__main__ import main
from sandbox.model import SEASON_PATTERNS, UNKNOWN_CATEGORY_CODES
from sandbox.reference import load_reference


@pytest.fixture(scope="module")
def db(sandbox_generated):
    api = sandbox_generated[0] / "api"
    connection = duckdb.connect()
    for table in ("pos_messages", "pos_message_events", "incidents", "incident_events"):
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{api / table}.parquet')")
    connection.execute("""
        CREATE VIEW appeals AS
        SELECT id, region_code, oktmo, category_code, created_at FROM pos_messages
        UNION ALL SELECT id, region_code, oktmo, category_code, detected_at FROM incidents""")
    yield connection
    connection.close()


def test_channel_mix(sandbox_generated):
    summary = sandbox_generated[2]
    total = sum(summary[k] for k in ("pos_messages", "incidents", "sed_appeals", "portal_appeals"))
    assert summary["bursts"] == 1 and 12 <= summary["burst_appeals"] <= 150  # 60 bursts per million, at least one
    assert total == 20_000 + summary["burst_appeals"]
    assert summary["pos_messages"] / total == pytest.approx(0.55, abs=0.02)
    assert summary["incidents"] / total == pytest.approx(0.20, abs=0.02)
    assert summary["sed_appeals"] / total == pytest.approx(0.12, abs=0.02)
    assert summary["portal_appeals"] / total == pytest.approx(0.13, abs=0.02)
    assert summary["pos_59fz"] / summary["pos_messages"] == pytest.approx(0.15, abs=0.02)
    assert 20 <= summary["polls"] < summary["poll_options"]


def test_seasonal_categories_peak_in_their_season(db):
    categories = load_reference().categories
    peaks = {"heating": {10, 11}, "snow": {12, 1, 2}, "pothole": {3, 4, 5}}
    for season, pattern in SEASON_PATTERNS:
        if season not in peaks:
            continue
        codes = [
            c for c, n in zip(categories["category_code"], categories["category_name"]) if re.search(pattern, n.lower())
        ]
        assert codes, season
        month = db.execute(
            "SELECT month(created_at) FROM appeals WHERE list_contains(?, category_code) "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
            [codes],
        ).fetchone()[0]
        assert month in peaks[season], season
    waste_month = db.execute(
        "SELECT month(created_at) FROM appeals WHERE category_code LIKE 'waste.%' "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    assert waste_month in {6, 7, 8}


def test_weekday_and_hour_patterns(db):
    weekday, weekend = db.execute("""
        SELECT avg(n) FILTER (WHERE dow BETWEEN 1 AND 5), avg(n) FILTER (WHERE dow IN (0, 6))
        FROM (SELECT dayofweek(created_at) dow, count(*) n FROM pos_messages GROUP BY 1)""").fetchone()
    assert weekday > 1.4 * weekend
    # Local hours: the regions' offsets from seeds/regions.csv.
    offsets = dict(zip(load_reference().regions["region_code"], load_reference().regions["utc_offset_hours"]))
    hours = db.execute(
        """
        SELECT hour(created_at + to_hours(CAST(? ->> region_code AS INTEGER))) h, count(*)
        FROM pos_messages GROUP BY 1""",
        [str(offsets).replace("'", '"')],
    ).fetchall()
    by_hour = dict(hours)
    assert sum(by_hour.get(h, 0) for h in (2, 3, 4)) * 8 < sum(by_hour.get(h, 0) for h in (10, 11, 12))


def test_capital_dominates_its_region(db):
    refs = load_reference().municipalities
    capitals = set(refs.loc[refs["is_capital"], "oktmo"])
    rows = db.execute("""
        SELECT region_code, arg_max(oktmo, n), max(n) / sum(n)
        FROM (SELECT region_code, oktmo, count(*) n FROM appeals GROUP BY ALL) GROUP BY 1""").fetchall()
    assert len(rows) == 5
    for region_code, top_oktmo, share in rows:
        assert top_oktmo in capitals, region_code
        assert 0.2 < share < 0.85, region_code


def test_at_least_three_categories_per_sector(db):
    ref = load_reference()
    present = {c for (c,) in db.execute("SELECT DISTINCT category_code FROM appeals").fetchall()}
    regular = ref.categories[~ref.categories["is_other"]]
    for sector, codes in regular.groupby("sector_code")["category_code"]:
        assert len(present & set(codes)) >= 3, sector
    assert present - set(ref.categories["category_code"]), "a small share of unknown category codes"


def test_the_slow_agency_is_slower_and_worse_rated(db, sandbox_generated):
    slow = sandbox_generated[2]["slow_agency_ids"]
    assert len(slow) == 5 and len({a[:2] for a in slow}) == 5
    rows = db.execute(
        """
        WITH a AS (
            SELECT message_id, arg_max(agency_id, seq) AS agency_id,
                   min("at") FILTER (WHERE status = 'answered') - min("at") AS response
            FROM pos_message_events GROUP BY 1)
        SELECT list_contains(?, a.agency_id) AS slow, median(epoch(response)) / 3600, avg(m.rating_value),
               count(*)
        FROM a JOIN pos_messages m ON m.id = a.message_id
        WHERE m.category_code LIKE 'housing.%' AND a.agency_id LIKE '%-ROIV-%' GROUP BY 1""",
        [slow],
    ).fetchall()
    stats = {row[0]: row[1:] for row in rows}
    assert stats[True][0] > 1.5 * stats[False][0]
    assert stats[True][1] < stats[False][1] - 1.0
    spread = db.execute("""
        WITH final AS (SELECT message_id, arg_max(agency_id, seq) agency_id FROM pos_message_events GROUP BY 1)
        SELECT max(r) - min(r) FROM (
            SELECT f.agency_id, avg(m.rating_value) r FROM final f JOIN pos_messages m ON m.id = f.message_id
            GROUP BY 1 HAVING count(m.rating_value) >= 20)""").fetchone()
    assert spread[0] >= 1.5  # agency ratings spread


def test_status_lifecycles(db):
    statuses = dict(db.execute("SELECT status, count(*) FROM pos_message_events GROUP BY 1").fetchall())
    assert set(statuses) == {
        "registered",
        "in_work",
        "answered",
        "closed",
        "redirected",
        "extended",
        "returned_for_rework",
        "reopened",
    }
    events_per_message = sum(statuses.values()) / statuses["registered"]
    assert 3.5 < events_per_message < 5
    bad = db.execute("""
        SELECT count(*) FROM (
            SELECT message_id, seq, status, "at", lag("at") OVER (PARTITION BY message_id ORDER BY seq) prev
            FROM pos_message_events)
        WHERE (seq = 1 AND status <> 'registered') OR "at" <= prev""").fetchone()[0]
    assert bad == 0
    extended_outside_59fz = db.execute("""
        SELECT count(*) FROM pos_message_events e JOIN pos_messages m ON m.id = e.message_id
        WHERE e.status = 'extended' AND NOT m.is_59fz""").fetchone()[0]
    assert extended_outside_59fz == 0
    late_incident_reactions = db.execute("""
        SELECT avg(CASE WHEN r > d + INTERVAL 8 HOUR THEN 1 ELSE 0 END) FROM (
            SELECT i.detected_at d, min(e."at") FILTER (WHERE e.status = 'in_work') r
            FROM incidents i JOIN incident_events e ON e.incident_id = i.id GROUP BY i.id, i.detected_at)""").fetchone()
    assert 0 < late_incident_reactions[0] < 0.3


def test_ratings_and_repeat_citizens(db):
    ratings = dict(
        db.execute(
            "SELECT rating_value, count(*) FROM pos_messages WHERE rating_value IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert set(ratings) == {1, 2, 3, 4, 5}
    rated_share, late = db.execute("""
        SELECT avg(CASE WHEN m.rating_value IS NULL THEN 0 ELSE 1 END),
               count(*) FILTER (WHERE m.rated_at <= a.answered_at)
        FROM pos_messages m JOIN (SELECT message_id, min("at") answered_at FROM pos_message_events
                                  WHERE status = 'answered' GROUP BY 1) a ON a.message_id = m.id""").fetchone()
    assert 0.2 < rated_share < 0.6 and late == 0
    repeats = db.execute(
        "SELECT count(*) FROM (SELECT author_phone FROM pos_messages GROUP BY 1 HAVING count(*) > 2)"
    ).fetchone()[0]
    assert repeats > 100
    sample = db.execute("SELECT author_name, author_phone, author_email, text FROM pos_messages LIMIT 50").fetchall()
    for name, phone, email, text in sample:
        assert len(name.split()) == 3
        assert re.fullmatch(r"\+7 9\d{2} \d{3}-\d{2}-\d{2}", phone)
        assert re.fullmatch(r"[a-z0-9.]+@[a-z]+\.(ru|com)", email)
        assert re.search("[а-яА-Я]{4}", text)


def test_same_seed_same_output_other_seed_other_output(tmp_path):
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        summary = generate(
            tmp_path / name, tmp_path / f"{name}_inbox", 3000, seed=seed, start=date(2024, 1, 1), end=date(2024, 12, 31)
        )
        runs.append(
            (
                summary,
                pq.read_table(tmp_path / name / "api" / "pos_message_events.parquet"),
                pq.read_table(tmp_path / name / "api" / "incidents.parquet"),
                (tmp_path / f"{name}_inbox" / "sed" / "sed_64_20241201.csv").read_bytes(),
            )
        )
    (sa, ea, ia, fa), (sb, eb, ib, fb), (sc, ec, ic, fc) = runs
    assert sa == sb and ea.equals(eb) and ia.equals(ib) and fa == fb
    assert not ea.equals(ec) and fa != fc


def test_cli_defaults_follow_the_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    main(["generate", "--scale", "300", "--seed", "3", "--start", "2025-01-01", "--end", "2025-02-28"])
    summary = json.loads(capsys.readouterr().out)
    appeals = summary["pos_messages"] + summary["incidents"] + summary["sed_appeals"] + summary["portal_appeals"]
    assert appeals == 300 + summary["burst_appeals"]
    assert (tmp_path / "sandbox" / "api" / "pos_messages.parquet").exists()
    assert (tmp_path / "inbox" / "sed" / "sed_64_20250129.csv").exists()
    assert json.loads((tmp_path / "sandbox" / "api" / "meta.json").read_text())["default_now"] == "2025-03-01T00:00:00Z"


def test_make_run_generates_once_per_scale_and_seed(tmp_path, monkeypatch, capsys):
    from sandbox.pipeline import ensure_sandbox

    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    first = ensure_sandbox(200, seed=3)
    store = tmp_path / "sandbox" / "api" / "pos_messages.parquet"
    written = store.stat().st_mtime_ns
    assert ensure_sandbox(200, seed=3) == json.loads(json.dumps(first, default=str))
    assert "sandbox: reusing" in capsys.readouterr().out and store.stat().st_mtime_ns == written
    ensure_sandbox(201, seed=3)  # another scale: generated again
    assert store.stat().st_mtime_ns != written


def test_bursts_are_labelled_in_meta_and_leave_the_ordinary_appeals_alone(tmp_path):
    period = {"start": date(2024, 1, 1), "end": date(2024, 12, 31)}
    generate(tmp_path / "b", tmp_path / "b_inbox", 4000, seed=9, bursts=4, **period)
    generate(tmp_path / "n", tmp_path / "n_inbox", 4000, seed=9, bursts=0, **period)
    bursts = json.loads((tmp_path / "b" / "api" / "meta.json").read_text())["bursts"]
    assert json.loads((tmp_path / "n" / "api" / "meta.json").read_text())["bursts"] == []
    assert [b["burst_id"] for b in bursts] == [1, 2, 3, 4]
    assert bursts[0]["appeal_numbers"][0] == 4000  # burst appeals are numbered after the ordinary ones
    with duckdb.connect() as con:
        for name in ("b", "n"):
            api = tmp_path / name / "api"
            con.execute(f"""CREATE VIEW api_{name} AS
                SELECT id, oktmo, category_code, created_at FROM read_parquet('{api / "pos_messages.parquet"}')
                UNION ALL
                SELECT id, oktmo, category_code, detected_at FROM read_parquet('{api / "incidents.parquet"}')""")
        # the ordinary appeals are the same with and without bursts
        assert con.execute("SELECT count(*) FROM (SELECT * FROM api_n EXCEPT SELECT * FROM api_b)").fetchone()[0] == 0
        ordinary = con.execute("SELECT count(*) FROM api_n").fetchone()[0]
        burst_rows = con.execute("SELECT count(*) FROM api_b").fetchone()[0] - ordinary
        assert 0 < burst_rows <= sum(b["size"] for b in bursts)  # the API part of the bursts; the rest are in files
        for burst in bursts:
            first, last = burst["appeal_numbers"]
            assert last - first + 1 == burst["size"] and 12 <= burst["size"] <= 150
            onset = datetime.fromisoformat(burst["onset_at"].rstrip("Z"))
            rows = con.execute(
                "SELECT oktmo, category_code, created_at FROM api_b WHERE CAST(split_part(id, '-', 3) AS BIGINT) "
                "BETWEEN ? AND ?",
                [first, last],
            ).fetchall()
            assert rows
            assert {r[0] for r in rows} == {burst["oktmo"]}
            assert {r[1] for r in rows} <= {burst["category_code"], *UNKNOWN_CATEGORY_CODES}
            assert all(onset <= r[2] <= onset + timedelta(hours=burst["duration_hours"]) for r in rows)
