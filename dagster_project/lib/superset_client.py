"""The project's Superset client: deploys the dashboards-as-code bundle, roles and row-level security.

Everything is idempotent: the bundle is imported with `POST /api/v1/assets/import/` (which overwrites every
object with the same uuid), roles, users and RLS rules are looked up by name and updated in place.

The bundle lives in `superset/bundle/{databases,datasets,charts,dashboards}/*.yaml` in Superset's native export
format with three conveniences: `{{ serving_uri }}` and `{{ serving_schema }}` are replaced by the serving
database URI and schema (`main` in the DuckDB catalog, `serving` in PostgreSQL), a chart's `query_context` is written
as a YAML mapping (Superset wants it as a JSON string; the datasource id in it is filled in by Superset on import),
and every dataset declares who may see its rows (`access`, removed before the import):

    access: [region, agency]   # region roles see their region's rows, agency roles their agency's rows
    access: [region]           # region roles see their region's rows; hidden from agency roles
    access: []                 # only the ЦУР-wide roles (cur_analyst, Admin)
    access: public             # a public aggregate: every role sees every row

Access is default-deny: no role has `all_datasource_access`; a role reads a dataset only through a
`datasource_access` permission given here, and every such grant to a region or agency role comes with its row-level
filter. A dataset without a declaration, or with a region_code / agency_id column it does not declare, stops the
deploy. SQL Lab belongs to `cur_analyst` (and Admin) only, with RLS applied there too (`RLS_IN_SQLLAB`).

preset-cli (`superset-cli sync native`) was weighed for this: it imports the same native bundle, but manages roles
and RLS by scraping Flask-AppBuilder's HTML forms (BeautifulSoup) and brings pandas/bs4 into the project's venv,
while everything here is a handful of documented REST calls.
"""

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import yaml

from dagster_project.lib import paths, semantic

BUNDLE_DIR = paths.REPO_ROOT / "superset" / "bundle"
BUNDLE_FOLDERS = ("databases", "datasets", "charts", "dashboards")

READER_ROLE = "cur_reader"
"""Base role of every ЦУР user: Gamma's permissions (menus, dashboards, charts) and the public datasets; the rows of
every other dataset come only with a region or agency role (or cur_analyst)."""
ANALYST_ROLE = "cur_analyst"
"""The ЦУР's own analysts: every dataset, all rows, and SQL Lab on the serving database."""
DIMENSION_COLUMNS = {"region": "region_code", "agency": "agency_id"}
PUBLIC = "public"
# Permissions that open data beyond a single dataset or open SQL Lab: never part of the base or a restricted role.
WIDE_DATA_PERMISSIONS = frozenset(
    {
        "all_datasource_access",
        "all_database_access",
        "all_query_access",
        "database_access",
        "catalog_access",
        "schema_access",
        "datasource_access",
    }
)


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


def dataset_tables(bundle_dir: Path = BUNDLE_DIR) -> list[str]:
    """The mart behind every dataset of the bundle: what the serving layer must hold for Superset."""
    return sorted(
        config["table_name"] for name, config in load_bundle(bundle_dir).items() if name.startswith("datasets/")
    )


class BundleError(ValueError):
    """The bundle breaks a rule of this platform (an access declaration missing or wrong); nothing is deployed."""


def dataset_access(bundle: dict[str, dict]) -> dict[str, tuple[str, ...] | str]:
    """table name → its declared dimensions (a tuple of `region` / `agency`) or `public`; BundleError when any dataset
    has no valid declaration."""
    access, problems = {}, []
    for name, config in bundle.items():
        if not name.startswith("datasets/"):
            continue
        declared = config.get("access")
        if declared == PUBLIC:
            access[config["table_name"]] = PUBLIC
        elif (
            isinstance(declared, list)
            and set(declared) <= set(DIMENSION_COLUMNS)
            and len(set(declared)) == len(declared)
        ):
            access[config["table_name"]] = tuple(sorted(declared))
        else:
            problems.append(
                f"{name}: access must be '{PUBLIC}' or a list of {sorted(DIMENSION_COLUMNS)}, got {declared!r}"
            )
    if problems:
        raise BundleError("datasets without a valid access declaration: " + "; ".join(problems))
    return access


def check_access_columns(access: dict[str, tuple[str, ...] | str], columns: dict[str, set[str]]) -> None:
    """Every declared dimension has its column, and every dimension column present is declared (or the dataset is
    public): a region_code the declaration forgot would leave its rows unfiltered for no one and hidden by accident."""
    problems = []
    for table, declared in sorted(access.items()):
        for dimension, column in DIMENSION_COLUMNS.items():
            if declared != PUBLIC and dimension in declared and column not in columns[table]:
                problems.append(f"{table} declares {dimension} but has no column {column}")
            if declared != PUBLIC and dimension not in declared and column in columns[table]:
                problems.append(f"{table} has {column} but does not declare {dimension}")
    if problems:
        raise BundleError("dataset access declarations do not match the data: " + "; ".join(problems))


def first_values(bundle: dict[str, dict], catalog: Path) -> dict[str, str]:
    """Native filter id → the value a filter that starts on its first item («Месяц отчёта»: the last complete month;
    the heat map's «Регион») starts on, read from the serving catalog the way Superset orders the filter's options.

    Superset's own «select first filter value by default» only pre-selects the value in the filter bar and leaves it
    unapplied until the user clicks «Применить»; the deploy writes the value as the filter's default instead, so the
    dashboards open on it. Every deploy (after every publish) moves it on with the data."""
    tables = {config["uuid"]: config["table_name"] for name, config in bundle.items() if name.startswith("datasets/")}
    values = {}
    with duckdb.connect(str(catalog), read_only=True) as con:
        for name, config in bundle.items():
            if not name.startswith("dashboards/"):
                continue
            for native in config["metadata"]["native_filter_configuration"]:
                if not native["controlValues"].get("defaultToFirstItem"):
                    continue
                [target] = native["targets"]
                column, table = target["column"]["name"], tables[target["datasetUuid"]]
                where = " and ".join(f"({f['sqlExpression']})" for f in native.get("adhoc_filters", [])) or "true"
                order = "asc" if native["controlValues"].get("sortAscending", True) else "desc"
                row = con.execute(
                    f"select distinct {column} from main.{table} where {where} and {column} is not null "
                    f"order by 1 {order} limit 1"
                ).fetchone()
                if row:
                    values[native["id"]] = row[0]
    return values


def render_bundle(
    serving_uri: str,
    serving_schema: str = "main",
    bundle_dir: Path = BUNDLE_DIR,
    filter_defaults: dict[str, str] | None = None,
) -> bytes:
    """The import ZIP: the serving URI and schema filled in, chart query contexts as JSON, access declarations checked
    and left out (they are this platform's, not Superset's), the semantic layer generated, and the filters that start
    on their first item given that value as their default (`first_values`)."""
    buffer = io.BytesIO()
    bundle_configs = load_bundle(bundle_dir)
    dataset_access(bundle_configs)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        metadata = {"version": "1.0.0", "type": "assets", "timestamp": "2025-01-01T00:00:00+00:00"}
        bundle.writestr("cur_bundle/metadata.yaml", yaml.safe_dump(metadata))
        for name, config in bundle_configs.items():
            if name.startswith("databases/"):
                config["sqlalchemy_uri"] = config["sqlalchemy_uri"].replace("{{ serving_uri }}", serving_uri)
            if name.startswith("datasets/"):
                config["schema"] = config["schema"].replace("{{ serving_schema }}", serving_schema)
                del config["access"]
                # the semantic layer: labels, descriptions and saved metrics generated from the marts' dbt YAML
                config["columns"] = semantic.dataset_columns(
                    config["table_name"], semantic.mart_columns(config["table_name"])
                )
                config["metrics"] = semantic.dataset_metrics(config["table_name"])
            if name.startswith("dashboards/"):
                for native in config["metadata"]["native_filter_configuration"]:
                    if native["id"] in (filter_defaults or {}):
                        value = filter_defaults[native["id"]]
                        native["controlValues"]["defaultToFirstItem"] = False
                        native["defaultDataMask"] = {
                            "extraFormData": {
                                "filters": [{"col": native["targets"][0]["column"]["name"], "op": "IN", "val": [value]}]
                            },
                            "filterState": {"value": [value], "label": value},
                            "ownState": {},
                        }
            if name.startswith("charts/") and isinstance(config.get("query_context"), dict):
                config["query_context"] = json.dumps(config["query_context"], ensure_ascii=False)
            bundle.writestr(f"cur_bundle/{name}", yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return buffer.getvalue()


def check_documented(columns: dict[str, set[str]]) -> None:
    """Every column a dataset serves has a Russian label and a description in the marts' dbt YAML: an analyst never
    meets a bare column name."""
    problems = [
        f"{table}.{column}"
        for table, names in sorted(columns.items())
        for column in semantic.undocumented(table, sorted(names))
    ]
    if problems:
        raise BundleError("columns without a label or description in the marts' dbt YAML: " + ", ".join(problems))


@dataclass(frozen=True)
class RlsRule:
    name: str
    role: str
    clause: str
    table_names: tuple[str, ...]
    group_key: str
    description: str


def rls_rules(access: dict[str, tuple[str, ...] | str], agencies: list[tuple[str, str]]) -> list[RlsRule]:
    """One rule per region (every dataset declaring `region`) and one per agency (datasets declaring `agency`).

    `agencies` are (agency_id, region_code) pairs. Different group keys are ANDed by Superset, so a user holding
    an agency role and its region role sees its agency's rows within its region.
    """
    rules = []
    for dimension, values in (
        ("region", sorted({region for _, region in agencies})),
        ("agency", sorted(agency for agency, _ in agencies)),
    ):
        tables = dimension_tables(access, dimension)
        column = DIMENSION_COLUMNS[dimension]
        role = region_role if dimension == "region" else agency_role
        label = "региона" if dimension == "region" else "органа"
        rules += [
            RlsRule(
                name=f"{dimension} {value}",
                role=role(value),
                clause=f"{column} = '{value}'",
                table_names=tables,
                group_key=dimension,
                description=f"Строки {label} {value}",
            )
            for value in values
        ]
    return rules


def dimension_tables(access: dict[str, tuple[str, ...] | str], dimension: str) -> tuple[str, ...]:
    return tuple(sorted(table for table, declared in access.items() if declared != PUBLIC and dimension in declared))


class SupersetError(RuntimeError):
    pass


class SupersetClient:
    """A logged-in session against one Superset (JWT for the API, the session cookie and CSRF token for writes)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"Referer": self.base_url})
        token = self._call(
            "POST",
            "/api/v1/security/login",
            json={
                "username": username,
                "password": password,
                "provider": "db",
                "refresh": True,
            },
        )["access_token"]
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
        return {column["column_name"] for column in self.dataset(dataset_id)["columns"]}

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

    def role_permissions(self, role_id: int) -> set[int]:
        return {row["id"] for row in self._call("GET", f"/api/v1/security/roles/{role_id}/permissions/")["result"]}

    def permission_ids(self) -> dict[tuple[str, str], int]:
        """(permission, resource) → permission-on-resource id, e.g. ("datasource_access", "[db].[table](id:3)")."""
        return {
            (row["permission"]["name"], row["view_menu"]["name"]): row["id"]
            for row in self._list("/api/v1/security/permissions-resources/")
        }

    def set_role_permissions(self, role_id: int, permission_ids: set[int]) -> None:
        """Replace the role's permissions (one call; roles are this deploy's, not edited by hand)."""
        self._call(
            "POST",
            f"/api/v1/security/roles/{role_id}/permissions",
            json={
                "permission_view_menu_ids": sorted(permission_ids),
            },
        )

    def dataset(self, dataset_id: int) -> dict:
        return self._call("GET", f"/api/v1/dataset/{dataset_id}")["result"]

    def ensure_rls_rules(self, rules: list[RlsRule], dataset_ids: dict[str, int]) -> int:
        """Create or update every rule by name (unchanged rules are left alone); returns how many rules apply."""
        role_ids = self.ensure_roles(sorted({rule.role for rule in rules}))
        existing = {row["name"]: row for row in self._list("/api/v1/rowlevelsecurity/")}
        applied = 0
        for rule in rules:
            current = existing.get(rule.name)
            if not rule.table_names:  # no dataset has the dimension (any more): no rule
                if current is not None:
                    self._call("DELETE", f"/api/v1/rowlevelsecurity/{current['id']}")
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
    serving_catalog: Path | None = None,
) -> DeployResult:
    """Import the bundle, sync dataset columns, give the roles their datasets and row-level security, check every chart.

    `agencies`: (agency_id, region_code) pairs to create roles for, read from the serving data by the caller;
    `serving_catalog`: the serving DuckDB catalog the filters' starting values are read from (`first_values`). Stops
    with BundleError before anything is imported when a dataset has no access declaration, and before any role is given
    a dataset when a declaration does not match the dataset's columns.
    """
    started = time.monotonic()
    bundle = load_bundle(bundle_dir)
    access = dataset_access(bundle)
    defaults = first_values(bundle, serving_catalog) if serving_catalog else None
    client.import_bundle(render_bundle(serving_uri, serving_schema, bundle_dir, defaults))
    uuids = {
        folder: {config["uuid"] for name, config in bundle.items() if name.startswith(f"{folder}/")}
        for folder in BUNDLE_FOLDERS
    }
    datasets = {
        row["table_name"]: row["id"]
        for uuid, row in client.by_uuid("dataset", ["table_name"]).items()
        if uuid in uuids["datasets"]
    }
    columns = {name: client.refresh_dataset(dataset_id) for name, dataset_id in sorted(datasets.items())}
    check_access_columns(access, columns)
    check_documented(columns)
    grant_dataset_access(client, access, datasets, agencies)
    applied = client.ensure_rls_rules(rls_rules(access, agencies), datasets)
    charts = {
        uuid: row["id"] for uuid, row in client.by_uuid("chart", ["slice_name"]).items() if uuid in uuids["charts"]
    }
    for chart_id in charts.values():
        client.chart_data(chart_id)
    dashboards = {
        row["slug"]: row["id"]
        for uuid, row in client.by_uuid("dashboard", ["slug"]).items()
        if uuid in uuids["dashboards"]
    }
    return DeployResult(datasets, charts, dashboards, applied, round(time.monotonic() - started, 2))


def grant_dataset_access(
    client: SupersetClient,
    access: dict[str, tuple[str, ...] | str],
    datasets: dict[str, int],
    agencies: list[tuple[str, str]],
) -> None:
    """The permissions of cur_reader, cur_analyst and every region and agency role, replaced on each deploy (see the
    module doc): the base is Gamma's UI permissions without any data or SQL Lab permission."""
    regions = sorted({region for _, region in agencies})
    roles = client.ensure_roles(
        [
            "Gamma",
            "sql_lab",
            READER_ROLE,
            ANALYST_ROLE,
            *map(region_role, regions),
            *(agency_role(agency) for agency, _ in agencies),
        ]
    )
    index = client.permission_ids()
    names = {permission_id: permission for (permission, _), permission_id in index.items()}
    sql_lab = client.role_permissions(roles["sql_lab"])
    base = {
        pid for pid in client.role_permissions(roles["Gamma"]) if names.get(pid) not in WIDE_DATA_PERMISSIONS
    } - sql_lab
    grants, databases = {}, set()
    for table, dataset_id in datasets.items():
        database = client.dataset(dataset_id)["database"]
        databases.add((database["id"], database["database_name"]))
        grants[table] = index[("datasource_access", f"[{database['database_name']}].[{table}](id:{dataset_id})")]
    public = {grants[table] for table, declared in access.items() if declared == PUBLIC}
    client.set_role_permissions(roles[READER_ROLE], base | public)
    client.set_role_permissions(
        roles[ANALYST_ROLE],
        base
        | sql_lab
        | set(grants.values())
        | {index[("database_access", f"[{name}].(id:{database_id})")] for database_id, name in databases},
    )
    for dimension, values in (("region", regions), ("agency", [agency for agency, _ in agencies])):
        tables = {grants[table] for table in dimension_tables(access, dimension)}
        for value in values:
            role = region_role(value) if dimension == "region" else agency_role(value)
            client.set_role_permissions(roles[role], tables)
