"""The one module that reads the platform's environment.

Code elsewhere asks this module (or a Dagster resource built from it) for a setting instead of reading
`os.environ`. Secrets come from the variable itself or from a file named by `<NAME>_FILE` (Docker/systemd style), never
from argv or run config. `CUR_ENV=production` switches the platform to fail-closed behaviour.
"""

import os
from pathlib import Path


def env(name: str, default: str | None = None) -> str | None:
    """A plain setting: the variable's value, or `default` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value else default


def secret(name: str) -> str | None:
    """A secret from `<name>` or from the file named by `<name>_FILE` (trailing newline stripped); None when neither."""
    if value := os.environ.get(name):
        return value
    if file := os.environ.get(f"{name}_FILE"):
        return Path(file).read_text(encoding="utf-8").rstrip("\r\n")
    return None


def is_production() -> bool:
    """`CUR_ENV=production`: no development defaults for secrets, fail closed."""
    return env("CUR_ENV", "development") == "production"
