"""observe: one adapter module per remote API."""

from __future__ import annotations


class ServiceError(Exception):
    """A remote service is down, refused our credentials, or answered garbage. The message is safe to log."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
