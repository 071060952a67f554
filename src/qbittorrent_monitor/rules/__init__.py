"""classify: pure rules turning one observed Download into Findings (highest priority first)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import SlowSettings
from ..model import PATTERN_KINDS, Download, Finding, Kind
from . import client_state, metadata, slow, stalled, tracker
from .patterns import Patterns

__all__ = ["Classified", "Patterns", "RuleContext", "classify", "classify_cycle", "undecided", "unregistered_seeds"]


@dataclass(frozen=True)
class RuleContext:
    patterns: Patterns
    now: float
    stalled_min_age: float = 3600.0
    slow: SlowSettings = field(default_factory=SlowSettings)


def classify(download: Download, ctx: RuleContext) -> list[Finding]:
    """Every rule that fires, in priority order: qBittorrent's state, trackers, metadata, stall, slow."""
    found = [
        client_state.check(download, ctx.patterns),
        tracker.check(download, ctx.patterns),
        metadata.check(download, ctx.now),
        stalled.check(download, ctx.now, ctx.stalled_min_age),
        slow.check(download, ctx.slow),
    ]
    return [f for f in found if f is not None]


def undecided(download: Download) -> frozenset[Kind]:
    """The kinds no rule could judge this cycle (a tracker re-announcing right now): their clocks and strikes are
    kept as they were, neither reset nor struck, until the next cycle can tell."""
    return frozenset(PATTERN_KINDS) if tracker.undecided(download) else frozenset()


def unregistered_seeds(
    seeds: list[Download], ctx: RuleContext, shared: frozenset[str]
) -> list[tuple[Download, Finding, bool]]:
    """The seeds of the opt-in cleanup whose trackers say they are unregistered: (seed, finding, shares its data)."""
    out = []
    for seed in seeds:
        found = classify(seed, ctx)
        if found and found[0].kind is Kind.TRACKER:
            out.append((seed, found[0], seed.key in shared))
    return out


@dataclass(frozen=True)
class Classified:
    """One cycle's findings: each download's (highest priority first), the opt-in cleanup's unregistered seeds
    (`(seed, finding, shares its data)`), and per download the finding kinds no rule could judge this cycle."""

    findings: dict[str, list[Finding]]
    seeds: list[tuple[Download, Finding, bool]]
    undecided: dict[str, frozenset[str]]

    def kinds(self) -> dict[str, list[str]]:
        """The finding kinds seen now on each observed torrent (what the store's finding clocks follow)."""
        kinds = {key: [f.kind.value for f in found] for key, found in self.findings.items()}
        return kinds | {s.key: [f.kind.value] for s, f, _ in self.seeds}


def classify_cycle(
    downloads: list[Download], seeds: list[Download], ctx: RuleContext, shared: frozenset[str]
) -> Classified:
    """Every observed download and seed of a cycle through the rules."""
    return Classified(
        findings={d.key: classify(d, ctx) for d in downloads},
        seeds=unregistered_seeds(seeds, ctx, shared),
        undecided={d.key: frozenset(k.value for k in ks) for d in downloads if (ks := undecided(d))},
    )
