"""Personal data (152-ФЗ) at landing: keyed hashing of citizen identities and masking of free text.

A citizen's name, phone, e-mail and social handle never reach disk in clear. `citizen_hash` is
HMAC-SHA256(PII_HASH_KEY, normalized identity), so one citizen's repeat appeals stay countable across
channels without storing who they are.
"""

import hashlib
import hmac
import logging
import os
import re
from functools import lru_cache
from typing import Any

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


def find_pii(text: str) -> list[str]:
    """Every phone, e-mail or ФИО pattern in a text (used by the PII scans of the lake and the warehouse)."""
    return [m.group(0) for pattern in (EMAIL_RE, PHONE_RE, FIO_RE) for m in pattern.finditer(text)]
