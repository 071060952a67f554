"""Notifications through real Apprise (`json://127.0.0.1:PORT`) to a local HTTP receiver, on the real qbittorrent-nox
and the simulators: a dead tracker holding ten downloads is one message, not ten; a cycle's repairs are one message;
and a cycle still repairs when the receiver is down."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock, spawn
from harness.qbt import QBittorrent
from harness.states import StateFactory, closed_port
from harness.torrents import make_torrent
from qbittorrent_monitor.monitor import Monitor
from receiver import Receiver
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Any]]
DEAD_HOST = "127.0.0.2"  # another loopback address: another tracker host, nothing listens there


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def dead_tracker_download(states: StateFactory, qbt: QBittorrent, name: str, port: int) -> str:
    save = states.workdir / "data" / name
    save.mkdir(parents=True)
    info_hash = qbt.add(
        make_torrent(name, announce=f"http://{DEAD_HOST}:{port}/announce", private=False),
        category=RADARR_CATEGORY,
        save_path=save,
    )
    qbt.wait_state(info_hash, {"stalledDL"})
    qbt.wait_tracker_status(info_hash, 4, msg="Connection refused")
    return info_hash


def test_an_outage_of_ten_is_one_message_a_cycles_repairs_are_one_and_a_dead_receiver_breaks_nothing(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    dead = [dead_tracker_download(states, qbt, f"Notify.Dead.Movie.{i}", port) for i in range(10)]
    for i, h in enumerate(dead):
        radarr.grab_movie(h, f"Notify.Dead.Movie.{i}", movie_id=500 + i)
    first = states.unregistered("Notify.Show.S01E01", category=SONARR_CATEGORY, private=False)
    second = states.unregistered("Notify.Show.S01E02", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(first, "Notify.Show.S01E01", series_id=9, season=1, episode_ids=[901])
    sonarr.grab_episodes(second, "Notify.Show.S01E02", series_id=9, season=1, episode_ids=[902])
    _, config = write_config(notifications={"urls": [receiver.url]})
    clock = Clock()
    monitor = Monitor(config, clock=clock)
    notifier = monitor.start_notifications()  # as the daemon does
    try:
        report = monitor.run_cycle()
        notifier.flush()
        assert {d.verdict.value for d in report.decisions if d.download.torrent.hash in dead} == {"outage"}
        assert sorted(d.download.torrent.name for d in report.decisions if d.verdict.value == "act") == [
            "Notify.Show.S01E01",
            "Notify.Show.S01E02",
        ]
        messages = receiver.wait_for(2)
        # Exactly two messages: the outage (once, for its ten downloads) and the cycle's two repairs (together).
        assert len(messages) == 2, receiver.titles()
        [outage] = [m for m in messages if "OUTAGE" in m["title"]]
        assert f"tracker {DEAD_HOST} (connection_errors)" in outage["title"]
        assert "10 of 10 torrents failing" in outage["message"] and "10 download(s) held" in outage["message"]
        [repairs] = [m for m in messages if "repair" in m["title"]]
        assert "2 repair(s)" in repairs["title"]
        assert "Notify.Show.S01E01" in repairs["message"] and "Notify.Show.S01E02" in repairs["message"]
        assert repairs["message"].count("remove from queue") == 2 and "search" in repairs["message"]

        # The outage goes on: no second message for it.
        clock.advance(600)
        monitor.run_cycle()
        notifier.flush()
        assert len(receiver.wait_for(3, timeout=2)) == 2, receiver.titles()

        # The receiver goes away; the next repair still happens and the cycle succeeds.
        receiver.stop()
        third = states.unregistered("Notify.Show.S01E03", category=SONARR_CATEGORY, private=False)
        sonarr.grab_episodes(third, "Notify.Show.S01E03", series_id=9, season=1, episode_ids=[903])
        clock.advance(600)
        with caplog.at_level(logging.WARNING, logger="qbittorrent_monitor.notify"):
            report = monitor.run_cycle()
            notifier.flush()
        doc = report.to_dict()
        assert doc["ok"] is True
        [repaired] = [f for f in doc["findings"] if f["hash"] == third]
        assert repaired["decision"] == "act" and {a["status"] for a in repaired["actions"]} == {"done"}
        assert "could not be delivered" in caplog.text
        for secret in config.secrets():
            assert secret not in caplog.text
    finally:
        monitor.close()
    assert sonarr.violations == [] and radarr.violations == []


def test_health_check_and_test_never_notify_even_when_every_service_is_down(tmp_path: Path, receiver: Receiver) -> None:
    """The container runs `--health-check` every minute; when the daemon does not answer it checks the services
    itself. A "service down" message from each run would be one a minute, repeating what the daemon (the only
    process that notifies) says once. `--test` is a one-off look: it notifies nothing either."""
    import yaml

    from e2e import cli

    path = tmp_path / "config.yaml"
    doc = {
        "monitor": {"data_dir": str(tmp_path / "data")},
        "qbittorrent": [{"url": f"http://127.0.0.1:{closed_port()}", "password": "p"}],
        "sonarr": [{"url": f"http://127.0.0.1:{closed_port()}", "api_key": "0123456789abcdef0123456789abcdef"}],
        "health": {"port": closed_port()},  # no daemon answers there
        "notifications": {"urls": [receiver.url]},
    }
    path.write_text(yaml.safe_dump(doc))
    check = cli("--config", str(path), "--health-check")
    assert check.returncode == 1 and '"status": "unhealthy"' in check.stdout, check.stderr
    once = cli("--config", str(path), "--test")
    assert once.returncode == 1 and "unavailable" in once.stdout, once.stdout + once.stderr
    # Both processes have exited, so anything they meant to send was sent (a stopping monitor flushes first).
    assert receiver.messages == []


def test_a_second_sigterm_while_the_last_message_is_on_its_way_neither_kills_the_daemon_nor_loses_the_message(
    states: StateFactory,
    sonarr: ArrSimulator,
    write_config: WriteConfig,
    tmp_path: Path,
) -> None:
    """A user stops the container and, since it does not stop at once, presses Ctrl-C / sends SIGTERM again.
    The daemon is then delivering the cycle's repair message to a slow service (monitor.close waits for it,
    up to notify.FLUSH_TIMEOUT): the second signal is logged, and the message still goes out."""
    slow = Receiver(delay=5).start()  # answers each delivery 5 s late; Apprise waits for it (rto=20)
    try:
        dead = states.unregistered("Stop.Show.S01E01", category=SONARR_CATEGORY, private=False)
        sonarr.grab_episodes(dead, "Stop.Show.S01E01", series_id=11, season=1, episode_ids=[1101])
        port = closed_port()
        path, _ = write_config(
            notifications={"urls": [f"{slow.url}?rto=20"]},
            health={"bind": "127.0.0.1", "port": port},
            monitor={"log_level": "INFO"},
        )
        err_file = tmp_path / "daemon.err"
        with err_file.open("w") as err_out:
            proc = spawn("--config", str(path), stderr=err_out.fileno())
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1, trust_env=False)
                        .json()
                        .get("last_cycle")
                    ):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert slow.messages == []  # the repair message is still on its way
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # the loop has stopped; the monitor waits for the delivery
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = err_file.read_text()
        assert proc.returncode == 0, err  # not -15: the second SIGTERM did not take its default action
        assert "received SIGTERM: finishing the current step" in err
        assert "received SIGTERM again: already stopping" in err
        assert "stopped" in err
        assert [t for t in slow.titles() if "repair" in t], slow.titles()  # delivered, not lost
    finally:
        slow.stop()
