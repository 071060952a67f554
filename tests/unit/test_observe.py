"""observe on its own: the log-to-torrent join (never two torrents mixed up), the tracker populations read from a
real sync/maindata answer, and reading them at most once per outage window."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast

import pytest

from captured import log_entries, sonarr_ref, torrent, trackers
from qbittorrent_monitor.clients import ServiceError
from qbittorrent_monitor.clients.arr import ArrClient
from qbittorrent_monitor.clients.qbittorrent import (
    Listed,
    Populations,
    QBittorrentClient,
    count_populations,
    parse_version,
    supported,
)
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.mapping import DownloadClient
from qbittorrent_monitor.model import ArrDownload, LogEntry, Population, PopulationKey, Torrent, TrackerStatus
from qbittorrent_monitor.observe import (
    CLIENTS_REFRESH,
    ERROR_STATES,
    TRACKER_REFRESH,
    TRACKER_REFRESH_PER_CYCLE,
    Observer,
    join_log,
)
from qbittorrent_monitor.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_each_errored_torrent_gets_its_own_reason_from_the_real_log() -> None:
    errored = [torrent(s) for s in ("fx-error-notadir", "fx-missingfiles-skipcheck", "fx-missingfiles-restart")]
    seeding = torrent("fx-seeding")
    warnings = [e for e in log_entries() if e.type >= 4]  # what the monitor asks qBittorrent for
    joined = join_log([*errored, seeding], warnings)
    assert "Not a directory" in joined[errored[0].hash][-1].message
    assert "fast resume rejected" in joined[errored[1].hash][-1].message
    assert "fx-missingfiles-restart" in joined[errored[2].hash][-1].message
    assert seeding.hash not in joined


def cross_seed(base: Torrent, n: int, *, save_path: str, state: str, added_on: int = 1000) -> Torrent:
    return dataclasses.replace(
        base,
        hash=f"{n:040x}",
        name="Cross.Seed.2020",
        save_path=save_path,
        content_path=f"{save_path}/Cross.Seed.2020",
        state=state,
        added_on=added_on,
    )


def line(message: str, ts: float = 5000.0, n: int = 1) -> LogEntry:
    return LogEntry(n, message, ts, 4)


ERROR = 'File error alert. Torrent: "Cross.Seed.2020". File: "{path}/Cross.Seed.2020/a.mkv". Reason: "Not a directory"'


def test_two_torrents_that_share_a_name_are_never_mixed_up() -> None:
    base = torrent("fx-error-notadir")
    in_a = cross_seed(base, 1, save_path="/data/a", state="error")
    in_b = cross_seed(base, 2, save_path="/data/b", state="error")
    # The path in the line tells them apart.
    joined = join_log([in_a, in_b], [line(ERROR.format(path="/data/b"))])
    assert set(joined) == {in_b.hash}
    # Same data, one of them seeding fine: the line is about the one in error.
    seeding = dataclasses.replace(cross_seed(base, 3, save_path="/data/b", state="stalledUP"))
    assert set(join_log([in_b, seeding], [line(ERROR.format(path="/data/b"))])) == {in_b.hash}
    # A line older than a torrent is not about it (an earlier torrent of that name was deleted).
    newer = cross_seed(base, 4, save_path="/data/b", state="error", added_on=9000)
    assert set(join_log([in_b, newer], [line(ERROR.format(path="/data/b"), ts=5000)])) == {in_b.hash}
    # Both in error on the same data, and nothing tells them apart: the line goes to neither, not to the wrong one.
    twin = cross_seed(base, 5, save_path="/data/b", state="error")
    assert join_log([in_b, twin], [line(ERROR.format(path="/data/b"))]) == {}


def test_a_line_that_quotes_the_hash_goes_to_that_torrent_whatever_the_names() -> None:
    base = torrent("fx-error-notadir")
    one = cross_seed(base, 1, save_path="/data/a", state="error")
    two = cross_seed(base, 2, save_path="/data/a", state="error")
    message = f'Failed to resume torrent. Torrent: "{two.hash}". Reason: "cannot open resume data"'
    assert set(join_log([one, two], [line(message)])) == {two.hash}


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_populations_are_counted_from_a_real_maindata_answer(version: str) -> None:
    body = (FIXTURES / f"qbittorrent-{version}" / "sync_maindata_full.json").read_bytes()
    counted = count_populations(body, parse_version(version))
    torrents = json.loads(body)["torrents"]
    assert counted.client.torrents == len(torrents) > 20  # every failure state of the capture run
    # Every torrent of the capture lists one tracker on 127.0.0.1 (the harness tracker, or a closed port there).
    assert set(counted.by_host) == {"127.0.0.1"} and counted.by_host["127.0.0.1"].torrents == len(torrents)
    # What qBittorrent itself says is failing, by state: one `error`, one magnet without metadata.
    assert counted.client.failing["file_errors"] == 1 and counted.client.failing["metadata"] == 1
    # And whose trackers fail: the capture's unregistered, not-registered, not-found, trumped and refused torrents
    # (seven on 4.5.2, eight on 5.3.0, which adds a public unregistered one); 5.1 cannot tell.
    failing = counted.by_host["127.0.0.1"].failing.get("tracker_errors")
    assert failing == {"4.5.2": 7, "5.1.0": None, "5.3.0": 8}[version]


def test_a_maindata_answer_without_a_tracker_map_is_refused() -> None:
    with pytest.raises(ValueError, match="no tracker map"):
        count_populations(b'{"rid": 1, "torrents": {}}', None)
    with pytest.raises(ValueError, match="unexpected answer"):
        count_populations(b"<html>login</html>", None)


class CountingQbt:
    name = "qbittorrent"

    def __init__(self, answer: Populations | None) -> None:
        self.answer = answer
        self.reads = 0

    def populations(self) -> Populations:
        self.reads += 1
        if self.answer is None:
            raise ServiceError(self.name, "sync/maindata: timed out")
        return self.answer


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def observer(tmp_path: Path, qbt: CountingQbt, clock: Clock) -> tuple[Observer, Store]:
    cfg = Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1"}], "outage": {"window": "6h"}})
    store = Store(tmp_path / "state.db")
    return Observer(cfg, [cast(QBittorrentClient, qbt)], {}, lambda: store, clock), store


def test_a_trackers_population_is_read_at_most_once_per_outage_window(tmp_path: Path) -> None:
    counts = Populations(Population(500), {"t.example": Population(400), "u.example": Population(90)})
    qbt, clock = CountingQbt(counts), Clock()
    obs, store = observer(tmp_path, qbt, clock)
    tracker, other, client = (PopulationKey("qbittorrent", h) for h in ("t.example", "u.example", ""))
    # Every count of the read is kept (the client's and every tracker's), not only the one asked for.
    assert obs.populations({tracker}) == {tracker: Population(400), other: Population(90), client: Population(500)}
    clock.now += 3600
    assert obs.populations({tracker, other})[other] == Population(90)  # one read served both
    assert obs.known_populations()[client] == Population(500)
    assert qbt.reads == 1
    clock.now += 5 * 3600 + 1  # the window has passed: read again
    obs.populations({tracker})
    assert qbt.reads == 2
    store.close()


def test_a_failed_population_read_is_not_retried_before_the_window_ends(tmp_path: Path) -> None:
    qbt, clock = CountingQbt(None), Clock()
    obs, store = observer(tmp_path, qbt, clock)
    key = PopulationKey("qbittorrent", "t.example")
    for _ in range(5):  # a library too large to answer in time must not be asked every cycle
        assert obs.populations({key}) == {}
        clock.now += 300
    assert qbt.reads == 1
    store.close()


class FakeLibrary:
    """A qBittorrent instance as observe sees it, built from real captures."""

    def __init__(self, name: str, torrents: list[Torrent], *, version: str = "4.5.2") -> None:
        self.name = name
        self.items = {t.hash: dataclasses.replace(t, client=name) for t in torrents}
        self.version = version
        self.asked_private: list[str] = []
        self.asked_trackers: list[str] = []
        self.errored_reads = 0
        self.log: list[LogEntry] = []

    def supports(self, feature: str) -> bool:
        return supported(parse_version(self.version), feature)

    def connection_status(self) -> str:
        return "connected"

    def torrents(self, hashes: object) -> list[Listed]:
        return [Listed(t) for h, t in self.items.items() if h in hashes]  # type: ignore[operator]

    def errored(self) -> list[Listed]:
        self.errored_reads += 1
        return [Listed(t) for t in self.items.values() if t.state in ERROR_STATES]

    def all_torrents(self) -> list[Listed]:
        return [Listed(t) for t in self.items.values()]

    def log_since(self, after: int) -> list[LogEntry]:
        return [e for e in self.log if e.id > after]

    def trackers(self, torrent_hash: str) -> tuple[TrackerStatus, ...]:
        self.asked_trackers.append(torrent_hash)
        return trackers("fx-unregistered-seed")

    def is_private(self, torrent_hash: str) -> bool:
        self.asked_private.append(torrent_hash)
        return False


class FakeQueue:
    name = "sonarr"

    def __init__(self, refs: list[ArrDownload]) -> None:
        self.refs = refs
        self.client_reads = 0
        self.clients = [DownloadClient("qBittorrent", "QBittorrent", "127.0.0.1", 1)]

    def queue(self) -> list[object]:
        return [i for r in self.refs for i in r.items]

    def download_client_problem(self) -> None:
        return None

    qbittorrent = None  # no `qbittorrent:` override: the download client settings decide

    def download_clients(self) -> list[DownloadClient]:
        """One qBittorrent download client, at the URL observer_of gives the instances (http://127.0.0.1:1)."""
        self.client_reads += 1
        return self.clients


def observer_of(
    tmp_path: Path, libraries: list[FakeLibrary], refs: list[ArrDownload], clock: Clock | None = None, **cfg: object
) -> Observer:
    config = Config.model_validate(
        {"qbittorrent": [{"name": lib.name, "url": "http://127.0.0.1:1"} for lib in libraries], **cfg}
    )
    store = Store(tmp_path / "state.db")
    arrs = {"sonarr": cast(ArrClient, FakeQueue(refs))}
    return Observer(config, [cast(QBittorrentClient, lib) for lib in libraries], arrs, lambda: store, clock or Clock())


def test_a_magnet_without_metadata_is_never_asked_whether_it_is_private(tmp_path: Path) -> None:
    # 4.x answers "not private" for a magnet it knows nothing of: asked and kept, that would later allow deleting
    # a private torrent that owes seeding.
    magnet, stalled = torrent("fx-metadl"), torrent("fx-stalled-dl")
    lib = FakeLibrary("qbittorrent", [magnet, stalled])
    obs = observer_of(tmp_path, [lib], [sonarr_ref(magnet.hash, [1]), sonarr_ref(stalled.hash, [2])])
    first = {d.torrent.hash: d.torrent.private for d in obs.snapshot().downloads}
    assert lib.asked_private == [stalled.hash] and first == {magnet.hash: None, stalled.hash: False}
    obs.snapshot()
    assert lib.asked_private == [stalled.hash]  # asked once: the answer is kept


def test_qbittorrent_5_is_never_asked_for_properties(tmp_path: Path) -> None:
    magnet = dataclasses.replace(torrent("fx-stalled-dl"), private=None)  # 5.x: null while metadata is missing
    lib = FakeLibrary("qbittorrent", [magnet], version="5.3.0")
    obs = observer_of(tmp_path, [lib], [sonarr_ref(magnet.hash, [1])])
    obs.snapshot()
    assert lib.asked_private == []


def test_protected_trackers_are_read_once_for_downloads_whose_trackers_no_call_returned(tmp_path: Path) -> None:
    broken = torrent("fx-error-notadir")  # 4.5.2: not a suspect, its `tracker` field is empty
    lib = FakeLibrary("qbittorrent", [broken])
    obs = observer_of(tmp_path, [lib], [sonarr_ref(broken.hash, [1])], protection={"trackers": ["127.0.0.1"]})
    [d] = obs.snapshot().downloads
    assert d.listed_hosts == ("127.0.0.1",) and d.trackers is None  # listed for the protections, not classified
    obs.snapshot()
    assert lib.asked_trackers == [broken.hash]


def test_with_two_qbittorrent_instances_the_seed_cleanup_never_deletes_data(tmp_path: Path) -> None:
    # Two containers may see one folder under different paths: the data of a seed cannot be proven unused.
    seed = torrent("fx-unregistered-seed")
    a, b = FakeLibrary("qbt-a", [seed]), FakeLibrary("qbt-b", [])
    snap = observer_of(tmp_path, [a, b], []).snapshot(cleanup=True)
    [found] = snap.seeds
    assert found.key in snap.shared_data
    snap = observer_of(tmp_path / "one", [FakeLibrary("qbittorrent", [seed])], []).snapshot(cleanup=True)
    assert snap.seeds and not snap.shared_data  # alone, and nobody else uses its data: it may go


def stalled_queue(count: int) -> tuple[list[Torrent], list[ArrDownload]]:
    """`count` queued episodes stalled at 0 % (suspects: their tracker rows decide whether they are dead)."""
    base = torrent("fx-stalled-dl")
    stalled = [dataclasses.replace(base, hash=f"{i:040x}", name=f"Show.S01E{i:02d}") for i in range(count)]
    return stalled, [sonarr_ref(t.hash, [i]) for i, t in enumerate(stalled)]


def test_a_second_cycle_reads_no_tracker_list_the_first_one_read(tmp_path: Path) -> None:
    stalled, refs = stalled_queue(3)
    lib = FakeLibrary("qbittorrent", stalled)
    obs = observer_of(tmp_path, [lib], refs)
    first = obs.snapshot()
    assert sorted(lib.asked_trackers) == sorted(t.hash for t in stalled)
    second = obs.snapshot()
    assert len(lib.asked_trackers) == 3  # nothing changed: the cached rows serve
    assert [d.trackers for d in second.downloads] == [d.trackers for d in first.downloads]


def test_a_suspect_whose_state_or_tracker_field_changes_has_its_trackers_read_again_in_that_cycle(
    tmp_path: Path,
) -> None:
    (moved, kept, emptied), refs = stalled_queue(3)
    lib = FakeLibrary("qbittorrent", [moved, kept, emptied])
    obs = observer_of(tmp_path, [lib], refs)
    obs.snapshot()
    lib.items[moved.hash] = dataclasses.replace(lib.items[moved.hash], state="metaDL")
    lib.items[emptied.hash] = dataclasses.replace(lib.items[emptied.hash], tracker="")  # 4.x: no tracker works now
    obs.snapshot()
    assert sorted(lib.asked_trackers[3:]) == sorted([moved.hash, emptied.hash])


def test_unchanged_suspects_are_read_again_after_the_refresh_period_a_bounded_number_a_cycle(tmp_path: Path) -> None:
    """60 suspects unchanged for half an hour: their rows are read again, TRACKER_REFRESH_PER_CYCLE (25) a cycle,
    so a large queue is refreshed over a few cycles, never in one burst that grows with the queue."""
    stalled, refs = stalled_queue(60)
    lib, clock = FakeLibrary("qbittorrent", stalled), Clock()
    obs = observer_of(tmp_path, [lib], refs, clock)
    obs.snapshot()
    assert len(lib.asked_trackers) == 60  # first sight reads every suspect once
    clock.now += TRACKER_REFRESH - 1
    obs.snapshot()
    assert len(lib.asked_trackers) == 60  # still fresh
    clock.now += 1
    per_cycle = []
    for _ in range(4):
        before = len(lib.asked_trackers)
        obs.snapshot()
        per_cycle.append(len(lib.asked_trackers) - before)
    assert per_cycle == [TRACKER_REFRESH_PER_CYCLE, TRACKER_REFRESH_PER_CYCLE, 60 - 2 * TRACKER_REFRESH_PER_CYCLE, 0]
    assert sorted(lib.asked_trackers[60:]) == sorted(t.hash for t in stalled)  # each refreshed once


def test_the_errored_list_is_read_again_only_after_a_new_log_line_or_half_an_hour(tmp_path: Path) -> None:
    """Errored torrents no queue refers to can only be reported: their list is not asked for every cycle, but a new
    line in qBittorrent's log (it logs every file error) makes the next cycle read it."""
    broken = torrent("fx-error-notadir")
    lib, clock = FakeLibrary("qbittorrent", [broken]), Clock()
    obs = observer_of(tmp_path, [lib], [], clock)
    assert [d.torrent.hash for d in obs.snapshot().downloads] == [broken.hash]
    obs.snapshot()
    assert lib.errored_reads == 1
    newly = dataclasses.replace(broken, hash="e" * 40, name="Newly.Broken")
    lib.items[newly.hash] = newly
    lib.log.append(LogEntry(10**6, f'File error alert. Torrent: "{newly.name}". Reason: Not a directory', 0.0, 4))
    assert {d.torrent.hash for d in obs.snapshot().downloads} == {broken.hash, newly.hash}
    assert lib.errored_reads == 2
    obs.snapshot()
    assert lib.errored_reads == 2
    clock.now += 1800
    obs.snapshot()
    assert lib.errored_reads == 3


def test_an_apps_download_clients_are_read_again_when_a_record_names_a_new_one_or_every_quarter_hour(
    tmp_path: Path,
) -> None:
    stalled, refs = stalled_queue(2)
    lib, clock = FakeLibrary("qbittorrent", stalled), Clock()
    obs = observer_of(tmp_path, [lib], refs[:1], clock)
    sonarr = cast(FakeQueue, obs.arrs["sonarr"])
    obs.snapshot()
    obs.snapshot()
    assert sonarr.client_reads == 1  # settings the user edits by hand: not read every cycle
    clock.now += CLIENTS_REFRESH
    obs.snapshot()
    assert sonarr.client_reads == 2
    # The user adds a second download client and Sonarr grabs through it: read at once, and the record is routed.
    sonarr.clients = [*sonarr.clients, DownloadClient("qBittorrent 4K", "QBittorrent", "127.0.0.1", 1)]
    [item] = refs[1].items
    sonarr.refs = [
        refs[0],
        dataclasses.replace(refs[1], items=(dataclasses.replace(item, download_client="qBittorrent 4K"),)),
    ]
    downloads = obs.snapshot().downloads
    assert sonarr.client_reads == 3
    assert {d.torrent.hash for d in downloads if d.arr} == {t.hash for t in stalled}
