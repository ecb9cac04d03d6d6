"""Dagster resources of the extraction: where the sources are and how to reach them.

Unset fields fall back to env vars at run time (defaults point at the sandbox), so the same definitions
serve the sandbox, tests with their own server and data dir, and production with real URLs and secrets.
"""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from dagster_project.lib import paths, pii, settings
from dagster_project.lib.http_client import JsonApiClient

API_DEFAULTS = {
    "pos": ("POS_BASE_URL", "http://127.0.0.1:8765/pos/v1", "POS_API_TOKEN"),
    "incident": ("INCIDENT_BASE_URL", "http://127.0.0.1:8765/im/v1", "INCIDENT_API_TOKEN"),
}
SANDBOX_TOKEN = "sandbox-token"


class SourceApiResource(ConfigurableResource):
    """An HTTP source API (ПОС or Инцидент Менеджмент)."""

    api: str = Field(description="pos or incident: picks the env vars <API>_BASE_URL and <API>_API_TOKEN")
    base_url: str | None = Field(default=None, description="unset: env POS_BASE_URL / INCIDENT_BASE_URL")
    token: str | None = Field(default=None, description="unset: env POS_API_TOKEN / INCIDENT_API_TOKEN")
    page_size: int = Field(
        default=5000, description="records per request (the API allows up to 5000; a page is converted in one batch)"
    )
    commit_every_records: int = Field(default=20_000, description="records per committed batch (Parquet part)")
    timeout_s: float = 30.0
    max_retries: int = 8
    backoff_base_s: float = 0.5

    def resolved_base_url(self) -> str:
        url_env, default_url, _ = API_DEFAULTS[self.api]
        return self.base_url or settings.env(url_env, default_url)

    def client(self) -> JsonApiClient:
        _, _, token_env = API_DEFAULTS[self.api]
        return JsonApiClient(
            self.resolved_base_url(),
            self.token or settings.secret(token_env) or SANDBOX_TOKEN,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
        )


def api_resources_run_config(base_urls: dict[str, str]) -> dict:
    """Run config of the API resources (`<api>_api`) pointing them at `base_urls` ({POS_BASE_URL: …,
    INCIDENT_BASE_URL: …}) for one run, e.g. the sandbox's server on a free port."""
    return {
        f"{api}_api": {"config": {"api": api, "base_url": base_urls[url_env]}}
        for api, (url_env, _, _) in API_DEFAULTS.items()
    }


class InboxResource(ConfigurableResource):
    """The drop folder of the file exports: <root>/sed/, <root>/portal/."""

    root_dir: str | None = Field(default=None, description="unset: env CUR_INBOX_DIR, default <data>/inbox")
    min_file_age_s: float = Field(default=10.0, description="the sensor waits until a file is this old (copy done)")

    def folder(self, inbox: str) -> Path:
        return Path(self.root_dir).resolve() / inbox if self.root_dir else paths.inbox_dir(inbox)


class PiiResource(ConfigurableResource):
    """The key of the citizen hashes (152-ФЗ): env PII_HASH_KEY or the file named by PII_HASH_KEY_FILE, never a
    field here (run config is stored in Dagster's run storage); production refuses a weak or missing key."""

    def key(self) -> bytes:
        return pii.hash_key()
