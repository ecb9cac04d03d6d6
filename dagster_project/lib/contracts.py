"""The raw landed tables of docs/architecture.md as typed column lists and Arrow schemas.

Every landed Parquet part is written with exactly this schema, so dbt's
`read_parquet('<lake>/raw/<table>/*/*.parquet', union_by_name=true)` sees one stable set of columns.
"""

import csv
from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from dagster_project.lib.paths import SEEDS_DIR

STR, INT, BOOL, TS = "str", "int", "bool", "ts"
ARROW_TYPES = {STR: pa.string(), INT: pa.int64(), BOOL: pa.bool_(), TS: pa.timestamp("us")}

# Warehouse status codes (docs/architecture.md "Status codes"), listed once: the seed statuses.csv, which dbt loads as
# dim_status. Every source maps onto them (an export's wording: its spec's status_map); the landing quarantines any
# other value, so dbt's staging takes the landed code as it is.
with (SEEDS_DIR / "statuses.csv").open(encoding="utf-8", newline="") as _statuses:
    STATUS_CODES = frozenset(row["status_code"] for row in csv.DictReader(_statuses))


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False


def _cols(spec: str) -> tuple[Column, ...]:
    """`name:kind` or `name:kind?` (nullable), whitespace separated — keeps the tables readable below."""
    columns = []
    for item in spec.split():
        name, kind = item.split(":")
        columns.append(Column(name, kind.rstrip("?"), kind.endswith("?")))
    return tuple(columns)


RAW_TABLES: dict[str, tuple[Column, ...]] = {
    "pos_messages": _cols(
        "message_id:str region_code:str oktmo:str opa_id:str is_59fz:bool category_code:str subcategory_code:str? "
        "text:str address:str? citizen_hash:str created_at:ts status:str answer_text:str? answered_at:ts? "
        "rating:int? rated_at:ts? updated_at:ts"
    ),
    "pos_message_events": _cols("message_id:str event_seq:int status:str event_at:ts agency_id:str updated_at:ts"),
    "pos_polls": _cols(
        "poll_id:str region_code:str oktmo:str? title:str question:str option_id:str option_text:str votes:int "
        "started_at:ts ended_at:ts updated_at:ts"
    ),
    "incidents": _cols(
        "incident_id:str region_code:str oktmo:str platform:str post_url:str author_hash:str text:str "
        "category_code:str published_at:ts detected_at:ts reaction_at:ts? agency_id:str status:str updated_at:ts"
    ),
    "incident_events": _cols("incident_id:str event_seq:int status:str event_at:ts agency_id:str updated_at:ts"),
    "sed_appeals": _cols(
        "appeal_id:str region_code:str oktmo:str agency_id:str classifier_code:str citizen_hash:str address:str "
        "text:str registered_at:ts status:str extended_at:ts? redirect_count:int redirected_at:ts? answered_at:ts? "
        "is_repeat:bool exported_at:ts"
    ),
    "portal_appeals": _cols(
        "appeal_id:str portal:str region_code:str oktmo:str agency_id:str category_code:str subcategory_code:str? "
        "citizen_hash:str address:str text:str created_at:ts status:str answered_at:ts? rework_count:int "
        "rating:int? updated_at:ts"
    ),
}

# Lineage columns every landed part carries besides the source columns.
META_COLUMNS = _cols("_run_id:str _landed_at:ts _source_file:str? _extra:str?")


@cache
def columns_of(table: str) -> dict[str, Column]:
    return {c.name: c for c in RAW_TABLES[table]}


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind], nullable=True) for c in RAW_TABLES[table] + META_COLUMNS])
