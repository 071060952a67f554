"""Every rule over the real qBittorrent 5.1.0 and 5.3.0 responses (tests/fixtures/qbittorrent-5.1.0, -5.3.0).

The same scenarios as the 4.5.2 set (tests/unit/test_rules.py), captured the same way with the same torrents,
so the user's situation is the same and so is what the monitor must conclude; only the API's words differ:
stoppedDL/stoppedUP for pausedDL/pausedUP, tracker status 5 for "Unregistered torrent" on 5.3, `private` in
torrents/info (null during metaDL), -1 for "never", and a `tracker` URL even on torrents that never reached it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from captured import download, info, log_entries, scenarios, stale, torrent, trackers
from qbittorrent_monitor.config import ErrorPatterns
from qbittorrent_monitor.model import Kind, TrackerStatus
from qbittorrent_monitor.rules import (
    Patterns,
    RuleContext,
    classify,
    client_state,
    metadata,
    stalled,
    tracker,
    undecided,
)
from qbittorrent_monitor.store import Store

PATTERNS = Patterns.from_config(ErrorPatterns())
HOUR = 3600.0
VERSIONS = ("5.1.0", "5.3.0")
# The tracker status qBittorrent gives a tracker's "failure reason" (Unregistered torrent, torrent not found, ...).
UNREGISTERED_STATUS = {"5.1.0": 4, "5.3.0": 5}

# What the whole rule set says about each captured state, seen 10 hours after it was added with no progress.
# Identical to 4.5.2's expectations, but for the two scenarios 5.x added, and for 5.3's skip_checking torrent,
# which 5.3 no longer calls missingFiles: it is an empty download that does not move (stalledDL, tracker working).
EXPECTED = {
    "fx-deleted-rechecked": [Kind.STALLED],
    "fx-error-notadir": [Kind.FILE],
    "fx-error-recheck-stuck": [],  # checkingResumeData: qBittorrent is still busy with it
    "fx-forced-dl": [Kind.STALLED],
    "fx-metadl": [Kind.METADATA],
    "fx-missingfiles-restart": [Kind.MISSING_FILES],
    "fx-missingfiles-skipcheck": [Kind.MISSING_FILES],
    "fx-not-registered": [Kind.TRACKER, Kind.STALLED],
    "fx-paused-dl": [],  # stoppedDL: the user stopped it
    "fx-paused-seed": [],  # stoppedUP
    "fx-public-seeding": [],
    "fx-public-unregistered-dl": [Kind.TRACKER, Kind.STALLED],
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
EXPECTED_BY_VERSION = {
    "5.1.0": EXPECTED,
    "5.3.0": {**EXPECTED, "fx-missingfiles-skipcheck": [Kind.STALLED]},
}
UNREGISTERED_FAMILY = [
    ("fx-unregistered-dl", "Unregistered torrent"),
    ("fx-not-registered", "Torrent not registered with this tracker"),
    ("fx-torrent-not-found", "torrent not found"),
    ("fx-sonarr-unregistered", "Unregistered torrent"),
    ("fx-radarr-not-found", "torrent not found"),
    ("fx-public-unregistered-dl", "Unregistered torrent"),
]
CASES = [(v, s) for v in VERSIONS for s in scenarios(v)]


def ctx(now: float) -> RuleContext:
    return RuleContext(PATTERNS, now, 0.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_captured_state_has_an_expectation(version: str) -> None:
    assert sorted(EXPECTED_BY_VERSION[version]) == scenarios(version)


@pytest.mark.parametrize(("version", "state"), CASES)
def test_classify_each_captured_state(version: str, state: str) -> None:
    memory, now = stale(state, version=version)
    findings = classify(download(state, memory=memory, version=version), ctx(now))
    assert [f.kind for f in findings] == EXPECTED_BY_VERSION[version][state]
    for f in findings:
        assert f.evidence["state"] == torrent(state, version=version).state
        assert f.reason


# -- tracker status 5 (5.3) and 4 (5.1) ---------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("state", "msg"), UNREGISTERED_FAMILY)
def test_unregistered_family_is_a_tracker_error_whatever_the_status_code(version: str, state: str, msg: str) -> None:
    f = tracker.check(download(state, version=version), PATTERNS)
    assert f is not None and f.kind is Kind.TRACKER
    assert (f.evidence["tracker_msg"], f.evidence["tracker_status"]) == (msg, UNREGISTERED_STATUS[version])
    assert f.evidence["tracker"] == "127.0.0.1"
    assert f.evidence["trackers_failing"] == f.evidence["trackers_total"] == 1
    assert msg in f.reason


@pytest.mark.parametrize("version", VERSIONS)
def test_connection_refused_stays_status_4_and_a_connection_error(version: str) -> None:
    f = tracker.check(download("fx-tracker-down", version=version), PATTERNS)
    assert f is not None and f.kind is Kind.CONNECTION
    assert (f.evidence["tracker_msg"], f.evidence["tracker_status"]) == ("Connection refused", 4)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_tracker_turning_unregistered_at_runtime(version: str) -> None:
    d = download("fx-sync-change", version=version)
    assert tracker.check(d, PATTERNS) is None  # working at capture time
    after = trackers("fx-sync-change", "after_unregistered_torrents_trackers.json", version=version)
    f = tracker.check(dataclasses.replace(d, trackers=after), PATTERNS)
    assert f is not None and f.kind is Kind.TRACKER
    assert f.evidence["tracker_status"] == UNREGISTERED_STATUS[version]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("state", ["fx-stalled-dl", "fx-seeding", "fx-paused-dl", "fx-error-notadir", "fx-metadl"])
def test_tracker_rule_silent_when_trackers_work_or_were_not_contacted(version: str, state: str) -> None:
    assert tracker.check(download(state, version=version), PATTERNS) is None


# -- includeTrackers=true (5.1+): the trackers come with torrents/info ----------------------------------------
@pytest.mark.parametrize(("version", "state"), [(v, s) for v, s in CASES if s != "fx-missingfiles-restart"])
def test_include_trackers_gives_the_same_findings_as_the_trackers_call(version: str, state: str) -> None:
    # fx-missingfiles-restart was captured without includeTrackers. The DHT/PeX/LSD rows are not in it.
    rows = tuple(TrackerStatus.from_api(r) for r in info(state, version=version, include_trackers=True)["trackers"])
    assert rows == tuple(t for t in trackers(state, version=version) if t.is_real)
    memory, now = stale(state, version=version)
    d = download(state, memory=memory, version=version)
    with_info_rows = classify(dataclasses.replace(d, trackers=rows), ctx(now))
    assert [(f.kind, f.reason) for f in with_info_rows] == [(f.kind, f.reason) for f in classify(d, ctx(now))]


# -- stoppedDL / stoppedUP are paused ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("state", "name", "complete"), [("fx-paused-dl", "stoppedDL", False), ("fx-paused-seed", "stoppedUP", True)]
)
def test_stopped_states_are_paused(version: str, state: str, name: str, complete: bool) -> None:
    t = torrent(state, version=version)
    assert (t.state, t.is_paused, t.is_complete) == (name, True, complete)
    memory, now = stale(state, hours=100, version=version)
    assert stalled.check(download(state, memory=memory, version=version), now, 0) is None
    assert classify(download(state, memory=memory, version=version), ctx(now)) == []


# -- private: null while the metadata is unknown ----------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_private_flag_from_torrents_info(version: str) -> None:
    assert info("fx-metadl", version=version)["private"] is None  # the raw capture: null during metaDL
    assert torrent("fx-metadl", version=version).private is None  # unknown, not "public"
    assert torrent("fx-unregistered-dl", version=version).private is True
    assert torrent("fx-public-unregistered-dl", version=version).private is False
    assert torrent("fx-public-seeding", version=version).private is False


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_rule_counts_from_added_on(version: str) -> None:
    t = torrent("fx-metadl", version=version)
    assert (t.state, t.is_complete) == ("metaDL", False)  # 5.x reports amount_left 0 for it: not complete
    f = metadata.check(download("fx-metadl", version=version), t.added_on + 7200)
    assert f is not None and f.kind is Kind.METADATA
    assert f.since == t.added_on and f.evidence["waiting_for_s"] == 7200


# -- -1 for "never" ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "state"), CASES)
def test_minus_one_never_becomes_a_date(version: str, state: str) -> None:
    raw = info(state, version=version)
    if raw["completion_on"] == -1:  # never completed: 5.x says -1 where 4.5.2 said 0
        assert raw["progress"] < 1
    memory, now = stale(state, version=version)
    for f in classify(download(state, memory=memory, version=version), ctx(now)):
        assert f.since is None or f.since > 0, f
        for key, value in f.evidence.items():
            if key.endswith(("_since", "_on", "_at", "_time")) and isinstance(value, int | float):
                assert value > 0, (key, value)


# -- error and missingFiles -------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_error_state_reason_comes_from_the_log(version: str) -> None:
    f = client_state.check(download("fx-error-notadir", version=version), PATTERNS)
    assert f is not None and f.kind is Kind.FILE
    assert "Not a directory" in f.reason and "File error alert" in f.evidence["log"]


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_files(version: str) -> None:
    f = client_state.check(download("fx-missingfiles-restart", version=version), PATTERNS)
    assert f is not None and f.kind is Kind.MISSING_FILES  # the 5.x capture of it has no log line: state alone
    if version == "5.1.0":  # 5.1 still makes missingFiles of skip_checking with no data, with the log's reason
        f = client_state.check(download("fx-missingfiles-skipcheck", version=version), PATTERNS)
        assert f is not None and f.kind is Kind.MISSING_FILES and "mismatching file size" in f.reason


def test_skip_checking_without_data_is_a_stall_on_5_3_not_missing_files() -> None:
    d = download("fx-missingfiles-skipcheck", version="5.3.0")
    assert (d.torrent.state, d.torrent.progress) == ("stalledDL", 0)
    assert client_state.check(d, PATTERNS) is None
    assert not [e for e in log_entries(version="5.3.0") if "fx-missingfiles-skipcheck" in e.message and e.type == 4]


# -- the `tracker` field: a URL even for torrents that never contacted it ------------------------------------
NEVER_CONTACTED = [
    "fx-error-notadir",
    "fx-error-recheck-stuck",
    "fx-missingfiles-restart",
    "fx-paused-dl",
    "fx-paused-seed",
]


@pytest.mark.parametrize("state", NEVER_CONTACTED)
@pytest.mark.parametrize("version", ["4.5.2", *VERSIONS])
def test_never_contacted_torrents_are_not_counted_against_their_tracker(version: str, state: str) -> None:
    d = download(state, with_trackers=False, version=version)  # trackers are only read for suspects
    assert all(t.status == 1 for t in trackers(state, version=version) if t.is_real)  # never contacted
    if version != "4.5.2":
        assert d.torrent.tracker.startswith("http://127.0.0.1:")  # what 5.x says
    assert d.tracker_host == ""


def test_a_working_torrents_tracker_is_known_from_its_rows_and_on_4x_from_its_field() -> None:
    # 4.5.2's `tracker` field names the tracker that works; from 5.1 it would name one that never answered too, so
    # only the tracker rows (read for suspects, or returned by includeTrackers) say which tracker reported.
    assert download("fx-stalled-dl", with_trackers=False).tracker_host == "127.0.0.1"
    for version in VERSIONS:
        assert download("fx-stalled-dl", with_trackers=False, version=version).tracker_host == "", version
        assert download("fx-stalled-dl", version=version).tracker_host == "127.0.0.1", version


# -- 5.2+ `updating`: a tracker re-announcing right now -----------------------------------------------------------
def announcing_now(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The same real 5.3.0 rows while qBittorrent re-announces: `updating` true on the tracker and its endpoint,
    `status` and `msg` still those of the previous announce (what 5.3 sends during an announce)."""
    out = []
    for row in rows:
        if str(row["url"]).startswith("http"):
            endpoints = [{**e, "updating": True} for e in row["endpoints"]]  # type: ignore[attr-defined]
            row = {**row, "updating": True, "endpoints": endpoints}
        out.append(row)
    return out


@pytest.mark.parametrize(
    ("state", "file"),
    [
        ("fx-sonarr-unregistered", "torrents_trackers.json"),
        ("fx-tracker-down", "torrents_trackers.json"),
        ("fx-unregistered-dl", "torrents_info_includeTrackers.json"),
    ],
)
def test_a_tracker_re_announcing_right_now_is_not_judged_on_its_previous_message(state: str, file: str) -> None:
    """Captured 5.3.0 rows (status 5 "Unregistered torrent", status 4 "Connection refused"): at rest they are a
    tracker finding; the same rows with `updating: true` are an announce in flight whose answer is not known yet,
    so no tracker finding this cycle (the tracker may be answering right now), and the tracker kinds are undecided."""
    from captured import raw

    doc = raw(f"states/{state}/{file}", version="5.3.0")
    rows = doc[0]["trackers"] if file.startswith("torrents_info") else doc
    assert all(r.get("updating") is False for r in rows if str(r["url"]).startswith("http"))  # the real capture
    d = download(state, version="5.3.0")
    at_rest = dataclasses.replace(d, trackers=tuple(TrackerStatus.from_api(r) for r in rows))
    found = tracker.check(at_rest, PATTERNS)
    assert found is not None and found.kind in (Kind.TRACKER, Kind.CONNECTION)
    assert undecided(at_rest) == frozenset()
    busy = dataclasses.replace(d, trackers=tuple(TrackerStatus.from_api(r) for r in announcing_now(rows)))
    assert tracker.check(busy, PATTERNS) is None
    assert {Kind.TRACKER, Kind.CONNECTION} <= undecided(busy)
    memory, now = stale(state, version="5.3.0")
    assert [f.kind for f in classify(dataclasses.replace(busy, memory=memory), ctx(now))] in ([], [Kind.STALLED])


def test_a_4x_row_with_status_3_is_an_announce_in_progress_too() -> None:
    row = {"url": "http://t.example/announce", "tier": 0, "status": 3, "msg": "Connection refused"}
    assert TrackerStatus.from_api(row).announcing
    assert not TrackerStatus.from_api({**row, "status": 4}).announcing


def test_a_re_announce_in_the_middle_of_a_wait_does_not_restart_its_clock(tmp_path: Path) -> None:
    """A dead tracker (real 5.3.0 "Connection refused" rows) must fail for 6 h before a repair. One cycle lands while
    qBittorrent re-announces (`updating`): that cycle cannot tell, so the 6 h still count from the first sighting
    (T0), the strikes neither grow nor restart; without that, each announce caught would start the 6 h again."""
    from captured import raw

    rows = raw("states/fx-tracker-down/torrents_trackers.json", version="5.3.0")
    d = download("fx-tracker-down", version="5.3.0")
    at_rest = dataclasses.replace(d, trackers=tuple(TrackerStatus.from_api(r) for r in rows))
    busy = dataclasses.replace(d, trackers=tuple(TrackerStatus.from_api(r) for r in announcing_now(rows)))
    store = Store(tmp_path / "state.db")
    t0 = 1_800_000_000.0
    seen = {}
    for i, cycle in enumerate([at_rest, at_rest, busy, at_rest]):
        now = t0 + i * 300
        kinds = {cycle.key: [f.kind.value for f in classify(cycle, ctx(now)) if f.kind is not Kind.STALLED]}
        marks = {cycle.key: frozenset(k.value for k in ks)} if (ks := undecided(cycle)) else {}
        since, strikes = store.note_findings(kinds, now, undecided=marks)
        seen[i] = (
            since.get(cycle.key, {}).get("connection_errors"),
            strikes.get(cycle.key, {}).get("connection_errors"),
        )
    store.close()
    assert seen == {0: (t0, 1), 1: (t0, 2), 2: (None, None), 3: (t0, 3)}
