"""`undo` over a real journal: a repair run by the real Executor on a real Store, then taken back through the real
ArrClient talking to an in-process Sonarr (an httpx transport keeping a queue and a blocklist as the app does)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from captured import download, sonarr_ref
from qbittorrent_monitor import decide, history
from qbittorrent_monitor.actions import Executor
from qbittorrent_monitor.clients.arr import ArrClient
from qbittorrent_monitor.clients.qbittorrent import QBittorrentClient
from qbittorrent_monitor.config import ArrInstance, Config, ErrorPatterns
from qbittorrent_monitor.model import Download, Verdict
from qbittorrent_monitor.rules import Patterns, RuleContext, classify
from qbittorrent_monitor.store import Store

NOW = 1_800_000_000.0
OTHER = {"sourceTitle": "Someone.Elses.Release.S02E05", "episodeIds": [905], "seriesId": 9}  # not ours


class BlocklistSonarr:
    """Sonarr 4 as far as a removal and its undo need it: DELETE /queue/{id} (blocklisting writes entries),
    GET /blocklist (paged), DELETE /blocklist/{id} (`fail_ids` answer 500)."""

    def __init__(self, entries_per_removal: int = 1) -> None:
        self.queue: dict[int, dict[str, Any]] = {}
        self.blocklist: list[dict[str, Any]] = []
        self.entries_per_removal = entries_per_removal
        self.fail_ids: set[int] = set()
        self.deleted: list[int] = []
        self._next = 1

    def entry(self, **fields: Any) -> dict[str, Any]:
        row = {"id": self._next, "date": datetime.fromtimestamp(NOW + 5, UTC).isoformat(), **fields}
        self._next += 1
        self.blocklist.append(row)
        return row

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v3")
        if path == "/system/status":
            return httpx.Response(200, json={"appName": "Sonarr", "version": "4.0.19.2979"})
        if request.method == "DELETE" and (m := re.fullmatch(r"/queue/(\d+)", path)):
            record = self.queue.pop(int(m.group(1)), None)
            if record is None:
                return httpx.Response(404)
            if request.url.params.get("blocklist") == "true":
                for _ in range(self.entries_per_removal):
                    self.entry(sourceTitle=record["title"], episodeIds=record["episodeIds"], seriesId=7)
            return httpx.Response(200)
        if request.method == "GET" and path == "/blocklist":
            return httpx.Response(
                200, json={"page": 1, "totalRecords": len(self.blocklist), "records": list(self.blocklist)}
            )
        if request.method == "DELETE" and (m := re.fullmatch(r"/blocklist/(\d+)", path)):
            found = int(m.group(1))
            if found in self.fail_ids:
                return httpx.Response(500, text="database is locked")
            if not any(e["id"] == found for e in self.blocklist):
                return httpx.Response(404)
            self.blocklist = [e for e in self.blocklist if e["id"] != found]
            self.deleted.append(found)
            return httpx.Response(200)
        if request.method == "POST" and path == "/command":
            return httpx.Response(201, json={"id": 1, "status": "queued"})
        return httpx.Response(404)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def client(app: BlocklistSonarr) -> ArrClient:
    instance = ArrInstance(name="sonarr", url="http://sonarr:8989", api_key="k")
    return ArrClient("sonarr", instance, httpx.MockTransport(app.handle))


def repaired(app: BlocklistSonarr, store: Store, d: Download) -> int:
    """Run the repair decide plans for `d` (remove + blocklist + search); the id of its removal step."""
    cfg = Config.model_validate(
        {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "sonarr": [{"url": "http://sonarr:8989", "api_key": "k"}]}
    )
    [ref] = d.arr
    app.queue[ref.queue_ids[0]] = {"title": ref.title, "episodeIds": list(ref.item_ids)}
    findings = classify(d, RuleContext(Patterns.from_config(ErrorPatterns()), NOW, 3600))
    decision = decide.decide_download(d, findings, cfg, decide.CycleFacts(now=NOW))
    assert decision is not None and decision.verdict is Verdict.ACT
    arr = client(app)
    Executor(cfg, {"sonarr": arr}, cast(dict[str, QBittorrentClient], {}), store, lambda: NOW).run(decision)
    arr.close()
    [remove] = [r for r in store.history() if r.type == "arr_remove"]
    assert remove.status == "done" and remove.params["blocklist"] is True
    return remove.id


def undo(app: BlocklistSonarr, store: Store, action_id: int) -> tuple[int, str]:
    lines: list[str] = []
    arr = client(app)
    try:
        code = history.undo(store, {"sonarr": arr}, action_id, out=lines.append)
    finally:
        arr.close()
    return code, "\n".join(lines)


def dead_episode() -> Download:
    """An unregistered public download of one episode (the captures are private: a kept private torrent would
    only be tagged, and this is about the plain repair)."""
    d = download("fx-sonarr-unregistered")
    public = dataclasses.replace(d.torrent, private=False)
    return dataclasses.replace(d, torrent=public, arr=(sonarr_ref(d.torrent.hash, [11]),))


def test_an_undo_whose_second_blocklist_delete_fails_says_partly_undone_and_succeeds(store: Store) -> None:
    """Two entries for our release (say the app's own failed-download handling wrote one too); the first DELETE
    works, the second answers 500. Something was undone, so undo must not answer 1 ("nothing undone"): 0, saying
    which entry stays and that running it again takes it back; the second run removes it; a third finds none."""
    app = BlocklistSonarr(entries_per_removal=2)
    removal = repaired(app, store, dead_episode())
    app.entry(**OTHER)
    first, second, other = (e["id"] for e in app.blocklist)
    app.fail_ids = {second}
    code, said = undo(app, store, removal)
    assert code == 0, said
    assert app.deleted == [first]
    assert f"removed blocklist entry {first}" in said
    assert f"blocklist entry {second} (Show.S01.1080p) could not be removed" in said and "HTTP 500" in said
    assert "partly undone: 1 of 2" in said and f"undo {removal}` again" in said
    app.fail_ids = set()
    code, said = undo(app, store, removal)
    assert code == 0 and app.deleted == [first, second], said
    code, said = undo(app, store, removal)
    assert code == 1 and "no blocklist entry" in said
    assert [e["id"] for e in app.blocklist] == [other]  # someone else's entry was never touched


def test_a_removal_that_recorded_no_title_and_no_item_never_undoes_someone_elses_blocklist_entry(
    store: Store,
) -> None:
    """A queue record with no title and no episode (a malformed or half-imported record): its removal's journal
    step holds title "" and items []. Two other releases were blocklisted after it: nothing identifies either as
    ours, so undo must delete neither (before the fix, the date alone matched every entry written after it)."""
    d = dead_episode()
    [ref] = d.arr
    blank = dataclasses.replace(ref, items=tuple(dataclasses.replace(i, title="", item_ids=()) for i in ref.items))
    app = BlocklistSonarr(entries_per_removal=0)
    removal = repaired(app, store, dataclasses.replace(d, arr=(blank,)))
    assert store.action(removal) is not None
    app.entry(**OTHER)
    app.entry(sourceTitle="Another.Show.S01E01", episodeIds=[77], seriesId=3)
    code, said = undo(app, store, removal)
    assert code == 1, said
    assert app.deleted == [] and len(app.blocklist) == 2
    assert "no blocklist entry" in said
