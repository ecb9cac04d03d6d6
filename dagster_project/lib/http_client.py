"""A JSON-over-HTTP client for the source APIs: timeouts, retries with exponential backoff and Retry-After.

Retried: 429, 5xx, timeouts, connection errors and bodies cut mid-stream (connection reset), or bodies that
are not the JSON the source promises (the caller's decoder raises ValueError). Not retried: other 4xx (a wrong
token or a bad request will not heal).
"""

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_CAP_S = 300.0


class SourceUnavailable(RuntimeError):
    """The source did not answer successfully within the retry budget."""


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), RETRY_AFTER_CAP_S)


class JsonApiClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 8,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep=time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.sleep = sleep
        self.retries = 0
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
        )

    def __enter__(self) -> "JsonApiClient":
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def _backoff(self, attempt: int) -> float:
        # Full jitter keeps many clients from retrying in step.
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))

    def _attempt(self, path: str, params: dict, decode: Callable[[bytes], Any]) -> tuple[Any, str, float | None]:
        """One request: (decoded body, "", None), or (None, what went wrong, the server's Retry-After if any)."""
        try:
            response = self._client.get(path, params=params)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            return None, f"{type(exc).__name__}: {exc}", None
        if response.status_code in RETRY_STATUSES:
            return None, f"HTTP {response.status_code}", retry_after_seconds(response.headers.get("Retry-After"))
        response.raise_for_status()
        try:
            return decode(response.content), "", None
        except ValueError as exc:
            return None, str(exc), None

    def get(self, path: str, params: dict, decode: Callable[[bytes], Any]) -> Any:
        """GET with retries; `decode` turns the body into the result or raises ValueError (a bad body: retried)."""
        error = ""
        for attempt in range(self.max_retries + 1):
            body, error, retry_after = self._attempt(path, params, decode)
            if body is not None:
                return body
            if attempt == self.max_retries:
                break
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            log.warning("GET %s: %s; retry %d of %d in %.1f s", path, error, attempt + 1, self.max_retries, wait)
            self.retries += 1
            self.sleep(wait)
        raise SourceUnavailable(f"GET {path} failed after {self.max_retries + 1} attempts; last error: {error}")


def json_page(body: bytes) -> dict:
    """The body of a list endpoint: an object with an `items` list (else ValueError: fetch it again)."""
    try:
        page = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"unreadable JSON body: {exc}") from None
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise ValueError("answer without an `items` list")
    return page
