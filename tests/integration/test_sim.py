"""The Sonarr/Radarr simulator (tests/sim) against the real qbittorrent-nox: it must behave like the real
apps as described in API-NOTES.md and flag every request that the vendored OpenAPI specs do not allow."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from harness.qbt import QBittorrent
from harness.states import StateFactory
from sim.arr import ArrSimulator
from sim.validation import (
    OpenAPIRequest,
    SpecVariant,
    patched_spec,
    raw_spec,
    validate_request,
    validate_response,
)

pytestmark = pytest.mark.integration

TV = "tv-sonarr"
MOVIES = "radarr"


@contextmanager
def simulator(qbt: QBittorrent, kind: str, *, off_spec: str = "", **kwargs: Any) -> Iterator[ArrSimulator]:
    """A simulator for one test, checked at the end like the fixtures' (no request its spec refuses), unless
    `off_spec` says why this test sends such requests on purpose."""
    kwargs.setdefault("category", TV if kind == "sonarr" else MOVIES)
    sim = ArrSimulator(
        kind,  # type: ignore[arg-type]
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        **kwargs,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
        assert not sim.running
    assert off_spec or sim.violations == [], sim.violations


@contextmanager
def api(sim: ArrSimulator, **headers: str) -> Iterator[httpx.Client]:
    hdrs = {"X-Api-Key": sim.api_key, **headers}
    with httpx.Client(base_url=sim.url, headers=hdrs, trust_env=False, timeout=10) as client:
        yield client


api_client = api


def queue(client: httpx.Client, **params: Any) -> dict[str, Any]:
    params.setdefault("pageSize", 1000)
    response = client.get("/api/v3/queue", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def expected_id(text: str) -> int:
    """HashConverter.GetHashInt31, written out independently of the simulator."""
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def wait_gone(qbt: QBittorrent, info_hash: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while qbt.info([info_hash]):
        assert time.monotonic() < deadline, f"{info_hash} still in qBittorrent"
        time.sleep(0.05)


# -- auth, ping, status ------------------------------------------------------------------------------
def test_ping_is_anonymous_everything_else_needs_the_key(sonarr: ArrSimulator) -> None:
    with httpx.Client(base_url=sonarr.url, trust_env=False) as anon:
        ping = anon.get("/ping")
        assert ping.status_code == 200 and ping.json() == {"status": "OK"}
        assert anon.head("/ping").status_code == 200
        for headers, params in (
            ({}, {}),
            ({"X-Api-Key": "0" * 32}, {}),
            ({}, {"apikey": "wrong"}),
            ({"X-Api-Key": sonarr.api_key}, {"apikey": "wrong"}),  # the query key is read first
        ):
            denied = anon.get("/api/v3/system/status", headers=headers, params=params)
            assert denied.status_code == 401 and denied.content == b""
        assert anon.get("/api/v3/nonexistent").status_code == 401  # auth before routing
        assert anon.get("/api/v3/system/status", headers={"X-Api-Key": sonarr.api_key}).status_code == 200
        assert anon.get("/api/v3/system/status", params={"apikey": sonarr.api_key}).status_code == 200
        bearer = {"Authorization": f"Bearer {sonarr.api_key}"}
        assert anon.get("/api/v3/system/status", headers=bearer).status_code == 200
    assert sonarr.violations == []


def test_system_status_names_app_and_version(qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator) -> None:
    with api(sonarr) as client:
        status = client.get("/api/v3/system/status").json()
    assert (status["appName"], status["version"]) == ("Sonarr", "4.0.19.2979")
    with api(radarr) as client:
        status = client.get("/api/v3/system/status").json()
    assert (status["appName"], status["version"]) == ("Radarr", "6.0.3.10276")
    with simulator(qbt, "sonarr", version="4.0.5.1710", name="Sonarr 4K") as old, api(old) as client:
        status = client.get("/api/v3/system/status").json()
        assert (status["version"], status["instanceName"]) == ("4.0.5.1710", "Sonarr 4K")
        assert client.get("/api").json() == {"current": "v3", "deprecated": []}
    assert sonarr.violations == radarr.violations == old.violations == []


# -- queue shape ---------------------------------------------------------------------------------------
def test_sonarr_queue_has_one_record_per_episode_with_upper_case_download_id(
    sonarr: ArrSimulator, states: StateFactory
) -> None:
    pack = states.seeding("Show.S01.1080p.WEB-GRP", category=TV, multi_file=True)
    sonarr.grab_episodes(pack, "Show.S01.1080p.WEB-GRP", series_id=7, season=1, episode_ids=[101, 102, 103])
    with api(sonarr) as client:
        page = queue(client)
    records = page["records"]
    assert page["totalRecords"] == 3 and len(records) == 3
    assert {r["downloadId"] for r in records} == {pack.upper()}
    assert sorted(r["episodeId"] for r in records) == [101, 102, 103]
    for rec in records:
        assert rec["id"] == expected_id(f"trackedDownload-1-{pack.upper()}-ep{rec['episodeId']}")
        assert rec["id"] == sonarr.queue_id(pack, rec["episodeId"])
        assert (rec["seriesId"], rec["seasonNumber"]) == (7, 1)
        assert (rec["status"], rec["trackedDownloadStatus"], rec["trackedDownloadState"]) == (
            "completed",
            "ok",
            "importPending",
        )
        assert rec["timeleft"] == "00:00:00" and rec["sizeleft"] == 0  # lower-case "l"
        assert "sizeLeft" not in rec and "timeLeft" not in rec
        assert "errorMessage" not in rec  # nulls are omitted, not sent as null
        assert rec["protocol"] == "torrent" and rec["downloadClient"] == "qBittorrent"
        assert rec["indexer"] == "SimIndexer" and "added" in rec
    assert len({r["id"] for r in records}) == 3
    # the simulator polls qBittorrent like the app does: torrents/info restricted to its category
    polls = [c for c in sonarr.qbt_calls if c.path == "/api/v2/torrents/info"]
    assert polls and all(c.params == {"category": TV} for c in polls)
    assert sonarr.violations == []


def test_radarr_queue_has_one_record_per_download(radarr: ArrSimulator, states: StateFactory) -> None:
    movie = states.stalled("Movie.2021.1080p-GRP", category=MOVIES)
    radarr.grab_movie(movie, "Movie.2021.1080p-GRP", movie_id=42, indexer="Tracker1")
    with api(radarr) as client:
        records = queue(client)["records"]
    assert len(records) == 1
    rec = records[0]
    assert rec["id"] == expected_id(f"trackedDownload-1-{movie.upper()}") == radarr.queue_id(movie)
    assert (rec["movieId"], rec["downloadId"], rec["indexer"]) == (42, movie.upper(), "Tracker1")
    assert "episodeId" not in rec and "seriesId" not in rec
    assert radarr.violations == []


def test_queue_status_follows_the_real_qbittorrent_state(sonarr: ArrSimulator, states: StateFactory) -> None:
    made = {
        "stalled": states.stalled("S.S01E01", category=TV),
        "error": states.error_notadir("S.S01E02", category=TV),
        "missing": states.missing_files("S.S01E03", category=TV),
        "metadl": states.metadl("S.S01E04", category=TV),
        "paused": states.paused("S.S01E05", category=TV),
        "seeding": states.seeding("S.S01E06", category=TV),
    }
    for n, info_hash in enumerate(made.values(), start=1):
        sonarr.grab_episodes(info_hash, f"S.S01E0{n}", series_id=1, season=1, episode_ids=[n])
    with api(sonarr) as client:
        by_hash = {r["downloadId"]: r for r in queue(client)["records"]}
    got = {k: by_hash[h.upper()] for k, h in made.items()}
    assert (got["stalled"]["status"], got["stalled"]["errorMessage"]) == (
        "warning",
        "The download is stalled with no connections",
    )
    assert (got["error"]["status"], got["error"]["errorMessage"]) == ("warning", "qBittorrent is reporting an error")
    assert (got["missing"]["status"], got["missing"]["errorMessage"]) == (
        "warning",
        "qBittorrent is reporting missing files",
    )
    # the harness runs qBittorrent with DHT off (read from app/preferences `dht`)
    assert (got["metadl"]["status"], got["metadl"]["errorMessage"]) == (
        "warning",
        "qBittorrent cannot resolve magnet link with DHT disabled",
    )
    assert got["paused"]["status"] == "paused" and "errorMessage" not in got["paused"]
    assert got["seeding"]["status"] == "completed" and got["seeding"]["timeleft"] == "00:00:00"
    assert "timeleft" not in got["stalled"]  # qBittorrent's eta 8640000 means unknown: omitted
    for key in ("stalled", "error", "missing", "metadl", "paused"):
        assert (got[key]["trackedDownloadStatus"], got[key]["trackedDownloadState"]) == ("ok", "downloading")
    assert sonarr.violations == []


def test_metadl_is_queued_when_dht_is_on(sonarr: ArrSimulator, states: StateFactory, qbt: QBittorrent) -> None:
    magnet = states.metadl("Dht.S01E01", category=TV)
    sonarr.grab_episodes(magnet, "Dht.S01E01", series_id=1, season=1, episode_ids=[1])
    qbt.post("app/setPreferences", {"json": json.dumps({"dht": True})})
    try:
        with api(sonarr) as client:
            rec = queue(client)["records"][0]
        assert (rec["status"], rec["errorMessage"]) == ("queued", "qBittorrent is downloading metadata")
    finally:
        qbt.post("app/setPreferences", {"json": json.dumps({"dht": False})})
    assert sonarr.violations == []


@pytest.mark.parametrize(
    ("kind", "version", "expected"),
    [
        ("sonarr", "4.0.9.2244", "Warning"),
        ("sonarr", "4.0.10.2624", "warning"),
        ("radarr", "5.14.0.9383", "Warning"),
        ("radarr", "5.15.1.9463", "warning"),
    ],
)
def test_status_casing_depends_on_the_version(
    qbt: QBittorrent, states: StateFactory, kind: str, version: str, expected: str
) -> None:
    info_hash = states.stalled("Casing.S01E01", category=TV if kind == "sonarr" else MOVIES)
    off_spec = "the status filter is sent to a version whose spec lacks it" if expected == "Warning" else ""
    with simulator(qbt, kind, version=version, off_spec=off_spec) as sim, api(sim) as client:
        if kind == "sonarr":
            sim.grab_episodes(info_hash, "Casing.S01E01", series_id=1, season=1, episode_ids=[1])
        else:
            sim.grab_movie(info_hash, "Casing.2020", movie_id=1)
        assert queue(client)["records"][0]["status"] == expected
        assert sim.violations == []  # the response validator accepts the old string status too
        filtered = client.get("/api/v3/queue", params={"status": "warning"})
        if expected == "Warning":  # the `status` filter came with the camelCase enum
            assert filtered.status_code == 400
            assert len(sim.violations) == 1 and "'status' is not declared" in sim.violations[0]
        else:
            assert filtered.status_code == 200 and filtered.json()["totalRecords"] == 1
            assert client.get("/api/v3/queue", params={"status": "paused"}).json()["totalRecords"] == 0
            assert sim.violations == []


def test_unknown_items_are_hidden_unless_asked_for(sonarr: ArrSimulator, states: StateFactory) -> None:
    grabbed = states.stalled("Known.S01E01", category=TV)
    manual = states.stalled("Manual.S01E01", category=TV)  # in the category, not grabbed by the app
    states.stalled("Elsewhere.S01E01", category="other")  # another category: never seen
    sonarr.grab_episodes(grabbed, "Known.S01E01", series_id=3, season=1, episode_ids=[31])
    with api(sonarr) as client:
        assert [r["downloadId"] for r in queue(client)["records"]] == [grabbed.upper()]
        records = queue(client, includeUnknownSeriesItems="true")["records"]
    assert sorted(r["downloadId"] for r in records) == sorted([grabbed.upper(), manual.upper()])
    unknown = next(r for r in records if r["downloadId"] == manual.upper())
    assert unknown["id"] == expected_id(f"trackedDownload-1-{manual.upper()}-ep0")
    assert not {"seriesId", "episodeId", "seasonNumber", "added", "indexer"} & unknown.keys()
    assert unknown["languages"] == [{"id": 0, "name": "Unknown"}]
    assert sonarr.violations == []


def test_queue_paging_pitfalls(sonarr: ArrSimulator, states: StateFactory) -> None:
    pack = states.stalled("Big.S02.720p", category=TV)
    sonarr.grab_episodes(pack, "Big.S02.720p", series_id=9, season=2, episode_ids=list(range(201, 226)))  # 25
    with api(sonarr) as client:
        default = client.get("/api/v3/queue").json()
        assert (default["page"], default["pageSize"], default["totalRecords"]) == (1, 10, 25)
        assert (default["sortKey"], default["sortDirection"]) == ("timeleft", "descending")
        assert len(default["records"]) == 10
        assert len(client.get("/api/v3/queue", params={"page": 3}).json()["records"]) == 5
        page2 = client.get("/api/v3/queue", params={"page": 2}).json()
        # past the end: page = max(totalRecords / pageSize (integer division), 1) = 2, NOT the last page 3
        past = client.get("/api/v3/queue", params={"page": 99}).json()
        assert past["page"] == 2 and past["records"] == page2["records"] and past["records"]
        single = client.get("/api/v3/queue", params={"page": 7, "pageSize": 25}).json()
        assert single["page"] == 1 and len(single["records"]) == 25
        assert queue(client)["totalRecords"] == len(queue(client)["records"]) == 25
        explicit = client.get("/api/v3/queue", params={"sortKey": "nonsense", "sortDirection": "default"}).json()
        assert (explicit["sortKey"], explicit["sortDirection"]) == ("timeleft", "ascending")
        assert client.get("/api/v3/queue", params={"protocol": "usenet"}).json()["totalRecords"] == 0
        assert client.get("/api/v3/queue", params={"protocol": "torrent"}).json()["totalRecords"] == 25
        assert client.get("/api/v3/queue", params={"seriesIds": [8, 9]}).json()["totalRecords"] == 25
        assert client.get("/api/v3/queue", params={"seriesIds": 8}).json()["totalRecords"] == 0
    assert sonarr.violations == []


# -- validation ----------------------------------------------------------------------------------------
@pytest.mark.spec_violations(
    reason="it sends each kind of off-spec request and checks the simulator refuses and records it"
)
def test_requests_that_the_spec_does_not_allow_are_rejected_and_recorded(sonarr: ArrSimulator) -> None:
    bad: list[tuple[str, str, dict[str, Any], Any, int, str]] = [
        ("GET", "/api/v3/queue", {"pagesize": "100"}, None, 400, "'pagesize' is not declared"),
        ("GET", "/api/v3/queue", {"includeUnknownMovieItems": "true"}, None, 400, "not declared"),
        ("GET", "/api/v3/queue", {"page": "abc"}, None, 400, "page"),
        ("GET", "/api/v3/queue", {"pageSize": "1_000"}, None, 400, "not an integer"),
        ("GET", "/api/v3/queue", {"includeUnknownSeriesItems": "yes"}, None, 400, "not a boolean"),
        ("GET", "/api/v3/queue", {"sortDirection": "Descending"}, None, 400, "sortDirection"),
        ("GET", "/api/v3/queue", {"page": ["1", "2"]}, None, 400, "given 2 times"),
        ("DELETE", "/api/v3/queue/abc", {}, None, 400, "id"),
        ("DELETE", "/api/v3/queue/1", {"blacklist": "true"}, None, 400, "'blacklist' is not declared"),
        ("DELETE", "/api/v3/queue/bulk", {}, {"ids": ["a"]}, 400, "is not of type 'integer'"),
        ("DELETE", "/api/v3/queue/bulk", {}, {"queueIds": [1]}, 400, "Additional properties"),
        ("DELETE", "/api/v3/queue/bulk", {}, None, 400, "none was sent"),
        ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeIds": "1"}, 400, "episodeIds"),
        ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeId": [1]}, 400, "'episodeId' was"),
        ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "seriesId": 1}, 400, "not properties"),
        ("POST", "/api/v3/queue", {}, None, 405, "method not in the spec"),
        ("GET", "/api/v3/queues", {}, None, 404, "path is not in the sonarr v3 spec"),
    ]
    with api(sonarr) as client:
        for method, path, params, body, status, fragment in bad:
            before = len(sonarr.violations)
            kwargs: dict[str, Any] = {"params": params}
            if body is not None:
                kwargs["json"] = body
            response = client.request(method, path, **kwargs)
            assert response.status_code == status, (method, path, params, body, response.text)
            new = sonarr.violations[before:]
            assert len(new) >= 1 and any(fragment in v for v in new), (fragment, new)
        # valid requests add nothing
        before = len(sonarr.violations)
        assert client.get("/api/v3/queue", params={"page": 1, "includeUnknownSeriesItems": "True"}).status_code == 200
        text_body = client.post(
            "/api/v3/command",
            content=b'{"name":"RssSync"}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert text_body.status_code == 201
        assert len(sonarr.violations) == before
    assert len(sonarr.calls()) == len(bad) + 2
    assert sonarr.calls("POST", "/api/v3/command")[-1].json == {"name": "RssSync"}
    assert all(r.status == 400 for r in sonarr.calls("DELETE", "/api/v3/queue/bulk"))


def test_spec_quirks_that_the_simulator_patches() -> None:
    # 1. "/" declares a path parameter its template lacks: the raw spec does not even load.
    with pytest.raises(Exception, match="path"):
        OpenAPI.from_dict(raw_spec("sonarr"))
    # 2. The command's own properties are missing from CommandResource (additionalProperties: false).
    assert "episodeIds" not in raw_spec("sonarr")["components"]["schemas"]["CommandResource"]["properties"]
    variant = SpecVariant("sonarr", legacy_status=False, change_category=True)
    assert "episodeIds" in patched_spec(variant)["components"]["schemas"]["CommandResource"]["properties"]
    # 3. POST /command is documented as 200 only although the apps answer 201.
    assert list(raw_spec("radarr")["paths"]["/api/v3/command"]["post"]["responses"]) == ["200"]


def test_response_validation_catches_off_spec_data() -> None:
    variant = SpecVariant("sonarr", legacy_status=False, change_category=True)
    request = OpenAPIRequest(
        host_url="http://127.0.0.1:8989",
        method="GET",
        path="/api/v3/queue",
        query=[],
        headers=[("X-Api-Key", "x")],
        body=b"",
        content_type="",
    )
    assert validate_request(variant, request).errors == []

    def check(record: dict[str, Any]) -> list[str]:
        page = {"page": 1, "pageSize": 10, "sortKey": "timeleft", "sortDirection": "descending"}
        data = json.dumps({**page, "totalRecords": 1, "records": [record]}).encode()
        return validate_response(variant, request, 200, data, "application/json")

    assert check({"id": 1, "status": "warning", "timeleft": "1.02:03:04", "sizeleft": 0}) == []
    assert check({"id": 1, "status": "Warning"}) != []  # PascalCase is not the current enum
    assert check({"id": 1, "timeleft": "5 minutes"}) != []  # not a .NET TimeSpan
    assert check({"id": 1, "seriesId": None, "episodeHasFile": None}) != []  # only nullable fields may be null
    assert check({"id": 1, "sizeLeft": 0}) != []  # v5 spelling is not a v3 property
    legacy = SpecVariant("sonarr", legacy_status=True, change_category=True)
    data = json.dumps({"page": 1, "totalRecords": 1, "records": [{"id": 1, "status": "Warning"}]}).encode()
    assert validate_response(legacy, request, 200, data, "application/json") == []


# -- commands ------------------------------------------------------------------------------------------
@pytest.mark.spec_violations(reason="it posts a command the spec does not name, to check the simulator refuses it")
def test_command_is_created_merged_and_looked_up(sonarr: ArrSimulator) -> None:
    with api(sonarr) as client:
        first = client.post("/api/v3/command", json={"name": "episodesearch", "episodeIds": [1, 2]})
        assert first.status_code == 201
        cmd = first.json()
        assert first.headers["Location"].endswith(f"/api/v3/command/{cmd['id']}")
        assert (cmd["name"], cmd["commandName"], cmd["status"], cmd["trigger"]) == (
            "EpisodeSearch",
            "Episode Search",
            "queued",
            "manual",
        )
        assert cmd["body"]["episodeIds"] == [1, 2] and "message" not in cmd
        # identical (lists compared as sets) and still queued: merged into the same command
        again = client.post("/api/v3/command", json={"name": "EpisodeSearch", "episodeIds": [2, 1]})
        assert again.status_code == 201 and again.json()["id"] == cmd["id"]
        other = client.post("/api/v3/command", json={"name": "EpisodeSearch", "episodeIds": [3]}).json()
        assert other["id"] != cmd["id"]
        assert client.get(f"/api/v3/command/{cmd['id']}").json()["id"] == cmd["id"]
        assert {c["id"] for c in client.get("/api/v3/command").json()} == {cmd["id"], other["id"]}
        assert client.get("/api/v3/command/999999").status_code == 404
        unknown = client.post("/api/v3/command", json={"name": "FindMeSomething"})
        assert unknown.status_code == 500
        sonarr.finish_commands()
        done = client.get(f"/api/v3/command/{cmd['id']}").json()
        assert (done["status"], done["result"]) == ("completed", "successful")
        assert done["message"] == "Episode search completed. 0 reports downloaded."
        assert "ended" in done and "duration" in done
        fresh = client.post("/api/v3/command", json={"name": "EpisodeSearch", "episodeIds": [1, 2]}).json()
        assert fresh["id"] not in (cmd["id"], other["id"])
    assert len(sonarr.violations) == 1 and "FindMeSomething" in sonarr.violations[0]


def test_radarr_movies_search_message_and_immediate_completion(qbt: QBittorrent) -> None:
    with simulator(qbt, "radarr", command_duration=0) as radarr, api(radarr) as client:
        cmd = client.post("/api/v3/command", json={"name": "MoviesSearch", "movieIds": [42]})
        assert cmd.status_code == 201
        assert cmd.json()["status"] == "completed"
        assert cmd.json()["message"] == "Completed search for 1 movies. 0 reports downloaded."
        assert radarr.violations == []


# -- removing downloads ------------------------------------------------------------------------------
def test_remove_from_client_really_deletes_torrent_and_data(
    sonarr: ArrSimulator, states: StateFactory, qbt: QBittorrent
) -> None:
    info_hash = states.seeding("Gone.S01E01.720p", category=TV, multi_file=True)
    data_dir = states.save_paths[info_hash] / states.torrents[info_hash].name
    assert data_dir.exists()
    sonarr.grab_episodes(info_hash, "Gone.S01E01.720p", series_id=4, season=1, episode_ids=[41])
    with api(sonarr) as client:
        queue_id = queue(client)["records"][0]["id"]
        response = client.delete(f"/api/v3/queue/{queue_id}")  # removeFromClient defaults to true
        assert (response.status_code, response.content) == (200, b"")
        assert queue(client)["totalRecords"] == 0
        assert client.delete(f"/api/v3/queue/{queue_id}").status_code == 404  # no longer in the queue
    deletes = [c for c in sonarr.qbt_calls if c.path == "/api/v2/torrents/delete"]
    assert [c.params for c in deletes] == [{"hashes": info_hash.lower(), "deleteFiles": "true"}]
    wait_gone(qbt, info_hash)
    deadline = time.monotonic() + 10
    while data_dir.exists():
        assert time.monotonic() < deadline, "qBittorrent kept the data although deleteFiles=true"
        time.sleep(0.05)
    assert sonarr.blocklist == [] and sonarr.commands == []  # blocklist defaults to false
    assert [c.method for c in sonarr.mutating_calls()] == ["DELETE", "DELETE"]
    assert sonarr.violations == []


def test_blocklisting_one_episode_of_a_pack_fails_the_whole_download(
    sonarr: ArrSimulator, states: StateFactory, qbt: QBittorrent
) -> None:
    pack = states.stalled("Pack.S03.1080p-GRP", category=TV)
    sonarr.grab_episodes(pack, "Pack.S03.1080p-GRP", series_id=5, season=3, episode_ids=[301, 302, 303])
    with api(sonarr) as client:
        ids = [r["id"] for r in queue(client)["records"]]
        assert len(ids) == 3
        response = client.delete(f"/api/v3/queue/{ids[1]}", params={"removeFromClient": "false", "blocklist": "true"})
        assert response.status_code == 200
        assert queue(client)["totalRecords"] == 0  # every record of the download is gone ...
        assert qbt.info([pack])  # ... although the torrent is still in qBittorrent
        blocklist = client.get("/api/v3/blocklist").json()
    assert blocklist["totalRecords"] == 1
    row = blocklist["records"][0]
    assert (row["seriesId"], row["episodeIds"], row["sourceTitle"]) == (5, [301, 302, 303], "Pack.S03.1080p-GRP")
    assert (row["protocol"], row["indexer"], row["message"]) == ("torrent", "SimIndexer", "Manually marked as failed")
    failed = [h for h in sonarr.history if h["eventType"] == "downloadFailed"]
    assert sorted(h["episodeId"] for h in failed) == [301, 302, 303]
    assert {h["downloadId"] for h in failed} == {pack.upper()}
    # all known episodes of the season failed: the app's own re-search is a SeasonSearch
    (search,) = sonarr.commands
    assert (search["name"], search["trigger"]) == ("SeasonSearch", "unspecified")
    assert (search["body"]["seriesId"], search["body"]["seasonNumber"]) == (5, 3)
    assert not [c for c in sonarr.qbt_calls if c.path == "/api/v2/torrents/delete"]
    with api(sonarr) as client:
        history = client.get("/api/v3/history", params={"eventType": 4, "pageSize": 50}).json()
    assert history["totalRecords"] == 3
    assert sonarr.violations == []


def test_automatic_research_unless_skip_redownload(
    qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, states: StateFactory
) -> None:
    one = states.stalled("One.S01E01", category=TV)
    two = states.stalled("Two.S01E01", category=TV)
    partial = states.stalled("Part.S01E01E02", category=TV)
    movie = states.stalled("Film.2020", category=MOVIES)
    sonarr.grab_episodes(one, "One.S01E01", series_id=1, season=1, episode_ids=[11])
    sonarr.grab_episodes(two, "Two.S01E01", series_id=2, season=1, episode_ids=[21])
    sonarr.set_season_episodes(3, 1, range(31, 41))
    sonarr.grab_episodes(partial, "Part.S01E01E02", series_id=3, season=1, episode_ids=[31, 32])
    radarr.grab_movie(movie, "Film.2020", movie_id=77)
    flags = {"removeFromClient": "false", "blocklist": "true"}
    with api(sonarr) as client:
        assert client.delete(f"/api/v3/queue/{sonarr.queue_id(one, 11)}", params=flags).status_code == 200
        skip = {**flags, "skipRedownload": "true"}
        assert client.delete(f"/api/v3/queue/{sonarr.queue_id(two, 21)}", params=skip).status_code == 200
        assert client.delete(f"/api/v3/queue/{sonarr.queue_id(partial, 32)}", params=flags).status_code == 200
        assert client.get("/api/v3/config/downloadclient").json()["autoRedownloadFailed"] is True
    searches = [(c["name"], c["body"].get("episodeIds"), c["trigger"]) for c in sonarr.commands]
    assert searches == [("EpisodeSearch", [11], "unspecified"), ("EpisodeSearch", [31, 32], "unspecified")]
    assert len(sonarr.blocklist) == 3  # skipRedownload still blocklists
    with api(radarr) as client:
        assert client.delete(f"/api/v3/queue/{radarr.queue_id(movie)}", params=flags).status_code == 200
    assert [(c["name"], c["body"]["movieIds"]) for c in radarr.commands] == [("MoviesSearch", [77])]
    assert radarr.blocklist[0]["movieId"] == 77

    again = states.stalled("Again.S01E01", category=TV)
    with simulator(qbt, "sonarr", auto_redownload_failed=False) as quiet, api(quiet) as client:
        quiet.grab_episodes(again, "Again.S01E01", series_id=1, season=1, episode_ids=[12])
        assert client.get("/api/v3/config/downloadclient").json()["autoRedownloadFailed"] is False
        assert client.delete(f"/api/v3/queue/{quiet.queue_id(again, 12)}", params=flags).status_code == 200
        assert len(quiet.blocklist) == 1 and quiet.commands == []
        assert quiet.violations == []
    assert sonarr.violations == radarr.violations == []


def test_blocklist_needs_a_grab_and_all_false_flags_ignore(sonarr: ArrSimulator, states: StateFactory) -> None:
    manual = states.stalled("Manual.S01E01", category=TV)
    grabbed = states.stalled("Grabbed.S01E01", category=TV)
    sonarr.grab_episodes(grabbed, "Grabbed.S01E01", series_id=1, season=1, episode_ids=[5])
    flags = {"removeFromClient": "false", "blocklist": "true"}
    with api(sonarr) as client:
        manual_id = sonarr.queue_id(manual)
        assert client.delete(f"/api/v3/queue/{manual_id}", params=flags).status_code == 200
        # not grabbed by the app: no blocklist row, no search, and it is back at the next refresh
        assert sonarr.blocklist == [] and sonarr.commands == []
        unknown = queue(client, includeUnknownSeriesItems="true")["records"]
        assert manual.upper() in {r["downloadId"] for r in unknown}
        # all three flags false: the grabbed download is ignored (hidden, torrent untouched)
        response = client.delete(f"/api/v3/queue/{sonarr.queue_id(grabbed, 5)}", params={"removeFromClient": "false"})
        assert response.status_code == 200
        assert grabbed.upper() not in {r["downloadId"] for r in queue(client)["records"]}
    assert [h["eventType"] for h in sonarr.history] == ["grabbed", "downloadIgnored"]
    assert sonarr.blocklist == [] and sonarr.qbt_calls and sonarr.violations == []


def test_bulk_delete_is_all_or_nothing_and_dedups_by_download(
    sonarr: ArrSimulator, states: StateFactory, qbt: QBittorrent
) -> None:
    pack = states.stalled("Bulk.S01.720p", category=TV)
    single = states.stalled("Bulk.S02E01.720p", category=TV)
    sonarr.grab_episodes(pack, "Bulk.S01.720p", series_id=6, season=1, episode_ids=[61, 62])
    sonarr.grab_episodes(single, "Bulk.S02E01.720p", series_id=6, season=2, episode_ids=[71])
    ids = [sonarr.queue_id(pack, 61), sonarr.queue_id(pack, 62), sonarr.queue_id(single, 71)]
    with api(sonarr) as client:
        stale = client.request("DELETE", "/api/v3/queue/bulk", json={"ids": [ids[0], 12345]})
        assert stale.status_code == 404
        assert queue(client)["totalRecords"] == 3  # nothing happened
        assert not [c for c in sonarr.qbt_calls if c.path == "/api/v2/torrents/delete"]
        response = client.request(
            "DELETE", "/api/v3/queue/bulk", params={"blocklist": "true", "skipRedownload": "true"}, json={"ids": ids}
        )
        assert (response.status_code, response.json()) == (200, {})
        assert queue(client)["totalRecords"] == 0
    deletes = [c.params["hashes"] for c in sonarr.qbt_calls if c.path == "/api/v2/torrents/delete"]
    assert sorted(deletes) == sorted([pack.lower(), single.lower()])  # once per download
    assert len(sonarr.blocklist) == 2 and sonarr.commands == []
    wait_gone(qbt, pack)
    wait_gone(qbt, single)
    assert sonarr.violations == []


def test_blocklist_listing_and_deletion(sonarr: ArrSimulator, states: StateFactory) -> None:
    hashes = [states.stalled(f"Block.S01E0{n}", category=TV) for n in (1, 2, 3)]
    for n, info_hash in enumerate(hashes, start=1):
        sonarr.grab_episodes(info_hash, f"Block.S01E0{n}", series_id=1, season=1, episode_ids=[n])
    with api(sonarr) as client:
        bulk = {"ids": [sonarr.queue_id(h, n) for n, h in enumerate(hashes, start=1)]}
        params = {"removeFromClient": "false", "blocklist": "true", "skipRedownload": "true"}
        assert client.request("DELETE", "/api/v3/queue/bulk", params=params, json=bulk).status_code == 200
        listing = client.get("/api/v3/blocklist").json()
        assert (listing["sortKey"], listing["sortDirection"], listing["totalRecords"]) == ("date", "descending", 3)
        ids = [r["id"] for r in listing["records"]]
        assert ids == sorted(ids, reverse=True)  # same second: newest id first
        # database paging: a page past the end is simply empty (unlike the queue)
        assert client.get("/api/v3/blocklist", params={"page": 5}).json()["records"] == []
        by_title = client.get("/api/v3/blocklist", params={"sortKey": "sourceTitle", "sortDirection": "ascending"})
        assert by_title.json()["records"][0]["sourceTitle"] == "Block.S01E01"
        assert client.delete(f"/api/v3/blocklist/{ids[0]}").status_code == 200
        # BlocklistService.Delete(id) is "DELETE ... WHERE Id = id": an unknown id is not an error
        assert client.delete("/api/v3/blocklist/987654").status_code == 200
        assert client.get("/api/v3/blocklist").json()["totalRecords"] == 2
        response = client.request("DELETE", "/api/v3/blocklist/bulk", json={"ids": ids[1:]})
        assert (response.status_code, response.json()) == (200, {})
        assert client.get("/api/v3/blocklist").json()["totalRecords"] == 0
    assert sonarr.blocklist == [] and sonarr.violations == []


# -- download client, health -------------------------------------------------------------------------
def test_download_client_and_health(sonarr: ArrSimulator, states: StateFactory, qbt: QBittorrent) -> None:
    info_hash = states.stalled("Health.S01E01", category=TV)
    sonarr.grab_episodes(info_hash, "Health.S01E01", series_id=1, season=1, episode_ids=[1])
    with api(sonarr) as client:
        (dc,) = client.get("/api/v3/downloadclient").json()
        fields = {f["name"]: f.get("value") for f in dc["fields"]}
        assert (dc["name"], dc["implementation"], dc["protocol"]) == ("qBittorrent", "QBittorrent", "torrent")
        assert (fields["host"], fields["port"], fields["useSsl"]) == ("127.0.0.1", qbt.port, False)
        assert (fields["username"], fields["password"], fields["tvCategory"]) == (qbt.username, "********", TV)
        assert "urlBase" in fields and fields["urlBase"] is None
        assert client.get("/api/v3/health").json() == []
        sonarr.set_download_client_unavailable(True)
        (check,) = client.get("/api/v3/health").json()
        assert (check["source"], check["type"]) == ("DownloadClientCheck", "error")
        assert check["message"].startswith("Unable to communicate with qBittorrent")
        assert queue(client)["totalRecords"] == 0  # the refresh yields nothing for the client
        assert client.delete(f"/api/v3/queue/{sonarr.queue_id(info_hash, 1)}").status_code == 404
        sonarr.set_download_client_unavailable(False)
        assert queue(client)["totalRecords"] == 1 and client.get("/api/v3/health").json() == []
    assert qbt.info([info_hash])
    assert sonarr.violations == []


def test_old_radarr_has_no_change_category_flag(qbt: QBittorrent, states: StateFactory) -> None:
    movie = states.stalled("Old.Movie.2019", category=MOVIES)
    with (
        simulator(qbt, "radarr", version="5.2.6.8376", off_spec="changeCategory sent where it is not") as old,
        api(old) as client,
    ):
        old.grab_movie(movie, "Old.Movie.2019", movie_id=5)
        record = queue(client)["records"][0]
        assert "added" not in record and "downloadClientHasPostImportCategory" not in record
        response = client.delete(f"/api/v3/queue/{record['id']}", params={"changeCategory": "true"})
        assert response.status_code == 400 and "changeCategory" in old.violations[0]
        assert queue(client)["totalRecords"] == 1
    with pytest.raises(ValueError):  # before 4.7.2 DELETE /queue ignores skipRedownload: not modelled
        ArrSimulator("radarr", qbt_url=qbt.url, qbt_username="u", qbt_password="p", category=None, version="4.7.1.7640")


def test_radarr_4_7_reads_paging_by_hand_refuses_an_unknown_sort_key_and_has_no_queue_filters(
    qbt: QBittorrent, states: StateFactory
) -> None:
    """Radarr v4.7.5 (its own spec): page/pageSize/sortKey read from the query although undeclared, 400 for a sort
    key it does not know (`added` came in v5), `movieIds` unknown (v5.1.1), PascalCase statuses, no `added` field,
    skipRedownload taken on DELETE."""
    movie = states.stalled("Four.Movie.2019", category=MOVIES)
    with (
        simulator(qbt, "radarr", version="4.7.5.7809", off_spec="movieIds sent to check v4 refuses it") as v4,
        api(v4) as client,
    ):
        assert v4.flavour.key == "radarr-v4"
        v4.grab_movie(movie, "Four.Movie.2019", movie_id=4)
        page = queue(client, page=1, sortKey="timeleft", sortDirection="ascending", includeUnknownMovieItems="false")
        [record] = page["records"]
        assert page["pageSize"] == 1000 and record["status"][0].isupper() and "added" not in record
        assert v4.violations == []
        refused = client.get("/api/v3/queue", params={"sortKey": "added"})
        assert refused.status_code == 400 and "Invalid sort key added" in refused.text
        assert client.get("/api/v3/queue", params={"movieIds": 4}).status_code == 400
        assert "movieIds" in v4.violations[-1]
        response = client.delete(
            f"/api/v3/queue/{record['id']}",
            params={"removeFromClient": "false", "blocklist": "false", "skipRedownload": "true"},
        )
        assert response.status_code == 200 and queue(client)["totalRecords"] == 0


def test_change_category_moves_the_torrent_out_of_the_queue(
    qbt: QBittorrent, states: StateFactory, sonarr: ArrSimulator
) -> None:
    info_hash = states.seeding("Done.S01E01", category=TV)
    qbt.ensure_category("tv-imported")
    with simulator(qbt, "sonarr", post_import_category="tv-imported") as sim, api(sim) as client:
        sim.grab_episodes(info_hash, "Done.S01E01", series_id=1, season=1, episode_ids=[1])
        assert queue(client)["records"][0]["downloadClientHasPostImportCategory"] is True
        params = {"removeFromClient": "false", "changeCategory": "true"}
        assert client.delete(f"/api/v3/queue/{sim.queue_id(info_hash, 1)}", params=params).status_code == 200
        assert qbt.torrent(info_hash)["category"] == "tv-imported"
        assert queue(client)["totalRecords"] == 0 and sim.blocklist == []
        assert sim.violations == []
    # the plain sonarr fixture has no post-import category: changeCategory changes nothing in qBittorrent
    other = states.seeding("Done.S01E02", category=TV)
    sonarr.grab_episodes(other, "Done.S01E02", series_id=1, season=1, episode_ids=[2])
    with api(sonarr) as client:
        params = {"removeFromClient": "false", "changeCategory": "true"}
        assert client.delete(f"/api/v3/queue/{sonarr.queue_id(other, 2)}", params=params).status_code == 200
        assert qbt.torrent(other)["category"] == TV
        assert queue(client)["totalRecords"] == 1  # it simply comes back at the next refresh
    assert sonarr.violations == []


@pytest.mark.parametrize(
    ("kind", "version", "api", "records", "item_field", "suffix", "status"),
    [
        ("sonarr", "5.0.0.1234", "/api/v5", 1, "episodeIds", "", "warning"),  # one record per download
        ("lidarr", "2.14.5.4836", "/api/v1", 2, "albumId", "-album{}", "Warning"),  # per album, PascalCase
        ("readarr", "0.3.21.2475", "/api/v1", 2, "bookId", "-book{}", "Warning"),
        ("whisparr", "2.0.0.819", "/api/v3", 2, "episodeId", "-ep{}", "Warning"),  # Sonarr-based
        ("whisparr", "3.0.0.1000", "/api/v3", 1, "movieId", "", "Warning"),  # Radarr-based
    ],
)
def test_other_apps_list_a_grab_as_they_do(
    qbt: QBittorrent,
    states: StateFactory,
    kind: str,
    version: str,
    api: str,
    records: int,
    item_field: str,
    suffix: str,
    status: str,
) -> None:
    info_hash = states.stalled(f"Flavour.{kind}.{version}", category="flavour")
    with simulator(qbt, kind, version=version, category="flavour") as sim, api_client(sim) as client:
        items = [7] if sim.flavour.shape == "movie" else [7, 8]
        parent = None if sim.flavour.shape == "movie" else 3
        sim.grab(info_hash, "Flavour", item_ids=items, parent_id=parent, season=1)
        status_doc = client.get("/api/v3/system/status" if kind == "sonarr" else f"{api}/system/status").json()
        assert status_doc["version"] == version  # Sonarr v5 still answers on the deprecated /api/v3
        unknown = sim.flavour.unknown_param
        page = client.get(f"{api}/queue", params={"pageSize": 100, unknown: "false"}).json()
        assert page["totalRecords"] == records
        for rec in page["records"]:
            assert rec["status"] == status and rec["downloadId"] == info_hash.upper()
            value = rec[item_field]
            ids = value if isinstance(value, list) else [value]
            assert rec["id"] == expected_id(
                f"trackedDownload-1-{info_hash.upper()}{suffix.format(ids[0])}"
                if suffix
                else f"trackedDownload-1-{info_hash.upper()}"
            )
        if kind == "sonarr":  # the v3 queue of a v5 build is not what a client should read
            assert client.get("/api/v3/queue").status_code == 501 and "not simulated" in sim.violations[-1]
            sim.violations.clear()
        assert sim.violations == []
