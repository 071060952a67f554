"""`history`, `explain` and `undo`: what the monitor did, why, and taking back what can be taken back.

All three read the SQLite store; only `undo` talks to a service (the *arr blocklist API).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .clients import ServiceError
from .clients.arr import ArrClient
from .logs import iso_time, iso_twins, readable_times
from .model import ActionType, StepStatus
from .store import JournalRow, Store

Print = Callable[[str], None]


def _when(ts: float | None) -> str:
    """ISO 8601 with the local offset, as the logs print it."""
    return iso_time(ts) if ts else "-"


def history(store: Store, since_seconds: float, *, as_json: bool, out: Print) -> int:
    rows = store.history(since=time.time() - since_seconds)
    if as_json:
        out(json.dumps(iso_twins([r.to_dict() for r in rows]), indent=2, default=str))
        return 0
    if not rows:
        out("no action in that period")
        return 0
    for r in rows:
        out(f"#{r.id} {_when(r.created_at)} [{r.status}] {r.description}")
        out(f"    {r.name} ({r.hash}) {r.kind}: {r.reason}")
        if r.result:
            out(f"    result: {r.result}")
        evidence = ", ".join(f"{k}={v}" for k, v in readable_times(r.evidence).items() if k != "log")
        out(f"    evidence: {evidence}")
    return 0


def explain(store: Store, hash_: str, *, as_json: bool, out: Print) -> int:
    hash_ = hash_.strip().lower()
    known = store.torrent(hash_)
    actions = store.history(since=0, hash_=hash_)
    if as_json:
        doc = {"hash": hash_, "torrents": known, "actions": [a.to_dict() for a in actions]}
        out(json.dumps(iso_twins(doc), default=str))
        return 0 if known or actions else 1
    if not known and not actions:
        out(
            f"{hash_}: never seen. The monitor only looks at torrents an *arr queue refers to, and at torrents "
            "qBittorrent reports as errored; this one was neither in any cycle it recorded."
        )
        return 1
    for t in known:
        out(f"{t['name']} ({t['hash']}) on {t['client']}")
        out(f"  first seen {_when(t['first_seen'])}, last seen {_when(t['last_seen'])}")
        out(f"  downloaded {t['last_downloaded']} bytes, last progress {_when(t['last_progress_at'])}")
        if t.get("last_rate") is not None:
            out(f"  average speed over the last window: {t['last_rate'] / 1024:.1f} KiB/s")
        for kind, f in t["findings"].items():
            out(f"  finding {kind}: since {_when(f['first_seen'])}, {f['strikes']} strike(s)")
        d = t.get("last_decision")
        if d:
            out(f"  last decision ({_when(d.get('time'))}): {d['decision']} - {d['explanation']}")
            out(f"    {d['kind']} by rule {d['rule']}: {d['reason']}")
            out(f"    evidence: {json.dumps(readable_times(d['evidence']), default=str)}")
            for a in d.get("arr", []):
                out(f"    {a['instance']}: queue ids {a['queue_ids']} ({a['title']})")
        else:
            out("  no finding so far: nothing wrong was seen")
    for a in actions:
        out(
            f"  action #{a.id} {_when(a.created_at)} [{a.status}] {a.description}"
            + (f" -> {a.result}" if a.result else "")
        )
    return 0


def undo(store: Store, arrs: dict[str, ArrClient], action_id: int, *, out: Print) -> int:
    """Reverse what can be reversed of the repair that holds `action_id`; say clearly what cannot be."""
    row = store.action(action_id)
    if row is None:
        out(f"no action #{action_id}: see `qbittorrent-monitor history`")
        return 1
    steps = [r for r in store.repair(row.repair) if r.type != ActionType.UNDO]
    undone = 0
    for step in steps:
        if step.status != StepStatus.DONE:
            out(f"#{step.id} {step.description}: never carried out ({step.status}); nothing to undo")
            continue
        if step.type == ActionType.ARR_REMOVE:
            if step.params.get("blocklist"):
                undone += _unblocklist(store, arrs, step, out)
            else:
                out(f"#{step.id}: the release was not blocklisted; nothing to take back there")
            if step.params.get("removeFromClient"):
                out(
                    f"#{step.id}: the torrent and its data were deleted from qBittorrent: this cannot be undone "
                    "(the release can be grabbed again once it is off the blocklist)"
                )
            else:
                out(f"#{step.id}: the torrent was kept in qBittorrent; it is no longer in the {step.target} queue")
        elif step.type == ActionType.ARR_SEARCH:
            out(f"#{step.id}: the search already ran; a search cannot be undone (it may have grabbed a release)")
        elif step.type == ActionType.QBT_TAG:
            out(f"#{step.id}: the tag {', '.join(step.params['tags'])} stays; remove it in qBittorrent if you wish")
        elif step.type == ActionType.ALERT:
            out(f"#{step.id}: an alert; nothing to undo")
    return 0 if undone else 1


def _unblocklist(store: Store, arrs: dict[str, ArrClient], step: JournalRow, out: Print) -> int:
    """Delete the blocklist entries this removal wrote; the number deleted (a failure after some were deleted is
    reported as a partial undo: those stay deleted, the rest can be taken back by running undo again)."""
    arr = arrs.get(step.target)
    if arr is None:
        out(f"#{step.id}: {step.target} is no longer configured: cannot reach its blocklist")
        return 0
    title = step.params.get("title", "")
    items = set(step.params.get("items", []))
    try:
        profile = arr.profile
        entries = [e for e in arr.blocklist() if _matches(e, title, items, profile.blocklist_items(e), step.created_at)]
    except ServiceError as exc:
        out(f"#{step.id}: {exc.message}")
        return 0
    if not entries:
        what = repr(title) if title or items else "this removal (its record named no title and no item)"
        out(f"#{step.id}: no blocklist entry for {what} in {step.target} any more (removed already?)")
        return 0
    removed = 0
    for n, entry in enumerate(entries):
        what = f"blocklist entry {entry['id']} ({entry.get('sourceTitle')})"
        try:
            result = arr.delete_blocklist(int(entry["id"]))
        except ServiceError as exc:
            out(f"#{step.id}: {what} could not be removed: {exc.message}")
            if removed:
                left = len(entries) - n
                out(
                    f"#{step.id}: partly undone: {removed} of {len(entries)} blocklist entries removed from "
                    f"{step.target}, {left} left; run `qbittorrent-monitor undo {step.id}` again to take back the rest"
                )
            return removed
        if result == "gone":  # someone removed it between our read and our delete
            out(f"#{step.id}: {what} was already gone from {step.target}; nothing to remove")
            continue
        out(f"#{step.id}: removed {what} from {step.target}")
        store.record_undo(step, f"blocklist entry {entry['id']} {result}", time.time())
        removed += 1
    return removed


def _matches(entry: dict[str, Any], title: str, items: set[str], own: set[str], after: float) -> bool:
    """The blocklist entry our removal wrote: same title, the same items (`own`, read with the app's profile:
    episodes, movie, albums or books), written after the removal began. With neither a title nor an item to
    compare, nothing tells our entry from anyone's: no entry matches (the date alone would match them all)."""
    identified = False
    if title:
        if entry.get("sourceTitle") != title:
            return False
        identified = True
    if items and own:
        if not own & items:
            return False
        identified = True
    if not identified:
        return False
    date = entry.get("date")
    if isinstance(date, str):
        try:
            if datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp() < after - 120:
                return False
        except ValueError:
            pass
    return True
