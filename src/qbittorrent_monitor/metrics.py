"""record: Prometheus metrics, served at /metrics (web/face.py) in the text format by prometheus-client.

Names follow the Prometheus naming guide: `qbittorrent_monitor_` prefix, base units (`_seconds`), `_total` on
counters only (prometheus-client adds it). No label ever carries a torrent's name or hash: labels are bounded sets
(service instance, endpoint with ids folded to `{id}`, kind, decision, action type, step status).
Fed by `Monitor.events` and `clients.on_request`; a failure here is logged and never breaks a cycle.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import GCCollector as _GC
from prometheus_client import PlatformCollector as _Platform
from prometheus_client import ProcessCollector as _Process

from .clients import Call, on_request
from .events import CycleFinished, Event, OutageBegan, ServiceChanged
from .model import ActionType, Kind, StepStatus, Verdict

if TYPE_CHECKING:
    from .config import Config
    from .monitor import Monitor
    from .record import CycleReport

# No `_created` series: Prometheus does not need them, and they would double every counter.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX = "qbittorrent_monitor"
_ID = re.compile(r"/\d+(?=/|$)")
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def endpoint(path: str) -> str:
    """`/api/v3/queue/123` -> `/api/v3/queue/{id}`: one series per endpoint, not per record."""
    return _ID.sub("/{id}", path)


def status_class(status: int | None) -> str:
    return "error" if status is None else f"{status // 100}xx"


def cycle_outcome(report: CycleReport) -> str:
    if report.interrupted:
        return "interrupted"
    if not report.ran:
        return "failed"
    return "degraded" if report.service_errors else "ok"


class Metrics:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.registry = r = CollectorRegistry(auto_describe=True)
        _Process(registry=r)
        _Platform(registry=r)
        _GC(registry=r)
        self.cycles = Counter(f"{PREFIX}_cycles", "Cycles run, by outcome", ["outcome"], registry=r)
        for outcome in ("ok", "degraded", "failed", "interrupted"):
            self.cycles.labels(outcome)
        self.cycle_duration = Histogram(
            f"{PREFIX}_cycle_duration_seconds", "Duration of a whole cycle", buckets=CYCLE_BUCKETS, registry=r
        )
        self.last_cycle = Gauge(
            f"{PREFIX}_last_cycle_timestamp_seconds", "When the last cycle finished (Unix time)", registry=r
        )
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Requests to a service, by endpoint and status class (error: no answer)",
            ["service", "api", "method", "endpoint", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Duration of a request to a service, by endpoint",
            ["service", "api", "method", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.service_up = Gauge(
            f"{PREFIX}_service_up", "1 while the service answers as it should, else 0", ["service"], registry=r
        )
        self.findings = Gauge(
            f"{PREFIX}_findings", "Findings of the last cycle, by kind and decision", ["kind", "decision"], registry=r
        )
        for kind in Kind:
            for verdict in Verdict:
                self.findings.labels(kind.value, verdict.value)
        self.actions = Counter(
            f"{PREFIX}_actions",
            "Actions carried out, by type, app instance and result",
            ["type", "app", "result"],
            registry=r,
        )
        self.searches = Counter(
            f"{PREFIX}_searches", "Targeted searches, by app instance and result", ["app", "result"], registry=r
        )
        self.searches_deferred = Gauge(
            f"{PREFIX}_searches_deferred", "Searches waiting for the budget or the app", registry=r
        )
        self.outages_active = Gauge(f"{PREFIX}_outages_active", "Outages holding downloads now", registry=r)
        self.outages_started = Counter(f"{PREFIX}_outages_started", "Outages that began", registry=r)
        self.torrents_watched = Gauge(
            f"{PREFIX}_torrents_watched", "Torrents observed in the last cycle (the queues', the errored)", registry=r
        )
        self.paused = Gauge(f"{PREFIX}_paused", "1 while the monitor is paused from the dashboard", registry=r)
        # service_up has a series per service once it was checked (a 0 before the first check would read "down");
        # the search counters start at 0 for every *arr instance configured, also after a reload (reconfigure).
        self._instances: set[str] = set()
        self.reconfigure(monitor.config)
        monitor.events.subscribe(self.on_event)
        self._stop_listening = on_request(self.on_request)

    def reconfigure(self, config: Config) -> None:
        """The instances of a (re)loaded configuration: a new *arr gets its search counters at 0; an instance no
        longer configured loses its service_up series (it is not down, it is gone)."""
        names = {q.name for q in config.qbittorrent} | {a.name for _, a in config.arr_instances()}
        for gone in self._instances - names:
            with contextlib.suppress(KeyError):
                self.service_up.remove(gone)
        for _, inst in config.arr_instances():
            for result in (StepStatus.DONE, StepStatus.DEFERRED, StepStatus.FAILED):
                self.searches.labels(inst.name, result.value)
        self._instances = names

    def close(self) -> None:
        self._stop_listening()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- listeners -------------------------------------------------------------------------------
    def on_request(self, call: Call) -> None:
        where = endpoint(call.path)
        self.requests.labels(call.service, call.api, call.method, where, status_class(call.status)).inc()
        self.request_duration.labels(call.service, call.api, call.method, where).observe(call.seconds)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ServiceChanged):
            self.service_up.labels(event.name).set(1 if event.ok else 0)
        elif isinstance(event, OutageBegan):
            self.outages_started.inc()
        elif isinstance(event, CycleFinished):
            self._cycle(event.report)

    def _cycle(self, report: CycleReport) -> None:
        self.cycles.labels(cycle_outcome(report)).inc()
        self.cycle_duration.observe(max(0.0, report.finished_at - report.started_at))
        self.last_cycle.set(report.finished_at)
        self.torrents_watched.set(report.torrents_checked)
        self.outages_active.set(len(report.outages))
        for name, health in self.monitor.health.items():
            if name in self._instances:
                self.service_up.labels(name).set(1 if health.ok else 0)
        counts: dict[tuple[str, str], int] = {}
        for d in report.decisions:
            counts[(d.finding.kind.value, d.verdict.value)] = counts.get((d.finding.kind.value, d.verdict.value), 0) + 1
        for kind in Kind:
            for verdict in Verdict:
                self.findings.labels(kind.value, verdict.value).set(counts.get((kind.value, verdict.value), 0))
        for outcomes in [*report.outcomes.values(), report.resumed]:
            for o in outcomes:
                self.actions.labels(o.action.type.value, o.action.target, o.status.value).inc()
                if o.action.type is ActionType.ARR_SEARCH:
                    self.searches.labels(o.action.target, o.status.value).inc()
        self.searches_deferred.set(len(self.monitor.store.deferred()))
        self.paused.set(1 if self.monitor.paused else 0)
