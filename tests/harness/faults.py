"""A fault-injecting HTTP proxy for the suite: put it in front of qBittorrent or an *arr simulator and make it
answer 5xx, an HTML login page, truncated bodies, slowly, or reset the connection, on demand and per path prefix.

    with FaultProxy(qbt.url) as proxy:
        proxy.fail("/api/v2/torrents/info", Fault.TRUNCATED)
        ... the monitor talks to proxy.url ...
        proxy.heal()

Listens on 127.0.0.1 only; stopped (and its thread joined) by `stop()`.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["Fault", "FaultProxy"]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Login</title></head><body><form>Sign in</form></body></html>"


class Fault(StrEnum):
    PASS = "pass"
    ERROR_502 = "502"
    ERROR_500 = "500"
    HTML = "html"  # a captive portal or a reverse proxy's login page, with 200
    TRUNCATED = "truncated"  # the upstream answer cut in half
    SLOW = "slow"  # the upstream answer, `delay` seconds late
    RESET = "reset"  # the connection is reset without an answer
    DROP_FIELD = "drop_field"  # the upstream JSON without one top-level field (`field`)
    DROP_RECORD_FIELD = "drop_record_field"  # an *arr page whose every record lost one field (`field`)
    STATUS = "status"  # an empty answer with the given status (`status`), e.g. 404
    REPLY = "reply"  # this text with status 200 (`body`), e.g. another version's app/version


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._faults: dict[str, tuple[Fault, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.seen: list[tuple[str, str, str]] = []  # (method, path, fault applied)
        self._client = httpx.Client(timeout=30, trust_env=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    # -- control -------------------------------------------------------------------------------------------------
    def fail(self, prefix: str, fault: Fault, **options: Any) -> None:
        """Requests whose path starts with `prefix` get `fault` (options: delay=, field=)."""
        with self._lock:
            self._faults[prefix] = (fault, options)

    def clear(self, prefix: str) -> None:
        """Requests under `prefix` pass again (the other faults stay)."""
        with self._lock:
            self._faults.pop(prefix, None)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, fault: Fault) -> int:
        with self._lock:
            return sum(1 for *_, f in self.seen if f == fault)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------------------------
    def _fault_for(self, path: str) -> tuple[Fault, dict[str, Any]]:
        """The fault for `path` (call with the lock held)."""
        for prefix, fault in sorted(self._faults.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                return fault
        return Fault.PASS, {}

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0]
        with self._lock:  # chosen and counted at once: a count taken after fail() sees only the new fault
            fault, options = self._fault_for(path)
            self.seen.append((h.command, path, fault.value))
        if fault is Fault.RESET:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if fault in (Fault.ERROR_500, Fault.ERROR_502):
            self._reply(h, int(fault.value), b"Bad Gateway" if fault is Fault.ERROR_502 else b"boom", "text/plain")
            return
        if fault is Fault.HTML:
            self._reply(h, 200, LOGIN_PAGE, "text/html")
            return
        if fault is Fault.STATUS:
            self._reply(h, int(options["status"]), b"", "")
            return
        if fault is Fault.REPLY:
            self._reply(h, 200, str(options["body"]).encode(), "text/plain")
            return
        if fault is Fault.SLOW:
            time.sleep(float(options.get("delay", 5)))
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP | {"host", "referer", "origin"}}
        try:
            upstream = self._client.request(h.command, self.upstream + h.path, headers=headers, content=body)
        except httpx.HTTPError:
            self._reply(h, 502, b"upstream unreachable", "text/plain")
            return
        content = upstream.content
        if fault is Fault.TRUNCATED:
            content = content[: max(1, len(content) // 2)]
        if fault is Fault.DROP_FIELD:
            doc = json.loads(content)
            doc.pop(str(options["field"]), None)
            content = json.dumps(doc).encode()
        if fault is Fault.DROP_RECORD_FIELD:
            doc = json.loads(content)
            for record in doc.get("records", []):
                record.pop(str(options["field"]), None)
            content = json.dumps(doc).encode()
        extra = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() == "set-cookie"]
        self._reply(h, upstream.status_code, content, upstream.headers.get("content-type", ""), extra)

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler,
        status: int,
        content: bytes,
        content_type: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            if content_type:
                h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(content)))
            for k, v in extra or []:
                h.send_header(k, v)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(content)
        except OSError:
            pass
