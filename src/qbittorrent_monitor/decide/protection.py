"""The protections: what is never a candidate for a repair, whatever the finding says."""

from __future__ import annotations

from collections.abc import Iterable

from ..config import Config
from ..model import METADATA_STATES, Download, Finding, Torrent


def protection(download: Download, finding: Finding, cfg: Config) -> str | None:
    """Why this download must be left alone (a protected tag, category, hash or tracker; paused), or None."""
    t = download.torrent
    if why := torrent_protection(t, cfg):
        return why
    hosts = (str(finding.evidence.get("tracker") or ""), download.tracker_host, *download.listed_hosts)
    for host in dict.fromkeys(hosts):  # any tracker it lists, whatever that tracker's status
        if host and (covered := cfg.protection.tracker_protected(host)):
            return f"its tracker {host} is protected ({covered})"
    if t.is_paused:
        return "is paused: the user stopped it, so it is left alone"
    return None


def with_protected_hashes(cfg: Config, hashes: Iterable[str]) -> Config:
    """The configuration with these hashes (protected from the dashboard) added to `protection.hashes`."""
    extra = [h for h in hashes if h not in cfg.protection.hashes]
    if not extra:
        return cfg
    protection = cfg.protection.model_copy(update={"hashes": [*cfg.protection.hashes, *extra]})
    return cfg.model_copy(update={"protection": protection})


def torrent_protection(t: Torrent, cfg: Config) -> str | None:
    """The protections torrents/info alone tells (a protected tag, category or hash), or None."""
    protected_tags = sorted(set(t.tags) & set(cfg.protection.tags))
    if protected_tags:
        return f"carries the protected tag {', '.join(protected_tags)}"
    if t.category and t.category in cfg.protection.categories:
        return f"is in the protected category {t.category}"
    if t.hash in cfg.protection.hashes:
        return "its hash is protected (protection.hashes, or protected from the dashboard)"
    return None


def never_a_candidate(t: Torrent, cfg: Config) -> bool:
    """Complete, paused or protected by what torrents/info tells: no finding about it can lead to a repair (observe
    reads such torrents less often; a stale answer can only delay a repair, never cause one)."""
    return t.is_complete or t.is_paused or torrent_protection(t, cfg) is not None


def owes_seeding(download: Download, cfg: Config) -> bool:
    """A private torrent that has not yet seeded the minimum time or ratio (hit-and-run if deleted). A torrent
    whose private flag is unknown is treated as private, except a magnet whose metadata never came: it has not a
    byte of the payload to seed back (and qBittorrent cannot tell its flag before the metadata arrives)."""
    t = download.torrent
    if t.private is False or t.state in METADATA_STATES:
        return False
    return t.seeding_time < cfg.private.min_seeding_time and t.ratio < cfg.private.min_ratio


def private_word(private: bool | None) -> str:
    return "private" if private else "possibly private (qBittorrent did not say)"
