"""What a cycle tells the record room's listeners: notifications, metrics, the health log, the dashboard.

The monitor (service changes, the finished cycle) and its record room (record.Recorder: outages begun and ended) emit;
listeners subscribe. A listener that fails is logged and never breaks a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import RememberedOutage

if TYPE_CHECKING:
    from .record import CycleReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceChanged:
    """A service went down (or answers differently wrong), or came back."""

    name: str
    ok: bool
    message: str
    at: float


@dataclass(frozen=True, slots=True)
class OutageBegan:
    outage: RememberedOutage


@dataclass(frozen=True, slots=True)
class OutageEnded:
    outage: RememberedOutage
    at: float


@dataclass(frozen=True, slots=True)
class CycleFinished:
    """The whole cycle: its decisions, the repairs done (`report.outcomes`), what was given up on."""

    report: CycleReport


Event = ServiceChanged | OutageBegan | OutageEnded | CycleFinished
Listener = Callable[[Event], None]


class Events:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a listener failed on %s; the cycle goes on", type(event).__name__)
