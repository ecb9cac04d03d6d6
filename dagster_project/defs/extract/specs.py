"""Declarative specs of the sources: what to fetch or read and how a record maps onto the raw contract.

The generic extractors (api.py, files.py) know nothing about a particular source; adding a source means
adding a spec here (and its table to lib/contracts.py).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from dagster_project.defs.extract.records import InvalidRecord, TextParser, from_json, to_json_text
from dagster_project.lib import pii
from dagster_project.lib.contracts import RAW_TABLES, STATUS_CODES, Column

# Plausible ranges of counters and ratings; values outside are defects of the source.
VALUE_RANGES = {"rating": (1, 5), "votes": (0, None), "redirect_count": (0, None), "rework_count": (0, None)}


def _get_path(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidRecord(f"{path}: expected an object at {part!r}, got {type(value).__name__}")
        value = value.get(part)
    return value


def finish_row(
    row: dict,
    *,
    status_map: dict[str, str] | None,
    hash_column: str | None,
    identity: dict[str, Any],
    masked_columns: tuple[str, ...],
    extra: dict,
    key: bytes,
    chronology: tuple[tuple[str, str], ...] = (),
) -> dict:
    """The steps shared by every source once the raw values are converted: status (mapped to warehouse codes
    when the source has its own wording), ranges, order of events, PII, `_extra`."""
    personal = tuple(v for v in identity.values() if isinstance(v, str) and v.strip())
    if status_map is not None and "status" in row:
        if row["status"] not in status_map:
            raise InvalidRecord(f"unknown status {row['status']!r}")
        row["status"] = status_map[row["status"]]
    if "status" in row and row["status"] not in STATUS_CODES:
        raise InvalidRecord(f"unknown status {row['status']!r}")
    for column, (low, high) in VALUE_RANGES.items():
        value = row.get(column)
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            raise InvalidRecord(f"{column} out of range: {value}")
    for earlier, later in chronology:
        if row[earlier] is not None and row[later] is not None and row[later] < row[earlier]:
            raise InvalidRecord(f"{later} ({row[later]}) is before {earlier} ({row[earlier]})")
    if hash_column:
        identity_text = {k: v if isinstance(v, str) else None for k, v in identity.items()}
        row[hash_column] = pii.citizen_hash(key, **identity_text)
        if row[hash_column] is None:
            raise InvalidRecord("no citizen identity (name, phone, e-mail or handle)")
    for column in masked_columns:
        row[column] = pii.mask_text(row[column], personal)
    row["_extra"] = to_json_text(pii.mask_payload(extra, personal)) if extra else None
    return row


@cache
def _contract(table: str) -> dict[str, Column]:
    return {c.name: c for c in RAW_TABLES[table]}


@dataclass(frozen=True)
class ListSpec:
    """A list inside each API record that becomes rows: child table rows, or the record's own rows (explode)."""

    list_field: str
    fields: dict[str, str]  # column → key inside each list element
    table: str | None = None  # child table; None = the list explodes the main table
    seq_column: str | None = None  # 1-based position of the element, when the contract has one


@dataclass(frozen=True)
class ApiSpec:
    name: str  # raw table, asset key raw/<name>, cursor and load_log source
    description: str
    api: str  # "pos" or "incident": picks the resource
    path: str
    key_column: str
    fields: dict[str, str]  # column → dotted JSON path
    identity: dict[str, str]  # pii.normalize_identity argument → dotted JSON path
    hash_column: str | None
    masked_columns: tuple[str, ...] = ()
    explode: ListSpec | None = None
    child: ListSpec | None = None
    id_field: str = "id"
    updated_field: str = "updatedAt"

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.name,) + ((self.child.table,) if self.child else ())

    @cached_property
    def known_keys(self) -> frozenset[str]:
        paths = list(self.fields.values()) + list(self.identity.values())
        lists = [s.list_field for s in (self.explode, self.child) if s]
        return frozenset(p.split(".")[0] for p in paths + lists)

    def dedupe_key(self, item: Any) -> tuple[str, str] | None:
        if isinstance(item, dict) and isinstance(item.get(self.id_field), str) and isinstance(
            item.get(self.updated_field), str
        ):
            return item[self.id_field], item[self.updated_field]
        return None

    def personal_values(self, item: Any) -> tuple[str, ...]:
        """The record's own personal values, to scrub them also from a quarantined (invalid) record."""
        values = []
        for path in self.identity.values():
            try:
                value = _get_path(item, path) if isinstance(item, dict) else None
            except InvalidRecord:
                continue
            if isinstance(value, str):
                values.append(value)
        return tuple(values)

    def record_key(self, item: Any) -> str | None:
        value = item.get(self.id_field) if isinstance(item, dict) else None
        return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None

    def map_item(self, item: Any, key: bytes) -> tuple[list[dict], list[dict], datetime]:
        """(main table rows, child table rows, updated_at) of one API record; raises InvalidRecord."""
        if not isinstance(item, dict):
            raise InvalidRecord("record is not a JSON object")
        contract = _contract(self.name)
        row = {column: from_json(contract[column], _get_path(item, path)) for column, path in self.fields.items()}
        identity = {kind: _get_path(item, path) for kind, path in self.identity.items()}
        extra = {k: v for k, v in item.items() if k not in self.known_keys}
        row = finish_row(
            row, status_map=None, hash_column=self.hash_column, identity=identity,
            masked_columns=self.masked_columns, extra=extra, key=key,
        )
        rows = [row]
        if self.explode:
            rows = [{**row, **element} for element in self._list_rows(item, self.explode, contract)]
        child_rows = []
        if self.child:
            child_contract = _contract(self.child.table)
            for element in self._list_rows(item, self.child, child_contract):
                element[self.key_column] = row[self.key_column]
                element["updated_at"] = row["updated_at"]
                if element.get("status") not in STATUS_CODES:
                    raise InvalidRecord(f"{self.child.list_field}: unknown status {element.get('status')!r}")
                child_rows.append(element)
        return rows, child_rows, row["updated_at"]

    @staticmethod
    def _list_rows(item: dict, spec: ListSpec, contract: dict[str, Column]) -> list[dict]:
        elements = item.get(spec.list_field)
        if elements is None:
            elements = []
        if not isinstance(elements, list):
            raise InvalidRecord(f"{spec.list_field}: expected a list, got {type(elements).__name__}")
        rows = []
        for seq, element in enumerate(elements, start=1):
            if not isinstance(element, dict):
                raise InvalidRecord(f"{spec.list_field}[{seq}]: expected an object")
            values = {column: from_json(contract[column], element.get(k)) for column, k in spec.fields.items()}
            if spec.seq_column:
                values[spec.seq_column] = seq
            rows.append(values)
        return rows


@dataclass(frozen=True)
class FileSpec:
    name: str  # raw table, asset key raw/<name>, load_log source
    description: str
    inbox: str  # data/inbox/<inbox>/
    file_name_re: re.Pattern  # named groups: region, date (YYYYMMDD), ext
    encodings: tuple[str, ...]  # allowed CSV encodings, tried in order
    delimiter: str
    headers: dict[str, str]  # Russian header → column (or identity kind for the personal-data headers)
    identity_headers: tuple[str, ...]
    key_column: str
    updated_column: str
    status_map: dict[str, str]
    masked_columns: tuple[str, ...]
    bool_words: dict[str, bool] = field(default_factory=lambda: {"да": True, "нет": False})
    date_formats: tuple[str, ...] = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y")
    region_from_file_name: bool = False
    chronology: tuple[tuple[str, str], ...] = ()  # (earlier, later) column pairs that cannot be reversed

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.name,)

    def map_row(
        self, cells: dict[str, Any], parser_for_region: Callable[[str], TextParser], file_region: str, key: bytes
    ) -> dict:
        """One export row (header → cell) → contract row; raises InvalidRecord."""
        contract = _contract(self.name)
        if self.region_from_file_name:
            region = file_region
        else:
            region_header = next(h for h, c in self.headers.items() if c == "region_code")
            region = _cell_text(cells.get(region_header))
        parse = parser_for_region(region)
        row, identity = {}, {}
        for header, target in self.headers.items():
            if header in self.identity_headers:
                identity[target] = _cell_text(cells.get(header))
            else:
                row[target] = parse(contract[target], cells.get(header))
        if self.region_from_file_name:
            row["region_code"] = region
        if isinstance(row.get("status"), str):
            row["status"] = row["status"].strip().lower()
        extra = {h: v for h, v in cells.items() if h not in self.headers}
        return finish_row(
            row, status_map=self.status_map, hash_column="citizen_hash", identity=identity,
            masked_columns=self.masked_columns, extra=extra, key=key, chronology=self.chronology,
        )

    def dedupe_key(self, cells: dict) -> tuple | None:
        """(id, version time) cells of a row; an export may repeat a row."""
        values = (cells.get(_header_of(self, self.key_column)), cells.get(_header_of(self, self.updated_column)))
        return values if all(v not in (None, "") for v in values) else None


def _header_of(spec: FileSpec, column: str) -> str:
    return next(h for h, c in spec.headers.items() if c == column)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or None


POS_MESSAGES = ApiSpec(
    name="pos_messages",
    description="ПОС (Платформа обратной связи): сообщения граждан и обращения 59-ФЗ через ЕПГУ, по версии на каждое обновление",
    api="pos",
    path="/messages",
    key_column="message_id",
    fields={
        "message_id": "id", "region_code": "regionCode", "oktmo": "oktmo", "opa_id": "opaId", "is_59fz": "is59FZ",
        "category_code": "categoryCode", "subcategory_code": "subcategoryCode", "text": "text", "address": "address",
        "created_at": "createdAt", "status": "status", "answer_text": "answer.text", "answered_at": "answer.at",
        "rating": "rating.value", "rated_at": "rating.at", "updated_at": "updatedAt",
    },
    identity={"phone": "author.phone", "email": "author.email", "name": "author.name"},
    hash_column="citizen_hash",
    masked_columns=("text", "answer_text", "address"),
    child=ListSpec(
        list_field="statusHistory", table="pos_message_events", seq_column="event_seq",
        fields={"status": "status", "event_at": "at", "agency_id": "opaId"},
    ),
)

POS_POLLS = ApiSpec(
    name="pos_polls",
    description="ПОС: опросы и голосования, по строке на вариант ответа с числом голосов",
    api="pos",
    path="/polls",
    key_column="poll_id",
    fields={
        "poll_id": "id", "region_code": "regionCode", "oktmo": "oktmo", "title": "title", "question": "question",
        "started_at": "startedAt", "ended_at": "endedAt", "updated_at": "updatedAt",
    },
    identity={},
    hash_column=None,
    explode=ListSpec(list_field="options", fields={"option_id": "id", "option_text": "text", "votes": "votes"}),
)

INCIDENTS = ApiSpec(
    name="incidents",
    description="Инцидент Менеджмент: посты и комментарии из соцсетей и мессенджеров, найденные мониторингом",
    api="incident",
    path="/incidents",
    key_column="incident_id",
    fields={
        "incident_id": "id", "region_code": "regionCode", "oktmo": "oktmo", "platform": "platform",
        "post_url": "postUrl", "text": "text", "category_code": "categoryCode", "published_at": "publishedAt",
        "detected_at": "detectedAt", "reaction_at": "reactionAt", "agency_id": "agencyId", "status": "status",
        "updated_at": "updatedAt",
    },
    identity={"handle": "author.handle", "name": "author.name"},
    hash_column="author_hash",
    masked_columns=("text", "post_url"),
    child=ListSpec(
        list_field="statusHistory", table="incident_events", seq_column="event_seq",
        fields={"status": "status", "event_at": "at", "agency_id": "agencyId"},
    ),
)

SED_APPEALS = FileSpec(
    name="sed_appeals",
    description="СЭД: письменные обращения граждан по 59-ФЗ, ежедневные выгрузки CSV по регионам",
    inbox="sed",
    file_name_re=re.compile(r"^sed_(?P<region>\d{2})_(?P<date>\d{8})\.(?P<ext>csv)$"),
    encodings=("utf-8-sig",),
    delimiter=";",
    headers={
        "Рег. номер": "appeal_id", "Дата регистрации": "registered_at", "Код классификатора": "classifier_code",
        "Код региона": "region_code", "ОКТМО": "oktmo", "Код органа": "agency_id", "Заявитель": "name",
        "Телефон": "phone", "Эл. почта": "email", "Адрес": "address", "Текст обращения": "text",
        "Статус": "status", "Дата продления": "extended_at", "Кол-во перенаправлений": "redirect_count",
        "Дата перенаправления": "redirected_at", "Дата ответа": "answered_at", "Повторное": "is_repeat",
        "Дата выгрузки": "exported_at",
    },
    identity_headers=("Заявитель", "Телефон", "Эл. почта"),
    key_column="appeal_id",
    updated_column="exported_at",
    status_map={
        "зарегистрировано": "registered", "на рассмотрении": "in_work", "продлено": "extended",
        "перенаправлено": "redirected", "дан ответ": "answered", "закрыто": "closed",
    },
    masked_columns=("text", "address"),
    chronology=(
        ("registered_at", "answered_at"), ("registered_at", "extended_at"), ("registered_at", "redirected_at"),
        ("registered_at", "exported_at"),
    ),
)

PORTAL_APPEALS = FileSpec(
    name="portal_appeals",
    description="Региональные и муниципальные порталы обратной связи: выгрузки CSV или XLSX",
    inbox="portal",
    file_name_re=re.compile(r"^portal_(?P<region>\d{2})_(?P<date>\d{8})\.(?P<ext>csv|xlsx)$"),
    encodings=("utf-8-sig", "cp1251"),
    delimiter=";",
    headers={
        "Номер": "appeal_id", "Портал": "portal", "Дата создания": "created_at", "Категория": "category_code",
        "Подкатегория": "subcategory_code", "ОКТМО": "oktmo", "Исполнитель": "agency_id", "Заявитель": "name",
        "Телефон": "phone", "Эл. почта": "email", "Адрес": "address", "Текст": "text", "Статус": "status",
        "Дата ответа": "answered_at", "Возвратов на доработку": "rework_count", "Оценка": "rating",
        "Дата изменения": "updated_at",
    },
    identity_headers=("Заявитель", "Телефон", "Эл. почта"),
    key_column="appeal_id",
    updated_column="updated_at",
    status_map={
        "новое": "registered", "в работе": "in_work", "ответ дан": "answered",
        "возвращено на доработку": "returned_for_rework", "закрыто": "closed", "переоткрыто": "reopened",
    },
    masked_columns=("text", "address"),
    region_from_file_name=True,
    chronology=(("created_at", "answered_at"), ("created_at", "updated_at")),
)

API_SPECS = (POS_MESSAGES, POS_POLLS, INCIDENTS)
FILE_SPECS = (SED_APPEALS, PORTAL_APPEALS)
