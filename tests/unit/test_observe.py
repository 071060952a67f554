"""observe on its own: the log-to-torrent join (never two torrents mixed up), the tracker populations read from a
real sync/maindata answer, and reading them at most once per outage window."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

import qbittorrent_monitor.clients.arr as arr_module
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
    SETTLED_REFRESH,
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
        self.asked_info: list[list[str]] = []
        self.log: list[LogEntry] = []

    def supports(self, feature: str) -> bool:
        return supported(parse_version(self.version), feature)

    def connection_status(self) -> str:
        return "connected"

    def torrents(self, hashes: object) -> list[Listed]:
        self.asked_info.append(sorted(hashes))  # type: ignore[call-overload]
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


def test_the_seed_cleanup_reads_the_library_once_per_interval_counted_from_the_cycle_that_decided_on_it(
    tmp_path: Path,
) -> None:
    """cleanup.interval 6h: due on the first cycle; a cycle that read the library but failed before deciding leaves
    it due; once a cycle decided on it, it waits the 6h (not due 1 s before, due at exactly 6h)."""
    clock = Clock()
    seed = torrent("fx-unregistered-seed")
    obs = observer_of(
        tmp_path,
        [FakeLibrary("qbittorrent", [seed])],
        [],
        clock,
        cleanup={"unregistered_seeds": True, "interval": "6h"},
    )
    assert obs.cleanup_due()
    read = obs.snapshot(cleanup=True)
    assert read.cleanup_read and obs.cleanup_due()  # read, not yet decided on (the cycle may still fail)
    obs.cleanup_decided(read)
    assert not obs.cleanup_due()
    clock.now += 6 * 3600 - 1
    assert not obs.cleanup_due()
    clock.now += 1
    assert obs.cleanup_due()
    off = observer_of(tmp_path / "off", [FakeLibrary("qbittorrent", [seed])], [], clock)
    assert not off.cleanup_due()  # opt-in: off by default


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


class TwoClientQueue(FakeQueue):
    """One Sonarr with two qBittorrent download clients: "qB A" at 127.0.0.1:1 and "qB B" at 127.0.0.1:2."""

    def download_clients(self) -> list[DownloadClient]:
        return [
            DownloadClient("qB A", "QBittorrent", "127.0.0.1", 1, category="tv-sonarr"),
            DownloadClient("qB B", "QBittorrent", "127.0.0.1", 2, category="tv-sonarr"),
        ]


def test_the_same_hash_in_two_download_clients_of_one_arr_is_repaired_only_in_the_broken_one(tmp_path: Path) -> None:
    """One Sonarr, two qBittorrent download clients, the same torrent in both: unregistered in A, seeding fine in B.
    Sonarr lists two queue records (B's has the lower id, A's comes first). Each record belongs to its own client:
    the repair of A's torrent removes A's record (id 20) and nothing else; B's torrent keeps its record (id 10)
    and, being healthy, gets no decision at all. Grouped by downloadId alone, the two records were one download
    routed to A whose removal took queue_ids[0] = 10: B's healthy copy, deleted with removeFromClient."""
    from qbittorrent_monitor import decide
    from qbittorrent_monitor.config import ErrorPatterns
    from qbittorrent_monitor.model import Verdict
    from qbittorrent_monitor.rules import Patterns, RuleContext, classify

    broken = dataclasses.replace(torrent("fx-unregistered-dl"), category="tv-sonarr", private=False)
    healthy = dataclasses.replace(torrent("fx-seeding"), hash=broken.hash, category="tv-sonarr", private=False)
    a, b = FakeLibrary("qbt-a", [broken]), FakeLibrary("qbt-b", [healthy])
    [record] = sonarr_ref(broken.hash, [11]).items
    in_a = dataclasses.replace(record, id=20, download_client="qB A")
    in_b = dataclasses.replace(record, id=10, download_client="qB B")
    queue = TwoClientQueue([ArrDownload("sonarr", "sonarr", broken.hash, (in_a, in_b))])
    config = Config.model_validate(
        {
            "qbittorrent": [
                {"name": "qbt-a", "url": "http://127.0.0.1:1"},
                {"name": "qbt-b", "url": "http://127.0.0.1:2"},
            ],
            "sonarr": [{"url": "http://127.0.0.1:3", "api_key": "k"}],
        }
    )
    store = Store(tmp_path / "state.db")
    clock = Clock()
    libraries = [cast(QBittorrentClient, a), cast(QBittorrentClient, b)]
    snap = Observer(config, libraries, {"sonarr": cast(ArrClient, queue)}, lambda: store, clock).snapshot()
    store.close()
    refs = {d.torrent.client: [(g.client, g.queue_ids) for g in d.arr] for d in snap.downloads}
    assert refs == {"qbt-a": [("qbt-a", (20,))], "qbt-b": [("qbt-b", (10,))]}
    assert snap.unmatched_queue == [] and snap.service_errors == {}
    ctx = RuleContext(Patterns.from_config(ErrorPatterns()), clock.now, 0)
    decisions = {
        d.torrent.client: decide.decide_download(d, classify(d, ctx), config, decide.CycleFacts(now=clock.now))
        for d in snap.downloads
    }
    assert decisions["qbt-b"] is None  # seeding fine: nothing to decide
    repair = decisions["qbt-a"]
    assert repair is not None and repair.verdict is Verdict.ACT
    removals = [(x.target, x.params["queue_id"]) for x in repair.actions if x.type == "arr_remove"]
    assert removals == [("sonarr", 20)]


# -- reading a paged queue whole, or not at all ------------------------------------------------------------------
SEED = torrent("fx-unregistered-seed")


class PagedSonarr:
    """Sonarr 4 over an httpx transport, as far as observe asks it: status, health, download clients and a queue
    of `size` records paged as the app pages it. `cap`: the most records it puts in one page whatever pageSize
    asks (a short page that is not the last); `claims`: the totalRecords it says (a record removed while we read);
    a page past the end repeats the last page, as the queue controller does. The last record is SEED's."""

    def __init__(self, size: int, *, cap: int | None = None, claims: int | None = None) -> None:
        hashes = [f"{i:040x}" for i in range(1, size)] + [SEED.hash]
        self.records = [
            {
                "id": 5000 + i,
                "downloadId": h.upper(),
                "protocol": "torrent",
                "title": f"Show.S01E{i:03d}",
                "seriesId": 1,
                "episodeId": 100 + i,
                "downloadClient": "qBittorrent",
                "status": "completed",
                "trackedDownloadState": "importPending",
                "trackedDownloadStatus": "ok",
            }
            for i, h in enumerate(hashes)
        ]
        self.cap, self.claims = cap, claims
        self.pages: list[int] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v3")
        if path == "/system/status":
            return httpx.Response(200, json={"appName": "Sonarr", "version": "4.0.19.2979"})
        if path == "/health":
            return httpx.Response(200, json=[])
        if path == "/downloadclient":
            fields = [{"name": "host", "value": "127.0.0.1"}, {"name": "port", "value": 1}]
            fields.append({"name": "tvCategory", "value": ""})
            client = {"name": "qBittorrent", "implementation": "QBittorrent", "enable": True, "fields": fields}
            return httpx.Response(200, json=[client])
        if path == "/queue":
            page, size = int(request.url.params["page"]), int(request.url.params["pageSize"])
            size = min(size, self.cap or size)
            last = max(1, -(-len(self.records) // size))
            page = min(page, last)  # past the end: the last page again
            self.pages.append(page)
            records = self.records[(page - 1) * size : page * size]
            total = len(self.records) if self.claims is None else self.claims
            return httpx.Response(200, json={"page": page, "pageSize": size, "totalRecords": total, "records": records})
        return httpx.Response(404)


def paged_client(app: PagedSonarr) -> ArrClient:
    from qbittorrent_monitor.config import ArrInstance

    instance = ArrInstance(name="sonarr", url="http://127.0.0.1:3", api_key="k")
    return ArrClient("sonarr", instance, httpx.MockTransport(app.handle))


def test_a_queue_served_in_short_pages_is_read_to_its_last_record() -> None:
    """600 records, the app puts at most 100 in a page although more were asked: six pages, 600 items (its own
    totalRecords). Trusting the first short page as the end read 100, and the other 500 downloads looked unowned."""
    app = PagedSonarr(600, cap=100)
    arr = paged_client(app)
    items = arr.queue()
    arr.close()
    assert len(items) == 600 and app.pages == [1, 2, 3, 4, 5, 6]
    assert items[-1].download_id == SEED.hash


def test_a_queue_that_counts_more_records_than_it_serves_is_refused_as_incomplete() -> None:
    """1500 records served, 1501 claimed (one removed while we read): the page past the end repeats the last page
    (nothing new: the read stops, never counting a record twice), read again once, still 1 short: a ServiceError
    naming both counts, not a queue of 1500 the cleanup would trust."""
    app = PagedSonarr(1500, claims=1501)
    arr = paged_client(app)
    with pytest.raises(ServiceError, match="read 1500 of the 1501 records"):
        arr.queue()
    arr.close()
    full = 1500 // arr_module.PAGE_SIZE  # full pages, then the one past the end repeating the last
    one_pass = [*range(1, full + 1), full]
    assert app.pages == one_pass * 2


@pytest.mark.parametrize(("cap", "claims"), [(250, None), (None, 1501)], ids=["short-pages", "incomplete"])
def test_the_seed_cleanup_never_takes_a_download_on_an_unread_page_for_an_orphan(
    tmp_path: Path, cap: int | None, claims: int | None
) -> None:
    """An unregistered seed whose queue record is the queue's last: the app still owns it (import pending), so
    the opt-in cleanup must never list it among the orphan seeds: either every page is read and it is owned, or
    the queue is incomplete and this cycle's cleanup does not run."""
    app = PagedSonarr(1500 if claims else 600, cap=cap, claims=claims)
    lib = FakeLibrary("qbittorrent", [SEED])
    config = Config.model_validate(
        {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "sonarr": [{"url": "http://127.0.0.1:3", "api_key": "k"}]}
    )
    store = Store(tmp_path / "state.db")
    arr = paged_client(app)
    obs = Observer(config, [cast(QBittorrentClient, lib)], {"sonarr": arr}, lambda: store, Clock())
    snap = obs.snapshot(cleanup=True)
    arr.close()
    store.close()
    assert SEED.hash not in {d.torrent.hash for d in snap.seeds}
    if claims:
        assert "read 1500 of the 1501" in snap.service_errors["sonarr"] and not snap.cleanup_read
    else:
        assert snap.service_errors == {} and snap.cleanup_read


# -- version gating: where the tracker rows come from --------------------------------------------------------------
class CapturedQbt:
    """qBittorrent of one version over an httpx transport, answering with that version's real captures (login,
    version, transfer/info, log/main, torrents/info per state, with or without includeTrackers, trackers,
    properties); every request it got is kept."""

    def __init__(self, version: str, states: list[str]) -> None:
        self.root = FIXTURES / f"qbittorrent-{version}"
        self.version = version
        self.states = {
            json.loads((self.root / "states" / s / "torrents_info.json").read_text())[0]["hash"]: s for s in states
        }
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def _state_file(self, info_hash: str, name: str) -> Any:
        return json.loads((self.root / "states" / self.states[info_hash] / name).read_text())

    def handle(self, request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.removeprefix("/api/v2/")
        form = dict(urllib.parse.parse_qsl(request.content.decode())) if request.method == "POST" else {}
        args = {**dict(request.url.params), **form}
        self.requests.append((request.method, endpoint, args))
        if endpoint == "auth/login":
            return httpx.Response(204) if self.version >= "5.2" else httpx.Response(200, text="Ok.")
        if endpoint == "app/version":
            return httpx.Response(200, text=(self.root / "app_version.txt").read_text())
        if endpoint in ("transfer/info", "log/main", "app/preferences"):
            return httpx.Response(200, content=(self.root / f"{endpoint.replace('/', '_')}.json").read_bytes())
        if endpoint == "torrents/info" and args.get("filter") == "errored":
            return httpx.Response(200, json=[])
        if endpoint == "torrents/info":
            name = (
                "torrents_info_includeTrackers.json" if args.get("includeTrackers") == "true" else "torrents_info.json"
            )
            wanted = [h for h in args.get("hashes", "").split("|") if h in self.states]
            return httpx.Response(200, json=[self._state_file(h, name)[0] for h in wanted])
        if endpoint in ("torrents/trackers", "torrents/properties"):
            return httpx.Response(200, json=self._state_file(args["hash"], endpoint.replace("/", "_") + ".json"))
        return httpx.Response(404)

    def calls(self, endpoint: str) -> list[dict[str, str]]:
        return [args for _, e, args in self.requests if e == endpoint]


SUSPECTS = ["fx-sonarr-stalled", "fx-stalled-dl", "fx-tracker-down", "fx-unregistered-dl"]  # running, no data


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_tracker_rows_come_with_torrents_info_from_5_1_and_one_call_per_suspect_before(
    tmp_path: Path, version: str
) -> None:
    """Four downloads the queue names, all running with no data flowing (suspects whose trackers matter), over the
    real captures of each version. From 5.1 torrents/info?includeTrackers=true returns their rows: 0 calls of
    torrents/trackers (a per-torrent fan-out is a request per suspect per cycle on a big library). 4.5.2 does not
    know includeTrackers (it would ignore it): never sent, and one torrents/trackers per suspect, 4."""
    from qbittorrent_monitor.clients.qbittorrent import Feature

    fake = CapturedQbt(version, [*SUSPECTS, "fx-seeding"])
    config = Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1", "password": "p"}]})
    qbt = QBittorrentClient(config.qbittorrent[0], transport=httpx.MockTransport(fake.handle))
    refs = [sonarr_ref(h, [i]) for i, h in enumerate(fake.states, start=1)]
    store = Store(tmp_path / "state.db")
    arrs = {"sonarr": cast(ArrClient, FakeQueue(refs))}
    snap = Observer(config, [qbt], arrs, lambda: store, Clock()).snapshot()
    store.close()
    qbt.close()
    assert snap.service_errors == {}
    by_state = {fake.states[d.torrent.hash]: d for d in snap.downloads}
    assert sorted(by_state) == sorted([*SUSPECTS, "fx-seeding"])
    assert all(by_state[s].trackers for s in SUSPECTS)  # every suspect's rows were read, one way or the other
    info = fake.calls("torrents/info")
    inline = qbt.supports(Feature.INCLUDE_TRACKERS)
    assert inline == (version != "4.5.2")
    if inline:
        assert info and all(c.get("includeTrackers") == "true" for c in info if "hashes" in c)
        assert fake.calls("torrents/trackers") == []
    else:
        assert all("includeTrackers" not in c for c in info)
        asked = sorted(c["hash"] for c in fake.calls("torrents/trackers"))
        assert asked == sorted(h for h, s in fake.states.items() if s in SUSPECTS)


def test_queued_seeds_waiting_for_import_are_read_again_every_ten_minutes_downloads_every_cycle(tmp_path: Path) -> None:
    """A complete download is never a repair candidate, so the seeds a queue holds while the app imports them are
    not listed again each cycle (qBittorrent's cost per listed torrent); a download is, and a seed that appears or
    a download that completes is read as soon as the queue names it."""
    seed = torrent("fx-radarr-seeding")
    stalled, refs = stalled_queue(2)
    lib, clock = FakeLibrary("qbittorrent", [seed, *stalled]), Clock()
    obs = observer_of(tmp_path, [lib], [sonarr_ref(seed.hash, [9]), *refs], clock)
    first = {d.torrent.hash for d in obs.snapshot().downloads}
    assert first == {seed.hash, *(t.hash for t in stalled)}
    for _ in range(3):
        clock.now += 30
        assert {d.torrent.hash for d in obs.snapshot().downloads} == first  # still watched, from the last read
    assert [seed.hash in asked for asked in lib.asked_info] == [True, False, False, False]
    assert all(t.hash in asked for asked in lib.asked_info for t in stalled)
    clock.now += SETTLED_REFRESH
    obs.snapshot()
    assert seed.hash in lib.asked_info[-1]
    # One download completes: read again the next cycle (it is not known complete yet), then left alone.
    done = stalled[0].hash
    lib.items[done] = dataclasses.replace(lib.items[done], progress=1.0, state="stalledUP", amount_left=0)
    obs.snapshot()
    obs.snapshot()
    assert [done in asked for asked in lib.asked_info[-2:]] == [True, False]


def test_a_protected_or_paused_download_is_read_again_only_every_ten_minutes_and_its_stale_answer_still_protects(
    tmp_path: Path,
) -> None:
    """No finding about a `keep`-tagged or paused download can lead to a repair: it is listed again only after
    SETTLED_REFRESH. When the user removes the tag meanwhile, the last answer (still tagged) stands until then: a
    repair is delayed, never caused by a stale answer."""
    (kept, paused, plain), refs = stalled_queue(3)
    kept = dataclasses.replace(kept, tags=("keep",))
    paused = dataclasses.replace(paused, state="pausedDL")
    lib, clock = FakeLibrary("qbittorrent", [kept, paused, plain]), Clock()
    obs = observer_of(tmp_path, [lib], refs, clock)
    obs.snapshot()
    lib.items[kept.hash] = dataclasses.replace(lib.items[kept.hash], tags=())
    clock.now += 30
    seen = {d.torrent.hash: d.torrent for d in obs.snapshot().downloads}
    assert lib.asked_info[-1] == [plain.hash]  # only what a repair could touch
    assert seen[kept.hash].tags == ("keep",)  # the last answer: still protected
    clock.now += SETTLED_REFRESH
    seen = {d.torrent.hash: d.torrent for d in obs.snapshot().downloads}
    assert seen[kept.hash].tags == ()  # read again: now a candidate like any other
    assert sorted(lib.asked_info[-1]) == sorted([kept.hash, paused.hash, plain.hash])


@pytest.mark.parametrize("status", ["Delay", "downloadClientUnavailable", "fallback"])
def test_a_pending_release_without_a_download_id_is_skipped_and_the_rest_read(status: str) -> None:
    app = PagedSonarr(3)
    pending = {"id": 9_000_001, "protocol": "torrent", "title": "Held.S01E01", "status": status, "episodeId": 1}
    app.records.append(pending)  # pending: no downloadId, no trackedDownloadState (API-NOTES §2.1)
    arr = paged_client(app)
    items = arr.queue()
    arr.close()
    assert [i.download_id for i in items] == [r["downloadId"].lower() for r in app.records[:3]]


@pytest.mark.parametrize("status", ["warning", "completed", None])
def test_a_tracked_record_without_a_download_id_makes_the_queue_untrusted(status: str | None) -> None:
    """A tracked download's record that lost its downloadId (a broken answer) is not a pending release: skipped as
    one, its torrent would look like nobody's (the seed cleanup could delete it). The read fails, naming it."""
    app = PagedSonarr(3)
    broken = app.records[1]
    del broken["downloadId"]
    if status is None:
        del broken["status"]
    else:
        broken["status"] = status
    arr = paged_client(app)
    with pytest.raises(ServiceError, match=rf"record {broken['id']} \(status {status or 'none'}\) has no downloadId"):
        arr.queue()
    arr.close()


class DownLibrary(FakeLibrary):
    """A qBittorrent instance whose torrents/info read fails (it answered garbage or nothing)."""

    def torrents(self, hashes: object) -> list[Listed]:
        raise ServiceError(self.name, "torrents/info: unexpected answer (text/html)")


def test_a_queue_download_of_a_qbittorrent_that_could_not_be_read_is_not_called_missing(tmp_path: Path) -> None:
    """Sonarr's queue is read and names a torrent; qBittorrent's read failed. The torrent is not "gone": nothing
    is known of it, so the snapshot reports no unmatched queue download (and no download at all), only the error.
    The same queue against a qBittorrent that answers without that torrent does report it unmatched."""
    dead = dataclasses.replace(torrent("fx-unregistered-dl"), category="tv-sonarr")
    refs = [sonarr_ref(dead.hash, [11])]
    down = DownLibrary("qbittorrent", [dead])
    snap = observer_of(tmp_path / "down", [cast(FakeLibrary, down)], refs).snapshot()
    assert snap.service_errors == {"qbittorrent": "torrents/info: unexpected answer (text/html)"}
    assert snap.downloads == [] and snap.unmatched_queue == []
    emptied = FakeLibrary("qbittorrent", [])  # it answers: the torrent really is not there
    snap = observer_of(tmp_path / "up", [emptied], refs).snapshot()
    assert snap.service_errors == {} and [g.download_id for g in snap.unmatched_queue] == [dead.hash]


def test_a_torrent_gone_from_qbittorrent_leaves_no_tracker_rows_behind_and_is_read_afresh_when_it_returns(
    tmp_path: Path,
) -> None:
    """A daemon runs for months while downloads come and go: the cached tracker rows of a torrent qBittorrent no
    longer lists are dropped (never an ever-growing cache), so the same release added again is asked anew."""
    (kept, gone), refs = stalled_queue(2)
    lib = FakeLibrary("qbittorrent", [kept, gone])
    obs = observer_of(tmp_path, [lib], refs)
    obs.snapshot()
    removed = lib.items.pop(gone.hash)
    obs.snapshot()
    lib.items[gone.hash] = removed
    obs.snapshot()
    assert sorted(lib.asked_trackers) == sorted([kept.hash, gone.hash, gone.hash])


def test_a_cached_torrent_completed_with_its_private_flag_is_that_one_object_in_the_next_cycles(tmp_path: Path) -> None:
    """A queued errored download the user protected (tag `keep`) is served from the settled cache for 5-10 minutes
    (4.x: its private flag asked once). The flag, learned in the first cycle, goes into the cache: later cycles hand
    out the very torrent the last report holds instead of completing a fresh copy of the cached one each cycle (two
    objects per torrent at every cycle's peak), and the flag is neither lost nor asked again."""
    kept = dataclasses.replace(torrent("fx-error-notadir"), tags=("keep",))
    lib = FakeLibrary("qbittorrent", [kept])
    obs = observer_of(tmp_path, [lib], [sonarr_ref(kept.hash, [1])])
    (first,) = obs.snapshot().downloads
    (second,) = obs.snapshot().downloads
    (third,) = obs.snapshot().downloads
    assert first.torrent.private is False and lib.asked_private == [kept.hash] and len(lib.asked_info) == 1
    assert second.torrent is first.torrent and third.torrent is first.torrent


class OwnErroredRead(FakeLibrary):
    """The errored list comes from its own read: other objects than torrents/info's, as with a real qBittorrent."""

    def errored(self) -> list[Listed]:
        return [Listed(dataclasses.replace(item.torrent)) for item in super().errored()]


def test_a_torrent_completed_from_one_read_never_replaces_its_listing_in_another_cache(tmp_path: Path) -> None:
    """A protected queued errored download sits in the settled cache (its torrents/info read) and in the errored
    list (a read of its own, possibly older or newer). Completing the one that was used writes back only into that
    listing: the errored list keeps the torrent it read, which it serves once the download leaves the queue."""
    kept = dataclasses.replace(torrent("fx-error-notadir"), tags=("keep",))
    lib = OwnErroredRead("qbittorrent", [kept])
    obs = observer_of(tmp_path, [lib], [sonarr_ref(kept.hash, [1])])
    (first,) = obs.snapshot().downloads
    ((_, errored_list),) = obs._errored_at.values()
    ((_, settled),) = obs._settled["qbittorrent"].values()
    assert settled.torrent is first.torrent and first.torrent.private is False
    assert errored_list[0].torrent is not first.torrent and errored_list[0].torrent.private is None


class OddEntries(CapturedQbt):
    """torrents/info with, beside the captured torrents, entries no qBittorrent should send: one without a hash,
    one that is not an object, a null, one whose tracker rows are not objects, one whose size is infinite."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if request.url.path.endswith("torrents/info") and response.status_code == 200:
            rows = json.loads(response.content)
            if rows:
                odd = {**rows[0], "hash": "f" * 40, "trackers": [3]}
                huge = {**rows[0], "hash": "e" * 40, "size": float("inf")}  # JSON Infinity: int() overflows
                body = json.dumps([{"name": "no hash"}, 7, None, *rows, odd, huge])  # allow_nan: writes Infinity
                return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})
        return response


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_torrents_read_as_they_are_decoded_are_the_torrents_qbittorrent_sent(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each torrents/info entry becomes a Listed as soon as the decoder has read it (the raw entries of a page are
    never all held): the torrents and their 5.1+ tracker rows are exactly what parsing the whole answer gives, a
    malformed entry is skipped with a warning and the others kept, and an answer that is not a list is refused."""
    from qbittorrent_monitor.clients.qbittorrent import parse_listed

    states = [*SUSPECTS, "fx-seeding", "fx-error-notadir"]
    fake = OddEntries(version, states)
    config = Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1", "password": "p"}]})
    qbt = QBittorrentClient(config.qbittorrent[0], transport=httpx.MockTransport(fake.handle))
    with caplog.at_level("WARNING"):
        got = {item.torrent.hash: item for item in qbt.torrents(fake.states)}
    name = "torrents_info_includeTrackers.json" if version != "4.5.2" else "torrents_info.json"
    expected = {}
    for h in fake.states:
        row = fake._state_file(h, name)[0]
        expected[h] = parse_listed("qbittorrent", row, qbt.parsed_version)
    assert got.keys() == expected.keys() and all(got[h] == expected[h] for h in expected)
    assert (version != "4.5.2") == all(got[h].trackers for h in got)
    skipped = [r.getMessage() for r in caplog.records if "malformed torrent entry" in r.getMessage()]
    assert len(skipped) == 5, skipped  # hashless, a number, a null, tracker rows not objects, an infinite size

    def not_a_list(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("torrents/info"):
            return httpx.Response(200, json={"error": "not a list"})
        return fake.handle(request)

    qbt = QBittorrentClient(config.qbittorrent[0], transport=httpx.MockTransport(not_a_list))
    with pytest.raises(ServiceError, match="did not return a list"):
        qbt.errored()

    def a_login_page(request: httpx.Request) -> httpx.Response:  # a reverse proxy's page instead of the API's answer
        if request.url.path.endswith("torrents/info"):
            return httpx.Response(200, text="<html><body>Please log in</body></html>")
        return fake.handle(request)

    qbt = QBittorrentClient(config.qbittorrent[0], transport=httpx.MockTransport(a_login_page))
    with pytest.raises(ServiceError, match=r"torrents/info: the answer is not JSON \(<html><body>Please log in"):
        qbt.errored()
