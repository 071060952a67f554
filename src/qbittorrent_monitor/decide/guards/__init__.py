"""Pass 2 of decide: cycle-wide guards over the candidates only, one pure function each, in this fixed order."""

from __future__ import annotations

from collections.abc import Callable

from . import cap, holds, outage
from .context import CycleState, GuardContext, tracker_of, watched_counts

Guard = Callable[[CycleState, GuardContext], CycleState]

GUARDS: tuple[tuple[str, Guard], ...] = (
    (outage.NAME, outage.apply),  # many failing the same way for one cause: alert, don't repair
    (holds.NAME, holds.apply),  # the client or an *arr cannot be trusted right now: wait
    (cap.NAME, cap.apply),  # a bounded number of removals per tracker per cycle
)


def run_guards(state: CycleState, ctx: GuardContext) -> CycleState:
    for _, guard in GUARDS:
        state = guard(state, ctx)
    return state


__all__ = ["GUARDS", "CycleState", "GuardContext", "run_guards", "tracker_of", "watched_counts"]
