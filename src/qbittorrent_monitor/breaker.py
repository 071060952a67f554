"""The outage breaker (pure): many torrents failing the same way in one cycle is an outage, not many bad releases.

Groups are one tracker host, one qBittorrent instance, or one kind of finding. A group is an outage when it holds
more than `max_torrents` failing torrents, or at least `min_torrents_for_fraction` that make up `max_fraction` of
the torrents the monitor watches in that group. The policy then alerts once and removes nothing, unless the
outage outlives `outage.window`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import OutageSettings
from .model import Download, Finding


@dataclass(frozen=True)
class Outage:
    group: str  # "tracker:<host>" | "client:<name>" | "kind:<kind>"
    size: int
    total: int
    first_seen: float

    def describe(self) -> str:
        scope, _, name = self.group.partition(":")
        where = {"tracker": f"on tracker {name}", "client": f"on qBittorrent {name}", "kind": f"with {name}"}[scope]
        return f"{self.size} of {self.total} watched torrents failing at once {where}"


def groups_of(download: Download, finding: Finding) -> list[str]:
    out = [f"client:{download.torrent.client}", f"kind:{finding.kind.value}"]
    if host := download.tracker_host:
        out.insert(0, f"tracker:{host}")
    return out


def find_outages(
    failing: list[tuple[Download, Finding]], watched: list[Download], cfg: OutageSettings
) -> dict[str, tuple[list[str], int, int]]:
    """group -> (member keys, size, total) for every group that is an outage this cycle."""
    if not cfg.enabled:
        return {}
    totals: dict[str, int] = {}
    for d in watched:
        totals[f"client:{d.torrent.client}"] = totals.get(f"client:{d.torrent.client}", 0) + 1
        if host := d.tracker_host:
            totals[f"tracker:{host}"] = totals.get(f"tracker:{host}", 0) + 1
    members: dict[str, list[str]] = {}
    for download, finding in failing:
        for group in groups_of(download, finding):
            members.setdefault(group, []).append(download.key)
    out = {}
    for group, keys in members.items():
        size = len(keys)
        total = len(watched) if group.startswith("kind:") else max(totals.get(group, 0), size)
        many = size > cfg.max_torrents
        share = size >= cfg.min_torrents_for_fraction and total > 0 and size / total >= cfg.max_fraction
        if many or share:
            out[group] = (keys, size, total)
    return out
