"""act: carry out a Decision's steps, journaled in the store before and after each one.

A repair's steps (queue removal, the targeted search, client-side tagging) are all written as `pending` first.
Each step is marked `running` just before its request and `done`/`failed`/`skipped`/`deferred` right after, so
after a crash the next start knows exactly what is left and finishes it (`resume`) without redoing what was
done: a removal that was in flight is checked against the queue, a search in flight against the app's commands.
Searches obey the budget (per *arr per hour) and are de-duplicated; an over-budget search is deferred, not lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clients import ServiceError
from .clients.arr import ArrClient, same_command
from .clients.qbittorrent import QBittorrentClient
from .config import Config
from .model import UNFINISHED_STEPS, Action, ActionType, Decision, RemoveResult, StepStatus, Verdict, human_duration
from .store import JournalRow, Store

log = logging.getLogger(__name__)

HOUR = 3600.0
GIVE_UP_RETRYING = 86400.0


@dataclass(frozen=True)
class Outcome:
    action_id: int
    action: Action
    status: StepStatus  # done | failed | skipped | deferred
    result: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "id": self.action_id, "status": self.status, "result": self.result}


class Executor:
    def __init__(
        self,
        config: Config,
        arrs: dict[str, ArrClient],
        qbts: dict[str, QBittorrentClient],
        store: Store,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.arrs = arrs
        self.qbts = qbts
        self.store = store
        self.clock = clock

    def run(self, decision: Decision) -> list[Outcome]:
        assert decision.verdict is Verdict.ACT
        rows = self.store.plan(decision, self.clock())
        return self._run(rows, resuming=False)

    def resume(self) -> list[Outcome]:
        """Finish the repairs a previous run left half-way (crash, kill -9, power cut). Called every cycle: a
        repair whose service is unreachable stays as it is and is tried again next time."""
        outcomes: list[Outcome] = []
        for repair in dict.fromkeys(row.repair for row in self.store.unfinished()):
            rows = self.store.repair(repair)
            left = sum(r.status in UNFINISHED_STEPS for r in rows)
            log.warning("resuming an interrupted repair of %s (%s): %d step(s) left", rows[0].name, rows[0].hash, left)
            outcomes += self._run(rows, resuming=True)
        return outcomes

    def retry_deferred(self) -> list[Outcome]:
        """Searches held back (budget, an identical search moments ago, the app unreachable) run as soon as they
        may; one still failing a day after it was planned is given up, and says so."""
        outcomes: list[Outcome] = []
        for row in self.store.deferred():
            # A crash now: resume checks the app before searching again.
            self.store.finish(row.id, StepStatus.RUNNING, row.result, self.clock())
            try:
                status, result = self._search(row)
            except ServiceError as exc:
                if self.clock() - row.created_at > GIVE_UP_RETRYING:
                    outcomes.append(
                        self._finish(row, StepStatus.FAILED, f"{exc.message}; given up after a day of retries")
                    )
                else:
                    self.store.finish(row.id, StepStatus.DEFERRED, f"{exc.message}; retried next cycle", self.clock())
                continue
            if status is StepStatus.DEFERRED:  # still over budget or too soon
                self.store.finish(row.id, StepStatus.DEFERRED, result, self.clock())
            else:
                outcomes.append(self._finish(row, status, result))
        return outcomes

    def _run(self, rows: list[JournalRow], *, resuming: bool) -> list[Outcome]:
        """The steps of one repair, in order. Each *arr's search follows its own removal only: a removal that
        failed or found nothing (404) skips that *arr's search, not another's. The torrent is deleted from the client
        by the first removal that really removes it (a later *arr's removal takes over when the first one fails)."""
        outcomes: list[Outcome] = []
        stopped: dict[str, str] = {}  # *arr instance -> why its search is skipped
        deleted = False  # the torrent was deleted from the client by a removal of this repair
        removed_any = False
        for row in rows:
            if row.status not in UNFINISHED_STEPS:  # done before (this run or an interrupted one)
                if row.type == ActionType.ARR_REMOVE:
                    if row.status == StepStatus.DONE and row.result != RemoveResult.GONE:
                        deleted = deleted or _deletes(row, deleted)
                        removed_any = True
                    else:
                        stopped[row.target] = _why_stopped(row.status, row.result)
                continue
            if row.type == ActionType.ARR_SEARCH and row.target in stopped:
                outcomes.append(self._finish(row, StepStatus.SKIPPED, stopped[row.target]))
                continue
            if row.type == ActionType.QBT_TAG and stopped and not removed_any:
                outcomes.append(self._finish(row, StepStatus.SKIPPED, next(iter(stopped.values()))))
                continue
            was_running = row.status == StepStatus.RUNNING
            self.store.finish(row.id, StepStatus.RUNNING, "", self.clock())
            try:
                status, result = self._execute(row, resuming=resuming, was_running=was_running, deleted=deleted)
            except ServiceError as exc:
                if resuming:  # leave the journal as it was; the next cycle tries again
                    self.store.finish(row.id, StepStatus(row.status), row.result, row.updated_at)
                    log.warning("interrupted repair of %s waits: %s", row.name, exc.message)
                    break
                if row.type == ActionType.ARR_SEARCH:  # the removal is done: the search must not be lost
                    why = f"{exc.message}; retried next cycle"
                    self.store.finish(row.id, StepStatus.DEFERRED, why, self.clock())
                    outcomes.append(Outcome(row.id, row.action, StepStatus.DEFERRED, why))
                    continue
                outcomes.append(self._finish(row, StepStatus.FAILED, exc.message))
                if row.type == ActionType.ARR_REMOVE:
                    stopped[row.target] = _why_stopped(StepStatus.FAILED, exc.message)
                continue
            if row.type == ActionType.ARR_REMOVE:
                if result == RemoveResult.GONE:
                    # The queue changed underneath us (imported, or removed by someone): no search for it.
                    stopped[row.target] = _why_stopped(StepStatus.DONE, result)
                else:
                    # Only a download really taken out of the queue is a failed download of its episodes/movie:
                    # the step and that failure are written together.
                    items = row.params.get("items", [])
                    self.store.finish_removal(row.id, result, row.target, items, row.hash, self.clock())
                    deleted = deleted or _deletes(row, deleted)
                    removed_any = True
            outcomes.append(self._finish(row, status, result))
        return outcomes

    def _finish(self, row: JournalRow, status: StepStatus, result: str) -> Outcome:
        self.store.finish(row.id, status, result, self.clock())
        level = logging.WARNING if status is StepStatus.FAILED else logging.INFO
        log.log(level, "action %d %s: %s -> %s", row.id, status.value, row.description, result)
        return Outcome(row.id, row.action, status, result)

    def _execute(
        self, row: JournalRow, *, resuming: bool, was_running: bool, deleted: bool = False
    ) -> tuple[StepStatus, str]:
        p = row.params
        done = StepStatus.DONE
        if row.type == ActionType.ALERT:
            log.warning("ALERT %s (evidence: %s)", row.description, row.evidence)
            return done, "logged"
        if row.type == ActionType.QBT_DELETE:
            self._qbt(row.target).delete(str(p["hash"]), delete_files=bool(p["deleteFiles"]))
            return done, "deleted torrent and data" if p["deleteFiles"] else "deleted torrent, data kept"
        if row.type == ActionType.QBT_TAG:
            self._qbt(row.target).add_tags(str(p["hash"]), list(p["tags"]))
            return done, f"tagged {', '.join(p['tags'])}"
        arr = self._arr(row.target)
        if row.type == ActionType.ARR_REMOVE:
            # Its own record: the same hash may also be queued under another download client of this app.
            if (
                resuming
                and was_running
                and not any(i.id == p["queue_id"] and i.download_id == p["download_id"] for i in arr.queue())
            ):
                return done, "already removed before the interruption"
            result = arr.remove(
                int(p["queue_id"]),
                remove_from_client=_deletes(row, deleted),
                blocklist=bool(p["blocklist"]),
                skip_redownload=bool(p["skipRedownload"]),
            )
            return done, result
        if row.type == ActionType.ARR_SEARCH:
            if resuming and was_running and arr.has_command_since(p["command"], row.updated_at):
                return done, "already searched before the interruption"
            return self._search(row)
        raise ServiceError(row.target, f"unknown action type {row.type}")

    def _search(self, row: JournalRow) -> tuple[StepStatus, str]:
        """One targeted search, deferred (never dropped) while an identical one ran moments ago or the hour's
        budget is spent."""
        cfg = self.config.search
        now = self.clock()
        command = row.params["command"]
        for done in reversed(self.store.searches_since(row.target, now - cfg.dedupe_window)):
            if done.id != row.id and same_command(done.params["command"], command):
                ago = human_duration(now - done.updated_at)
                return StepStatus.DEFERRED, f"an identical search ran {ago} ago (action {done.id}); runs again later"
        used = len(self.store.searches_since(row.target, now - HOUR))
        if used >= cfg.max_per_hour:
            return (
                StepStatus.DEFERRED,
                f"search budget of {cfg.max_per_hour}/h for {row.target} is used; runs when it allows",
            )
        data = self._arr(row.target).command(command)
        return StepStatus.DONE, f"command {data.get('id')} {data.get('status', '')}".strip()

    def _arr(self, name: str) -> ArrClient:
        arr = self.arrs.get(name)
        if arr is None:
            raise ServiceError(name, "this *arr instance is no longer configured")
        return arr

    def _qbt(self, name: str) -> QBittorrentClient:
        qbt = self.qbts.get(name)
        if qbt is None:
            raise ServiceError(name, "this qBittorrent instance is no longer configured")
        return qbt


def _deletes(row: JournalRow, deleted: bool) -> bool:
    """Whether this removal deletes the torrent from the client: the first removal of a repair that deletes, or a
    later one when no earlier removal of the repair deleted it (it failed, or the queue no longer had it)."""
    p = row.params
    return bool(p["removeFromClient"]) or (bool(p.get("deletes_torrent")) and not deleted)


def _why_stopped(status: str, result: str) -> str:
    if status == StepStatus.DONE and result == RemoveResult.GONE:
        return "the download had already left the queue"
    return "the queue removal failed"
