"""The HTTP server: /health, /health/live, /health/ready (health.py says what they mean; 200 only for starting and
healthy), and beside them the dashboard and metrics. It reads the monitor's last known state; it never calls a
remote service itself."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import health as health_state

if TYPE_CHECKING:
    from ..monitor import Monitor


def create_app(monitor: Monitor) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        doc = health_state.document(monitor)
        return JSONResponse(doc, status_code=200 if doc["status"] in health_state.OK_STATUSES else 503)

    async def live(_: Request) -> JSONResponse:
        alive = monitor.loop_alive()
        return JSONResponse({"status": "alive" if alive else "stopped"}, status_code=200 if alive else 503)

    async def readiness(_: Request) -> JSONResponse:
        ok, why = health_state.ready(monitor)
        return JSONResponse({"status": "ready" if ok else "not ready", "why": why}, status_code=200 if ok else 503)

    from .face import mount  # the dashboard, the JSON API and /metrics, behind a login (web/face.py)

    routes = [Route("/health", health), Route("/health/live", live), Route("/health/ready", readiness)]
    return mount(Starlette(routes=routes), monitor)


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
