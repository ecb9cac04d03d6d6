"""The one module that reads the platform's environment.

Code elsewhere asks this module (or a Dagster resource built from it) for a setting instead of reading
`os.environ`. Secrets come from the variable itself or from a file named by `<NAME>_FILE` (Docker/systemd style), never
from argv or run config. `CUR_ENV=production` switches the platform to fail-closed behaviour: every entry point (the
pipeline, the Superset deploy, the report) calls `check_production()`, which refuses missing, short or publicly known
secrets; outside production the development defaults below are used, with a warning that says so.

Only the standard library is imported: Superset's own virtualenv loads this file by path (superset/superset_config.py).
"""

import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

# Development defaults, for `make run` and the tests only. They are public (this file is in the repository), so
# production refuses them.
DEV_DEFAULTS = {
    "PII_HASH_KEY": "cur-dev-only-pii-hash-key",
    "SUPERSET_SECRET_KEY": "cur-dev-only-superset-secret-key-loopback",
    "SUPERSET_ADMIN_PASSWORD": "admin",
}
# Secrets every production entry point needs: the citizen-hash key, Superset's session signing key and the password
# of Superset's admin (the deploy logs in with it).
PRODUCTION_SECRETS = ("PII_HASH_KEY", "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD")
MIN_LENGTH = {"PII_HASH_KEY": 32, "SUPERSET_SECRET_KEY": 32, "SUPERSET_ADMIN_PASSWORD": 12}
MIN_DISTINCT_CHARACTERS = 8  # "aaaa…" or "12121212…" has the length but not the entropy
# Values published somewhere (our dev defaults, Superset's stock and documented keys, the usual placeholders).
KNOWN_PUBLIC_SECRETS = frozenset(
    {value.lower() for value in DEV_DEFAULTS.values()}
    | {
        "cur-local-superset-only-on-loopback",  # this platform's earlier Superset default
        "change_me_to_a_complex_random_secret",
        "thisismyscretkey",
        "\x02\x01thisismyscretkey\x01\x02\\e\\y\\y\\h",
        "your_secret_key_here",
        "changeme",
        "change-me",
        "secret",
        "password",
        "admin",
        "test-pii-key",
    }
)
DEFAULT_SUPERSET_ADMIN_USER = "admin"
DEFAULT_RAW_EXPORT_RETENTION_DAYS = 30
DEFAULT_WAREHOUSE_LOCK_TIMEOUT_S = 120.0


# The plausibility window of every timestamp a source sends (docs/sources.md): a registration in 1900 or 2031 is a
# defect of the source, quarantined at conform, never landed.
DEFAULT_EARLIEST_TIMESTAMP = "2000-01-01"
DEFAULT_LATEST_TIMESTAMP_AHEAD_HOURS = 24


class ProductionConfigError(RuntimeError):
    """`CUR_ENV=production` without the secrets it needs: the process refuses to start."""


def env(name: str, default: str | None = None) -> str | None:
    """A plain setting: the variable's value, or `default` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value else default


def child_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process (dbt, `dagster dev`, the deployment's processes): this process's environment
    plus `overrides`, settings derived for the child. The platform never writes its own `os.environ`."""
    return {**os.environ, **(overrides or {})}


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


def secret_problem(name: str, value: str | None) -> str | None:
    """Why `value` is not good enough for secret `name` in production (None when it is)."""
    if not value:
        return f"{name} is not set (give it in the environment or in a file named by {name}_FILE)"
    if value.strip().lower() in KNOWN_PUBLIC_SECRETS:
        return f"{name} is a publicly known default"
    if len(value) < MIN_LENGTH[name]:
        return f"{name} is too short ({len(value)} characters, at least {MIN_LENGTH[name]})"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"{name} has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    if name == "SUPERSET_ADMIN_PASSWORD" and value.lower() == superset_admin_user().lower():
        return f"{name} equals the admin's user name"
    return None


def check_production(names: tuple[str, ...] = PRODUCTION_SECRETS) -> None:
    """In production, raise ProductionConfigError listing every missing or weak secret; nothing outside production."""
    if not is_production():
        return
    problems = [problem for name in names if (problem := secret_problem(name, secret(name)))]
    if problems:
        raise ProductionConfigError("CUR_ENV=production refuses to start: " + "; ".join(problems))


def secret_or_dev_default(name: str) -> str:
    """The secret; in production a weak or missing one raises, in development its default is used with a warning."""
    value = secret(name)
    if is_production():
        if problem := secret_problem(name, value):
            raise ProductionConfigError(f"CUR_ENV=production refuses to start: {problem}")
        return value
    if not value:
        log.warning("%s is not set: using the development default (public; CUR_ENV=production refuses it)", name)
        return DEV_DEFAULTS[name]
    return value


def pii_hash_key() -> str:
    """The HMAC key of citizen hashes (env or file only: never run config, which Dagster stores)."""
    return secret_or_dev_default("PII_HASH_KEY")


def superset_admin_user() -> str:
    return env("SUPERSET_ADMIN_USER", DEFAULT_SUPERSET_ADMIN_USER)


def superset_admin() -> tuple[str, str]:
    """Login of Superset's admin, used to create it and by every deploy (password from env or file, never argv)."""
    return superset_admin_user(), secret_or_dev_default("SUPERSET_ADMIN_PASSWORD")


def superset_secret_key() -> str:
    return secret_or_dev_default("SUPERSET_SECRET_KEY")


def raw_export_retention_days() -> int:
    """Days a processed or rejected raw export stays in inbox/*/processed|rejected/ (CUR_RAW_EXPORT_RETENTION_DAYS)."""
    return _whole_number("CUR_RAW_EXPORT_RETENTION_DAYS", DEFAULT_RAW_EXPORT_RETENTION_DAYS)


# --- Alerts (lib/alerts.py): where the platform tells people that something needs them ---

DEFAULT_ALERT_DEDUP_MINUTES = 120
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_STALE_SOURCE_HOURS = 24


def _whole_number(name: str, default: int, minimum: int = 1) -> int:
    value = env(name, str(default))
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def alert_dedup_minutes() -> int:
    """An alert with the same key goes to a channel at most once in this window (CUR_ALERT_DEDUP_MINUTES)."""
    return _whole_number("CUR_ALERT_DEDUP_MINUTES", DEFAULT_ALERT_DEDUP_MINUTES)


def alert_webhook_url() -> str | None:
    """A generic JSON webhook (POST); a secret, since such URLs often carry a token (CUR_ALERT_WEBHOOK_URL[_FILE])."""
    return secret("CUR_ALERT_WEBHOOK_URL")


def alert_telegram() -> tuple[str, str, str] | None:
    """(API base URL, bot token, chat id) when CUR_ALERT_TELEGRAM_BOT_TOKEN[_FILE] and _CHAT_ID are set."""
    token, chat_id = secret("CUR_ALERT_TELEGRAM_BOT_TOKEN"), env("CUR_ALERT_TELEGRAM_CHAT_ID")
    if not (token and chat_id):
        return None
    return env("CUR_ALERT_TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL).rstrip("/"), token, chat_id


def alert_smtp() -> dict | None:
    """SMTP settings when CUR_ALERT_SMTP_HOST and CUR_ALERT_EMAIL_TO (comma-separated) are set."""
    host, recipients = env("CUR_ALERT_SMTP_HOST"), env("CUR_ALERT_EMAIL_TO")
    if not (host and recipients):
        return None
    return {
        "host": host,
        "port": _whole_number("CUR_ALERT_SMTP_PORT", 25),
        "starttls": env("CUR_ALERT_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
        "user": env("CUR_ALERT_SMTP_USER"),
        "password": secret("CUR_ALERT_SMTP_PASSWORD"),
        "sender": env("CUR_ALERT_EMAIL_FROM", "cur-platform@localhost"),
        "recipients": [address.strip() for address in recipients.split(",") if address.strip()],
    }


def stale_source_hours(source: str) -> int:
    """Hours without new data after which a source is reported stale: CUR_STALE_HOURS_<SOURCE> (e.g.
    CUR_STALE_HOURS_SED_APPEALS=48), else CUR_STALE_HOURS, else 24."""
    default = _whole_number("CUR_STALE_HOURS", DEFAULT_STALE_SOURCE_HOURS)
    return _whole_number(f"CUR_STALE_HOURS_{source.upper()}", default)


# --- Automation (defs/automation, the extraction schedules and sensors) ---

# A tick is a cheap look (a folder listing, a query of the instance); each of the two sensors between a dropped file
# and serving waits half an interval on average, which is freshness latency.
DEFAULT_SENSOR_INTERVAL_S = 10


def sensor_interval_s() -> int:
    """How often the inbox sensors and the after-load build sensor look (CUR_SENSOR_INTERVAL_S, default 10 s)."""
    return _whole_number("CUR_SENSOR_INTERVAL_S", DEFAULT_SENSOR_INTERVAL_S)


def schedules_on_by_default() -> bool:
    """Whether the schedules start RUNNING in a new instance: yes in production, where nobody should have to switch
    them on; no in development, where a schedule would hit whatever the API settings point to. CUR_SCHEDULES_ON
    (true/false) overrides it. An operator's start/stop in the UI always wins over the default."""
    value = env("CUR_SCHEDULES_ON")
    return is_production() if value is None else value.lower() in ("1", "true", "yes")


def cron(schedule_name: str, default: str) -> str:
    """A schedule's cron: CUR_CRON_<SCHEDULE NAME> (e.g. CUR_CRON_EXTRACT_POS_HOURLY="*/15 * * * *"), else `default`."""
    value = env(f"CUR_CRON_{schedule_name.upper()}", default)
    if len(value.split()) != 5:
        raise ValueError(f"CUR_CRON_{schedule_name.upper()} must be a five-field cron expression, got {value!r}")
    return value


# --- Deployment (dagster_project/deploy.py, `make up`) ---


def dagster_postgres_url() -> str | None:
    """The Dagster instance's PostgreSQL (runs, events, schedules): CUR_DAGSTER_PG_URL or its _FILE, e.g.
    postgresql://dagster:…@db:5432/dagster. Required in production; without it `make up` keeps SQLite in
    DAGSTER_HOME."""
    url = secret("CUR_DAGSTER_PG_URL")
    if is_production() and not url:
        raise ProductionConfigError(
            "CUR_ENV=production refuses to start: CUR_DAGSTER_PG_URL is not set "
            "(the Dagster instance's PostgreSQL, in the environment or CUR_DAGSTER_PG_URL_FILE)"
        )
    if url and url.split("://", 1)[0] in ("postgres", "postgresql"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]  # the driver installed (SQLAlchemy would try psycopg 3)
    return url


def deploy_ports() -> dict[str, int]:
    """Loopback ports of `make up`: the webserver (CUR_WEBSERVER_PORT, 3000) and the code server (CUR_CODE_SERVER_PORT,
    4266)."""
    return {
        "webserver": _whole_number("CUR_WEBSERVER_PORT", 3000),
        "code_server": _whole_number("CUR_CODE_SERVER_PORT", 4266),
    }


# --- The warehouse and PostgreSQL (dbt/profiles.yml reads the same variables) ---


def dbt_target() -> str:
    """The dbt target the warehouse is built on: duckdb (default), postgres or spark (DBT_TARGET)."""
    return env("DBT_TARGET", "duckdb")


def spark_ports() -> dict[str, int]:
    """Loopback ports of `make spark-up` (docs/scaling.md): the standalone master (CUR_SPARK_MASTER_PORT, 3477) and
    the web UIs of the master and the two workers (CUR_SPARK_UI_PORT, 3480, and the next two)."""
    ui = _whole_number("CUR_SPARK_UI_PORT", 3480)
    return {"master": _whole_number("CUR_SPARK_MASTER_PORT", 3477), "master_ui": ui, "worker_ui": ui + 1}


def spark_schema() -> str:
    """The schema (Spark database) of the marts on the `spark` target (SPARK_SCHEMA, cur; dbt/profiles.yml)."""
    return env("SPARK_SCHEMA", "cur")


def spark_worker_resources() -> tuple[int, str]:
    """Cores and memory each worker of `make spark-up` offers (CUR_SPARK_WORKER_CORES, 1; CUR_SPARK_WORKER_MEMORY,
    2g)."""
    return _whole_number("CUR_SPARK_WORKER_CORES", 1), env("CUR_SPARK_WORKER_MEMORY", "2g")


def spark_master_url() -> str:
    """The Spark master dbt's `spark` target runs on (SPARK_MASTER_URL; dbt/profiles.yml reads the same variable),
    by default the local cluster of `make spark-up`."""
    return env("SPARK_MASTER_URL", f"spark://127.0.0.1:{spark_ports()['master']}")


def serving_postgres_schema() -> str:
    """The PostgreSQL schema of the BI serving copy (SERVING_POSTGRES_SCHEMA, default serving)."""
    return env("SERVING_POSTGRES_SCHEMA", "serving")


def postgres_connection() -> dict:
    """psycopg2 connection arguments from the libpq variables, with dbt/profiles.yml's defaults."""
    return {
        "host": env("PGHOST", "127.0.0.1"),
        "port": int(env("PGPORT", "5432")),
        "user": env("PGUSER", "postgres"),
        "password": secret("PGPASSWORD") or "",
        "dbname": env("PGDATABASE", "test"),
    }


def warehouse_lock_timeout_s() -> float:
    """Seconds a writer of the warehouse waits for another one to finish before failing with the holder's name
    (CUR_WAREHOUSE_LOCK_TIMEOUT_S, lib/warehouse.py)."""
    value = env("CUR_WAREHOUSE_LOCK_TIMEOUT_S", str(DEFAULT_WAREHOUSE_LOCK_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"CUR_WAREHOUSE_LOCK_TIMEOUT_S must be a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise ValueError(f"CUR_WAREHOUSE_LOCK_TIMEOUT_S must be positive, got {value!r}")
    return seconds


def timestamp_window(load_time: datetime | None = None) -> tuple[datetime, datetime]:
    """[earliest, latest] plausible timestamp as naive UTC: from CUR_EARLIEST_TIMESTAMP (an ISO date, default
    2000-01-01) to the load time plus CUR_LATEST_TIMESTAMP_AHEAD_HOURS (default 24)."""
    earliest_text = env("CUR_EARLIEST_TIMESTAMP", DEFAULT_EARLIEST_TIMESTAMP)
    ahead_text = env("CUR_LATEST_TIMESTAMP_AHEAD_HOURS", str(DEFAULT_LATEST_TIMESTAMP_AHEAD_HOURS))
    try:
        earliest = datetime.combine(date.fromisoformat(earliest_text), datetime.min.time())
    except ValueError:
        raise ValueError(f"CUR_EARLIEST_TIMESTAMP must be an ISO date (YYYY-MM-DD), got {earliest_text!r}") from None
    try:
        ahead = float(ahead_text)
    except ValueError:
        raise ValueError(f"CUR_LATEST_TIMESTAMP_AHEAD_HOURS must be a number of hours, got {ahead_text!r}") from None
    if ahead < 0:
        raise ValueError(f"CUR_LATEST_TIMESTAMP_AHEAD_HOURS must not be negative, got {ahead_text!r}")
    now = load_time or datetime.now(UTC).replace(tzinfo=None)
    return earliest, now + timedelta(hours=ahead)
