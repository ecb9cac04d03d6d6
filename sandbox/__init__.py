"""Sandbox of the feedback platforms (ПОС, Инцидент Менеджмент, СЭД 59-ФЗ, regional portals).

`generate(...)` writes the data; `server.running_server(...)` serves the two HTTP APIs; see docs/sources.md.
"""

from sandbox.generator import DEFAULT_SCALE, generate
from sandbox.model import slow_agency_ids

__all__ = ["DEFAULT_SCALE", "generate", "slow_agency_ids"]
