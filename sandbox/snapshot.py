"""What the sandbox APIs show at a simulated «now»: the generated store seen through the clock.

A record is visible once its first event (registration) is ≤ now; its status, history, answer and rating are
those of the events ≤ now; `updatedAt` is the time of its last visible change. The store is loaded once as Arrow
columns: every non-time column dictionary-encoded with its distinct values already encoded as JSON literals (free
texts repeat a lot, so this is also much smaller than the plain strings), times as timestamp[s]. A clock change
recomputes only a few numpy arrays (events of a record are contiguous and increase in time, so the visible events
are a prefix), and a page renders just its own records with Arrow kernels over their rows: no loop per record.
"""

import bisect
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sandbox.arrow_utils import flat
from sandbox.arrow_utils import join as _join

ISO = "%Y-%m-%dT%H:%M:%SZ"
DAY = 86_400
# 'HH:MM:SSZ"' of every second of a day, then "" (the clock of a missing time): see `_iso`.
_CLOCKS = pa.concat_arrays(
    [
        _join(pc.utf8_slice_codeunits(pa.array(np.arange(DAY), pa.timestamp("s")).cast(pa.string()), 11, 19), 'Z"'),
        pa.array([""]),
    ]
)

# The fields that never change, in wire order: JSON key → store column (or a nested object of them).
MESSAGE_FIELDS = {
    "id": "id",
    "regionCode": "region_code",
    "oktmo": "oktmo",
    "is59FZ": "is_59fz",
    "categoryCode": "category_code",
    "subcategoryCode": "subcategory_code",
    "text": "text",
    "address": "address",
    "author": {"name": "author_name", "phone": "author_phone", "email": "author_email"},
    "createdAt": "created_at",
}
INCIDENT_FIELDS = {
    "id": "id",
    "regionCode": "region_code",
    "oktmo": "oktmo",
    "platform": "platform",
    "postUrl": "post_url",
    "author": {"handle": "author_handle", "name": "author_name"},
    "text": "text",
    "categoryCode": "category_code",
    "publishedAt": "published_at",
    "detectedAt": "detected_at",
}


def epoch_seconds(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds())


def _seconds(column) -> np.ndarray:
    """A timestamp column as int64 epoch seconds, -1 for null."""
    return pc.fill_null(column.cast(pa.timestamp("s")).cast(pa.int64()), -1).to_numpy()


def json_string(column) -> pa.Array:
    """Strings as JSON string literals (null → null), vectorised; escaping only where a column needs it."""
    text = flat(column)
    if pc.any(pc.match_substring_regex(text, r'["\\\n\r\t]')).as_py():
        for char, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
            text = pc.replace_substring(text, char, escaped)
    return pc.fill_null(_join('"', text, '"'), "null")


def _json_value(column) -> pa.Array:
    """Numbers and booleans as JSON literals (null → null)."""
    return pc.fill_null(flat(pc.cast(column, pa.string())), "null")


def _iso(seconds: np.ndarray, valid: np.ndarray | None = None) -> list[pa.Array]:
    """Epoch seconds as JSON strings of the wire format, in two parts to join: '"YYYY-MM-DDT' and 'HH:MM:SSZ"'.

    Where not `valid`: null. Each date of the range is rendered once and each clock is a look-up, which is several
    times cheaper than formatting every timestamp.
    """
    valid = np.ones(len(seconds), dtype=bool) if valid is None else valid
    days, clock = np.divmod(seconds, DAY)
    first, stop = (int(days[valid].min()), int(days[valid].max()) + 1) if valid.any() else (0, 0)
    dates = pc.utf8_slice_codeunits(pa.array(np.arange(first, stop) * DAY, pa.timestamp("s")).cast(pa.string()), 0, 10)
    dates = pa.concat_arrays([_join('"', dates, "T"), pa.array(["null"])])
    return [dates.take(np.where(valid, days - first, stop - first)), _CLOCKS.take(np.where(valid, clock, DAY))]


def _literals(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """A column dictionary-encoded, its dictionary as JSON literals: each distinct value is stored and encoded once.

    Null rows stay null (`_pick` renders them). String columns arrive dictionary-encoded from Parquet; pass the only
    reference to the column, so that its per-chunk dictionaries are freed before the literals are built.
    """
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries().combine_chunks()
    values = column.dictionary
    literals = json_string(values) if pa.types.is_string(values.type) else _json_value(values)
    return pa.DictionaryArray.from_arrays(column.indices, literals)


def _pick(column: pa.DictionaryArray, rows: pa.Array) -> pa.Array:
    """The JSON literals of the given rows, null → null."""
    return pc.fill_null(column.dictionary.take(column.indices.take(rows)), "null")


def _affixed(column: pa.DictionaryArray, prefix: str, suffix: str) -> pa.DictionaryArray:
    """The same rows with every literal wrapped in constant text (the dictionary is small, the indices are shared)."""
    return pa.DictionaryArray.from_arrays(column.indices, _join(prefix, column.dictionary, suffix))


def _code(column: pa.DictionaryArray, value: str) -> int:
    """The dictionary index of a string value, -1 if the column never has it."""
    literals = column.dictionary.to_pylist()
    return literals.index(json.dumps(value)) if json.dumps(value) in literals else -1


def _parquet(path: Path, names) -> pq.ParquetFile:
    """A store file whose string columns decode straight into dictionaries (no plain copy of a free-text column)."""
    return pq.ParquetFile(path, read_dictionary=names)


def _read(path: Path, names) -> dict[str, pa.Array]:
    """Columns of a store file as rendered per page: times as timestamp[s], everything else as `_literals`.

    One column at a time, so loading holds at most one column's Parquet decoding next to the encoded ones.
    """
    parquet = _parquet(path, names)
    columns = {}
    for name in names:
        if pa.types.is_timestamp(parquet.schema_arrow.field(name).type):
            columns[name] = flat(parquet.read(columns=[name])[name].cast(pa.timestamp("s")))
        else:
            columns[name] = _literals(parquet.read(columns=[name])[name])
        # The allocator keeps freed pages; hand them back, or the next column's transient comes on top of them.
        pa.default_memory_pool().release_unused()
    return columns


def _leaves(fields: dict) -> list[str]:
    return [name for value in fields.values() for name in (_leaves(value) if isinstance(value, dict) else [value])]


class Snapshot:
    """The records visible at one «now», ordered by (updatedAt, id); a slice renders to an array of JSON texts."""

    def __init__(self, upd: np.ndarray, ids: Callable[[int, int], list[str]], render: Callable[[int, int], pa.Array]):
        self.upd = upd  # updatedAt, epoch seconds, ascending
        self._ids = ids  # the ids of the records at [start, stop)
        self._render = render

    def __len__(self) -> int:
        return len(self.upd)

    def json_items(self, start: int, stop: int) -> pa.Array:
        return self._render(start, stop) if stop > start else pa.array([], pa.string())

    def record_id(self, position: int) -> str:
        return self._ids(position, position + 1)[0]

    def start_after(self, upd: int, record_id: str) -> int:
        """Position of the first record after (upd, record_id) in (updatedAt, id) order."""
        lo = int(np.searchsorted(self.upd, upd, "left"))
        hi = int(np.searchsorted(self.upd, upd, "right"))
        return lo + bisect.bisect_right(self._ids(lo, hi), record_id)


class EventSourced:
    """Records that change through status events (ПОС messages with answers and ratings, incidents).

    `fields` (see MESSAGE_FIELDS) are rendered from the record's columns; the changing fields (responsible agency,
    status, history, answer and rating or reaction, updatedAt) from its events visible at «now».
    """

    def __init__(
        self,
        records_path: Path,
        fields: dict,
        events_path: Path,
        id_column: str,
        agency_key: str,
        answers: bool = False,
    ):
        self.fields, self.agency_key, self.answers = fields, agency_key, answers
        ids = flat(pq.read_table(records_path, columns=["id"])["id"])
        n = len(ids)
        self.id_rank = np.empty(n, dtype=np.int64)
        self.id_rank[pc.sort_indices(ids).to_numpy()] = np.arange(n)

        events = _parquet(events_path, [id_column, "status", "agency_id"])
        owner_ids = events.read(columns=[id_column])[id_column].unify_dictionaries().combine_chunks()
        owner = pc.index_in(owner_ids.dictionary, value_set=ids).to_numpy(zero_copy_only=False)[
            owner_ids.indices.to_numpy()
        ]
        order = pa.array(np.lexsort((flat(events.read(columns=["seq"])["seq"]).to_numpy(), owner)))
        self.ev_start = np.searchsorted(owner[order.to_numpy()], np.arange(n + 1))
        del ids, owner_ids, owner
        self.ev_at = _seconds(flat(events.read(columns=["at"])["at"]).take(order))
        self.ev_status, self.ev_agency = (
            _literals(events.read(columns=[name])[name]).take(order) for name in ("status", "agency_id")
        )
        self.answered, self.in_work = _code(self.ev_status, "answered"), _code(self.ev_status, "in_work")
        # An element of statusHistory is these two around its time.
        self.ev_head = _affixed(self.ev_status, '{"status":', ',"at":')
        self.ev_tail = _affixed(self.ev_agency, f',"{agency_key}":', "}")

        self.columns = _read(records_path, _leaves(fields) + (["answer_text", "rating_value"] if answers else []))
        # ПОС: a rating arrives days after the answer and changes updatedAt (-1: never rated).
        self.rated_at = _seconds(pq.read_table(records_path, columns=["rated_at"])["rated_at"]) if answers else None

    def snapshot(self, now: datetime) -> Snapshot:
        now_s = epoch_seconds(now)
        if not len(self.ev_at):
            return Snapshot(np.zeros(0, dtype=np.int64), lambda a, b: [], lambda a, b: pa.array([], pa.string()))
        count = np.add.reduceat(self.ev_at <= now_s, self.ev_start[:-1], dtype=np.int64)
        visible = np.flatnonzero(count > 0)
        last = self.ev_start[visible] + count[visible] - 1
        upd = self.ev_at[last]
        if self.rated_at is not None:
            rated = self.rated_at[visible]
            upd = np.where((rated >= 0) & (rated <= now_s), np.maximum(upd, rated), upd)
        order = np.lexsort((self.id_rank[visible], upd))
        rec, last, upd = visible[order], last[order], upd[order]
        return Snapshot(
            upd, lambda a, b: self._ids(rec[a:b]), lambda a, b: self._render(rec[a:b], last[a:b], upd[a:b], now_s)
        )

    def _ids(self, rec: np.ndarray) -> list[str]:
        return [json.loads(literal) for literal in _pick(self.columns["id"], pa.array(rec)).to_pylist()]

    def _render(self, rec: np.ndarray, last: np.ndarray, upd: np.ndarray, now_s: int) -> pa.Array:
        rows, last_rows = pa.array(rec), pa.array(last)
        # The visible events of the page's records, record after record: [start, last] of each.
        starts = self.ev_start[rec]
        counts = last - starts + 1
        offsets = np.concatenate([[0], np.cumsum(counts)])
        events = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        event_rows = pa.array(events)
        history = pc.binary_join(
            pa.ListArray.from_arrays(
                pa.array(offsets, pa.int32()),
                _join(_pick(self.ev_head, event_rows), *_iso(self.ev_at[events]), _pick(self.ev_tail, event_rows)),
            ),
            ",",
        )
        status = self.ev_status.indices.to_numpy()[events]
        if self.answers:
            # The latest visible answer; a rating once it has arrived by «now».
            answer = np.maximum.reduceat(np.where(status == self.answered, events, -1), offsets[:-1])
            answered = answer >= 0
            answer_json = _join(
                '{"text":', _pick(self.columns["answer_text"], rows), ',"at":', *_iso(self.ev_at[answer], answered), "}"
            )
            rated_at = self.rated_at[rec]
            rated = (rated_at >= 0) & (rated_at <= now_s)
            rating_json = _join(
                '{"value":', _pick(self.columns["rating_value"], rows), ',"at":', *_iso(rated_at, rated), "}"
            )
            tail = [
                '"answer":',
                pc.if_else(pa.array(answered), answer_json, "null"),
                ',"rating":',
                pc.if_else(pa.array(rated), rating_json, "null"),
            ]
        else:
            # The first reaction (transition to in_work), if visible.
            none = len(self.ev_at)
            reaction = np.minimum.reduceat(np.where(status == self.in_work, events, none), offsets[:-1])
            tail = ['"reactionAt":', *_iso(self.ev_at[np.minimum(reaction, none - 1)], reaction < none)]
        return _join(
            *self._object(self.fields, rows),
            f',"{self.agency_key}":',
            _pick(self.ev_agency, last_rows),
            ',"status":',
            _pick(self.ev_status, last_rows),
            ',"statusHistory":[',
            history,
            "],",
            *tail,
            ',"updatedAt":',
            *_iso(upd),
            "}",
        )

    def _object(self, fields: dict, rows: pa.Array) -> list:
        """The parts of the JSON object of `fields` for the given rows, left open for the changing fields."""
        parts = []
        for i, (key, value) in enumerate(fields.items()):
            parts.append(("{" if i == 0 else ",") + json.dumps(key) + ":")
            if isinstance(value, dict):
                parts += [*self._object(value, rows), "}"]
            elif isinstance(column := self.columns[value], pa.DictionaryArray):
                parts.append(_pick(column, rows))
            else:
                times = column.take(rows)
                parts += _iso(
                    pc.fill_null(times.cast(pa.int64()), 0).to_numpy(), times.is_valid().to_numpy(zero_copy_only=False)
                )
        return parts


class Polls:
    """ПОС polls: votes accumulate linearly over the poll's run; a running poll changes hourly until it ends."""

    def __init__(self, options: pa.Table):
        self.rows = options.sort_by([("poll_id", "ascending"), ("option_id", "ascending")]).to_pylist()

    def snapshot(self, now: datetime) -> Snapshot:
        hour = now.replace(minute=0, second=0, microsecond=0)
        polls: dict[str, dict] = {}
        for row in self.rows:  # a few hundred polls
            if row["started_at"] > now:
                continue
            updated = max(row["started_at"], min(row["ended_at"], hour))
            share = (updated - row["started_at"]) / (row["ended_at"] - row["started_at"])
            poll = polls.setdefault(
                row["poll_id"],
                {
                    "id": row["poll_id"],
                    "regionCode": row["region_code"],
                    "oktmo": row["oktmo"],
                    "title": row["title"],
                    "question": row["question"],
                    "startedAt": row["started_at"].strftime(ISO),
                    "endedAt": row["ended_at"].strftime(ISO),
                    "options": [],
                    "updatedAt": updated.strftime(ISO),
                    "_upd": epoch_seconds(updated),
                },
            )
            poll["options"].append(
                {"id": row["option_id"], "text": row["option_text"], "votes": round(row["votes"] * share)}
            )
        ordered = sorted(polls.values(), key=lambda p: (p["_upd"], p["id"]))
        upd = np.array([p.pop("_upd") for p in ordered], dtype=np.int64)
        ids = [p["id"] for p in ordered]
        texts = pa.array([json.dumps(p, ensure_ascii=False) for p in ordered], pa.string())
        return Snapshot(upd, lambda a, b: ids[a:b], lambda a, b: texts[a:b])


def load_resources(api_dir: Path) -> dict[str, EventSourced | Polls]:
    """The three list endpoints over the generator's Parquet store."""
    return {
        "/pos/v1/messages": EventSourced(
            api_dir / "pos_messages.parquet",
            MESSAGE_FIELDS,
            api_dir / "pos_message_events.parquet",
            "message_id",
            "opaId",
            answers=True,
        ),
        "/pos/v1/polls": Polls(pq.read_table(api_dir / "polls.parquet")),
        "/im/v1/incidents": EventSourced(
            api_dir / "incidents.parquet",
            INCIDENT_FIELDS,
            api_dir / "incident_events.parquet",
            "incident_id",
            "agencyId",
        ),
    }
