"""The project's Superset client: deploys the dashboards-as-code bundle, roles and row-level security.

Everything is idempotent: the bundle is imported with `POST /api/v1/assets/import/` (which overwrites every
object with the same uuid), roles, users and RLS rules are looked up by name and updated in place.

The bundle lives in `superset/bundle/{databases,datasets,charts,dashboards}/*.yaml` in Superset's native export
format with two conveniences: `{{ serving_uri }}` and `{{ serving_schema }}` are replaced by the serving
database URI and schema (`main` in the DuckDB snapshot, `serving` in PostgreSQL), and a chart's
`query_context` is written as a YAML mapping (Superset wants it as a JSON string; the datasource id in it is
filled in by Superset on import).
"""

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from dagster_project.lib import paths

BUNDLE_DIR = paths.REPO_ROOT / "superset" / "bundle"
BUNDLE_FOLDERS = ("databases", "datasets", "charts", "dashboards")

READER_ROLE = "cur_reader"
"""Base role of every ЦУР user: Gamma's permissions plus read access to all datasets; RLS roles narrow the rows."""


def agency_role(agency_id: str) -> str:
    return f"agency_{agency_id}"


def region_role(region_code: str) -> str:
    return f"region_{region_code}"


def serving_duckdb_uri(path: Path) -> str:
    """SQLAlchemy URI Superset uses to open the serving snapshot without taking a write lock."""
    return f"duckdb:///{Path(path).resolve()}?access_mode=read_only"


def load_bundle(bundle_dir: Path = BUNDLE_DIR) -> dict[str, dict]:
    """Every YAML of the bundle, keyed by its path inside the bundle (e.g. `charts/rating_table.yaml`)."""
    configs = {}
    for folder in BUNDLE_FOLDERS:
        for file in sorted((bundle_dir / folder).glob("*.yaml")):
            configs[f"{folder}/{file.name}"] = yaml.safe_load(file.read_text(encoding="utf-8"))
    return configs


def render_bundle(serving_uri: str, serving_schema: str = "main", bundle_dir: Path = BUNDLE_DIR) -> bytes:
    """The import ZIP: the serving URI and schema filled in and chart query contexts as JSON."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        metadata = {"version": "1.0.0", "type": "assets", "timestamp": "2025-01-01T00:00:00+00:00"}
        bundle.writestr("cur_bundle/metadata.yaml", yaml.safe_dump(metadata))
        for name, config in load_bundle(bundle_dir).items():
            if name.startswith("databases/"):
                config["sqlalchemy_uri"] = config["sqlalchemy_uri"].replace("{{ serving_uri }}", serving_uri)
            if name.startswith("datasets/"):
                config["schema"] = config["schema"].replace("{{ serving_schema }}", serving_schema)
            if name.startswith("charts/") and isinstance(config.get("query_context"), dict):
                config["query_context"] = json.dumps(config["query_context"], ensure_ascii=False)
            bundle.writestr(f"cur_bundle/{name}", yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return buffer.getvalue()


@dataclass(frozen=True)
class RlsRule:
    name: str
    role: str
    clause: str
    table_names: tuple[str, ...]
    group_key: str
    description: str


def rls_rules(dataset_columns: dict[str, set[str]], agencies: list[tuple[str, str]]) -> list[RlsRule]:
    """One rule per region (every dataset with `region_code`) and one per agency (datasets with `agency_id`).

    `agencies` are (agency_id, region_code) pairs. Different group keys are ANDed by Superset, so a user holding
    an agency role and its region role sees its agency's rows within its region.
    """
    region_tables = tuple(sorted(name for name, columns in dataset_columns.items() if "region_code" in columns))
    agency_tables = tuple(sorted(name for name, columns in dataset_columns.items() if "agency_id" in columns))
    rules = []
    for region_code in sorted({region for _, region in agencies}):
        rules.append(
            RlsRule(
                name=f"region {region_code}",
                role=region_role(region_code),
                clause=f"region_code = '{region_code}'",
                table_names=region_tables,
                group_key="region",
                description=f"Строки региона {region_code}",
            )
        )
    for agency_id, _ in sorted(agencies):
        rules.append(
            RlsRule(
                name=f"agency {agency_id}",
                role=agency_role(agency_id),
                clause=f"agency_id = '{agency_id}'",
                table_names=agency_tables,
                group_key="agency",
                description=f"Строки органа {agency_id}",
            )
        )
    return rules


class SupersetError(RuntimeError):
    pass


class SupersetClient:
    """A logged-in session against one Superset (JWT for the API, the session cookie and CSRF token for writes)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"Referer": self.base_url})
        token = self._call("POST", "/api/v1/security/login", json={
            "username": username, "password": password, "provider": "db", "refresh": True,
        })["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.headers["X-CSRFToken"] = self._call("GET", "/api/v1/security/csrf_token/")["result"]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "SupersetClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise SupersetError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else {}

    def _list(self, path: str, filters: list[dict] | None = None, columns: list[str] | None = None) -> list[dict]:
        """Every row of a FAB list endpoint, page by page (rison `q`)."""
        rows, page = [], 0
        while True:
            query = {"page": page, "page_size": 100, "filters": filters or []}
            if columns:
                query["columns"] = columns
            result = self._call("GET", path, params={"q": _rison(query)})
            rows.extend(result["result"])
            if len(rows) >= result.get("count", 0) or not result["result"]:
                return rows
            page += 1

    # --- bundle -----------------------------------------------------------------------------------------

    def import_bundle(self, bundle: bytes) -> None:
        self._call(
            "POST",
            "/api/v1/assets/import/",
            files={"bundle": ("cur_bundle.zip", bundle, "application/zip")},
            data={"passwords": "{}"},
        )

    def by_uuid(self, kind: str, columns: list[str]) -> dict[str, dict]:
        """Charts, dashboards or datasets (`kind` = chart / dashboard / dataset) keyed by uuid."""
        return {row["uuid"]: row for row in self._list(f"/api/v1/{kind}/", columns=["id", "uuid", *columns])}

    def refresh_dataset(self, dataset_id: int) -> set[str]:
        """Sync the dataset's columns from the database; returns the column names."""
        self._call("PUT", f"/api/v1/dataset/{dataset_id}/refresh")
        return {column["column_name"] for column in self._call("GET", f"/api/v1/dataset/{dataset_id}")["result"]["columns"]}

    def chart_data(self, chart_id: int) -> list[dict]:
        """Rows of every query of the chart's saved query context."""
        result = self._call("GET", f"/api/v1/chart/{chart_id}/data/", params={"format": "json", "type": "full"})
        for query in result["result"]:
            if query.get("error"):
                raise SupersetError(f"chart {chart_id}: {query['error']}")
        return [row for query in result["result"] for row in query["data"]]

    # --- security ---------------------------------------------------------------------------------------

    def role_ids(self) -> dict[str, int]:
        return {row["name"]: row["id"] for row in self._list("/api/v1/security/roles/")}

    def ensure_roles(self, names: list[str]) -> dict[str, int]:
        existing = self.role_ids()
        for name in names:
            if name not in existing:
                existing[name] = self._call("POST", "/api/v1/security/roles/", json={"name": name})["id"]
        return existing

    def ensure_reader_role(self) -> int:
        """`cur_reader` = Gamma's permissions + all_datasource_access (row visibility is then up to RLS)."""
        roles = self.ensure_roles([READER_ROLE])
        gamma = self._call("GET", f"/api/v1/security/roles/{roles['Gamma']}/permissions/")["result"]
        wanted = {permission["id"] for permission in gamma}
        all_datasources = self._list(
            "/api/v1/security/permissions-resources/",
            filters=[{"col": "view_menu", "opr": "rel_o_m", "value": self._view_menu_id("all_datasource_access")}],
        )
        wanted |= {row["id"] for row in all_datasources}
        self._call("POST", f"/api/v1/security/roles/{roles[READER_ROLE]}/permissions", json={
            "permission_view_menu_ids": sorted(wanted),
        })
        return roles[READER_ROLE]

    def _view_menu_id(self, name: str) -> int:
        rows = self._list("/api/v1/security/resources/", filters=[{"col": "name", "opr": "eq", "value": name}])
        if not rows:
            raise SupersetError(f"no Superset resource {name!r}")
        return rows[0]["id"]

    def ensure_rls_rules(self, rules: list[RlsRule], dataset_ids: dict[str, int]) -> int:
        """Create or update every rule by name (unchanged rules are left alone); returns how many rules apply."""
        role_ids = self.ensure_roles(sorted({rule.role for rule in rules}))
        existing = {row["name"]: row for row in self._list("/api/v1/rowlevelsecurity/")}
        applied = 0
        for rule in rules:
            if not rule.table_names:
                continue
            body = {
                "name": rule.name,
                "description": rule.description,
                "filter_type": "Regular",
                "tables": sorted(dataset_ids[name] for name in rule.table_names),
                "roles": [role_ids[rule.role]],
                "group_key": rule.group_key,
                "clause": rule.clause,
            }
            current = existing.get(rule.name)
            if current is None:
                self._call("POST", "/api/v1/rowlevelsecurity/", json=body)
            elif _rls_differs(current, body):
                self._call("PUT", f"/api/v1/rowlevelsecurity/{current['id']}", json=body)
            applied += 1
        return applied

    def ensure_user(self, username: str, password: str, roles: list[str]) -> int:
        role_ids = self.ensure_roles(roles)
        body = {
            "username": username,
            "first_name": username,
            "last_name": "ЦУР",
            "email": f"{username}@cur.local",
            "active": True,
            "password": password,
            "roles": [role_ids[name] for name in roles],
        }
        users = self._list("/api/v1/security/users/", filters=[{"col": "username", "opr": "eq", "value": username}])
        if users:
            self._call("PUT", f"/api/v1/security/users/{users[0]['id']}", json=body)
            return users[0]["id"]
        return self._call("POST", "/api/v1/security/users/", json=body)["id"]


def _rls_differs(current: dict, wanted: dict) -> bool:
    return (
        sorted(table["id"] for table in current["tables"]) != wanted["tables"]
        or sorted(role["id"] for role in current["roles"]) != wanted["roles"]
        or (current["clause"], current["group_key"], current["filter_type"])
        != (wanted["clause"], wanted["group_key"], wanted["filter_type"])
    )


def _rison(value) -> str:
    """Minimal rison encoder for FAB list queries (dicts, lists, strings, numbers, booleans)."""
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list):
        return "!(" + ",".join(_rison(item) for item in value) + ")"
    return "(" + ",".join(f"{key}:{_rison(item)}" for key, item in value.items()) + ")"


@dataclass
class DeployResult:
    datasets: dict[str, int]
    """table name → dataset id"""
    charts: dict[str, int]
    """chart uuid → chart id (every chart's data endpoint answered)"""
    dashboards: dict[str, int]
    """dashboard slug → dashboard id"""
    rls_rules: int
    duration_s: float


def deploy(
    client: SupersetClient,
    serving_uri: str,
    agencies: list[tuple[str, str]],
    serving_schema: str = "main",
    bundle_dir: Path = BUNDLE_DIR,
) -> DeployResult:
    """Import the bundle, sync dataset columns, create the reader/region/agency roles and RLS, check every chart.

    `agencies`: (agency_id, region_code) pairs to create roles for, read from the serving data by the caller.
    """
    started = time.monotonic()
    client.import_bundle(render_bundle(serving_uri, serving_schema, bundle_dir))
    bundle = load_bundle(bundle_dir)
    uuids = {folder: {config["uuid"] for name, config in bundle.items() if name.startswith(f"{folder}/")} for folder in BUNDLE_FOLDERS}
    datasets = {row["table_name"]: row["id"] for uuid, row in client.by_uuid("dataset", ["table_name"]).items() if uuid in uuids["datasets"]}
    columns = {name: client.refresh_dataset(dataset_id) for name, dataset_id in sorted(datasets.items())}
    client.ensure_reader_role()
    rules = rls_rules(columns, agencies)
    applied = client.ensure_rls_rules(rules, datasets)
    charts = {uuid: row["id"] for uuid, row in client.by_uuid("chart", ["slice_name"]).items() if uuid in uuids["charts"]}
    for chart_id in charts.values():
        client.chart_data(chart_id)
    dashboards = {row["slug"]: row["id"] for uuid, row in client.by_uuid("dashboard", ["slug"]).items() if uuid in uuids["dashboards"]}
    return DeployResult(datasets, charts, dashboards, applied, round(time.monotonic() - started, 2))
