"""/health over the monitor's own state, served by its real web server (uvicorn on 127.0.0.1, a real httpx client).

A cycle's outcome is set as the loop leaves it (the last report, the services' health, the loop thread): what /health
answers then is the contract the container's HEALTHCHECK and Docker/Traefik rely on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from harness.states import closed_port
from qbittorrent_monitor.config import load_config
from qbittorrent_monitor.monitor import Monitor, ServiceHealth
from qbittorrent_monitor.record import CycleReport
from qbittorrent_monitor.web.app import WebServer

BUDGET = 120.0  # the default cycle budget


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Monitor, httpx.Client]]:
    path = tmp_path / "config.yaml"
    doc = {
        "monitor": {"data_dir": str(tmp_path / "data"), "check_interval": 300, "cycle_budget": BUDGET},
        "qbittorrent": [{"url": f"http://127.0.0.1:{closed_port()}"}],
    }
    path.write_text(yaml.safe_dump(doc))
    monitor = Monitor(load_config(path, env={}))
    web = WebServer(monitor, "127.0.0.1", 0)
    web.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", timeout=10)
    try:
        yield monitor, client
    finally:
        client.close()
        web.stop()
        monitor.close()


def cycle_finished(monitor: Monitor, took: float, *, ago: float = 1.0) -> None:
    """What the loop leaves after a cycle that took `took` seconds and read every service."""
    end = time.time() - ago
    monitor.last_report = CycleReport(started_at=end - took, finished_at=end)
    monitor.health = {"qbittorrent": ServiceHealth(True, "qBittorrent 5.3.0", end)}


def test_a_cycle_within_its_budget_is_healthy(served: tuple[Monitor, httpx.Client]) -> None:
    monitor, client = served
    cycle_finished(monitor, took=3)
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json()["status"] == "healthy", answer.text


def test_degraded_lasts_while_every_cycle_overruns_its_budget_not_only_while_one_runs(
    served: tuple[Monitor, httpx.Client],
) -> None:
    """Three cycles of 150 s against a budget of 120 s: /health must say degraded (503) during each cycle *and*
    between them, until a cycle finishes within the budget (then healthy, 200). Flipping to 200 between two
    overrunning cycles would hide a slow service from Docker's health check."""
    monitor, client = served
    answers = []
    for _ in range(3):
        monitor.cycle_started_at = time.time() - (BUDGET + 30)  # running, already over budget
        answers.append(client.get("/health"))
        monitor.cycle_started_at = None
        cycle_finished(monitor, took=BUDGET + 30)  # it finished, over budget; the next has not started
        answers.append(client.get("/health"))
    assert [(a.status_code, a.json()["status"]) for a in answers] == [(503, "degraded")] * 6
    assert "budget" in answers[-1].json()["problems"]["monitor"]
    assert answers[-1].json()["last_cycle"]["duration_s"] == BUDGET + 30
    cycle_finished(monitor, took=BUDGET - 30)
    back = client.get("/health")
    assert (back.status_code, back.json()["status"]) == (200, "healthy"), back.text


def test_a_dead_cycle_loop_makes_health_live_and_ready_fail(served: tuple[Monitor, httpx.Client]) -> None:
    """The loop thread ended (here: it returned, as after a stop) while the last cycle was fresh and every service
    answered: nothing is watched any more, so /health and /health/ready must not say 200 until the stale limit
    (2 x 5 min + budget + 1 min) runs out, and /health/live says stopped."""
    monitor, client = served
    cycle_finished(monitor, took=3)
    assert client.get("/health").status_code == 200
    monitor.stop_event.set()
    loop = threading.Thread(target=monitor.run_forever, args=(1.0,), name="loop")
    loop.start()
    loop.join(10)
    assert not loop.is_alive() and not monitor.loop_alive()
    answer = client.get("/health")
    assert (answer.status_code, answer.json()["status"]) == (503, "unhealthy"), answer.text
    assert "loop has stopped" in answer.json()["problems"]["monitor"]
    assert client.get("/health/ready").status_code == 503
    assert client.get("/health/live").status_code == 503


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout}s"
        time.sleep(0.05)


@pytest.mark.parametrize("failure", ["qbittorrent-down", "cycle-raises"])
def test_a_first_cycle_that_fails_ends_starting_with_a_503_at_once(
    served: tuple[Monitor, httpx.Client], failure: str
) -> None:
    """Before any cycle /health says `starting` (200: the container is given its start period). The real cycle loop
    then runs its first cycle, and it fails: either qBittorrent does not answer (nothing listens on its port), or the
    cycle itself raises (the state database is not a database). The moment that cycle ends, /health is 503
    `unhealthy` naming why, and /health/ready is 503: not after the stale limit of 2 x 5 min + budget + 1 min, which
    would leave a broken monitor green for 13 minutes."""
    monitor, client = served
    if failure == "cycle-raises":
        db = monitor.config.monitor.data_dir / "state.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        db.write_bytes(b"this is not an SQLite database, it is a text file written over it" * 100)
    before = client.get("/health")
    assert (before.status_code, before.json()["status"]) == (200, "starting"), before.text
    assert client.get("/health/ready").status_code == 503  # ready only once a cycle succeeded
    loop = threading.Thread(target=monitor.run_forever, args=(3600.0,), name="loop")
    loop.start()
    try:
        wait_for(lambda: monitor.next_cycle_at is not None, "the first cycle over")
        answer = client.get("/health")
        ready = client.get("/health/ready")
    finally:
        monitor.stop_event.set()
        monitor.wake.set()
        loop.join(10)
    doc = answer.json()
    assert (answer.status_code, doc["status"]) == (503, "unhealthy"), answer.text
    if failure == "qbittorrent-down":
        assert monitor.last_report is not None and doc["services"] == {"qbittorrent": False}
        assert "qbittorrent" in doc["problems"]
    else:
        assert monitor.last_report is None and monitor.last_failure is not None
        assert doc["problems"]["monitor"].startswith("the last cycle failed: ")
    assert ready.status_code == 503 and ready.json()["status"] == "not ready", ready.text
