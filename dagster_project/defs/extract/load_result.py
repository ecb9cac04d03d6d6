"""The tally of one load (one source, one run): what asset metadata and ops.load_log report."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from dagster_project.lib import pii
from dagster_project.lib.landing import LandedPart
from dagster_project.lib.warehouse import utcnow


@dataclass
class LoadResult:
    source: str
    started_at: datetime = field(default_factory=utcnow)
    fetched: int = 0  # distinct records received (after dropping repeats within the run)
    landed: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    retries: int = 0
    cursor_from: str | None = None
    cursor_to: str | None = None
    resumed: bool = False
    parts: list[tuple[str, LandedPart]] = field(default_factory=list)  # (table, part)
    files_processed: int = 0
    files_rejected: int = 0
    checksums: list[str] = field(default_factory=list)  # of inputs (file sources) or of parts (APIs)

    def add_part(self, table: str, part: LandedPart | None) -> None:
        if part is not None:
            self.parts.append((table, part))
            self.checksums.append(part.sha256)

    def rows(self, table: str) -> int:
        return sum(p.rows for t, p in self.parts if t == table)

    def bytes(self, table: str) -> int:
        return sum(p.bytes for t, p in self.parts if t == table)

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\n".join(self.checksums).encode()).hexdigest()

    @property
    def reconciled(self) -> bool:
        return self.fetched == self.landed + self.quarantined

    @property
    def duration_s(self) -> float:
        return (utcnow() - self.started_at).total_seconds()


def quarantine_row(run_id: str, source: str, record_key, reason: str, payload, personal: tuple[str, ...] = ()) -> tuple:
    """A row of ops.quarantine; the payload is masked before it is serialised."""
    return (
        run_id,
        source,
        None if record_key is None else str(record_key),
        reason,
        pii.masked_json(payload, personal),
        utcnow(),
    )
