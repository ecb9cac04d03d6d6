"""The sandbox's `make run` and `make ui`: generate the sandbox sources (once per scale and seed), serve their APIs,
then run the product's pipeline (`dagster_project.cli`) or its UI against them.

With a real source configured (any of CUR_INBOX_DIR, POS_BASE_URL, INCIDENT_BASE_URL) nothing is generated or
served: `run` is the product's `python -m dagster_project.cli run`, which needs every source.
"""

import json
import time
from contextlib import contextmanager

from dagster_project import cli
from dagster_project.lib import paths
from sandbox.generator import generate
from sandbox.manual_inputs import write_manual_inputs
from sandbox.server import running_server


def ensure_sandbox(scale: int, seed: int) -> dict:
    """Generate the sandbox once per (scale, seed); a later run with the same knobs reuses it."""
    marker = paths.sandbox_dir() / "generated.json"
    wanted = {"scale": scale, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()).get("params") == wanted:
        print(f"sandbox: reusing {paths.sandbox_dir()} (scale={scale}, seed={seed})", flush=True)
        return json.loads(marker.read_text())["summary"]
    print(f"sandbox: generating {scale} appeals (seed={seed}) …", flush=True)
    started = time.monotonic()
    summary = generate(paths.sandbox_dir(), paths.inbox_dir(""), scale, seed=seed)
    write_manual_inputs(paths.data_dir(), seed=seed)
    marker.write_text(json.dumps({"params": wanted, "summary": summary}, default=str, ensure_ascii=False))
    print(f"sandbox: generated in {time.monotonic() - started:.1f} s: {summary}", flush=True)
    return summary


@contextmanager
def serving_apis():
    """The sandbox's ПОС and Инцидент Менеджмент APIs; yields the source settings that point at them."""
    with running_server(paths.sandbox_dir()) as base_url:
        print(f"sandbox: serving ПОС and Инцидент Менеджмент at {base_url}", flush=True)
        yield {"POS_BASE_URL": f"{base_url}/pos/v1", "INCIDENT_BASE_URL": f"{base_url}/im/v1"}


def run(scale: int, seed: int) -> int:
    if cli.real_sources():
        return cli.run()
    ensure_sandbox(scale, seed)
    with serving_apis() as sources:
        return cli.run_pipeline(sources)


def ui(port: int) -> int:
    """The product's UI; the sandbox serves the APIs when it has been generated and no real source is configured."""
    if cli.real_sources() or not (paths.sandbox_dir() / "api").exists():
        return cli.ui(port)
    with serving_apis() as sources:
        return cli.ui(port, env=sources)
