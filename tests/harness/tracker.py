"""A loopback HTTP BitTorrent tracker (BEP 3 / BEP 23 compact peers) for tests.

URL paths select the behaviour:

- `/ok/announce`: interval 1800 and the compact peer list of the swarm for that info hash, without
  the requester itself. Announces with `left=0` count as seeders, others as leechers.
- `/nopeers/announce`: a valid answer with an empty peer list.
- `/fail/<url-encoded reason>/announce`: a bencoded `failure reason`.

`set_failure(info_hash, reason)` makes every announce for that hash fail, whatever the path.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from harness import bencode

__all__ = ["MODES", "Tracker"]

MODES = ("ok", "nopeers", "fail")
INTERVAL = 1800


@dataclass
class _Peer:
    ip: str
    port: int
    left: int
    seen: float


def parse_query(raw_query: str) -> dict[str, bytes]:
    """Split a raw query string into name -> percent-decoded bytes, keeping binary values (info_hash,
    peer_id) intact. A literal "+" stays "+": libtorrent percent-encodes every byte that is not unreserved."""
    params: dict[str, bytes] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        params[unquote(key)] = unquote_to_bytes(value)
    return params


class _Handler(BaseHTTPRequestHandler):
    server: _TrackerServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        if not parts or parts[-1] not in ("announce", "scrape"):
            self._reply(404, b"not found")
            return
        if parts[-1] == "scrape":
            self._reply(200, bencode.encode({"files": {}}), "text/plain")
            return
        mode = parts[0] if len(parts) > 1 else "ok"  # a bare /announce behaves like /ok/announce
        reason = unquote("/".join(parts[1:-1])) if mode == "fail" else None
        if mode not in MODES or (mode == "fail" and not reason) or (mode != "fail" and len(parts) > 2):
            self._reply(404, b"unknown tracker mode")
            return
        body = self.server.tracker._announce(mode, reason, split.path, split.query, self.client_address[0])
        self._reply(200, body)


class _TrackerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        super().__init__(("127.0.0.1", 0), _Handler)


class Tracker:
    """HTTP tracker on 127.0.0.1 (free port), served by a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: _TrackerServer | None = None
        self._thread: threading.Thread | None = None
        self._failures: dict[str, str] = {}
        self._swarms: dict[str, dict[tuple[str, int], _Peer]] = {}
        self.announces: list[dict[str, object]] = []
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _TrackerServer(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="harness-tracker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Tracker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("tracker not started")
        return f"http://127.0.0.1:{self.port}"

    def announce_url(self, mode: str = "ok", *, reason: str = "Unregistered torrent") -> str:
        """`{url}/{mode}/announce`, or `{url}/fail/<url-encoded reason>/announce` for mode "fail"."""
        if mode not in MODES:
            raise ValueError(f"unknown tracker mode {mode!r}; expected one of {MODES}")
        if mode == "fail":
            return f"{self.url}/fail/{quote(reason, safe='')}/announce"
        return f"{self.url}/{mode}/announce"

    # -- runtime control ---------------------------------------------------------------------------
    def set_failure(self, info_hash: str, reason: str | None) -> None:
        """Make announces for `info_hash` (hex) fail with `reason` whatever the path; None clears it."""
        with self._lock:
            if reason is None:
                self._failures.pop(info_hash.lower(), None)
            else:
                self._failures[info_hash.lower()] = reason

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def announces_for(self, info_hash: str) -> list[dict[str, object]]:
        with self._lock:
            return [a for a in self.announces if a["info_hash"] == info_hash.lower()]

    def peers(self, info_hash: str) -> list[tuple[str, int, int]]:
        """(ip, port, left) of every peer currently in the swarm of `info_hash`."""
        with self._lock:
            swarm = self._swarms.get(info_hash.lower(), {})
            return [(p.ip, p.port, p.left) for p in swarm.values()]

    def wait_announce(self, info_hash: str, *, timeout: float = 10.0, left: int | None = None) -> dict[str, object]:
        """Block until an announce for `info_hash` (with that `left`, if given) arrived; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.announces_for(info_hash):
                if left is None or entry["left"] == left:
                    return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"no announce for {info_hash} (left={left}) within {timeout}s")
            time.sleep(0.05)

    # -- the announce itself -----------------------------------------------------------------------
    def _announce(self, mode: str, reason: str | None, path: str, raw_query: str, ip: str) -> bytes:
        params = parse_query(raw_query)
        raw_hash = params.get("info_hash", b"")
        if len(raw_hash) != 20:
            return bencode.encode({"failure reason": "invalid info_hash"})
        info_hash = raw_hash.hex()
        try:
            port = int(params.get("port", b"0"))
            left = int(params.get("left", b"0"))
        except ValueError:
            return bencode.encode({"failure reason": "invalid port or left"})
        event = params.get("event", b"").decode(errors="replace")
        with self._lock:
            self.announces.append(
                {
                    "info_hash": info_hash,
                    "port": port,
                    "left": left,
                    "event": event,
                    "path": path,
                    "mode": mode,
                    "ip": ip,
                    "peer_id": params.get("peer_id", b""),
                    "time": time.time(),
                }
            )
            override = self._failures.get(info_hash)
            if override is not None:
                return bencode.encode({"failure reason": override})
            if mode == "fail":
                return bencode.encode({"failure reason": reason or "failure"})
            swarm = self._swarms.setdefault(info_hash, {})
            if event == "stopped":
                swarm.pop((ip, port), None)
            else:
                swarm[(ip, port)] = _Peer(ip, port, left, time.time())
            others = [] if mode == "nopeers" else [p for p in swarm.values() if (p.ip, p.port) != (ip, port)]
            seeders = sum(1 for p in swarm.values() if p.left == 0)
        compact = b"".join(socket.inet_aton(p.ip) + p.port.to_bytes(2, "big") for p in others)
        return bencode.encode(
            {
                "interval": INTERVAL,
                "min interval": 1,  # lets torrents/reannounce through right away
                "complete": seeders,
                "incomplete": len(swarm) - seeders,
                "peers": compact,
            }
        )
