"""Discovery's pure parts: which container runs which app, whose config.xml is whose, the discovery settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbittorrent_monitor import discovery
from qbittorrent_monitor.config import ConfigError, discovery_settings
from sim.docker_engine import config_xml


@pytest.mark.parametrize(
    ("image", "name", "app"),
    [
        ("lscr.io/linuxserver/sonarr:latest", "tv", "sonarr"),
        ("ghcr.io/hotio/radarr:release@sha256:" + "0" * 64, "films", "radarr"),
        ("linuxserver/qbittorrent", "torrents", "qbittorrent"),
        ("qbittorrentofficial/qbittorrent-nox:5.0.3-1", "qbit", "qbittorrent"),
        ("binhex/arch-qbittorrentvpn:latest", "vpn", "qbittorrent"),
        ("ghcr.io/hotio/lidarr", "music", "lidarr"),
        ("ghcr.io/hotio/readarr:nightly", "books", "readarr"),
        ("ghcr.io/hotio/whisparr:v3", "w", "whisparr"),
        # an image we do not know: its container name tells
        ("registry.example/custom/media-tv:1", "sonarr-4k", "sonarr"),
        ("sha256:" + "1" * 64, "radarr", "radarr"),
    ],
)
def test_apps_are_recognised_by_image_under_any_owner_then_by_name(image: str, name: str, app: str) -> None:
    matched = discovery.match_app(image, name)
    assert matched is not None and matched[0].name == app


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("ghcr.io/owner/qbittorrent-monitor:latest", "qbittorrent-monitor"),  # ourselves
        ("ghcr.io/onedr0p/exportarr:v2", "sonarr-exporter"),
        ("ghcr.io/hotio/qbitmanage", "qbit_manage"),
        ("traefik:v3.1", "traefik"),
    ],
)
def test_neighbours_with_app_like_names_are_not_apps(image: str, name: str) -> None:
    assert discovery.match_app(image, name) is None


def test_config_xml_gives_key_port_and_normalised_url_base(tmp_path: Path) -> None:
    path = config_xml(tmp_path / "config.xml", api_key="k" * 32, port=8990, url_base="/sonarr/")
    cfg = discovery.read_config_xml(str(path))
    assert (cfg.api_key, cfg.port, cfg.url_base) == ("k" * 32, 8990, "/sonarr")


def test_globs_really_expand_and_a_folder_means_its_config_xml(tmp_path: Path) -> None:
    a = config_xml(tmp_path / "configs" / "sonarr" / "config.xml", api_key="a", port=1)
    b = config_xml(tmp_path / "configs" / "radarr" / "config" / "config.xml", api_key="b", port=2)
    found = discovery.find_config_files(
        [str(tmp_path / "configs" / "**" / "config.xml"), str(tmp_path / "configs" / "*")]
    )
    assert found == [str(b), str(a)]


def test_a_config_xml_belongs_to_the_container_whose_config_folder_it_is() -> None:
    # ssdv2: the container mounts <storage>/alice/sonarr/config at /config; the monitor sees <storage>/alice at /configs
    source = "/settings/storage/docker/alice/sonarr/config"
    assert discovery._score(source, "sonarr", "/configs/sonarr/config/config.xml") == 3
    # sharing only the generic "config" folder name is no evidence
    assert discovery._score(source, "sonarr", "/configs/radarr/config/config.xml") == 0
    # no mount information: a folder named like the container
    assert discovery._score(None, "radarr", "/configs/radarr/config.xml") == 1


def test_discovery_settings_from_the_environment_and_their_errors() -> None:
    s = discovery_settings({}, {"DOCKER_NETWORK": "saltbox", "DISCOVERY_CONFIG_PATHS": "/a/*.xml:/b/*/config.xml"}, "x")
    assert (s.network, s.config_paths, s.docker_socket) == (
        "saltbox",
        ["/a/*.xml", "/b/*/config.xml"],
        "/var/run/docker.sock",
    )
    with pytest.raises(ConfigError, match=r"discovery\.netwrk: unknown key"):
        discovery_settings({"discovery": {"netwrk": "x"}}, {}, "config.yaml")
