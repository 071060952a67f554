"""Secure by default: everything but /health, /health/live, /health/ready (and /metrics, which has its own token)
needs a login.

- A password, kept in the config only as a scrypt hash (`qbittorrent-monitor hash-password` prints one), opens a
  session: a cookie signed by Starlette's SessionMiddleware (itsdangerous), HttpOnly, SameSite=Strict.
- Or an API key in the `X-Api-Key` header, for `/api/` only.
- With neither configured, every page only says how to set one, and the API refuses.
- Every state-changing request (POST) from a session carries the session's CSRF token: a form field `csrf`, or the
  `X-CSRF-Token` header for the API. The login form has one too.
- Failed logins are rate-limited per client address and in total.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .headers import is_open, needs_no_gate, secured

# scrypt: memory-hard, in the standard library (OpenSSL). N=2**15, r=8 costs 32 MiB and about 0.1 s per check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
API_KEY_HEADER = "x-api-key"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
MAX_FORM = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- the password hash ---------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$hash` (base64): what `dashboard.password_hash` holds."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def fingerprint(password_hash: str) -> str:
    """Kept in the session: a new password ends every session opened with the old one."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def session_key(configured: str, data_dir: Path) -> str:
    """The configured `dashboard.session_secret`, else a random key kept in `data_dir/web-session.key` (0600), so
    sessions survive a restart."""
    if configured:
        return configured
    path = data_dir / "web-session.key"
    try:
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key)
    except OSError:
        pass  # sessions then last until the next restart
    return key


# -- failed logins -----------------------------------------------------------------------------------
class LoginLimiter:
    """At most `attempts` failed logins per client address per `window`, and ten times that in all (a guesser on
    many addresses); beyond, every login is refused (even a right password) until the window has passed."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _prune(self, now: float) -> None:
        for q in [*self._failures.values(), self._all]:
            while q and q[0] <= now - self.window:
                q.popleft()
        for addr in [a for a, q in self._failures.items() if not q]:
            del self._failures[addr]

    def retry_after(self, address: str) -> float:
        """Seconds until this address may try again (0: now)."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            mine = self._failures.get(address, deque())
            waits = []
            if len(mine) >= self.attempts:
                waits.append(mine[0] + self.window - now)
            if len(self._all) >= 10 * self.attempts:
                waits.append(self._all[0] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            self._failures.setdefault(address, deque()).append(now)
            self._all.append(now)


# -- the gate ----------------------------------------------------------------------------------------
class Gate:
    """What the middleware needs to know of the configuration (read on every request: nothing cached)."""

    def __init__(
        self,
        password_hash: Callable[[], str],
        api_keys: Callable[[], list[str]],
        lifetime: Callable[[], float] = lambda: float("inf"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.password_hash = password_hash
        self.api_keys = api_keys
        self.lifetime = lifetime
        self.clock = clock

    @property
    def configured(self) -> bool:
        return bool(self.password_hash() or self.api_keys())

    def logged_in(self, session: dict[str, Any]) -> bool:
        """The session was opened with the password in force, less than `dashboard.session_lifetime` ago. The
        lifetime counts from the login (`at`), not from the last request: the cookie is signed again whenever the
        session changes, so its own max-age alone would let a session in use live for ever."""
        stored = self.password_hash()
        at = session.get("at")
        if not stored or not isinstance(at, int | float) or not 0 <= self.clock() - at <= self.lifetime():
            return False
        return _same(str(session.get("v", "")), fingerprint(stored))

    def api_key_ok(self, headers: Headers) -> bool:
        given = headers.get(API_KEY_HEADER, "")
        return bool(given) and any(hmac.compare_digest(given.encode(), k.encode()) for k in self.api_keys())


def csrf_token(session: dict[str, Any]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


class AuthMiddleware:
    """Pure ASGI, inside SessionMiddleware: refuses before any route runs; checks the CSRF token of every POST
    (the form is read here and replayed to the route); adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, gate: Gate, setup_page: Callable[[], str]) -> None:
        self.app = app
        self.gate = gate
        self.setup_page = setup_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        send_secured = secured(send)
        path: str = scope["path"]
        method: str = scope["method"]
        headers = Headers(scope=scope)
        session: dict[str, Any] = scope.get("session", {})
        api = path == "/api" or path.startswith("/api/")
        if needs_no_gate(path):
            await self.app(scope, receive, send_secured)
            return
        if not self.gate.configured and path != "/login":
            await self._refuse_unconfigured(api, scope, receive, send_secured)
            return
        by_key = api and self.gate.api_key_ok(headers)
        if not by_key and path != "/login" and not self.gate.logged_in(session):
            if api:
                response: Response = JSONResponse(
                    {"error": "log in, or send an API key in the X-Api-Key header"}, status_code=401
                )
            elif method in SAFE_METHODS:
                response = RedirectResponse(f"/login?next={_next(path)}", status_code=303)
            else:
                response = PlainTextResponse("log in first", status_code=401)
            await response(scope, receive, send_secured)
            return
        if method not in SAFE_METHODS and not by_key:
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("request too large", status_code=413)(scope, receive, send_secured)
                return
            given = headers.get(CSRF_HEADER) or _form_field(headers, body, CSRF_FIELD)
            expected = session.get("csrf")
            if not isinstance(expected, str) or not given or not _same(given, expected):
                response = (
                    JSONResponse({"error": "missing or wrong CSRF token (X-CSRF-Token)"}, status_code=403)
                    if api
                    else PlainTextResponse(
                        "this form has expired or did not come from this dashboard: reload the page and try again",
                        status_code=403,
                    )
                )
                await response(scope, receive, send_secured)
                return
            receive = _replay(body, receive)
        if not is_open(path):
            scope.setdefault("state", {})["auth"] = "api_key" if by_key else "session"
            await self.app(scope, receive, _no_store(send_secured))
        else:
            await self.app(scope, receive, send_secured)

    async def _refuse_unconfigured(self, api: bool, scope: Scope, receive: Receive, send: Send) -> None:
        if api:
            response: Response = JSONResponse(
                {
                    "error": "no password and no API key is configured: set dashboard.password_hash (from "
                    "`qbittorrent-monitor hash-password`) or dashboard.api_keys"
                },
                status_code=403,
            )
        else:
            response = Response(self.setup_page(), status_code=403, media_type="text/html")
        await response(scope, receive, send)


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that any header can be given to: compared as bytes (hmac.compare_digest refuses
    a str with a non-ASCII character, which a header decoded as latin-1 may have: that was a 500)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _next(path: str) -> str:
    return path if path.startswith("/") and not path.startswith("//") else "/"


def _no_store(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"cache-control", b"no-store")]
        await send(message)

    return wrapped


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """The body read by the CSRF check, once more for the route; after it, the real channel (disconnects)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def _form_field(headers: Headers, body: bytes, name: str) -> str:
    if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return ""
    values = parse_qs(body.decode("utf-8", "replace")).get(name, [])
    return values[0] if values else ""
