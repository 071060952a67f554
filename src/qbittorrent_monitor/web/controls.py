"""The dashboard's actions, shared by the pages and the API: undo a repair, protect a torrent, run a cycle now, pause.

Each one goes through the store or the monitor's own switches (the monitor honours them at its next cycle);
only `undo` talks to a service, with clients of its own (as the `undo` command does).
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from .. import history
from ..clients.arr import ArrClient

if TYPE_CHECKING:
    from ..monitor import Monitor

log = logging.getLogger(__name__)
HASH = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def valid_hash(value: str) -> str | None:
    value = value.strip().lower()
    return value if HASH.match(value) else None


def undo(monitor: Monitor, action_id: int) -> tuple[bool, list[str]]:
    """What `qbittorrent-monitor undo ACTION_ID` does; returns (something was undone, what it says)."""
    lines: list[str] = []
    arrs = {inst.name: ArrClient(app, inst) for app, inst in monitor.config.arr_instances()}
    try:
        code = history.undo(monitor.store, arrs, action_id, out=lines.append)
    finally:
        for arr in arrs.values():
            arr.close()
    log.info("undo of action %d from the dashboard: %s", action_id, " | ".join(lines))
    return code == 0, lines


def protect(monitor: Monitor, hash_: str, name: str) -> str:
    monitor.store.protect(hash_, name, time.time())
    log.info("torrent %s (%s) protected from the dashboard", name or "?", hash_)
    return f"{name or hash_} is protected: the monitor leaves it alone from the next cycle on"


def unprotect(monitor: Monitor, hash_: str) -> str:
    monitor.store.unprotect(hash_)
    log.info("torrent %s no longer protected from the dashboard", hash_)
    return f"{hash_} is no longer protected from the dashboard (protection.* in the config still applies)"


def retry_now(monitor: Monitor) -> str:
    monitor.wake.set()
    log.info("a cycle was asked for from the dashboard")
    return "a cycle starts now (or right after the one running)"


def pause(monitor: Monitor) -> str:
    if not monitor.paused:
        monitor.store.set_control("paused", "dashboard", time.time())
        log.warning("monitor paused from the dashboard: cycles change nothing until it is resumed")
    return "paused: cycles look and decide, and change nothing until you resume"


def resume(monitor: Monitor) -> str:
    monitor.store.set_control("paused", None, time.time())
    log.warning("monitor resumed from the dashboard")
    return "resumed: the next cycle repairs again"
