"""Several instances for real: two qbittorrent-nox processes of two versions, two Sonarr simulators, one monitor.

The first qBittorrent is the session's (`--qbt-version`, 4.5.2 by default); the second is another version (5.3.0
beside 4.5.2, 4.5.2 beside a 5.x), fetched and cached by the harness. Each simulated Sonarr uses its own qBittorrent,
and says so in its download client settings (host, port); the monitor is told nothing else. One torrent (the same
info hash) is in both clients: broken in the first, healthy and seeding in the second. Only the first Sonarr's
download may be repaired; asking both qBittorrents about every queue hash would have had the second Sonarr delete its
healthy copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import SONARR_CATEGORY, hashes
from harness.qbt import BinaryUnavailable, QBittorrent, resolve_binary
from harness.states import StateFactory
from harness.tracker import Tracker
from qbittorrent_monitor.config import Config, load_config
from qbittorrent_monitor.health import document as health_document
from qbittorrent_monitor.monitor import Monitor
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration


def other_version(version: str) -> str:
    return "5.3.0" if version == "4.5.2" else "4.5.2"


@pytest.fixture(scope="module")
def second_qbt(tmp_path_factory: pytest.TempPathFactory, qbt: QBittorrent) -> Iterator[QBittorrent]:
    """A second qbittorrent-nox, the other seedbox client, of another version when it can be had here (else of the
    same version, `why_same` saying why); stopped by its PID at the end."""
    version, why_same = other_version(qbt.version), ""
    try:
        binary = resolve_binary(version)
    except BinaryUnavailable as exc:
        version, binary = qbt.version, qbt.binary
        why_same = (
            f"two instances of two versions need qBittorrent {other_version(qbt.version)} beside {version}: {exc}"
        )
    instance = QBittorrent(tmp_path_factory.mktemp(f"qbt-b-{version}"), version=version, binary=binary)
    instance.why_same = why_same  # type: ignore[attr-defined]
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def other_qbt(second_qbt: QBittorrent, qbt: QBittorrent) -> QBittorrent:
    """The second qBittorrent, for a test that must prove two versions side by side: it skips with the reason when
    the other version cannot be had, rather than passing on two copies of one version."""
    if second_qbt.version == qbt.version:
        pytest.skip(second_qbt.why_same)  # type: ignore[attr-defined]
    return second_qbt


@pytest.fixture
def other_states(second_qbt: QBittorrent, tracker: Tracker, tmp_path: Path) -> Iterator[StateFactory]:
    factory = StateFactory(second_qbt, tracker, tmp_path / "b")
    try:
        yield factory
    finally:
        second_qbt.delete_all()


def sonarr_for(qbt: QBittorrent, name: str, qbt_url: str | None = None) -> ArrSimulator:
    sim = ArrSimulator(
        "sonarr",
        qbt_url=qbt_url or qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=SONARR_CATEGORY,
        name=name,
    )
    sim.start()
    return sim


def config(tmp_path: Path, qbts: dict[str, QBittorrent], arrs: list[dict[str, Any]]) -> Config:
    doc: dict[str, Any] = {
        "monitor": {"check_interval": "6h", "data_dir": str(tmp_path / "data"), "log_level": "DEBUG"},
        "health": {"bind": "127.0.0.1", "port": 0},
        "qbittorrent": [
            {"name": name, "url": q.url, "username": q.username, "password": q.password} for name, q in qbts.items()
        ],
        "sonarr": arrs,
        "stalled": {"min_age": 0},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path, env={})


def mutating(sim: ArrSimulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.mutating_calls()]


def test_a_hash_both_clients_hold_is_repaired_only_where_its_arr_has_it_broken(
    qbt: QBittorrent, other_qbt: QBittorrent, states: StateFactory, other_states: StateFactory, tmp_path: Path
) -> None:
    broken = states.unregistered("Both.Clients.S01E01", category=SONARR_CATEGORY, private=False)
    healthy = other_states.seeding("Both.Clients.S01E01", category=SONARR_CATEGORY)
    assert broken == healthy  # the same torrent in both clients
    sonarr_a, sonarr_b = sonarr_for(qbt, "Sonarr A"), sonarr_for(other_qbt, "Sonarr B")
    try:
        sonarr_a.grab_episodes(broken, "Both.Clients.S01E01", series_id=1, season=1, episode_ids=[11])
        sonarr_b.grab_episodes(healthy, "Both.Clients.S01E01", series_id=1, season=1, episode_ids=[11])
        cfg = config(
            tmp_path,
            {"qbt-a": qbt, "qbt-b": other_qbt},
            [
                {"name": "sonarr-a", "url": sonarr_a.url, "api_key": sonarr_a.api_key},
                {"name": "sonarr-b", "url": sonarr_b.url, "api_key": sonarr_b.api_key},
            ],
        )
        monitor = Monitor(cfg)
        try:
            report = monitor.run_cycle().to_dict()
            health = {name: h.ok for name, h in monitor.health.items()}
        finally:
            monitor.close()

        assert mutating(sonarr_a) == [
            ("DELETE", f"/api/v3/queue/{sonarr_a.queue_id(broken, 11)}"),
            ("POST", "/api/v3/command"),
        ]
        versions = f"qBittorrent {qbt.version} and {other_qbt.version}"
        assert other_qbt.version != qbt.version, versions
        assert mutating(sonarr_b) == [], versions  # its healthy copy: not one request that changes anything
        assert broken not in hashes(qbt) and healthy in hashes(other_qbt)
        [finding] = report["findings"]
        assert (finding["client"], finding["decision"]) == ("qbt-a", "act")
        assert [a["instance"] for a in finding["arr"]] == ["sonarr-a"]  # one repair, through its own Sonarr
        assert report["unmatched_queue"] == [] and report["service_errors"] == {}
        assert health == {"qbt-a": True, "qbt-b": True, "sonarr-a": True, "sonarr-b": True}
        assert sonarr_a.violations == sonarr_b.violations == []
    finally:
        sonarr_a.stop()
        sonarr_b.stop()


def test_a_download_client_that_matches_no_configured_url_is_reported_until_the_config_names_it(
    qbt: QBittorrent, second_qbt: QBittorrent, states: StateFactory, tmp_path: Path
) -> None:
    """(Two instances of any versions: the mapping is the subject, not the versions.)"""
    dead = states.unregistered("Unmapped.S01E01", category=SONARR_CATEGORY, private=False)
    # This Sonarr reaches the first qBittorrent as "localhost"; the monitor knows it as 127.0.0.1.
    sonarr = sonarr_for(qbt, "Sonarr", qbt_url=f"http://localhost:{qbt.port}")
    try:
        sonarr.grab_episodes(dead, "Unmapped.S01E01", series_id=1, season=1, episode_ids=[11])
        qbts = {"qbt-a": qbt, "qbt-b": second_qbt}
        plain = {"name": "sonarr", "url": sonarr.url, "api_key": sonarr.api_key}
        monitor = Monitor(config(tmp_path, qbts, [plain]))
        try:
            report = monitor.run_cycle().to_dict()
            health = monitor.health["sonarr"]
            doc = health_document(monitor)
        finally:
            monitor.close()
        assert mutating(sonarr) == [] and dead in hashes(qbt)  # not judged: nothing done
        problem = report["service_errors"]["sonarr"]
        assert f"localhost:{qbt.port}" in problem and "qbittorrent: <name>" in problem, problem
        assert not health.ok and health.message == problem
        assert doc["status"] == "unhealthy" and doc["problems"]["sonarr"] == problem  # what /health answers
        assert [d["download_id"] for d in report["unmatched_queue"]] == [dead]

        named = {**plain, "qbittorrent": "qbt-a"}
        monitor = Monitor(config(tmp_path / "named", qbts, [named]))
        try:
            report = monitor.run_cycle().to_dict()
        finally:
            monitor.close()
        assert [m for m, _ in mutating(sonarr)] == ["DELETE", "POST"] and dead not in hashes(qbt)
        assert report["service_errors"] == {}
        assert sonarr.violations == []
    finally:
        sonarr.stop()
