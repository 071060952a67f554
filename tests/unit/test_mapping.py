"""Which qBittorrent instance an *arr download client is (mapping.py), and where observe sends each queue download
(observe.assign): a user's setups, from one box to two seedboxes behind one Sonarr."""

from __future__ import annotations

from dataclasses import replace

from captured import sonarr_ref
from qbittorrent_monitor.mapping import DownloadClient, Endpoint, in_category, route, route_clients
from qbittorrent_monitor.observe import Assigned, assign

QBTS = [Endpoint.from_url("main", "http://qbittorrent:8080"), Endpoint.from_url("4k", "http://qbt-4k:8080/qbt")]


def qbt(name: str, host: str, port: int = 8080, url_base: str = "", category: str = "tv-sonarr") -> DownloadClient:
    return DownloadClient(name, "QBittorrent", host, port, url_base=url_base, category=category)


def test_each_download_client_goes_to_the_instance_its_settings_name() -> None:
    routes = route_clients([qbt("qBittorrent", "QBittorrent"), qbt("4K", "qbt-4k", url_base="/qbt/")], QBTS)
    assert {n: r.qbittorrent for n, r in routes.items()} == {"qBittorrent": "main", "4K": "4k"}
    assert not any(r.problem or r.assumed for r in routes.values())
    assert routes["qBittorrent"].category == "tv-sonarr"


def test_a_different_port_or_url_base_is_not_the_same_client() -> None:
    routes = route_clients([qbt("a", "qbittorrent", port=8081), qbt("b", "qbt-4k", url_base="")], QBTS)
    assert all(r.problem and not r.qbittorrent for r in routes.values())
    assert "qbittorrent: <name>" in routes["a"].why and "main qbittorrent:8080" in routes["a"].why


def test_one_configured_qbittorrent_is_assumed_and_said_when_the_names_differ() -> None:
    # Sonarr says "localhost", the monitor uses the container name: one qBittorrent configured, so it is that one.
    routes = route_clients([qbt("qBittorrent", "localhost")], QBTS[:1])
    r = routes["qBittorrent"]
    assert (r.qbittorrent, r.assumed, r.problem) == ("main", True, False)
    assert "localhost:8080" in r.why and "qbittorrent:8080" in r.why


def test_the_configuration_overrides_the_settings() -> None:
    clients = [qbt("qBittorrent", "10.0.0.5"), qbt("4K", "10.0.0.6")]
    assert {n: r.qbittorrent for n, r in route_clients(clients, QBTS, "4k").items()} == {
        "qBittorrent": "4k",
        "4K": "4k",
    }
    per_client = route_clients(clients, QBTS, {"4K": "4k"})
    assert per_client["4K"].qbittorrent == "4k" and per_client["qBittorrent"].problem  # the other one still unmatched


def test_two_configured_instances_with_one_url_are_ambiguous() -> None:
    twice = [Endpoint.from_url("a", "http://qbittorrent:8080"), Endpoint.from_url("b", "http://QBITTORRENT:8080/")]
    r = route_clients([qbt("qBittorrent", "qbittorrent")], twice)["qBittorrent"]
    assert r.problem and not r.qbittorrent and "several" in r.why


def test_other_download_clients_are_not_watched_and_not_a_problem() -> None:
    r = route_clients([DownloadClient("Transmission", "Transmission", "tr", 9091)], QBTS)["Transmission"]
    assert (r.qbittorrent, r.problem) == ("", False)


def test_a_queue_download_goes_to_exactly_one_instance() -> None:
    routes = route_clients([qbt("qBittorrent", "qbittorrent"), qbt("4K", "qbt-4k", url_base="qbt")], QBTS)
    hd, uhd = sonarr_ref("a" * 40, [1]), sonarr_ref("b" * 40, [2])
    uhd = replace(uhd, items=tuple(replace(i, download_client="4K") for i in uhd.items))
    out = Assigned()
    assign("sonarr", [hd, uhd], routes, out)
    assert {c: sorted(h) for c, h in out.by_client.items()} == {"main": ["a" * 40], "4k": ["b" * 40]}
    assert [g.client for gs in out.by_client["4k"].values() for g in gs] == ["4k"]
    assert out.unplaced == [] and out.problems == {}


def test_unplaced_downloads_are_counted_as_the_arrs_problem() -> None:
    routes = route_clients([qbt("qBittorrent", "elsewhere"), qbt("4K", "qbt-4k", url_base="qbt")], QBTS)
    out = Assigned()
    assign("sonarr", [sonarr_ref("a" * 40, [1]), sonarr_ref("c" * 40, [3])], routes, out)
    assert out.by_client == {} and len(out.unplaced) == 2
    assert out.problems["sonarr"].startswith("2 download(s) not judged: its settings (http://elsewhere:8080)")


def test_an_app_with_one_qbittorrent_needs_no_client_name() -> None:
    routes = route_clients([qbt("Only", "qbittorrent")], QBTS)
    assert route("", routes) is routes["Only"]
    assert route("Renamed since", routes) is None


def test_the_category_tells_a_torrent_the_app_cannot_see() -> None:
    assert in_category("tv-sonarr", "tv-sonarr") and in_category("tv-sonarr/4k", "tv-sonarr")
    assert in_category("anything", "")  # no category: the app sees every torrent
    assert not in_category("radarr", "tv-sonarr") and not in_category("tv-sonarr-old", "tv-sonarr")
