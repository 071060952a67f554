"""Which configured qBittorrent instance each *arr download client is: pure, no I/O.

An *arr names the qBittorrent it uses in its download client settings (`GET /downloadclient`: host, port, urlBase,
category), and every queue record names its download client. `route_clients` matches those settings against the
configured qBittorrent URLs; an *arr instance's `qbittorrent:` setting overrides the match. A queue download then goes
to exactly one qBittorrent instance, the one its *arr uses (`route`), so a hash two instances both hold is never
confused, and one queue item is never repaired twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

QBITTORRENT = "qbittorrent"  # the download client `implementation` (compared case-insensitively)


@dataclass(frozen=True, slots=True)
class DownloadClient:
    """One download client definition of an *arr, as its settings say."""

    name: str
    implementation: str
    host: str
    port: int
    use_ssl: bool = False
    url_base: str = ""
    category: str = ""
    enabled: bool = True

    @property
    def is_qbittorrent(self) -> bool:
        return self.implementation.lower() == QBITTORRENT

    def where(self) -> str:
        scheme = "https" if self.use_ssl else "http"
        return f"{scheme}://{self.host}:{self.port}{_base(self.url_base)}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A configured qBittorrent instance, by its URL."""

    name: str
    host: str
    port: int
    url_base: str

    @classmethod
    def from_url(cls, name: str, url: str) -> Endpoint:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(name, (parts.hostname or "").lower(), port, parts.path)

    def where(self) -> str:
        return f"{self.host}:{self.port}{_base(self.url_base)}"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one download client's downloads are: a qBittorrent instance, or why none."""

    download_client: str
    qbittorrent: str  # the instance name; "" when not mapped
    why: str
    category: str = ""  # the category the app uses there ("" = every torrent)
    problem: bool = False  # a qBittorrent client the monitor cannot place: its downloads are not judged
    assumed: bool = False  # no match, but the only configured qBittorrent: said once in the log


def _base(url_base: str) -> str:
    base = url_base.strip().strip("/")
    return f"/{base}" if base else ""


def matches(client: DownloadClient, endpoint: Endpoint) -> bool:
    """The same host (case-insensitive), port and URL base."""
    return (
        client.host.lower() == endpoint.host
        and client.port == endpoint.port
        and _base(client.url_base) == _base(endpoint.url_base)
    )


def route_clients(
    clients: list[DownloadClient], endpoints: list[Endpoint], override: str | dict[str, str] | None = None
) -> dict[str, Route]:
    """Each download client (by name) to its qBittorrent instance: the override first, then the one configured URL
    its settings match; with no match and a single qBittorrent configured, that one (`assumed`); otherwise a problem
    that names the fix."""
    routes: dict[str, Route] = {}
    names = [e.name for e in endpoints]
    for c in clients:
        if not c.is_qbittorrent:
            routes[c.name] = Route(c.name, "", f"a {c.implementation} client, not qBittorrent: not watched")
            continue
        chosen = override if isinstance(override, str) else (override or {}).get(c.name)
        if chosen:
            routes[c.name] = Route(c.name, chosen, "set in the configuration (qbittorrent:)", c.category)
            continue
        found = [e for e in endpoints if matches(c, e)]
        fix = f"set `qbittorrent: <name>` on this instance (one of: {', '.join(names) or 'none'})"
        if len(found) == 1:
            why = f"its settings ({c.where()}) match the configured URL"
            routes[c.name] = Route(c.name, found[0].name, why, c.category)
        elif found:
            why = f"its settings ({c.where()}) match several configured qBittorrent instances: {fix}"
            routes[c.name] = Route(c.name, "", why, c.category, problem=True)
        elif len(endpoints) == 1:
            why = (
                f"the only configured qBittorrent, although the app's settings name {c.where()} and the monitor"
                f" uses {endpoints[0].where()} (if they are different programs, {fix})"
            )
            routes[c.name] = Route(c.name, endpoints[0].name, why, c.category, assumed=True)
        else:
            configured = ", ".join(f"{e.name} {e.where()}" for e in endpoints)
            why = f"its settings ({c.where()}) match no configured qBittorrent ({configured}): {fix}"
            routes[c.name] = Route(c.name, "", why, c.category, problem=True)
    return routes


def route(download_client: str, routes: dict[str, Route]) -> Route | None:
    """The route of a queue download by its `downloadClient` name; an app with a single qBittorrent client needs
    no name. None: the app has no such qBittorrent client (renamed, removed, or not a qBittorrent)."""
    if download_client in routes:
        return routes[download_client]
    qbt = [r for r in routes.values() if r.qbittorrent or r.problem]
    if not download_client and len(qbt) == 1:
        return qbt[0]
    return None


def in_category(torrent_category: str, category: str) -> bool:
    """Whether a torrent is one the app can see: it polls qBittorrent for its own category only (subcategories
    `tv/x` included); an app without a category sees every torrent."""
    return not category or torrent_category == category or torrent_category.startswith(category + "/")
