"""The monitor's face on its one HTTP server: the dashboard (/), the JSON API (/api/), the metrics (/metrics), and
the gate in front of them (auth.py). `create_app` mounts it beside the health routes, which stay open."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from . import api, dashboard
from .auth import AuthMiddleware, Gate, LoginLimiter, session_key

if TYPE_CHECKING:
    from ..monitor import Monitor

SESSION_COOKIE = "qbm_session"


def metrics_route(monitor: Monitor) -> Route:
    token = monitor.config.metrics.token.get_secret_value()

    async def metrics(request: Request) -> Response:
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


def mount(app: Starlette, monitor: Monitor) -> Starlette:
    """Add the dashboard, the API and the metrics to `app`, behind the gate; returns `app`."""
    cfg = monitor.config
    if cfg.metrics.enabled:
        app.router.routes.append(metrics_route(monitor))
    if cfg.dashboard.enabled:
        limiter = LoginLimiter(cfg.dashboard.login_attempts, cfg.dashboard.login_window)
        app.router.routes.extend(dashboard.routes(monitor, limiter))
        app.router.routes.extend(api.routes(monitor))
        monitor.activity.read_versions = True
    gate = Gate(
        password_hash=lambda: cfg.dashboard.password_hash.get_secret_value() if cfg.dashboard.enabled else "",
        api_keys=lambda: [k.get_secret_value() for k in cfg.dashboard.api_keys] if cfg.dashboard.enabled else [],
    )
    app.add_middleware(AuthMiddleware, gate=gate, setup_page=dashboard.setup_page)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(cfg.dashboard.session_secret.get_secret_value(), cfg.monitor.data_dir),
        session_cookie=SESSION_COOKIE,
        max_age=int(cfg.dashboard.session_lifetime),
        same_site="strict",
        https_only=cfg.dashboard.secure_cookie,
    )
    return app
