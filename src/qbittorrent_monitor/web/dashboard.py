"""The dashboard: server-rendered pages (jinja2), no front-end build, no script. Overview, History, Torrent, Settings,
the login, and the actions (undo, protect, run a cycle now, pause) posted as forms with the session's CSRF token.
Authentication and the CSRF check happen before any of these runs (auth.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import controls, data
from .auth import LoginLimiter, csrf_token, fingerprint, verify_password

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

    from ..monitor import Monitor


@functools.cache
def _templates() -> Jinja2Templates:
    """The pages' templates, loaded with jinja2 on the first page asked for: a monitor whose dashboard nobody opens
    (its /health polled by Docker) does not carry the template engine."""
    import jinja2
    from starlette.templating import Jinja2Templates

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qbittorrent_monitor.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    env.globals.update(clock=data.clock, ago=data.ago, until=data.until, plural=data.plural)
    return Jinja2Templates(env=env)


def setup_page() -> str:
    return _templates().env.get_template("setup.html").render(nav=False, flash=None, refresh=0)


def _flash(request: Request, *lines: str) -> None:
    request.session["flash"] = [line for line in lines if line][:20]


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def routes(monitor: Monitor, limiter: LoginLimiter) -> list[Route]:
    checking = asyncio.Lock()

    def render(request: Request, name: str, page: str, status: int = 200, **context: Any) -> Response:
        flash = request.session.pop("flash", None)
        return _templates().TemplateResponse(
            request,
            name,
            {"nav": True, "page": page, "csrf": csrf_token(request.session), "flash": flash, "refresh": 0, **context},
            status_code=status,
        )

    # -- pages -----------------------------------------------------------------------------------
    async def overview(request: Request) -> Response:
        now = time.time()
        doc = await run_in_threadpool(data.overview, monitor, now)
        refresh = int(monitor.config.dashboard.refresh or 0)
        return render(
            request, "overview.html", "overview", data=doc, chart=data.chart_svg(doc["chart"]), refresh=refresh
        )

    async def history_page(request: Request) -> Response:
        filters = {k: request.query_params.get(k, "") for k in data.FILTERS}
        doc = await run_in_threadpool(data.history, monitor.store, filters)
        return render(request, "history.html", "history", data=doc)

    async def torrent_page(request: Request) -> Response:
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return render(request, "torrent.html", "", 404, data=_unknown(request.path_params["hash"]))
        doc = await run_in_threadpool(torrent_doc, monitor, hash_)
        return render(request, "torrent.html", "", 200 if doc["known"] else 404, data=doc)

    async def settings_page(request: Request) -> Response:
        doc = await run_in_threadpool(data.settings, monitor)
        found = await run_in_threadpool(data.discovery, monitor)
        return render(request, "settings.html", "settings", data=doc, discovered=found)

    # -- logging in and out ----------------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        if not monitor.config.dashboard.password_hash.get_secret_value():
            return Response(setup_page(), status_code=403, media_type="text/html")
        return _templates().TemplateResponse(
            request,
            "login.html",
            {
                "nav": False,
                "csrf": csrf_token(request.session),
                "next": _safe_next(request.query_params.get("next", "/")),
                "error": None,
                "flash": None,
                "refresh": 0,
            },
        )

    async def login(request: Request) -> Response:
        dash = monitor.config.dashboard  # the configuration in force: a reload's new password holds at once
        stored = dash.password_hash.get_secret_value()
        limiter.attempts, limiter.window = dash.login_attempts, dash.login_window
        if not stored:
            return Response(setup_page(), status_code=403, media_type="text/html")
        form = await request.form()
        address = request.client.host if request.client else "?"
        nxt = _safe_next(str(form.get("next", "/")))
        password = str(form.get("password", ""))
        # One check at a time: the limit holds for parallel guesses, and scrypt's 32 MiB is needed only once.
        async with checking:
            wait = limiter.retry_after(address)
            if wait > 0:
                return _login_again(request, nxt, f"too many failed logins: try again in {int(wait) + 1} s", 429, wait)
            if not password or not await run_in_threadpool(verify_password, password, stored):
                limiter.failed(address)
                return _login_again(request, nxt, "wrong password", 401)
        request.session.clear()  # a new session: nothing from before the login survives
        request.session.update({"v": fingerprint(stored), "at": int(time.time())})
        csrf_token(request.session)
        return RedirectResponse(nxt, status_code=303)

    def _login_again(request: Request, nxt: str, error: str, status: int, wait: float = 0) -> Response:
        headers = {"Retry-After": str(int(wait) + 1)} if wait else None
        return _templates().TemplateResponse(
            request,
            "login.html",
            {"nav": False, "csrf": csrf_token(request.session), "next": nxt, "error": error, "flash": None},
            status_code=status,
            headers=headers,
        )

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- actions (auth.py has checked the session and the CSRF token) -------------------------------
    async def undo(request: Request) -> Response:
        action_id = int(request.path_params["action_id"])
        _ok, lines = await run_in_threadpool(controls.undo, monitor, action_id)
        _flash(request, *lines)
        return RedirectResponse(_back(request, "/history"), status_code=303)

    async def protect(request: Request) -> Response:
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return Response("not a torrent hash", status_code=400)
        form = await request.form()
        _flash(request, await run_in_threadpool(controls.protect, monitor, hash_, str(form.get("name", ""))[:500]))
        return RedirectResponse(_back(request, "/"), status_code=303)

    async def unprotect(request: Request) -> Response:
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return Response("not a torrent hash", status_code=400)
        _flash(request, await run_in_threadpool(controls.unprotect, monitor, hash_))
        return RedirectResponse(_back(request, "/"), status_code=303)

    async def retry(request: Request) -> Response:
        _flash(request, controls.retry_now(monitor))
        return RedirectResponse("/", status_code=303)

    async def pause(request: Request) -> Response:
        _flash(request, await run_in_threadpool(controls.pause, monitor))
        return RedirectResponse("/", status_code=303)

    async def resume(request: Request) -> Response:
        _flash(request, await run_in_threadpool(controls.resume, monitor))
        return RedirectResponse("/", status_code=303)

    return [
        Route("/", overview, methods=["GET"]),
        Route("/history", history_page, methods=["GET"]),
        Route("/torrent/{hash}", torrent_page, methods=["GET"]),
        Route("/settings", settings_page, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/actions/undo/{action_id:int}", undo, methods=["POST"]),
        Route("/actions/protect/{hash}", protect, methods=["POST"]),
        Route("/actions/unprotect/{hash}", unprotect, methods=["POST"]),
        Route("/actions/retry", retry, methods=["POST"]),
        Route("/actions/pause", pause, methods=["POST"]),
        Route("/actions/resume", resume, methods=["POST"]),
    ]


def _back(request: Request, default: str) -> str:
    """Back to the page the form was on (same origin only)."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    if referer.startswith(base):
        return _safe_next("/" + referer[len(base) :].lstrip("/"))
    return default


def torrent_doc(monitor: Monitor, hash_: str) -> dict[str, Any]:
    doc = data.torrent(monitor.store, hash_)
    rows = monitor.store.history(since=0, hash_=hash_)
    undone = {int(r.params.get("undoes", 0)) for r in rows if r.type == "undo"}
    doc["undoable"] = [r.to_dict() for r in rows if data.undoable(r, undone)]
    return doc


def _unknown(value: str) -> dict[str, Any]:
    return {
        "hash": value[:80],
        "name": "",
        "known": False,
        "lines": ["not a torrent hash (40 or 64 hexadecimal characters)"],
        "protected_from_dashboard": False,
        "undoable": [],
    }
