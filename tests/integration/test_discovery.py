"""Discovery against a fake Docker engine on a unix socket (the real `docker` SDK talks HTTP to it), real config.xml
files and the *arr simulators' real /api/v3/downloadclient, pointing at the suite's real qbittorrent-nox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from discovery_world import NETWORK, World, port_of, seedbox
from e2e import RADARR_CATEGORY, SONARR_CATEGORY, cli
from harness.qbt import QBittorrent
from qbittorrent_monitor import bootstrap, discovery
from qbittorrent_monitor.config import DiscoverySettings
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator) -> World:
    with seedbox(tmp_path, qbt, sonarr, radarr) as w:
        yield w  # type: ignore[misc]


def settings(world: World) -> DiscoverySettings:
    return DiscoverySettings(docker_socket=str(world.socket), network=NETWORK, config_paths=world.config_paths)


def test_finds_each_app_its_address_on_the_network_its_key_and_which_qbittorrent_it_uses(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, tmp_path: Path
) -> None:
    found = discovery.discover(settings(world))

    assert found.ran
    by_container = {s.container: s for s in found.services}
    # Our own container, traefik and the Sonarr on the default bridge only are not services to use.
    assert set(by_container) == {"qbittorrent", "sonarr", "radarr", "lidarr"}
    assert found.skipped == [
        {"container": "sonarr-old", "app": "sonarr", "reason": "not on network traefik_proxy (it is on: bridge)"}
    ]
    q = by_container["qbittorrent"]
    # The traefik_proxy address, not the bridge one; the WebUI port the linuxserver image was given (WEBUI_PORT).
    assert (q.matched_by, q.address, q.url) == ("image", "127.0.0.1", qbt.url)
    assert q.username == qbt.username  # learnt from the *arr download clients
    assert sorted(q.used_by) == [
        "lidarr (category lidarr)",
        f"radarr (category {RADARR_CATEGORY})",
        f"sonarr (category {SONARR_CATEGORY})",
    ]

    s, r = by_container["sonarr"], by_container["radarr"]
    assert (s.url, s.api_key, s.config_xml) == (
        sonarr.url,
        sonarr.api_key,
        str(world.configs / "sonarr/config/config.xml"),
    )
    # hotio's Radarr, Saltbox layout; the radarr4k folder beside it is another Radarr's
    assert (r.url, r.api_key, r.config_xml) == (radarr.url, radarr.api_key, str(world.configs / "radarr/config.xml"))
    [s_client], [r_client] = s.download_clients, r.download_clients
    assert (s_client.host, s_client.port, s_client.category, s_client.qbittorrent) == (
        "127.0.0.1",
        qbt.port,
        SONARR_CATEGORY,
        "qbittorrent",
    )
    assert (r_client.category, r_client.qbittorrent) == (RADARR_CATEGORY, "qbittorrent")
    assert s.usable and r.usable and q.usable

    # Lidarr (API v1) is found with its key and its download client; a half-written config.xml is reported and
    # does not stop discovery.
    assert by_container["lidarr"].api_key == world.lidarr_key and by_container["lidarr"].usable
    [l_client] = by_container["lidarr"].download_clients
    assert (l_client.category, l_client.qbittorrent) == ("lidarr", "qbittorrent")
    assert any("broken/config.xml" in e for e in found.errors)
    # Discovery only reads from the engine.
    assert world.engine.writes == [] and any("/containers/json" in p for _, p in world.engine.requests)
    # Exactly what a socket proxy must allow (README): the version, the container list, each container's inspect.
    import re

    asked = {
        re.sub(r"^/v[\d.]+", "", re.sub(r"/containers/[0-9a-f]{64}/", "/containers/ID/", p))
        for _, p in world.engine.requests
    }
    assert {p.split("?")[0] for p in asked} == {"/version", "/containers/json", "/containers/ID/json"}, asked

    report = tmp_path / "out" / discovery.REPORT_NAME
    assert discovery.write_report(found, report)
    assert report.stat().st_mode & 0o777 == 0o600
    text = report.read_text()
    for key in (sonarr.api_key, radarr.api_key, world.lidarr_key):
        assert key not in text
    doc = json.loads(text)
    assert {x["container"]: x.get("api_key_found") for x in doc["services"]} == {
        "qbittorrent": None,
        "sonarr": True,
        "radarr": True,
        "lidarr": True,
    }
    assert not discovery.write_report(found, report)  # unchanged: not rewritten


def test_only_the_apps_the_configuration_supports_are_filled_in(world: World, sonarr: ArrSimulator) -> None:
    found = discovery.discover(settings(world))
    doc: dict[str, object] = {}
    lines = discovery.fill(doc, found, bootstrap.supported_sections(), {})
    assert set(doc) == {"qbittorrent", "sonarr", "radarr", "lidarr"}  # every section config.py has (issue 8: lidarr)
    assert doc["sonarr"] == [{"name": "sonarr", "url": sonarr.url, "api_key": sonarr.api_key}]
    assert len(lines) == 4
    only_v1 = discovery.fill({}, found, {"qbittorrent", "sonarr", "radarr"}, {})
    assert len(only_v1) == 3  # a section the configuration lacks stays in the report


def test_explicit_configuration_and_environment_win_over_discovery(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "qbittorrent: [{name: mine, url: 'http://qbt.example:8080', username: me, password: pw}]\n"
        f"sonarr: [{{name: tv, url: '{sonarr.url}'}}]\n"  # no api_key: the discovered Sonarr at that address has it
        "health: {port: 0}\n"
    )
    env = {**world.env(tmp_path / "data"), "RADARR_API_KEY": "from-the-environment"}

    loaded = bootstrap.load(path, explicit=True, env=env)

    config = loaded.config
    assert [(q.name, q.url, q.username) for q in config.qbittorrent] == [("mine", "http://qbt.example:8080", "me")]
    assert [(s.name, s.url, s.api_key.get_secret_value()) for s in config.sonarr] == [
        ("tv", sonarr.url, sonarr.api_key)
    ]
    # The file says nothing of Radarr: discovery gives it, the environment's key still wins.
    assert [(r.url, r.api_key.get_secret_value()) for r in config.radarr] == [(radarr.url, "from-the-environment")]
    assert path.read_text().startswith("qbittorrent: [{name: mine")  # an explicit file is never rewritten
    assert (tmp_path / "data" / "config" / discovery.REPORT_NAME).exists()
    # The settings page says which values discovery filled in (they were labelled `default`).
    from qbittorrent_monitor.config import provenance

    rows = {r["key"]: r["source"] for r in provenance(config, path, env, discovered=loaded.discovered)}
    assert rows["sonarr[0].url"] == "file" and rows["sonarr[0].api_key"] == "discovery"
    assert rows["radarr[0].url"] == "discovery" and rows["radarr[0].api_key"] == "environment"
    assert rows["qbittorrent[0].url"] == "file" and rows["monitor.check_interval"] == "default"


def test_sonarr_url_in_the_environment_is_not_sent_the_key_of_the_sonarr_discovery_found(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, tmp_path: Path
) -> None:
    """SONARR_URL points at another Sonarr and no SONARR_API_KEY is given: the key read from the local Sonarr's
    config.xml must not be sent to it. The start stops on the one missing value instead, naming it."""
    path = tmp_path / "config.yaml"
    path.write_text("health: {port: 0}\n")
    other = f"http://127.0.0.2:{port_of(sonarr.url)}"  # another host, the same port
    env = {**world.env(tmp_path / "data"), "SONARR_URL": other, "QBITTORRENT_PASSWORD": qbt.password}
    with pytest.raises(bootstrap.IncompleteConfig) as failed:
        bootstrap.load(path, explicit=True, env=env)
    assert "sonarr[0].api_key" in str(failed.value) and sonarr.api_key not in str(failed.value)
    assert any("SONARR_URL is not the address of a sonarr discovery found" in m for _, m in failed.value.notes)
    # The same variable naming the discovered Sonarr: its key is used, for it alone.
    loaded = bootstrap.load(path, explicit=True, env={**env, "SONARR_URL": sonarr.url})
    assert [(s.url, s.api_key.get_secret_value()) for s in loaded.config.sonarr] == [(sonarr.url, sonarr.api_key)]


def test_a_fully_configured_monitor_does_not_run_discovery(world: World, tmp_path: Path, qbt: QBittorrent) -> None:
    path = tmp_path / "config.yaml"
    sections = "".join(f"{app}: []\n" for app in ("sonarr", "radarr", "lidarr", "readarr", "whisparr"))
    path.write_text(f"qbittorrent: [{{url: '{qbt.url}', password: x}}]\n{sections}")
    loaded = bootstrap.load(path, explicit=True, env=world.env(tmp_path / "data"))
    assert loaded.discovery is None and world.engine.requests == []


def test_no_socket_is_one_log_line_and_the_monitor_runs_from_its_configuration(
    write_config: Callable[..., tuple[Path, Any]], tmp_path: Path
) -> None:
    path, _ = write_config()
    doc = yaml.safe_load(path.read_text())
    del doc["radarr"]  # a section left to discovery
    path.write_text(yaml.safe_dump(doc))
    missing = tmp_path / "no-such" / "docker.sock"

    result = cli("--config", str(path), "--test", env={"DOCKER_HOST": f"unix://{missing}"})

    assert result.returncode == 0, result.stderr
    lines = [
        line
        for line in result.stderr.splitlines()
        if ("discovery" in line or "Docker" in line) and " DEBUG " not in line
    ]
    assert len(lines) == 1 and f"no Docker socket at unix://{missing}" in lines[0], result.stderr
    assert "running from the configuration alone" in lines[0]
    assert "Traceback" not in result.stderr


def test_an_engine_that_answers_garbage_is_reported_not_fatal(tmp_path: Path) -> None:
    not_a_socket = tmp_path / "docker.sock"
    not_a_socket.write_text("I am a file")
    found = discovery.discover(DiscoverySettings(docker_socket=str(not_a_socket)))
    assert found.ran and found.services == []
    [error] = found.errors
    assert error.startswith(f"cannot talk to the Docker engine at {not_a_socket}")


def test_the_port_comes_from_config_xml_and_the_apps_own_environment_overrides_it(
    world: World, sonarr: ArrSimulator
) -> None:
    sonarr_container = next(c for c in world.engine.containers if c.name == "sonarr")
    sonarr_container.env.append("SONARR__AUTH__APIKEY=key-from-the-container-environment")
    found = discovery.discover(settings(world))
    s = next(x for x in found.services if x.container == "sonarr")
    assert s.port == port_of(sonarr.url)
    assert s.api_key == "key-from-the-container-environment"
    assert s.api_key_source == "the container's SONARR__AUTH__APIKEY"


def test_a_qbittorrent_behind_a_vpn_container_is_one_instance_and_app_databases_are_not_apps(tmp_path: Path) -> None:
    """A common VPN setup: gluetun named `qbittorrent-vpn`, qBittorrent in its network namespace
    (`network_mode: container:...`), Sonarr's postgres named `sonarr-db`, Radarr's redis `radarr-cache`. One
    qBittorrent is found, at the VPN container's address; were the VPN taken for a second qBittorrent at the same
    address, QBITTORRENT_PASSWORD would fill only the first and the start would fail on qbittorrent[1].password.
    A VPN image discovery does not know, named like qBittorrent, is the same address again: one service, the one
    matched by image."""
    import tempfile

    from sim.docker_engine import FakeContainer, FakeDockerEngine

    short = Path(tempfile.mkdtemp(prefix="qbm-vpn-"))
    vpn = FakeContainer(
        "qbittorrent-vpn", "qmcgaw/gluetun:latest", {"traefik_proxy": "172.18.0.5"}, exposed=["8080/tcp"]
    )
    box = FakeContainer(
        "qbittorrent2", "ghcr.io/someone/vpn-box:1", {"traefik_proxy": "172.18.0.6"}, exposed=["8081/tcp"]
    )
    containers = [
        vpn,
        FakeContainer("qbittorrent", "lscr.io/linuxserver/qbittorrent", {}, network_mode=f"container:{vpn.id}"),
        box,
        FakeContainer(
            "torrents", "lscr.io/linuxserver/qbittorrent", {}, network_mode=f"container:{box.id}",
            env=["WEBUI_PORT=8081"],
        ),
        FakeContainer("sonarr-db", "postgres:16-alpine", {"traefik_proxy": "172.18.0.7"}, exposed=["5432/tcp"]),
        FakeContainer("radarr-cache", "redis:7", {"traefik_proxy": "172.18.0.8"}, exposed=["6379/tcp"]),
    ]  # fmt: skip
    try:
        with FakeDockerEngine(short / "docker.sock", containers):
            found = discovery.discover(DiscoverySettings(docker_socket=str(short / "docker.sock"), config_paths=[]))
    finally:
        import shutil

        shutil.rmtree(short, ignore_errors=True)
    assert [(s.app, s.container, s.url, s.matched_by) for s in found.services] == [
        ("qbittorrent", "qbittorrent", "http://172.18.0.5:8080", "image"),
        ("qbittorrent", "torrents", "http://172.18.0.6:8081", "image"),
    ]
    assert found.skipped == [
        {
            "container": "qbittorrent2",
            "app": "qbittorrent",
            "reason": "the same address as torrents (qbittorrent, matched by image)",
        }
    ]


def test_the_dashboard_and_the_api_show_what_discovery_found_and_never_a_key(
    world: World, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, tmp_path: Path
) -> None:
    """Settings has a "Discovered" card and GET /api/discovery (in the OpenAPI document) lists each service found,
    how, and whether it is monitored; the API keys read from config.xml appear in neither. After a restart without
    discovery (the file says everything) the last report is shown."""
    import re

    import httpx
    from openapi_schema_validator import OAS30Validator

    from qbittorrent_monitor.monitor import Monitor
    from qbittorrent_monitor.web.app import WebServer
    from qbittorrent_monitor.web.auth import hash_password

    key, password = "discovery-api-key-0123456789abcdef", "a dashboard password"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"dashboard": {"api_keys": [key], "password_hash": hash_password(password)}}))
    env = {**world.env(tmp_path / "data"), "QBITTORRENT_PASSWORD": qbt.password}
    loaded = bootstrap.load(path, explicit=True, env=env)
    secrets = [sonarr.api_key, radarr.api_key, world.lidarr_key, qbt.password]

    def served(found: discovery.Discovery | None) -> dict[str, Any]:
        monitor = Monitor(loaded.config)
        monitor.config_path, monitor.discovery = path, found
        web = WebServer(monitor, "127.0.0.1", 0)
        web.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", timeout=30)
        try:
            openapi = client.get("/api/openapi.json", headers={"X-Api-Key": key}).json()
            answer = client.get("/api/discovery", headers={"X-Api-Key": key})
            schema = openapi["paths"]["/api/discovery"]["get"]["responses"]["200"]["content"]["application/json"]
            OAS30Validator(schema["schema"]).validate(answer.json())
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token is not None
            client.post("/login", data={"password": password, "csrf": token.group(1), "next": "/"})
            page = client.get("/settings")
            assert page.status_code == 200 and "Discovered" in page.text
            for secret in secrets:
                assert secret not in answer.text and secret not in page.text
            assert f"<code>{sonarr.url}</code>" in page.text
            return dict(answer.json())
        finally:
            client.close()
            web.stop()
            monitor.close()

    now = served(loaded.discovery)
    assert now["source"] == "this start" and now["network"] == NETWORK
    by_container = {s["container"]: s for s in now["services"]}
    assert set(by_container) == {"qbittorrent", "sonarr", "radarr", "lidarr"}
    assert by_container["sonarr"]["url"] == sonarr.url and by_container["sonarr"]["api_key_found"] is True
    assert all(s["monitored"] for s in now["services"])  # every one found went into the configuration
    assert now["skipped"][0]["container"] == "sonarr-old"

    later = served(None)  # a later start: discovery did not run, its report is what is known
    assert later["source"] == "report" and later["services"] == now["services"]
