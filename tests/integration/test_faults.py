"""Garbage from a service, for real: a fault-injecting proxy in front of qbittorrent-nox and of the Sonarr simulator
answers 5xx, an HTML login page, truncated bodies, slowly, resets the connection, or drops a field, while a daemon
runs cycle after cycle. Nothing may be done on what could not be read; /health names the service; the next good
cycle repairs exactly what it should."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon import Daemon, free_port
from e2e import SONARR_CATEGORY, hashes
from harness.faults import Fault, FaultProxy
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import Config
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]

QBT_FAULTS = [
    (Fault.TRUNCATED, {}),
    (Fault.HTML, {}),
    (Fault.ERROR_502, {}),
    (Fault.RESET, {}),
    (Fault.SLOW, {"delay": 4}),  # longer than the configured read timeout (2 s)
]
ARR_FAULTS = [
    (Fault.ERROR_500, {}),
    (Fault.HTML, {}),
    (Fault.TRUNCATED, {}),
    (Fault.DROP_FIELD, {"field": "totalRecords"}),  # a page that cannot say whether more follow
    (Fault.RESET, {}),
]


def test_nothing_is_done_on_what_could_not_be_read_and_the_next_good_cycle_repairs(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Garbage.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Garbage.Show.S01E01", series_id=1, season=1, episode_ids=[11])
    port = free_port()
    with FaultProxy(qbt.url) as qbt_proxy, FaultProxy(sonarr.url) as arr_proxy:
        path, _ = write_config(
            health={"bind": "127.0.0.1", "port": port},
            qbittorrent=[
                {
                    "name": "qbittorrent",
                    "url": qbt_proxy.url,
                    "username": qbt.username,
                    "password": qbt.password,
                    "timeout": 2,
                }
            ],
            sonarr=[{"name": "sonarr", "url": arr_proxy.url, "api_key": sonarr.api_key, "timeout": 2}],
        )
        # Both break before the first cycle (the *arr's queue stays broken while qBittorrent's faults take turns, so
        # that no cycle can ever act between two faults): whatever they answer, nothing is done.
        qbt_proxy.fail("/api/v2/torrents/info", QBT_FAULTS[0][0])
        arr_proxy.fail("/api/v3/queue", Fault.ERROR_500)
        with Daemon(path, port, "--interval", "1") as daemon:
            for fault, options in QBT_FAULTS:
                qbt_proxy.fail("/api/v2/torrents/info", fault, **options)
                seen = qbt_proxy.count(fault)
                doc = daemon.wait(
                    lambda s, d, f=fault, n=seen: (
                        s == 503 and qbt_proxy.count(f) > n and "qbittorrent" in d["problems"]
                    ),
                    f"qbittorrent named unhealthy under {fault}",
                    timeout=40,
                )
                assert doc["services"]["qbittorrent"] is False
                assert sonarr.mutating_calls() == [] and dead in hashes(qbt)
            qbt_proxy.heal()
            for fault, options in ARR_FAULTS:
                arr_proxy.fail("/api/v3/queue", fault, **options)
                seen = arr_proxy.count(fault)
                daemon.wait(
                    lambda s, d, f=fault, n=seen: s == 503 and arr_proxy.count(f) > n and "sonarr" in d["problems"],
                    f"sonarr named unhealthy under {fault}",
                    timeout=40,
                )
                assert sonarr.mutating_calls() == [] and dead in hashes(qbt)
            arr_proxy.heal()
            daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy again", timeout=40)
            deadline = time.monotonic() + 30
            while dead in hashes(qbt) and time.monotonic() < deadline:  # the next good cycle repairs it
                time.sleep(0.2)
        code, err = daemon.proc.returncode, daemon.err
    assert code == 0, err
    # Exactly the repair the default policy asks for, once: the faults left nothing half done or doubled.
    assert [(r.method, r.path) for r in sonarr.mutating_calls()] == [
        ("DELETE", f"/api/v3/queue/{sonarr.queue_id(dead, 11)}"),
        ("POST", "/api/v3/command"),
    ]
    assert dead not in hashes(qbt)
    assert err.count("service qbittorrent unavailable") >= 1 and "service qbittorrent is back" in err
    assert "service sonarr is back" in err
    assert "Traceback" not in err
    assert sonarr.violations == []
