"""Shared by the end-to-end tests: the categories the simulated apps own, and an adjustable clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

SONARR_CATEGORY = "tv-sonarr"
RADARR_CATEGORY = "radarr"


class Clock:
    """Real time plus an offset the test moves forward (qBittorrent's own times stay real)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the monitor as users do, in a new process, without the service variables of this environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QBITTORRENT_", "SONARR_", "RADARR_"))}
    return subprocess.run(
        [sys.executable, "-m", "qbittorrent_monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
        check=False,
    )


def hashes(qbt: Any) -> set[str]:
    """The torrents left in a qBittorrent (harness instance)."""
    return {t["hash"] for t in qbt.info()}
