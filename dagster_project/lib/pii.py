"""Personal data (152-ФЗ) at landing: keyed hashing of citizen identities, masking of free text and generalisation
of addresses.

A citizen's name, phone, e-mail and social handle never reach disk in clear. `citizen_hash` is
HMAC-SHA256(PII_HASH_KEY, normalized identity), so one citizen's repeat appeals stay countable across
channels without storing who they are. An address keeps only what the marts need (street and house): the apartment,
entrance, floor, room or office that points at one household is cut before landing (`generalize_addresses`).
"""

import hashlib
import hmac
import json
import logging
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.lib import settings

log = logging.getLogger(__name__)

DEV_HASH_KEY = settings.DEV_DEFAULTS["PII_HASH_KEY"]

# Keys whose values are personal data wherever they appear in a payload (API author blocks, file columns).
PII_KEYS = frozenset(
    {"name", "phone", "email", "e-mail", "handle", "author", "fio", "заявитель", "телефон", "эл. почта", "автор"}
)

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Russian phone numbers: +7/8/7 prefix (optional) and ten digits with the usual separators (within a line).
PHONE_RE = re.compile(r"(?<![\w+])(?:\+7|8|7)?[ \-(]{0,3}\d{3}[ \-)]{0,3}\d{3}[ \-]?\d{2}[ \-]?\d{2}(?!\w)")
HANDLE_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_.]{3,}")
# Фамилия Имя Отчество (the patronymic gives it away) and Фамилия И.О.
FIO_RE = re.compile(
    r"\b[А-ЯЁ][а-яё]+\s+[А-ЯЁ][а-яё]+\s+[А-ЯЁ][а-яё]+(?:вич|вна|ична|ьич)\b"
    r"|\b[А-ЯЁ][а-яё]+\s+[А-ЯЁ]\.\s?[А-ЯЁ]\."
)

# A cheap gate that every match of the pattern needs (an e-mail or a handle has «@», a phone three digits in a row):
# most appeal texts have neither, and the gate saves the costly scan (profiled: e-mail and phone scans were the
# largest part of landing an API record).
AT_RE = re.compile("@")
THREE_DIGITS_RE = re.compile(r"\d{3}")
MASKS = (
    (EMAIL_RE, "[e-mail]", AT_RE),
    (PHONE_RE, "[телефон]", THREE_DIGITS_RE),
    (FIO_RE, "[ФИО]", None),
    (HANDLE_RE, "@[ник]", AT_RE),
)


def hash_key() -> bytes:
    """The HMAC key: PII_HASH_KEY from env or file; in development its public default (with a warning), which
    production refuses together with short keys (lib/settings.py)."""
    return settings.pii_hash_key().encode()


def normalize_identity(
    phone: str | None = None, email: str | None = None, handle: str | None = None, name: str | None = None
) -> str | None:
    """The strongest identity present: phone digits (8XXXXXXXXXX → 7XXXXXXXXXX), else e-mail, else handle, else name."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == 10:
        digits = "7" + digits
    if len(digits) >= 10:
        return "phone:" + digits
    if email and email.strip():
        return "email:" + email.strip().lower()
    if handle and handle.strip():
        return "handle:" + handle.strip().lstrip("@").lower()
    if name and name.strip():
        return "name:" + " ".join(name.lower().replace("ё", "е").split())
    return None


def citizen_hash(key: bytes, **identity: str | None) -> str | None:
    normalized = normalize_identity(**identity)
    if normalized is None:
        return None
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=64)  # one record's values mask several of its columns in a row
def _known_patterns(known_values: tuple[str, ...]) -> tuple[str, ...]:
    """The record's own personal values, longest first, plus each word of a multi-word name on its own."""
    found = set()
    for value in known_values:
        value = (value or "").strip()
        if len(value) >= 3:
            found.add(value)
            words = value.split()
            if len(words) > 1:
                found.update(w for w in words if len(w) >= 3)
    return tuple(sorted(found, key=len, reverse=True))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _replace_whole(text: str, value: str, marker: str) -> str:
    """Replaces `value` where it stands as a whole (not inside a longer word); a per-record regex would cost
    a pattern compilation per record."""
    parts, start = [], 0
    while (found := text.find(value, start)) != -1:
        end = found + len(value)
        whole = (found == 0 or not _is_word_char(text[found - 1])) and (
            end == len(text) or not _is_word_char(text[end])
        )
        parts.append(text[start:found] + (marker if whole else value))
        start = end
    parts.append(text[start:])
    return "".join(parts)


def mask_text(text: str | None, known_values: tuple[str, ...] = ()) -> str | None:
    """Masks e-mails, phones, ФИО and @handles in free text, plus this record's own personal values."""
    if not text:
        return text
    for value in _known_patterns(known_values):
        text = _replace_whole(text, value, "[персональные данные]")
    for pattern, replacement, gate in MASKS:
        if gate is None or gate.search(text):
            text = pattern.sub(replacement, text)
    return text


def mask_payload(value: Any, known_values: tuple[str, ...] = ()) -> Any:
    """A JSON-like value with personal keys replaced by a marker, addresses generalised and every string masked (for
    quarantine, `_extra`)."""
    if isinstance(value, dict):
        return {k: _masked_item(k, v, known_values) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v, known_values) for v in value]
    if isinstance(value, str):
        return mask_text(value, known_values)
    return value


def _masked_item(key: Any, value: Any, known_values: tuple[str, ...]) -> Any:
    name = str(key).strip().lower()
    if name in PII_KEYS and value not in (None, ""):
        return "[персональные данные]"
    if is_address_key(name) and isinstance(value, str):
        value = generalize_address(value)
    return mask_payload(value, known_values)


# --- addresses (data minimisation) -----------------------------------------------------------------------------
#
# The marts need an address down to the house (repeat_hotspots clusters appeals by house); the part inside the house
# (квартира, комната, подъезд, этаж, офис, помещение …) identifies a household and is cut. The address is split into
# its comma- or semicolon-separated segments, each segment loses its part from a unit marker on, and the segments are
# joined again with ", ". Rules in RE2 (Arrow's regular expressions: no look-around, \b only for ASCII, so a
# boundary is a captured non-letter put back as \1), over whole columns; every source form is tested in
# tests/test_privacy_addresses.py.

# Words naming a part of a house, with their case endings, not followed by a letter (Подъездная ул. stays).
_UNIT_WORDS = (
    r"квартир[аеуы]?|кв-р[аеуы]|комнат[аеуы]?|подъезд[аеу]?|подьезд[аеу]?|парадн(?:ая|ой|ую)|этаж[аеу]?|"
    r"офис[аеу]?|помещени[еяю]|кабинет[аеу]?|секци[яиюе]|apartment|apt|flat|room|office|suite|floor|entrance|unit"
)
# Their abbreviations, only where a point, a number sign or a number follows (кв.12, кв 12, кв№12, кв-12). «к.» is
# left alone: it also means корпус, a part of the house number; «кв-л» (квартал) is not an apartment.
_UNIT_ABBREVIATIONS = r"кв|комн|ком|под|пд|эт|оф|пом|каб|сек|app|fl|rm|ste"
_ORDINAL = r"(?:-?\s*(?:й|ий|ый|ой|th|st|nd|rd))?"
_SEGMENT_RULES = (
    # a segment that is a numbered part: «3 этаж», «2-й подъезд», «5th floor»
    (
        rf"(?i)^\s*\d+\s*{_ORDINAL}\s*(?:этаж[аеу]?|эт\.?|подъезд[аеу]?|подьезд[аеу]?|под\.?|floor|fl\.?|entrance)"
        r"(?:[^\p{L}].*)?$",
        "",
    ),
    # a unit marker and everything after it in the segment: «кв. 12», «д.5кв.12», «квартира 7», «apt 4B», «а/я 15»
    (
        rf"(?i)(^|[^\p{{L}}])(?:(?:{_UNIT_WORDS})(?:[^\p{{L}}].*)?|(?:{_UNIT_ABBREVIATIONS})(?:\.|\s*[№#:]|\s*-?\s*\d).*"
        r"|[ап]/я.*|#\s*\d.*)$",
        r"\1",
    ),
    # house and apartment joined by a dash: «д. 5-12», «дом №5а - 12»
    (r"(?i)((?:^|[^\p{L}])(?:д\.|дом|д)\s*№?\s*\d+\p{L}?(?:\s*/\s*\d+\p{L}?)?)\s*[-–—]\s*\d+\p{L}?\s*$", r"\1"),
)
_HOUSE = r"(?:(?:д\.?|дом)\s*№?\s*)?\d+\p{L}?(?:\s*/\s*\d+\p{L}?)?"  # д. 5, 5а, 12/3
_BUILDING = r"(?:корп\.?|корпус|к\.|стр\.?|строение|лит\.?|литера)\s*[\p{L}\p{N}]+"  # parts of the house number
_JOINED_RULES = (
    (r"\s*,(?:\s*,)*\s*", ", "),  # the separators, also of the segments that were cut away
    (r"^[\s,]+|[\s,]+$", ""),
    (r"\s{2,}|[\t\n\f\r\v]", " "),
    # a bare number after the house (and its корпус / строение) at the end: «ул. Ленина, д. 5, 12»
    (rf"(?i)((?:^|,)\s*{_HOUSE}(?:\s*,?\s*{_BUILDING})*)\s*,\s*\d+\p{{L}}?$", r"\1"),
)
# A necessary condition of every cut above (a marker's first letters, a dash between numbers, a number at the end):
# an address without it is landed as sent, and the costly rules run on the others only.
_ADDRESS_GATE = (
    r"(?i)кв|ком|под|пд|парадн|эт|оф|пом|каб|сек|apartment|apt|app|flat|room|rm|office|suite|ste|fl|"
    r"entrance|unit|/я|#|\d\p{L}?\s*[-–—]\s*\d|[,;]\s*\d+\p{L}?\s*$"
)
ADDRESS_KEYS = ("address", "адрес")


def is_address_key(name: str) -> bool:
    """A column or payload key that holds an address («address», «Адрес», «Адрес заявителя», «postalAddress» …)."""
    return any(key in name.lower() for key in ADDRESS_KEYS)


def generalize_addresses(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Addresses cut to street and house (see the rules above); one that is left empty becomes null."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    gated = pc.fill_null(pc.match_substring_regex(values, _ADDRESS_GATE), False)
    if pc.any(gated).as_py():
        segments = pc.split_pattern(pc.replace_substring(values.filter(gated), ";", ","), ",")
        parts = segments.values
        for pattern, replacement in _SEGMENT_RULES:
            parts = _replace_matching(parts, pattern, replacement)
        joined = pc.binary_join(pa.ListArray.from_arrays(segments.offsets, parts), ",")
        for pattern, replacement in _JOINED_RULES:
            joined = _replace_matching(joined, pattern, replacement)
        values = pc.replace_with_mask(values, gated, joined)
    return blank_to_null(values)


def _replace_matching(values: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """replace_substring_regex on the values the pattern matches only: matching costs far less than replacing
    (docs/performance.md, "Address generalisation"), and most segments have nothing to cut."""
    hits = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    if not pc.any(hits).as_py():
        return values
    return pc.replace_with_mask(values, hits, pc.replace_substring_regex(values.filter(hits), pattern, replacement))


def generalize_address(text: str | None) -> str | None:
    """generalize_addresses for one address (quarantine payloads, `_extra`)."""
    return generalize_addresses(pa.array([text], pa.string()))[0].as_py()


def with_generalized_addresses(table: pa.Table) -> pa.Table:
    """The table with every address column generalised (extraction calls it on each batch before landing)."""
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) and is_address_key(field.name):
            table = table.set_column(index, field, generalize_addresses(table.column(index)))
    return table


# --- the same rules over whole columns (landing works on Arrow batches) -------------------------------------------
#
# Arrow's and DuckDB's regular expressions (RE2) are not Python's (no look-behind, ASCII \w and \s), so the masks
# above stay the only masks. Over a whole batch: the identity is normalized with Arrow kernels (the same whitespace,
# case and digits as normalize_identity; tests compare them) and hashed in SQL (sql_hmac), and masking is *gated*:
# each gate is a necessary condition of a mask, so mask_text runs only on the few texts that could change
# (profiled: masking every text was the largest part of landing a record).

# Python's \d (Unicode decimal digits) and \s (str.isspace) in RE2.
_DIGIT = r"\p{Nd}"
_SPACE = r"[\t\n\x0b\f\r\x1c-\x1f \x{85}\p{Z}]"
_PHONE_GATE = rf"{_DIGIT}{{3}}[ \-)]{{0,3}}{_DIGIT}{{3}}[ \-]?{_DIGIT}{{2}}[ \-]?{_DIGIT}{{2}}"
_FIO_GATE = rf"[А-ЯЁ][а-яё]+{_SPACE}+[А-ЯЁ](?:[а-яё]+{_SPACE}+[А-ЯЁ][а-яё]+(?:вич|вна|ична|ьич)|\.)"


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def blank_to_null(values: pa.Array, strip: bool = True) -> pa.Array:
    """Blank text (empty or only str.isspace() characters) → null; the rest stripped too, or as it is."""
    trimmed = pc.utf8_trim_whitespace(values)  # the same whitespace as str.strip()
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed if strip else values)


def identity_array(phone=None, email=None, handle=None, name=None, *, length: int) -> pa.Array:
    """normalize_identity over columns (each an Arrow string array or None)."""

    def column(values):
        return blank_to_null(values) if values is not None else pa.nulls(length, pa.string())

    phone, email, handle, name = map(column, (phone, email, handle, name))
    digits = pc.replace_substring_regex(pc.fill_null(phone, ""), rf"[^{_DIGIT}]", "")
    digits = pc.if_else(
        pc.and_(pc.equal(pc.utf8_length(digits), 11), pc.starts_with(digits, "8")),
        pc.binary_join_element_wise("7", pc.utf8_slice_codeunits(digits, 1), ""),
        pc.if_else(pc.equal(pc.utf8_length(digits), 10), pc.binary_join_element_wise("7", digits, ""), digits),
    )
    words = pc.utf8_split_whitespace(pc.replace_substring(pc.utf8_lower(name), "ё", "е"))
    candidates = [
        (pc.greater_equal(pc.utf8_length(digits), 10), "phone:", digits),
        (pc.is_valid(email), "email:", pc.utf8_lower(email)),
        (pc.is_valid(handle), "handle:", pc.utf8_lower(pc.utf8_ltrim(handle, "@"))),
        (pc.is_valid(name), "name:", pc.binary_join(words, " ")),
    ]
    identity = pa.nulls(length, pa.string())
    for present, prefix, value in reversed(candidates):  # the first present kind wins
        identity = pc.if_else(pc.fill_null(present, False), pc.binary_join_element_wise(prefix, value, ""), identity)
    return identity


def known_patterns_array(values: list[pa.Array]) -> pa.ListArray:
    """_known_patterns per record over columns of its personal values (list<string>; order within a list is free)."""
    length = len(values[0])
    parents, patterns = [], []
    for column in values:
        column = blank_to_null(column)
        words = pc.utf8_split_whitespace(column)
        for parent, value in (
            (np.arange(length), column),
            (np.asarray(pc.list_parent_indices(words)), pc.list_flatten(words)),
        ):
            keep = np.asarray(pc.fill_null(pc.greater_equal(pc.utf8_length(value), 3), False))
            parents.append(parent[keep])
            patterns.append(value.filter(pa.array(keep)))
    parent = np.concatenate(parents)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parent, minlength=length))]).astype(np.int32)
    ordered = pa.concat_arrays(patterns).take(pa.array(np.argsort(parent, kind="stable")))
    return pa.ListArray.from_arrays(pa.array(offsets), ordered)


def sql_mask_gate(texts: list[str], patterns: str | None) -> str:
    """True where mask_text may change any of the record's texts (never null): a mask's necessary condition holds in
    them, or they contain one of the record's own personal values (`patterns`: a known_patterns_array column).
    The texts are joined with a space: a match across two of them only makes the gate open more often."""
    text = "concat_ws(' ', " + ", ".join(texts) + ")"
    gates = [
        f"contains({text}, '@')",  # an e-mail or an @handle
        f"regexp_matches({text}, {sql_literal(f'{_PHONE_GATE}|{_FIO_GATE}')})",
    ]
    if patterns:
        gates.append(f"coalesce(list_bool_or(list_transform({patterns}, lambda p: contains({text}, p))), false)")
    return f"coalesce({' or '.join(gates)}, false)"


def hmac_pads(key: bytes) -> dict[str, bytes]:
    """The HMAC-SHA256 inner and outer keys, bound as SQL parameters (never written into SQL text)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return {"hmac_ipad": bytes(b ^ 0x36 for b in block), "hmac_opad": bytes(b ^ 0x5C for b in block)}


def sql_hmac(identity: str, pads: str = "hmac_pads") -> str:
    """HMAC-SHA256 hex of an identity column; `pads` is a one-row table (ipad, opad) of hmac_pads()."""
    return f"sha256((select opad from {pads}) || unhex(sha256((select ipad from {pads}) || encode({identity}))))"


def masked_json(value: Any, known_values: tuple[str, ...] = ()) -> str:
    """A payload masked by mask_payload, as JSON text (quarantine payloads, `_extra`)."""
    return json.dumps(mask_payload(value, known_values), ensure_ascii=False, default=str, sort_keys=True)
