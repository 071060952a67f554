"""act: carry out a Decision's steps, journaled in the store before and after each one.

A repair's steps (queue removal, then the targeted search) are all written as `pending` first. Each step is
marked `running` just before its request and `done`/`failed`/`skipped` right after, so after a crash the
next start knows exactly what is left and finishes it (`resume`) without redoing what was done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clients import ServiceError
from .clients.arr import ArrClient
from .model import Action, Decision
from .store import JournalRow, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action_id: int
    action: Action
    status: str  # done | failed | skipped
    result: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "id": self.action_id, "status": self.status, "result": self.result}


class Executor:
    def __init__(self, arrs: dict[str, ArrClient], store: Store, clock: Callable[[], float]) -> None:
        self.arrs = arrs
        self.store = store
        self.clock = clock

    def run(self, decision: Decision) -> list[Outcome]:
        rows = self.store.plan(decision, self.clock())
        return self._run(rows, resuming=False)

    def resume(self) -> list[Outcome]:
        """Finish the repairs a previous run left half-way (crash, kill -9, power cut)."""
        outcomes: list[Outcome] = []
        repairs: dict[str, list[JournalRow]] = {}
        for row in self.store.unfinished():
            repairs.setdefault(row.repair, [])
        for repair in repairs:
            rows = self.store.repair(repair)
            log.warning(
                "resuming an interrupted repair of %s (%s): %d step(s) left",
                rows[0].name,
                rows[0].hash,
                sum(r.status in ("pending", "running") for r in rows),
            )
            outcomes += self._run(rows, resuming=True)
        return outcomes

    def _run(self, rows: list[JournalRow], *, resuming: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        stop_reason = ""
        for row in rows:
            if row.status not in ("pending", "running"):
                if row.type == "arr_remove" and row.status == "failed":
                    stop_reason = "the queue removal failed"
                continue
            if stop_reason and row.type == "arr_search":
                outcomes.append(self._finish(row, "skipped", stop_reason))
                continue
            was_running = row.status == "running"
            self.store.finish(row.id, "running", "", self.clock())
            try:
                result = self._execute(row, resuming=resuming, was_running=was_running)
            except ServiceError as exc:
                outcomes.append(self._finish(row, "failed", exc.message))
                if row.type == "arr_remove":
                    stop_reason = "the queue removal failed"
                continue
            if row.type == "arr_remove" and result == "gone" and not resuming:
                # The queue changed underneath us (imported, or removed by someone): no search for it.
                stop_reason = "the download had already left the queue"
            outcomes.append(self._finish(row, "done", result))
        return outcomes

    def _finish(self, row: JournalRow, status: str, result: str) -> Outcome:
        self.store.finish(row.id, status, result, self.clock())
        level = logging.WARNING if status == "failed" else logging.INFO
        log.log(level, "action %d %s: %s -> %s", row.id, status, row.description, result)
        return Outcome(row.id, row.action, status, result)

    def _execute(self, row: JournalRow, *, resuming: bool, was_running: bool) -> str:
        p = row.params
        if row.type == "alert":
            log.warning("ALERT %s (evidence: %s)", row.description, row.evidence)
            return "logged"
        arr = self.arrs.get(row.target)
        if arr is None:
            raise ServiceError(row.target, "this *arr instance is no longer configured")
        if row.type == "arr_remove":
            return arr.remove(
                int(p["queue_id"]),
                remove_from_client=bool(p["removeFromClient"]),
                blocklist=bool(p["blocklist"]),
                skip_redownload=bool(p["skipRedownload"]),
            )
        if row.type == "arr_search":
            if resuming and was_running and arr.has_command_since(p["command"], row.updated_at):
                return "already searched before the interruption"
            data = arr.command(p["command"])
            return f"command {data.get('id')} {data.get('status', '')}".strip()
        raise ServiceError(row.target, f"unknown action type {row.type}")
