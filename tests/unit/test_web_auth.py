"""Secure by default, over real HTTP: the monitor's own web server (uvicorn) on 127.0.0.1, a real httpx client.

Every route but /health* refuses without a session or an API key; a POST without the session's CSRF token is
refused; failed logins are rate-limited; no secret appears in any page or API answer; with no password and no key
configured the dashboard only says how to set one.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.routing import Route

from harness.states import closed_port
from qbittorrent_monitor.config import Config, load_config
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.web.app import WebServer
from qbittorrent_monitor.web.auth import hash_password, verify_password

PASSWORD = "a long dashboard password"
API_KEY = "k3y-0123456789abcdef-for-scripts"
SECRETS = {
    "qbittorrent": "qbt-secret-password",
    "sonarr": "sonarr0123456789abcdef0123456789",
    "metrics": "metrics-token-0123456789",
    "session": "session-secret-0123456789abcdef0123456789",
    "notify": "json://127.0.0.1:9/hook-token-0123456789",
}
HASH = "0" * 39 + "1"


def config_doc(data_dir: Path, dashboard: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "monitor": {"data_dir": str(data_dir)},
        "qbittorrent": [{"url": f"http://127.0.0.1:{closed_port()}", "password": SECRETS["qbittorrent"]}],
        "sonarr": [{"url": f"http://127.0.0.1:{closed_port()}", "api_key": SECRETS["sonarr"]}],
        "dashboard": dashboard if dashboard is not None else {},
        **extra,
    }


Serve = Callable[..., tuple[Monitor, httpx.Client]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """`serve(dashboard={...}, **sections)`: the monitor's web server on a config written to a file."""
    started: list[tuple[Monitor, WebServer, httpx.Client]] = []

    def start(dashboard: dict[str, Any] | None = None, **sections: Any) -> tuple[Monitor, httpx.Client]:
        path = tmp_path / f"config-{len(started)}.yaml"
        doc = config_doc(tmp_path / f"data-{len(started)}", dashboard, **sections)
        path.write_text(yaml.safe_dump(doc))
        monitor = Monitor(load_config(path, env={}))
        monitor.config_path = path
        web = WebServer(monitor, "127.0.0.1", 0)
        web.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", follow_redirects=False, timeout=10)
        APPS[str(client.base_url)] = web.server.config.app
        started.append((monitor, web, client))
        return monitor, client

    yield start
    for monitor, web, client in started:
        client.close()
        web.stop()
        monitor.close()


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


def log_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post("/login", data={"password": password, "csrf": token.group(1), "next": "/"})


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


APPS: dict[str, Any] = {}  # base URL -> the app that server runs


def every_route(client: httpx.Client) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the server has, read from the app itself."""
    out = []
    for route in APPS[str(client.base_url)].routes:
        assert isinstance(route, Route)
        path = route.path.replace("{hash}", HASH).replace("{action_id:int}", "1")
        out += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return out


OPEN = {"/health", "/login", "/metrics"}


def test_every_route_but_health_refuses_without_a_session_or_an_api_key(serve: Serve, password_hash: str) -> None:
    monitor, client = serve({"password_hash": password_hash, "api_keys": [API_KEY]})
    routes = every_route(client)
    guarded = [(m, p) for m, p in routes if p not in OPEN and not p.startswith("/health/")]
    assert len(guarded) >= 20  # the dashboard's pages and actions and the API: all of them below
    for method, path in guarded:
        response = client.request(method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.text)
        elif method == "GET":
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), (method, path)
        else:
            assert response.status_code == 401, (method, path)
        assert "Flagged" not in response.text and "qbittorrent[0]" not in response.text
    # The API key opens the API, and only the API.
    for method, path in guarded:
        response = client.request(method, path, headers={"X-Api-Key": API_KEY + "x"})
        assert response.status_code in (401, 303), (method, path)
        if not path.startswith("/api/"):
            response = client.request(method, path, headers={"X-Api-Key": API_KEY})
            assert response.status_code in (401, 303), (method, path)
    assert client.get("/api/overview", headers={"X-Api-Key": API_KEY}).status_code == 200
    # The health routes stay open.
    assert client.get("/health").status_code in (200, 503)
    assert not monitor.paused


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(serve: Serve, password_hash: str) -> None:
    monitor, client = serve({"password_hash": password_hash, "api_keys": [API_KEY]})
    assert log_in(client).status_code == 303
    token = csrf_of(client)
    for data in ({}, {"csrf": "forged-" + "x" * 40}):
        for path in ("/actions/pause", f"/actions/protect/{HASH}", "/actions/retry", "/actions/undo/1", "/logout"):
            response = client.post(path, data=data)
            assert response.status_code == 403, (path, data)
    assert not monitor.paused and monitor.store.protected_hashes() == {} and not monitor.wake.is_set()
    assert client.get("/").status_code == 200  # still logged in: /logout without the token did nothing
    # The API with a session needs the token in a header; with an API key it needs none (no ambient credential).
    assert client.post("/api/pause").status_code == 403
    assert client.post("/api/pause", headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert not monitor.paused
    assert client.post("/api/pause", headers={"X-CSRF-Token": token}).status_code == 200
    assert monitor.paused
    with httpx.Client(base_url=client.base_url) as anonymous:
        assert anonymous.post("/api/resume", headers={"X-Api-Key": API_KEY}).status_code == 200
    assert not monitor.paused
    # With the token, the forms work.
    assert client.post(f"/actions/protect/{HASH}", data={"csrf": token, "name": "Some.Show"}).status_code == 303
    assert HASH in monitor.store.protected_hashes()


def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_server_error(serve: Serve, password_hash: str) -> None:
    """Any client can send any bytes in X-CSRF-Token or the form field: a wrong token is a 403 whatever it holds
    (a non-ASCII one made hmac.compare_digest raise: a 500), and nothing changes."""
    monitor, client = serve({"password_hash": password_hash})
    assert log_in(client).status_code == 303
    token = csrf_of(client)
    for forged in ("é" + token[1:], token + "☃"):
        header = client.post("/api/pause", headers={"X-CSRF-Token": forged.encode("utf-8")})
        assert header.status_code == 403, header.text
        form = client.post("/actions/pause", data={"csrf": forged})
        assert form.status_code == 403, form.text
    assert not monitor.paused


def test_the_login_is_rate_limited_per_address_even_for_the_right_password(serve: Serve, password_hash: str) -> None:
    _, client = serve({"password_hash": password_hash, "login_attempts": 5, "login_window": "3s"})
    for _ in range(5):
        assert log_in(client, "wrong").status_code == 401
    blocked = log_in(client)
    assert blocked.status_code == 429 and "too many failed logins" in blocked.text
    assert int(blocked.headers["retry-after"]) >= 1
    assert client.get("/", follow_redirects=False).status_code == 303  # no session was opened
    time.sleep(3.2)  # the window passes
    assert log_in(client).status_code == 303
    assert client.get("/").status_code == 200


def test_behind_a_trusted_reverse_proxy_the_login_limit_counts_each_client_by_x_forwarded_for(
    serve: Serve, password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind Traefik every login comes from Traefik's address: five wrong guesses from anyone would lock the owner
    out. With FORWARDED_ALLOW_IPS naming the proxy (uvicorn's setting, read from the environment; README), the
    limit counts each client by the X-Forwarded-For the proxy adds; without it, the limit is the proxy's, shared."""

    def guesses_then_the_owner(client: httpx.Client) -> int:
        client.headers["X-Forwarded-For"] = "203.0.113.5"  # someone guessing
        for _ in range(5):
            assert log_in(client, "wrong").status_code == 401
        assert log_in(client).status_code == 429
        client.headers["X-Forwarded-For"] = "198.51.100.7"  # the owner, from elsewhere, with the right password
        return log_in(client).status_code

    limits = {"password_hash": password_hash, "login_attempts": 5, "login_window": "10m"}
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")  # the proxy: this test's client
    _, trusted = serve(limits)
    assert guesses_then_the_owner(trusted) == 303
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # another address: X-Forwarded-For is not believed
    _, untrusted = serve(limits)
    assert guesses_then_the_owner(untrusted) == 429


def test_no_secret_appears_in_any_page_or_api_answer(serve: Serve, password_hash: str) -> None:
    monitor, client = serve(
        {"password_hash": password_hash, "api_keys": [API_KEY], "session_secret": SECRETS["session"]},
        metrics={"token": SECRETS["metrics"]},
        notifications={"urls": [SECRETS["notify"]]},
    )
    secrets = [*monitor.config.secrets(), PASSWORD]
    assert set(SECRETS.values()) | {password_hash, API_KEY} <= set(secrets)
    monitor.run_cycle()  # services down: error messages everywhere they are shown
    assert log_in(client).status_code == 303
    token = csrf_of(client)
    answers = []
    for method, path in every_route(client):
        if method == "GET":
            answers.append(client.get(path))
    answers.append(client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics']}"}))
    answers.append(client.post("/api/actions/1/undo", headers={"X-CSRF-Token": token}))
    # Every page and API answer is served (/health and /health/ready say 503: the services are down).
    assert all(a.status_code < 500 or a.url.path in ("/health", "/health/ready") for a in answers), [
        (a.url, a.status_code) for a in answers
    ]
    settings = client.get("/api/settings").json()["settings"]
    masked = {row["key"]: row["value"] for row in settings}
    assert masked["qbittorrent[0].password"] == "********" and masked["dashboard.password_hash"] == "********"
    assert masked["notifications.urls"] == ["********"] and masked["metrics.token"] == "********"
    for answer in answers:
        text = answer.text + "".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in secrets:
            assert secret not in text, (answer.url, secret[:6])
    cookie = client.cookies.get("qbm_session") or ""
    for secret in secrets:
        assert secret not in cookie


def test_the_session_cookie_is_httponly_and_samesite_strict(serve: Serve, password_hash: str) -> None:
    _, client = serve({"password_hash": password_hash})
    response = log_in(client)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert page.headers["cache-control"] == "no-store"


def test_with_no_password_and_no_key_everything_only_says_how_to_set_one(serve: Serve) -> None:
    monitor, client = serve()
    for path in ("/", "/history", "/settings", f"/torrent/{HASH}", "/login"):
        response = client.get(path)
        assert response.status_code == 403 and "qbittorrent-monitor hash-password" in response.text
        assert "<form" not in response.text
    api = client.get("/api/overview")
    assert api.status_code == 403 and "dashboard.password_hash" in api.json()["error"]
    assert client.post("/login", data={"password": "anything"}).status_code == 403
    assert client.post("/api/pause").status_code == 403 and not monitor.paused
    assert client.get("/health").status_code in (200, 503)


def test_metrics_are_open_unless_a_token_is_set(serve: Serve) -> None:
    _, open_client = serve()
    assert open_client.get("/metrics").status_code == 200
    _, client = serve(metrics={"token": SECRETS["metrics"]})
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics']}"})
    assert good.status_code == 200 and "qbittorrent_monitor_cycles_total" in good.text


def test_the_login_limit_holds_for_guesses_sent_in_parallel(serve: Serve, password_hash: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, client = serve({"password_hash": password_hash, "login_attempts": 5, "login_window": "15m"})
    guessers = [httpx.Client(base_url=client.base_url, timeout=60) for _ in range(16)]
    try:
        tokens = [re.search(r'name="csrf" value="([^"]+)"', g.get("/login").text).group(1) for g in guessers]  # type: ignore[union-attr]

        def guess(i: int) -> int:
            return guessers[i].post("/login", data={"password": f"guess {i}", "csrf": tokens[i]}).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = sorted(pool.map(guess, range(16)))
    finally:
        for g in guessers:
            g.close()
    # 16 guesses at once from one address: 5 were checked (and wrong), the other 11 refused unchecked.
    assert codes == [401] * 5 + [429] * 11


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(serve: Serve, password_hash: str) -> None:
    monitor, client = serve({"password_hash": password_hash})
    assert log_in(client).status_code == 303 and client.get("/").status_code == 200
    monitor.config.dashboard.password_hash = type(monitor.config.dashboard.password_hash)(hash_password("another one"))
    assert client.get("/").status_code == 303


def reload(monitor: Monitor, **dashboard: Any) -> None:
    """What SIGHUP does: the file is rewritten, read again from disk (a new Config object, not the old one changed in
    place), and handed to `Monitor.reconfigure` between two cycles."""
    assert monitor.config_path is not None
    doc = yaml.safe_load(monitor.config_path.read_text())
    for section, values in dashboard.items():
        doc[section] = {**doc.get(section, {}), **values}
    monitor.config_path.write_text(yaml.safe_dump(doc))
    monitor.reconfigure(load_config(monitor.config_path, env={}))


def test_a_reloaded_password_api_key_and_metrics_token_replace_the_old_ones_at_once(
    serve: Serve, password_hash: str
) -> None:
    """After SIGHUP the credentials are the new file's: the old password, API key and metrics token open nothing,
    the new ones open what they should. (The web server must read the configuration in force on every request.)"""
    monitor, client = serve(
        {"password_hash": password_hash, "api_keys": [API_KEY]}, metrics={"token": SECRETS["metrics"]}
    )
    assert log_in(client).status_code == 303 and client.get("/").status_code == 200
    new_key, new_token = "a-new-api-key-0123456789abcdef", "a-new-metrics-token-0123456789"
    reload(
        monitor,
        dashboard={"password_hash": hash_password("the new password"), "api_keys": [new_key]},
        metrics={"token": new_token},
    )
    assert client.get("/").status_code == 303  # the session opened with the old password is over
    fresh = httpx.Client(base_url=client.base_url, follow_redirects=False, timeout=10)
    try:
        assert log_in(fresh, PASSWORD).status_code == 401  # the old password: refused
        assert log_in(fresh, "the new password").status_code == 303 and fresh.get("/").status_code == 200
    finally:
        fresh.close()
    assert client.get("/api/overview", headers={"X-Api-Key": API_KEY}).status_code == 401
    assert client.get("/api/overview", headers={"X-Api-Key": new_key}).status_code == 200
    old = client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics']}"})
    assert old.status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {new_token}"}).status_code == 200


def test_a_reloaded_session_secret_ends_the_sessions_signed_with_the_old_one(serve: Serve, password_hash: str) -> None:
    """The password is unchanged, only dashboard.session_secret: a cookie signed with the old secret no longer
    verifies, so the browser that held it must log in again (and can)."""
    monitor, client = serve({"password_hash": password_hash, "session_secret": SECRETS["session"]})
    assert log_in(client).status_code == 303 and client.get("/").status_code == 200
    reload(monitor, dashboard={"session_secret": "another-session-secret-0123456789abcdef0123"})
    assert client.get("/").status_code == 303
    assert log_in(client).status_code == 303 and client.get("/").status_code == 200


def test_a_session_ends_its_lifetime_after_the_login_even_when_used_all_along(serve: Serve, password_hash: str) -> None:
    """session_lifetime 4 s: a user who keeps acting (each action changes the session, its flash message, so the
    cookie is signed again and its own max-age slides) is still sent to the login 4 s after logging in; logging in
    again works."""
    _, client = serve({"password_hash": password_hash, "session_lifetime": 4})
    assert log_in(client).status_code == 303
    logged_in_at = time.monotonic()
    token = csrf_of(client)
    while time.monotonic() - logged_in_at < 2.5:  # in use all along: every action renews the cookie
        acted = client.post("/actions/retry", data={"csrf": token})
        assert acted.status_code == 303 and "set-cookie" in acted.headers
        time.sleep(0.3)
    while time.monotonic() - logged_in_at < 4.5:
        time.sleep(0.3)
        last = client.get("/")
    assert last.status_code == 303 and last.headers["location"].startswith("/login")
    assert log_in(client).status_code == 303 and client.get("/").status_code == 200


def test_secure_cookie_can_be_set_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_doc(tmp_path / "data")))
    assert load_config(path, env={"DASHBOARD_SECURE_COOKIE": "true"}).dashboard.secure_cookie is True
    assert load_config(path, env={}).dashboard.secure_cookie is False


def test_a_hostile_torrent_name_is_shown_as_text_on_every_page(serve: Serve, password_hash: str) -> None:
    """Torrent names come from trackers and uploaders: one that is HTML must be shown as text (escaped) in the
    overview, the history and its own page, never run (the CSP forbids scripts too; this is the first defence)."""
    from captured import download, sonarr_ref, torrent
    from qbittorrent_monitor.model import Action, ActionType, Decision, Finding, Kind, Verdict
    from qbittorrent_monitor.record import CycleReport

    monitor, client = serve({"password_hash": password_hash})
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    base = download("fx-sonarr-unregistered", arr=(sonarr_ref(torrent("fx-sonarr-unregistered").hash, [1]),))
    d = dataclasses.replace(base, torrent=dataclasses.replace(base.torrent, name=hostile))
    finding = Finding(Kind.TRACKER, "tracker", hostile, {"tracker_msg": hostile})
    decision = Decision(d, finding, Verdict.WAIT, hostile)
    monitor.last_report = CycleReport(started_at=time.time(), finished_at=time.time(), decisions=[decision])
    actions = (Action(ActionType.ARR_REMOVE, "sonarr", {"queue_id": 1}, "rm"),)
    monitor.store.plan(dataclasses.replace(decision, verdict=Verdict.ACT, actions=actions), now=time.time())
    assert log_in(client).status_code == 303
    for path in ("/", "/history", f"/torrent/{d.torrent.hash}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(" in page.text, path


class Tags(HTMLParser):
    """Every element and attribute of a page as a browser's parser reads it, and the text of each element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_a_torrent_name_that_breaks_out_of_an_attribute_stays_one_value_and_adds_no_element_or_handler(
    serve: Serve, password_hash: str
) -> None:
    """The name also sits in attributes (the Protect forms' hidden `name` value). A name built to close a double-,
    single- or un-quoted attribute and open an element must, parsed as a browser parses the page, be exactly that
    one attribute value and that text: no script or img element, no on* handler anywhere (the text-only check
    above passes when an unquoted attribute lets `onerror=` through)."""
    from captured import download, sonarr_ref, torrent
    from qbittorrent_monitor.model import Action, ActionType, Decision, Finding, Kind, Verdict
    from qbittorrent_monitor.record import CycleReport

    monitor, client = serve({"password_hash": password_hash})
    hostile = """Show"'><script>alert(1)</script><img src=x onerror=alert(2)> onfocus=alert(3) autofocus x="""
    base = download("fx-sonarr-unregistered", arr=(sonarr_ref(torrent("fx-sonarr-unregistered").hash, [1]),))
    d = dataclasses.replace(base, torrent=dataclasses.replace(base.torrent, name=hostile))
    finding = Finding(Kind.TRACKER, "tracker", "Unregistered torrent", {"tracker_msg": "Unregistered torrent"})
    decision = Decision(d, finding, Verdict.WAIT, "waits")
    monitor.last_report = CycleReport(started_at=time.time(), finished_at=time.time(), decisions=[decision])
    actions = (Action(ActionType.ARR_REMOVE, "sonarr", {"queue_id": 1}, "rm"),)
    monitor.store.plan(dataclasses.replace(decision, verdict=Verdict.ACT, actions=actions), now=time.time())
    assert log_in(client).status_code == 303
    for path, in_a_form in (("/", True), ("/history", False), (f"/torrent/{d.torrent.hash}", True)):
        page = client.get(path)
        assert page.status_code == 200, path
        parsed = Tags()
        parsed.feed(page.text)
        assert not [t for t, _ in parsed.tags if t in ("script", "img")], path
        handlers = [(t, a) for t, attrs in parsed.tags for a in attrs if a.startswith("on") or a == "autofocus"]
        assert handlers == [], (path, handlers)
        assert any(hostile in text for text in parsed.text), path  # shown, whole, as text
        if in_a_form:
            values = [a.get("value") for t, a in parsed.tags if t == "input" and a.get("name") == "name"]
            assert values == [hostile], (path, values)  # one attribute value, the name exactly


def test_hash_password_prints_a_hash_the_config_accepts_and_that_verifies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qbittorrent_monitor", "hash-password"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith("scrypt$") and PASSWORD not in result.stdout + result.stderr
    assert verify_password(PASSWORD, printed) and not verify_password(PASSWORD + "x", printed)
    config = Config.model_validate({"qbittorrent": [{"url": "http://q:1"}], "dashboard": {"password_hash": printed}})
    assert printed in config.secrets()
    short = subprocess.run(
        [sys.executable, "-m", "qbittorrent_monitor", "hash-password"],
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert short.returncode == 1 and "at least 8" in short.stderr


def test_health_and_metrics_carry_the_same_security_headers_as_every_page(serve: Serve, password_hash: str) -> None:
    _, client = serve({"password_hash": password_hash})
    for path in ("/health", "/health/live", "/health/ready", "/health/nothing-here", "/metrics", "/login"):
        answer = client.get(path)
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "default-src 'none'" in answer.headers["content-security-policy"], path
        assert answer.headers["x-content-type-options"] == "nosniff", path


def test_the_dashboard_reads_the_apps_versions_from_the_first_cycle_before_anyone_opens_it(serve: Serve) -> None:
    with_dashboard, _ = serve({"enabled": True})
    without, _ = serve({"enabled": False})
    assert with_dashboard.activity.read_versions is True
    assert without.activity.read_versions is False


def test_a_dashboard_turned_on_by_a_reload_is_not_served_until_a_restart_even_if_nobody_opened_it(
    serve: Serve,
) -> None:
    # What is served is decided at start; the face being loaded later must not read the reloaded file instead.
    monitor, client = serve({"enabled": False, "api_keys": [API_KEY]})
    reload(monitor, dashboard={"enabled": True})
    answer = client.get("/api/overview", headers={"X-Api-Key": API_KEY})
    assert answer.status_code == 404 and "dashboard.enabled: false" in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
    assert client.get("/health").status_code == 200


def test_a_dashboard_that_cannot_load_is_said_once_and_health_and_metrics_still_answer(
    serve: Serve, password_hash: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A broken install (a module missing from the image): the daemon goes on; the page says where to look.
    from qbittorrent_monitor.web import face

    def broken(*_: Any) -> Any:
        raise ImportError("No module named 'itsdangerous'")

    monkeypatch.setattr(face, "build", broken)
    _, client = serve({"password_hash": password_hash})
    pages = [client.get(path) for path in ("/", "/login", "/api/overview")]
    assert [p.status_code for p in pages] == [500, 500, 500]
    assert all("could not be loaded" in p.text and p.headers["x-frame-options"] == "DENY" for p in pages)
    assert client.get("/health").status_code == 200 and client.get("/metrics").status_code == 200
    said = [r for r in caplog.records if r.getMessage() == "the dashboard could not be loaded"]
    assert len(said) == 1 and "itsdangerous" in str(said[0].exc_info)


FACE_MODULES = ("qbittorrent_monitor.web.face", "qbittorrent_monitor.web.dashboard", "itsdangerous")
WATCHED_ONLY = """
import json, sys, httpx
from pathlib import Path
from qbittorrent_monitor.config import load_config
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.web.app import WebServer

monitor = Monitor(load_config(Path(sys.argv[1]), env={}))
web = WebServer(monitor, "127.0.0.1", 0)
web.start()
client = httpx.Client(base_url=f"http://127.0.0.1:{web.port}", timeout=10)
answers = [client.get(p).status_code for p in ("/health", "/health/live", "/health/ready", "/metrics", "/health/x")]
answers.append(client.head("/health").status_code)
before = sorted(m for m in FACE if m in sys.modules)
page = client.get("/")
after = sorted(m for m in FACE if m in sys.modules)
print(json.dumps({"health": answers, "before": before, "after": after, "page": page.status_code, "text": page.text}))
web.stop()
monitor.close()
"""


def watched_only(tmp_path: Path, dashboard: dict[str, Any]) -> dict[str, Any]:
    """In a fresh interpreter (this one has loaded everything already): health routes and metrics asked first, then
    the dashboard's front page; which of the face's modules were loaded before and after."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_doc(tmp_path / "data", dashboard)))
    script = f"FACE = {FACE_MODULES!r}\n{WATCHED_ONLY}"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    seen: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return seen


def test_a_daemon_watched_only_by_its_health_check_and_a_scrape_never_loads_the_dashboard(tmp_path: Path) -> None:
    # The face (pages, API, gate, sessions) is about 2 MiB of code that a health check every 30 s and a Prometheus
    # scrape never need.
    seen = watched_only(tmp_path, {})
    # starting (no cycle yet): healthy and alive, not yet ready; an unknown health path is a 404; HEAD works
    assert seen["health"] == [200, 200, 503, 200, 404, 200]
    assert seen["before"] == []
    # The first dashboard request loads it and is answered as ever: no password set, so it says how to set one.
    assert seen["after"] == sorted(FACE_MODULES)
    assert seen["page"] == 403 and "hash-password" in seen["text"]


def test_a_dashboard_turned_off_is_a_404_that_says_so_and_its_code_is_never_loaded(tmp_path: Path) -> None:
    seen = watched_only(tmp_path, {"enabled": False})
    assert seen["health"] == [200, 200, 503, 200, 404, 200]
    assert seen["before"] == [] and seen["after"] == []
    assert seen["page"] == 404 and "dashboard.enabled: false" in seen["text"]
