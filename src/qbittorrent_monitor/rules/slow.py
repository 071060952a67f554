"""Optional (off by default): a download moving, but slower than `stalled.slow.min_speed_kib` on average over
the last complete `stalled.slow.window`. A stalled download is the stalled rule's; this one is for crawlers."""

from __future__ import annotations

from ..config import SlowSettings
from ..model import DOWNLOADING_STATES, Download, Finding, Kind

RULE = "slow"


def check(download: Download, cfg: SlowSettings) -> Finding | None:
    t = download.torrent
    memory = download.memory
    if not cfg.enabled or memory is None or memory.last_rate is None:
        return None
    if t.is_paused or t.is_complete or t.state not in DOWNLOADING_STATES:
        return None
    limit = cfg.min_speed_kib * 1024
    if memory.last_rate >= limit or memory.last_rate <= 0:
        return None  # fast enough, or not moving at all (that is a stall)
    evidence = {
        **t.as_evidence(),
        "average_kib_s": round(memory.last_rate / 1024, 2),
        "min_speed_kib_s": cfg.min_speed_kib,
        "window_s": cfg.window,
    }
    reason = f"averaging {memory.last_rate / 1024:.1f} KiB/s, under {cfg.min_speed_kib:g} KiB/s"
    return Finding(Kind.SLOW, RULE, reason, evidence, since=memory.window_at)
