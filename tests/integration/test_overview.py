"""The overview as a user reads it after a real cycle (the real qbittorrent-nox and the *arr simulators): every
service says how fast it answers, and the page reloads itself as often as `dashboard.refresh` says."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.web.app import WebServer
from qbittorrent_monitor.web.auth import hash_password

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Any]]
PASSWORD = "an overview password"
KEY = "overview-api-key-0123456789abcdef"
REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)">')


@contextmanager
def dashboard(write_config: WriteConfig, name: str, **settings: Any) -> Iterator[tuple[Monitor, httpx.Client]]:
    """The monitor's web server on that configuration, and a client logged in with the password."""
    _, config = write_config(name, dashboard={"password_hash": hash_password(PASSWORD), "api_keys": [KEY], **settings})
    monitor = Monitor(config)
    web = WebServer(monitor, "127.0.0.1", 0)
    web.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", timeout=30, trust_env=False)
    try:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert token is not None
        logged_in = client.post("/login", data={"password": PASSWORD, "csrf": token.group(1), "next": "/"})
        assert logged_in.status_code == 303
        yield monitor, client
    finally:
        client.close()
        web.stop()
        monitor.close()


def test_every_service_on_the_overview_says_its_latency_after_a_cycle(write_config: WriteConfig) -> None:
    """Before any request a service has no latency to show; after a cycle, qBittorrent, Sonarr and Radarr each show
    the median of their last requests in ms, the same number the API gives, and a loopback answer is well under
    the 10 s a request may take at most (so the number is a duration in ms, not in seconds or a timestamp)."""
    with dashboard(write_config, "latency.yaml") as (monitor, client):
        before = client.get("/").text
        assert " ms</span>" not in before  # nothing measured yet: nothing made up
        monitor.run_cycle()
        page = client.get("/")
        api = client.get("/api/overview", headers={"X-Api-Key": KEY}).json()
    latencies = {s["name"]: s["latency_ms"] for s in api["services"]}
    assert set(latencies) == {"qbittorrent", "sonarr", "radarr"}
    for name, ms in latencies.items():
        assert isinstance(ms, float) and 0 < ms < 10_000, (name, ms)
        line = re.search(rf"<strong>{name}</strong>\s*<span[^>]*>([^<]*)</span>", page.text)
        assert line is not None, page.text
        assert line.group(1).endswith(f" · {ms} ms"), line.group(1)


def test_the_overview_reloads_itself_as_often_as_dashboard_refresh_says(write_config: WriteConfig) -> None:
    """A meta refresh (no script: the CSP allows none): 30 s by default, the configured period, none for 0; the
    page says the period it uses."""
    for name, settings, expected in (
        ("default.yaml", {}, 30),
        ("seven.yaml", {"refresh": 7}, 7),
        ("never.yaml", {"refresh": 0}, None),
    ):
        with dashboard(write_config, name, **settings) as (_, client):
            page = client.get("/").text
        found = [int(x) for x in REFRESH.findall(page)]
        if expected is None:
            assert found == [] and "http-equiv" not in page, name
        else:
            assert found == [expected], name
            assert f"Refreshes every {expected} s" in page, name
