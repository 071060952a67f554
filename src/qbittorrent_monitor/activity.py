"""record: what the dashboard shows over time, gathered from the cycle events and the request reports.

- each service's latency (the median of its last requests) and version;
- each failure found (torrent and kind, first flagged), kept in the store for the overview's 48-hour chart.

It subscribes to `Monitor.events` and `clients.on_request`; a failure here is logged and never breaks a cycle.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import deque
from typing import TYPE_CHECKING

from .clients import Call, ServiceError, on_request
from .events import CycleFinished, Event

if TYPE_CHECKING:
    from .monitor import Monitor

log = logging.getLogger(__name__)

LATENCY_SAMPLES = 20
VERSION_EVERY = 6 * 3600.0
CHART_HOURS = 48
FORGET_FOUND_AFTER = CHART_HOURS * 3600.0  # a failure gone this long and back again is found again


class Activity:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = {}
        self.versions: dict[str, str] = {}
        self._versions_at: dict[str, float] = {}
        self.read_versions = False  # set by the dashboard: one status request per *arr every six hours
        monitor.events.subscribe(self.on_event)
        self._stop_listening = on_request(self.on_request)

    def close(self) -> None:
        self._stop_listening()

    # -- listeners -------------------------------------------------------------------------------
    def on_request(self, call: Call) -> None:
        if call.status is None:
            return
        with self._lock:
            self._samples.setdefault(call.service, deque(maxlen=LATENCY_SAMPLES)).append(call.seconds)

    def on_event(self, event: Event) -> None:
        if not isinstance(event, CycleFinished):
            return
        report = event.report
        if not report.dry_run and report.ran:
            flagged = {(d.download.key, d.finding.kind.value) for d in report.decisions}
            self.monitor.store.note_found(flagged, report.finished_at, FORGET_FOUND_AFTER)
        for q in self.monitor.qbts:
            if q.version:  # qBittorrent says `v4.5.2`: shown as the *arr apps are, `Sonarr 4.0.19`
                self.versions[q.name] = f"qBittorrent {q.version.removeprefix('v')}"
        if self.read_versions:
            self._arr_versions(report.finished_at)

    def _arr_versions(self, now: float) -> None:
        for name, arr in self.monitor.arrs.items():
            health = self.monitor.health.get(name)
            if now - self._versions_at.get(name, 0.0) < VERSION_EVERY or (health is not None and not health.ok):
                continue
            self._versions_at[name] = now
            try:
                status = arr.status()
            except ServiceError:
                continue
            self.versions[name] = f"{status.get('appName', arr.app)} {status.get('version', '?')}"

    # -- read by the dashboard -------------------------------------------------------------------
    def latency(self, service: str) -> float | None:
        """The median duration of the service's last requests, in seconds (None: none answered yet)."""
        with self._lock:
            samples = list(self._samples.get(service, ()))
        return statistics.median(samples) if samples else None
