"""Superset configuration for the ЦУР dashboards (loaded through env SUPERSET_CONFIG_PATH by superset/manage.py).

Everything that differs between a laptop, CI and production comes from the environment:
SUPERSET_HOME (state folder), SUPERSET_METADATA_URI (metadata DB; SQLite under SUPERSET_HOME by default),
SUPERSET_SECRET_KEY (required outside loopback use).
"""

import os
from pathlib import Path

SUPERSET_HOME = Path(os.environ.get("SUPERSET_HOME", Path(__file__).resolve().parents[1] / "data" / "superset"))
DATA_DIR = str(SUPERSET_HOME)

SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_METADATA_URI", f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)
# The default is only good for a local instance bound to 127.0.0.1; production sets SUPERSET_SECRET_KEY.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "cur-local-superset-only-on-loopback")

# Russian interface for analysts and management; English stays available.
BABEL_DEFAULT_LOCALE = "ru"
LANGUAGES = {"ru": {"flag": "ru", "name": "Русский"}, "en": {"flag": "us", "name": "English"}}

# The deploy client authenticates with JWT and sends the CSRF token, so CSRF stays on.
WTF_CSRF_ENABLED = True
# Roles, users and RLS rules are created over REST by dagster_project/lib/superset_client.py.
FAB_ADD_SECURITY_API = True

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
}
ROW_LIMIT = 50000
