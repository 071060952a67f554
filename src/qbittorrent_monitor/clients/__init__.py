"""observe: one adapter module per remote API."""

from __future__ import annotations


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
