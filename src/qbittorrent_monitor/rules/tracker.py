"""Tracker failures: every real tracker row failing (status 4/5/6), its message in a pattern category.

Any working tracker clears the torrent (a multi-tracker torrent with one dead tracker is fine). The DHT/PeX/LSD
pseudo rows are skipped. Messages in the `ignore` list ("stream truncated", "client limit") never count.
A tracker re-announcing right now (5.2+ `updating`, 4.x status 3) is not judged on its previous answer: the torrent's
trackers are not judged this cycle, and what was found before keeps its clock (`undecided`).
"""

from __future__ import annotations

from ..model import FAILED_TRACKER_STATUSES, PATTERN_KINDS, Download, Finding
from .patterns import Patterns

RULE = "tracker"


def undecided(download: Download) -> bool:
    """No tracker works for it yet one is announcing now: whether its trackers fail is not known this cycle."""
    return download.no_tracker_works and any(t.announcing for t in download.real_trackers)


def check(download: Download, patterns: Patterns) -> Finding | None:
    if not download.no_tracker_works:
        return None
    if undecided(download):
        return None  # its previous message may be answered differently in a second
    rows = download.real_trackers
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
