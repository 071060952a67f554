"""The cycle: observe -> classify -> decide -> act -> record, and the loop around it.

This module only wires the rooms together; each room is tested on its own. Time comes from an injected
clock so durations are tested without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .actions import Executor, Outcome
from .breaker import Outage, find_outages
from .clients import ServiceError
from .clients.arr import ArrClient
from .clients.qbittorrent import QBittorrentClient, log_torrent_name
from .config import Config
from .model import (
    DOWNLOADING_STATES,
    METADATA_STATES,
    ArrDownload,
    Decision,
    Download,
    Finding,
    Kind,
    LogEntry,
    Snapshot,
    Torrent,
    Verdict,
    group_queue,
)
from .policy import CycleFacts, PolicyInput, cap_removals, decide_cycle, decide_seed_cleanup
from .rules import Patterns, RuleContext, classify
from .rules import tracker as tracker_rule
from .store import Store

log = logging.getLogger(__name__)

LOG_MEMORY = 2000  # qBittorrent warning lines kept per instance to explain `error` states
MIN_GAP = 900.0  # a torrent unseen this long (or 3 intervals) was not watched: that time does not count


@dataclass
class ServiceHealth:
    ok: bool
    message: str
    checked_at: float


@dataclass
class CycleReport:
    started_at: float
    finished_at: float = 0.0
    dry_run: bool = False
    ran: bool = True
    decisions: list[Decision] = field(default_factory=list)
    outcomes: dict[int, list[Outcome]] = field(default_factory=dict)  # index in decisions -> outcomes
    resumed: list[Outcome] = field(default_factory=list)
    unmatched_queue: list[ArrDownload] = field(default_factory=list)
    service_errors: dict[str, str] = field(default_factory=dict)
    torrents_checked: int = 0
    interrupted: bool = False
    alerts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        findings = []
        actions: list[dict[str, Any]] = []
        for i, decision in enumerate(self.decisions):
            d = decision.to_dict()
            if i in self.outcomes:
                d["actions"] = [o.to_dict() for o in self.outcomes[i]]
            else:
                status = "planned" if decision.verdict is Verdict.DRY_RUN else "not taken"
                d["actions"] = [{**a.to_dict(), "status": status} for a in decision.actions]
            findings.append(d)
            actions += [{**a, "hash": d["hash"], "name": d["name"]} for a in d["actions"]]
        actions += [{**o.to_dict(), "resumed": True} for o in self.resumed]
        return {
            "started_at": self.started_at,
            "duration_s": round(self.finished_at - self.started_at, 3),
            "dry_run": self.dry_run,
            "ok": self.ran and not self.service_errors,
            "interrupted": self.interrupted,
            "torrents_checked": self.torrents_checked,
            "service_errors": self.service_errors,
            "alerts": self.alerts,
            "findings": findings,
            "actions": actions,
            "unmatched_queue": [
                {"arr": a.arr, "download_id": a.download_id, "title": a.title, "queue_ids": list(a.queue_ids)}
                for a in self.unmatched_queue
            ],
        }


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
        self._executor: Executor | None = None
        self.stop_event = threading.Event()
        self.health: dict[str, ServiceHealth] = {}
        self.last_report: CycleReport | None = None
        self._logs: dict[str, deque[LogEntry]] = {q.name: deque(maxlen=LOG_MEMORY) for q in self.qbts}
        self._log_cursor: dict[str, int] = {q.name: -1 for q in self.qbts}
        self._private: dict[str, bool] = {}  # qBittorrent 4.x: the properties answer, per torrent
        self._log_reread: set[str] = set()  # torrents whose missing log line justified one full re-read

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
        """Reachable and authenticated? (`--health-check`, and the first thing each cycle learns)"""
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
        elif ok and before is not None and not before.ok:
            log.info("service %s is back: %s", name, message)

    # -- one cycle -----------------------------------------------------------------------------
    def run_cycle(self) -> CycleReport:
        report = CycleReport(started_at=self.clock(), dry_run=self.dry_run)
        if not self.dry_run:
            report.resumed = self.executor.resume() + self.executor.retry_deferred()
        snapshot = self.observe()
        report.service_errors = dict(snapshot.service_errors)
        report.unmatched_queue = snapshot.unmatched_queue
        report.torrents_checked = len(snapshot.downloads)
        if not any(self.health.get(q.name, ServiceHealth(False, "", 0)).ok for q in self.qbts):
            report.ran = False
        cfg = self.config
        now = snapshot.taken_at
        ctx = RuleContext(self.patterns, now, cfg.stalled.min_age, cfg.stalled.slow)
        findings = {d.key: classify(d, ctx) for d in snapshot.downloads}
        downloads = [self._with_private_flag(d) if findings[d.key] and d.arr else d for d in snapshot.downloads]
        since, strikes = self.store.note_findings(
            {k: [f.kind.value for f in fs] for k, fs in findings.items()}, now, commit=not self.dry_run
        )
        facts = CycleFacts(
            now=now,
            dry_run=self.dry_run,
            since=since,
            strikes=strikes,
            outages=self._outages(downloads, findings, now, report),
            held_clients={
                name: f"qBittorrent {name} reports connection status disconnected"
                for name, status in snapshot.connection_status.items()
                if status == "disconnected"
            },
            held_arrs=snapshot.held_arrs,
            failures=self.store.failures(now - cfg.search.failure_window),
            repaired=self.store.repaired(),
        )
        policy_in = PolicyInput(cfg, facts)
        decisions = decide_cycle(((d, findings[d.key]) for d in downloads), policy_in)
        queued = {d.torrent.hash for d in downloads if d.arr} | {a.download_id for a in snapshot.unmatched_queue}
        if not (snapshot.service_errors or facts.held_clients or facts.held_arrs):
            # Only with every queue read: a download a silent *arr still owns must not look orphaned.
            decisions = cap_removals(
                decisions + self._cleanup_seeds(queued, policy_in, report), cfg.protection.max_removals_per_tracker
            )
        for decision in decisions:
            if self.stop_event.is_set():
                report.interrupted = True
                log.info("stop requested: the remaining downloads are left for the next start")
                break
            index = len(report.decisions)
            report.decisions.append(decision)
            _log_decision(decision)
            if decision.verdict is Verdict.ACT:
                report.outcomes[index] = self.executor.run(decision)
            if not self.dry_run:
                self.store.set_decision(decision.download.key, {**decision.to_dict(), "time": now})
        report.finished_at = self.clock()
        self.last_report = report
        return report

    def _cleanup_seeds(self, queued: set[str], inp: PolicyInput, report: CycleReport) -> list[Decision]:
        """Opt-in: unregistered seeding torrents no queue refers to, at most once per `cleanup.interval` (the one
        place the monitor reads the whole library, so it is off by default)."""
        cfg = self.config
        now = inp.facts.now
        if not cfg.cleanup.unregistered_seeds or now - self.store.cursor("cleanup_at", 0) < cfg.cleanup.interval:
            return []
        decisions: list[Decision] = []
        for q in self.qbts:
            try:
                if q.version is None:
                    q.check()
                everything = q.all_torrents()  # opt-in, once per interval: every torrent, to see every data user
                complete = [t for t in everything if t.is_complete]
                suspects = [
                    t
                    for t in complete
                    if t.hash not in queued and not t.is_paused and (t.tracker == "" or not q.tracker_field_reliable)
                ]
                read = {t.hash: Download(t, (), q.trackers(t.hash)) for t in suspects}
            except ServiceError as exc:
                log.warning("cleanup of unregistered seeds on %s skipped: %s", q.name, exc.message)
                continue
            unregistered = [
                (d, f) for d in read.values() if (f := tracker_rule.check(d, self.patterns)) and f.kind is Kind.TRACKER
            ]
            unregistered = [(self._with_private_flag(d), f) for d, f in unregistered]
            users: dict[str, int] = {}
            for t in everything:  # incomplete torrents (a cross-seed being checked) use the data too
                users[t.content_path.rstrip("/")] = users.get(t.content_path.rstrip("/"), 0) + 1
            watched = [read.get(t.hash) or Download(t) for t in complete]
            groups = find_outages(unregistered, watched, cfg.outage)
            in_outage = {key: Outage(g, size, total, now) for g, (keys, size, total) in groups.items() for key in keys}
            for message in {o.describe() for o in in_outage.values()}:
                alert = f"OUTAGE among seeds: {message}; no cleanup while it lasts"
                log.warning("%s", alert)
                report.alerts.append(alert)
            for d, f in unregistered:
                shares = bool(d.torrent.content_path) and users.get(d.torrent.content_path.rstrip("/"), 0) > 1
                decisions.append(decide_seed_cleanup(d, f, shares_data=shares, outage=in_outage.get(d.key), inp=inp))
        if not inp.facts.dry_run:
            self.store.set_cursor("cleanup_at", int(now))
        return decisions

    def _with_private_flag(self, download: Download) -> Download:
        """qBittorrent 4.x says whether a torrent is private only in its properties: ask for candidates only."""
        t = download.torrent
        if t.private is not None:
            return download
        private = self._private.get(download.key)
        if private is None:
            try:
                private = self._qbt(t.client).is_private(t.hash)
                if private is not None:
                    self._private[download.key] = private  # it never changes: asked once per torrent
            except ServiceError as exc:
                log.warning("%s: cannot tell whether %s is private (%s)", t.client, t.name, exc.message)
        # Unknown: the safe assumption keeps the torrent in the client.
        return replace(download, torrent=replace(t, private=True if private is None else private))

    def _outages(
        self, downloads: list[Download], findings: dict[str, list[Finding]], now: float, report: CycleReport
    ) -> dict[str, Outage]:
        failing = [
            (d, findings[d.key][0])
            for d in downloads
            if findings[d.key] and not d.torrent.is_paused and not d.torrent.is_complete
        ]
        groups = find_outages(failing, downloads, self.config.outage)
        remembered = self.store.note_outages(groups, now, self.config.outage.window, commit=not self.dry_run)
        by_key: dict[str, Outage] = {}
        alerted: set[frozenset[str]] = set()
        # Most specific first: one tracker, then one client, then one kind of error. A group holding the same
        # torrents as a more specific one is the same outage: one alert, not three.
        order = ("tracker", "client", "kind")
        for group in sorted(remembered, key=lambda g: order.index(g.split(":")[0])):
            first_seen, new, members = remembered[group]
            _, size, total = groups.get(group, ([], len(members), len(members)))
            outage = Outage(group, size, total, first_seen)
            if new and frozenset(members) not in alerted:
                message = f"OUTAGE: {outage.describe()}; no removal or blocklist for them while it lasts"
                log.warning("%s (torrents: %s)", message, ", ".join(members))
                report.alerts.append(message)
            alerted.add(frozenset(members))
            for key in members:
                by_key.setdefault(key, outage)
        return by_key

    # -- observe -------------------------------------------------------------------------------
    def observe(self) -> Snapshot:
        now = self.clock()
        snap = Snapshot(taken_at=now)
        by_hash: dict[str, list[ArrDownload]] = {}
        for arr in self.arrs.values():
            try:
                items = arr.queue()
                if problem := arr.download_client_problem():
                    snap.held_arrs[arr.name] = problem
                self._mark(arr.name, True, f"queue: {len(items)} torrent record(s)", now)
            except ServiceError as exc:
                self._mark(arr.name, False, exc.message, now)
                snap.service_errors[arr.name] = exc.message
                continue
            for group in group_queue(items):
                by_hash.setdefault(group.download_id, []).append(group)

        found: set[str] = set()
        torrents: list[Torrent] = []
        for q in self.qbts:
            try:
                snap.connection_status[q.name] = q.connection_status()
                mine = {t.hash: t for t in q.torrents(by_hash)}
                for t in q.errored():
                    mine.setdefault(t.hash, t)
                self._tail_log(q, list(mine.values()))
                self._mark(q.name, True, f"connection {snap.connection_status[q.name]}", now)
            except ServiceError as exc:
                self._mark(q.name, False, exc.message, now)
                snap.service_errors[q.name] = exc.message
                continue
            torrents += mine.values()
            found |= set(mine)

        logs_by_name: dict[str, dict[str, list[LogEntry]]] = {}
        for client, buf in self._logs.items():
            for entry in buf:
                if name := log_torrent_name(entry.message):
                    logs_by_name.setdefault(client, {}).setdefault(name, []).append(entry)
        memory = self.store.observe(
            torrents,
            now,
            self.config.stalled.slow.window,
            max_gap=max(3 * self.config.monitor.check_interval, MIN_GAP),
            commit=not self.dry_run,
        )
        for t in torrents:
            key = f"{t.client}:{t.hash}"
            refs = tuple(by_hash.get(t.hash, ()))
            trackers = None
            if refs and _is_suspect(t):
                try:
                    trackers = self._qbt(t.client).trackers(t.hash)
                except ServiceError as exc:
                    log.warning("%s: trackers of %s unavailable: %s", t.client, t.name, exc.message)
            entries = tuple(logs_by_name.get(t.client, {}).get(t.name, ()))
            snap.downloads.append(Download(t, refs, trackers, entries, memory.get(key)))
        if len(snap.service_errors) < len(self.qbts) or not self.qbts:
            snap.unmatched_queue = [g for h, gs in by_hash.items() if h not in found for g in gs]
        return snap

    def _qbt(self, name: str) -> QBittorrentClient:
        return next(q for q in self.qbts if q.name == name)

    def _tail_log(self, q: QBittorrentClient, torrents: list[Torrent]) -> None:
        """Follow qBittorrent's warning log; re-read it whole once if an errored torrent has no line (a restart
        of qBittorrent resets the ids, so the tail would miss it)."""
        buf = self._logs[q.name]
        entries = q.log_since(self._log_cursor[q.name])
        explained = {log_torrent_name(e.message) for e in (*buf, *entries)}
        unexplained = {
            f"{q.name}:{t.hash}" for t in torrents if t.state in ("error", "missingFiles") and t.name not in explained
        } - self._log_reread
        if unexplained and self._log_cursor[q.name] != -1:
            self._log_reread |= unexplained  # once per torrent: its line may simply have rotated out
            buf.clear()
            entries = q.log_since(-1)
        buf.extend(entries)
        if entries:
            self._log_cursor[q.name] = max(e.id for e in entries)

    # -- the loop ------------------------------------------------------------------------------
    def run_forever(self, interval: float) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_cycle()
            except Exception:
                log.exception("cycle failed; the next one runs in %.0f s", interval)
            self.stop_event.wait(interval)

    def close(self) -> None:
        for q in self.qbts:
            q.close()
        for a in self.arrs.values():
            a.close()
        if self._store is not None:
            self._store.close()


def _is_suspect(t: Torrent) -> bool:
    """Torrents whose trackers are worth reading: running, incomplete, and not receiving data now."""
    if t.is_paused or t.is_complete:
        return False
    return t.state in METADATA_STATES or (t.state in DOWNLOADING_STATES and t.dlspeed == 0)


def _log_decision(d: Decision) -> None:
    t = d.download.torrent
    arr = ",".join(f"{a.arr}#{'/'.join(map(str, a.queue_ids))}" for a in d.download.arr) or "-"
    level = logging.WARNING if d.verdict in (Verdict.ACT, Verdict.REPORT) else logging.INFO
    log.log(
        level,
        "decision=%s rule=%s kind=%s torrent=%r hash=%s client=%s category=%s arr=%s reason=%r why=%r "
        "evidence=%s actions=[%s]",
        d.verdict.value,
        d.finding.rule,
        d.finding.kind.value,
        t.name,
        t.hash,
        t.client,
        t.category or "-",
        arr,
        d.finding.reason,
        d.explanation,
        d.finding.evidence,
        "; ".join(a.description for a in d.actions),
    )
