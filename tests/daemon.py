"""The monitor as a daemon in its own process, for tests that watch it over several cycles: its /health answers,
its stderr, and a clean stop by PID."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from e2e import COMMAND, _env


def free_port() -> int:
    with socket.socket() as s:
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
