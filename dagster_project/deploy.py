"""`make up` / `make down` / `make status`: the platform as long-running processes (python -m dagster_project.deploy).

Three processes, each in its own session with a pid file under data/run/ and a log under data/logs/:
- `code_server`: `dagster code-server start` serving the code location on 127.0.0.1 (CUR_CODE_SERVER_PORT, 4266);
- `daemon`: `dagster-daemon run` (schedules, sensors, the run queue, run monitoring);
- `webserver`: `dagster-webserver` on 127.0.0.1 (CUR_WEBSERVER_PORT, 3000).
Before the code server starts, `up` parses the dbt project in the deployment's environment (parse_dbt_project).
The daemon and the webserver reach the code through the code server (DAGSTER_HOME/workspace.yaml), so a restart of
the webserver does not reload the code, and `make down` + `make up` picks up new code.

The instance (DAGSTER_HOME/dagster.yaml) is written at every `up`: instance/dagster.yaml, plus instance/production.yaml
when CUR_DAGSTER_PG_URL is set (PostgreSQL storage, run monitoring); CUR_ENV=production requires it. Secrets reach the
processes only through their environment. `down` sends SIGTERM and waits (the processes finish their current work);
SIGKILL only after CUR_STOP_TIMEOUT_S (60 s).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from dagster_project.lib import paths, settings

INSTANCE_DIR = Path(__file__).with_name("instance")
PROCESSES = ("code_server", "daemon", "webserver")  # started in this order, stopped in the reverse
STARTUP_TIMEOUT_S = 300


def run_dir() -> Path:
    return paths.data_dir() / "run"


def logs_dir() -> Path:
    return paths.data_dir() / "logs"


def pid_file(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def write_instance(home: Path) -> dict:
    """DAGSTER_HOME/dagster.yaml for this deployment; returns the environment the processes need for it."""
    config = yaml.safe_load((INSTANCE_DIR / "dagster.yaml").read_text())
    extra_env = {}
    if url := settings.dagster_postgres_url():
        production = yaml.safe_load((INSTANCE_DIR / "production.yaml").read_text())
        concurrency = {**config.get("concurrency", {}), **production.pop("concurrency", {})}
        config = {**config, **production, "concurrency": concurrency}
        extra_env["CUR_DAGSTER_PG_URL"] = url  # from the variable or its _FILE: the yaml names the variable only
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ports = settings.deploy_ports()
    workspace = {
        "load_from": [{"grpc_server": {"host": "127.0.0.1", "port": ports["code_server"], "location_name": "cur"}}]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace, sort_keys=False))
    return extra_env


def commands(home: Path) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    ports, workspace = settings.deploy_ports(), str(home / "workspace.yaml")
    return {
        "code_server": [
            str(bin_dir / "dagster"),
            "code-server",
            "start",
            "-m",
            "dagster_project.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(ports["code_server"]),
            "--location-name",
            "cur",
        ],
        "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
        "webserver": [
            str(bin_dir / "dagster-webserver"),
            "-w",
            workspace,
            "-h",
            "127.0.0.1",
            "-p",
            str(ports["webserver"]),
        ],
    }


def parse_dbt_project(env: dict) -> None:
    """dbt's parse state (dbt/target: manifest, partial_parse.msgpack) written in the deployment's own environment.
    Every build's dbt invocation starts from it (dagster-dbt copies it) and parses only what changed; parse state
    written under another environment (another warehouse path: the profile differs) makes dbt parse the whole project
    again in every build (its CPU: docs/performance.md, "Freshness latency")."""
    from dagster_project.lib.dbt import DBT_EXECUTABLE  # here: dagster-dbt takes seconds to import, status needs none

    with (logs_dir() / "dbt_parse.log").open("ab") as log:
        subprocess.run(
            [
                DBT_EXECUTABLE,
                "parse",
                "--project-dir",
                str(paths.DBT_PROJECT_DIR),
                "--profiles-dir",
                str(paths.DBT_PROJECT_DIR),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=paths.DBT_PROJECT_DIR,
            check=True,
        )


def restore_default_signals() -> None:
    """In the child before exec: a process started from a background shell inherits SIGINT ignored, and Dagster's
    processes map SIGTERM onto SIGINT's handler, so they would ignore SIGTERM too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def running_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return None if ended_child(pid) else pid


def ended_child(pid: int) -> bool:
    """Whether `pid` is a child of this process that has ended (reaped here). Signal 0 still reaches a child nobody
    has waited for: when `up` ran inside a longer-lived process (the tests) rather than `make up`, whose processes
    init reaps, `stop` would otherwise wait CUR_STOP_TIMEOUT_S for a process that is gone."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not a child of this process
        return False


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready, name: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if running_pid(name) is None:
            raise RuntimeError(f"{name} exited during startup, see {logs_dir() / (name + '.log')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ready after {timeout_s:.0f} s, see {logs_dir() / (name + '.log')}")
        time.sleep(1)


def webserver_healthy() -> bool:
    try:
        port = settings.deploy_ports()["webserver"]
        return httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def up() -> int:
    settings.check_production()
    home = paths.dagster_home()
    env = settings.child_env(
        {
            "DAGSTER_HOME": str(home),
            "DO_NOT_TRACK": "1",
            "CUR_DATA_DIR": str(paths.data_dir()),
            "WAREHOUSE_PATH": str(paths.warehouse_path()),
            **write_instance(home),
        }
    )
    run_dir().mkdir(parents=True, exist_ok=True)
    logs_dir().mkdir(parents=True, exist_ok=True)
    if running_pid("code_server") is None:  # a running code server keeps the manifest it loaded
        parse_dbt_project(env)
        print(f"dbt project parsed for this deployment (log {logs_dir() / 'dbt_parse.log'})", flush=True)
    ready = {
        "code_server": lambda: port_open(settings.deploy_ports()["code_server"]),
        "daemon": lambda: True,
        "webserver": webserver_healthy,
    }
    for name, command in commands(home).items():
        if (pid := start(name, command, env, paths.REPO_ROOT)) is None:
            continue
        wait_until(ready[name], name)
        print(f"{name}: started (pid {pid}, log {logs_dir() / (name + '.log')})", flush=True)
    print(f"Dagster UI: http://127.0.0.1:{settings.deploy_ports()['webserver']}  (instance {home})")
    return 0


def start(name: str, command: list[str], env: dict[str, str], cwd: Path) -> int | None:
    """Starts `name` in its own session with its pid file and log; None (and says so) when it is already running."""
    if pid := running_pid(name):
        print(f"{name}: already running (pid {pid})")
        return None
    with (logs_dir() / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=restore_default_signals,
        )
    pid_file(name).write_text(str(process.pid))
    return process.pid


def stop(name: str) -> None:
    timeout_s = float(settings.env("CUR_STOP_TIMEOUT_S", "60"))
    pid = running_pid(name)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return
    os.killpg(pid, signal.SIGTERM)  # the process and what it started (its session): the runs it launched finish
    deadline = time.monotonic() + timeout_s
    while running_pid(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    if running_pid(name):
        print(f"{name}: still running after {timeout_s:.0f} s, killing", flush=True)
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    print(f"{name}: stopped", flush=True)


def down() -> int:
    for name in reversed(PROCESSES):
        stop(name)
    return 0


def status() -> int:
    """One line per process; exit code 1 when any is down."""
    checks = {
        "code_server": lambda: port_open(settings.deploy_ports()["code_server"]),
        "daemon": lambda: True,
        "webserver": webserver_healthy,
    }
    healthy = True
    for name in PROCESSES:
        pid = running_pid(name)
        state = "down" if pid is None else ("running" if checks[name]() else "starting / not answering")
        healthy &= state == "running"
        print(f"{name:<12} {state:<26} pid {pid or '—':<8} log {logs_dir() / (name + '.log')}")
    print(f"instance     {paths.dagster_home() / 'dagster.yaml'}")
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
