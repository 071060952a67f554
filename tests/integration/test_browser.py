"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the monitor
running as users run it, on the real qbittorrent-nox and the Sonarr simulator.

A user logs in, sees the broken download flagged with its reason and when it will be removed, sees the repair appear
in the history, undoes it from there, and the release's blocklist entry is gone from Sonarr. Every page is saved as a
screenshot (the paths are printed); `scripts/test.sh` runs this as its own stage (`pytest -m browser`).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e import SONARR_CATEGORY, spawn
from harness.states import StateFactory, closed_port
from sim.arr import ArrSimulator

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WriteConfig = Callable[..., tuple[Path, Any]]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "browser"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `apt-get install -y chromium` (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def reload_until(page: Any, url: str, text: str | re.Pattern[str], timeout: float = 60) -> None:
    """Load `url` again and again (as the page's own refresh would) until it shows `text`."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        content = page.inner_text("main")
        if text.search(content) if isinstance(text, re.Pattern) else text in content:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never showed {text!r}; it shows:\n{content}")
        time.sleep(1)


def test_log_in_see_the_broken_download_flagged_see_its_repair_and_undo_it_in_a_real_browser(
    states: StateFactory, sonarr: ArrSimulator, write_config: WriteConfig, browser: Any, tmp_path: Path
) -> None:
    from qbittorrent_monitor.web.auth import hash_password

    dead = states.unregistered("Browser.Show.S01E07.1080p", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Browser.Show.S01E07.1080p", series_id=7, season=1, episode_ids=[107])
    port = closed_port()
    path, config = write_config(
        health={"bind": "127.0.0.1", "port": port},
        # The download waits 25 s before its repair: long enough to see it flagged with its removal time.
        policy={"tracker_errors": {"after": "25s"}},
        dashboard={"password_hash": hash_password(PASSWORD), "refresh": 5},
    )
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "monitor.log"
    with log_path.open("w") as log:
        proc = spawn("--config", str(path), "--interval", "2", stderr=log.fileno())
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        deadline = time.monotonic() + 30
        while True:  # the daemon's web server comes up
            try:
                page.goto(base + "/")
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)

        # Nothing without a login: the dashboard sends us to the login page.
        assert page.url.startswith(base + "/login")
        shot(page, "1-login")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "wrong password" in page.inner_text("main")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")

        # The broken download, flagged with its reason and what happens next, and when.
        reload_until(page, base + "/", "Browser.Show.S01E07.1080p")
        row = page.locator("table.flagged tr", has_text="Browser.Show.S01E07.1080p")
        text = row.inner_text()
        assert "Unregistered torrent" in text and "tracker_errors" in text and "wait" in text
        assert re.search(r"will be removed and blocklisted, then searched for again at \d\d:\d\d unless", text), text
        # Every service with its health, its version and its latency (the median of its last requests).
        services = page.locator(".card", has=page.locator("h2", has_text="Services")).inner_text()
        for name in ("qbittorrent", "sonarr", "radarr"):
            assert re.search(rf"● {name}\s+\S[^\n]* · \d+(\.\d+)? ms", services), services
        shot(page, "2-overview-flagged")
        # The overview reloads itself (dashboard.refresh: 5 s here), with no script: the browser does, untouched.
        assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "5"
        page.wait_for_event("load", timeout=15_000)
        assert page.url == base + "/"

        # On a phone: the tables stack, and nothing is wider than the screen (no sideways scrolling).
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(base + "/")
        assert "Browser.Show.S01E07.1080p" in phone.inner_text("main")
        widths = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= min(390, widths[1]), f"the phone overview is {widths[0]} px wide on a 390 px screen"
        shot(phone, "2b-overview-phone")
        phone.close()

        # The repair appears in the history, with its evidence.
        reload_until(page, base + "/history", "remove from queue", timeout=90)
        history_row = page.locator("table.history tr", has_text="remove from queue")
        assert "tracker_msg=Unregistered torrent" in history_row.inner_text()
        assert "done" in history_row.inner_text()
        assert len(sonarr.blocklist) == 1
        shot(page, "3-history")

        # The torrent page says everything `explain` says.
        page.click(f"a[href='/torrent/{dead}']  >> nth=0")
        page.wait_for_url(f"{base}/torrent/{dead}")
        assert "last decision" in page.inner_text("main") and "Unregistered torrent" in page.inner_text("main")
        # Removed by the repair: nothing left to protect, and the page says so.
        assert "nothing left to protect" in page.inner_text("main") and "Protect this torrent" not in page.content()
        shot(page, "4-torrent")

        page.goto(base + "/settings")
        settings_text = page.inner_text("main")
        assert "policy.tracker_errors.after" in settings_text and "file" in settings_text
        assert "default" in settings_text
        assert "Discovered" in settings_text and "Discovery has not run" in settings_text  # no socket in this test
        for secret in config.secrets():
            assert secret not in page.content()
        shot(page, "5-settings")

        # Undo from the history: the blocklist entry is gone from Sonarr.
        page.goto(base + "/history")
        row = page.locator("table.history tr", has_text="remove from queue")
        row.locator("summary", has_text="Undo").click()  # asks first: nothing is undone by this click
        assert len(sonarr.blocklist) == 1
        shot(page, "6a-undo-confirm")
        row.locator("button", has_text="Yes, undo").click()
        page.wait_for_url(re.compile(r".*/history.*"))
        assert "removed blocklist entry" in page.inner_text("main")
        assert sonarr.blocklist == []
        assert "undone" in page.locator("table.history tr", has_text="remove from queue").first.inner_text()
        shot(page, "6-undone")

        # Back on the overview: the download is no longer flagged; its failure is on the 48-hour chart, and the repair
        # the user took back counts neither there nor in "repaired today".
        reload_until(page, base + "/", "Nothing flagged in the last cycle.")
        assert page.locator("svg.chart rect.repaired").count() == 0
        assert page.locator("svg.chart rect.found").count() == 1
        assert page.locator(".stat", has_text="repaired today").locator(".n").inner_text() == "0"
        shot(page, "7-overview-after")
        page.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    assert sonarr.violations == []


def test_with_no_password_set_the_dashboard_only_says_how_to_set_one_in_a_real_browser(
    browser: Any, tmp_path: Path
) -> None:
    from qbittorrent_monitor.config import Config
    from qbittorrent_monitor.monitor import Monitor
    from qbittorrent_monitor.web.app import WebServer

    config = Config.model_validate(
        {
            "monitor": {"data_dir": str(tmp_path)},
            "qbittorrent": [{"url": f"http://127.0.0.1:{closed_port()}", "password": "qbt-secret-password"}],
        }
    )
    monitor = Monitor(config)
    web = WebServer(monitor, "127.0.0.1", 0)
    web.start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for where in ("/", "/history", "/settings", "/login"):
            response = page.goto(f"http://127.0.0.1:{web.port}{where}")
            assert response is not None and response.status == 403
            text = page.inner_text("main")
            assert "qbittorrent-monitor hash-password" in text and "password_hash" in text
            assert page.locator("nav").count() == 0 and page.locator("form").count() == 0
        shot(page, "0-no-password-set")
        page.close()
    finally:
        web.stop()
        monitor.close()
