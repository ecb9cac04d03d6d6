"""Dagster resources of the warehouse, the serving layer and Superset: what the assets, checks and sensors ask for
instead of calling lib/settings.py themselves. They are wired once, in definitions.py.

Unset fields take their value at run time from lib/settings.py and lib/paths.py (the environment), so the same
definitions serve `make run`, the tests with their own data folder and production. Secrets are never fields (run
config is stored in Dagster's run storage): the resources read them from settings when asked.
"""

from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, Failure
from pydantic import Field

from dagster_project.lib import paths, settings, warehouse


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse: its file and the settings of the DuckDB connections opened on it."""

    path: str | None = Field(
        default=None, description="unset: env WAREHOUSE_PATH, default <CUR_DATA_DIR>/warehouse.duckdb"
    )
    threads: int | None = Field(default=None, description="unset: the threads of dbt/profiles.yml's duckdb output")
    memory_limit: str | None = Field(
        default=None, description="unset: the memory_limit of dbt/profiles.yml's duckdb output (e.g. 3GB)"
    )

    def resolved_path(self) -> Path:
        return Path(self.path).resolve() if self.path else paths.warehouse_path()

    def duckdb_config(self) -> dict:
        """DuckDB's settings for a connection: the dbt profile's, with this resource's threads and memory limit."""
        config = dict(warehouse.duckdb_settings())
        if self.threads is not None:
            config["threads"] = self.threads
        if self.memory_limit is not None:
            config["memory_limit"] = self.memory_limit
        return config

    def lock(self, purpose: str):
        """The warehouse lock (lib/warehouse.py) on this warehouse."""
        return warehouse.lock(purpose, warehouse=self.resolved_path())

    @contextmanager
    def read_only(self, purpose: str):
        """A read-only connection under the warehouse lock: no writer changes the warehouse while it is read."""
        with (
            self.lock(purpose),
            duckdb.connect(str(self.resolved_path()), read_only=True, config=self.duckdb_config()) as con,
        ):
            yield con

    def require_settings_path(self, reader: str) -> None:
        """dbt's profile and Great Expectations find the warehouse through the environment (WAREHOUSE_PATH,
        CUR_DATA_DIR) themselves: a resource pointing elsewhere would make them build or check another file."""
        if self.resolved_path() != paths.warehouse_path():
            raise Failure(
                f"the warehouse resource points at {self.resolved_path()}, but {reader} reads the warehouse named by "
                f"the environment ({paths.warehouse_path()}): set WAREHOUSE_PATH instead of the resource's path"
            )


class ServingResource(ConfigurableResource):
    """The serving layer BI reads: the DuckDB catalog of the served marts and the optional PostgreSQL copy."""

    path: str | None = Field(
        default=None, description="unset: env SERVING_PATH, default <CUR_DATA_DIR>/serving/marts.duckdb"
    )
    postgres_schema: str | None = Field(default=None, description="unset: env SERVING_POSTGRES_SCHEMA, default serving")

    def catalog(self) -> Path:
        return Path(self.path).resolve() if self.path else paths.serving_path()

    def postgres_url(self) -> str | None:
        """The PostgreSQL serving copy's URL (a secret: env SERVING_POSTGRES_URL or its _FILE); None: no copy."""
        return settings.secret("SERVING_POSTGRES_URL")

    def resolved_postgres_schema(self) -> str:
        return self.postgres_schema or settings.serving_postgres_schema()


class SupersetResource(ConfigurableResource):
    """The Superset the dashboards are deployed to, as its admin (password from env or file, never a field)."""

    url: str | None = Field(default=None, description="unset: env SUPERSET_URL; none: nothing is deployed")

    def resolved_url(self) -> str | None:
        return self.url or settings.env("SUPERSET_URL")

    def admin(self) -> tuple[str, str]:
        """Login of Superset's admin: SUPERSET_ADMIN_USER, password SUPERSET_ADMIN_PASSWORD or its _FILE."""
        return settings.superset_admin()

    def serving_uri(self) -> str | None:
        """The database Superset reads the marts from when not the DuckDB catalog (a secret: SUPERSET_SERVING_URI)."""
        return settings.secret("SUPERSET_SERVING_URI")


def platform_resources() -> dict:
    """The resources above with their defaults from settings, as definitions.py wires them."""
    return {"warehouse": WarehouseResource(), "serving_layer": ServingResource(), "superset": SupersetResource()}
