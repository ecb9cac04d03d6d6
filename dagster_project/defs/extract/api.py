"""The one extractor for every API source: incremental pages → validated rows → atomic Parquet parts.

Commit protocol, per batch of pages: under the warehouse lock, the batch's Parquet parts are renamed into place,
then one warehouse transaction stores the batch's quarantined records and the resume state
(`ops.extract_cursor.page_cursor`: the query and the server's next cursor). A lock that can't be had lands nothing.
A run killed at any point resumes from the last committed batch; killed between the rename and the commit, the batch
is landed again by the resume, and downstream deduplication by (id, updated_at) removes the repeat.
"""

import logging
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.defs.extract import conform, wire
from dagster_project.defs.extract.load_result import LoadResult, quarantine_row
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


def parse_iso_utc(value: str) -> datetime:
    """ISO-8601 (with `Z` or an offset; a zone-less value means UTC) → naive UTC."""
    parsed = datetime.fromisoformat(value.strip())
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo is not None else parsed


@dataclass
class Page:
    """One page processed in isolation, so a re-fetched copy can replace it wholesale."""

    rows: dict[str, list[pa.Table]]
    quarantine: list[tuple] = field(default_factory=list)
    keys: pa.Array | None = None  # (id, version) of its records, for the dedupe of the next pages
    fetched: int = 0
    landed: int = 0
    duplicates: int = 0
    high_water: datetime | None = None
    next_cursor: str | None = None

    def add(self, other: "Page") -> None:
        for table, parts in other.rows.items():
            self.rows[table].extend(parts)
        self.quarantine.extend(other.quarantine)
        self.fetched += other.fetched
        self.landed += other.landed
        self.duplicates += other.duplicates


def _record_key(item) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _process_page(
    spec: ApiSpec, batch: wire.WireBatch, recent: deque, run_id: str, converter: conform.Converter
) -> Page:
    page = Page(rows={t: [] for t in spec.tables}, next_cursor=batch.next_cursor)
    keys = wire.version_keys(batch.table, spec.key_column, "updated_at")
    positions = wire.first_versions(keys, pa.concat_arrays(list(recent)) if recent else None)
    page.keys = keys.take(pa.array(positions)).drop_null()
    page.duplicates = len(keys) - len(positions)
    page.fetched = len(positions)
    records = batch.table.take(pa.array(positions)) if page.duplicates else batch.table
    result = converter.conform(spec, records)
    for position, reason in result.invalid:
        original = int(positions[position])
        personal = tuple(v for kind in spec.identity if (v := records[wire.pii_column(kind)][position].as_py()))
        item = batch.payload(original)
        page.quarantine.append(quarantine_row(run_id, spec.name, _record_key(item), reason, item, personal))
    for table, rows in result.rows.items():
        page.rows[table].append(rows)
    main = result.rows[spec.name]
    page.landed = page.fetched - len(result.invalid)
    if main.num_rows:
        page.high_water = pc.max(main["updated_at"]).as_py()
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
        state = {
            "since": iso_z(updated_since),
            "until": iso_z(updated_until) if updated_until else None,
            "cursor": None,
        }
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

    recent: deque[pa.Array] = deque(maxlen=DEDUPE_PAGES)
    pending = Page(rows={t: [] for t in spec.tables})
    converter = conform.Converter(key)
    # Unique per attempt: a retried step of the same run must never reuse (and overwrite) a part name.
    part_prefix = f"{run_id}-{uuid.uuid4().hex[:8]}"
    part_no = 0
    # The next page is fetched (and parsed) while this one is converted: the source renders pages on its own CPU.
    with ThreadPoolExecutor(max_workers=1) as prefetcher:
        ahead = prefetcher.submit(_get_page, spec, client, _params(state, page_size))
        while True:
            params = _params(state, page_size)
            batch = ahead.result()
            if batch.next_cursor:
                ahead = prefetcher.submit(
                    _get_page, spec, client, _params({**state, "cursor": batch.next_cursor}, page_size)
                )
            page = _process_page(spec, batch, recent, run_id, converter)
            for _ in range(INVALID_PAGE_REFETCHES):
                if not page.quarantine:
                    break
                again = _process_page(spec, _get_page(spec, client, params), recent, run_id, converter)
                if len(again.quarantine) <= len(page.quarantine):
                    page = again
            if page.next_cursor != batch.next_cursor:  # the copy kept ends elsewhere: the page ahead is not next
                ahead.cancel()
            if page.next_cursor and page.next_cursor != batch.next_cursor:
                ahead = prefetcher.submit(
                    _get_page, spec, client, _params({**state, "cursor": page.next_cursor}, page_size)
                )
            recent.append(page.keys)
            pending.add(page)
            if page.high_water is not None:
                high_water = page.high_water if high_water is None else max(high_water, page.high_water)
            state = {**state, "cursor": page.next_cursor}
            result.retries = client.retries

            if pending.fetched >= commit_every_records or page.next_cursor is None:
                # The lock first, then the parts: a lock timeout (retried by the step) then lands nothing, where
                # parts landed before it were landed once more by the retry (seen at 1M under load: 20 000 rows).
                with warehouse.connect() as con:
                    for table in spec.tables:
                        rows = pa.concat_tables(pending.rows[table]) if pending.rows[table] else None
                        result.add_part(table, landing.write_part(table, f"{part_prefix}-{part_no:05d}", run_id, rows))
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


def _params(state: dict, page_size: int) -> dict:
    params = {"updated_since": state["since"], "limit": page_size}
    if state["until"]:
        params["updated_until"] = state["until"]
    if state["cursor"]:
        params["cursor"] = state["cursor"]
    return params


def _get_page(spec: ApiSpec, client: JsonApiClient, params: dict) -> wire.WireBatch:
    return client.get(spec.path, params, lambda body: wire.api_page(spec, body))
