"""One record of a source → contract rows, or a reason to quarantine it.

Values are converted per contract column kind: from JSON types for the APIs (strict: a number where a string
is due is a defect) and from text for the file exports (local times → UTC, Russian yes/no, empty = missing).
"""

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dagster_project.lib.contracts import BOOL, INT, STR, TS, Column


# The exports' usual «ДД.ММ.ГГГГ ЧЧ:ММ», read without strptime (profiled: the slowest step of an export row).
DAY_MINUTE_FORMAT = "%d.%m.%Y %H:%M"
DAY_MINUTE_RE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4}) ([0-9]{2}):([0-9]{2})")


class InvalidRecord(ValueError):
    """The record breaks the source contract; the message is the quarantine reason."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_iso_utc(value: str) -> datetime:
    """ISO-8601 (with `Z` or an offset; a zone-less value means UTC) → naive UTC."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is UTC:  # `Z`, the wire format: dropping the zone is exact and cheaper than a conversion
        return parsed.replace(tzinfo=None)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def from_json(column: Column, value: Any) -> Any:
    if _missing(value):
        if column.nullable:
            return None
        raise InvalidRecord(f"missing required field {column.name}")
    kind = column.kind
    if kind == STR and isinstance(value, str):
        return value
    if kind == INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind == TS and isinstance(value, str):
        try:
            return parse_iso_utc(value)
        except ValueError:
            raise InvalidRecord(f"{column.name}: not an ISO-8601 timestamp: {value[:40]!r}") from None
    raise InvalidRecord(f"{column.name}: expected {kind}, got {type(value).__name__}")


class TextParser:
    """Converts export cells (text, or Excel-typed cells) given the export's local time zone."""

    def __init__(self, date_formats: tuple[str, ...], bool_words: dict[str, bool], tz: ZoneInfo):
        self.date_formats = date_formats
        self.bool_words = bool_words
        self.tz = tz

    def local_to_utc(self, value: datetime) -> datetime:
        return value.replace(tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None)

    def __call__(self, column: Column, value: Any) -> Any:
        if _missing(value):
            if column.nullable:
                return None
            raise InvalidRecord(f"missing required field {column.name}")
        kind = column.kind
        if kind == TS and isinstance(value, datetime):
            return self.local_to_utc(value)
        text = str(value).strip()
        if kind == STR:
            # Excel turns codes such as 63701000 into numbers; an integral float is still the code.
            return str(int(value)) if isinstance(value, float) and value.is_integer() else text
        if kind == INT:
            try:
                number = float(text.replace(",", "."))
            except ValueError:
                raise InvalidRecord(f"{column.name}: not a number: {text[:40]!r}") from None
            if not number.is_integer():
                raise InvalidRecord(f"{column.name}: not an integer: {text[:40]!r}")
            return int(number)
        if kind == BOOL:
            word = text.lower()
            if word not in self.bool_words:
                raise InvalidRecord(f"{column.name}: expected one of {sorted(self.bool_words)}, got {text[:40]!r}")
            return self.bool_words[word]
        if self.date_formats[0] == DAY_MINUTE_FORMAT and (m := DAY_MINUTE_RE.fullmatch(text)):
            try:
                return self.local_to_utc(datetime(int(m[3]), int(m[2]), int(m[1]), int(m[4]), int(m[5])))
            except ValueError:
                pass  # no such date (31.02…): strptime below reaches the same verdict
        for date_format in self.date_formats:
            try:
                return self.local_to_utc(datetime.strptime(text, date_format))
            except ValueError:
                continue
        raise InvalidRecord(f"{column.name}: not a date in {' / '.join(self.date_formats)}: {text[:40]!r}")


def to_json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
