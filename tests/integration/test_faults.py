"""Garbage from a service, for real: a fault-injecting proxy in front of qbittorrent-nox and of the Sonarr simulator
answers 5xx, an HTML login page, truncated bodies, slowly, resets the connection, or drops a field, while the monitor
runs. Nothing may be done on what could not be read; /health and the log name the service and the cause; the next
good cycle repairs exactly what it should.

The library: a dead download Sonarr queues (unregistered: the next good cycle removes and searches it), and a
finished download Sonarr still queues (import pending) whose tracker also forgot it, with the opt-in cleanup of
unregistered seeds on. That seed is Sonarr's: whatever a service answers, it must never be taken for an orphan and
deleted. qBittorrent's faults come while the queue reads fine (the monitor knows what Sonarr expects and must not
take a failed read for "gone"); the *arr's while qBittorrent reads fine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon import Daemon, free_port
from e2e import SONARR_CATEGORY, cli, hashes
from harness.faults import Fault, FaultProxy
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import Config
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]
Injected = tuple[str, Fault, dict[str, Any]]

TORRENTS, LOG, TRANSFER = "/api/v2/torrents/info", "/api/v2/log/main", "/api/v2/transfer/info"
QBT_FAULTS: list[Injected] = [
    (TORRENTS, Fault.TRUNCATED, {}),
    (TORRENTS, Fault.HTML, {}),
    (TORRENTS, Fault.ERROR_502, {}),
    (TORRENTS, Fault.RESET, {}),
    (TORRENTS, Fault.SLOW, {"delay": 4}),  # longer than the configured read timeout (2 s)
    (LOG, Fault.HTML, {}),
    (LOG, Fault.TRUNCATED, {}),
    (TRANSFER, Fault.ERROR_502, {}),
    (TRANSFER, Fault.TRUNCATED, {}),
]
QUEUE = "/api/v3/queue"
# (fault, options, what the log must say about it)
ARR_FAULTS: list[tuple[Fault, dict[str, Any], str]] = [
    (Fault.ERROR_500, {}, "queue: HTTP 500"),
    (Fault.HTML, {}, "queue: the answer is not JSON"),
    (Fault.TRUNCATED, {}, "queue: the answer is not JSON"),
    (Fault.DROP_FIELD, {"field": "totalRecords"}, "a page without totalRecords"),  # can it say more follow?
    (Fault.DROP_FIELD, {"field": "records"}, "not a paging envelope with records"),
    (Fault.RESET, {}, "cannot reach"),
    (Fault.SLOW, {"delay": 4}, "timed out"),  # longer than the configured read timeout (2 s)
    # Records that lost a field: which download each one is (downloadId), the id a removal needs. (A record without
    # downloadClient is not garbage: an app with one qBittorrent client needs no name, mapping.route.)
    (Fault.DROP_RECORD_FIELD, {"field": "downloadId"}, "has no downloadId and is not a pending release"),
    (Fault.DROP_RECORD_FIELD, {"field": "id"}, "without a numeric id"),
]


def library(states: StateFactory, sonarr: ArrSimulator) -> tuple[str, str]:
    dead = states.unregistered("Garbage.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Garbage.Show.S01E01", series_id=1, season=1, episode_ids=[11])
    owned = states.unregistered("Garbage.Show.S01E02", category=SONARR_CATEGORY, complete=True, private=False)
    sonarr.grab_episodes(owned, "Garbage.Show.S01E02", series_id=1, season=1, episode_ids=[12])
    return dead, owned


def proxied_config(
    write_config: WriteConfig, qbt: QBittorrent, sonarr: ArrSimulator, qbt_url: str, arr_url: str, port: int
) -> Path:
    path, _ = write_config(
        health={"bind": "127.0.0.1", "port": port},
        qbittorrent=[
            {"name": "qbittorrent", "url": qbt_url, "username": qbt.username, "password": qbt.password, "timeout": 2}
        ],
        sonarr=[{"name": "sonarr", "url": arr_url, "api_key": sonarr.api_key, "timeout": 2}],
        cleanup={"unregistered_seeds": True, "interval": 0},  # every cycle: the seed is at risk every cycle
    )
    return path


def test_a_failed_qbittorrent_read_beside_a_readable_queue_calls_nothing_missing_and_does_nothing(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    """One `--test --json` cycle per qBittorrent fault, Sonarr's queue read fine each time: the report names
    qBittorrent, lists no action and no queue download as unmatched (its torrent was not read, it is not known to be
    gone), and the seed Sonarr still owns is not cleaned up."""
    dead, owned = library(states, sonarr)
    with FaultProxy(qbt.url) as qbt_proxy:
        path = proxied_config(write_config, qbt, sonarr, qbt_proxy.url, sonarr.url, free_port())
        for prefix, fault, options in QBT_FAULTS:
            qbt_proxy.heal()
            qbt_proxy.fail(prefix, fault, **options)
            seen = qbt_proxy.count(fault)
            result = cli("--config", str(path), "--test", "--json")
            where = f"{fault} on {prefix}"
            assert qbt_proxy.count(fault) > seen, f"{where}: never asked"
            assert result.returncode == 1, (where, result.returncode, result.stderr)
            report = json.loads(result.stdout)
            assert list(report["service_errors"]) == ["qbittorrent"], (where, report["service_errors"])
            assert report["unmatched_queue"] == [], (where, report["unmatched_queue"])
            assert report["actions"] == [], (where, report["actions"])
            assert "Traceback" not in result.stderr, result.stderr
            assert sonarr.mutating_calls() == [] and {dead, owned} <= hashes(qbt), where
    # The same cycle with qBittorrent answering: the dead download is repaired and Sonarr's seed is kept.
    path, _ = write_config(cleanup={"unregistered_seeds": True, "interval": 0})
    result = cli("--config", str(path), "--test", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["unmatched_queue"] == []
    assert dead not in hashes(qbt) and owned in hashes(qbt)


def test_nothing_is_done_on_what_could_not_be_read_and_the_next_good_cycle_repairs(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    """A daemon, cycle after cycle: each fault in turn (one is always active, so no cycle can act between two), first
    qBittorrent's with the queue readable, then the *arr's with qBittorrent readable. Each makes /health 503 naming
    the service; nothing is changed anywhere; the log says what was wrong. Healed, the next good cycle repairs the
    dead download exactly once, and Sonarr's seed is still there."""
    dead, owned = library(states, sonarr)
    port = free_port()
    with FaultProxy(qbt.url) as qbt_proxy, FaultProxy(sonarr.url) as arr_proxy:
        path = proxied_config(write_config, qbt, sonarr, qbt_proxy.url, arr_proxy.url, port)
        qbt_proxy.fail(*QBT_FAULTS[0][:2])  # broken before the first cycle
        with Daemon(path, port, "--interval", "1") as daemon:
            # Each fault is waited for until a cycle has ended on it: /health then names the service with a cause
            # that differs from the previous fault's (a cycle still retrying the previous fault would not count).
            before, said_before = "", ""
            for prefix, fault, options in QBT_FAULTS:
                qbt_proxy.fail(prefix, fault, **options)  # the new fault first, then the old one goes
                if before and before != prefix:
                    qbt_proxy.clear(before)
                before, endpoint = prefix, prefix.removeprefix("/api/v2/")
                doc = daemon.wait(
                    lambda s, d, e=endpoint, b=said_before: (
                        s == 503 and e in (p := d.get("problems", {}).get("qbittorrent", "")) and p != b
                    ),
                    f"qbittorrent named unhealthy under {fault} on {prefix}",
                    timeout=40,
                )
                said_before = doc["problems"]["qbittorrent"]
                assert doc["services"]["qbittorrent"] is False and doc["services"]["sonarr"] is True, doc
                assert sonarr.mutating_calls() == [] and {dead, owned} <= hashes(qbt), (fault, prefix)
            arr_proxy.fail(QUEUE, *ARR_FAULTS[0][:1])  # the *arr breaks before qBittorrent heals
            qbt_proxy.heal()
            said_before = ""
            for fault, options, said in ARR_FAULTS:
                arr_proxy.fail(QUEUE, fault, **options)
                doc = daemon.wait(
                    lambda s, d, w=said, b=said_before: (
                        s == 503
                        and w in (p := d.get("problems", {}).get("sonarr", ""))
                        and p != b
                        and d["services"].get("qbittorrent") is True
                    ),
                    f"sonarr named unhealthy for {said!r} under {fault} {options}",
                    timeout=40,
                )
                said_before = doc["problems"]["sonarr"]
                assert sonarr.mutating_calls() == [] and {dead, owned} <= hashes(qbt), (fault, options)
            arr_proxy.heal()
            daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy again", timeout=40)
            deadline = time.monotonic() + 30
            while dead in hashes(qbt) and time.monotonic() < deadline:  # the next good cycle repairs it
                time.sleep(0.2)
            time.sleep(3)  # a few more good cycles: the seed Sonarr owns must survive them too
        code, err = daemon.proc.returncode, daemon.err
    assert code == 0, err
    # Exactly the repair the default policy asks for, once: the faults left nothing half done or doubled.
    assert [(r.method, r.path) for r in sonarr.mutating_calls()] == [
        ("DELETE", f"/api/v3/queue/{sonarr.queue_id(dead, 11)}"),
        ("POST", "/api/v3/command"),
    ]
    assert dead not in hashes(qbt) and owned in hashes(qbt)
    assert err.count("service qbittorrent unavailable") >= 1 and "service qbittorrent is back" in err
    unavailable = [line for line in err.splitlines() if "service sonarr unavailable" in line]
    for fault, options, said in ARR_FAULTS:
        assert any(said in line for line in unavailable), (fault, options, said, "\n".join(unavailable))
    assert "service sonarr is back" in err
    assert "Traceback" not in err
