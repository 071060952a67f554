"""The act room on its own: an `Executor` on a real Store in a temp dir, talking through the real ArrClient to an
in-process fake *arr (an httpx transport that keeps a queue, a blocklist and a command list like the apps do)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from captured import download, sonarr_ref
from qbittorrent_monitor import decide
from qbittorrent_monitor.actions import Executor
from qbittorrent_monitor.clients.arr import ArrClient
from qbittorrent_monitor.clients.qbittorrent import QBittorrentClient
from qbittorrent_monitor.config import ArrInstance, Config, ErrorPatterns
from qbittorrent_monitor.model import ActionType, Decision, Download, Population, PopulationKey, StepStatus, Verdict
from qbittorrent_monitor.rules import Patterns, RuleContext, classify
from qbittorrent_monitor.store import Store

PATTERNS = Patterns.from_config(ErrorPatterns())
NOW = 1_800_000_000.0


class FakeArr:
    """Sonarr as far as a repair needs it: DELETE /queue/{id}, POST and GET /command, GET /queue."""

    def __init__(self) -> None:
        self.queue: dict[int, str] = {}  # queue id -> downloadId
        self.calls: list[tuple[str, str]] = []
        self.commands: list[dict[str, Any]] = []
        self.delete_status: int | None = None  # force an answer to DELETE (500, 404, ...)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/v3")
        if request.method == "GET" and path == "/system/status":  # read once: which Sonarr, which API
            return httpx.Response(200, json={"appName": "Sonarr", "version": "4.0.19.2979"})
        self.calls.append((request.method, path))
        if request.method == "DELETE" and (m := re.fullmatch(r"/queue/(\d+)", path)):
            if self.delete_status is not None:
                return httpx.Response(self.delete_status, text="boom")
            if self.queue.pop(int(m.group(1)), None) is None:
                return httpx.Response(404)
            return httpx.Response(200)
        if request.method == "POST" and path == "/command":
            body = json.loads(request.content)
            self.commands.append(body)
            return httpx.Response(201, json={"id": len(self.commands), "status": "queued", **body})
        if request.method == "GET" and path == "/command":
            return httpx.Response(200, json=[])
        if request.method == "GET" and path == "/queue":
            records = [{"id": i, "downloadId": h.upper(), "protocol": "torrent"} for i, h in self.queue.items()]
            return httpx.Response(200, json={"page": 1, "totalRecords": len(records), "records": records})
        return httpx.Response(404)


class FakeQbt:
    name = "qbittorrent"

    def __init__(self) -> None:
        self.deleted: list[tuple[str, bool]] = []
        self.tagged: list[tuple[str, list[str]]] = []

    def delete(self, torrent_hash: str, *, delete_files: bool) -> None:
        self.deleted.append((torrent_hash, delete_files))

    def add_tags(self, torrent_hash: str, tags: list[str]) -> None:
        self.tagged.append((torrent_hash, tags))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeArr:
    return FakeArr()


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def config(**sections: Any) -> Config:
    return Config.model_validate(
        {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "sonarr": [{"url": "http://sonarr:8989", "api_key": "k"}]}
        | sections
    )


def executor(cfg: Config, fake: FakeArr, store: Store, clock: Clock, qbt: FakeQbt | None = None) -> Executor:
    arr = ArrClient(
        "sonarr", ArrInstance(name="sonarr", url="http://sonarr:8989", api_key="k"), httpx.MockTransport(fake.handle)
    )
    qbts = {"qbittorrent": cast(QBittorrentClient, qbt or FakeQbt())}
    return Executor(cfg, {"sonarr": arr}, qbts, store, clock)


def dead_episode(n: int, episodes: list[int], *, private: bool = False) -> Download:
    """An unregistered download of these episodes (a new hash for each grab of a release)."""
    d = download("fx-sonarr-unregistered")
    t = dataclasses.replace(d.torrent, hash=f"{n:040x}", name=f"Show.S01E01.grab{n}", private=private)
    return dataclasses.replace(d, torrent=t, arr=(sonarr_ref(t.hash, episodes),))


def repair(d: Download, cfg: Config, store: Store, clock: Clock) -> Decision:
    """What decide plans for it now, with the failures the store remembers (as the monitor wires it)."""
    findings = classify(d, RuleContext(PATTERNS, clock.now, 3600))
    facts = decide.CycleFacts(
        now=clock.now, failures=store.failures(clock.now - cfg.search.failure_window), repaired=store.repaired()
    )
    decision = decide.decide_download(d, findings, cfg, facts)
    assert decision is not None
    return decision


def test_a_repair_removes_then_searches_once_and_journals_each_step(fake: FakeArr, store: Store) -> None:
    cfg, clock = config(), Clock()
    d = dead_episode(1, [11, 12])
    fake.queue = {1011: d.torrent.hash, 1012: d.torrent.hash}
    outcomes = executor(cfg, fake, store, clock).run(repair(d, cfg, store, clock))
    assert [(o.action.type, o.status, o.result) for o in outcomes] == [
        (ActionType.ARR_REMOVE, StepStatus.DONE, "removed"),
        (ActionType.ARR_SEARCH, StepStatus.DONE, "command 1 queued"),
    ]
    assert fake.calls == [("DELETE", "/queue/1011"), ("POST", "/command")]
    assert fake.commands == [{"name": "EpisodeSearch", "episodeIds": [11, 12]}]
    assert [r.status for r in store.history(since=0)] == ["done", "done"]


@pytest.mark.parametrize(("status", "result"), [(500, StepStatus.FAILED), (404, StepStatus.DONE)])
def test_no_search_after_a_failed_or_404_removal(fake: FakeArr, store: Store, status: int, result: str) -> None:
    cfg, clock = config(), Clock()
    d = dead_episode(1, [11])
    fake.delete_status = status
    outcomes = executor(cfg, fake, store, clock).run(repair(d, cfg, store, clock))
    assert [(o.action.type, o.status) for o in outcomes] == [
        (ActionType.ARR_REMOVE, result),
        (ActionType.ARR_SEARCH, StepStatus.SKIPPED),
    ]
    assert fake.commands == [] and ("POST", "/command") not in fake.calls


def test_a_removal_that_failed_or_found_nothing_is_not_repaired_and_not_a_failure(fake: FakeArr, store: Store) -> None:
    cfg, clock = config(), Clock()
    failed, gone = dead_episode(1, [11]), dead_episode(2, [11])
    fake.delete_status = 500
    executor(cfg, fake, store, clock).run(repair(failed, cfg, store, clock))
    fake.delete_status = 404
    executor(cfg, fake, store, clock).run(repair(gone, cfg, store, clock))
    # Neither counts as repaired: listed again, each still gets its repair (not "already removed once").
    assert store.repaired() == set()
    assert store.failures(0) == {}
    again = repair(failed, cfg, store, clock)
    assert again.verdict is Verdict.ACT and [a.type for a in again.actions] == ["arr_remove", "arr_search"]


def test_a_failure_counts_once_the_removal_succeeded_and_give_up_after_then_fires(fake: FakeArr, store: Store) -> None:
    cfg, clock = config(search={"give_up_after": 3}), Clock()
    run = executor(cfg, fake, store, clock)
    for n in (1, 2):  # two grabs of episode 11 died and were removed
        d = dead_episode(n, [11])
        fake.queue[1011] = d.torrent.hash
        run.run(repair(d, cfg, store, clock))
        clock.now += 3600
    assert store.failures(0) == {("sonarr", "episode:11"): 2}
    assert store.repaired() == {("sonarr", f"{1:040x}"), ("sonarr", f"{2:040x}")}
    third = repair(dead_episode(3, [11]), cfg, store, clock)  # the third failure of the same episode
    assert [a.type for a in third.actions] == ["arr_remove"]  # removed, not searched again
    assert "episode:11 failed 3 or more times: not searched again" in third.explanation


def test_the_failure_window_forgets_old_failures(fake: FakeArr, store: Store) -> None:
    cfg, clock = config(search={"give_up_after": 2, "failure_window": "7d"}), Clock()
    d = dead_episode(1, [11])
    fake.queue[1011] = d.torrent.hash
    executor(cfg, fake, store, clock).run(repair(d, cfg, store, clock))
    clock.now += 6 * 86400  # inside the window: this second failure gives up
    assert [a.type for a in repair(dead_episode(2, [11]), cfg, store, clock).actions] == ["arr_remove"]
    clock.now += 2 * 86400  # eight days after the first failure: forgotten, searched again
    assert [a.type for a in repair(dead_episode(3, [11]), cfg, store, clock).actions] == ["arr_remove", "arr_search"]


def test_a_private_torrent_owing_seeding_is_kept_tagged_and_its_search_still_runs(fake: FakeArr, store: Store) -> None:
    cfg, clock, qbt = config(), Clock(), FakeQbt()
    d = dead_episode(1, [11], private=True)
    fake.queue[1011] = d.torrent.hash
    outcomes = executor(cfg, fake, store, clock, qbt).run(repair(d, cfg, store, clock))
    assert [(o.action.type, o.status) for o in outcomes] == [
        (ActionType.ARR_REMOVE, StepStatus.DONE),
        (ActionType.ARR_SEARCH, StepStatus.DONE),
        (ActionType.QBT_TAG, StepStatus.DONE),
    ]
    assert outcomes[0].action.params["removeFromClient"] is False
    assert qbt.tagged == [(d.torrent.hash, ["qbm-failed"])] and qbt.deleted == []


def seed(n: int, *, private: bool, seeding_time: int = 0, ratio: float = 0.0) -> Download:
    d = download("fx-unregistered-seed")
    t = dataclasses.replace(
        d.torrent, hash=f"{n:040x}", name=f"Seed.{n}", private=private, seeding_time=seeding_time, ratio=ratio
    )
    return dataclasses.replace(d, torrent=t)


def test_seed_cleanup_never_deletes_a_private_seed_that_still_owes_seeding(store: Store) -> None:
    cfg, clock, qbt = config(), Clock(), FakeQbt()
    ctx = RuleContext(PATTERNS, clock.now, 3600)
    seeds = [
        seed(1, private=True, seeding_time=3600),  # owes 71 more hours
        seed(2, private=True, seeding_time=80 * 3600),  # seeded its 72 hours: may go
        seed(3, private=False),
        seed(4, private=True, ratio=1.5),  # reached the ratio: may go
    ]
    items = [(s, classify(s, ctx)[0], False) for s in seeds]
    facts = decide.CycleFacts(now=clock.now)
    decisions = decide.pass_one((), items, cfg, facts)
    # The tracker serves 100 other torrents fine: three unregistered seeds are no outage.
    populations = {PopulationKey("qbittorrent", "127.0.0.1"): Population(100)}
    state = decide.guard_cycle(decisions, seeds, cfg, dataclasses.replace(facts, populations=populations))
    run = executor(cfg, FakeArr(), store, clock, qbt)
    for decision in state.decisions:
        if decision.verdict is Verdict.ACT:
            run.run(decision)
    verdicts = {d.download.torrent.name: d.verdict for d in state.decisions}
    assert verdicts["Seed.1"] is Verdict.PROTECTED
    assert "owes seeding" in next(d for d in state.decisions if d.download.torrent.name == "Seed.1").explanation
    assert f"{1:040x}" not in {h for h, _ in qbt.deleted}
    assert {h for h, _ in qbt.deleted} == {f"{n:040x}" for n in (2, 3, 4)}  # under the cap of 3 for the tracker


def two_arr_executor(cfg: Config, fakes: dict[str, FakeArr], store: Store, clock: Clock) -> Executor:
    arrs = {
        name: ArrClient(
            "sonarr",
            ArrInstance(name=name, url=f"http://{name}:8989", api_key="k"),
            httpx.MockTransport(fake.handle),
        )
        for name, fake in fakes.items()
    }
    return Executor(cfg, arrs, {"qbittorrent": cast(QBittorrentClient, FakeQbt())}, store, clock)


def in_two_arrs(n: int) -> Download:
    """One torrent both Sonarr instances queue (a 1080p and a 4K instance grabbed the same release)."""
    d = dead_episode(n, [11])
    other = sonarr_ref(d.torrent.hash, [11])
    other = dataclasses.replace(
        other, arr="sonarr4k", items=tuple(dataclasses.replace(i, arr="sonarr4k") for i in other.items)
    )
    return dataclasses.replace(d, arr=(*d.arr, other))


def cfg_two_arrs() -> Config:
    return Config.model_validate(
        {
            "qbittorrent": [{"url": "http://127.0.0.1:1"}],
            "sonarr": [
                {"name": "sonarr", "url": "http://sonarr:8989", "api_key": "k"},
                {"name": "sonarr4k", "url": "http://sonarr4k:8989", "api_key": "k"},
            ],
        }
    )


def test_each_arr_searches_after_its_own_removal_and_a_later_one_deletes_when_the_first_could_not(
    store: Store,
) -> None:
    cfg, clock = cfg_two_arrs(), Clock()
    d = in_two_arrs(1)
    first, second = FakeArr(), FakeArr()
    first.queue = {}  # the 1080p instance already let it go: 404
    second.queue = {1011: d.torrent.hash}
    outcomes = two_arr_executor(cfg, {"sonarr": first, "sonarr4k": second}, store, clock).run(
        repair(d, cfg, store, clock)
    )
    steps = [(o.action.type, o.action.target, o.status, o.result) for o in outcomes]
    assert steps == [
        (ActionType.ARR_REMOVE, "sonarr", StepStatus.DONE, "gone"),
        (ActionType.ARR_SEARCH, "sonarr", StepStatus.SKIPPED, "the download had already left the queue"),
        (ActionType.ARR_REMOVE, "sonarr4k", StepStatus.DONE, "removed"),
        (ActionType.ARR_SEARCH, "sonarr4k", StepStatus.DONE, "command 1 queued"),
    ]
    # The torrent is deleted from the client by the removal that worked (the first one's 404 deleted nothing).
    [delete] = [r for r in second.requests if r.method == "DELETE"]
    assert delete.url.params["removeFromClient"] == "true"
    assert first.commands == [] and second.commands == [{"name": "EpisodeSearch", "episodeIds": [11]}]


def test_with_two_arrs_the_torrent_is_deleted_once(store: Store) -> None:
    cfg, clock = cfg_two_arrs(), Clock()
    d = in_two_arrs(2)
    first, second = FakeArr(), FakeArr()
    first.queue = {1011: d.torrent.hash}
    second.queue = {1011: d.torrent.hash}
    two_arr_executor(cfg, {"sonarr": first, "sonarr4k": second}, store, clock).run(repair(d, cfg, store, clock))
    flags = [r.url.params["removeFromClient"] for f in (first, second) for r in f.requests if r.method == "DELETE"]
    assert flags == ["true", "false"]


# -- the monitor's own cycle: how search.failure_window reaches decide -------------------------------------------
class QueueSonarr(FakeArr):
    """FakeArr with the queue as observe reads it (paged, full records), its health and download client settings:
    a real ArrClient reads it in the monitor's own cycle. Queue id 1000 + episode id, as `sonarr_ref` numbers them."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v3")
        if request.method == "GET" and path == "/health":
            return httpx.Response(200, json=[])
        if request.method == "GET" and path == "/downloadclient":
            fields = [{"name": "host", "value": "127.0.0.1"}, {"name": "port", "value": 1}]
            fields.append({"name": "tvCategory", "value": "tv-sonarr"})
            client = {"name": "qBittorrent", "implementation": "QBittorrent", "enable": True, "fields": fields}
            return httpx.Response(200, json=[client])
        if request.method == "GET" and path == "/queue":
            records = [
                {
                    "id": i,
                    "downloadId": h.upper(),
                    "protocol": "torrent",
                    "title": "Show.S01E01.1080p",
                    "seriesId": 7,
                    "episodeId": i - 1000,
                    "downloadClient": "qBittorrent",
                    "status": "warning",
                    "trackedDownloadState": "downloading",
                    "trackedDownloadStatus": "warning",
                }
                for i, h in self.queue.items()
            ]
            size = int(request.url.params.get("pageSize", 1000))
            body = {"page": 1, "pageSize": size, "totalRecords": len(records), "records": records}
            return httpx.Response(200, json=body)
        return super().handle(request)


class Library(FakeQbt):
    """One qBittorrent instance as the monitor's cycle reads it (observe) and acts on it (the executor)."""

    version = "v4.5.2"

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Download] = {}

    def supports(self, feature: str) -> bool:
        return False  # 4.5.2: no tracker rows in torrents/info, the private flag asked per torrent

    def connection_status(self) -> str:
        return "connected"

    def torrents(self, hashes: object) -> list[Any]:
        from qbittorrent_monitor.clients.qbittorrent import Listed

        return [Listed(d.torrent) for h, d in self.items.items() if h in hashes]  # type: ignore[operator]

    def errored(self) -> list[Any]:
        return []

    def log_since(self, after: int) -> list[Any]:
        return []

    def trackers(self, torrent_hash: str) -> Any:
        return self.items[torrent_hash].trackers

    def is_private(self, torrent_hash: str) -> bool:
        return False

    def close(self) -> None:
        pass


def test_the_monitor_gives_up_searching_only_on_failures_inside_search_failure_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The monitor's real cycle, its real store and executor, with `give_up_after: 2` and `failure_window: 7d`:
    the same episode's grab fails three times. Day 0: removed and searched (no failure before). Day 8: removed and
    searched again, because day 0's failure is older than the window (counting it, 1 + 1 = 2 would give up). Day 14:
    day 8's failure is inside the window, so 1 + 1 = 2: removed, not searched, and the decision says why. The window
    is read from the configuration by the monitor itself (monitor.py), not by the test."""
    from qbittorrent_monitor.monitor import Monitor

    cfg = Config.model_validate(
        {
            "monitor": {"data_dir": str(tmp_path / "data")},
            "qbittorrent": [{"url": "http://127.0.0.1:1"}],
            "sonarr": [{"url": "http://sonarr:8989", "api_key": "k"}],
            "search": {"give_up_after": 2, "failure_window": "7d"},
        }
    )
    clock, sonarr, library = Clock(), QueueSonarr(), Library()
    monitor = Monitor(cfg, clock=clock)
    for q in monitor.qbts:
        q.close()
    monitor.qbts[:] = [cast(QBittorrentClient, library)]  # the observer and the executor read this same list
    monitor.arrs["sonarr"].close()
    [(_, instance)] = cfg.arr_instances()
    monitor.arrs["sonarr"] = ArrClient("sonarr", instance, httpx.MockTransport(sonarr.handle))
    searched: list[int] = []
    try:
        for grab, day in ((1, 0), (2, 8), (3, 14)):
            clock.now = NOW + day * 86400
            d = dead_episode(grab, [11])
            d = dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, category="tv-sonarr"))
            library.items = {d.torrent.hash: d}
            sonarr.queue = {1011: d.torrent.hash}
            report = monitor.run_cycle()
            [decision] = report.decisions
            assert decision.download.torrent.hash == d.torrent.hash and decision.verdict is Verdict.ACT
            assert sonarr.queue == {}, f"day {day}: the dead grab was not removed"
            searched.append(len(sonarr.commands))
            if day == 14:
                assert "episode:11 failed 2 or more times: not searched again" in decision.explanation
    finally:
        monitor.close()
    assert searched == [1, 2, 2]  # day 0 and day 8 searched; day 14 gave up
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sonarr.commands == [{"name": "EpisodeSearch", "episodeIds": [11]}] * 2
