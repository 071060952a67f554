"""How the qBittorrent adapter reads an answer to auth/login: only qBittorrent's own refusal may count against the
credentials (a refusal is remembered and blocks the next tries, so a proxy's 502 counted as one would freeze the
monitor for hours)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from qbittorrent_monitor.clients.logins import BAN_WAIT, MAX_TRIES, LoginGuard
from qbittorrent_monitor.clients.qbittorrent import AuthMode, LoginAnswer, login_answer, refusal_text
from qbittorrent_monitor.logs import iso_time


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


# -- the LoginGuard, on its injectable clock -----------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_password_is_tried_again_after_1h_then_6h_then_never() -> None:
    """RETRY_AFTER = (1 h, 6 h) and MAX_TRIES = 3: the pauses the module documents, so that no number of cycles can
    reach qBittorrent's ban at 5 failures."""
    clock = FakeClock()
    guard = LoginGuard(None, clock)
    fp = guard.fingerprint("http://qbt:8080", "admin", "wrong")
    guard.refused("qbt", fp)
    clock.now += 3600 - 1
    assert guard.blocked("qbt", fp) is not None
    clock.now += 1
    assert guard.blocked("qbt", fp) is None  # an hour later: one more try
    guard.refused("qbt", fp)
    clock.now += 6 * 3600 - 1
    assert guard.blocked("qbt", fp) is not None
    clock.now += 1
    assert guard.blocked("qbt", fp) is None  # six hours later: the last try
    third = guard.refused("qbt", fp)
    assert third.tries == MAX_TRIES == 3 and third.retry_at() is None
    clock.now += 365 * 86400
    assert guard.blocked("qbt", fp) is not None  # never again with these credentials


def test_no_number_of_cycles_reaches_qbittorrents_ban_of_5_failed_logins() -> None:
    """A wrong password polled every minute for a month: at most MAX_TRIES (3) logins reach qBittorrent."""
    clock = FakeClock()
    guard = LoginGuard(None, clock)
    fp = guard.fingerprint("http://qbt:8080", "admin", "wrong")
    attempts = 0
    for _ in range(30 * 24 * 60):
        if guard.blocked("qbt", fp) is None:
            attempts += 1
            guard.refused("qbt", fp)
        clock.now += 60
    assert attempts == MAX_TRIES < 5


def test_new_credentials_are_tried_at_once_and_a_success_forgets_the_refusal() -> None:
    clock = FakeClock()
    guard = LoginGuard(None, clock)
    old, new = (guard.fingerprint("http://qbt:8080", "admin", pw) for pw in ("wrong", "fixed"))
    guard.refused("qbt", old)
    assert guard.blocked("qbt", new) is None  # the user fixed the password: no waiting
    guard.succeeded("qbt", new)  # another set of credentials worked: the old one's refusal is not theirs to clear
    assert guard.blocked("qbt", old) is not None
    guard.succeeded("qbt", old)
    assert guard.blocked("qbt", old) is None


def test_a_ban_is_waited_out_for_qbittorrents_default_ban_of_one_hour() -> None:
    clock = FakeClock()
    guard = LoginGuard(None, clock)
    fp = guard.fingerprint("http://qbt:8080", "admin", "right")
    guard.refused("qbt", fp, banned=True)
    clock.now += BAN_WAIT - 1
    assert guard.blocked("qbt", fp) is not None
    clock.now += 1
    assert guard.blocked("qbt", fp) is None


# -- what the user is told --------------------------------------------------------------------------------------
def test_a_refusal_reads_the_same_every_cycle_with_its_next_try_as_a_time() -> None:
    """The problem text is what is compared to log "service unavailable" once and one health.log line: a countdown
    ("next try in 59m", "58m", ...) made it new every minute."""
    clock = FakeClock()
    guard = LoginGuard(None, clock)
    fp = guard.fingerprint("http://qbt:8080", "admin", "wrong")
    first = refusal_text("qbt", AuthMode.LOGIN, guard.refused("qbt", fp), None)
    texts = set()
    for _ in range(59):
        clock.now += 60
        blocked = guard.blocked("qbt", fp)
        assert blocked is not None
        texts.add(refusal_text("qbt", AuthMode.LOGIN, blocked, None))
    assert texts == {first}
    assert iso_time(1_800_000_000.0 + 3600) in first and "next try in" not in first


def test_a_wrong_api_key_names_api_key_not_the_password() -> None:
    guard = LoginGuard(None, FakeClock())
    refusal = guard.refused("qbt", guard.fingerprint("http://qbt:8080", "admin", "qbt_key"))
    text = refusal_text("qbt", AuthMode.API_KEY, refusal, None)
    assert "refused the API key 1 time(s)" in text and "`api_key` of qBittorrent instance 'qbt'" in text
    assert "5.2 or later" in text  # an older qBittorrent answers 403 to any key
    assert "username and password" not in text.split(".")[0] and "QBITTORRENT_PASSWORD" not in text


def test_wrong_basic_credentials_say_basic_and_the_fields() -> None:
    guard = LoginGuard(None, FakeClock())
    refusal = guard.refused("qbt", guard.fingerprint("http://qbt:8080", "admin", "wrong"))
    text = refusal_text("qbt", AuthMode.BASIC, refusal, None)
    assert "HTTP Basic username and password" in text and "`password`" in text and "QBITTORRENT_PASSWORD" in text


@pytest.mark.parametrize(("auth", "fix"), [(AuthMode.API_KEY, "remove `api_key`"), (AuthMode.BASIC, "`auth: login`")])
def test_an_api_key_or_basic_to_a_qbittorrent_older_than_5_2_says_it_has_none(auth: AuthMode, fix: str) -> None:
    """API keys and HTTP Basic arrived in qBittorrent 5.2 (API-NOTES §6.2): 4.5.2 answers 403 to both."""
    guard = LoginGuard(None, FakeClock())
    refusal = guard.refused("qbt", guard.fingerprint("http://qbt:8080", "admin", "x"))
    text = refusal_text("qbt", auth, refusal, Version("4.5.2"))
    assert text.startswith("qBittorrent 4.5.2 has no") and "5.2 or later only" in text and fix in text


# -- one record, several processes (the daemon, --test, --health-check on one data dir) ---------------------------
def test_a_refusal_recorded_by_another_process_is_seen_before_the_next_login(tmp_path: Path) -> None:
    """The daemon read the record when it started; a `--test` run with the same wrong password is refused later.
    The daemon must not spend one more of qBittorrent's 5 failures on it before the pause."""
    clock = FakeClock()
    daemon = LoginGuard(tmp_path / "qbittorrent-logins.json", clock)
    test_run = LoginGuard(tmp_path / "qbittorrent-logins.json", clock)
    fp = daemon.fingerprint("http://qbt:8080", "admin", "wrong")
    assert test_run.fingerprint("http://qbt:8080", "admin", "wrong") == fp  # one salt for every process
    assert daemon.blocked("qbt", fp) is None
    test_run.refused("qbt", fp)
    seen = daemon.blocked("qbt", fp)
    assert seen is not None and seen.tries == 1
    clock.now += 3600
    assert daemon.refused("qbt", fp).tries == 2  # counted on top of the other process's refusal


def test_a_save_by_one_process_keeps_what_another_recorded(tmp_path: Path) -> None:
    """The daemon records a refusal of one instance (or forgets its own after a success): the refusal `--health-check`
    recorded meanwhile for another instance stays in the file."""
    path = tmp_path / "qbittorrent-logins.json"
    clock = FakeClock()
    daemon, health_check = LoginGuard(path, clock), LoginGuard(path, clock)
    fp_a = daemon.fingerprint("http://a:8080", "admin", "wrong")
    fp_b = daemon.fingerprint("http://b:8080", "admin", "wrong")
    daemon.refused("a", fp_a)
    health_check.refused("b", fp_b)
    daemon.succeeded("a", fp_a)  # rewrites the file
    assert set(json.loads(path.read_text())["refusals"]) == {"b"}
    assert LoginGuard(path, clock).blocked("b", fp_b) is not None
