"""The monitor as a daemon in its own process, for tests that watch it over several cycles: its /health answers,
its stderr, and a clean stop by PID."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from e2e import COMMAND, _env


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nothing listens on, for a daemon that binds it later (its config names it). Not one the
    kernel hands out (bind to 0): every outgoing connection of the suite draws from that ephemeral range, and one
    can take the port before the daemon binds it ("address already in use", seen under the full suite). Chosen
    below that range instead, in a block of its own per pytest-xdist worker."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    low, high = 20000, _ephemeral_low()
    size = max(100, (high - low) // 8)
    start = low + (worker % 8) * size
    for _ in range(200):
        port = random.randrange(start, min(start + size, high))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # that block is full: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, config: Path, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.err = ""
        self.proc = subprocess.Popen(
            [*COMMAND, "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(env),
        )

    def get(self, path: str = "/health") -> tuple[int, dict[str, Any]]:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2, trust_env=False)
            return response.status_code, response.json()
        except (httpx.HTTPError, ValueError):
            return 0, {}

    def wait(self, predicate: Callable[[int, dict[str, Any]], bool], what: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status, doc = 0, {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _, self.err = self.proc.communicate(timeout=10)
                raise AssertionError(
                    f"the monitor exited ({self.proc.returncode}) while waiting for {what}; its stderr ends:\n"
                    + self.err[-3000:]
                )
            status, doc = self.get()
            if status and predicate(status, doc):
                return doc
            time.sleep(0.2)
        raise AssertionError(f"not {what} after {timeout}s; last /health: {status} {doc}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.err = self.proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.err = self.proc.communicate(timeout=10)
        return self.proc.returncode, self.err

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
