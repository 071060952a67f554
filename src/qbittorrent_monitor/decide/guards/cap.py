"""Guard 3, the cap: at most `protection.max_removals_per_tracker` downloads leave a queue or the client per tracker
per cycle, the oldest failures first; the rest are held for the next cycle. A download no tracker ever answered
counts under its qBittorrent instance. This is the bounded rate at which a backlog is repaired."""

from __future__ import annotations

from dataclasses import replace

from ...model import READY_VERDICTS, Verdict
from .context import CycleState, GuardContext, tracker_of

NAME = "cap"


def apply(state: CycleState, ctx: GuardContext) -> CycleState:
    cap = ctx.config.protection.max_removals_per_tracker
    if not cap:
        return state
    now = ctx.facts.now
    ready = [i for i, d in enumerate(state.decisions) if d.verdict in READY_VERDICTS and d.removes]
    ready.sort(key=lambda i: (state.decisions[i].since or now, i))
    used: dict[str, int] = {}
    decisions = list(state.decisions)
    for i in ready:
        d = decisions[i]
        host = tracker_of(d)
        where = f"tracker {host}" if host else f"qBittorrent {d.download.torrent.client} (no tracker answered)"
        used[where] = used.get(where, 0) + 1
        if used[where] > cap:
            decisions[i] = replace(
                d,
                verdict=Verdict.HELD,
                explanation=f"held: the cap of {cap} removal(s) per cycle for {where} is reached; next cycle",
                guard=NAME,
            )
    return replace(state, decisions=tuple(decisions))
