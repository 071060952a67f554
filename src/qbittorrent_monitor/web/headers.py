"""What every answer of the HTTP server carries, and which paths open without a login. Shared by the front
(app.py: /health and /metrics, served before the face is ever loaded) and the gate (auth.py: everything else), so
that an answer carries the same headers whichever of the two served it."""

from __future__ import annotations

from starlette.types import Message, Send

OPEN_PATHS = frozenset({"/health", "/login", "/metrics"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
]


def is_open(path: str) -> bool:
    """No login asked: the health routes, the metrics (their own token) and the login page itself."""
    return path in OPEN_PATHS or path.startswith("/health/")


def needs_no_gate(path: str) -> bool:
    """Served without passing the gate at all: the open paths but the login page (which needs the session)."""
    return is_open(path) and path != "/login"


def secured(send: Send) -> Send:
    """`send` with the security headers added to the response's start."""

    async def send_secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return send_secured
