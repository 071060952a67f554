"""Tracker failures: every real tracker row failing (status 4/5/6), its message in a pattern category.

Any working tracker clears the torrent (a multi-tracker torrent with one dead tracker is fine). The DHT/PeX/LSD
pseudo rows are skipped. Messages in the `ignore` list ("stream truncated", "client limit") never count.
"""

from __future__ import annotations

from ..model import FAILED_TRACKER_STATUSES, PATTERN_KINDS, Download, Finding, TrackerState
from .patterns import Patterns

RULE = "tracker"


def check(download: Download, patterns: Patterns) -> Finding | None:
    if not download.trackers:
        return None
    rows = [t for t in download.trackers if t.is_real]
    if not rows or any(t.status == TrackerState.WORKING for t in rows):
        return None
    failing = [t for t in rows if t.status in FAILED_TRACKER_STATUSES]
    best = None
    for row in failing:
        m = patterns.match(row.msg)
        if m and (best is None or PATTERN_KINDS.index(m.kind) < PATTERN_KINDS.index(best[1].kind)):
            best = (row, m)
    if best is None:
        return None
    row, m = best
    evidence = {
        **download.torrent.as_evidence(),
        **row.as_evidence(),
        "pattern": m.pattern,
        "category": m.kind.value,
        "trackers_failing": len(failing),
        "trackers_total": len(rows),
    }
    return Finding(m.kind, RULE, f'tracker {row.host or row.url} says "{row.msg}"', evidence)
