"""One contract, every app and version: the same repair scenarios against each simulated *arr (Sonarr v4 with its
old and new status casing, Sonarr v5, Radarr v4, v5 and v6, Lidarr, Readarr, Whisparr v2 and v3), asserting the exact
requests each app received and that none broke its vendored OpenAPI spec.

The expected requests are written here from API-NOTES (§2.6, §3.1), not taken from the monitor's app table: a wrong
entry in that table fails here as a wrong path, parameter or command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from e2e import check_on_spec, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import load_config
from qbittorrent_monitor.history import undo
from qbittorrent_monitor.monitor import Monitor
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

# (section in the config, version the simulator reports) -> what the app must receive
APPS = {
    "sonarr-4.0.5": ("sonarr", "4.0.5.1778"),  # PascalCase statuses, no status filter
    "sonarr-4.0.19": ("sonarr", "4.0.19.2979"),
    "sonarr-5": ("sonarr", "5.0.0.1234"),
    "radarr-4.7": ("radarr", "4.7.5.7809"),  # the v4.7.5 spec: paging read by hand, no queue filters, no `added`
    "radarr-5.14": ("radarr", "5.14.0.9383"),  # PascalCase statuses
    "radarr-6": ("radarr", "6.0.3.10276"),
    "lidarr-2": ("lidarr", "2.14.5.4836"),
    "readarr": ("readarr", "0.3.21.2475"),
    "whisparr-2": ("whisparr", "2.0.0.819"),
    "whisparr-3": ("whisparr", "3.0.0.1000"),
}
# API base, the search command and its id field, per app generation (API-NOTES §1.1, §3.1).
EXPECTED = {
    "sonarr": ("/api/v3", "EpisodeSearch", "episodeIds"),
    "sonarr-v5": ("/api/v5", "EpisodeSearch", "episodeIds"),
    "radarr": ("/api/v3", "MoviesSearch", "movieIds"),
    "radarr-v4": ("/api/v3", "MoviesSearch", "movieIds"),
    "lidarr": ("/api/v1", "AlbumSearch", "albumIds"),
    "readarr": ("/api/v1", "BookSearch", "bookIds"),
    "whisparr": ("/api/v3", "EpisodeSearch", "episodeIds"),
    "whisparr-v3": ("/api/v3", "MoviesSearch", "movieIds"),
}


@pytest.fixture(params=list(APPS), ids=list(APPS))
def app(request: pytest.FixtureRequest, qbt: QBittorrent) -> Iterator[ArrSimulator]:
    kind, version = APPS[request.param]
    sim = ArrSimulator(
        kind,  # type: ignore[arg-type]
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=None,
        version=version,
    )
    sim.category = sim.flavour.default_category
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
    check_on_spec(request, sim)


def monitor_for(sim: ArrSimulator, qbt: QBittorrent, tmp_path: Path) -> Monitor:
    doc: dict[str, Any] = {
        "monitor": {"check_interval": "6h", "data_dir": str(tmp_path / "data"), "log_level": "DEBUG"},
        "health": {"bind": "127.0.0.1", "port": 0},
        "qbittorrent": [{"name": "qbittorrent", "url": qbt.url, "username": qbt.username, "password": qbt.password}],
        sim.kind: [{"name": "arr", "url": sim.url, "api_key": sim.api_key}],
        "stalled": {"min_age": 0},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return Monitor(load_config(path, env={}))


def grab(sim: ArrSimulator, info_hash: str, title: str, items: list[int]) -> None:
    shape = sim.flavour.shape
    parent = None if shape == "movie" else 900
    sim.grab(info_hash, title, item_ids=items, parent_id=parent, season=1 if shape == "series" else None)


def queue_id(sim: ArrSimulator, info_hash: str, items: list[int]) -> int:
    """The id the monitor must DELETE: the download's lowest queue id (any record removes the whole download)."""
    if sim.flavour.per_download:
        return sim.queue_id(info_hash)
    return min(sim.queue_id(info_hash, i) for i in items)


def mutating(sim: ArrSimulator) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    return [(r.method, r.path, r.query, r.json) for r in sim.mutating_calls()]


def flags(remove: bool, blocklist: bool) -> dict[str, list[str]]:
    return {
        "removeFromClient": [str(remove).lower()],
        "blocklist": [str(blocklist).lower()],
        "skipRedownload": ["true"],
    }


def run(sim: ArrSimulator, qbt: QBittorrent, tmp_path: Path) -> dict[str, Any]:
    monitor = monitor_for(sim, qbt, tmp_path)
    try:
        report: dict[str, Any] = monitor.run_cycle().to_dict()
        return report
    finally:
        monitor.close()


def test_unregistered_download_removed_blocklisted_and_searched_once(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    api, search, field = EXPECTED[app.flavour.key]
    items = [41] if app.flavour.shape == "movie" else [41, 42]
    dead = states.unregistered("Contract.Unregistered", category=app.category, private=False)
    grab(app, dead, "Contract.Unregistered", items)
    qid = queue_id(app, dead, items)

    report = run(app, qbt, tmp_path)

    assert mutating(app) == [
        ("DELETE", f"{api}/queue/{qid}", flags(True, True), None),
        ("POST", f"{api}/command", {}, {"name": search, field: items}),
    ], report
    assert [c["name"] for c in app.commands] == [search]  # the app did not search a second time
    assert len(app.blocklist) == 1 and app.blocklist[0]["sourceTitle"] == "Contract.Unregistered"
    assert dead not in hashes(qbt)
    assert app.violations == []


def test_a_download_of_several_records_is_removed_once(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    if app.flavour.shape == "movie":
        pytest.skip("Radarr-based apps list a download as one record for one movie")
    api, search, field = EXPECTED[app.flavour.key]
    items = [51, 52, 53]
    pack = states.unregistered("Contract.Pack", category=app.category, private=False)
    grab(app, pack, "Contract.Pack", items)
    records = httpx.get(
        f"{app.url}{api}/queue",
        params={"pageSize": 100, app.flavour.unknown_param: "false"},
        headers={"X-Api-Key": app.api_key},
    ).json()["records"]
    # Sonarr v5 lists the pack once; the others once per episode, album or book.
    assert len(records) == (1 if app.flavour.per_download else 3)
    app.clear_log()

    run(app, qbt, tmp_path)

    assert mutating(app) == [
        ("DELETE", f"{api}/queue/{queue_id(app, pack, items)}", flags(True, True), None),
        ("POST", f"{api}/command", {}, {"name": search, field: items}),
    ]
    assert pack not in hashes(qbt)
    assert app.violations == []


def test_error_file_removed_without_blocklist_or_search(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    api = EXPECTED[app.flavour.key][0]
    broken = states.error_notadir("Contract.Broken", category=app.category)
    grab(app, broken, "Contract.Broken", [61])

    run(app, qbt, tmp_path)

    assert mutating(app) == [("DELETE", f"{api}/queue/{queue_id(app, broken, [61])}", flags(True, False), None)]
    assert app.blocklist == [] and app.commands == []
    assert broken not in hashes(qbt)
    assert app.violations == []


def test_a_queue_that_changed_underneath_gets_404_and_no_search(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    api = EXPECTED[app.flavour.key][0]
    gone = states.unregistered("Contract.Race", category=app.category, private=False)
    grab(app, gone, "Contract.Race", [71])
    qid = queue_id(app, gone, [71])
    monitor = monitor_for(app, qbt, tmp_path)
    try:
        original = monitor.arrs["arr"].remove

        def removed_by_the_user_first(*args: Any, **kwargs: Any) -> Any:
            httpx.delete(
                f"{app.url}{api}/queue/{qid}", params={"removeFromClient": "true"}, headers={"X-Api-Key": app.api_key}
            ).raise_for_status()
            return original(*args, **kwargs)

        monitor.arrs["arr"].remove = removed_by_the_user_first  # type: ignore[method-assign]
        report = monitor.run_cycle().to_dict()
    finally:
        monitor.close()

    [finding] = report["findings"]
    assert [(a["type"], a["status"], a.get("result")) for a in finding["actions"]] == [
        ("arr_remove", "done", "gone"),
        ("arr_search", "skipped", "the download had already left the queue"),
    ]
    user, ours = mutating(app)
    assert user[:2] == ours[:2] == ("DELETE", f"{api}/queue/{qid}")
    assert [r.status for r in app.calls("DELETE")] == [app.flavour.delete_status, 404]
    assert app.commands == []
    assert app.violations == []


def test_a_protected_download_is_untouched(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    kept = states.unregistered("Contract.Kept", category=app.category, tags=["keep"], private=False)
    grab(app, kept, "Contract.Kept", [81])

    report = run(app, qbt, tmp_path)

    assert mutating(app) == []
    assert kept in hashes(qbt)
    assert [f["decision"] for f in report["findings"]] == ["protected"]
    assert app.violations == []


def test_undo_takes_back_exactly_its_own_blocklist_entry(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    api = EXPECTED[app.flavour.key][0]
    ours = states.unregistered("Contract.Undo", category=app.category, private=False)
    other = states.unregistered("Contract.Other", category=app.category, private=False)
    grab(app, ours, "Contract.Undo", [91])
    grab(app, other, "Contract.Other", [92])
    monitor = monitor_for(app, qbt, tmp_path)
    try:
        report = monitor.run_cycle().to_dict()
        [remove] = [
            a for f in report["findings"] if f["hash"] == ours for a in f["actions"] if a["type"] == "arr_remove"
        ]
        assert len(app.blocklist) == 2
        app.clear_log()
        lines: list[str] = []
        assert undo(monitor.store, monitor.arrs, remove["id"], out=lines.append) == 0, lines
    finally:
        monitor.close()
    [left] = app.blocklist
    assert left["sourceTitle"] == "Contract.Other"  # the other download's entry stays
    assert [(r.method, r.path.rsplit("/", 1)[0]) for r in app.mutating_calls()] == [("DELETE", f"{api}/blocklist")]
    assert app.violations == []


def test_a_torrent_moved_out_of_the_apps_category_is_never_joined_to_its_queue_record(
    app: ArrSimulator, qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    """The app cannot reach qBittorrent for a minute and still serves its last queue; meanwhile the user moved the
    broken torrent to a category of their own, which the app does not see. The monitor reads the app's category
    from the app's download client settings, each app through its own field (tvCategory, movieCategory,
    musicCategory; Readarr kept Lidarr's): the stale record is not this torrent, so the torrent is reported as
    nobody's and nothing goes through the app. A wrong field name reads an empty category ("sees every
    torrent") and joins them: the finding would be the app's, held, and repaired once the app answers again."""
    dead = states.unregistered("Contract.Moved", category=app.category, private=False)
    grab(app, dead, "Contract.Moved", [95])
    app.set_download_client_unavailable(True, stale_queue=True)
    qbt.ensure_category("mine")
    qbt.post("torrents/setCategory", {"hashes": dead, "category": "mine"})
    app.clear_log()

    report = run(app, qbt, tmp_path)

    [finding] = [f for f in report["findings"] if f["hash"] == dead]
    assert (finding["arr"], finding["decision"]) == ([], "report"), finding
    assert [d["download_id"] for d in report["unmatched_queue"]] == [dead]  # the app's record, told apart
    assert mutating(app) == [] and dead in hashes(qbt)
    assert app.violations == []
