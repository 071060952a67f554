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


COMMAND = [sys.executable, "-m", "qbittorrent_monitor"]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without its service variables (they would override the test's config)."""
    services = ("QBITTORRENT_", "SONARR_", "RADARR_", "LIDARR_", "READARR_", "WHISPARR_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(services)}
    return {**base, **(extra or {})}


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the monitor as users do, in a new process, and wait for it."""
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout, env=_env(env), check=False
    )


def spawn(*args: str, stderr: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start the monitor in a new process (stdout discarded unless it is a long-running run the test reads)."""
    return subprocess.Popen([*COMMAND, *args], stdout=subprocess.DEVNULL, stderr=stderr, text=True, env=_env())


def hashes(qbt: Any) -> set[str]:
    """The torrents left in a qBittorrent (harness instance)."""
    return {t["hash"] for t in qbt.info()}


def check_on_spec(request: Any, *sims: Any) -> None:
    """Fail the test if a simulator recorded a request its vendored spec refuses, or a simulator error (unless the
    test is marked `@pytest.mark.spec_violations(reason=...)`: it sends bad requests on purpose). Called by every
    fixture that starts a simulator, when its test ends."""
    marker = request.node.get_closest_marker("spec_violations")
    if marker is not None:
        assert marker.kwargs.get("reason"), "@pytest.mark.spec_violations needs reason=: why are they expected?"
        return
    found = {sim.name: list(sim.violations) for sim in sims if sim.violations}
    assert not found, f"requests the vendored OpenAPI spec refuses (or simulator errors): {found}"
