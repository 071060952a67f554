"""Logging in to a real qBittorrent through the monitor's adapter: what counts as refused credentials (and is
remembered, so that a wrong password never becomes an IP ban) and what is only an outage, retried next cycle."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import Clock, cli
from harness.faults import Fault, FaultProxy
from harness.qbt import BinaryUnavailable, QBittorrent, resolve_binary
from qbittorrent_monitor.clients import ServiceError, on_request
from qbittorrent_monitor.clients.logins import LoginGuard
from qbittorrent_monitor.clients.qbittorrent import DETECT_EVERY, Feature, QBittorrentClient
from qbittorrent_monitor.config import Config, QBittorrentInstance, load_config
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


# -- the version, read again ------------------------------------------------------------------------------------
MAGNET = "magnet:?xt=urn:btih:{hash}&dn=Upgrade.Test&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce"


def own_qbt(workdir: Path, version: str, **options: Any) -> QBittorrent:
    """A qbittorrent-nox of this version for one test (5.x fetched and cached by the harness), or a skip saying why
    it cannot run here."""
    try:
        binary = resolve_binary(version)
    except BinaryUnavailable as exc:
        pytest.skip(f"qBittorrent {version}: {exc}")
    return QBittorrent(workdir, version=version, binary=binary, **options)


def test_an_upgrade_in_place_is_noticed_at_the_next_login(tmp_path: Path) -> None:
    """4.5.2 stopped and 5.3.0 started on the same port (a container upgraded in place): the adapter logs in again
    and must read the version again, or it keeps the 4.x table (no includeTrackers, the `tracker` field trusted)."""
    old = QBittorrent(tmp_path / "old", version="4.5.2")
    new = own_qbt(tmp_path / "new", "5.3.0", port=old.port)
    instance = QBittorrentInstance(url=old.url, username=old.username, password=old.password)
    info_hash = "c0ffee" + "0" * 34
    old.start()
    client = QBittorrentClient(instance)
    try:
        old.add(MAGNET.format(hash=info_hash))
        assert [listed.trackers for listed in client.torrents([info_hash])] == [None]  # 4.5.2: none inline
        assert client.version == "v4.5.2" and not client.supports(Feature.INCLUDE_TRACKERS)
        old.stop()
        new.start()
        new.add(MAGNET.format(hash=info_hash))
        listed = client.torrents([info_hash])  # its session is gone: 403, a new login, the version read again
        assert client.version == "v5.3.0" and client.supports(Feature.INCLUDE_TRACKERS)
        assert client.torrents([info_hash])[0].trackers is not None  # 5.3's rows come with torrents/info
        assert len(listed) == 1
    finally:
        client.close()
        old.stop()
        new.stop()


def test_with_no_login_the_version_is_read_again_within_the_hour(tmp_path: Path) -> None:
    """An API key never logs in, so only the hourly reading (DETECT_EVERY, as the *arr adapter's) can notice an
    upgrade. The proxy first answers app/version as a 5.0 would (no includeTrackers), then lets the real 5.3.0
    answer: the includeTrackers decision follows, an hour later and not before."""
    qbt = own_qbt(tmp_path / "qbt", "5.3.0")
    qbt.start()
    now = [0.0]
    try:
        key = qbt.post("app/rotateAPIKey").json()["apiKey"]
        with FaultProxy(qbt.url) as proxy:
            proxy.fail("/api/v2/app/version", Fault.REPLY, body="v5.0.0")
            instance = QBittorrentInstance(url=proxy.url, api_key=key)
            client = QBittorrentClient(instance, clock=lambda: now[0])
            try:
                assert not client.supports(Feature.INCLUDE_TRACKERS) and client.version == "v5.0.0"
                proxy.heal()
                now[0] += DETECT_EVERY
                assert not client.supports(Feature.INCLUDE_TRACKERS)  # not read again before the hour is over
                now[0] += 1
                assert client.supports(Feature.INCLUDE_TRACKERS) and client.version == "v5.3.0"
                versions_read = sum(1 for _, path, _ in proxy.seen if path == "/api/v2/app/version")
                assert versions_read == 2
            finally:
                client.close()
    finally:
        qbt.stop()


# -- the trash warning ------------------------------------------------------------------------------------------
TRASH_WARNING = "moves deleted torrents' data to the trash"


def test_the_trash_warning_reaches_the_daemons_log_once_and_test(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """qBittorrent 5's default `torrent_content_remove_option` MoveToTrash means a removal frees no disk space: the
    user must read it where they look (the daemon's log, `--test`), once per login, not once per cycle. It was logged
    only by `--health-check` with no daemon running."""
    qbt = own_qbt(tmp_path / "qbt", "5.3.0")
    qbt.start()
    try:
        qbt.post("app/setPreferences", data={"json": json.dumps({"torrent_content_remove_option": "MoveToTrash"})})
        doc = {
            "monitor": {"data_dir": str(tmp_path / "data")},
            "health": {"enabled": False},
            "qbittorrent": [{"url": qbt.url, "username": qbt.username, "password": qbt.password}],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(doc))
        monitor = Monitor(load_config(path, env={}))
        try:
            with caplog.at_level(logging.WARNING):
                for _ in range(3):
                    monitor.run_cycle()
        finally:
            monitor.close()
        assert sum(TRASH_WARNING in r.getMessage() for r in caplog.records) == 1
        result = cli("--config", str(path), "--test")
        assert result.stderr.count(TRASH_WARNING) == 1, result.stderr
    finally:
        qbt.stop()


# -- API key and HTTP Basic (qBittorrent 5.2+) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def qbt53(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QBittorrent]:
    instance = own_qbt(tmp_path_factory.mktemp("qbt53"), "5.3.0")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def asked() -> Iterator[list[str]]:
    """The endpoints the monitor's adapters ask, in order (the harness's own requests are not reported)."""
    seen: list[str] = []
    stop = on_request(lambda call: seen.append(call.path))
    try:
        yield seen
    finally:
        stop()


def adapter(record_dir: Path, **fields: Any) -> QBittorrentClient:
    """The monitor's adapter for one instance, its login record on disk as the monitor keeps it."""
    record_dir.mkdir(exist_ok=True)
    return QBittorrentClient(
        QBittorrentInstance(**fields), LoginGuard(record_dir / "qbittorrent-logins.json", time.time)
    )


def test_an_api_key_reads_everything_a_cycle_needs_without_a_login(
    qbt53: QBittorrent, tmp_path: Path, asked: list[str]
) -> None:
    key = qbt53.post("app/rotateAPIKey").json()["apiKey"]
    info_hash = "a11" + "0" * 37
    qbt53.add(MAGNET.format(hash=info_hash))
    client = adapter(tmp_path, url=qbt53.url, api_key=key)
    try:
        assert client.check() == "v5.3.0"
        [listed] = client.torrents([info_hash])
        assert listed.torrent.hash == info_hash and listed.trackers is not None  # 5.3: rows inline
        client.errored()
        client.log_since(-1)
        assert client.connection_status() in {"connected", "firewalled", "disconnected"}
        assert "auth/login" not in asked and {"app/version", "app/preferences", "torrents/info"} <= set(asked)
    finally:
        client.close()
        qbt53.delete([info_hash])


def test_a_wrong_api_key_is_named_as_such_and_not_sent_again(
    qbt53: QBittorrent, tmp_path: Path, asked: list[str]
) -> None:
    client = adapter(tmp_path, url=qbt53.url, api_key="qbt_" + "x" * 28)
    try:
        with pytest.raises(ServiceError) as err:
            client.check()
        assert "refused the API key 1 time(s)" in err.value.message and "`api_key`" in err.value.message
        assert "QBITTORRENT_PASSWORD" not in err.value.message
        sent = len(asked)
        with pytest.raises(ServiceError):
            client.errored()
        assert len(asked) == sent  # not asked again before the pause is over
    finally:
        client.close()


def test_http_basic_reads_without_a_login_and_wrong_basic_is_named_as_such(
    qbt53: QBittorrent, tmp_path: Path, asked: list[str]
) -> None:
    client = adapter(tmp_path / "a", url=qbt53.url, username=qbt53.username, password=qbt53.password, auth="basic")
    try:
        assert client.check() == "v5.3.0"
        client.errored()
        assert "auth/login" not in asked
    finally:
        client.close()
    wrong = adapter(tmp_path / "b", url=qbt53.url, username=qbt53.username, password="wrong-one", auth="basic")
    try:
        with pytest.raises(ServiceError) as err:
            wrong.errored()
        assert "refused the HTTP Basic username and password 1 time(s)" in err.value.message  # 5.3: 401
        sent = len(asked)
        with pytest.raises(ServiceError):
            wrong.errored()
        assert len(asked) == sent  # wrong Basic counts toward qBittorrent's ban: never sent again at once
    finally:
        wrong.close()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"api_key": "qbt_" + "x" * 28}, "API keys need qBittorrent 5.2 or later"),
        ({"auth": "basic"}, "older than 5.2 and has no HTTP Basic"),
    ],
    ids=["api_key", "basic"],
)
def test_an_api_key_or_basic_to_4_5_says_it_needs_5_2(
    qbt: QBittorrent, tmp_path: Path, fields: dict[str, str], says: str
) -> None:
    """4.5.2 (measured) answers 403 to a Bearer key and to Basic, right or wrong: it has neither."""
    if qbt.behaviour.api_key_and_basic:
        pytest.skip(f"qBittorrent {qbt.version} has API keys and HTTP Basic: the 5.3.0 tests above cover them")
    credentials = {"username": qbt.username, "password": qbt.password, **fields}
    client = adapter(tmp_path, url=qbt.url, **credentials)
    try:
        with pytest.raises(ServiceError) as err:
            client.check()
        assert says in err.value.message, err.value.message
        assert "refused this username and password" not in err.value.message
    finally:
        client.close()
