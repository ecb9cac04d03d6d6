"""What the sandbox APIs show at a simulated «now»: the generated store seen through the clock.

A record is visible once its first event (registration) is ≤ now; its status, history, answer and rating are
those of the events ≤ now; `updatedAt` is the time of its last visible change. The store is loaded once; a clock
change recomputes only a few numpy arrays (events of a record are contiguous and increase in time, so the visible
events are a prefix), and a page renders just its own records.
"""

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.sandbox.arrow_utils import flat
from dagster_project.sandbox.arrow_utils import join as _join

ISO = "%Y-%m-%dT%H:%M:%SZ"


def epoch_seconds(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds())


def _seconds(column) -> np.ndarray:
    """A timestamp[s] column as int64 epoch seconds, -1 for null."""
    return pc.fill_null(column.cast(pa.timestamp("s")).cast(pa.int64()), -1).to_numpy()


def _iso(column) -> pa.Array:
    """Timestamps as wire strings (ISO-8601 with Z), null stays null. (A cast is much faster than strftime.)"""
    text = flat(pc.cast(column, pa.timestamp("s")).cast(pa.string()))
    return _join(pc.replace_substring(text, " ", "T"), "Z")


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


def _json_object(fields: dict[str, pa.Array], close: bool = True) -> pa.Array:
    """JSON objects from already-encoded values; `close=False` leaves the object open for more fields."""
    parts = []
    for i, (key, value) in enumerate(fields.items()):
        parts += [("{" if i == 0 else ",") + json.dumps(key) + ":", value]
    return _join(*parts, "}" if close else "")


class Snapshot:
    """The records visible at one «now», ordered by (updatedAt, id); a slice renders to JSON texts."""

    def __init__(self, upd: np.ndarray, ids: np.ndarray, render: Callable[[int, int], list[str]]):
        self.upd = upd  # updatedAt, epoch seconds, ascending
        self.ids = ids
        self._render = render

    def __len__(self) -> int:
        return len(self.upd)

    def json_items(self, start: int, stop: int) -> list[str]:
        return self._render(start, stop) if stop > start else []

    def start_after(self, upd: int, record_id: str) -> int:
        """Position of the first record after (upd, record_id) in (updatedAt, id) order."""
        lo = int(np.searchsorted(self.upd, upd, "left"))
        hi = int(np.searchsorted(self.upd, upd, "right"))
        return lo + int(np.searchsorted(self.ids[lo:hi], record_id, "right"))


class EventSourced:
    """Records that change through status events (ПОС messages, incidents).

    `static` is each record's JSON object without its closing brace (fields that never change); the changing
    fields are appended per page from pre-encoded event fragments.
    """

    def __init__(self, ids: pa.Array, static: pa.Array, events: pa.Table, id_column: str, agency_key: str,
                 answers: pa.Array | None = None, ratings: pa.Array | None = None, rated_at: np.ndarray | None = None):
        n = len(ids)
        self.static = static
        self.agency_key = agency_key
        self.answers, self.ratings, self.rated_at = answers, ratings, rated_at  # ПОС only
        self.ids = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=str)
        self.id_rank = np.empty(n, dtype=np.int64)
        self.id_rank[np.argsort(self.ids, kind="stable")] = np.arange(n)

        owner = pc.index_in(events[id_column], value_set=ids).to_numpy(zero_copy_only=False)
        order = np.lexsort((events["seq"].to_numpy(), owner))
        events = events.take(pa.array(order)).combine_chunks()
        self.ev_at = _seconds(events["at"])
        self.ev_at_iso = _iso(events["at"])
        self.ev_status = flat(events["status"])
        self.ev_agency = flat(events["agency_id"])
        self.ev_json = _json_object({"status": json_string(self.ev_status), "at": json_string(self.ev_at_iso),
                                     agency_key: json_string(self.ev_agency)})
        self.ev_start = np.searchsorted(owner[order], np.arange(n + 1))
        positions = np.arange(len(order))
        status = self.ev_status.to_numpy(zero_copy_only=False)
        # Latest answer / first reaction at or before each event (a position before the record's first event
        # belongs to another record and is ignored when rendering).
        self.ev_last_answer = np.maximum.accumulate(np.where(status == "answered", positions, -1))
        first_in_work = np.where(status == "in_work", positions, len(order))
        self.first_in_work = (np.minimum.reduceat(first_in_work, self.ev_start[:-1]) if len(order)
                              else np.zeros(0, dtype=np.int64))

    def snapshot(self, now: datetime) -> Snapshot:
        now_s = epoch_seconds(now)
        if not len(self.ev_at):
            return Snapshot(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str), lambda a, b: [])
        count = np.add.reduceat((self.ev_at <= now_s).astype(np.int64), self.ev_start[:-1])
        visible = np.flatnonzero(count > 0)
        last = self.ev_start[visible] + count[visible] - 1
        upd = self.ev_at[last]
        if self.rated_at is not None:
            rated = self.rated_at[visible]
            upd = np.where((rated >= 0) & (rated <= now_s), np.maximum(upd, rated), upd)
        order = np.lexsort((self.id_rank[visible], upd))
        rec, last, upd = visible[order], last[order], upd[order]
        return Snapshot(upd, self.ids[rec], lambda a, b: self._render(rec[a:b], last[a:b], upd[a:b], now_s))

    def _render(self, rec: np.ndarray, last: np.ndarray, upd: np.ndarray, now_s: int) -> list[str]:
        starts = self.ev_start[rec]
        counts = last - starts + 1
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        history = self.ev_json.take(pa.array(idx)).to_pylist()
        take_last = pa.array(last)
        status = self.ev_status.take(take_last).to_pylist()
        agency = self.ev_agency.take(take_last).to_pylist()
        static = self.static.take(pa.array(rec)).to_pylist()
        upd_iso = np.datetime_as_string(upd.astype("datetime64[s]"), unit="s")
        if self.answers is not None:
            answer_pos = self.ev_last_answer[last]
            answer_at = self.ev_at_iso.take(pa.array(np.maximum(answer_pos, 0))).to_pylist()
            answers = self.answers.take(pa.array(rec)).to_pylist()
            ratings = self.ratings.take(pa.array(rec)).to_pylist()
            rated = (self.rated_at[rec] >= 0) & (self.rated_at[rec] <= now_s)
        else:
            reaction_pos = self.first_in_work[rec]
            reaction_at = self.ev_at_iso.take(pa.array(np.minimum(reaction_pos, len(self.ev_at) - 1))).to_pylist()
        out, offset = [], 0
        for i in range(len(rec)):
            events = ",".join(history[offset: offset + counts[i]])
            offset += counts[i]
            if self.answers is not None:
                answer = f'{answers[i]}"{answer_at[i]}"}}' if answer_pos[i] >= starts[i] else "null"
                rating = ratings[i] if rated[i] else "null"
                tail = f'"answer":{answer},"rating":{rating}'
            else:
                tail = f'"reactionAt":"{reaction_at[i]}"' if reaction_pos[i] <= last[i] else '"reactionAt":null'
            out.append(f'{static[i]},"{self.agency_key}":"{agency[i]}","status":"{status[i]}",'
                       f'"statusHistory":[{events}],{tail},"updatedAt":"{upd_iso[i]}Z"}}')
        return out


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
            poll = polls.setdefault(row["poll_id"], {
                "id": row["poll_id"], "regionCode": row["region_code"], "oktmo": row["oktmo"], "title": row["title"],
                "question": row["question"], "startedAt": row["started_at"].strftime(ISO),
                "endedAt": row["ended_at"].strftime(ISO), "options": [], "updatedAt": updated.strftime(ISO),
                "_upd": epoch_seconds(updated),
            })
            poll["options"].append({"id": row["option_id"], "text": row["option_text"],
                                    "votes": round(row["votes"] * share)})
        ordered = sorted(polls.values(), key=lambda p: (p["_upd"], p["id"]))
        upd = np.array([p.pop("_upd") for p in ordered], dtype=np.int64)
        ids = np.array([p["id"] for p in ordered], dtype=str)
        texts = [json.dumps(p, ensure_ascii=False) for p in ordered]
        return Snapshot(upd, ids, lambda a, b: texts[a:b])


def load_resources(api_dir: Path) -> dict[str, EventSourced | Polls]:
    """The three list endpoints over the generator's Parquet store."""
    m = pq.read_table(api_dir / "pos_messages.parquet").combine_chunks()
    message_static = _json_object({
        "id": json_string(m["id"]), "regionCode": json_string(m["region_code"]),
        "oktmo": json_string(m["oktmo"]), "is59FZ": _json_value(m["is_59fz"]),
        "categoryCode": json_string(m["category_code"]), "subcategoryCode": json_string(m["subcategory_code"]),
        "text": json_string(m["text"]), "address": json_string(m["address"]),
        "author": _json_object({"name": json_string(m["author_name"]), "phone": json_string(m["author_phone"]),
                                "email": json_string(m["author_email"])}),
        "createdAt": json_string(_iso(m["created_at"])),
    }, close=False)
    answers = _join('{"text":', json_string(m["answer_text"]), ',"at":')  # + the answer time per page
    ratings = _json_object({"value": _json_value(m["rating_value"]), "at": json_string(_iso(m["rated_at"]))})
    i = pq.read_table(api_dir / "incidents.parquet").combine_chunks()
    incident_static = _json_object({
        "id": json_string(i["id"]), "regionCode": json_string(i["region_code"]), "oktmo": json_string(i["oktmo"]),
        "platform": json_string(i["platform"]), "postUrl": json_string(i["post_url"]),
        "author": _json_object({"handle": json_string(i["author_handle"]), "name": json_string(i["author_name"])}),
        "text": json_string(i["text"]), "categoryCode": json_string(i["category_code"]),
        "publishedAt": json_string(_iso(i["published_at"])), "detectedAt": json_string(_iso(i["detected_at"])),
    }, close=False)
    return {
        "/pos/v1/messages": EventSourced(
            flat(m["id"]), message_static, pq.read_table(api_dir / "pos_message_events.parquet"),
            "message_id", "opaId", answers=answers, ratings=ratings, rated_at=_seconds(m["rated_at"])),
        "/pos/v1/polls": Polls(pq.read_table(api_dir / "polls.parquet")),
        "/im/v1/incidents": EventSourced(
            flat(i["id"]), incident_static, pq.read_table(api_dir / "incident_events.parquet"),
            "incident_id", "agencyId"),
    }
