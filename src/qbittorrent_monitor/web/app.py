"""Health endpoint. Reads the monitor's last known service states; never calls a remote service itself."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from ..monitor import Monitor


def health_document(monitor: Monitor) -> dict[str, Any]:
    """`{"status": "healthy"|"unhealthy"|"starting", "services": {name: bool}, ...}` (no secrets, no URLs)."""
    services = {name: h.ok for name, h in monitor.health.items()}
    problems = {name: h.message for name, h in monitor.health.items() if not h.ok}
    report = monitor.last_report
    interval = monitor.config.monitor.check_interval
    if not services:
        status = "starting"
    elif problems:
        status = "unhealthy"
    elif report is not None and time.time() - report.finished_at > 3 * interval + 60:
        status = "unhealthy"
        problems["monitor"] = "no cycle finished for more than three intervals"
    else:
        status = "healthy"
    doc: dict[str, Any] = {"status": status, "services": services, "dry_run": monitor.dry_run}
    if problems:
        doc["problems"] = problems
    if report is not None:
        doc["last_cycle"] = {
            "finished_at": report.finished_at,
            "duration_s": round(report.finished_at - report.started_at, 3),
            "torrents_checked": report.torrents_checked,
            "decisions": len(report.decisions),
        }
    return doc


def create_app(monitor: Monitor) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        doc = health_document(monitor)
        return JSONResponse(doc, status_code=503 if doc["status"] == "unhealthy" else 200)

    from .face import mount  # the dashboard, the JSON API and /metrics, behind a login (web/face.py)

    return mount(Starlette(routes=[Route("/health", health)]), monitor)


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
