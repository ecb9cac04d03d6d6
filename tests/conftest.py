"""Shared pytest fixtures. Sandbox fixtures are named sandbox_*."""

from datetime import date

import pytest

from sandbox import generate
from sandbox.server import running_server

SANDBOX_SCALE = 20_000
SANDBOX_SEED = 7


@pytest.fixture(scope="session")
def sandbox_generated(tmp_path_factory):
    """A small generated sandbox: (out_dir, inbox_dir, summary). Read-only for tests."""
    root = tmp_path_factory.mktemp("sandbox")
    out_dir, inbox_dir = root / "sandbox", root / "inbox"
    summary = generate(out_dir, inbox_dir, SANDBOX_SCALE, seed=SANDBOX_SEED, start=date(2023, 1, 1),
                       end=date(2025, 12, 31), bad_rate=0.02)
    return out_dir, inbox_dir, summary


@pytest.fixture(scope="session")
def sandbox_server(sandbox_generated):
    """Base URL of a real sandbox server process over `sandbox_generated` (faults off, default clock)."""
    with running_server(sandbox_generated[0]) as base_url:
        yield base_url
