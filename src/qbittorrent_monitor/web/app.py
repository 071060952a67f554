"""The HTTP server: /health, /health/live, /health/ready (health.py says what they mean; 200 only for starting and
healthy) and /metrics, and beside them the dashboard and its API (face.py). It reads the monitor's last known state;
it never calls a remote service itself.

The face (the pages, the API, the gate, sessions: about 2 MiB of code) is loaded on the first request that is not
for /health or /metrics. A daemon nobody opens the dashboard of, watched by a health check and a Prometheus scrape,
never carries it, and with `dashboard.enabled: false` it is never loaded at all. Whether the dashboard and the metrics
are served is decided at start."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from .. import health as health_state
from .headers import needs_no_gate, secured

if TYPE_CHECKING:
    from ..monitor import Monitor

log = logging.getLogger(__name__)
DASHBOARD_OFF = "the dashboard is off (dashboard.enabled: false); /health and /metrics are served"
FACE_BROKEN = "the dashboard could not be loaded (the log says why); /health and /metrics are still served"


def metrics_route(monitor: Monitor) -> Route:
    async def metrics(request: Request) -> Response:
        token = monitor.config.metrics.token.get_secret_value()  # the configuration in force (SIGHUP)
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse(
                    "metrics.token is set: send it as `Authorization: Bearer <token>`",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(monitor.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


class Front:
    """The one ASGI app: the open routes (health, metrics) answered by `light`, every other request by the face,
    built once, on the first of them, by `load_face`; None when the dashboard is off (those requests get a 404)."""

    def __init__(self, light: Starlette, load_face: Callable[[], Starlette] | None) -> None:
        self.light = light
        self._load_face = load_face
        self.face: Starlette | None = None
        self._lock = threading.Lock()  # the event loop builds it; a caller of `routes` may be another thread
        self._broken = False

    def loaded_face(self) -> Starlette | None:
        if self._load_face is None:
            return None
        with self._lock:
            if self.face is None:
                self.face = self._load_face()
            return self.face

    @property
    def routes(self) -> list[BaseRoute]:
        """Every route served: the open ones, then the face's (which this loads)."""
        face = self.loaded_face()
        return [*self.light.routes, *(face.routes if face is not None else [])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" and scope["type"] != "websocket":
            await self.light(scope, receive, send)  # lifespan: the light app's (the face has no start-up of its own)
            return
        if needs_no_gate(scope["path"]):
            await self.light(scope, receive, secured(send))
            return
        try:
            face = self.loaded_face()
        except Exception:  # a broken install (a missing module): said once, and the health routes still answer
            if not self._broken:
                log.exception("the dashboard could not be loaded")
                self._broken = True
            face, refusal = None, PlainTextResponse(FACE_BROKEN, status_code=500)
        else:
            refusal = PlainTextResponse(DASHBOARD_OFF, status_code=404)
        if face is None:
            if scope["type"] == "http":
                await refusal(scope, receive, secured(send))
            return  # a websocket is left unanswered: uvicorn closes it
        await face(scope, receive, send)


def create_app(monitor: Monitor) -> Front:
    async def health(_: Request) -> JSONResponse:
        doc = health_state.document(monitor)
        return JSONResponse(doc, status_code=200 if doc["status"] in health_state.OK_STATUSES else 503)

    async def live(_: Request) -> JSONResponse:
        alive = monitor.loop_alive()
        return JSONResponse({"status": "alive" if alive else "stopped"}, status_code=200 if alive else 503)

    async def readiness(_: Request) -> JSONResponse:
        ok, why = health_state.ready(monitor)
        return JSONResponse({"status": "ready" if ok else "not ready", "why": why}, status_code=200 if ok else 503)

    routes = [Route("/health", health), Route("/health/live", live), Route("/health/ready", readiness)]
    at_start = monitor.config  # what is served is decided now; a reload (SIGHUP) changes secrets, not routes
    if at_start.metrics.enabled:
        routes.append(metrics_route(monitor))
    if not at_start.dashboard.enabled:
        return Front(Starlette(routes=routes), None)
    monitor.activity.read_versions = True  # the dashboard shows the apps' versions: read from the first cycle

    def load_face() -> Starlette:
        from .face import build  # the dashboard and the JSON API, behind a login (web/face.py)

        return build(monitor, at_start)

    return Front(Starlette(routes=routes), load_face)


class WebServer:
    """uvicorn in a daemon thread; stopped cleanly with the monitor."""

    def __init__(self, monitor: Monitor, host: str, port: int) -> None:
        config = uvicorn.Config(create_app(monitor), host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise OSError("the health server could not start (is the port in use?)")
            if time.monotonic() > deadline:
                raise OSError("the health server did not start in time")
            time.sleep(0.02)

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
