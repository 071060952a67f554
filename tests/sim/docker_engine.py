"""A local Docker Engine API on a unix socket, for discovery tests: a real HTTP server the `docker` SDK talks to.

It serves what discovery reads, in the shapes the engine (API 1.43-1.47) returns: `GET /version`, `GET /_ping`,
`GET /v1.xx/containers/json` (the list: `Names` with a leading slash, `Image` as the reference the container was
created from, `NetworkSettings.Networks`, `Mounts`, `Ports`) and `GET /v1.xx/containers/{id}/json` (inspect:
`Name`, `Config.Image`, `Config.Env`, `Config.ExposedPorts`, `HostConfig.NetworkMode`, `NetworkSettings.Networks`
with `Aliases`/`DNSNames`/`IPAddress`, `Mounts`). Anything else is answered 404 like the engine does
(`{"message": "page not found"}`), and every request is recorded, so a test can check discovery only reads.
"""

from __future__ import annotations

import hashlib
import json
import re
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

API_VERSION = "1.45"


@dataclass
class FakeContainer:
    name: str
    image: str
    networks: dict[str, str]  # network name -> IPv4 address
    env: list[str] = field(default_factory=list)
    mounts: list[tuple[str, str, bool]] = field(default_factory=list)  # (source, destination, rw)
    exposed: list[str] = field(default_factory=list)  # "8989/tcp"
    network_mode: str | None = None  # default: the first network
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def _networks(self, *, inspect: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (net, ip) in enumerate(self.networks.items()):
            gateway = re.sub(r"\.\d+$", ".1", ip)
            entry: dict[str, Any] = {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": [self.name, self.id[:12]] if inspect and net != "bridge" else None,
                "MacAddress": f"02:42:ac:1{i}:00:0{i + 2}",
                "DriverOpts": None,
                "NetworkID": hashlib.sha256(net.encode()).hexdigest(),
                "EndpointID": hashlib.sha256(f"{self.name}-{net}".encode()).hexdigest(),
                "Gateway": gateway,
                "IPAddress": ip,
                "IPPrefixLen": 16,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": [self.name, self.id[:12]] if net != "bridge" else None,
            }
            out[net] = entry
        return out

    def _mounts(self) -> list[dict[str, Any]]:
        return [
            {
                "Type": "bind",
                "Source": source,
                "Destination": destination,
                "Mode": "" if rw else "ro",
                "RW": rw,
                "Propagation": "rprivate",
            }
            for source, destination, rw in self.mounts
        ]

    def summary(self) -> dict[str, Any]:
        """One item of GET /containers/json."""
        return {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.image,
            "ImageID": "sha256:" + hashlib.sha256(self.image.encode()).hexdigest(),
            "Command": "/init",
            "Created": 1764576000,
            "Ports": [{"PrivatePort": int(p.split("/")[0]), "Type": p.split("/")[1]} for p in self.exposed],
            "Labels": self.labels,
            "State": "running",
            "Status": "Up 3 days",
            "HostConfig": {"NetworkMode": self.network_mode or next(iter(self.networks), "none")},
            "NetworkSettings": {"Networks": self._networks(inspect=False)},
            "Mounts": self._mounts(),
        }

    def inspect(self) -> dict[str, Any]:
        """GET /containers/{id}/json."""
        return {
            "Id": self.id,
            "Created": "2025-12-01T08:00:00.000000000Z",
            "Path": "/init",
            "Args": [],
            "State": {
                "Status": "running",
                "Running": True,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 4242,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": "2025-12-01T08:00:01.000000000Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
            },
            "Image": "sha256:" + hashlib.sha256(self.image.encode()).hexdigest(),
            "Name": f"/{self.name}",
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "HostConfig": {
                "Binds": [f"{s}:{d}" + ("" if rw else ":ro") for s, d, rw in self.mounts],
                "NetworkMode": self.network_mode or next(iter(self.networks), "none"),
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            },
            "Mounts": self._mounts(),
            "Config": {
                "Hostname": self.id[:12],
                "Domainname": "",
                "User": "",
                "ExposedPorts": {p: {} for p in self.exposed},
                "Env": [*self.env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": None,
                "Image": self.image,
                "Volumes": {"/config": {}},
                "WorkingDir": "/",
                "Entrypoint": ["/init"],
                "Labels": self.labels,
            },
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": hashlib.sha256(f"sandbox-{self.name}".encode()).hexdigest(),
                "Ports": {},
                "SandboxKey": f"/var/run/docker/netns/{self.id[:12]}",
                "Networks": self._networks(inspect=True),
            },
        }


VERSION = {
    "Platform": {"Name": "Docker Engine - Community"},
    "Version": "27.3.1",
    "ApiVersion": API_VERSION,
    "MinAPIVersion": "1.24",
    "GitCommit": "41ca978",
    "GoVersion": "go1.22.7",
    "Os": "linux",
    "Arch": "amd64",
    "KernelVersion": "6.1.0-27-amd64",
    "BuildTime": "2024-09-20T11:41:11.000000000+00:00",
}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeDockerEngine


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) + "\n").encode() if content_type == "application/json" else str(body).encode()
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Server", "Docker/27.3.1 (linux)")
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        engine = self.server.engine
        path = self.path.split("?", 1)[0]
        engine.requests.append((method, self.path))
        path = re.sub(r"^/v1\.\d+", "", path)
        if method == "GET" and path == "/_ping":
            return self._send(200, "OK", "text/plain; charset=utf-8")
        if method == "GET" and path == "/version":
            return self._send(200, VERSION)
        if method == "GET" and path == "/containers/json":
            return self._send(200, [c.summary() for c in engine.containers])
        m = re.fullmatch(r"/containers/([^/]+)/json", path)
        if method == "GET" and m:
            wanted = m.group(1)
            for c in engine.containers:
                if c.id.startswith(wanted) or c.name == wanted:
                    return self._send(200, c.inspect())
            return self._send(404, {"message": f"No such container: {wanted}"})
        return self._send(404, {"message": "page not found"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class FakeDockerEngine:
    """`with FakeDockerEngine(tmp_path / "docker.sock", containers) as engine:` serves until the block ends."""

    def __init__(self, socket_path: Path, containers: list[FakeContainer]) -> None:
        self.socket_path = socket_path
        self.containers = containers
        self.requests: list[tuple[str, str]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.engine = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-docker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> FakeDockerEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] not in ("GET", "HEAD")]


def config_xml(path: Path, *, api_key: str, port: int, url_base: str = "", instance: str = "Sonarr") -> Path:
    """A config.xml as Sonarr/Radarr write it (linuxserver/hotio containers: /config/config.xml)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<Config>\n"
        "  <BindAddress>*</BindAddress>\n"
        f"  <Port>{port}</Port>\n"
        "  <SslPort>9898</SslPort>\n"
        "  <EnableSsl>False</EnableSsl>\n"
        "  <LaunchBrowser>True</LaunchBrowser>\n"
        f"  <ApiKey>{api_key}</ApiKey>\n"
        "  <AuthenticationMethod>Forms</AuthenticationMethod>\n"
        "  <AuthenticationRequired>DisabledForLocalAddresses</AuthenticationRequired>\n"
        "  <Branch>main</Branch>\n"
        "  <LogLevel>info</LogLevel>\n"
        "  <SslCertPath></SslCertPath>\n"
        "  <SslCertPassword></SslCertPassword>\n"
        f"  <UrlBase>{url_base}</UrlBase>\n"
        f"  <InstanceName>{instance}</InstanceName>\n"
        "  <UpdateMechanism>Docker</UpdateMechanism>\n"
        "</Config>\n"
    )
    return path
