"""Superset configuration for the ЦУР dashboards (loaded through env SUPERSET_CONFIG_PATH by superset/manage.py).

Everything that differs between a laptop, CI and production comes from the environment:
SUPERSET_HOME (state folder), SUPERSET_METADATA_URI (metadata DB; SQLite under SUPERSET_HOME by default),
SUPERSET_SECRET_KEY or the file named by SUPERSET_SECRET_KEY_FILE (session and encryption key). The rules are the
platform's own (dagster_project/lib/settings.py, loaded by path: this runs in Superset's venv): with
CUR_ENV=production Superset refuses to start without a strong secret key, outside production it uses a labelled
development key and manage.py binds it to loopback only.
"""

import importlib.util
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "cur_platform_settings", REPO_ROOT / "dagster_project" / "lib" / "settings.py"
)
platform_settings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(platform_settings)

SUPERSET_HOME = Path(os.environ.get("SUPERSET_HOME", REPO_ROOT / "data" / "superset"))
DATA_DIR = str(SUPERSET_HOME)

SQLALCHEMY_DATABASE_URI = platform_settings.secret("SUPERSET_METADATA_URI") or (
    f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)
# Production: from env or file, never a public default (raises, so Superset does not start); development: the
# platform's labelled development key.
SECRET_KEY = platform_settings.superset_secret_key()

# Russian interface for analysts and management; English stays available.
BABEL_DEFAULT_LOCALE = "ru"
LANGUAGES = {"ru": {"flag": "ru", "name": "Русский"}, "en": {"flag": "us", "name": "English"}}

# The deploy client authenticates with JWT and sends the CSRF token, so CSRF stays on.
WTF_CSRF_ENABLED = True
# Roles, users and RLS rules are created over REST by dagster_project/lib/superset_client.py.
FAB_ADD_SECURITY_API = True
# Nothing for anonymous visitors: the Public role stays empty.
PUBLIC_ROLE_LIKE = None

# Served over plain HTTP on loopback; behind a TLS proxy in production enable Talisman there.
TALISMAN_ENABLED = os.environ.get("TALISMAN_ENABLED", "false").lower() == "true"
CONTENT_SECURITY_POLICY_WARNING = False
RATELIMIT_ENABLED = False

# No Redis here: no result cache, synchronous queries. The serving DuckDB file is small and read-only.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}

FEATURE_FLAGS = {
    "DASHBOARD_RBAC": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
    # Row-level security also on what SQL Lab runs (SQL Lab itself only for cur_analyst and Admin).
    "RLS_IN_SQLLAB": True,
}
ROW_LIMIT = 50000

# Russian number and date conventions on every chart (d3-format / d3-time-format locales): "299 514", "62,3 %",
# months and weekdays in Russian; charts name their formats ",d", ".1%", "%d.%m.%Y" (ДД.ММ.ГГГГ) in the bundle.
D3_FORMAT = {
    "decimal": ",",
    "thousands": "\u00a0",
    "grouping": [3],
    "currency": ["", "\u00a0₽"],
    "percent": "\u00a0%",
    "minus": "\u2212",
    "nan": "—",
}
D3_TIME_FORMAT = {
    "dateTime": "%A, %e %B %Y г. %X",
    "date": "%d.%m.%Y",
    "time": "%H:%M:%S",
    "periods": ["", ""],
    "days": ["воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"],
    "shortDays": ["вс", "пн", "вт", "ср", "чт", "пт", "сб"],
    "months": [
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ],
    "shortMonths": ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
}
