"""`make spark-up` / `make spark-down` / `make spark-status`: a standalone Apache Spark cluster on this machine for
the `spark` dbt target (docs/scaling.md): one master and two workers, started from pyspark's own distribution
(`pip install -e .[spark]`), each a process in its own session with a pid file under data/run/ and a log under
data/logs/ (the same layout as `make up`, dagster_project/deploy.py).

pyspark's wheel has no sbin/start-master.sh or start-worker.sh, so the classes are started with bin/spark-class.
Everything listens on 127.0.0.1: the master on CUR_SPARK_MASTER_PORT (3477), the web UIs on CUR_SPARK_UI_PORT (3480,
workers 3481 and 3482). Each worker offers CUR_SPARK_WORKER_CORES (1) cores and CUR_SPARK_WORKER_MEMORY (2g).
Java 17 or newer is needed (`make spark-java` installs Debian's openjdk-17-jre-headless when java is missing).
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

import httpx

from dagster_project import deploy
from dagster_project.lib import paths, settings

WORKERS = 2
PROCESSES = ("spark_master", *(f"spark_worker_{n}" for n in range(1, WORKERS + 1)))
STARTUP_TIMEOUT_S = 180


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise SystemExit("pyspark is not installed: pip install -e '.[spark]' (make spark-up does it)") from None
    return Path(pyspark.__file__).parent


def spark_env() -> dict[str, str]:
    """The environment of the cluster's processes (and of dbt's Spark driver, which reads the same lake paths)."""
    if shutil.which("java") is None:
        raise SystemExit("java is not installed: Spark 4 needs Java 17 or newer (make spark-java installs it)")
    work = paths.data_dir() / "spark" / "work"
    work.mkdir(parents=True, exist_ok=True)
    return settings.child_env(
        {
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_WORKER_DIR": str(work),
            "SPARK_LOG_DIR": str(deploy.logs_dir()),
        }
    )


def commands() -> dict[str, list[str]]:
    spark_class = str(spark_home() / "bin" / "spark-class")
    ports = settings.spark_ports()
    cores, memory = settings.spark_worker_resources()
    master = [
        spark_class,
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        str(ports["master"]),
        "--webui-port",
        str(ports["master_ui"]),
    ]
    workers = {
        f"spark_worker_{n}": [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(ports["worker_ui"] + n - 1),
            "--cores",
            str(cores),
            "--memory",
            memory,
            f"spark://127.0.0.1:{ports['master']}",
        ]
        for n in range(1, WORKERS + 1)
    }
    return {"spark_master": master, **workers}


def alive_workers() -> int:
    """Workers registered with the master and alive (the master UI's JSON); 0 when the master does not answer."""
    try:
        state = httpx.get(f"http://127.0.0.1:{settings.spark_ports()['master_ui']}/json/", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def up() -> int:
    env = spark_env()
    deploy.run_dir().mkdir(parents=True, exist_ok=True)
    deploy.logs_dir().mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for name, command in commands().items():
        if (pid := deploy.start(name, command, env, paths.data_dir() / "spark")) is None:
            continue
        print(f"{name}: started (pid {pid}, log {deploy.logs_dir() / (name + '.log')})", flush=True)
        if name == "spark_master":
            deploy.wait_until(lambda: deploy.port_open(settings.spark_ports()["master"]), name, STARTUP_TIMEOUT_S)
    for name in PROCESSES[1:]:
        deploy.wait_until(lambda: alive_workers() >= WORKERS, name, STARTUP_TIMEOUT_S)
    print(
        f"Spark master {settings.spark_master_url()} with {alive_workers()} workers "
        f"(UI http://127.0.0.1:{settings.spark_ports()['master_ui']}), up in {time.monotonic() - started:.0f} s"
    )
    return 0


def down() -> int:
    for name in reversed(PROCESSES):
        deploy.stop(name)
    return 0


def status() -> int:
    """One line per process; exit code 1 when any is down."""
    healthy = True
    for name in PROCESSES:
        pid = deploy.running_pid(name)
        healthy &= pid is not None
        state = "running" if pid else "down"
        print(f"{name:<15} {state:<8} pid {pid or '—':<8} log {deploy.logs_dir() / (name + '.log')}")
    print(f"alive workers  {alive_workers()} of {WORKERS} at {settings.spark_master_url()}")
    return 0 if healthy and alive_workers() == WORKERS else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.spark_cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
