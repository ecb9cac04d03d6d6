"""Personal data (152-ФЗ) at landing: keyed hashing of citizen identities and masking of free text.

A citizen's name, phone, e-mail and social handle never reach disk in clear. `citizen_hash` is
HMAC-SHA256(PII_HASH_KEY, normalized identity), so one citizen's repeat appeals stay countable across
channels without storing who they are.
"""

import hashlib
import hmac
import json
import logging
import os
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

DEV_HASH_KEY = "cur-dev-only-pii-hash-key"

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


def hash_key(explicit: str | None = None) -> bytes:
    """The HMAC key: the explicit value, else env PII_HASH_KEY, else the dev default (with a warning)."""
    key = explicit or os.environ.get("PII_HASH_KEY")
    if not key:
        log.warning("PII_HASH_KEY is not set: using the development key; citizen hashes are not protected")
        key = DEV_HASH_KEY
    return key.encode()


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
        whole = (found == 0 or not _is_word_char(text[found - 1])) and (end == len(text) or not _is_word_char(text[end]))
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
    """A JSON-like value with personal keys replaced by a marker and every string masked (for quarantine, `_extra`)."""
    if isinstance(value, dict):
        return {
            k: ("[персональные данные]" if str(k).strip().lower() in PII_KEYS and v not in (None, "") else
                mask_payload(v, known_values))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_payload(v, known_values) for v in value]
    if isinstance(value, str):
        return mask_text(value, known_values)
    return value


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
        for parent, value in ((np.arange(length), column),
                              (np.asarray(pc.list_parent_indices(words)), pc.list_flatten(words))):
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
    return (f"sha256((select opad from {pads}) || unhex(sha256((select ipad from {pads}) || encode({identity}))))")


def masked_json(value: Any, known_values: tuple[str, ...] = ()) -> str:
    """A payload masked by mask_payload, as JSON text (quarantine payloads, `_extra`)."""
    return json.dumps(mask_payload(value, known_values), ensure_ascii=False, default=str, sort_keys=True)


def find_pii(text: str) -> list[str]:
    """Every phone, e-mail or ФИО pattern in a text (used by the PII scans of the lake and the warehouse)."""
    return [m.group(0) for pattern in (EMAIL_RE, PHONE_RE, FIO_RE) for m in pattern.finditer(text)]
