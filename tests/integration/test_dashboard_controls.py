"""The dashboard's actions change what the monitor does, through the JSON API of the real web server, on the real
qbittorrent-nox and the Sonarr simulator: a torrent protected from the dashboard is left alone, a paused monitor
changes nothing, a resumed one repairs, "run a cycle now" wakes the loop; and the API answers as its own OpenAPI
document says."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_schema_validator import OAS30Validator

from e2e import SONARR_CATEGORY, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.events import CycleFinished, Event
from qbittorrent_monitor.model import Verdict
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.web.app import WebServer
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Any]]
KEY = "controls-api-key-0123456789abcdef"


def check(openapi: dict[str, Any], path: str, method: str, response: httpx.Response) -> Any:
    """The answer matches the schema the OpenAPI document gives for it."""
    operation = openapi["paths"][path][method]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    schema = {**schema, "components": openapi["components"]}
    body = response.json()
    OAS30Validator(schema).validate(body)
    return body


def test_protect_pause_resume_and_run_now_from_the_api_are_honoured_by_the_next_cycle(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Controls.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Controls.Show.S01E01", series_id=8, season=1, episode_ids=[801])
    path, config = write_config(dashboard={"api_keys": [KEY]})
    monitor = Monitor(config)
    monitor.config_path = path
    web = WebServer(monitor, "127.0.0.1", 0)
    web.start()
    api = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", headers={"X-Api-Key": KEY}, timeout=30)
    try:
        openapi = api.get("/api/openapi.json").json()
        OpenAPI.from_dict(openapi)  # a valid OpenAPI 3 document (openapi-spec-validator)

        # Protected from the dashboard: left alone, and says why.
        assert api.post(f"/api/torrents/{dead}/protect").json()["ok"] is True
        [decision] = monitor.run_cycle().decisions
        assert decision.verdict is Verdict.PROTECTED and "protect" in decision.explanation
        assert dead in hashes(qbt) and sonarr.mutating_calls() == []
        [row] = check(openapi, "/api/torrents", "get", api.get("/api/torrents"))
        assert row["hash"] == dead and row["decision"] == "protected" and row["protected_from_dashboard"] is True
        api.post(f"/api/torrents/{dead}/unprotect")

        # Paused: the cycle decides and changes nothing.
        check(openapi, "/api/pause", "post", api.post("/api/pause"))
        [decision] = monitor.run_cycle().decisions
        assert decision.verdict is Verdict.DRY_RUN
        assert dead in hashes(qbt) and sonarr.mutating_calls() == []
        overview = check(openapi, "/api/overview", "get", api.get("/api/overview"))
        assert overview["cycles"]["paused"] is True
        # Every service's version says what it is, as the *arr apps' own status does ("Sonarr 4.0.19.2979").
        [q_service] = [x for x in overview["services"] if x["app"] == "qbittorrent"]
        assert q_service["version"] == f"qBittorrent {qbt.version}"

        # Resumed: repaired.
        check(openapi, "/api/resume", "post", api.post("/api/resume"))
        [decision] = monitor.run_cycle().decisions
        assert decision.verdict is Verdict.ACT and dead not in hashes(qbt)
        history = check(openapi, "/api/history", "get", api.get("/api/history", params={"action": "arr_remove"}))
        assert [r["type"] for r in history["rows"]] == ["arr_remove"] and history["rows"][0]["undoable"] is True
        assert api.get(f"/api/torrents/{dead}").json()["known"] is True
        settings = check(openapi, "/api/settings", "get", api.get("/api/settings"))
        assert {"key": "dashboard.api_keys", "value": ["********"], "source": "file"} in settings["settings"]

        # Run a cycle now: the loop, waiting an hour between cycles, runs one at once.
        finished: list[float] = []

        def count(event: Event) -> None:
            if isinstance(event, CycleFinished):
                finished.append(time.monotonic())

        monitor.events.subscribe(count)
        loop = threading.Thread(target=monitor.run_forever, args=(3600,), daemon=True)
        loop.start()
        deadline = time.monotonic() + 30
        while not finished and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(finished) == 1
        asked = time.monotonic()
        check(openapi, "/api/cycle", "post", api.post("/api/cycle"))
        while len(finished) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(finished) == 2 and finished[1] - asked < 10
        monitor.stop_event.set()
        loop.join(timeout=20)
        assert not loop.is_alive()
    finally:
        monitor.stop_event.set()
        api.close()
        web.stop()
        monitor.close()
