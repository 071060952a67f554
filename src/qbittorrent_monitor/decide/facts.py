"""What decide knows beyond the downloads themselves, gathered once per cycle (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Population, PopulationKey, RememberedOutage


@dataclass(frozen=True)
class CycleFacts:
    now: float
    dry_run: bool = False
    since: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> kind -> first seen by the store
    strikes: dict[str, dict[str, int]] = field(default_factory=dict)  # key -> kind -> consecutive sightings
    held_clients: dict[str, str] = field(default_factory=dict)  # qBittorrent instance -> why its actions wait
    held_arrs: dict[str, str] = field(default_factory=dict)  # *arr instance -> why
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (arr, item) -> failed downloads
    repaired: set[tuple[str, str]] = field(default_factory=set)  # (arr, download id) really removed from a queue
    outages: dict[str, RememberedOutage] = field(default_factory=dict)  # group key -> what the store remembers
    populations: dict[PopulationKey, Population] = field(default_factory=dict)  # qBittorrent's count, if known
    unobserved: frozenset[str] = frozenset()  # services that did not answer this cycle: absence proves nothing
    failed_removals: dict[tuple[str, str], float] = field(default_factory=dict)  # (arr, download id) -> last failed

    def first_seen(self, key: str, kind: str) -> float:
        """When the store first saw this kind of finding on this torrent (now, if it never did)."""
        return self.since.get(key, {}).get(kind, self.now)
