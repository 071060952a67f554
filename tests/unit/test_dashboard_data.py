"""What the overview shows, from a real SQLite store: the counts and the chart, the cycle times, the words."""

from __future__ import annotations

import re
from pathlib import Path

from captured import download, sonarr_ref, torrent
from qbittorrent_monitor.model import Action, ActionType, Decision, Finding, Kind, Verdict
from qbittorrent_monitor.store import Store
from qbittorrent_monitor.web import data

NOW = 1_800_001_800.0  # half past an hour: the repairs below fall in this hour


def repair(store: Store, name: str, at: float) -> int:
    """One repair whose removal was done at `at`; returns the removal's action id."""
    t = torrent(name)
    d = download(name, arr=(sonarr_ref(t.hash, [1]),))
    finding = Finding(Kind.TRACKER, "tracker", "dead", {"tracker_msg": "Unregistered torrent"})
    actions = (Action(ActionType.ARR_REMOVE, "sonarr", {"queue_id": 1}, "rm"),)
    [row] = store.plan(Decision(d, finding, Verdict.ACT, "why", actions), now=at)
    store.finish(row.id, "done", "removed", at)
    return row.id


def test_an_undone_repair_is_no_longer_counted_as_a_repair_today_or_in_the_chart(tmp_path: Path) -> None:
    """Two repairs this hour, one of them undone from the dashboard: the user took it back, so "repaired today"
    and the chart's repairs say 1, not 2."""
    store = Store(tmp_path / "state.db")
    try:
        repair(store, "fx-sonarr-unregistered", NOW - 60)
        undone = repair(store, "fx-stalled-dl", NOW - 30)
        [step] = [r for r in store.history(since=0) if r.id == undone]
        store.record_undo(step, "blocklist entry 7 removed", NOW - 10)
        assert len(store.repairs_since(NOW - 3600)) == 1
        chart = data.chart(store, NOW)
        assert sum(b["repaired"] for b in chart) == 1 and chart[-1]["repaired"] == 1
    finally:
        store.close()


def test_the_next_cycle_is_said_relative_to_now_so_it_never_reads_like_the_last_one() -> None:
    """With a 2 s interval the next cycle falls in the same minute as the last: `11:43` twice said nothing."""
    assert data.until(NOW + 2, NOW) == "in 2 s"
    assert data.until(NOW + 300, NOW) == "in 5 min"
    assert data.until(NOW + 3 * 3600 + 5, NOW) == "in 3 h"
    assert data.until(NOW - 1, NOW) == "now"


def test_counts_are_said_in_the_right_number() -> None:
    assert (data.plural(1, "torrent"), data.plural(0, "torrent"), data.plural(2, "torrent")) == (
        "1 torrent",
        "0 torrents",
        "2 torrents",
    )


def test_the_chart_labels_the_current_hour_and_every_sixth_hour_back_from_it() -> None:
    """48 buckets: "now" under the last one (this hour), then 7 hour labels, 6 hours apart, counted back from it
    (buckets 41, 35, ..., 5), each centred under its bar."""
    buckets = [{"hour": NOW - (47 - i) * 3600, "found": 0, "repaired": 0} for i in range(48)]
    svg = data.chart_svg(buckets)
    labels = re.findall(r'<text x="([\d.]+)%" y="174"[^>]*>([^<]+)</text>', svg)
    assert labels[0] == ("100", "now")
    assert [float(x) for x, _ in labels[1:]] == [round(100 * (i + 0.5) / 48, 2) for i in range(41, -1, -6)]
    assert all(re.fullmatch(r"\d\d:00", text) for _, text in labels[1:])


def test_a_torrent_a_repair_removed_is_not_offered_protection(tmp_path: Path) -> None:
    """Its removal is done and it was not seen since: there is nothing left in qBittorrent to protect, so its page
    says when it was removed instead of offering "Protect this torrent"; one never removed is offered it."""
    store = Store(tmp_path / "state.db")
    try:
        repair(store, "fx-sonarr-unregistered", NOW - 60)
        gone = data.torrent(store, torrent("fx-sonarr-unregistered").hash)
        assert gone["known"] and gone["removed_at"] == NOW - 60
        assert data.torrent(store, torrent("fx-stalled-dl").hash)["removed_at"] is None
    finally:
        store.close()
