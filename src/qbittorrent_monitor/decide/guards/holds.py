"""Guard 2, the holds: while a qBittorrent instance reports itself disconnected, or an *arr reports that it cannot
reach its download client, no repair it would take part in runs; they are tried again next cycle. The seed cleanup
also waits while any *arr is held: a queue it cannot refresh may still own the seed."""

from __future__ import annotations

from dataclasses import replace

from ...model import READY_VERDICTS, Decision, Origin, Verdict
from .context import CycleState, GuardContext

NAME = "holds"


def apply(state: CycleState, ctx: GuardContext) -> CycleState:
    return replace(state, decisions=tuple(_hold(d, ctx) for d in state.decisions))


def _hold(d: Decision, ctx: GuardContext) -> Decision:
    if d.verdict not in READY_VERDICTS:
        return d
    facts = ctx.facts
    reasons = [facts.held_clients.get(d.download.torrent.client, "")]
    if d.origin is Origin.SEED_CLEANUP:
        reasons += list(facts.held_arrs.values())
    else:
        reasons += [facts.held_arrs.get(a.arr, "") for a in d.download.arr]
    why = "; ".join(dict.fromkeys(r for r in reasons if r))
    if not why:
        return d
    return replace(d, verdict=Verdict.HELD, explanation=f"held: {why}; nothing is done this cycle", guard=NAME)
