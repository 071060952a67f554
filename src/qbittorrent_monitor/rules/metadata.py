"""Magnets whose metadata never arrives (metaDL / forcedMetaDL), timed from when the torrent was added."""

from __future__ import annotations

from ..model import METADATA_STATES, Download, Finding, Kind, human_duration

RULE = "metadata"


def check(download: Download, now: float) -> Finding | None:
    t = download.torrent
    if t.state not in METADATA_STATES:
        return None
    since = float(t.added_on) if t.added_on > 0 else (download.memory.first_seen if download.memory else now)
    evidence = {**t.as_evidence(), "waiting_since": since, "waiting_for_s": round(now - since)}
    return Finding(
        Kind.METADATA, RULE, f"metadata not received after {human_duration(now - since)}", evidence, since=since
    )
