"""Auto-discovery: qBittorrent and the *arr apps from the Docker engine, their API keys from their config.xml.

What it reads, never writes:
- the Docker engine (the `docker` SDK over the socket mounted read-only): the running containers, matched to an app
  by image (`linuxserver/sonarr`, `hotio/sonarr`, `qbittorrentofficial/qbittorrent-nox`, ...: the image's name under
  any owner and registry), else by container name (`sonarr`, `sonarr-4k`); their address on the configured network
  and the app's port inside the container;
- each *arr's config.xml, found with the configured globs under the mounted config folders, and matched to its
  container by the folder the container mounts at /config: API key, port, URL base (the app's own environment
  overrides, e.g. SONARR__AUTH__APIKEY, win over the file, as they do in the app);
- each *arr's download clients (`GET /api/v3/downloadclient`, Lidarr/Readarr `/api/v1`): which qBittorrent it uses
  (host, port, category) and as which user. The password is never readable there (the API masks it).

The result is a `Discovery`; `write_report()` saves it, without any secret, to config/discovered_services.json;
`fill()` puts what was found into a configuration document where the file and the environment say nothing (explicit
configuration always wins). Nothing here raises: every problem is reported in `Discovery.errors`.

Apps are rows of `APPS`; supporting one more app in the configuration needs no change here (see `fill`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import DiscoverySettings

log = logging.getLogger(__name__)

DOCKER_TIMEOUT = 5.0
HTTP_TIMEOUT = 5.0
REPORT_NAME = "discovered_services.json"
# Folder names that say nothing about which app a config.xml belongs to.
GENERIC_DIRS = frozenset({"config", "configs", "data", "appdata", "app", "docker", "opt", "srv", ""})


@dataclass(frozen=True)
class App:
    """One kind of service discovery knows."""

    name: str  # also the configuration section, when config.py has one
    images: frozenset[str]  # image names (the last part of the repository, any owner or registry)
    port: int  # the app's default port inside its container
    api: str = ""  # the *arr API prefix; "" for qBittorrent
    category_field: str = ""  # the download client's category field in this *arr
    port_env: tuple[str, ...] = ()  # container environment variables that set the port (qBittorrent images)

    @property
    def is_arr(self) -> bool:
        return bool(self.api)

    @property
    def env_prefix(self) -> str:
        """The *arr's own configuration overrides: SONARR__AUTH__APIKEY, SONARR__SERVER__PORT, ..."""
        return self.name.upper()


APPS: tuple[App, ...] = (
    App(
        "qbittorrent",
        frozenset({"qbittorrent", "qbittorrent-nox", "qbittorrentvpn", "arch-qbittorrentvpn"}),
        8080,
        port_env=("WEBUI_PORT", "QBT_WEBUI_PORT", "WEBUI_PORTS"),
    ),
    App("sonarr", frozenset({"sonarr", "arch-sonarr"}), 8989, "/api/v3", "tvCategory"),
    App("radarr", frozenset({"radarr", "arch-radarr"}), 7878, "/api/v3", "movieCategory"),
    App("lidarr", frozenset({"lidarr", "arch-lidarr"}), 8686, "/api/v1", "musicCategory"),
    App("readarr", frozenset({"readarr", "arch-readarr"}), 8787, "/api/v1", "musicCategory"),
    App("whisparr", frozenset({"whisparr", "arch-whisparr"}), 6969, "/api/v3", "tvCategory"),
)
BY_NAME = {app.name: app for app in APPS}


@dataclass
class DownloadClient:
    """A qBittorrent download client as an *arr has it configured (host as the *arr sees it)."""

    name: str
    enabled: bool
    host: str
    port: int
    use_ssl: bool
    url_base: str
    username: str
    category: str
    qbittorrent: str | None = None  # the discovered qBittorrent service it points to


@dataclass
class Service:
    """One app found: where it is, and what is known to reach it. `api_key` never leaves the process."""

    app: str
    container: str
    image: str
    matched_by: str
    url: str | None = None
    network: str | None = None
    address: str | None = None
    port: int | None = None
    url_base: str = ""
    api_key: str | None = field(default=None, repr=False)
    api_key_source: str | None = None
    config_xml: str | None = None
    username: str | None = None
    download_clients: list[DownloadClient] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """Enough to monitor it: a URL, and for an *arr its API key."""
        return self.url is not None and self.problem is None and (not BY_NAME[self.app].is_arr or bool(self.api_key))

    def public(self) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if k != "api_key" and v not in (None, [], "")}
        if BY_NAME[self.app].is_arr:
            doc["api_key_found"] = bool(self.api_key)
        return doc


@dataclass
class Discovery:
    socket: str
    network: str
    ran: bool = False  # False: no socket, nothing was looked at
    services: list[Service] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)

    def usable(self, app: str) -> list[Service]:
        return [s for s in self.services if s.app == app and s.usable]

    def found(self, app: str) -> list[Service]:
        return [s for s in self.services if s.app == app]

    def to_dict(self) -> dict[str, Any]:
        return {
            "discovered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "docker_socket": self.socket,
            "network": self.network,
            "ran": self.ran,
            "services": [s.public() for s in self.services],
            "skipped": self.skipped,
            "errors": self.errors,
        }

    def summary(self) -> str:
        if not self.services:
            return f"discovery: no qBittorrent or *arr container found on network {self.network}"
        parts = [f"{s.app} {s.url or '(no address)'}" + ("" if s.usable else " (unusable)") for s in self.services]
        return f"discovery on network {self.network}: " + ", ".join(parts)


# ----------------------------------------------------------------------------------------------- containers


def _image_name(reference: str) -> str:
    """`lscr.io/linuxserver/sonarr:latest@sha256:...` -> `sonarr`."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def _name_pattern(app: str) -> re.Pattern[str]:
    # sonarr, sonarr4k, sonarr-anime, radarr_uhd, qbittorrent2; not qbittorrent-monitor or sonarr-exporter
    return re.compile(rf"^{re.escape(app)}(?:[-_]?[a-z0-9]{{1,6}})?$")


NAME_PATTERNS = {app.name: _name_pattern(app.name) for app in APPS}
# Images that are never one of the apps, whatever their container is called: an app's database (`sonarr-db`), its
# cache (`radarr-cache`), the VPN a qBittorrent runs behind (`qbittorrent-vpn`), a proxy in front of it.
NOT_APPS = frozenset(
    {
        "postgres", "postgresql", "redis", "valkey", "keydb", "mariadb", "mysql", "mongo", "mongodb", "memcached",
        "sqlite", "gluetun", "wireguard", "openvpn-client", "openvpn", "nordvpn", "expressvpn", "pia-wg", "tailscale",
        "nginx", "traefik", "caddy", "haproxy", "swag", "authelia", "oauth2-proxy", "socket-proxy",
        "docker-socket-proxy", "cloudflared", "flaresolverr", "exportarr", "unpackerr", "notifiarr", "recyclarr",
    }
)  # fmt: skip


def match_app(image: str, name: str) -> tuple[App, str] | None:
    """Which app a container runs, and how we know: by image first; by container name only when the image is not
    one we know (an app's or a well-known other one: `postgres` named sonarr-db is Sonarr's database)."""
    image_name = _image_name(image) if image else ""
    for app in APPS:
        if image_name in app.images:
            return app, "image"
    if image_name in NOT_APPS:
        return None
    for app in APPS:
        if NAME_PATTERNS[app.name].match(name.lower()):
            return app, "name"
    return None


def _dedupe(result: Discovery) -> None:
    """One service per address: two containers reached at the same host and port are one app (a qBittorrent in a
    VPN container's network namespace is reached at the VPN container). The one matched by image is kept; the
    other is reported in `skipped`."""
    kept: dict[tuple[str, int | None], Service] = {}
    for service in list(result.services):
        if service.url is None:
            continue
        where = _host_port(service.url)
        other = kept.get(where)
        if other is None:
            kept[where] = service
            continue
        keep, drop = (
            (service, other) if other.matched_by != "image" and service.matched_by == "image" else (other, service)
        )
        kept[where] = keep
        result.services.remove(drop)
        result.skipped.append(
            {
                "container": drop.container,
                "app": drop.app,
                "reason": f"the same address as {keep.container} ({keep.app}, matched by {keep.matched_by})",
            }
        )


def _env(inspect: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (inspect.get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def _name(container: dict[str, Any]) -> str:
    names = container.get("Names") or [container.get("Name") or ""]
    return str(names[0]).lstrip("/")


def _resolves_to(name: str, address: str) -> bool:
    """Whether `name` resolves, from here, to this address (we share the network: use the stable name)."""
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return any(info[4][0] == address for info in infos)


def _network_address(
    inspect: dict[str, Any], network: str, by_id: dict[str, dict[str, Any]]
) -> tuple[str | None, str | None, str | None]:
    """(host to use, IP address, problem) of a container on the network. A container that runs in another
    container's network namespace (`network_mode: container:gluetun`, VPN setups) is reached at that container."""
    mode = str((inspect.get("HostConfig") or {}).get("NetworkMode") or "")
    if mode.startswith("container:"):
        target_id = mode.split(":", 1)[1]
        target = next((c for cid, c in by_id.items() if cid.startswith(target_id) or _name(c) == target_id), None)
        if target is None:
            return None, None, f"uses the network of container {target_id}, which is not running"
        host, address, problem = _network_address(target, network, by_id)
        return host, address, problem
    if mode == "host":
        return None, None, "uses the host's network: give its URL in the configuration"
    networks: dict[str, Any] = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    if network not in networks:
        on = ", ".join(sorted(networks)) or "none"
        return None, None, f"not on network {network} (it is on: {on})"
    address = str(networks[network].get("IPAddress") or "") or None
    name = _name(inspect)
    if address and _resolves_to(name, address):
        return name, address, None
    return address or name, address, None


def _qbt_port(app: App, inspect: dict[str, Any]) -> int:
    env = _env(inspect)
    for var in app.port_env:
        value = env.get(var, "")
        # hotio: WEBUI_PORTS=8080/tcp,8080/udp
        m = re.match(r"^\s*(\d{1,5})", value)
        if m:
            return int(m.group(1))
    return _exposed_port(app, inspect)


def _exposed_port(app: App, inspect: dict[str, Any]) -> int:
    exposed = (inspect.get("Config") or {}).get("ExposedPorts") or {}
    tcp = sorted(int(p.split("/")[0]) for p in exposed if p.endswith("/tcp") and p.split("/")[0].isdigit())
    if not tcp or app.port in tcp:
        return app.port
    return tcp[0]


# ----------------------------------------------------------------------------------------------- config.xml


@dataclass
class ArrConfig:
    path: str
    api_key: str
    port: int | None
    url_base: str


def read_config_xml(path: str) -> ArrConfig:
    """An *arr's config.xml (`<Config><ApiKey>..</ApiKey><Port>..</Port><UrlBase>..</UrlBase>...`)."""
    root = ET.parse(path).getroot()  # a local file of the user's own app (expat refuses entity expansion bombs)
    if root.tag != "Config":
        raise ValueError(f"the root element is <{root.tag}>, not <Config>")

    def text(tag: str) -> str:
        node = root.find(tag)
        return (node.text or "").strip() if node is not None else ""

    port = text("Port")
    return ArrConfig(path, text("ApiKey"), int(port) if port.isdigit() else None, _url_base(text("UrlBase")))


def _url_base(value: str) -> str:
    """As the apps normalise it: no trailing slash, one leading slash, or empty."""
    value = value.strip().strip("/")
    return f"/{value}" if value else ""


def find_config_files(patterns: list[str]) -> list[str]:
    """Every config.xml the globs expand to (a glob naming a folder means its config.xml)."""
    found: list[str] = []
    for pattern in patterns:
        for match in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
            path = os.path.join(match, "config.xml") if os.path.isdir(match) else match
            if os.path.isfile(path) and path not in found:
                found.append(path)
    return found


def _config_mount(inspect: dict[str, Any]) -> str | None:
    for mount in inspect.get("Mounts") or []:
        if str(mount.get("Destination", "")).rstrip("/") == "/config":
            return str(mount.get("Source") or "") or None
    return None


def _score(mount_source: str | None, container: str, candidate: str) -> int:
    """How surely a config.xml belongs to a container: the number of trailing folder names its folder shares with
    the folder the container mounts at /config (at least one of them telling, not `config` or `data`), else 1 if a
    folder on its path is named like the container. 0: not this container's."""
    folder = PurePosixPath(candidate).parent.parts
    if mount_source:
        source = PurePosixPath(mount_source).parts
        common = 0
        while common < min(len(folder), len(source)) and folder[-1 - common] == source[-1 - common]:
            common += 1
        if any(part.lower() not in GENERIC_DIRS for part in folder[len(folder) - common :]):
            return 1 + common
    return 1 if container.lower() in (p.lower() for p in folder) else 0


def _pick_config(
    service: Service, mount_source: str | None, candidates: list[ArrConfig], taken: set[str]
) -> ArrConfig | None:
    scored = sorted(
        ((_score(mount_source, service.container, c.path), c) for c in candidates if c.path not in taken),
        key=lambda sc: -sc[0],
    )
    scored = [(s, c) for s, c in scored if s > 0]
    if not scored:
        return None
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        service.problem = (
            f"more than one config.xml could be its own ({scored[0][1].path}, {scored[1][1].path}): "
            f"set {service.app.upper()}_API_KEY or its api_key in the configuration"
        )
        return None
    return scored[0][1]


# ----------------------------------------------------------------------------------------------- download clients


def read_download_clients(service: Service, app: App) -> list[DownloadClient]:
    """The *arr's qBittorrent download clients (its `/downloadclient` list). Raises httpx.HTTPError/ValueError."""
    assert service.url is not None and service.api_key
    response = httpx.get(
        f"{service.url}{app.api}/downloadclient",
        headers={"X-Api-Key": service.api_key, "Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
        follow_redirects=True,
        trust_env=False,
    )
    if response.status_code == 401:
        raise ValueError("401: the API key from its config.xml was refused")
    response.raise_for_status()
    clients = []
    for item in response.json():
        if str(item.get("implementation", "")).lower() != "qbittorrent":
            continue
        fields = {f.get("name"): f.get("value") for f in item.get("fields") or [] if isinstance(f, dict)}
        category = fields.get(app.category_field)
        if category is None:  # another build's name for it: the one field ending in Category, not the imported one
            category = next(
                (v for k, v in fields.items() if str(k).endswith("Category") and "Imported" not in str(k)), ""
            )
        clients.append(
            DownloadClient(
                name=str(item.get("name") or "qBittorrent"),
                enabled=bool(item.get("enable", True)),
                host=str(fields.get("host") or "localhost"),
                port=int(fields.get("port") or 8080),
                use_ssl=bool(fields.get("useSsl") or False),
                url_base=_url_base(str(fields.get("urlBase") or "")),
                username=str(fields.get("username") or ""),
                category=str(category or ""),
            )
        )
    return clients


# ----------------------------------------------------------------------------------------------- the whole run


def _docker_base_url(value: str) -> str:
    return value if "://" in value else f"unix://{value}"


def _socket_path(value: str) -> str | None:
    if value.startswith("unix://"):
        return value[len("unix://") :]
    return None if "://" in value else value


def discover(settings: DiscoverySettings) -> Discovery:
    """Look at the Docker engine, the config.xml files and the *arr download clients. Never raises."""
    result = Discovery(socket=settings.docker_socket, network=settings.network)
    path = _socket_path(settings.docker_socket)
    if path is not None and not os.path.exists(path):
        return result
    result.ran = True
    try:
        _discover(settings, result)
    except Exception as exc:  # discovery must never stop the monitor
        result.errors.append(f"discovery stopped early: {type(exc).__name__}: {_short(exc)}")
    return result


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def _docker_error(exc: Exception, socket_value: str) -> str:
    text = _short(exc)
    if "Permission denied" in text or isinstance(exc, PermissionError):
        return (
            f"cannot read the Docker socket {socket_value}: permission denied (give the container the socket's "
            'group, e.g. compose `group_add: ["<gid of the socket>"]`)'
        )
    return f"cannot talk to the Docker engine at {socket_value}: {text}"


def _discover(settings: DiscoverySettings, result: Discovery) -> None:
    import docker  # only when there is a socket to talk to

    try:
        api = docker.APIClient(
            base_url=_docker_base_url(settings.docker_socket), version="auto", timeout=DOCKER_TIMEOUT
        )
    except Exception as exc:
        result.errors.append(_docker_error(exc, settings.docker_socket))
        return
    try:
        try:
            summaries: list[dict[str, Any]] = api.containers()
        except Exception as exc:
            result.errors.append(_docker_error(exc, settings.docker_socket))
            return
        inspected: dict[str, dict[str, Any]] = {}
        for summary in summaries:
            cid = str(summary.get("Id", ""))
            try:
                inspected[cid] = api.inspect_container(cid)
            except Exception as exc:
                result.errors.append(f"container {_name(summary)}: cannot inspect it: {_short(exc)}")
    finally:
        with contextlib.suppress(Exception):
            api.close()

    configs: list[ArrConfig] = []
    for path in find_config_files(settings.config_paths):
        try:
            configs.append(read_config_xml(path))
        except (ET.ParseError, ValueError, OSError) as exc:
            result.errors.append(f"cannot read {path}: {_short(exc)}")
    taken: set[str] = set()

    for summary in summaries:
        cid = str(summary.get("Id", ""))
        inspect = inspected.get(cid)
        if inspect is None:
            continue
        name = _name(summary)
        image = str((inspect.get("Config") or {}).get("Image") or summary.get("Image") or "")
        matched = match_app(image, name)
        if matched is None:
            continue
        app, how = matched
        service = Service(app=app.name, container=name, image=image, matched_by=how, network=settings.network)
        host, address, problem = _network_address(inspect, settings.network, inspected)
        if problem is not None:
            result.skipped.append({"container": name, "app": app.name, "reason": problem})
            continue
        service.address = address
        env = _env(inspect)
        if app.is_arr:
            _arr_details(service, app, env, _config_mount(inspect), configs, taken, _exposed_port(app, inspect))
        else:
            service.port = _qbt_port(app, inspect)
        service.url = f"http://{host}:{service.port}{service.url_base}"
        result.services.append(service)
    _dedupe(result)

    for service in result.services:
        app = BY_NAME[service.app]
        if not app.is_arr or not service.usable:
            continue
        try:
            service.download_clients = read_download_clients(service, app)
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            result.errors.append(
                f"{service.app} ({service.container}): cannot read its download clients: {_short(exc)}"
            )
    _link_download_clients(result)


def _arr_details(
    service: Service,
    app: App,
    env: dict[str, str],
    mount_source: str | None,
    configs: list[ArrConfig],
    taken: set[str],
    default_port: int,
) -> None:
    chosen = _pick_config(service, mount_source, configs, taken)
    if chosen is not None:
        taken.add(chosen.path)
        service.config_xml = chosen.path
    prefix = app.env_prefix
    env_key = env.get(f"{prefix}__AUTH__APIKEY", "")
    env_port = env.get(f"{prefix}__SERVER__PORT", "")
    env_base = env.get(f"{prefix}__SERVER__URLBASE")
    if env_key:
        service.api_key, service.api_key_source = env_key, f"the container's {prefix}__AUTH__APIKEY"
    elif chosen is not None and chosen.api_key:
        service.api_key, service.api_key_source = chosen.api_key, chosen.path
    if env_port.isdigit():
        service.port = int(env_port)
    elif chosen is not None and chosen.port:
        service.port = chosen.port
    else:
        service.port = default_port
    if env_base is not None:
        service.url_base = _url_base(env_base)
    elif chosen is not None:
        service.url_base = chosen.url_base
    if not service.api_key and service.problem is None:
        service.problem = (
            f"API key not found: mount its config folder read-only under one of the discovery.config_paths, "
            f"or set {prefix}_API_KEY"
        )


def _link_download_clients(result: Discovery) -> None:
    """Point each *arr download client at a discovered qBittorrent; one that matches none becomes a qBittorrent
    service of its own (its host is as the *arr sees it)."""
    qbts = [s for s in result.services if s.app == "qbittorrent"]
    arrs = [s for s in result.services if BY_NAME[s.app].is_arr]
    for arr in arrs:
        for client in arr.download_clients:
            if not client.enabled:
                continue
            target = next((q for q in qbts if _points_at(client, q)), None)
            if target is None:
                scheme = "https" if client.use_ssl else "http"
                target = Service(
                    app="qbittorrent",
                    container=client.host,
                    image="",
                    matched_by=f"download client of {arr.container}",
                    url=f"{scheme}://{client.host}:{client.port}{client.url_base}",
                    port=client.port,
                    url_base=client.url_base,
                )
                qbts.append(target)
                result.services.append(target)
            client.qbittorrent = target.container
            if client.username and not target.username:
                target.username = client.username
            target.used_by.append(f"{arr.container} (category {client.category or 'none'})")


def _points_at(client: DownloadClient, qbt: Service) -> bool:
    host = client.host.lower()
    names = {qbt.container.lower(), (qbt.address or "").lower()}
    if qbt.url:
        names.add((urlsplit(qbt.url).hostname or "").lower())
    return host in names and client.port == qbt.port


# ----------------------------------------------------------------------------------------------- results


def write_report(discovery: Discovery, path: Path) -> bool:
    """Save the result (no secret in it) as JSON, 0600, only when it changed. Returns True if written."""
    doc = discovery.to_dict()
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if {k: v for k, v in old.items() if k != "discovered_at"} == {
            k: v for k, v in doc.items() if k != "discovered_at"
        }:
            return False
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
    return True


def instance(service: Service) -> dict[str, Any]:
    """A configuration instance for a usable service (what config.py's instance models accept)."""
    assert service.url is not None
    if service.app == "qbittorrent":
        doc: dict[str, Any] = {"name": service.container, "url": service.url}
        if service.username:
            doc["username"] = service.username
        return doc
    return {"name": service.container, "url": service.url, "api_key": service.api_key}


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port


def _is_at(url: str, service: Service) -> bool:
    """Whether a configured URL names this discovered service: the same port, and its host the service's URL host,
    container name or address on the network."""
    if service.url is None:
        return False
    host, port = _host_port(url)
    s_host, s_port = _host_port(service.url)
    names = {s_host, service.container.lower(), (service.address or "").lower()} - {""}
    return port is not None and port == s_port and host in names


def _fill_env_named(doc: dict[str, Any], app: App, discovery: Discovery, env0: dict[str, str]) -> str | None:
    """A section the file says nothing of but the environment names (`SONARR_URL`, `QBITTORRENT_PASSWORD`, ...):
    the environment's instance is as explicit as the file's, so discovery adds no other instance beside it, and a
    discovered secret goes only to the service it was read from.

    - the environment gives the URL: the discovered service at that host and port lends its API key (or user name),
      and nothing is added if none is there;
    - it gives only other fields (an API key, a password): the one discovered service lends its URL; with more than
      one there is no telling which the environment means, and nothing is added."""
    candidates = [s for s in discovery.found(app.name) if s.url is not None]
    var = app.name.upper()
    if env0.get("url"):
        match = next((s for s in candidates if _is_at(env0["url"], s)), None)
        if match is None:
            if app.is_arr and not env0.get("api_key"):
                return (
                    f"{app.name}: {var}_URL is not the address of a {app.name} discovery found: no API key is taken "
                    f"from discovery for it (set {var}_API_KEY)"
                )
            return None
    elif len(candidates) == 1:
        match = candidates[0]
    else:
        if candidates:
            return (
                f"{app.name}: {len(candidates)} found, and the environment sets {', '.join(sorted(env0))} of one: "
                f"set {var}_URL to say which (nothing was added from discovery)"
            )
        return None
    assert match.url is not None
    inst: dict[str, Any] = {"name": match.container, "url": match.url}
    took = "its URL"
    if app.is_arr and not env0.get("api_key") and match.api_key:
        inst["api_key"] = match.api_key
        took = (
            f"its API key from {match.api_key_source}"
            if env0.get("url")
            else f"its URL and API key ({match.api_key_source})"
        )
    elif not app.is_arr and match.username and not env0.get("username"):
        inst["username"] = match.username
    doc[app.name] = [inst]
    return f"{app.name}: {took} from the discovered {match.container}, the environment's values on top"


def fill(
    doc: dict[str, Any], discovery: Discovery, sections: set[str], env_fields: dict[str, dict[str, str]]
) -> list[str]:
    """Put what discovery found into a configuration document, where nothing explicit is said. Changes `doc` in
    place; returns one line per value it added.

    `env_fields`: per section, the fields the environment sets on its first instance (`{"sonarr": {"url": ...}}`);
    they are applied after this, and count as explicit as the file.

    - a section (`sonarr:`) absent from the file and not named by the environment gets every usable service found
      for it;
    - one the environment names gets at most the one service it means (`_fill_env_named`);
    - in an explicit section, an instance without api_key gets the key of the discovered service at the same
      host and port (for the first instance, the environment's URL if it sets one); nothing else in it is touched.
    Only the apps in `sections` (the sections config.py has) are filled; the others stay in the report.
    """
    added: list[str] = []
    for app in APPS:
        if app.name not in sections:
            continue
        found = discovery.usable(app.name)
        env0 = env_fields.get(app.name, {})
        if env0 and not doc.get(app.name):
            if line := _fill_env_named(doc, app, discovery, env0):
                added.append(line)
            continue
        if app.name not in doc:
            if not found:
                continue
            doc[app.name] = [instance(s) for s in found]
            added.append(f"{app.name}: {', '.join(s.url or '' for s in found)} from discovery")
            continue
        instances = doc.get(app.name)
        if not app.is_arr or not isinstance(instances, list):
            continue
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict) or inst.get("api_key") or (i == 0 and env0.get("api_key")):
                continue
            url = env0["url"] if i == 0 and env0.get("url") else inst.get("url")
            if not isinstance(url, str):
                continue
            match = next((s for s in found if _is_at(url, s)), None)
            if match is not None:
                inst["api_key"] = match.api_key
                added.append(f"{app.name}[{i}].api_key from {match.api_key_source}")
    return added
