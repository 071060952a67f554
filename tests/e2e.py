"""Shared by the end-to-end tests: the categories the simulated apps own, and an adjustable clock."""

from __future__ import annotations

import time

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
