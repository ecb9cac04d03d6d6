"""Deterministic, vectorised generator of the sandbox data.

Appeals are generated in chunks; each chunk owns its own slice of the citizen pool (so repeat appeals are complete
inside a chunk) and its own random stream spawned from the seed, so the output depends only on the seed and the
scale. API records go to Parquet row groups (the server's backing store), СЭД and portal appeals to file exports.
"""

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sandbox import exports, texts
from sandbox.arrow_utils import digits as _digits
from sandbox.arrow_utils import join as _join
from sandbox.arrow_utils import take as _take
from sandbox.arrow_utils import ts_array
from sandbox.model import (
    ANS1,
    ANS2,
    ANS3,
    CHANNEL_SHARES,
    CHANNELS,
    CLOSE1,
    CLOSE2,
    EXT,
    EXTEND_P,
    FZ59_DEADLINE_DAYS,
    FZ59_EXTENSION_DAYS,
    HOURS_MESSAGES,
    HOURS_SOCIAL,
    INCIDENT_REACTION_HOURS,
    INWORK,
    POS_59FZ_SHARE,
    RATING_P,
    REDIR,
    REDIRECT_P,
    REG,
    REOPEN,
    REOPEN_P,
    RET,
    REWORK_P,
    SLOT_STATUS,
    UNANSWERED_P,
    UNKNOWN_CATEGORY_CODES,
    UNKNOWN_CATEGORY_SHARE,
    Model,
    build_model,
    burst_ground_truth,
    category_month_weights,
    category_texts,
    default_bursts,
    sample_bursts,
)
from sandbox.reference import Reference, load_reference

CHUNK_SIZE = 250_000
# The default volume (`make run`, `make superset`): the smallest round number at which the latest complete month
# ranks ≥ 80 % of the agencies that have sectors (measured: 185 of 212 for 2025-11, docs/sources.md) — a rating a
# newcomer can read — at ≈ 8 700 appeals a month over five regions, still well under a real region's flow.
DEFAULT_SCALE = 300_000
DAY = 86_400
HOUR = 3_600
PLATFORMS = ("vk", "telegram", "ok")
PLATFORM_SHARES = (0.55, 0.33, 0.12)


def generate(
    out_dir,
    inbox_dir,
    n_appeals: int,
    seed: int = 42,
    start: date = date(2023, 1, 1),
    end: date = date(2025, 12, 31),
    bad_rate: float = 0.01,
    reference: Reference | None = None,
    bursts: int | None = None,
) -> dict:
    """Generate the sandbox: `out_dir/api/*.parquet` for the HTTP server and file exports in `inbox_dir/{sed,portal}`.

    `n_appeals` ordinary appeals, then `bursts` labelled bursts of problems (default: BURSTS_PER_MILLION per million
    appeals, at least one) whose appeals come on top, each in one municipality × category (model.sample_bursts);
    their ground truth goes into `api/meta.json` under "bursts". The ordinary appeals do not depend on the bursts.
    Existing sandbox output is replaced: the api folder, and the export files an earlier generation wrote into the
    inbox (listed with their SHA-256 in `out_dir/exports.json`) if they are still there unchanged. No other file is
    deleted or overwritten.
    Returns a summary with record counts per source.
    """
    out_dir, inbox_dir = Path(out_dir), Path(inbox_dir)
    ref = reference or load_reference()
    model = build_model(ref, seed, start, end)
    api_dir = out_dir / "api"
    shutil.rmtree(api_dir, ignore_errors=True)
    api_dir.mkdir(parents=True)

    writers: dict[str, pq.ParquetWriter] = {}
    counts = {name: 0 for name in ("pos_messages", "pos_59fz", "pos_message_events", "incidents", "incident_events")}
    exporter = exports.Exporter(model, inbox_dir, seed=seed, bad_rate=bad_rate, manifest=out_dir / "exports.json")
    sentence_pool = category_texts(model)

    n_chunks = max(1, -(-n_appeals // CHUNK_SIZE))
    streams = np.random.SeedSequence(seed).spawn(n_chunks)
    # The bursts have their own random streams, so the ordinary appeals are the same with or without them.
    burst_table = sample_bursts(
        model, np.random.default_rng([seed, 23]), default_bursts(n_appeals) if bursts is None else bursts
    )
    chunks = [
        (chunk_no * CHUNK_SIZE, min(CHUNK_SIZE, n_appeals - chunk_no * CHUNK_SIZE), stream, None)
        for chunk_no, stream in enumerate(streams)
    ]
    if burst_table["size"].sum():
        chunks.append((n_appeals, int(burst_table["size"].sum()), np.random.SeedSequence([seed, 29]), burst_table))
    for base, n, stream, burst_rows in chunks:
        chunk = _sample_chunk(model, np.random.default_rng(stream), base, n, sentence_pool, burst_rows)
        for table_name, table in _api_tables(model, chunk).items():
            if table_name not in writers:
                writers[table_name] = pq.ParquetWriter(api_dir / f"{table_name}.parquet", table.schema)
            writers[table_name].write_table(table)
        pos, incident = chunk["channel"] == CHANNELS.index("pos"), chunk["channel"] == CHANNELS.index("incident")
        counts["pos_messages"] += int(pos.sum())
        counts["pos_59fz"] += int((pos & chunk["is_59fz"]).sum())
        counts["pos_message_events"] += int(chunk["M"][pos].sum())
        counts["incidents"] += int(incident.sum())
        counts["incident_events"] += int(chunk["M"][incident].sum())
        exporter.add_chunk(chunk)
    for writer in writers.values():
        writer.close()

    polls = _polls(model, np.random.default_rng([seed, 99]), n_appeals)
    pq.write_table(polls, api_dir / "polls.parquet")
    file_summary = exporter.finish()
    meta = {
        "seed": seed,
        "n_appeals": n_appeals,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "default_now": default_now(end).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bad_rate": bad_rate,
        "slow_agency_ids": model.slow_ids,
        "bursts": burst_ground_truth(model, burst_table, first_index=n_appeals),
    }
    (api_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2))
    n_polls = len(pc.unique(polls["poll_id"]))
    return {
        **counts,
        "polls": n_polls,
        "poll_options": polls.num_rows,
        **file_summary,
        "slow_agency_ids": model.slow_ids,
        "bursts": len(burst_table["size"]),
        "burst_appeals": int(burst_table["size"].sum()),
    }


def default_now(end: date) -> datetime:
    """The default simulated «now»: the end of the period (midnight UTC after its last day), naive UTC."""
    return datetime(end.year, end.month, end.day) + timedelta(days=1)


def _sample_chunk(
    model: Model, rng: np.random.Generator, base: int, n: int, sentence_pool, bursts: dict | None = None
) -> dict:
    """`n` appeals from `base` on; with `bursts` (model.sample_bursts), the `n` appeals of those bursts."""
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARES)
    is_incident = channel == CHANNELS.index("incident")
    if bursts is None:
        region, muni, created, offset, cat = _placement(model, rng, n, is_incident)
    else:
        region, muni, created, offset, cat = _burst_placement(model, rng, bursts)
    sector = model.cat_sector[cat]

    sub_pick = (rng.random(n) * np.maximum(model.sub_counts[cat], 1)).astype(np.int64)
    subcategory = model.sub_codes[cat, sub_pick]
    subcategory = np.where((model.sub_counts[cat] == 0) | (rng.random(n) < 0.1), None, subcategory)
    cls_pick = (rng.random(n) * model.cls_counts[cat]).astype(np.int64)
    classifier = model.cls_codes[cat, cls_pick]

    category_code = model.cat_codes[cat].astype(object)
    unknown = (channel != CHANNELS.index("sed")) & (rng.random(n) < UNKNOWN_CATEGORY_SHARE)
    legacy = rng.integers(0, len(UNKNOWN_CATEGORY_CODES), unknown.sum())
    category_code[unknown] = np.asarray(UNKNOWN_CATEGORY_CODES, dtype=object)[legacy]
    subcategory[unknown] = None

    combo = muni * len(model.sector_codes) + sector
    pick = (rng.random(n)[:, None] > model.cand_cumw[combo]).sum(axis=1)
    final_agency = model.cand_agency[combo, np.minimum(pick, model.cand_agency.shape[1] - 1)]
    redirect_p = np.asarray([REDIRECT_P[c] for c in CHANNELS])[channel]
    other_agency = model.region_agency_start[region] + (rng.random(n) * model.region_agency_count[region]).astype(
        np.int64
    )
    redirected = (rng.random(n) < redirect_p) & (other_agency != final_agency)
    initial_agency = np.where(redirected, other_agency, final_agency)

    is_59fz = (channel == CHANNELS.index("sed")) | (
        (channel == CHANNELS.index("pos")) & (rng.random(n) < POS_59FZ_SHARE)
    )
    speed = model.agency_speed[final_agency]
    slow = model.agency_is_slow[final_agency]
    T, M, deadline = _lifecycle(model, rng, n, channel, created, offset, cat, is_59fz, redirected, speed, slow)

    final_answer = np.where(M[:, ANS2], T[:, ANS2], T[:, ANS1])
    answered = M[:, ANS1]
    on_time = answered & (final_answer <= deadline)
    rated = answered & (rng.random(n) < np.asarray([RATING_P[c] for c in CHANNELS])[channel])
    rated_at = final_answer + ((0.3 + rng.lognormal(np.log(2.0), 0.6, n)) * DAY).astype(np.int64)
    score = (
        3.2
        + model.agency_quality[final_agency]
        + 0.8 * on_time
        - 0.6 * M[:, RET]
        - 0.4 * redirected
        + rng.normal(0, 0.9, n)
    )
    rating = np.clip(np.rint(score), 1, 5).astype(np.int64)

    citizen = _citizens(rng, region, base, len(model.region_codes))
    is_repeat = _repeat_flags(citizen, cat, created)
    person = persons(citizen)
    # Some citizens leave their phone in the text: the warehouse must mask it.
    text = _texts(rng, cat, sentence_pool, n)
    text = pc.if_else(pa.array(rng.random(n) < 0.05), _join(text, " Телефон для связи: ", person["phone"]), text)

    return {
        "n": n,
        "base": base,
        "channel": channel,
        "region": region,
        "muni": muni,
        "created": created,
        "offset": offset,
        "cat": cat,
        "category_code": category_code,
        "subcategory_code": subcategory,
        "classifier_code": classifier,
        "initial_agency": initial_agency,
        "final_agency": final_agency,
        "redirected": redirected,
        "is_59fz": is_59fz,
        "T": T,
        "M": M,
        "deadline": deadline,
        "rated": rated,
        "rated_at": rated_at,
        "rating": rating,
        "citizen": citizen,
        "is_repeat": is_repeat,
        "person": person,
        "address": _addresses(model, rng, muni, n),
        "text": text,
        "answer_text": np.asarray(texts.ANSWERS, dtype=object)[rng.integers(0, len(texts.ANSWERS), n)],
        "rng_extra": rng.integers(0, 2**62, n),
    }


def _placement(model: Model, rng: np.random.Generator, n: int, is_incident: np.ndarray):
    """Where and when ordinary appeals are: region, municipality (Pareto), day, local hour, category."""
    region = rng.choice(len(model.region_codes), n, p=model.region_weights)

    muni = np.empty(n, dtype=np.int64)
    for r in range(len(model.region_codes)):
        rows = np.flatnonzero(region == r)
        candidates = np.flatnonzero(model.muni_region == r)
        weights = model.muni_weights[candidates]
        muni[rows] = rng.choice(candidates, len(rows), p=weights / weights.sum())

    day = rng.choice(len(model.days), n, p=model.day_weights)
    hour = np.where(
        is_incident,
        rng.choice(24, n, p=np.asarray(HOURS_SOCIAL) / sum(HOURS_SOCIAL)),
        rng.choice(24, n, p=np.asarray(HOURS_MESSAGES) / sum(HOURS_MESSAGES)),
    )
    offset = model.region_offsets_s[region]
    created = model.days[day].astype("datetime64[s]").astype(np.int64) + hour * HOUR + rng.integers(0, HOUR, n) - offset

    # Category: per (region, month) distribution, so seasons and the sectors valid at the time are respected.
    months = model.days[day].astype("datetime64[M]")
    month_no = (months - np.datetime64(model.start, "M")).astype(np.int64)
    cat = np.empty(n, dtype=np.int64)
    group = region * model.n_months + month_no
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        r, m = divmod(int(g), model.n_months)
        weights = category_month_weights(model, r, np.datetime64(model.start, "M") + m)
        cat[rows] = rng.choice(len(model.cat_codes), len(rows), p=weights)
    return region, muni, created, offset, cat


def _burst_placement(model: Model, rng: np.random.Generator, bursts: dict):
    """The appeals of the bursts, ordered by burst: each in its burst's municipality and category, spread
    over its duration front-loaded (most arrive early, then the flow dies down)."""
    burst = np.repeat(np.arange(len(bursts["size"])), bursts["size"])
    spread = rng.beta(1.2, 3.0, len(burst)) * bursts["duration_s"][burst]
    created = bursts["onset"][burst] + spread.astype(np.int64)
    region = bursts["region"][burst]
    return region, bursts["muni"][burst], created, model.region_offsets_s[region], bursts["cat"][burst]


def _lifecycle(model, rng, n, channel, created, offset, cat, is_59fz, redirected, speed, slow):
    """Status slot times (n × slots, int64 seconds) and presence mask; see model.SLOT_STATUS."""
    S = len(SLOT_STATUS)
    T = np.zeros((n, S), dtype=np.int64)
    M = np.zeros((n, S), dtype=bool)
    is_incident = channel == CHANNELS.index("incident")
    T[:, REG] = created
    M[:, REG] = True

    t = created.copy()
    redirect_unit = np.where(is_incident, 2 * HOUR, DAY)  # social posts are re-routed within hours
    redirect_at = t + np.minimum((0.05 + rng.gamma(2.0, 0.8, n) * speed) * redirect_unit, 7 * DAY).astype(np.int64)
    T[:, REDIR] = redirect_at
    M[:, REDIR] = redirected
    t = np.where(redirected, redirect_at, t)

    reaction = (
        np.where(
            is_incident,
            # Social posts: most reactions within INCIDENT_REACTION_HOURS, the slow agencies miss it often.
            rng.exponential(INCIDENT_REACTION_HOURS / 2 * HOUR, n) * speed,
            0.5 * HOUR + rng.exponential(10 * HOUR, n) * speed,
        ).astype(np.int64)
        + 60
    )
    T[:, INWORK] = t + reaction
    M[:, INWORK] = True
    t = T[:, INWORK]

    local_day = ((created + offset) // DAY).astype("datetime64[D]")
    due_day = np.busday_offset(local_day, model.cat_deadline_wd[cat], roll="forward", holidays=model.holidays)
    wd_deadline = due_day.astype("datetime64[s]").astype(np.int64) + 18 * HOUR - offset
    deadline = np.where(is_59fz, created + FZ59_DEADLINE_DAYS * DAY, wd_deadline)

    extended = is_59fz & (rng.random(n) < EXTEND_P * np.where(slow, 2.5, 1.0))
    T[:, EXT] = t + ((deadline - t) * rng.uniform(0.5, 0.9, n)).astype(np.int64) + 60
    M[:, EXT] = extended
    deadline = deadline + extended * FZ59_EXTENSION_DAYS * DAY

    share_of_deadline = speed * rng.gamma(4.0, 0.25, n)
    answer_at = t + np.maximum((deadline - t) * share_of_deadline, 1800).astype(np.int64)
    answer_at = np.where(extended, np.maximum(answer_at, T[:, EXT] + HOUR), answer_at)
    answered = rng.random(n) >= UNANSWERED_P * np.where(slow, 4.0, 1.0)
    T[:, ANS1] = answer_at
    M[:, ANS1] = answered

    rework_p = np.asarray([REWORK_P[c] for c in CHANNELS])[channel] * np.where(slow, 2.0, 1.0)
    rework = answered & (rng.random(n) < rework_p)
    T[:, RET] = answer_at + ((0.5 + rng.exponential(1.5, n)) * DAY).astype(np.int64)
    T[:, ANS2] = T[:, RET] + (rng.gamma(2.0, 1.5, n) * speed * DAY).astype(np.int64) + HOUR
    M[:, RET] = M[:, ANS2] = rework
    final_answer = np.where(rework, T[:, ANS2], answer_at)

    close_delay = np.where(
        channel == CHANNELS.index("sed"),
        rng.uniform(0.1, 2.0, n),
        np.where(is_incident, rng.uniform(0.2, 2.0, n), 1.0 + rng.exponential(3.0, n)),
    )
    T[:, CLOSE1] = final_answer + (close_delay * DAY).astype(np.int64)
    M[:, CLOSE1] = answered

    reopen_p = np.asarray([REOPEN_P[c] for c in CHANNELS])[channel] * np.where(slow, 2.0, 1.0)
    reopen = answered & (rng.random(n) < reopen_p)
    T[:, REOPEN] = T[:, CLOSE1] + (rng.uniform(1, 20, n) * DAY).astype(np.int64)
    T[:, ANS3] = T[:, REOPEN] + (rng.gamma(2.0, 2.0, n) * speed * DAY).astype(np.int64) + HOUR
    T[:, CLOSE2] = T[:, ANS3] + (rng.uniform(1, 5, n) * DAY).astype(np.int64)
    M[:, REOPEN] = M[:, ANS3] = M[:, CLOSE2] = reopen
    return T, M, deadline


def _citizens(rng, region, base, n_regions) -> np.ndarray:
    """Citizen ids from this chunk's own pool: 30 % of appeals come from a small set of frequent writers."""
    citizen = np.empty(len(region), dtype=np.int64)
    pool_start = base  # pools of different chunks never overlap: a chunk never has more citizens than appeals
    for r in range(n_regions):
        rows = np.flatnonzero(region == r)
        pool = max(20, int(len(rows) / 2.5))
        frequent = max(5, pool // 20)
        local = np.where(
            rng.random(len(rows)) < 0.3, rng.integers(0, frequent, len(rows)), rng.integers(0, pool, len(rows))
        )
        citizen[rows] = pool_start + local
        pool_start += pool
    return citizen


def _repeat_flags(citizen, cat, created) -> np.ndarray:
    """True for an appeal whose citizen already wrote about the same category earlier."""
    order = np.lexsort((created, cat, citizen))
    same = np.zeros(len(citizen), dtype=bool)
    same[1:] = (citizen[order][1:] == citizen[order][:-1]) & (cat[order][1:] == cat[order][:-1])
    flags = np.empty(len(citizen), dtype=bool)
    flags[order] = same
    return flags


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a stable hash, so a citizen's personal data depends only on the citizen id."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def persons(citizen: np.ndarray) -> dict[str, pa.Array]:
    """Fake personal data of citizens: ФИО, phone +7 9XX XXX-XX-XX, e-mail, social handle, social display name."""
    h = _mix(citizen)
    female = (h & np.uint64(1)).astype(np.int64)
    n_sur = len(texts.SURNAMES)
    surname_idx = ((h >> np.uint64(1)) % np.uint64(n_sur)).astype(np.int64)
    first_idx = ((h >> np.uint64(9)) % np.uint64(40)).astype(np.int64)
    patr_idx = ((h >> np.uint64(17)) % np.uint64(40)).astype(np.int64)
    phone = ((h >> np.uint64(24)) % np.uint64(10**9)).astype(np.int64)
    year = 1950 + ((h >> np.uint64(54)) % np.uint64(56)).astype(np.int64)
    style = ((h >> np.uint64(60)) % np.uint64(4)).astype(np.int64)
    domain = ((h >> np.uint64(50)) % np.uint64(len(texts.EMAIL_DOMAINS))).astype(np.int64)

    surname = _take([s[0] for s in texts.SURNAMES] + [s[1] for s in texts.SURNAMES], surname_idx + female * n_sur)
    first = _take(texts.MALE_FIRST + texts.FEMALE_FIRST, first_idx + female * 40)
    patronymic = _take(texts.PATRONYMIC_M + texts.PATRONYMIC_F, patr_idx + female * 40)
    sur_lat = _join(_take([s[2] for s in texts.SURNAMES], surname_idx), _take(("", "a"), female))
    first_lat = _take(texts.MALE_FIRST_LAT + texts.FEMALE_FIRST_LAT, first_idx + female * 40)
    year_s = pa.array(year).cast(pa.string())
    short_year = _digits(year % 100, 2)
    initial = pc.utf8_slice_codeunits(first_lat, 0, 1)
    login = pc.if_else(
        pa.array(style == 0),
        _join(sur_lat, ".", first_lat),
        pc.if_else(
            pa.array(style == 1),
            _join(first_lat, ".", sur_lat, short_year),
            pc.if_else(pa.array(style == 2), _join(sur_lat, year_s), _join(initial, sur_lat)),
        ),
    )
    return {
        "name": _join(surname, " ", first, " ", patronymic),
        "phone": _join(
            "+7 9",
            _digits(phone // 10**7, 2),
            " ",
            _digits(phone // 10**4 % 1000, 3),
            "-",
            _digits(phone // 100 % 100, 2),
            "-",
            _digits(phone % 100, 2),
        ),
        "email": _join(login, "@", _take(texts.EMAIL_DOMAINS, domain)),
        "handle": _join(_take(texts.HANDLE_WORDS, phone % len(texts.HANDLE_WORDS)), "_", first_lat, short_year),
        "display_name": _join(first, " ", surname),
    }


def _addresses(model: Model, rng, muni, n) -> pa.Array:
    town = pc.replace_substring(_take(model.muni_name, muni), "город ", "г. ")
    street = _take(texts.STREETS, rng.integers(0, len(texts.STREETS), n))
    house = pa.array(rng.integers(1, 120, n)).cast(pa.string())
    flat = pc.if_else(
        pa.array(rng.random(n) < 0.6), _join(", кв. ", pa.array(rng.integers(1, 200, n)).cast(pa.string())), ""
    )
    return _join(town, ", ", street, ", д. ", house, flat)


def _texts(rng, cat, sentence_pool, n) -> pa.Array:
    pool, offsets, counts = sentence_pool
    sentence = _take(pool, offsets[cat] + (rng.random(n) * counts[cat]).astype(np.int64))
    opening = _take(texts.OPENINGS, rng.integers(0, len(texts.OPENINGS), n))
    duration = pc.if_else(
        pa.array(rng.random(n) < 0.5),
        _join(
            " ",
            _take(texts.DURATIONS, rng.integers(0, len(texts.DURATIONS), n)),
            " ",
            pa.array(rng.integers(2, 60, n)).cast(pa.string()),
            " дн.",
        ),
        "",
    )
    closing = _take(texts.CLOSINGS, rng.integers(0, len(texts.CLOSINGS), n))
    return pc.utf8_trim_whitespace(_join(opening, " ", sentence, duration, " ", closing))


def events_table(model: Model, chunk: dict, rows: np.ndarray, ids: pa.Array, id_column: str) -> pa.Table:
    """One row per present status slot of the given appeals, in slot (= time) order."""
    M = chunk["M"][rows]
    r, s = np.nonzero(M)
    first = np.concatenate([[0], np.cumsum(M.sum(axis=1))[:-1]])
    seq = np.arange(len(r)) - first[r] + 1
    agency = np.where((s == REG), chunk["initial_agency"][rows][r], chunk["final_agency"][rows][r])
    return pa.table(
        {
            id_column: ids.take(pa.array(r)),
            "seq": pa.array(seq, pa.int32()),
            "status": _take(SLOT_STATUS, s),
            "at": ts_array(chunk["T"][rows][r, s]),
            "agency_id": _take(model.agency_ids, agency),
        }
    )


def _api_tables(model: Model, chunk: dict) -> dict[str, pa.Table]:
    out = {}
    pos = np.flatnonzero(chunk["channel"] == CHANNELS.index("pos"))
    inc = np.flatnonzero(chunk["channel"] == CHANNELS.index("incident"))
    region_code = _take(model.region_codes, chunk["region"])
    oktmo = _take(model.muni_oktmo, chunk["muni"])
    person = chunk["person"]
    gidx = chunk["base"] + np.arange(chunk["n"])

    pos_take = pa.array(pos)
    pos_ids = _join("POS-", region_code.take(pos_take), "-", _digits(gidx[pos], 8))
    address = chunk["address"].take(pos_take)
    out["pos_messages"] = pa.table(
        {
            "id": pos_ids,
            "region_code": region_code.take(pos_take),
            "oktmo": oktmo.take(pos_take),
            "is_59fz": pa.array(chunk["is_59fz"][pos]),
            "category_code": pa.array(chunk["category_code"][pos], pa.string()),
            "subcategory_code": pa.array(chunk["subcategory_code"][pos], pa.string()),
            "text": chunk["text"].take(pos_take),
            "address": pc.if_else(pa.array(chunk["rng_extra"][pos] % 10 == 0), pa.scalar(None, pa.string()), address),
            "author_name": person["name"].take(pos_take),
            "author_phone": person["phone"].take(pos_take),
            "author_email": person["email"].take(pos_take),
            "created_at": ts_array(chunk["created"][pos]),
            "answer_text": pa.array(chunk["answer_text"][pos], pa.string()),
            "rating_value": pa.array(chunk["rating"][pos], pa.int8(), mask=~chunk["rated"][pos]),
            "rated_at": ts_array(chunk["rated_at"][pos], chunk["rated"][pos]),
        }
    )
    out["pos_message_events"] = events_table(model, chunk, pos, pos_ids, "message_id")

    inc_take = pa.array(inc)
    rnd = chunk["rng_extra"][inc]
    platform_idx = np.searchsorted(np.cumsum(PLATFORM_SHARES), (rnd % 1000) / 1000.0, side="right")
    post_no = pa.array(1000 + rnd // 1000 % 900_000).cast(pa.string())
    group_no = pa.array(10_000_000 + rnd // 10**9 % 90_000_000).cast(pa.string())
    platform = _take(PLATFORMS, platform_idx)
    handle = person["handle"].take(inc_take)
    post_url = pc.if_else(
        pc.equal(platform, "vk"),
        _join("https://vk.com/wall-", group_no, "_", post_no),
        pc.if_else(
            pc.equal(platform, "telegram"),
            _join("https://t.me/", handle, "/", post_no),
            _join("https://ok.ru/group/", group_no, "/topic/", post_no),
        ),
    )
    created = chunk["created"][inc]
    prefix = _take(texts.INCIDENT_PREFIXES, rnd % len(texts.INCIDENT_PREFIXES))
    inc_ids = _join("INC-", region_code.take(inc_take), "-", _digits(gidx[inc], 8))
    out["incidents"] = pa.table(
        {
            "id": inc_ids,
            "region_code": region_code.take(inc_take),
            "oktmo": oktmo.take(inc_take),
            "platform": platform,
            "post_url": post_url,
            "author_handle": handle,
            "author_name": person["display_name"].take(inc_take),
            "text": pc.utf8_trim_whitespace(_join(prefix, " ", chunk["text"].take(inc_take))),
            "category_code": pa.array(chunk["category_code"][inc], pa.string()),
            "published_at": ts_array(created - (600 + rnd % (6 * HOUR))),
            "detected_at": ts_array(created),
        }
    )
    out["incident_events"] = events_table(model, chunk, inc, inc_ids, "incident_id")
    return out


def _polls(model: Model, rng: np.random.Generator, n_appeals: int) -> pa.Table:
    """Polls and votes (ПОС): one row per option with its final vote count; the server scales votes by the clock."""
    n_polls = int(np.clip(n_appeals // 2500, 20, 400))
    region = rng.choice(len(model.region_codes), n_polls, p=model.region_weights)
    template = rng.integers(0, len(texts.POLLS), n_polls)
    period_s = (model.days[-1] - model.days[0]).astype(np.int64) * DAY
    started = model.days[0].astype("datetime64[s]").astype(np.int64) + rng.integers(0, period_s, n_polls)
    ended = started + rng.integers(7, 31, n_polls) * DAY
    total = rng.lognormal(np.log(1500), 1.0, n_polls).astype(np.int64) + 20
    rows = []
    for p in range(n_polls):  # a few hundred polls: a plain loop is clearer than vectorising
        title, question, options = texts.POLLS[template[p]]
        munis = np.flatnonzero(model.muni_region == region[p])
        regional = rng.random() < 0.5
        oktmo = None if regional else str(model.muni_oktmo[rng.choice(munis)])
        shares = rng.dirichlet(np.ones(len(options)) * 2.0)
        year = str(started[p].astype("datetime64[s]").astype(object).year)
        for o, option in enumerate(options):
            rows.append(
                {
                    "poll_id": f"POLL-{model.region_codes[region[p]]}-{p + 1:05d}",
                    "region_code": str(model.region_codes[region[p]]),
                    "oktmo": oktmo,
                    "title": f"{title} — {year}",
                    "question": question,
                    "option_id": f"{o + 1}",
                    "option_text": option,
                    "votes": int(round(total[p] * shares[o])),
                    "started_at": started[p],
                    "ended_at": ended[p],
                }
            )
    table = pa.Table.from_pylist(rows)
    return table.set_column(
        table.schema.get_field_index("started_at"), "started_at", ts_array(table["started_at"].to_numpy())
    ).set_column(table.schema.get_field_index("ended_at"), "ended_at", ts_array(table["ended_at"].to_numpy()))
