"""The one extractor for every API source: incremental pages → validated rows → atomic Parquet parts.

Commit protocol, per batch of pages: the batch's Parquet parts are renamed into place, then one warehouse
transaction stores the batch's quarantined records and the resume state (`ops.extract_cursor.page_cursor`:
the query and the server's next cursor). A run killed at any point resumes from the last committed batch;
at worst the uncommitted batch is fetched and landed again, and downstream deduplication by
(id, updated_at) removes the repeat.
"""

import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dagster_project.defs.extract.load_result import LoadResult, quarantine_row
from dagster_project.defs.extract.records import InvalidRecord, parse_iso_utc
from dagster_project.defs.extract.specs import ApiSpec
from dagster_project.lib import landing, warehouse
from dagster_project.lib.http_client import JsonApiClient

log = logging.getLogger(__name__)

FULL_LOAD_SINCE = "1970-01-01T00:00:00Z"
# The server may repeat records of the previous page; keys of this many recent pages are remembered.
DEDUPE_PAGES = 3
# A page with invalid records is fetched again this many times (a corrupted response heals, bad data stays).
INVALID_PAGE_REFETCHES = 1


def iso_z(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Page:
    """One page processed in isolation, so a re-fetched copy can replace it wholesale."""

    rows: dict[str, list[dict]]
    quarantine: list[tuple] = field(default_factory=list)
    keys: set = field(default_factory=set)
    fetched: int = 0
    landed: int = 0
    duplicates: int = 0
    high_water: datetime | None = None
    next_cursor: str | None = None


def _process_page(spec: ApiSpec, body: dict, recent: deque, key: bytes, run_id: str) -> Page:
    page = Page(rows={t: [] for t in spec.tables}, next_cursor=body.get("next_cursor") or None)
    for item in body["items"]:
        dedupe_key = spec.dedupe_key(item)
        if dedupe_key is not None:
            if dedupe_key in page.keys or any(dedupe_key in keys for keys in recent):
                page.duplicates += 1
                continue
            page.keys.add(dedupe_key)
        page.fetched += 1
        try:
            rows, child_rows, updated_at = spec.map_item(item, key)
        except InvalidRecord as exc:
            page.quarantine.append(quarantine_row(
                run_id, spec.name, spec.record_key(item), str(exc), item, spec.personal_values(item)
            ))
            continue
        page.rows[spec.name].extend(rows)
        if spec.child:
            page.rows[spec.child.table].extend(child_rows)
        page.landed += 1
        page.high_water = updated_at if page.high_water is None else max(page.high_water, updated_at)
    return page


def extract_api(
    spec: ApiSpec,
    client: JsonApiClient,
    result: LoadResult,
    *,
    key: bytes,
    run_id: str,
    page_size: int,
    commit_every_records: int,
    updated_since: datetime | None = None,
    updated_until: datetime | None = None,
    lookback: timedelta = timedelta(hours=2),
) -> None:
    """Incremental load (no range given: from the stored cursor minus the lookback, resuming an unfinished
    run) or a backfill of [updated_since, updated_until), which leaves the incremental cursor alone."""
    for table in spec.tables:
        landing.ensure_table(table)
    backfill = updated_since is not None
    high_water: datetime | None = None
    if backfill:
        state = {"since": iso_z(updated_since), "until": iso_z(updated_until) if updated_until else None, "cursor": None}
    else:
        with warehouse.connect() as con:
            cursor_value, page_state = warehouse.read_cursor(con, spec.name)
        high_water = parse_iso_utc(cursor_value) if cursor_value else None
        if page_state:
            state, result.resumed = page_state, True
            log.info("%s: resuming an unfinished run from its last committed page", spec.name)
        else:
            since = iso_z(high_water - lookback) if high_water else FULL_LOAD_SINCE
            state = {"since": since, "until": None, "cursor": None}
    result.cursor_from = state["since"]

    recent: deque[set] = deque(maxlen=DEDUPE_PAGES)
    pending = Page(rows={t: [] for t in spec.tables})
    # Unique per attempt: a retried step of the same run must never reuse (and overwrite) a part name.
    part_prefix = f"{run_id}-{uuid.uuid4().hex[:8]}"
    part_no = 0
    while True:
        params = {"updated_since": state["since"], "limit": page_size}
        if state["until"]:
            params["updated_until"] = state["until"]
        if state["cursor"]:
            params["cursor"] = state["cursor"]
        page = _process_page(spec, client.get_json(spec.path, params), recent, key, run_id)
        for _ in range(INVALID_PAGE_REFETCHES):
            if not page.quarantine:
                break
            again = _process_page(spec, client.get_json(spec.path, params), recent, key, run_id)
            if len(again.quarantine) <= len(page.quarantine):
                page = again
        recent.append(page.keys)
        for table in spec.tables:
            pending.rows[table].extend(page.rows[table])
        pending.quarantine.extend(page.quarantine)
        pending.fetched += page.fetched
        pending.landed += page.landed
        pending.duplicates += page.duplicates
        if page.high_water is not None:
            high_water = page.high_water if high_water is None else max(high_water, page.high_water)
        state = {**state, "cursor": page.next_cursor}
        result.retries = client.retries

        if pending.fetched >= commit_every_records or page.next_cursor is None:
            for table in spec.tables:
                result.add_part(table, landing.write_part(table, f"{part_prefix}-{part_no:05d}", run_id, pending.rows[table]))
            with warehouse.connect() as con:
                warehouse.commit_page(
                    con,
                    None if backfill else spec.name,
                    iso_z(high_water) if high_water else None,
                    state if page.next_cursor else None,
                    pending.quarantine,
                )
            result.fetched += pending.fetched
            result.landed += pending.landed
            result.quarantined += len(pending.quarantine)
            result.duplicates_skipped += pending.duplicates
            result.cursor_to = iso_z(high_water) if high_water else state["until"]
            part_no += 1
            pending = Page(rows={t: [] for t in spec.tables})
        if page.next_cursor is None:
            break
