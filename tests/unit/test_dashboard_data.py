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


def test_history_filters_counts_and_shows_only_the_newest_rows(tmp_path: Path) -> None:
    """A journal of 12 removals and their undo: every filter still selects what it did, the total counts every
    match, and only the newest `limit` rows are read and shown, newest first."""
    from datetime import datetime

    store = Store(tmp_path / "state.db")
    try:
        ids = [repair(store, "fx-sonarr-unregistered", NOW - 86400 * (i % 2) - i) for i in range(12)]
        [step] = [r for r in store.history(since=0) if r.id == ids[0]]
        store.record_undo(step, "blocklist entry 1 removed", NOW)
        doc = data.history(store, {}, limit=5)
        assert (
            doc["total"] == 13
            and [r["id"] for r in doc["rows"]] == sorted([r.id for r in store.history(since=0)], reverse=True)[:5]
        )
        assert doc["options"] == {"action": ["arr_remove", "undo"], "app": ["sonarr"], "result": ["done"]}
        removals = data.history(store, {"action": "arr_remove"}, limit=500)
        assert removals["total"] == 12
        assert [r["undone"] for r in removals["rows"]] == [False] * 11 + [True]  # the oldest is the undone one
        today = datetime.fromtimestamp(NOW).strftime("%Y-%m-%d")
        assert data.history(store, {"action": "arr_remove", "date": today}, limit=500)["total"] == 6
        assert data.history(store, {"date": "not a date"}, limit=500)["total"] == 0
        assert data.history(store, {"app": "radarr"}, limit=500)["total"] == 0
    finally:
        store.close()


def test_the_overview_lists_the_most_urgent_flagged_torrents_and_counts_them_all(tmp_path: Path) -> None:
    """An outage can flag thousands of torrents: the overview (HTML and /api/overview) carries the 200 most urgent
    (FLAGGED_SHOWN; a repair first, before the waits) and says how many there are in all; /api/torrents keeps
    every one."""
    import dataclasses

    import yaml

    from qbittorrent_monitor.config import load_config
    from qbittorrent_monitor.monitor import Monitor
    from qbittorrent_monitor.record import CycleReport

    path = tmp_path / "config.yaml"
    doc = {
        "monitor": {"data_dir": str(tmp_path / "data")},
        "qbittorrent": [{"url": "http://127.0.0.1:9", "password": "p"}],
    }
    path.write_text(yaml.safe_dump(doc))
    monitor = Monitor(load_config(path, env={}))
    try:
        base = download("fx-sonarr-unregistered")
        finding = Finding(Kind.TRACKER, "tracker", "dead", {"tracker_msg": "Unregistered torrent"})
        decisions = [
            Decision(
                dataclasses.replace(base, torrent=dataclasses.replace(base.torrent, hash=f"{i:040x}", name=f"T{i:03}")),
                finding,
                Verdict.ACT if i == 250 else Verdict.WAIT,
                "why",
            )
            for i in range(251)
        ]
        monitor.last_report = CycleReport(started_at=NOW, finished_at=NOW, decisions=decisions)
        overview = data.overview(monitor, NOW)
        assert overview["flagged_total"] == 251 and len(overview["flagged"]) == data.FLAGGED_SHOWN == 200
        assert overview["flagged"][0]["name"] == "T250"  # the repair comes first
        assert len(data.flagged(monitor, NOW)) == 251
    finally:
        monitor.close()


def test_an_undo_row_in_the_history_is_the_users_action_not_a_second_failure(tmp_path: Path) -> None:
    """The undo row carries the repair's kind and evidence in the journal (for `explain`); the History must not
    show them as if the torrent had failed again: it says what was undone, and no evidence."""
    store = Store(tmp_path / "state.db")
    try:
        removal = repair(store, "fx-sonarr-unregistered", NOW - 60)
        [step] = [r for r in store.history(since=0) if r.id == removal]
        store.record_undo(step, "blocklist entry 7 removed", NOW)
        undo_row, removal_row = data.history(store, {}, limit=10)["rows"]
        assert undo_row["type"] == "undo" and undo_row["why"] == f"undone by the user: action #{removal}"
        assert undo_row["evidence_text"] == ""
        assert removal_row["why"] == "tracker_errors: dead"  # the finding the repair was for
        assert "tracker_msg=Unregistered torrent" in removal_row["evidence_text"]
    finally:
        store.close()


def test_settings_show_what_was_set_first_durations_in_words_and_fold_the_defaults(tmp_path: Path) -> None:
    """The file sets check_interval to 300 (the default anyway: marked so) and tracker_errors.after to 10m: those
    lead their sections, 600 seconds reads "10m (600 s)"; monitor.dry_run, left alone, is among the folded
    defaults."""
    import yaml

    from qbittorrent_monitor.config import load_config
    from qbittorrent_monitor.monitor import Monitor

    path = tmp_path / "config.yaml"
    doc = {
        "monitor": {"data_dir": str(tmp_path / "data"), "check_interval": 300},
        "qbittorrent": [{"url": "http://127.0.0.1:9", "password": "p"}],
        "policy": {"tracker_errors": {"after": "10m"}},
    }
    path.write_text(yaml.safe_dump(doc))
    monitor = Monitor(load_config(path, env={}))
    monitor.config_path = path
    try:
        sections = {s["name"]: s for s in data.settings(monitor)["sections"]}
        set_rows = {r["key"]: r for r in sections["monitor"]["set"]}
        assert set_rows["monitor.check_interval"]["is_default"] is True
        assert set_rows["monitor.check_interval"]["text"] == "5m (300 s)"
        assert "monitor.dry_run" in {r["key"] for r in sections["monitor"]["defaults"]}
        [after] = [r for r in sections["policy"]["set"] if r["key"] == "policy.tracker_errors.after"]
        assert (after["text"], after["is_default"]) == ("10m (600 s)", False)
        assert all(r["source"] == "default" for s in sections.values() for r in s["defaults"])
    finally:
        monitor.close()
