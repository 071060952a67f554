"""Every rule over the real qBittorrent 4.5.2 responses (tests/fixtures/qbittorrent-4.5.2)."""

from __future__ import annotations

import pytest

from captured import STATES, download, log_entries, torrent, trackers
from qbittorrent_monitor.config import ErrorPatterns
from qbittorrent_monitor.model import Kind, Memory
from qbittorrent_monitor.rules import Patterns, RuleContext, classify, client_state, metadata, stalled, tracker

PATTERNS = Patterns.from_config(ErrorPatterns())
HOUR = 3600.0


def ctx(now: float, min_age: float = 0.0) -> RuleContext:
    return RuleContext(PATTERNS, now, min_age)


def stale_memory(state: str, hours: float = 10) -> tuple[Memory, float]:
    """Memory of a torrent whose bytes have not moved since it was added, seen `hours` later."""
    t = torrent(state)
    return Memory(t.added_on, t.added_on, t.downloaded), t.added_on + hours * HOUR


# What the whole rule set says about each captured state, seen 10 hours after it was added with no progress.
EXPECTED = {
    "fx-deleted-rechecked": [Kind.STALLED],  # complete data deleted while running: stalledDL, tracker fine
    "fx-error-notadir": [Kind.FILE],
    "fx-error-recheck-stuck": [],  # checkingResumeData: qBittorrent is still busy with it
    "fx-forced-dl": [Kind.STALLED],
    "fx-metadl": [Kind.METADATA],
    "fx-missingfiles-restart": [Kind.MISSING_FILES],
    "fx-missingfiles-skipcheck": [Kind.MISSING_FILES],
    "fx-not-registered": [Kind.TRACKER, Kind.STALLED],
    "fx-paused-dl": [],
    "fx-paused-seed": [],
    "fx-radarr-not-found": [Kind.TRACKER, Kind.STALLED],
    "fx-radarr-seeding": [],
    "fx-seeding": [],
    "fx-sonarr-stalled": [Kind.STALLED],
    "fx-sonarr-unregistered": [Kind.TRACKER, Kind.STALLED],
    "fx-stalled-dl": [Kind.STALLED],
    "fx-sync-change": [Kind.STALLED],
    "fx-torrent-not-found": [Kind.TRACKER, Kind.STALLED],
    "fx-tracker-down": [Kind.CONNECTION, Kind.STALLED],
    "fx-unregistered-dl": [Kind.TRACKER, Kind.STALLED],
    "fx-unregistered-seed": [Kind.TRACKER],  # complete: never stalled, but the tracker finding stands
}


def test_every_captured_state_has_an_expectation() -> None:
    assert sorted(EXPECTED) == STATES


@pytest.mark.parametrize("state", STATES)
def test_classify_each_captured_state(state: str) -> None:
    memory, now = stale_memory(state)
    findings = classify(download(state, memory=memory), ctx(now))
    assert [f.kind for f in findings] == EXPECTED[state]
    for f in findings:
        assert f.evidence["state"] == torrent(state).state
        assert f.reason


@pytest.mark.parametrize(
    ("state", "msg"),
    [
        ("fx-unregistered-dl", "Unregistered torrent"),
        ("fx-not-registered", "Torrent not registered with this tracker"),
        ("fx-torrent-not-found", "torrent not found"),
        ("fx-sonarr-unregistered", "Unregistered torrent"),
        ("fx-radarr-not-found", "torrent not found"),
    ],
)
def test_tracker_rule_unregistered_family(state: str, msg: str) -> None:
    f = tracker.check(download(state), PATTERNS)
    assert f is not None
    assert f.kind is Kind.TRACKER
    assert f.evidence["tracker_msg"] == msg
    assert f.evidence["tracker_status"] == 4
    assert f.evidence["tracker"] == "127.0.0.1"
    assert f.evidence["trackers_failing"] == f.evidence["trackers_total"] == 1
    assert msg in f.reason


def test_tracker_down_is_a_connection_error_not_a_tracker_error() -> None:
    f = tracker.check(download("fx-tracker-down"), PATTERNS)
    assert f is not None and f.kind is Kind.CONNECTION
    assert f.evidence["tracker_msg"] == "Connection refused"


def test_sync_change_after_unregistered_trackers() -> None:
    d = download("fx-sync-change")
    assert tracker.check(d, PATTERNS) is None  # working at capture time
    after = trackers("fx-sync-change", "after_unregistered_torrents_trackers.json")
    f = tracker.check(type(d)(d.torrent, (), after), PATTERNS)
    assert f is not None and f.kind is Kind.TRACKER


@pytest.mark.parametrize("state", ["fx-stalled-dl", "fx-seeding", "fx-paused-dl", "fx-error-notadir", "fx-metadl"])
def test_tracker_rule_silent_when_trackers_work_or_were_not_contacted(state: str) -> None:
    assert tracker.check(download(state), PATTERNS) is None


def test_tracker_rule_ignores_pseudo_rows_and_needs_trackers() -> None:
    assert tracker.check(download("fx-unregistered-dl", with_trackers=False), PATTERNS) is None
    pseudo_only = tuple(t for t in trackers("fx-unregistered-dl") if not t.is_real)
    d = download("fx-unregistered-dl")
    assert tracker.check(type(d)(d.torrent, (), pseudo_only), PATTERNS) is None


def test_any_working_tracker_clears_the_torrent() -> None:
    d = download("fx-unregistered-dl")
    working = trackers("fx-stalled-dl")[-1]
    f = tracker.check(type(d)(d.torrent, (), (*(d.trackers or ()), working)), PATTERNS)
    assert f is None


def test_error_state_reason_comes_from_the_log() -> None:
    f = client_state.check(download("fx-error-notadir"), PATTERNS)
    assert f is not None and f.kind is Kind.FILE
    assert "Not a directory" in f.reason
    assert "File error alert" in f.evidence["log"]
    assert f.evidence["pattern"].lower() == "not a directory"


def test_error_state_without_log_line_still_a_file_error() -> None:
    d = download("fx-error-notadir")
    f = client_state.check(type(d)(d.torrent, (), d.trackers, ()), PATTERNS)
    assert f is not None and f.kind is Kind.FILE and "no reason logged" in f.reason


@pytest.mark.parametrize("state", ["fx-missingfiles-skipcheck", "fx-missingfiles-restart"])
def test_missing_files(state: str) -> None:
    f = client_state.check(download(state), PATTERNS)
    assert f is not None and f.kind is Kind.MISSING_FILES
    assert "mismatching file size" in f.reason


def test_log_timestamps_in_seconds_on_4_5_2() -> None:
    entry = next(e for e in log_entries() if "File error alert" in e.message)
    assert 1.7e9 < entry.timestamp < 2e9


def test_metadata_rule_counts_from_added_on() -> None:
    t = torrent("fx-metadl")
    f = metadata.check(download("fx-metadl"), t.added_on + 7200)
    assert f is not None and f.kind is Kind.METADATA
    assert f.since == t.added_on and f.evidence["waiting_for_s"] == 7200
    assert metadata.check(download("fx-stalled-dl"), t.added_on + 7200) is None


def test_stalled_judged_by_progress_not_state() -> None:
    memory, now = stale_memory("fx-stalled-dl", hours=7)
    f = stalled.check(download("fx-stalled-dl", memory=memory), now, 0)
    assert f is not None and f.since == memory.last_progress_at
    assert f.evidence["no_progress_for_s"] == 7 * 3600

    t = torrent("fx-stalled-dl")
    moved = Memory(t.added_on, now, t.downloaded)  # the store saw the bytes grow in this very cycle
    assert stalled.check(download("fx-stalled-dl", memory=moved), now, 0) is None


def test_stalled_needs_memory_age_and_an_incomplete_running_download() -> None:
    memory, now = stale_memory("fx-stalled-dl")
    assert stalled.check(download("fx-stalled-dl"), now, 0) is None  # never observed before
    assert stalled.check(download("fx-stalled-dl", memory=memory), now, min_age=11 * HOUR) is None  # too young
    for state in ("fx-seeding", "fx-paused-dl", "fx-metadl", "fx-error-notadir", "fx-unregistered-seed"):
        m, n = stale_memory(state)
        assert stalled.check(download(state, memory=m), n, 0) is None, state


def test_user_patterns_add_to_the_defaults_and_ignore_silences_a_default() -> None:
    own = Patterns.from_config(ErrorPatterns(tracker_errors=["Bad release"], ignore=["trumped"]))
    assert own.match("Bad release, please delete").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert own.match("Unregistered torrent").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert own.match("Trumped by a better release") is None


def test_patterns_word_boundaries_and_ignore_list() -> None:
    m = PATTERNS.match
    assert m("Unregistered torrent").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert m("UNREGISTERED.").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert m("Trumped: new upload").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert m("infohash not found.").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert m("Torrent has been deleted.").kind is Kind.TRACKER  # type: ignore[union-attr]
    assert m("timed out").kind is Kind.CONNECTION  # type: ignore[union-attr]
    assert m("Host not found (authoritative)").kind is Kind.CONNECTION  # type: ignore[union-attr]
    assert m("skipping tracker announce (unreachable)").kind is Kind.CONNECTION  # type: ignore[union-attr]
    assert m("Invalid passkey").kind is Kind.AUTH  # type: ignore[union-attr]
    assert m("Ratio limit reached").kind is Kind.RATIO  # type: ignore[union-attr]
    assert m("No space left on device").kind is Kind.FILE  # type: ignore[union-attr]
    assert m("stream truncated") is None  # in the ignore list, although "truncated" is a tracker pattern
    assert m("You have reached the client limit for this torrent") is None
    assert m("unregisteredx") is None  # whole words only
    assert m("") is None
    assert m("everything fine") is None
