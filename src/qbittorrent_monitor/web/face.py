"""The monitor's face on its one HTTP server: the dashboard (/) and the JSON API (/api/), and the gate in front of
them (auth.py). The front (app.py) loads it on the first request that is not for the health routes or the metrics,
which it serves itself.

Every request reads the configuration in force (`monitor.config`, replaced on SIGHUP): the password, the API keys,
and the session secret of a reloaded configuration hold from the next request, and the old ones no longer open
anything. Whether the dashboard is served at all was decided at start (web/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from . import api
from . import dashboard as pages
from .auth import AuthMiddleware, Gate, LoginLimiter, session_key

if TYPE_CHECKING:
    from ..config import Config
    from ..monitor import Monitor

SESSION_COOKIE = "qbm_session"


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


def build(monitor: Monitor, at_start: Config) -> Starlette:
    """The dashboard and the API behind the gate, its login limits as the configuration at start has them (the front
    builds it only when `dashboard.enabled` was on at start)."""
    app = Starlette()
    limiter = LoginLimiter(at_start.dashboard.login_attempts, at_start.dashboard.login_window)
    app.router.routes.extend(pages.routes(monitor, limiter))
    app.router.routes.extend(api.routes(monitor))

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
    app.add_middleware(AuthMiddleware, gate=gate, setup_page=pages.setup_page)
    app.add_middleware(Sessions, settings=sessions)
    return app
