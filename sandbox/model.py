"""The generative model of the sandbox: who writes about what, where, when, and how each agency answers.

Everything here is derived from the seeds once per `generate` call and is then sampled from in vectorised chunks
(see generator.py). Timestamps are int64 seconds since the epoch, UTC.
"""

import re
from dataclasses import dataclass
from datetime import date

import holidays
import numpy as np

from sandbox import texts
from sandbox.reference import Reference

CHANNELS = ("pos", "incident", "sed", "portal")
CHANNEL_SHARES = (0.55, 0.20, 0.12, 0.13)
POS_59FZ_SHARE = 0.15
INCIDENT_REACTION_HOURS = 8  # documented reaction deadline of Инцидент Менеджмент; the warehouse may configure its own
FZ59_DEADLINE_DAYS = 30  # calendar days from registration, 59-ФЗ art. 12
FZ59_EXTENSION_DAYS = 30
UNKNOWN_CATEGORY_SHARE = 0.003  # legacy codes a source still sends; the warehouse maps them to «не определено»
UNKNOWN_CATEGORY_CODES = ("gkh.17", "misc.00", "blago.05")

# Status lifecycle slots. Each appeal has a fixed row of slots; a slot is present or not, and present slots are
# strictly increasing in time, so the order of slots is the order of events.
SLOT_STATUS = (
    "registered",
    "redirected",
    "in_work",
    "extended",
    "answered",
    "returned_for_rework",
    "answered",
    "closed",
    "reopened",
    "answered",
    "closed",
)
REG, REDIR, INWORK, EXT, ANS1, RET, ANS2, CLOSE1, REOPEN, ANS3, CLOSE2 = range(len(SLOT_STATUS))
ANSWER_SLOTS = (ANS1, ANS2, ANS3)

# Side moves per channel: redirect, extension (59-ФЗ only), return for rework, reopen. Portals have no redirect:
# their executor is fixed by the portal operator; СЭД has no rework/reopen: a 59-ФЗ answer is final.
REDIRECT_P = {"pos": 0.06, "incident": 0.05, "sed": 0.08, "portal": 0.0}
EXTEND_P = 0.08
REWORK_P = {"pos": 0.06, "incident": 0.0, "sed": 0.0, "portal": 0.08}
REOPEN_P = {"pos": 0.02, "incident": 0.0, "sed": 0.0, "portal": 0.03}
RATING_P = {"pos": 0.4, "incident": 0.0, "sed": 0.0, "portal": 0.3}
UNANSWERED_P = 0.015
# The sandbox is a sample of a real flow (ПОС gets about one appeal a month per 100–150 inhabitants); at the sample's
# volume a small municipality's administration would get 0–1 appeals a month and could never be rated (≥ 10 a month,
# var rating_min_appeals). So every municipality weighs at least as much as one of this population: the towns above
# it keep their Pareto shape, the small ones get the volume a real month gives them.
MUNICIPALITY_FLOOR_POPULATION = 60_000
# Who answers an appeal of a municipality's sector, relative weights: ПОС routes local matters (yards, roads, waste,
# schools) to the municipal administration first, the sector's РОИВ and subordinate organisations take the rest.
RESPONSIBLE_KIND_WEIGHTS = {"ОМСУ": 3.0, "РОИВ": 1.0, "подведомственная": 0.5}

SECTOR_WEIGHTS = {
    "housing": 0.30,
    "roads": 0.14,
    "waste": 0.09,
    "energy": 0.08,
    "health": 0.10,
    "transport": 0.08,
    "education": 0.07,
    "social": 0.07,
}
OTHER_SECTOR_WEIGHT = 0.03
OTHER_CATEGORY_SHARE = 0.12  # share of «прочие по направлению» inside its sector

# Month profiles (Jan..Dec) of the seasonal categories, matched by the category name.
SEASONS = {
    "flat": (1,) * 12,
    "heating": (1.6, 1.2, 0.8, 0.4, 0.25, 0.2, 0.2, 0.3, 1.2, 4.0, 3.4, 2.0),
    "snow": (3.5, 3.0, 1.5, 0.3, 0.05, 0.02, 0.02, 0.02, 0.05, 0.4, 1.8, 3.2),
    "pothole": (0.5, 0.6, 1.8, 3.5, 3.0, 1.5, 1.0, 0.9, 0.8, 0.7, 0.5, 0.4),
    "waste": (0.6, 0.6, 0.8, 1.0, 1.4, 2.2, 2.6, 2.4, 1.4, 1.0, 0.7, 0.7),
}
SEASON_PATTERNS = (
    ("heating", r"отоплен|теплоснабж"),
    ("snow", r"снег|налед|гололед|гололёд|сосул"),
    ("pothole", r"\bям|выбоин|асфальт"),
    ("waste", r"тко|отход|мусор|свалк|контейнер"),
)
# Local hour-of-day profiles: messages follow the working day, social posts the evening.
HOURS_MESSAGES = (
    0.15,
    0.08,
    0.05,
    0.04,
    0.05,
    0.15,
    0.4,
    0.9,
    1.5,
    2.0,
    2.2,
    2.1,
    1.8,
    1.9,
    2.0,
    1.9,
    1.7,
    1.6,
    1.6,
    1.7,
    1.6,
    1.2,
    0.7,
    0.35,
)
HOURS_SOCIAL = (
    0.5,
    0.3,
    0.15,
    0.1,
    0.1,
    0.2,
    0.5,
    0.9,
    1.2,
    1.4,
    1.5,
    1.5,
    1.5,
    1.5,
    1.5,
    1.5,
    1.6,
    1.8,
    2.0,
    2.2,
    2.3,
    2.1,
    1.6,
    1.0,
)
WEEKDAY_WEIGHTS = (1.15, 1.08, 1.05, 1.03, 0.97, 0.6, 0.5)


def season_of(category_code: str, sector_code: str, category_name: str) -> str:
    name = category_name.lower()
    for season, pattern in SEASON_PATTERNS:
        if re.search(pattern, name):
            return season
    return "waste" if sector_code == "waste" else "flat"


def slow_agency_ids(ref: Reference) -> list[str]:
    """The one agency per region that is slow and poorly rated by construction.

    Rule: the РОИВ answering for the `housing` sector with the smallest `agency_id` (the busiest block, so the
    effect is visible in every rating). Its answers take ~1.5× the deadline and its ratings are low.
    """
    roiv = ref.agencies.loc[ref.agencies["agency_kind"] == "РОИВ", ["agency_id", "region_code"]]
    housing = set(ref.agency_sectors.loc[ref.agency_sectors["sector_code"] == "housing", "agency_id"])
    chosen = roiv[roiv["agency_id"].isin(housing)].sort_values("agency_id").groupby("region_code").head(1)
    return sorted(chosen["agency_id"])


def ru_holidays(start: date, end: date) -> np.ndarray:
    days = holidays.country_holidays("RU", years=range(start.year, end.year + 2))
    return np.array(sorted(days.keys()), dtype="datetime64[D]")


@dataclass
class Model:
    """Arrays indexed by region / municipality / category / agency position, ready for vectorised sampling."""

    ref: Reference
    start: date
    end: date
    region_codes: np.ndarray
    region_offsets_s: np.ndarray
    region_weights: np.ndarray
    muni_oktmo: np.ndarray
    muni_region: np.ndarray
    muni_name: np.ndarray
    muni_is_capital: np.ndarray
    muni_weights: np.ndarray
    cat_codes: np.ndarray
    cat_sector: np.ndarray  # sector index
    cat_deadline_wd: np.ndarray
    cat_season: np.ndarray  # index into SEASONS
    cat_base_weight: np.ndarray
    sector_codes: np.ndarray
    region_sector_valid_from: np.ndarray  # (n_regions, n_sectors) datetime64[D], NaT = not a sector of the region
    sub_codes: np.ndarray  # (n_categories, max_sub) padded with ""
    sub_counts: np.ndarray
    cls_codes: np.ndarray  # (n_categories, max_cls) classifier codes of the category, or of its sector
    cls_counts: np.ndarray
    agency_ids: np.ndarray
    agency_speed: np.ndarray  # multiplier of the share of the deadline used
    agency_is_slow: np.ndarray
    agency_quality: np.ndarray  # shifts ratings
    region_agency_start: np.ndarray  # agencies are sorted by region: [start, start+count)
    region_agency_count: np.ndarray
    cand_agency: np.ndarray  # (n_muni * n_sectors, max_cand) responsible agency candidates
    cand_cumw: np.ndarray
    slow_ids: list[str]
    days: np.ndarray  # datetime64[D] of the period
    day_weights: np.ndarray
    holidays: np.ndarray

    @property
    def n_months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1


def build_model(ref: Reference, seed: int, start: date, end: date) -> Model:
    rng = np.random.default_rng([seed, 7])
    regions = ref.regions
    region_codes = regions["region_code"].to_numpy()
    region_index = {code: i for i, code in enumerate(region_codes)}

    munis = ref.municipalities
    muni_region = munis["region_code"].map(region_index).to_numpy()
    population = munis["population"].to_numpy(dtype=float)
    # Pareto over municipalities: super-linear in population (floored, see MUNICIPALITY_FLOOR_POPULATION), the capital
    # gets an extra pull.
    floored = np.maximum(population, MUNICIPALITY_FLOOR_POPULATION)
    muni_weights = floored**1.05 * np.where(munis["is_capital"].to_numpy(), 1.8, 1.0)
    region_weights = np.bincount(muni_region, weights=population, minlength=len(region_codes))
    region_weights = region_weights / region_weights.sum()

    cats = ref.categories
    sector_codes = np.array(sorted(set(cats["sector_code"]) | set(ref.region_sectors["sector_code"])))
    sector_index = {code: i for i, code in enumerate(sector_codes)}
    cat_sector = cats["sector_code"].map(sector_index).to_numpy()
    season_names = tuple(SEASONS)
    cat_season = np.array(
        [
            season_names.index(season_of(c, s, n))
            for c, s, n in zip(cats["category_code"], cats["sector_code"], cats["category_name"])
        ]
    )
    cat_base_weight = np.zeros(len(cats))
    for sector_code, group in cats.groupby("sector_code"):
        regular = group.index[~group["is_other"]].to_numpy()
        other = group.index[group["is_other"]].to_numpy()
        zipf = 1.0 / (np.arange(len(regular)) + 1.0) ** 0.4
        sector_weight = SECTOR_WEIGHTS.get(sector_code, OTHER_SECTOR_WEIGHT)
        other_share = OTHER_CATEGORY_SHARE if len(other) else 0.0
        cat_base_weight[regular] = sector_weight * (1 - other_share) * zipf / zipf.sum()
        if len(other):
            cat_base_weight[other] = sector_weight * other_share / len(other)

    valid_from = np.full((len(region_codes), len(sector_codes)), np.datetime64("NaT"), dtype="datetime64[D]")
    for row in ref.region_sectors.itertuples():
        if row.region_code in region_index and row.sector_code in sector_index:
            valid_from[region_index[row.region_code], sector_index[row.sector_code]] = np.datetime64(
                row.valid_from.date(), "D"
            )

    cat_codes = cats["category_code"].to_numpy()
    cat_pos = {code: i for i, code in enumerate(cat_codes)}
    sub_lists = [[] for _ in cat_codes]
    for row in ref.subcategories.itertuples():
        if row.category_code in cat_pos:
            sub_lists[cat_pos[row.category_code]].append(row.subcategory_code)
    sub_codes, sub_counts = _pad(sub_lists)

    # 59-ФЗ appeals carry a classifier code: one mapped to the category, else one of the same sector.
    cls_by_cat = {c: [] for c in cat_codes}
    cls_by_sector = {s: [] for s in sector_codes}
    for row in ref.classifier_codes.itertuples():
        if row.category_code in cls_by_cat:
            cls_by_cat[row.category_code].append(row.classifier_code)
            cls_by_sector[row.category_code.split(".")[0]].append(row.classifier_code)
    all_cls = list(ref.classifier_codes["classifier_code"])
    cls_codes, cls_counts = _pad([cls_by_cat[c] or cls_by_sector[c.split(".")[0]] or all_cls for c in cat_codes])

    agencies = ref.agencies.assign(region_pos=ref.agencies["region_code"].map(region_index))
    agencies = agencies.sort_values(["region_pos", "agency_id"]).reset_index(drop=True)
    agency_ids = agencies["agency_id"].to_numpy()
    agency_region = agencies["region_pos"].to_numpy()
    region_agency_count = np.bincount(agency_region, minlength=len(region_codes))
    region_agency_start = np.concatenate([[0], np.cumsum(region_agency_count)[:-1]])

    slow_ids = slow_agency_ids(ref)
    is_slow = np.isin(agency_ids, slow_ids)
    agency_speed = np.where(is_slow, 1.45, np.clip(rng.lognormal(np.log(0.6), 0.25, len(agency_ids)), 0.3, 1.0))
    agency_quality = np.where(is_slow, -1.3, rng.normal(0.3, 0.45, len(agency_ids)))

    # Responsible-agency candidates per (municipality, sector): the municipality's ОМСУ, the sector's РОИВ,
    # subordinate organisations; a region-wide РОИВ when nobody answers for the sector.
    sectors_of = ref.agency_sectors.groupby("agency_id")["sector_code"].apply(set).to_dict()
    by_region = [[] for _ in region_codes]
    for i, (agency_id, kind, oktmo) in enumerate(zip(agency_ids, agencies["agency_kind"], agencies["oktmo"])):
        by_region[agency_region[i]].append((i, kind, oktmo, sectors_of.get(agency_id, set())))
    cand_lists, cand_weights = [], []
    for r, oktmo in zip(muni_region, munis["oktmo"]):
        fallback = next((a[0] for a in by_region[r] if a[1] == "РОИВ"), by_region[r][0][0])
        for sector in sector_codes:
            found = [
                (i, RESPONSIBLE_KIND_WEIGHTS.get(kind, 0.5))
                for i, kind, a_oktmo, sectors in by_region[r]
                if sector in sectors and (kind != "ОМСУ" or a_oktmo == oktmo)
            ]
            found = found or [(fallback, 1.0)]
            cand_lists.append([i for i, _ in found])
            cand_weights.append([w for _, w in found])
    cand_agency, _ = _pad(cand_lists, fill=0)
    cand_w, _ = _pad(cand_weights, fill=0.0)
    cand_cumw = np.cumsum(cand_w, axis=1)
    cand_cumw = cand_cumw / cand_cumw[:, -1:]

    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    hol = ru_holidays(start, end)
    weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    trend = 1.0 + 0.25 * np.arange(len(days)) / max(len(days) - 1, 1)  # feedback channels grow over the years
    day_weights = np.asarray(WEEKDAY_WEIGHTS)[weekday] * trend * np.where(np.isin(days, hol), 0.6, 1.0)

    return Model(
        ref=ref,
        start=start,
        end=end,
        region_codes=region_codes,
        region_offsets_s=regions["utc_offset_hours"].to_numpy(dtype="int64") * 3600,
        region_weights=region_weights,
        muni_oktmo=munis["oktmo"].to_numpy(),
        muni_region=muni_region,
        muni_name=munis["municipality_name"].to_numpy(),
        muni_is_capital=munis["is_capital"].to_numpy(),
        muni_weights=muni_weights,
        cat_codes=cat_codes,
        cat_sector=cat_sector,
        cat_deadline_wd=cats["deadline_working_days"].to_numpy(dtype="int64"),
        cat_season=cat_season,
        cat_base_weight=cat_base_weight,
        sector_codes=sector_codes,
        region_sector_valid_from=valid_from,
        sub_codes=sub_codes,
        sub_counts=sub_counts,
        cls_codes=cls_codes,
        cls_counts=cls_counts,
        agency_ids=agency_ids,
        agency_speed=agency_speed,
        agency_is_slow=is_slow,
        agency_quality=agency_quality,
        region_agency_start=region_agency_start,
        region_agency_count=region_agency_count,
        cand_agency=cand_agency,
        cand_cumw=cand_cumw,
        slow_ids=slow_ids,
        days=days,
        day_weights=day_weights / day_weights.sum(),
        holidays=hol,
    )


def _pad(lists: list[list], fill="") -> tuple[np.ndarray, np.ndarray]:
    width = max(1, max(len(x) for x in lists))
    counts = np.array([len(x) for x in lists])
    out = np.array([list(x) + [fill] * (width - len(x)) for x in lists])
    return out, counts


def category_month_weights(model: Model, region: int, month_start: np.datetime64) -> np.ndarray:
    """Category distribution of one region in one month: base weights × season × sectors valid then."""
    month = int(month_start.astype("datetime64[M]").astype(int) % 12)
    season = np.array([SEASONS[name][month] for name in SEASONS])
    valid_from = model.region_sector_valid_from[region, model.cat_sector]
    active = ~np.isnat(valid_from) & (valid_from <= month_start + np.timedelta64(27, "D"))
    weights = model.cat_base_weight * season[model.cat_season] * active
    return weights / weights.sum()


def category_texts(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened complaint sentences per category: (pool, offset per category, count per category)."""
    pools = [
        texts.category_sentences(code, name)
        for code, name in zip(model.ref.categories["category_code"], model.ref.categories["category_name"])
    ]
    counts = np.array([len(p) for p in pools])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.array([s for p in pools for s in p]), offsets, counts


# Labelled bursts of problems (a heating outage in a town, a road closed by snow, a water main break): many appeals
# in one municipality × category within hours. Sizes are lognormal around BURST_MEDIAN_SIZE appeals, durations
# uniform; the municipality is drawn by √(its usual weight), so small towns get bursts too; the category by the
# region's categories of that month (a heating outage in winter, potholes in spring).
BURSTS_PER_MILLION = 60
BURST_MEDIAN_SIZE = 30
BURST_SIZE_SIGMA = 0.5
BURST_SIZE_RANGE = (12, 150)
BURST_DURATION_HOURS = (6, 72)
BURST_WARMUP_DAYS = 60  # no burst before the detector has a baseline


def default_bursts(n_appeals: int) -> int:
    return max(1, round(n_appeals * BURSTS_PER_MILLION / 1_000_000))


def sample_bursts(model: Model, rng: np.random.Generator, n_bursts: int) -> dict[str, np.ndarray]:
    """The bursts as arrays by burst, sorted by onset (int64 UTC seconds)."""
    period_start = np.datetime64(model.start, "s").astype(np.int64) + BURST_WARMUP_DAYS * 86_400
    period_end = np.datetime64(model.end, "s").astype(np.int64) + 86_400 - BURST_DURATION_HOURS[1] * 3_600
    onset = np.sort(rng.integers(period_start, max(period_end, period_start + 1), n_bursts))
    weights = np.sqrt(model.muni_weights)
    muni = rng.choice(len(model.muni_oktmo), n_bursts, p=weights / weights.sum())
    region = model.muni_region[muni]
    cat = np.array(
        [
            rng.choice(
                len(model.cat_codes),
                p=category_month_weights(
                    model, int(r), onset_s.astype("datetime64[s]").astype("datetime64[M]").astype("datetime64[D]")
                ),
            )
            for r, onset_s in zip(region, onset)
        ],
        dtype=np.int64,
    )
    size = np.clip(
        np.rint(rng.lognormal(np.log(BURST_MEDIAN_SIZE), BURST_SIZE_SIGMA, n_bursts)), *BURST_SIZE_RANGE
    ).astype(np.int64)
    duration_h = rng.integers(BURST_DURATION_HOURS[0], BURST_DURATION_HOURS[1] + 1, n_bursts)
    return {"onset": onset, "muni": muni, "region": region, "cat": cat, "size": size, "duration_s": duration_h * 3_600}


def burst_ground_truth(model: Model, bursts: dict[str, np.ndarray], first_index: int) -> list[dict]:
    """The bursts as meta.json records; their appeals are the ones numbered from `first_index` on, in this order."""
    records, index = [], first_index
    for i in range(len(bursts["size"])):
        cat = int(bursts["cat"][i])
        records.append(
            {
                "burst_id": i + 1,
                "region_code": str(model.region_codes[bursts["region"][i]]),
                "oktmo": str(model.muni_oktmo[bursts["muni"][i]]),
                "municipality_name": str(model.muni_name[bursts["muni"][i]]),
                "category_code": str(model.cat_codes[cat]),
                "sector_code": str(model.sector_codes[model.cat_sector[cat]]),
                "onset_at": str(bursts["onset"][i].astype("datetime64[s]")) + "Z",
                "duration_hours": int(bursts["duration_s"][i] // 3_600),
                "size": int(bursts["size"][i]),
                "appeal_numbers": [index, index + int(bursts["size"][i]) - 1],
            }
        )
        index += int(bursts["size"][i])
    return records
