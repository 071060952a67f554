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
        # An app's database, cache or VPN, named after it: the image says what it really is (review 911, 9 #4).
        ("postgres:16-alpine", "sonarr-db"),
        ("docker.io/library/redis:7", "radarr-cache"),
        ("qmcgaw/gluetun:latest", "qbittorrent-vpn"),
        ("lscr.io/linuxserver/mariadb", "lidarr_db"),
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


# -- what discovery adds beside the environment (review 911, issue 9 #3) ---------------------------------------------
KEY_TV, KEY_ANIME = "a" * 32, "b" * 32


def found(*services: discovery.Service) -> discovery.Discovery:
    return discovery.Discovery(
        socket="/var/run/docker.sock", network="traefik_proxy", ran=True, services=list(services)
    )


def sonarr(container: str, address: str, key: str) -> discovery.Service:
    return discovery.Service(
        "sonarr", container, "lscr.io/linuxserver/sonarr", "image", f"http://{container}:8989", address=address,
        port=8989, api_key=key, api_key_source=f"/configs/{container}/config.xml",
    )  # fmt: skip


def qbt(container: str) -> discovery.Service:
    return discovery.Service(
        "qbittorrent", container, "lscr.io/linuxserver/qbittorrent", "image", f"http://{container}:8080", port=8080
    )


SECTIONS = {"qbittorrent", "sonarr", "radarr"}


def test_an_environment_url_elsewhere_is_never_sent_a_discovered_api_key() -> None:
    """SONARR_URL names a Sonarr discovery did not find: the key read from the local Sonarr's config.xml must not
    go to it (it would hand one server's key to another), and the local Sonarr is not added beside it."""
    doc: dict[str, object] = {}
    lines = discovery.fill(
        doc, found(sonarr("sonarr", "172.18.0.3", KEY_TV)), SECTIONS, {"sonarr": {"url": "http://other.example:8989"}}
    )
    assert "sonarr" not in doc and KEY_TV not in repr(doc)
    assert lines == [
        "sonarr: SONARR_URL is not the address of a sonarr discovery found: no API key is taken from discovery for "
        "it (set SONARR_API_KEY)"
    ]


def test_an_environment_url_gets_only_the_key_of_the_service_at_that_address_and_no_other_instance() -> None:
    """SONARR_URL names the discovered `sonarr` by its address on the network: its key is lent, and the other
    discovered Sonarr (sonarr-anime) is not silently added as a second instance."""
    doc: dict[str, object] = {}
    services = found(sonarr("sonarr-anime", "172.18.0.4", KEY_ANIME), sonarr("sonarr", "172.18.0.3", KEY_TV))
    discovery.fill(doc, services, SECTIONS, {"sonarr": {"url": "http://172.18.0.3:8989"}})
    assert doc["sonarr"] == [{"name": "sonarr", "url": "http://sonarr:8989", "api_key": KEY_TV}]
    # A port that differs is another service, even on the same host.
    doc = {}
    discovery.fill(doc, services, SECTIONS, {"sonarr": {"url": "http://sonarr:9999"}})
    assert "sonarr" not in doc


def test_an_environment_password_alone_takes_the_one_qbittorrent_found_and_none_of_two() -> None:
    """QBITTORRENT_PASSWORD sets the first instance's password: with one qBittorrent found it is that one's; with two
    there is no telling which, and adding both would leave the second without a password."""
    doc: dict[str, object] = {}
    discovery.fill(doc, found(qbt("qbittorrent")), SECTIONS, {"qbittorrent": {"password": "pw"}})
    assert doc["qbittorrent"] == [{"name": "qbittorrent", "url": "http://qbittorrent:8080"}]
    doc = {}
    lines = discovery.fill(
        doc, found(qbt("qbittorrent"), qbt("qbittorrent2")), SECTIONS, {"qbittorrent": {"password": "pw"}}
    )
    assert "qbittorrent" not in doc and "set QBITTORRENT_URL to say which" in lines[0]


def test_in_a_file_section_the_environment_url_decides_which_key_the_first_instance_gets() -> None:
    """The file names sonarr:8989 without a key and SONARR_URL moves it elsewhere: the instance that will be used
    is the environment's, so the local Sonarr's key is not filled in."""
    doc: dict[str, object] = {"sonarr": [{"url": "http://sonarr:8989"}]}
    discovery.fill(
        doc, found(sonarr("sonarr", "172.18.0.3", KEY_TV)), SECTIONS, {"sonarr": {"url": "http://elsewhere:8989"}}
    )
    assert doc == {"sonarr": [{"url": "http://sonarr:8989"}]}
    discovery.fill(doc, found(sonarr("sonarr", "172.18.0.3", KEY_TV)), SECTIONS, {})
    assert doc == {"sonarr": [{"url": "http://sonarr:8989", "api_key": KEY_TV}]}
