"""Superset lifecycle for the ЦУР dashboards: its own venv, metadata DB, server process and deploy.

Run with the project's interpreter (`.venv/bin/python superset/manage.py <command>`):
  venv    create or update `.venv-superset` (Superset 6.1 pins SQLAlchemy<2, pandas<2.2, numpy<2.3, so it can't
          share the project venv) and the screenshot tooling (Debian chromium, npm playwright-core)
  up      venv → metadata DB → server on 127.0.0.1:8088 → pipeline if the serving catalog is missing → deploy
  stop    stop the server started by `up`
  screenshots  PNG of every dashboard into data/screenshots/ (headless chromium, with a render check)

Secrets follow the platform's rules (dagster_project/lib/settings.py): the admin's password comes from
SUPERSET_ADMIN_PASSWORD or the file named by SUPERSET_ADMIN_PASSWORD_FILE and reaches the admin script and the
screenshot tool through their environment, never a command line; Superset's own process gets none of the pipeline's
secrets. Outside production the development defaults apply (admin / admin) and Superset binds to loopback only; with
CUR_ENV=production `up` refuses to start without strong secrets.

The functions are also used by tests/test_superset_integration.py to run a throwaway instance.
"""

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from dagster_project.lib import retention, settings

SUPERSET_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUPERSET_DIR.parent
VENV_DIR = Path(settings.env("SUPERSET_VENV", str(REPO_ROOT / ".venv-superset")))
SCREENSHOTS_DIR = SUPERSET_DIR / "screenshots"
CHROMIUM = Path(settings.env("CHROMIUM_PATH", "/usr/bin/chromium"))
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# The pipeline's secrets, which Superset's process does not need and does not get.
PIPELINE_ONLY_SECRETS = (
    "PII_HASH_KEY",
    "POS_API_TOKEN",
    "INCIDENT_API_TOKEN",
    "SERVING_POSTGRES_URL",
    "PGPASSWORD",
    "SUPERSET_ADMIN_PASSWORD",
)


def log(message: str) -> None:
    print(f"superset: {message}", flush=True)


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "constraints.txt"):
        digest.update((SUPERSET_DIR / name).read_bytes())
    return digest.hexdigest()


def ensure_venv(venv: Path = VENV_DIR) -> float:
    """Create or update Superset's venv; a marker with the requirements' digest makes a re-run instant.

    Returns the seconds spent (0 when the venv was already current).
    """
    marker = venv / ".cur-requirements"
    digest = _requirements_digest()
    if marker.exists() and marker.read_text() == digest and (venv / "bin" / "superset").exists():
        return 0.0
    metadata_template(venv).unlink(missing_ok=True)  # made by the Superset about to be replaced
    started = time.monotonic()
    python = shutil.which("python3.11") or sys.executable
    log(f"creating {venv} (a few minutes on first run)")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run(
        [*pip, "-r", str(SUPERSET_DIR / "requirements.txt"), "-c", str(SUPERSET_DIR / "constraints.txt")],
        check=True,
    )
    marker.write_text(digest)
    return time.monotonic() - started


def ensure_screenshot_tooling() -> None:
    """Debian's chromium (Playwright can't download its own browser here) and npm's playwright-core."""
    if not CHROMIUM.exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package")
        log("installing chromium from Debian")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        # CI has no terminal: debconf must not ask.
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "fonts-dejavu-core"],
            check=True,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    if not (SCREENSHOTS_DIR / "node_modules" / "playwright-core").exists():
        log("installing playwright-core from npm")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=SCREENSHOTS_DIR, check=True)


def superset_env(home: Path, metadata_uri: str | None = None) -> dict[str, str]:
    """Superset's environment: ours without the pipeline's secrets, plus its home, config and metadata DB."""
    hidden = {name for secret in PIPELINE_ONLY_SECRETS for name in (secret, f"{secret}_FILE")}
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    env.update(
        SUPERSET_HOME=str(home),
        SUPERSET_CONFIG_PATH=str(SUPERSET_DIR / "superset_config.py"),
        FLASK_APP="superset",
        PYTHONUNBUFFERED="1",
    )
    if metadata_uri:
        env["SUPERSET_METADATA_URI"] = metadata_uri
    return env


def init_metadata(env: dict[str, str], admin: tuple[str, str], venv: Path = VENV_DIR) -> None:
    """Migrate the metadata DB, sync roles and permissions, create or update the admin (all idempotent)."""
    Path(env["SUPERSET_HOME"]).mkdir(parents=True, exist_ok=True)
    _superset_cli(env, venv, "db", "upgrade")
    _superset_cli(env, venv, "init")
    set_admin(env, admin, venv)


def set_admin(env: dict[str, str], admin: tuple[str, str], venv: Path = VENV_DIR) -> None:
    """Create the admin or set its password. The password travels in the admin script's environment only (argv is
    visible to every user of the machine)."""
    completed = subprocess.run(
        [str(venv / "bin" / "python"), str(SUPERSET_DIR / "admin_user.py")],
        env=env | {"SUPERSET_ADMIN_USER": admin[0], "SUPERSET_ADMIN_PASSWORD": admin[1]},
        capture_output=True,
    )
    if completed.returncode:
        raise RuntimeError(f"creating the admin failed:\n{completed.stderr.decode(errors='replace')[-4000:]}")


def _superset_cli(env: dict[str, str], venv: Path, *arguments: str) -> None:
    completed = subprocess.run([str(venv / "bin" / "superset"), *arguments], env=env, capture_output=True)
    if completed.returncode:
        raise RuntimeError(f"superset {arguments[0]} failed:\n{completed.stderr.decode(errors='replace')[-4000:]}")


def start_server(env: dict[str, str], host: str, port: int, log_path: Path, venv: Path = VENV_DIR) -> subprocess.Popen:
    """Gunicorn with threads (charts of a dashboard load in parallel), in its own session so it outlives make."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(venv / "bin" / "gunicorn"),
        "--bind",
        f"{host}:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--timeout",
        "120",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "superset.app:create_app()",
    ]
    with log_path.open("ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Superset exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Superset did not answer {url}/health in {timeout_s} s")


def stop_process(pid: int) -> None:
    """SIGTERM the server's process group (gunicorn master and workers), SIGKILL after 15 s."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)


def metadata_template(venv: Path = VENV_DIR) -> Path:
    """An initialised SQLite metadata DB kept beside the venv: a throwaway instance copies it instead of spending
    ~20–60 s on `db upgrade` + `init` (and sets its admin). Removed whenever the venv is reinstalled."""
    return venv / "cur-metadata-template.db"


def admin_login() -> tuple[str, str]:
    """Superset's admin (env or file; admin / admin only outside production)."""
    return settings.superset_admin()


@contextmanager
def running_superset(home: Path, port: int):
    """A throwaway Superset (admin of `admin_login()`) with its metadata DB under `home`; yields the base URL, then
    stops it."""
    home.mkdir(parents=True, exist_ok=True)
    database = home / "superset.db"
    env = superset_env(home, f"sqlite:///{database}?check_same_thread=false")
    template = metadata_template()
    if template.exists():
        shutil.copyfile(template, database)
        set_admin(env, admin_login())  # the template's admin may have had another password
    else:
        init_metadata(env, admin_login())
        shutil.copyfile(database, template)
    process = start_server(env, "127.0.0.1", port, home / "superset.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def deploy_serving_snapshot(url: str, admin: tuple[str, str], serving_path: Path) -> None:
    from dagster_project.lib.serving import agencies_in_snapshot
    from dagster_project.lib.superset_client import SupersetClient, deploy, serving_duckdb_uri

    with SupersetClient(url, *admin) as client:
        result = deploy(
            client, serving_duckdb_uri(serving_path), agencies_in_snapshot(serving_path), serving_catalog=serving_path
        )
    log(
        f"deployed {len(result.dashboards)} dashboards, {len(result.charts)} charts (data checked), "
        f"{len(result.datasets)} datasets, {result.rls_rules} RLS rules in {result.duration_s} s"
    )


def bind_problem(host: str) -> str | None:
    """Why Superset may not listen on `host`: beyond loopback only in production, whose secrets `up` has checked."""
    if host in LOOPBACK_HOSTS or settings.is_production():
        return None
    return (
        f"--host {host} is not a loopback address: outside CUR_ENV=production (with its secrets set) Superset "
        f"listens on {sorted(LOOPBACK_HOSTS)} only, its admin and secret key being the public development defaults"
    )


def command_up(args) -> int:
    from dagster_project.lib import paths

    if problem := bind_problem(args.host):
        log(problem)
        return 2
    home = paths.data_dir() / "superset"
    admin = admin_login()
    spent = ensure_venv()
    if spent:
        log(f"venv ready in {spent:.0f} s")
    env = superset_env(home)
    url = f"http://{args.host}:{args.port}"
    pid_file = home / "superset.pid"
    if _answers(url):
        log(f"already running at {url}")
    else:
        init_metadata(env, admin)
        process = start_server(env, args.host, args.port, home / "superset.log")
        pid_file.write_text(str(process.pid))
        wait_ready(url, process)
        log(f"started (pid {process.pid}, log {home / 'superset.log'})")
    serving = paths.serving_path()
    if not serving.exists():
        log(f"{serving} (the serving catalog) is missing: running the pipeline")
        scale = ["--scale", str(args.scale)] if args.scale else []
        subprocess.run([sys.executable, "-m", "sandbox", "run", *scale], cwd=REPO_ROOT, check=True)
    deploy_serving_snapshot(url, admin, serving)
    password = admin[1] if admin[1] == settings.DEV_DEFAULTS["SUPERSET_ADMIN_PASSWORD"] else "(SUPERSET_ADMIN_PASSWORD)"
    print(f"\nSuperset: {url}/dashboard/list/  login: {admin[0]} / {password}\n")
    return 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def take_screenshots(url: str, admin: tuple[str, str], out_dir: Path) -> list[dict]:
    """PNG of every dashboard of the bundle into `out_dir`, with the render check of screenshot.mjs."""
    import json

    from dagster_project.lib.superset_client import load_bundle

    slugs = sorted(config["slug"] for name, config in load_bundle().items() if name.startswith("dashboards/"))
    completed = subprocess.run(
        ["node", "screenshot.mjs", "--url", url, "--user", admin[0], "--out", str(out_dir), *slugs],
        cwd=SCREENSHOTS_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
        env=os.environ | {"SUPERSET_ADMIN_PASSWORD": admin[1]},
    )
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def command_screenshots(args) -> int:
    from dagster_project.lib import paths

    ensure_screenshot_tooling()
    for report in take_screenshots(f"http://{args.host}:{args.port}", admin_login(), paths.data_dir() / "screenshots"):
        log(f"{report['png']}: {report['rendered']}/{report['charts']} charts drawn, {report['errors']} errors")
    return 0


def command_stop(args) -> int:
    from dagster_project.lib import paths

    pid_file = paths.data_dir() / "superset" / "superset.pid"
    if not pid_file.exists():
        log("not running (no pid file)")
        return 0
    stop_process(int(pid_file.read_text()))
    pid_file.unlink()
    log("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="superset/manage.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("venv", help="create .venv-superset and the screenshot tooling")
    up = commands.add_parser("up", help="start Superset, run the pipeline if needed, deploy the dashboards")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8088)
    up.add_argument("--scale", type=int, help="sandbox appeals when the pipeline has to run (default: the sandbox's)")
    commands.add_parser("stop", help="stop the server started by `up`")
    screenshots = commands.add_parser("screenshots", help="PNG of every dashboard into data/screenshots/")
    screenshots.add_argument("--host", default="127.0.0.1")
    screenshots.add_argument("--port", type=int, default=8088)
    args = parser.parse_args(argv)
    if args.command in ("up", "screenshots"):
        settings.check_production()  # CUR_ENV=production: no deploy without the platform's strong secrets
    retention.restrict_new_files()  # Superset's metadata DB and logs are the platform user's only
    if args.command == "venv":
        spent = ensure_venv()
        ensure_screenshot_tooling()
        log(f"venv ready ({spent:.0f} s)")
        return 0
    return {"up": command_up, "stop": command_stop, "screenshots": command_screenshots}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
