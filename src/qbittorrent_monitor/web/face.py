"""The monitor's face on its one HTTP server: the dashboard (/), the JSON API (/api/), the metrics (/metrics), and
the gate in front of them (auth.py). `create_app` mounts it beside the health routes, which stay open.

Every request reads the configuration in force (`monitor.config`, replaced on SIGHUP): the password, the API keys,
the session secret and the metrics token of a reloaded configuration hold from the next request, and the old ones no
longer open anything. Whether the dashboard and the metrics are served at all is decided at start."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import api, dashboard
from .auth import AuthMiddleware, Gate, LoginLimiter, session_key

if TYPE_CHECKING:
    from ..monitor import Monitor

SESSION_COOKIE = "qbm_session"


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


class Sessions:
    """Starlette's SessionMiddleware for the configuration in force: a new `dashboard.session_secret` (or lifetime,
    or secure_cookie) after a reload signs and checks the cookies from the next request on, so a cookie signed with
    the old secret opens nothing."""

    def __init__(self, app: ASGIApp, settings: Callable[[], tuple[str, Path, int, bool]]) -> None:
        self.app = app
        self.settings = settings
        self._made_for: tuple[str, Path, int, bool] | None = None
        self._inner: SessionMiddleware | None = None

    def _middleware(self) -> SessionMiddleware:
        now = self.settings()
        if self._inner is None or now != self._made_for:
            secret, data_dir, max_age, secure = now
            self._inner = SessionMiddleware(
                self.app,
                secret_key=session_key(secret, data_dir),
                session_cookie=SESSION_COOKIE,
                max_age=max_age,
                same_site="strict",
                https_only=secure,
            )
            self._made_for = now
        return self._inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._middleware()(scope, receive, send)


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

    def password_hash() -> str:
        dash = monitor.config.dashboard
        return dash.password_hash.get_secret_value() if dash.enabled else ""

    def api_keys() -> list[str]:
        dash = monitor.config.dashboard
        return [k.get_secret_value() for k in dash.api_keys] if dash.enabled else []

    def sessions() -> tuple[str, Path, int, bool]:
        dash, data_dir = monitor.config.dashboard, monitor.config.monitor.data_dir
        return dash.session_secret.get_secret_value(), data_dir, int(dash.session_lifetime), dash.secure_cookie

    gate = Gate(password_hash, api_keys, lifetime=lambda: float(monitor.config.dashboard.session_lifetime))
    app.add_middleware(AuthMiddleware, gate=gate, setup_page=dashboard.setup_page)
    app.add_middleware(Sessions, settings=sessions)
    return app
