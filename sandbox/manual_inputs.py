"""Sample manual inputs of a ЦУР (the CSVs it fills by hand) for the sandbox: indicator actuals that the facts
cannot give (trainings held, surveys run, …) and the roadmap status log. Formats: docs/templates/."""

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from dagster_project.lib import paths

INDICATOR_ACTUALS_COLUMNS = ("region_code", "indicator_code", "actual_date", "value", "comment")
ROADMAP_STATUS_COLUMNS = ("region_code", "event_code", "status_date", "status", "comment")

# How well a region keeps to an indicator's target: ahead, on plan, lagging, far behind.
PERFORMANCE_LEVELS = (1.1, 1.0, 0.85, 0.6)


def _read_seed(seeds_dir: Path, name: str) -> list[dict[str, str]]:
    with open(seeds_dir / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _quarter_ends(year: int, until: date) -> list[date]:
    ends = [date(year, 3, 31), date(year, 6, 30), date(year, 9, 30), date(year, 12, 31)]
    return [day for day in ends if day <= until]


def _indicator_rows(seeds_dir: Path, rng: random.Random, start: date, end: date) -> list[dict]:
    manual = {row["indicator_code"]: row for row in _read_seed(seeds_dir, "indicators") if row["source"] == "manual"}
    rows = []
    for target in _read_seed(seeds_dir, "indicator_targets"):
        indicator = manual.get(target["indicator_code"])
        year = int(target["year"])
        if indicator is None or not start.year <= year <= end.year:
            continue
        performance = rng.choice(PERFORMANCE_LEVELS)
        goal = float(target["target_value"])
        for day in _quarter_ends(year, end):
            elapsed = day.timetuple().tm_yday / date(year, 12, 31).timetuple().tm_yday
            if indicator["unit"] == "%":
                # a share reached by the date: most of it is there from the start of the year
                value = round(min(100.0, goal * performance * (0.85 + 0.15 * elapsed)), 1)
            else:
                # a count to date (нарастающим итогом) that grows over the year
                value = float(round(goal * performance * elapsed))
            rows.append(
                {
                    "region_code": target["region_code"],
                    "indicator_code": target["indicator_code"],
                    "actual_date": day.isoformat(),
                    "value": f"{value:g}",
                    "comment": "ежеквартальный отчет ЦУР",
                }
            )
    return rows


def _roadmap_rows(seeds_dir: Path, rng: random.Random, end: date) -> list[dict]:
    rows = []
    for region in _read_seed(seeds_dir, "regions"):
        for event in _read_seed(seeds_dir, "roadmap_events"):
            deadline = date.fromisoformat(event["deadline"])
            outcome = rng.random()
            log = []
            if outcome < 0.9:
                log.append((deadline - timedelta(days=rng.randint(60, 120)), "in_progress", "мероприятие начато"))
            if outcome < 0.75:
                log.append((deadline + timedelta(days=rng.randint(-45, 30)), "done", "результат достигнут"))
            for day, status, comment in log:
                if day <= end:
                    rows.append(
                        {
                            "region_code": region["region_code"],
                            "event_code": event["event_code"],
                            "status_date": day.isoformat(),
                            "status": status,
                            "comment": comment,
                        }
                    )
    return rows


def _write(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def write_manual_inputs(
    data_dir: Path | str,
    seed: int = 42,
    start: date = date(2023, 1, 1),
    end: date = date(2025, 12, 31),
    seeds_dir: Path | None = None,
) -> dict[str, int]:
    """Write data_dir/manual/indicator_actuals.csv and roadmap_status_log.csv; returns the row count of each."""
    seeds_dir = Path(seeds_dir or paths.SEEDS_DIR)
    rng = random.Random(seed)
    out = Path(data_dir) / "manual"
    out.mkdir(parents=True, exist_ok=True)
    indicator_rows = _indicator_rows(seeds_dir, rng, start, end)
    roadmap_rows = _roadmap_rows(seeds_dir, rng, end)
    _write(out / "indicator_actuals.csv", INDICATOR_ACTUALS_COLUMNS, indicator_rows)
    _write(out / "roadmap_status_log.csv", ROADMAP_STATUS_COLUMNS, roadmap_rows)
    return {"indicator_actuals": len(indicator_rows), "roadmap_status_log": len(roadmap_rows)}
