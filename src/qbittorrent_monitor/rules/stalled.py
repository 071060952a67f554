"""Stalled downloads, judged by progress over wall-clock time, never by cycle counts.

A download is a stall candidate while it is running, incomplete and its downloaded bytes have not grown
(the store remembers when they last did). The policy waits `policy.stalled.after` from that moment; any
progress moves the moment forward, so a slow but moving download is never stalled.
"""

from __future__ import annotations

from ..model import DOWNLOADING_STATES, Download, Finding, Kind, human_duration

RULE = "stalled"


def check(download: Download, now: float, min_age: float) -> Finding | None:
    t = download.torrent
    memory = download.memory
    if memory is None or t.is_paused or t.is_complete or t.state not in DOWNLOADING_STATES:
        return None
    if memory.last_progress_at >= now:
        return None  # the store has just seen the bytes grow: moving (a speed reading can linger or trickle)
    if t.added_on > 0 and now - t.added_on < min_age:
        return None  # too young to judge
    since = memory.last_progress_at
    evidence = {
        **t.as_evidence(),
        "no_progress_since": since,
        "no_progress_for_s": round(now - since),
        "added_on": t.added_on,
    }
    return Finding(Kind.STALLED, RULE, f"no progress for {human_duration(now - since)}", evidence, since=since)
