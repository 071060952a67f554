"""How the qBittorrent adapter reads an answer to auth/login: only qBittorrent's own refusal may count against the
credentials (a refusal is remembered and blocks the next tries, so a proxy's 502 counted as one would freeze the
monitor for hours)."""

from __future__ import annotations

import pytest

from qbittorrent_monitor.clients.qbittorrent import LoginAnswer, login_answer


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "Ok.", LoginAnswer.OK),  # up to 5.1 (API-NOTES §6.2)
        (204, "", LoginAnswer.OK),  # from 5.2
        (200, "Fails.", LoginAnswer.REFUSED),  # up to 5.1: the only refusal it has
        (403, "Your IP address has been banned after too many failed authentication attempts.", LoginAnswer.BANNED),
        (401, "Unauthorized", LoginAnswer.UNAUTHORIZED),  # 5.2+ wrong password, or Host header/CSRF: probed
    ],
)
def test_qbittorrents_own_answers_are_read_as_documented(status: int, body: str, expected: LoginAnswer) -> None:
    assert login_answer(status, body) is expected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, "Bad Gateway"),  # Traefik while the qBittorrent container starts
        (503, "Service Unavailable"),
        (404, "404 page not found"),  # Traefik before the router exists
        (302, ""),  # a proxy sending to its SSO page
        (200, "<!DOCTYPE html><html><title>Login</title></html>"),  # a captive portal / proxy login page
        (200, ""),  # an empty 200: no qBittorrent version answers a login so
        (500, "boom"),
    ],
)
def test_an_answer_that_is_not_qbittorrents_is_never_a_refused_password(status: int, body: str) -> None:
    assert login_answer(status, body) is LoginAnswer.UNEXPECTED
