"""The sandbox HTTP server: ПОС (`/pos/v1`) and Инцидент Менеджмент (`/im/v1`) over the generated Parquet store.

A simulated clock decides what is visible (see snapshot.py); on every clock change the snapshot is recomputed
(vectorised) and kept sorted by (updatedAt, id), so a page is a binary search plus rendering of its own records.
Fault injection follows docs/sources.md.
"""

import argparse
import base64
import contextlib
import json
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.openapi import openapi_document
from sandbox.snapshot import ISO, Snapshot, load_resources

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
FAULT_DEFAULTS = {
    "seed": 1,
    "rate_429": 0.0,
    "retry_after_s": 1,
    "rate_5xx": 0.0,
    "slow_rate": 0.0,
    "slow_s": 5.0,
    "reset_rate": 0.0,
    "duplicate_rate": 0.0,
    "malformed_rate": 0.0,
}
DUPLICATES_PER_PAGE = 3

RESOURCE_PATHS = ("/pos/v1/messages", "/pos/v1/polls", "/im/v1/incidents")


def parse_ts(value: str) -> datetime:
    """ISO-8601 → naive UTC. A value without a zone is taken as UTC."""
    parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _epoch(value: datetime) -> int:
    """Seconds since the epoch, rounded up (timestamps on the wire have whole seconds)."""
    seconds = (value - datetime(1970, 1, 1)).total_seconds()
    return int(-(-seconds // 1))


class Store:
    """The generated data seen at the simulated «now»."""

    def __init__(self, data_dir: Path, now: datetime | None = None):
        api_dir = Path(data_dir) / "api"
        meta = json.loads((api_dir / "meta.json").read_text())
        self.resources = load_resources(api_dir)
        self.lock = threading.Lock()
        self.snapshots: dict[str, Snapshot] = {}
        self.now = now or parse_ts(meta["default_now"])
        self.set_now(self.now)

    def set_now(self, now: datetime) -> None:
        snapshots = {path: resource.snapshot(now) for path, resource in self.resources.items()}
        with self.lock:
            self.snapshots, self.now = snapshots, now


class Faults:
    """Per-request fault decisions, reproducible from the seed and the order of data requests."""

    def __init__(self, settings: dict | None = None):
        self.lock = threading.Lock()
        self.configure(settings or {})

    def configure(self, settings: dict) -> dict:
        unknown = set(settings) - set(FAULT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self.lock:
            self.settings = {**FAULT_DEFAULTS, **settings}
            self.random = random.Random(self.settings["seed"])
        return self.settings

    def draw(self) -> tuple[str | None, float]:
        """One fault (or None) for this request, and a second number to pick its variant."""
        s = self.settings
        with self.lock:
            u, variant = self.random.random(), self.random.random()
        for name, rate in (
            ("429", s["rate_429"]),
            ("5xx", s["rate_5xx"]),
            ("slow", s["slow_rate"]),
            ("reset", s["reset_rate"]),
            ("duplicate", s["duplicate_rate"]),
            ("malformed", s["malformed_rate"]),
        ):
            if u < rate:
                return name, variant
            u -= rate
        return None, variant


def encode_cursor(upd: int, record_id: str) -> str:
    return base64.urlsafe_b64encode(f"{upd}|{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    upd, record_id = raw.split("|", 1)
    return int(upd), record_id


class BadRequest(Exception):
    pass


def make_handler(store: Store, faults: Faults, token: str, quiet: bool = True):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cur-sandbox/1"

        def log_message(self, fmt, *args):
            if not quiet:
                super().log_message(fmt, *args)

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            try:
                if url.path == "/health" and method == "GET":
                    return self._json(200, {"status": "ok", "now": store.now.strftime(ISO)})
                if url.path == "/openapi.json" and method == "GET":
                    return self._json(200, openapi_document())
                if url.path == "/admin/clock":
                    if method == "POST":
                        store.set_now(parse_ts(self._body()["now"]))
                    return self._json(200, {"now": store.now.strftime(ISO)})
                if url.path == "/admin/faults":
                    settings = faults.configure(self._body()) if method == "POST" else faults.settings
                    return self._json(200, settings)
                if url.path in RESOURCE_PATHS and method == "GET":
                    return self._list(url.path, parse_qs(url.query))
                return self._json(404, {"error": "not found"})
            except (BadRequest, ValueError, KeyError) as error:
                return self._json(400, {"error": f"bad request: {error}"})

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("a JSON object is expected")
            return body

        def _list(self, path: str, query: dict) -> None:
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._json(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
            snapshot, start, stop, next_cursor, resumed_at = self._page(path, query)
            fault, variant = faults.draw()
            settings = faults.settings
            if fault == "429":
                return self._json(
                    429, {"error": "too many requests"}, {"Retry-After": str(int(settings["retry_after_s"]))}
                )
            if fault == "5xx":
                status = (500, 502, 503)[int(variant * 3)]
                return self._json(status, {"error": "upstream failure"})
            if fault == "slow":
                time.sleep(float(settings["slow_s"]))
            items = snapshot.json_items(start, stop)
            if fault == "duplicate" and resumed_at > 0:
                items = pa.concat_arrays(
                    [snapshot.json_items(max(0, resumed_at - DUPLICATES_PER_PAGE), resumed_at), items]
                )
            if fault == "malformed" and len(items):
                index = int(variant * len(items))
                record = json.loads(items[index].as_py())
                if variant < 0.5:
                    del record["id"]  # a required field is missing
                else:
                    record["updatedAt"] = 1700000000  # a wrong type
                broken = pa.array([json.dumps(record, ensure_ascii=False)], pa.string())
                items = pa.concat_arrays([items[:index], broken, items[index + 1 :]])
            # The page's records joined by Arrow, straight from its buffer: no Python string per record.
            joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(items)], pa.int32()), items), ",")
            body = b"".join(
                [b'{"items":[', joined[0].as_buffer(), b'],"next_cursor":', json.dumps(next_cursor).encode(), b"}"]
            )
            if fault == "reset":
                return self._reset(body)
            return self._send(200, body)

        def _page(self, path: str, query: dict) -> tuple[Snapshot, int, int, str | None, int]:
            """The page's [start, stop) in the snapshot, its next cursor, and where it resumes a previous page."""
            with store.lock:
                snapshot = store.snapshots[path]
            one = {key: values[-1] for key, values in query.items()}
            limit = int(one.get("limit", DEFAULT_LIMIT))
            if not 1 <= limit <= MAX_LIMIT:
                raise BadRequest(f"limit must be within 1..{MAX_LIMIT}")
            start, end = 0, len(snapshot)
            if "updated_since" in one:
                start = int(np.searchsorted(snapshot.upd, _epoch(parse_ts(one["updated_since"])), "left"))
            if "updated_until" in one:
                end = int(np.searchsorted(snapshot.upd, _epoch(parse_ts(one["updated_until"])), "left"))
            resumed_at = 0
            if one.get("cursor"):
                try:
                    cursor = decode_cursor(one["cursor"])
                except Exception as error:
                    raise BadRequest(f"invalid cursor ({error})") from error
                start = resumed_at = max(start, snapshot.start_after(*cursor))
            stop = max(start, min(start + limit, end))
            next_cursor = None
            if stop < end:
                next_cursor = encode_cursor(int(snapshot.upd[stop - 1]), snapshot.record_id(stop - 1))
            return snapshot, start, stop, next_cursor, resumed_at

        def _json(self, status: int, payload, headers: dict | None = None) -> None:
            self._send(status, json.dumps(payload, ensure_ascii=False).encode(), headers)

        def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _reset(self, body: bytes) -> None:
            """Announce the whole body, send half of it, then drop the connection with a TCP reset."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients of a fault-injecting server drop connections all the time; that is not a server error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


def serve(
    data_dir: Path,
    host: str,
    port: int,
    token: str,
    faults: dict | None = None,
    now: datetime | None = None,
    quiet: bool = True,
) -> None:
    """Build the snapshot, bind, print `SANDBOX_URL <url>` on stdout, and serve until killed."""
    store = Store(data_dir, now)
    server = _Server((host, port), make_handler(store, Faults(faults), token, quiet))
    print(f"SANDBOX_URL http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


@contextlib.contextmanager
def running_server(
    data_dir,
    port: int = 0,
    token: str = "sandbox-token",
    faults: dict | None = None,
    now: datetime | None = None,
    startup_timeout_s: float = 120.0,
):
    """Start the sandbox server as a real subprocess, wait for /health, yield its base URL, stop it."""
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--data",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token",
        token,
    ]
    if faults:
        command += ["--faults", json.dumps(faults)]
    if now:
        command += ["--now", now.strftime(ISO)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = _read_url(process, startup_timeout_s)
        deadline = time.monotonic() + startup_timeout_s
        while httpx.get(f"{base_url}/health", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("the sandbox server did not become healthy")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _read_url(process: subprocess.Popen, timeout_s: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox server exited with code {process.returncode}")
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            if line.startswith("SANDBOX_URL "):
                return line.split(" ", 1)[1].strip()
    raise TimeoutError("the sandbox server did not report its address")


def add_serve_arguments(parser: argparse.ArgumentParser, default_data: Path) -> None:
    parser.add_argument("--data", type=Path, default=default_data, help="the generator's out dir (holds api/)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--faults", type=json.loads, default=None, help="fault injection settings as JSON")
    parser.add_argument("--now", type=parse_ts, default=None, help="simulated now (ISO); default: end of period")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
