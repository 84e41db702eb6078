"""The two servers under test as child processes, and what they cost while they run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psutil

from benchmarks.database import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerKind:
    name: str
    command: tuple[str, ...]


SERVICE = ServerKind("service", (sys.executable, "-m", "server.cli", "serve", "--port"))


def _floor(name: str, app: str) -> ServerKind:
    return ServerKind(
        name,
        (
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
            "--port",
        ),
    )


# The hand-written floors (benchmarks.floor), each with the statements it sends per listing.
FLOOR = _floor("floor", "benchmarks.floor:app")
FLOOR_ONE = _floor("floor1", "benchmarks.floor:one_statement_app")
FLOORS = {FLOOR: 5, FLOOR_ONE: 1}


@dataclass
class Server:
    kind: ServerKind
    process: psutil.Popen
    base_url: str
    memory: MemorySampler

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process so far."""
        times = self.process.cpu_times()
        return float(times.user + times.system)


class MemorySampler:
    """Samples a process's resident memory in a thread and keeps the largest value.

    `startup_peak` is the largest value before `started()` (imports, start-up work),
    `peak` the largest after it: what serving requests needs.
    """

    def __init__(self, process: psutil.Process, interval: float = 0.05) -> None:
        self.process = process
        self.interval = interval
        self.peak = 0
        self.startup_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def started(self) -> None:
        self.startup_peak, self.peak = self.peak, 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _wait_healthy(process: psutil.Popen, base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} while starting")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {base_url} did not start within {timeout:.0f} s")


@contextmanager
def running(
    kind: ServerKind,
    database_url: str,
    extra_env: dict[str, str] | None = None,
    *,
    quiet: bool = False,
) -> Iterator[Server]:
    """One server of `kind` (one uvicorn worker) on `database_url` until the block ends.

    It runs in an empty directory, so that a developer's `.env` does not change it.
    `extra_env` adds or overrides variables; `quiet` discards what it logs.
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "GRAPHIQL": "false",
        # The issuer of the tokens `storefront issue-token` makes for the benchmarks (with
        # no served port to follow, the default one), whatever port this server gets.
        "OAUTH_SERVER_ISSUER": "http://127.0.0.1:8000",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    workdir = tempfile.TemporaryDirectory(prefix="storefront-bench-")
    process = psutil.Popen(
        [*kind.command, str(port)],
        env=env,
        cwd=workdir.name,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    base_url = f"http://127.0.0.1:{port}"
    memory = MemorySampler(process)
    memory.start()
    try:
        _wait_healthy(process, base_url)
        memory.started()
        yield Server(kind=kind, process=process, base_url=base_url, memory=memory)
    finally:
        memory.stop()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        workdir.cleanup()
