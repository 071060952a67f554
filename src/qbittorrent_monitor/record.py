"""record: what a cycle found and did, as the report `--test --json` prints and one log line per decision.

`Recorder` is the record room's part of a cycle: the rules' reasoning at DEBUG, the guards' alerts and the outage
events, each decision into the report, its log line and the dashboard's copy when it changed, the summary line. The
listeners (notifications, metrics, the dashboard) hear the rest through `events`. The durable part of the record is
the store (store.py): the journal, the torrents' memory, the outage memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .actions import Outcome
from .events import Events, OutageBegan, OutageEnded
from .logs import readable_times
from .model import ArrDownload, Decision, Download, Finding, RememberedOutage, Snapshot, Verdict

if TYPE_CHECKING:
    from .decide import CycleState
    from .store import Store

log = logging.getLogger("qbittorrent_monitor.monitor")


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
    outages: list[RememberedOutage] = field(default_factory=list)  # active after this cycle
    logged: int = 0  # decisions that changed and were logged

    def note_snapshot(self, snapshot: Snapshot, clients: Iterable[str]) -> None:
        """What observe could see: the services that did not answer, the queue records no client holds, how many
        torrents were checked; the cycle ran if any of these qBittorrent instances answered."""
        self.service_errors = dict(snapshot.service_errors)
        self.unmatched_queue = snapshot.unmatched_queue
        self.torrents_checked = len(snapshot.downloads)
        self.ran = any(name not in snapshot.service_errors for name in clients)

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
            "outages": [
                {
                    "group": o.group.key,
                    "where": o.group.describe(),
                    "since": o.first_seen,
                    "evidence": o.evidence.describe(),
                    "torrents": len(o.members),
                }
                for o in self.outages
            ],
            "findings": findings,
            "actions": actions,
            "unmatched_queue": [
                {"arr": a.arr, "download_id": a.download_id, "title": a.title, "queue_ids": list(a.queue_ids)}
                for a in self.unmatched_queue
            ],
        }


DUE_BUCKET = 60.0
"""A waiting decision's due time is compared to the minute: the same moment recomputed is the same decision."""


def signature(d: Decision) -> tuple[object, ...]:
    """What a decision is, without the words that describe how long it has lasted: the verdict, the rule and kind,
    the guard that holds it, the planned steps and, for a wait, when it is due. The finding's reason ("no progress
    for 1h05m", "averaging 12.3 KiB/s") and the explanation ("stalled for 2h of the 6h") change every cycle while
    nothing about the decision does."""
    due = None if d.next_at is None else round(d.next_at / DUE_BUCKET)
    steps = tuple((a.type.value, a.target) for a in d.actions)
    return (d.verdict.value, d.finding.rule, d.finding.kind.value, d.guard, steps, due)


class DecisionLog:
    """Log a decision when it changes (a repair always): an unchanged wait is not worth a line every cycle."""

    def __init__(self) -> None:
        self._logged: dict[str, tuple[object, ...]] = {}  # download key -> the signature last logged

    def changed(self, d: Decision) -> bool:
        sig = signature(d)
        before, self._logged[d.download.key] = self._logged.get(d.download.key), sig
        return before != sig or d.verdict is Verdict.ACT

    def keep_only(self, keys: set[str]) -> None:
        """Forget the downloads without a decision this cycle (healed, or repaired): a new problem is a new line."""
        for key in set(self._logged) - keys:
            del self._logged[key]


def log_decision(d: Decision, level: int | None = None) -> None:
    t = d.download.torrent
    arr = ",".join(f"{a.arr}#{'/'.join(map(str, a.queue_ids))}" for a in d.download.arr) or "-"
    if level is None:
        level = logging.WARNING if d.verdict in (Verdict.ACT, Verdict.REPORT) else logging.INFO
    log.log(
        level,
        "decision=%s rule=%s kind=%s torrent=%r hash=%s client=%s tracker=%s category=%s arr=%s reason=%r why=%r "
        "evidence=%s actions=[%s]",
        d.verdict.value,
        d.finding.rule,
        d.finding.kind.value,
        t.name,
        t.hash,
        t.client,
        d.download.tracker_host or "-",
        t.category or "-",
        arr,
        d.finding.reason,
        d.explanation,
        readable_times(d.finding.evidence),
        "; ".join(a.description for a in d.actions),
    )


def log_summary(report: CycleReport, *, unchanged: int) -> None:
    """One line per cycle: what was found, done, held and waiting."""
    counts: dict[str, int] = {}
    for d in report.decisions:
        counts[d.verdict.value] = counts.get(d.verdict.value, 0) + 1
    done = sum(1 for outcomes in report.outcomes.values() for o in outcomes if o.status == "done")
    parts = [f"{n} {verdict}" for verdict, n in sorted(counts.items())] or ["nothing wrong"]
    log.info(
        "cycle%s: %d torrent(s) checked; %s; %d step(s) done%s%s",
        " (dry run)" if report.dry_run else "",
        report.torrents_checked,
        ", ".join(parts),
        done,
        f"; {unchanged} unchanged decision(s) not logged again" if unchanged else "",
        f"; unavailable: {', '.join(sorted(report.service_errors))}" if report.service_errors else "",
    )


class Recorder:
    """The record room's part of one cycle, in the order the cycle calls it."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self.decision_log = DecisionLog()  # what was last logged of each download's decision

    def reasoning(self, downloads: Iterable[Download], findings: Mapping[str, list[Finding]]) -> None:
        """`--verbose`: each rule's reasoning on each download, at DEBUG."""
        if not log.isEnabledFor(logging.DEBUG):
            return
        for d in downloads:
            for f in findings[d.key]:
                log.debug(
                    "rule %s on %r (%s): %s %s; evidence %s",
                    f.rule,
                    d.torrent.name,
                    d.torrent.hash,
                    f.kind.value,
                    f.reason,
                    readable_times(f.evidence),
                )

    def guards(
        self, result: CycleState, before: Mapping[str, RememberedOutage], report: CycleReport, now: float
    ) -> None:
        """The guards' alerts (a WARNING line each, and in the report); an event for each outage that began (not
        in the memory `before` this cycle) and each that ended; the outages active after this cycle."""
        for alert in result.alerts:
            log.warning("%s", alert)
            report.alerts.append(alert)
        for outage in result.outages.values():
            if outage.group.key not in before:
                self.events.emit(OutageBegan(outage))
        for outage in result.ended:
            self.events.emit(OutageEnded(outage, now))
        report.outages = list(result.outages.values())

    def decision(
        self,
        decision: Decision,
        report: CycleReport,
        *,
        store: Store,
        now: float,
        act: Callable[[Decision], list[Outcome]],
    ) -> None:
        """One decision: into the report; logged when it changed (at DEBUG otherwise); acted on through `act` when
        its verdict says so; then, when it changed, stored for the dashboard (an idle cycle writes nothing)."""
        index = len(report.decisions)
        report.decisions.append(decision)
        changed = self.decision_log.changed(decision)
        if changed:
            log_decision(decision)
            report.logged += 1
        elif log.isEnabledFor(logging.DEBUG):
            log_decision(decision, logging.DEBUG)
        if decision.verdict is Verdict.ACT:
            report.outcomes[index] = act(decision)
        if changed:
            store.set_decision(decision.download.key, {**decision.to_dict(), "time": now})

    def summary(self, report: CycleReport, decisions: Iterable[Decision]) -> None:
        """The cycle's summary line; the downloads without a decision this cycle are forgotten by the decision log
        (a new problem is a new line)."""
        decided = [d.download.key for d in decisions]
        self.decision_log.keep_only(set(decided))
        log_summary(report, unchanged=len(decided) - report.logged)
