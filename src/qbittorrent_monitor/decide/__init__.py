"""decide: pure. Pass 1 decides each download on its own (`download.py`, `seeds.py`); pass 2 runs the cycle-wide
guards over the candidates only (`guards/`: outage breaker, holds, cap, in that order).

Between the passes the caller may read the tracker populations the outage breaker asks for
(`population_requests`): the one question that depends on what pass 1 found, and it is answered before any guard
judges. Nothing here calls a service.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config import Config
from ..model import Decision, Download, Evidence, Finding, Kind, OutageGroup, PopulationKey, RememberedOutage
from .download import REMOVAL_RETRY, decide_download
from .facts import CycleFacts
from .guards import GUARDS, CycleState, GuardContext, run_guards, watched_counts
from .guards import outage as _outage
from .protection import with_protected_hashes
from .repair import search_command, search_items
from .seeds import decide_seed

__all__ = [
    "GUARDS",
    "REMOVAL_RETRY",
    "CycleFacts",
    "CycleState",
    "Evidence",
    "OutageGroup",
    "RememberedOutage",
    "decide_download",
    "decide_seed",
    "guard_cycle",
    "pass_one",
    "population_requests",
    "search_command",
    "search_items",
    "strikes_cap",
    "with_protected_hashes",
]


def strikes_cap(cfg: Config) -> int:
    """The most strikes any rule's policy waits for: the store counts a finding's strikes no further."""
    return max(cfg.policy.for_kind(kind).strikes for kind in Kind)


def pass_one(
    downloads: Iterable[tuple[Download, list[Finding]]],
    seeds: Iterable[tuple[Download, Finding, bool]],
    cfg: Config,
    facts: CycleFacts,
) -> tuple[Decision, ...]:
    """Each download on its own; then each unregistered seed of the opt-in cleanup (`(seed, finding, shares_data)`)."""
    decisions = [d for download, findings in downloads if (d := decide_download(download, findings, cfg, facts))]
    decisions += [decide_seed(s, f, shares_data=shared, cfg=cfg, facts=facts) for s, f, shared in seeds]
    return tuple(decisions)


def _context(observed: Iterable[Download], cfg: Config, facts: CycleFacts) -> GuardContext:
    return GuardContext(cfg, facts, watched_counts(observed))


def population_requests(
    decisions: tuple[Decision, ...], observed: Iterable[Download], cfg: Config, facts: CycleFacts
) -> set[PopulationKey]:
    """The group populations the outage breaker needs and does not know (see guards/outage.py)."""
    return _outage.population_requests(decisions, _context(observed, cfg, facts))


def guard_cycle(
    decisions: tuple[Decision, ...], observed: Iterable[Download], cfg: Config, facts: CycleFacts
) -> CycleState:
    """Pass 2: every guard in order. `observed` is every download seen this cycle (the guards' lower bounds)."""
    return run_guards(CycleState(decisions), _context(observed, cfg, facts))
