"""The cycle: observe -> classify -> decide -> act -> record, and the loop around it.

This module only wires the rooms together; each room is tested on its own. Time comes from an injected clock so
durations are tested without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from . import decide
from .actions import Executor
from .activity import Activity
from .clients import ServiceError
from .clients.arr import ArrClient
from .clients.qbittorrent import QBittorrentClient
from .config import Config
from .events import CycleFinished, Events, OutageBegan, OutageEnded, ServiceChanged
from .metrics import Metrics
from .model import Decision, Download, Finding, Kind, Snapshot, Verdict
from .notify import Notifier
from .observe import Observer
from .record import CycleReport, log_decision
from .rules import Patterns, RuleContext, classify
from .store import Store

__all__ = ["CycleReport", "Monitor", "ServiceHealth"]

log = logging.getLogger(__name__)


@dataclass
class ServiceHealth:
    ok: bool
    message: str
    checked_at: float


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        dry_run: bool | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.dry_run = config.monitor.dry_run if dry_run is None else dry_run
        self.qbts = [QBittorrentClient(q) for q in config.qbittorrent]
        self.arrs = {inst.name: ArrClient(app, inst) for app, inst in config.arr_instances()}
        self._store = store
        self.patterns = Patterns.from_config(config.error_patterns)
        self.observer = Observer(config, self.qbts, self.arrs, lambda: self.store, clock)
        self._executor: Executor | None = None
        self.stop_event = threading.Event()
        self.events = Events()  # notifications, metrics, the health log and the dashboard subscribe here
        self.health: dict[str, ServiceHealth] = {}
        self.last_report: CycleReport | None = None
        # The record room's listeners (they subscribe to `events` and to every request the adapters make).
        self.wake = threading.Event()  # "retry now" from the dashboard: the loop runs the next cycle at once
        self.next_cycle_at: float | None = None
        self.config_path: Path | None = None  # set by the CLI (the settings page says where each value came from)
        self.activity = Activity(self)
        self.metrics = Metrics(self)
        self.notifier = Notifier(config.notifications, self.events, outage_window=config.outage.window)

    @property
    def store(self) -> Store:
        """Opened on first use: `--health-check` never touches the state database."""
        if self._store is None:
            self._store = Store(self.config.monitor.data_dir / "state.db")
        return self._store

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = Executor(self.config, self.arrs, {q.name: q for q in self.qbts}, self.store, self.clock)
        return self._executor

    # -- services ------------------------------------------------------------------------------
    def check_services(self) -> dict[str, ServiceHealth]:
        """Reachable and authenticated? (`--health-check`)"""
        now = self.clock()
        for q in self.qbts:
            try:
                self._mark(q.name, True, f"qBittorrent {q.check()}", now)
            except ServiceError as exc:
                self._mark(q.name, False, exc.message, now)
        for arr in self.arrs.values():
            try:
                st = arr.status()
                self._mark(arr.name, True, f"{st.get('appName', arr.app)} {st.get('version', '?')}", now)
            except ServiceError as exc:
                self._mark(arr.name, False, exc.message, now)
        return dict(self.health)

    def _mark(self, name: str, ok: bool, message: str, now: float) -> None:
        before = self.health.get(name)
        self.health[name] = ServiceHealth(ok, message, now)
        if not ok and (before is None or before.ok or before.message != message):
            log.error("service %s unavailable: %s", name, message)
            self.events.emit(ServiceChanged(name, False, message, now))
        elif ok and before is not None and not before.ok:
            log.info("service %s is back: %s", name, message)
            self.events.emit(ServiceChanged(name, True, message, now))

    def _note_services(self, snapshot: Snapshot) -> None:
        for name, message in snapshot.service_status.items():
            self._mark(name, True, message, snapshot.taken_at)
        for name, message in snapshot.service_errors.items():
            self._mark(name, False, message, snapshot.taken_at)

    # -- one cycle -----------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Paused from the dashboard: cycles still look and decide, and change nothing (as a dry run does)."""
        return self.store.control("paused") is not None

    def run_cycle(self) -> CycleReport:
        cfg, dry_run = self._cycle_config(), self.dry_run or self.paused
        report = CycleReport(started_at=self.clock(), dry_run=dry_run)
        if not dry_run:
            report.resumed = self.executor.resume() + self.executor.retry_deferred()

        # observe
        snapshot = self.observer.snapshot(dry_run=dry_run, cleanup=self._cleanup_due())
        self._note_services(snapshot)
        report.service_errors = dict(snapshot.service_errors)
        report.unmatched_queue = snapshot.unmatched_queue
        report.torrents_checked = len(snapshot.downloads)
        report.ran = any(q.name not in snapshot.service_errors for q in self.qbts)
        now = snapshot.taken_at

        # classify
        ctx = RuleContext(self.patterns, now, cfg.stalled.min_age, cfg.stalled.slow)
        findings = {d.key: classify(d, ctx) for d in snapshot.downloads}
        seeds = _unregistered(snapshot.seeds, ctx, snapshot.shared_data)
        kinds = {k: [f.kind.value for f in fs] for k, fs in findings.items()}
        kinds |= {s.key: [f.kind.value] for s, f, _ in seeds}
        since, strikes = self.store.note_findings(kinds, now, commit=not dry_run)

        # decide
        facts = decide.CycleFacts(
            now=now,
            dry_run=dry_run,
            since=since,
            strikes=strikes,
            held_clients={
                name: f"qBittorrent {name} reports connection status disconnected"
                for name, status in snapshot.connection_status.items()
                if status == "disconnected"
            },
            held_arrs=snapshot.held_arrs,
            failures=self.store.failures(now - cfg.search.failure_window),
            repaired=self.store.repaired(),
            outages=self.store.outages(),
            populations={**self.observer.known_populations(), **snapshot.populations},
        )
        observed = [*snapshot.downloads, *snapshot.seeds]
        candidates = decide.pass_one(((d, findings[d.key]) for d in snapshot.downloads), seeds, cfg, facts)
        if wanted := decide.population_requests(candidates, observed, cfg, facts):
            read = self.observer.populations(wanted, dry_run=dry_run)
            facts = replace(facts, populations={**facts.populations, **read})
        result = decide.guard_cycle(candidates, observed, cfg, facts)
        self.store.save_outages(result.outages, commit=not dry_run)
        if snapshot.cleanup_read and not dry_run:
            self.store.set_cursor("cleanup_at", int(now))

        # act, and record
        for alert in result.alerts:
            log.warning("%s", alert)
            report.alerts.append(alert)
        for outage in result.outages.values():
            if outage.group.key not in facts.outages:
                self.events.emit(OutageBegan(outage))
        for outage in result.ended:
            self.events.emit(OutageEnded(outage, now))
        report.outages = list(result.outages.values())
        for decision in result.decisions:
            if self.stop_event.is_set():
                report.interrupted = True
                log.info("stop requested: the remaining downloads are left for the next start")
                break
            self._act(decision, report, now)
        report.finished_at = self.clock()
        self.last_report = report
        self.events.emit(CycleFinished(report))
        return report

    def _act(self, decision: Decision, report: CycleReport, now: float) -> None:
        index = len(report.decisions)
        report.decisions.append(decision)
        log_decision(decision)
        if decision.verdict is Verdict.ACT:
            report.outcomes[index] = self.executor.run(decision)
        if not report.dry_run:
            self.store.set_decision(decision.download.key, {**decision.to_dict(), "time": now})

    def _cycle_config(self) -> Config:
        """The configuration with the torrents protected from the dashboard added to `protection.hashes`."""
        extra = [h for h in self.store.protected_hashes() if h not in self.config.protection.hashes]
        if not extra:
            return self.config
        protection = self.config.protection.model_copy(update={"hashes": [*self.config.protection.hashes, *extra]})
        return self.config.model_copy(update={"protection": protection})

    def _cleanup_due(self) -> bool:
        """The opt-in cleanup of unregistered seeds reads the whole library: at most once per its interval."""
        cfg = self.config.cleanup
        return cfg.unregistered_seeds and self.clock() - self.store.cursor("cleanup_at", 0) >= cfg.interval

    # -- the loop ------------------------------------------------------------------------------
    def run_forever(self, interval: float) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_cycle()
            except Exception:
                log.exception("cycle failed; the next one runs in %.0f s", interval)
            self.next_cycle_at = self.clock() + interval
            deadline = time.monotonic() + interval
            while not self.stop_event.is_set() and not self.wake.is_set() and time.monotonic() < deadline:
                self.stop_event.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            self.wake.clear()

    def close(self) -> None:
        self.notifier.close()
        self.activity.close()
        self.metrics.close()
        for q in self.qbts:
            q.close()
        for a in self.arrs.values():
            a.close()
        if self._store is not None:
            self._store.close()


def _unregistered(
    seeds: list[Download], ctx: RuleContext, shared: frozenset[str]
) -> list[tuple[Download, Finding, bool]]:
    """The seeds of the opt-in cleanup whose trackers say they are unregistered."""
    out = []
    for seed in seeds:
        found = classify(seed, ctx)
        if found and found[0].kind is Kind.TRACKER:
            out.append((seed, found[0], seed.key in shared))
    return out
