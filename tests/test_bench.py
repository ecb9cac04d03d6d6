"""The benchmark harness (issue 9): the hand-written floor (bench/floor.sql) equals the dbt marts on the shared
sandbox, the comparison notices a difference, and the report and the held-back inbox files behave."""

import json
from datetime import datetime, timezone

import pytest
from sandbox_landing import use_data_root

from bench import pipeline as bench
from dagster_project.lib import paths

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(sandbox_marts, tmp_path_factory):
    """The floor computed over the lake and warehouse of the shared sandbox, whose marts dbt built (conftest's
    sandbox_marts, also test_marts' warehouse)."""
    data, _ = sandbox_marts
    floor_json = tmp_path_factory.mktemp("bench") / "floor.json"
    with pytest.MonkeyPatch.context() as mp:
        use_data_root(mp, data)
        bench.run_floor(floor_json)
        yield floor_json


def test_floor_equals_the_marts(built):
    floor = json.loads(built.read_text())
    assert floor["fct_appeals"][0] > 15_000  # the sandbox's appeals, minus the excluded ones
    assert floor["agency_rating_monthly"][0] > 0 and floor["sector_kpis_monthly"][0] > 0
    assert bench.compare_with_marts(built) == []


def test_the_comparison_reports_a_different_sum(built, tmp_path):
    floor = json.loads(built.read_text())
    floor["sector_kpis_monthly"][1] += 1  # sum(received)
    changed = tmp_path / "floor.json"
    changed.write_text(json.dumps(floor))
    differences = bench.compare_with_marts(changed)
    assert len(differences) == 1 and differences[0].startswith("sector_kpis_monthly sum(received)")


def test_report_replaces_only_its_own_scale(tmp_path, monkeypatch):
    report = tmp_path / "performance.md"
    report.write_text("# Performance\n\nProse.\n\n<!-- bench results -->\n\n## 10 000 000 appeals\n\nold 10M\n")
    monkeypatch.setattr(bench, "REPORT", report)
    bench.write_report(1_000_000, "## 1 000 000 appeals\n\nfirst 1M\n")
    bench.write_report(1_000_000, "## 1 000 000 appeals\n\nsecond 1M\n")
    text = report.read_text()
    assert text.startswith("# Performance\n\nProse.\n\n<!-- bench results -->\n## 1 000 000 appeals\n\nsecond 1M\n")
    assert "first 1M" not in text and text.endswith("## 10 000 000 appeals\n\nold 10M\n")


def test_render_judges_the_targets():
    stage = bench.StageResult
    full = [stage("1. extraction", 300, 290, 900, 5_000_000), stage("2. dbt", 100, 150, 1500, 1_000_000)]
    incremental = stage("5. incremental", 30, 25, 800, 20_000)
    floor = stage("floor", 40, 70, 1000, 1_000_000, load=3.5)
    text = bench.render(1_000_000, full, full[1], incremental, floor, {"appeals": 1_000_000}, 60, 1.25)
    assert "| full build (landing → marts → checks → publish) < 600 s | 400 s | yes |" in text
    assert "| incremental run < 5 % of the full build | 7.5 % | no |" in text
    assert "| transform ≤ 2 × the floor | 2.5 × | no |" in text
    assert "their upstream, ≤ 2 × the floor) | 1.5 × | yes |" in text
    assert "| serving ≤ 1.2 × the marts it holds | 1.25 × | no |" in text
    assert "| 1. extraction | 300.0 | 290.0 | 900 | 5,000,000 | 16,667 | 0.0 |" in text
    assert "| floor | 40.0 | 70.0 | 1000 | 1,000,000 | 25,000 | 3.5 |" in text


def test_daily_files_of_the_window_are_held_back_and_released(tmp_path, monkeypatch):
    monkeypatch.setenv("CUR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUR_INBOX_DIR", raising=False)
    names = {"sed": ["sed_64_20251130.csv", "sed_64_20251225.csv"], "portal": ["portal_37_20251226.xlsx"]}
    for source, files in names.items():
        paths.inbox_dir(source).mkdir(parents=True)
        for name in files:
            (paths.inbox_dir(source) / name).write_text(name)
    held = tmp_path / "held"
    moved = bench.hold_back_recent_files(held, datetime(2025, 12, 21, tzinfo=timezone.utc))
    assert moved == 2
    assert [f.name for f in paths.inbox_dir("sed").iterdir()] == ["sed_64_20251130.csv"]
    assert not list(paths.inbox_dir("portal").iterdir())
    bench.release_held_files(held)
    assert sorted(f.name for f in paths.inbox_dir("sed").iterdir()) == names["sed"]
    assert [f.name for f in paths.inbox_dir("portal").iterdir()] == names["portal"]
