"""Logging in to a real qBittorrent through the monitor's adapter: what counts as refused credentials (and is
remembered, so that a wrong password never becomes an IP ban) and what is only an outage, retried next cycle."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e import Clock
from harness.faults import Fault, FaultProxy
from harness.qbt import QBittorrent
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.monitor import Monitor

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]


def through(proxy: FaultProxy, qbt: QBittorrent, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": "qbittorrent", "url": proxy.url, "username": qbt.username, "password": qbt.password, **extra}]


def recorded_refusals(config: Config) -> dict[str, Any]:
    path = config.monitor.data_dir / "qbittorrent-logins.json"
    return json.loads(path.read_text())["refusals"] if path.exists() else {}


# What a reverse proxy (Traefik on ssdv2/Saltbox) or a starting container answers on auth/login before qBittorrent
# can: none of it is qBittorrent refusing the password.
NOT_QBITTORRENTS_ANSWER = [
    (Fault.ERROR_502, {}),
    (Fault.STATUS, {"status": 503}),
    (Fault.STATUS, {"status": 404}),
    (Fault.STATUS, {"status": 302}),
    (Fault.HTML, {}),
    (Fault.STATUS, {"status": 200}),  # an empty 200
]


def test_a_proxy_error_on_login_is_an_outage_and_the_next_cycle_logs_in(
    qbt: QBittorrent, write_config: WriteConfig
) -> None:
    """Before the fix the first of these answers was recorded as a refused password: no login for the next hour
    (then 6 h, then never), although qBittorrent was fine a moment later."""
    with FaultProxy(qbt.url) as proxy:
        _, config = write_config(qbittorrent=through(proxy, qbt))
        monitor = Monitor(config)
        try:
            for fault, options in NOT_QBITTORRENTS_ANSWER:
                proxy.fail("/api/v2/auth/login", fault, **options)
                report = monitor.run_cycle()
                problem = report.service_errors.get("qbittorrent", "")
                assert "login: unexpected answer" in problem and "tried again next cycle" in problem, (fault, problem)
                assert "refused" not in problem
                assert recorded_refusals(config) == {}, fault
                proxy.heal()
                logins_before = sum(1 for _, path, _ in proxy.seen if path == "/api/v2/auth/login")
                report = monitor.run_cycle()
                assert "qbittorrent" not in report.service_errors, (fault, report.service_errors)
                logins = sum(1 for _, path, _ in proxy.seen if path == "/api/v2/auth/login")
                assert logins == logins_before + 1  # it did log in again, at once, on the very next cycle
                monitor.qbts[0]._logged_in = False  # the next fault hits a fresh login
        finally:
            monitor.close()


def test_a_401_before_the_password_is_looked_at_is_not_a_refused_password(
    qbt: QBittorrent, write_config: WriteConfig
) -> None:
    """A proxy's own auth (or qBittorrent's Host header check, measured: 401 `Unauthorized` on 4.5.2 and 5.3.0 for
    any request, anonymous or not) answers 401 to everything: an anonymous app/version proves it is not the
    password."""
    with FaultProxy(qbt.url) as proxy:
        _, config = write_config(qbittorrent=through(proxy, qbt))
        proxy.fail("/api/v2/", Fault.STATUS, status=401)
        monitor = Monitor(config)
        try:
            problem = monitor.run_cycle().service_errors["qbittorrent"]
            assert "Host header validation" in problem and "refused this" not in problem
            assert recorded_refusals(config) == {}
            proxy.heal()
            assert "qbittorrent" not in monitor.run_cycle().service_errors
        finally:
            monitor.close()


def test_a_wrong_password_is_recorded_as_refused_on_every_version(qbt: QBittorrent, write_config: WriteConfig) -> None:
    """`Fails.` (up to 5.1) and 401 (5.2+, proved by the anonymous probe answering 403) are qBittorrent refusing the
    password: recorded, and not tried again on the next cycle."""
    _, config = write_config(qbittorrent=[{"url": qbt.url, "username": qbt.username, "password": "wrong-one"}])
    config.monitor.data_dir.mkdir()  # as the daemon makes it
    monitor = Monitor(config)
    try:
        problem = monitor.run_cycle().service_errors["qbittorrent"]
        assert "refused this username and password 1 time(s)" in problem
        assert recorded_refusals(config)["qbittorrent"]["tries"] == 1
        problem = monitor.run_cycle().service_errors["qbittorrent"]
        assert recorded_refusals(config)["qbittorrent"]["tries"] == 1  # not asked again
    finally:
        monitor.close()


def test_a_refused_password_is_logged_once_not_every_cycle(
    qbt: QBittorrent, write_config: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """An hour of one-minute cycles after a refusal: the problem is the same all along (the next try is a time, not
    a countdown), so "service qbittorrent unavailable" is logged once and the health log gains one line."""
    _, config = write_config(qbittorrent=[{"url": qbt.url, "username": qbt.username, "password": "wrong-one"}])
    config.monitor.data_dir.mkdir()
    clock = Clock()
    monitor = Monitor(config, clock=clock)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(10):
                monitor.run_cycle_and_note_health()
                clock.advance(60)
    finally:
        monitor.close()
    unavailable = [r for r in caplog.records if "service qbittorrent unavailable" in r.getMessage()]
    assert len(unavailable) == 1, [r.getMessage() for r in unavailable]
    assert len([r for r in caplog.records if r.name == "qbittorrent_monitor.health"]) == 1
