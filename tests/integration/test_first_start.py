"""The first start of a container deployed with the ssdv2 file: an empty data folder, the Docker socket and the
*arr config folders mounted. The monitor must write its configuration (0600) from what it found, repair for real
when that is enough, say exactly which value is missing when it is not, and never overwrite a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from discovery_world import World, seedbox
from e2e import SONARR_CATEGORY, cli
from harness.qbt import QBittorrent
from harness.states import StateFactory, closed_port
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator) -> World:
    with seedbox(tmp_path, qbt, sonarr, radarr) as w:
        yield w  # type: ignore[misc]


def test_first_start_writes_the_config_runs_a_real_repair_and_the_next_start_keeps_the_file(
    world: World, states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, tmp_path: Path
) -> None:
    dead = states.unregistered("First.Start.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "First.Start.S01E01", series_id=7, season=1, episode_ids=[71])
    data = tmp_path / "data"  # empty, as a new container's /config
    env = {**world.env(data), "QBITTORRENT_PASSWORD": qbt.password}

    result = cli("--test", env=env)

    assert result.returncode == 0, result.stderr
    config_file = data / "config" / "config.yaml"
    assert config_file.stat().st_mode & 0o777 == 0o600
    written = yaml.safe_load(config_file.read_text())
    assert written["qbittorrent"] == [{"name": "qbittorrent", "url": qbt.url, "username": qbt.username}]
    assert written["sonarr"] == [{"name": "sonarr", "url": sonarr.url, "api_key": sonarr.api_key}]
    assert written["radarr"] == [{"name": "radarr", "url": radarr.url, "api_key": radarr.api_key}]
    lidarr = world.lidarr
    assert written["lidarr"] == [{"name": "lidarr", "url": lidarr.url, "api_key": lidarr.api_key}]
    assert qbt.password not in config_file.read_text()  # the environment's secret stays in the environment
    assert config_file.read_text().startswith("# qbittorrent-monitor configuration, written on the first start")
    # The cycle ran with what was found: the dead download was removed through Sonarr and searched once.
    assert dead not in {t["hash"] for t in qbt.info()}
    assert [c["name"] for c in sonarr.commands if c["trigger"] == "manual"] == ["EpisodeSearch"]
    report = json.loads((data / "config" / "discovered_services.json").read_text())
    assert {s["app"] for s in report["services"]} == {"qbittorrent", "sonarr", "radarr", "lidarr"}

    before = (config_file.read_bytes(), config_file.stat().st_mtime_ns)
    again = cli("--test", env=env)
    assert again.returncode == 0, again.stderr
    assert (config_file.read_bytes(), config_file.stat().st_mtime_ns) == before  # loaded, unchanged
    assert "first start" not in again.stderr


def test_without_the_password_it_names_the_one_missing_value_and_how_to_give_it(
    world: World, qbt: QBittorrent, tmp_path: Path
) -> None:
    data = tmp_path / "data"

    result = cli("--test", env=world.env(data))

    assert result.returncode == 2
    assert "one value is missing: qbittorrent[0].password" in result.stderr
    assert "QBITTORRENT_PASSWORD" in result.stderr and str(data / "config" / "config.yaml") in result.stderr
    config_file = data / "config" / "config.yaml"
    assert config_file.stat().st_mode & 0o777 == 0o600  # what was found is kept for the next start
    before = config_file.read_bytes()

    # The user gives it in the environment: the same file now works, untouched.
    fixed = cli("--test", env={**world.env(data), "QBITTORRENT_PASSWORD": qbt.password})
    assert fixed.returncode == 0, fixed.stderr
    assert config_file.read_bytes() == before


def test_an_existing_configuration_is_never_overwritten(world: World, qbt: QBittorrent, tmp_path: Path) -> None:
    data = tmp_path / "data"
    config_file = data / "config" / "config.yaml"
    config_file.parent.mkdir(parents=True)
    arrs = "".join(f"{app}: []\n" for app in ("sonarr", "radarr", "lidarr", "readarr", "whisparr"))
    mine = f"# mine\nqbittorrent: [{{url: '{qbt.url}', password: '{qbt.password}'}}]\n{arrs}"
    config_file.write_text(mine)

    result = cli("--test", env=world.env(data))

    assert result.returncode == 0, result.stderr
    assert config_file.read_text() == mine
    assert world.engine.requests == []  # nothing left to discover: the Docker engine was not even asked


def test_after_the_first_start_nothing_asks_the_docker_engine_again(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, tmp_path: Path
) -> None:
    """The first start writes every section, `readarr: []` and `whisparr: []` for the apps it did not find (the
    seedbox has none). The file then says everything: the second start, the container's --health-check (every
    minute) and `history` make zero Docker engine requests, and the last two ask no *arr for its download clients."""
    data = tmp_path / "data"
    env = {**world.env(data), "QBITTORRENT_PASSWORD": qbt.password}
    first = cli("--test", env=env)
    assert first.returncode == 0, first.stderr
    assert world.engine.requests, "the first start asks the engine"
    text = (data / "config" / "config.yaml").read_text()
    written = yaml.safe_load(text)
    assert written["readarr"] == [] and written["whisparr"] == []
    assert "# readarr: discovery found none on network traefik_proxy" in text

    world.engine.requests.clear()
    again = cli("--test", env=env)
    assert again.returncode == 0, again.stderr
    assert world.engine.requests == []
    sonarr.clear_log()  # the cycle itself reads Sonarr's download clients (mapping.py); discovery must not
    check = cli("--health-check", env={**env, "HEALTH_PORT": str(closed_port())})  # no daemon: it checks itself
    assert check.returncode == 0 and '"status": "healthy"' in check.stdout, check.stdout + check.stderr
    history = cli("history", env=env)
    assert history.returncode == 0, history.stderr
    assert world.engine.requests == []
    assert sonarr.calls("GET", "/api/v3/downloadclient") == []


def test_health_check_asks_the_running_monitor_first_even_when_the_file_leaves_a_key_to_discovery(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, tmp_path: Path
) -> None:
    """A file that leaves Sonarr's key to discovery (each start fills it in from config.xml): a running monitor
    answers --health-check by itself, so the check reads only the file's health section and asks the Docker engine
    nothing (it used to discover before asking, every minute)."""
    from daemon import Daemon, free_port

    data = tmp_path / "data"
    port = free_port()
    path = tmp_path / "config.yaml"
    arrs = "".join(f"{app}: []\n" for app in ("radarr", "lidarr", "readarr", "whisparr"))
    path.write_text(
        f"monitor: {{data_dir: '{data}'}}\nhealth: {{bind: 127.0.0.1, port: {port}}}\n"
        f"qbittorrent: [{{url: '{qbt.url}', password: '{qbt.password}'}}]\nsonarr: [{{url: '{sonarr.url}'}}]\n{arrs}"
    )
    env = world.env(data)
    with Daemon(path, port, env=env) as daemon:
        daemon.wait(lambda status, _doc: status == 200, "healthy")
        world.engine.requests.clear()
        check = cli("--config", str(path), "--health-check", env=env)
        assert check.returncode == 0 and '"status": "healthy"' in check.stdout, check.stdout + check.stderr
        assert world.engine.requests == []
