"""observe's adapters: one module per remote API.

Every request an adapter makes is reported to the listeners registered with `on_request` (the `--verbose` log,
the metrics), as a `Call`: service, method, path (never a query string, so never a secret), status and duration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A remote service is down, refused our credentials, or answered garbage. The message is safe to log."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message


def short_error(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception's text, bounded."""
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    return text[:limit]


@dataclass(frozen=True, slots=True)
class Call:
    service: str  # the instance name
    api: str  # "qbittorrent" | "sonarr" | "radarr" | ...
    method: str
    path: str  # the endpoint, without query string
    status: int | None  # None: no answer (connection failed, timed out)
    seconds: float
    error: str = ""


RequestListener = Callable[[Call], None]
_listeners: list[RequestListener] = []


def on_request(listener: RequestListener) -> Callable[[], None]:
    """Register a listener for every request; returns the function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def report_call(call: Call) -> None:
    for listener in list(_listeners):
        try:
            listener(call)
        except Exception:  # a listener must never break a request
            log.exception("request listener failed")
