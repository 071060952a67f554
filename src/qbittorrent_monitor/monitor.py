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

from . import decide, health, memory
from .actions import Executor
from .activity import Activity
from .clients import ServiceError
from .clients.arr import ArrClient
from .clients.logins import LoginGuard
from .clients.qbittorrent import QBittorrentClient
from .config import Config
from .discovery import Discovery
from .events import CycleFinished, Events, ServiceChanged
from .metrics import Metrics
from .model import Snapshot
from .notify import Notifier
from .observe import Observer
from .record import CycleReport, Recorder
from .rules import Patterns, RuleContext, classify_cycle
from .store import Store, StoreError, prepare_dir

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
        one_shot: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock
        # --health-check, --test: each run is a new process, so a login refused and not recorded on disk would be
        # tried again by the next run (the container's health check runs every minute: a ban after 5).
        self.one_shot = one_shot
        self.dry_run = config.monitor.dry_run if dry_run is None else dry_run
        self._store = store
        self._connect(config)
        self.stop_event = threading.Event()
        self.wake = threading.Event()  # set to end the wait between two cycles early (stop, reload)
        self.events = Events()  # notifications, metrics, the health log and the dashboard subscribe here
        self.health: dict[str, ServiceHealth] = {}
        self.last_report: CycleReport | None = None
        # after each cycle: its freed memory back to the system (memory.py); a one-shot run exits instead
        self.give_back = memory.GiveBack(None if one_shot else memory.busy_runs())
        self.cycle_started_at: float | None = None  # a cycle is running since then
        self.last_failure: tuple[float, str] | None = None  # when the last cycle failed, and why
        self.health_status: tuple[str, dict[str, str]] | None = None
        self._loop: threading.Thread | None = None
        self.reload_requested = False  # SIGHUP: the configuration is read again between two cycles
        self.next_cycle_at: float | None = None
        self.config_path: Path | None = None  # set by the CLI (the settings page says where each value came from)
        self.discovery: Discovery | None = None  # this start's discovery, if it ran (set by the CLI; the dashboard)
        # For the settings page's sources (set by the CLI): the fields discovery filled in, the flags that override
        self.discovered_fields: set[tuple[str | int, ...]] = set()
        self.cli_overrides: dict[tuple[str | int, ...], object] = {}
        # The record room: its part of each cycle, and the listeners (they subscribe to `events` and to every request
        # the adapters make).
        self.recorder = Recorder(self.events)
        self.activity = Activity(self)
        self.metrics = Metrics(self)
        self.notifier: Notifier | None = None  # only the daemon notifies (start_notifications)

    def start_notifications(self) -> Notifier:
        """The daemon's notifier. `--health-check` and `--test` have none: a health check run every minute by the
        container must not send "service down" each time the daemon is busy, nor a one-off cycle repeat the
        daemon's messages."""
        if self.notifier is None:
            self.notifier = Notifier(self.config.notifications, self.events, outage_window=self.config.outage.window)
        return self.notifier

    def _connect(self, config: Config) -> None:
        """The adapters for this configuration (on start, and again on SIGHUP with the new one)."""
        path, why_not = _login_record(config)
        logins = LoginGuard(path, self.clock, cannot_record=why_not if self.one_shot else None)
        self.config = config
        self.qbts = [QBittorrentClient(q, logins) for q in config.qbittorrent]
        self.arrs = {inst.name: ArrClient(app, inst) for app, inst in config.arr_instances()}
        self.patterns = Patterns.from_config(config.error_patterns)
        self.observer = Observer(config, self.qbts, self.arrs, lambda: self.store, self.clock)
        self._executor: Executor | None = None

    def reconfigure(self, config: Config) -> None:
        """Take a new configuration between two cycles (credentials fixed, instances added): new adapters and a new
        notifier (its URLs may have changed), the same memory, health and journal. The web server reads
        `self.config` on every request: the new password, API keys and metrics token hold from the next one."""
        old_qbts, old_arrs = self.qbts, self.arrs
        self._connect(config)
        if (old_notifier := self.notifier) is not None:
            self.notifier = Notifier(
                config.notifications, self.events, outage_window=config.outage.window, after=old_notifier
            )
            old_notifier.close()
        for q in old_qbts:
            q.close()
        for a in old_arrs.values():
            a.close()
        names = {q.name for q in self.qbts} | set(self.arrs)
        self.health = {name: h for name, h in self.health.items() if name in names}  # a removed one is not "down"
        self.metrics.reconfigure(config)
        log.info("configuration reloaded: %d qBittorrent and %d *arr instance(s)", len(self.qbts), len(self.arrs))

    @property
    def store(self) -> Store:
        """Opened on first use: `--health-check` never touches the state database. A dry run works on a private
        in-memory copy: it remembers between its own cycles and leaves the file as it was."""
        if self._store is None:
            path = self.config.monitor.data_dir / "state.db"
            self._store = Store.scratch_copy(path) if self.dry_run else Store(path)
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

    def note_health(self, status: str, problems: dict[str, str]) -> None:
        """The health log: one line per change of the monitor's health."""
        if self.health_status is not None and self.health_status == (status, problems):
            return
        before = self.health_status[0] if self.health_status else "none"
        self.health_status = (status, dict(problems))
        why = "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())) or "every service answers"
        logging.getLogger("qbittorrent_monitor.health").info("health %s -> %s (%s)", before, status, why)

    def loop_alive(self) -> bool:
        return self._loop is None or self._loop.is_alive()

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
        """One cycle; its failure is remembered for /health (and raised)."""
        self.cycle_started_at = time.time()
        self.give_back.begin()
        try:
            report = self._cycle()
        except Exception as exc:
            self.last_failure = (time.time(), f"{type(exc).__name__}: {exc}"[:300])
            raise
        finally:
            self.cycle_started_at = None
            self.give_back()
        self.last_failure = None
        return report

    def run_cycle_and_note_health(self) -> None:
        """The loop's cycle: a failure is logged, and the health log hears of every change either way."""
        try:
            self.run_cycle()
        finally:
            health.document(self)

    def _cycle(self) -> CycleReport:
        cfg = decide.with_protected_hashes(self.config, self.store.protected_hashes())  # and the dashboard's
        dry_run = self.dry_run or self.paused
        report = CycleReport(started_at=self.clock(), dry_run=dry_run)
        if not dry_run:
            report.resumed = self.executor.resume() + self.executor.retry_deferred()

        # observe
        snapshot = self.observer.snapshot(cleanup=self.observer.cleanup_due())
        self._note_services(snapshot)
        report.note_snapshot(snapshot, (q.name for q in self.qbts))
        now = snapshot.taken_at

        # classify
        ctx = RuleContext(self.patterns, now, cfg.stalled.min_age, cfg.stalled.slow)
        found = classify_cycle(snapshot.downloads, snapshot.seeds, ctx, snapshot.shared_data)
        self.recorder.reasoning(snapshot.downloads, found.findings)
        since, strikes = self.store.note_findings(
            found.kinds(), now, strikes_cap=decide.strikes_cap(cfg), undecided=found.undecided
        )

        # decide
        facts = decide.CycleFacts(
            now=now,
            dry_run=dry_run,
            since=since,
            strikes=strikes,
            held_clients=snapshot.held_clients,
            held_arrs=snapshot.held_arrs,
            failures=self.store.failures(now - cfg.search.failure_window),
            repaired=self.store.repaired(),
            failed_removals=self.store.failed_removals(now - decide.REMOVAL_RETRY),
            outages=self.store.outages(),
            populations=self.observer.known_populations(),
            unobserved=frozenset(snapshot.service_errors),
        )
        observed = [*snapshot.downloads, *snapshot.seeds]
        downloads = ((d, found.findings[d.key]) for d in snapshot.downloads)
        candidates = decide.pass_one(downloads, found.seeds, cfg, facts)
        if wanted := decide.population_requests(candidates, observed, cfg, facts):  # observe, on demand
            facts = replace(facts, populations={**facts.populations, **self.observer.populations(wanted)})
        result = decide.guard_cycle(candidates, observed, cfg, facts)
        self.store.save_outages(result.outages)
        self.observer.cleanup_decided(snapshot)

        # act, and record
        self.recorder.guards(result, facts.outages, report, now)
        for decision in result.decisions:
            if self.stop_event.is_set():
                report.interrupted = True
                log.info("stop requested: the remaining downloads are left for the next start")
                break
            self.recorder.decision(decision, report, store=self.store, now=now, act=lambda d: self.executor.run(d))
        self.recorder.summary(report, result.decisions)
        report.finished_at = self.clock()
        self.last_report = report
        self.events.emit(CycleFinished(report))
        return report

    # -- the loop ------------------------------------------------------------------------------
    def run_forever(self, interval: float, reload: Callable[[], Config | None] | None = None) -> None:
        """Cycle until stopped. When `wake` is set and `reload` gives a new configuration, it is taken between two
        cycles (SIGHUP)."""
        self._loop = threading.current_thread()
        while not self.stop_event.is_set():
            try:
                self.run_cycle_and_note_health()
            except Exception:
                log.exception("cycle failed; the next one runs in %.0f s", interval)
            self.next_cycle_at = self.clock() + interval
            deadline = time.monotonic() + interval
            # woken early by a stop, SIGHUP or "run a cycle now" from the dashboard
            while not self.stop_event.is_set() and not self.wake.is_set() and time.monotonic() < deadline:
                self.wake.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            self.wake.clear()
            if self.reload_requested and not self.stop_event.is_set() and reload is not None:
                self.reload_requested = False
                if (config := reload()) is not None:
                    self.reconfigure(config)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
        self.activity.close()
        self.metrics.close()
        for q in self.qbts:
            q.close()
        for a in self.arrs.values():
            a.close()
        if self._store is not None:
            self._store.close()


def _login_record(config: Config) -> tuple[Path | None, str | None]:
    """Where qBittorrent's answers to each login are kept (shared by every process on this data dir), made as the
    daemon makes it (`--health-check` may run before any daemon did); or why it cannot be."""
    directory = config.monitor.data_dir
    try:
        prepare_dir(directory)
    except StoreError as exc:
        return None, str(exc)
    return directory / "qbittorrent-logins.json", None
