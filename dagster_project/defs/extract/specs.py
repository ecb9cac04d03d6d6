"""Declarative specs of the sources: what to fetch or read and how a record maps onto the raw contract.

The generic extractors (api.py, files.py) and the batch conversion (wire.py, conform.py) know nothing about a
particular source; adding a source means adding a spec here (and its table to lib/contracts.py).
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

# Plausible ranges of counters and ratings; values outside are defects of the source.
VALUE_RANGES = {"rating": (1, 5), "votes": (0, None), "redirect_count": (0, None), "rework_count": (0, None)}


@dataclass(frozen=True)
class ListSpec:
    """A list inside each API record that becomes rows: child table rows, or the record's own rows (explode)."""

    list_field: str
    fields: dict[str, str]  # column → key inside each list element
    table: str | None = None  # child table; None = the list explodes the main table
    seq_column: str | None = None  # 1-based position of the element, when the contract has one


@dataclass(frozen=True, eq=False)  # one instance per source: hashed by identity (caches)
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

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.name,) + ((self.child.table,) if self.child else ())

    @cached_property
    def known_keys(self) -> frozenset[str]:
        paths = list(self.fields.values()) + list(self.identity.values())
        lists = [s.list_field for s in (self.explode, self.child) if s]
        return frozenset(p.split(".")[0] for p in paths + lists)


@dataclass(frozen=True, eq=False)
class FileSpec:
    name: str  # raw table, asset key raw/<name>, load_log source
    description: str
    inbox: str  # data/inbox/<inbox>/
    file_name_re: re.Pattern  # named groups: region, date (YYYYMMDD); the extension says CSV or XLSX
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
    # Set by a mapping file (mapping.py) for an export with its own vocabulary:
    constants: dict[str, str | None] = field(default_factory=dict)  # header the file lacks → value of every row
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)  # column → {lower-case value: code}
    region: str | None = None  # the region of every file, when the file name has none
    mapping: str | None = None  # the mapping file's name

    def file_region(self, match: re.Match) -> str | None:
        return self.region or match.groupdict().get("region")

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.name,)


POS_MESSAGES = ApiSpec(
    name="pos_messages",
    description=(
        "ПОС (Платформа обратной связи): сообщения граждан и обращения 59-ФЗ через ЕПГУ, по версии на каждое обновление"
    ),
    api="pos",
    path="/messages",
    key_column="message_id",
    fields={
        "message_id": "id",
        "region_code": "regionCode",
        "oktmo": "oktmo",
        "opa_id": "opaId",
        "is_59fz": "is59FZ",
        "category_code": "categoryCode",
        "subcategory_code": "subcategoryCode",
        "text": "text",
        "address": "address",
        "created_at": "createdAt",
        "status": "status",
        "answer_text": "answer.text",
        "answered_at": "answer.at",
        "rating": "rating.value",
        "rated_at": "rating.at",
        "updated_at": "updatedAt",
    },
    identity={"phone": "author.phone", "email": "author.email", "name": "author.name"},
    hash_column="citizen_hash",
    masked_columns=("text", "answer_text", "address"),
    child=ListSpec(
        list_field="statusHistory",
        table="pos_message_events",
        seq_column="event_seq",
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
        "poll_id": "id",
        "region_code": "regionCode",
        "oktmo": "oktmo",
        "title": "title",
        "question": "question",
        "started_at": "startedAt",
        "ended_at": "endedAt",
        "updated_at": "updatedAt",
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
        "incident_id": "id",
        "region_code": "regionCode",
        "oktmo": "oktmo",
        "platform": "platform",
        "post_url": "postUrl",
        "text": "text",
        "category_code": "categoryCode",
        "published_at": "publishedAt",
        "detected_at": "detectedAt",
        "reaction_at": "reactionAt",
        "agency_id": "agencyId",
        "status": "status",
        "updated_at": "updatedAt",
    },
    identity={"handle": "author.handle", "name": "author.name"},
    hash_column="author_hash",
    masked_columns=("text", "post_url"),
    child=ListSpec(
        list_field="statusHistory",
        table="incident_events",
        seq_column="event_seq",
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
        "Рег. номер": "appeal_id",
        "Дата регистрации": "registered_at",
        "Код классификатора": "classifier_code",
        "Код региона": "region_code",
        "ОКТМО": "oktmo",
        "Код органа": "agency_id",
        "Заявитель": "name",
        "Телефон": "phone",
        "Эл. почта": "email",
        "Адрес": "address",
        "Текст обращения": "text",
        "Статус": "status",
        "Дата продления": "extended_at",
        "Кол-во перенаправлений": "redirect_count",
        "Дата перенаправления": "redirected_at",
        "Дата ответа": "answered_at",
        "Повторное": "is_repeat",
        "Дата выгрузки": "exported_at",
    },
    identity_headers=("Заявитель", "Телефон", "Эл. почта"),
    key_column="appeal_id",
    updated_column="exported_at",
    status_map={
        "зарегистрировано": "registered",
        "на рассмотрении": "in_work",
        "продлено": "extended",
        "перенаправлено": "redirected",
        "дан ответ": "answered",
        "закрыто": "closed",
    },
    masked_columns=("text", "address"),
    chronology=(
        ("registered_at", "answered_at"),
        ("registered_at", "extended_at"),
        ("registered_at", "redirected_at"),
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
        "Номер": "appeal_id",
        "Портал": "portal",
        "Дата создания": "created_at",
        "Категория": "category_code",
        "Подкатегория": "subcategory_code",
        "ОКТМО": "oktmo",
        "Исполнитель": "agency_id",
        "Заявитель": "name",
        "Телефон": "phone",
        "Эл. почта": "email",
        "Адрес": "address",
        "Текст": "text",
        "Статус": "status",
        "Дата ответа": "answered_at",
        "Возвратов на доработку": "rework_count",
        "Оценка": "rating",
        "Дата изменения": "updated_at",
    },
    identity_headers=("Заявитель", "Телефон", "Эл. почта"),
    key_column="appeal_id",
    updated_column="updated_at",
    status_map={
        "новое": "registered",
        "в работе": "in_work",
        "ответ дан": "answered",
        "возвращено на доработку": "returned_for_rework",
        "закрыто": "closed",
        "переоткрыто": "reopened",
    },
    masked_columns=("text", "address"),
    region_from_file_name=True,
    chronology=(("created_at", "answered_at"), ("created_at", "updated_at")),
)

API_SPECS = (POS_MESSAGES, POS_POLLS, INCIDENTS)
FILE_SPECS = (SED_APPEALS, PORTAL_APPEALS)
