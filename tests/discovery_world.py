"""A seedbox as discovery sees it: containers on two networks (a fake Docker engine on a unix socket) whose
qBittorrent, Sonarr, Radarr and Lidarr are the suite's real qbittorrent-nox and *arr simulators on loopback, and their
config.xml files in the layouts ssdv2 (`<storage>/<app>/config/config.xml`) and Saltbox (`/opt/<app>/config.xml`)
use, mounted read-only under one folder as the deployment files do (`/configs`)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.qbt import QBittorrent
from sim.arr import ArrSimulator
from sim.docker_engine import FakeContainer, FakeDockerEngine, config_xml

NETWORK = "traefik_proxy"


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@dataclass
class World:
    engine: FakeDockerEngine
    socket: Path
    configs: Path  # what the monitor would see at /configs
    lidarr_key: str
    lidarr: ArrSimulator  # config.py has a lidarr section since issue 8: a found Lidarr is monitored

    @property
    def config_paths(self) -> list[str]:
        return [str(self.configs / "*" / "config.xml"), str(self.configs / "*" / "config" / "config.xml")]

    def env(self, data_dir: Path) -> dict[str, str]:
        """The environment of a monitor container deployed with the ssdv2 file, pointed at this world."""
        return {
            "DATA_DIR": str(data_dir),
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_NETWORK": NETWORK,
            "DISCOVERY_CONFIG_PATHS": ":".join(self.config_paths),
        }


@contextmanager
def seedbox(root: Path, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator) -> Iterator[World]:
    # A unix socket path must stay under 108 bytes: pytest's tmp_path can be longer.
    short = Path(tempfile.mkdtemp(prefix="qbm-dk-"))
    socket = short / "docker.sock"
    configs = root / "configs"
    # ssdv2: /settings/storage/docker/alice/sonarr/config mounted at /config; the monitor sees .../alice at /configs
    config_xml(configs / "sonarr" / "config" / "config.xml", api_key=sonarr.api_key, port=port_of(sonarr.url))
    # Saltbox: /opt/radarr at /config; another Radarr's folder beside it must not be taken for this one's
    config_xml(configs / "radarr" / "config.xml", api_key=radarr.api_key, port=port_of(radarr.url), instance="Radarr")
    config_xml(configs / "radarr4k" / "config.xml", api_key=secrets.token_hex(16), port=7879, instance="Radarr4K")
    lidarr = ArrSimulator(
        "lidarr", qbt_url=qbt.url, qbt_username=qbt.username, qbt_password=qbt.password, category="lidarr"
    )
    lidarr.start()
    config_xml(configs / "lidarr" / "config.xml", api_key=lidarr.api_key, port=port_of(lidarr.url), instance="Lidarr")
    (configs / "broken").mkdir()
    (configs / "broken" / "config.xml").write_text("<Config><ApiKey>half a file")
    containers = [
        FakeContainer(
            "qbittorrent",
            "lscr.io/linuxserver/qbittorrent:latest",
            {NETWORK: "127.0.0.1", "bridge": "172.17.0.2"},
            env=["PUID=1000", "PGID=1000", "TZ=Europe/Paris", f"WEBUI_PORT={qbt.port}", "TORRENTING_PORT=6881"],
            mounts=[("/settings/storage/docker/alice/qbittorrent/config", "/config", True)],
            exposed=["8080/tcp", "6881/tcp", "6881/udp"],
        ),
        FakeContainer(
            "sonarr",
            "lscr.io/linuxserver/sonarr:latest",
            {NETWORK: "127.0.0.1"},
            env=["PUID=1000", "PGID=1000", "TZ=Europe/Paris"],
            mounts=[
                ("/settings/storage/docker/alice/sonarr/config", "/config", True),
                ("/home/alice", "/home/alice", True),
            ],
            exposed=["8989/tcp"],
        ),
        FakeContainer(
            "radarr",
            "ghcr.io/hotio/radarr:release",
            {NETWORK: "127.0.0.1"},
            env=["PUID=1000", "PGID=1000", "UMASK=002", "TZ=Etc/UTC", "WEBUI_PORTS=7878/tcp"],
            mounts=[("/opt/radarr", "/config", True)],
            exposed=["7878/tcp"],
        ),
        FakeContainer(
            "lidarr",
            "ghcr.io/hotio/lidarr:release",
            {NETWORK: "127.0.0.1"},
            mounts=[("/opt/lidarr", "/config", True)],
            exposed=["8686/tcp"],
        ),
        # On another network only: the monitor could not reach it.
        FakeContainer(
            "sonarr-old",
            "linuxserver/sonarr:3.0.10",
            {"bridge": "172.17.0.5"},
            mounts=[("/srv/sonarr-old", "/config", True)],
            exposed=["8989/tcp"],
        ),
        # Not apps the monitor uses (our own image has "qbittorrent" in its name).
        FakeContainer(
            "qbittorrent-monitor", "ghcr.io/qbittorrent-monitor/qbittorrent-monitor:latest", {NETWORK: "172.18.0.9"}
        ),
        FakeContainer("traefik", "traefik:v3.1", {NETWORK: "172.18.0.2"}, exposed=["80/tcp", "443/tcp"]),
    ]
    engine = FakeDockerEngine(socket, containers)
    engine.start()
    try:
        yield World(engine, socket, configs, lidarr.api_key, lidarr)
    finally:
        engine.stop()
        lidarr.stop()
        shutil.rmtree(short, ignore_errors=True)
    assert lidarr.violations == [], f"requests the Lidarr spec refuses: {lidarr.violations}"
