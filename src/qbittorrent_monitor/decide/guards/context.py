"""What every guard takes and gives: the cycle's decisions so far, and the facts they are judged on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...config import Config
from ...model import Decision, Download, PopulationKey, RememberedOutage

if TYPE_CHECKING:
    from ..facts import CycleFacts


@dataclass(frozen=True)
class GuardContext:
    config: Config
    facts: CycleFacts
    watched: dict[PopulationKey, int] = field(default_factory=dict)  # downloads observed per group (a lower bound)


@dataclass(frozen=True)
class CycleState:
    """The output of the guards so far. `outages` is the whole outage memory after this cycle (what the store keeps);
    `ended` the remembered outages that are over."""

    decisions: tuple[Decision, ...]
    alerts: tuple[str, ...] = ()
    outages: dict[str, RememberedOutage] = field(default_factory=dict)
    ended: tuple[RememberedOutage, ...] = ()


def tracker_of(decision: Decision) -> str:
    """The tracker a decision belongs to: the failing tracker a tracker finding names (it answered, so it reported),
    else one that reported on the torrent; "" when no tracker ever answered."""
    return str(decision.finding.evidence.get("tracker") or "") or decision.download.tracker_host


def watched_counts(downloads: Iterable[Download]) -> dict[PopulationKey, int]:
    """Observed downloads per qBittorrent instance and per tracker host: the least each population can be."""
    out: dict[PopulationKey, int] = {}
    for d in downloads:
        keys = [PopulationKey(d.torrent.client)]
        if host := d.tracker_host:
            keys.append(PopulationKey(d.torrent.client, host))
        for key in keys:
            out[key] = out.get(key, 0) + 1
    return out
