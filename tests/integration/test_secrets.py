"""No secret anywhere: every command and a daemon's cycles run with known secrets in the config file and the
environment (the qBittorrent password and API key, the *arr API keys, the dashboard's password, its hash, API key
and session secret, the metrics token, a notification URL and the token inside it), and none of them may appear in
any output, log file, /health body, dashboard page, JSON API answer, /metrics body, notification, the database or
any other file the monitor writes."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from daemon import Daemon, free_port
from e2e import SONARR_CATEGORY, cli, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import Config, load_config
from qbittorrent_monitor.web.auth import hash_password
from receiver import Receiver
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]

QBT_API_KEY = "qbt-api-key-0123456789abcdef"
DASHBOARD_PASSWORD = "dashboard-password-0123456789"
DASHBOARD_API_KEY = "dashboard-api-key-0123456789abcdef"
SESSION_SECRET = "session-secret-0123456789abcdef0123456789"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
NOTIFY_TOKEN = "notify-token-0123456789abcdef"


def read_the_web_face(port: int, dead: str) -> list[str]:
    """Every page of the dashboard (logged in), every GET of the JSON API (with the API key) and /metrics (with
    its token), as a user or a scraper reads them; each must really answer (200), or nothing was checked."""
    bodies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False) as web:
        form = web.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        logged_in = web.post("/login", data={"password": DASHBOARD_PASSWORD, "csrf": token.group(1), "next": "/"})
        assert logged_in.status_code in (302, 303), logged_in.text
        for page in ("/", "/history", f"/torrent/{dead}", "/settings"):
            answer = web.get(page)
            assert answer.status_code == 200, (page, answer.status_code)
            bodies.append(answer.text)
    key = {"X-Api-Key": DASHBOARD_API_KEY}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False, headers=key) as api:
        for endpoint in (
            "/api/overview",
            "/api/torrents",
            f"/api/torrents/{dead}",
            "/api/history",
            "/api/settings",
            "/api/openapi.json",
        ):
            answer = api.get(endpoint)
            assert answer.status_code == 200, (endpoint, answer.status_code)
            bodies.append(answer.text)
    metrics = httpx.get(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, trust_env=False
    )
    assert metrics.status_code == 200 and "qbittorrent_monitor" in metrics.text, metrics.text[:300]
    bodies.append(metrics.text)
    return bodies


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def test_no_secret_in_any_output_log_health_answer_page_notification_database_or_file(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    receiver: Receiver,
) -> None:
    dead = states.unregistered("Secret.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Secret.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    notify_url = f"json://hook:{NOTIFY_TOKEN}@127.0.0.1:{receiver.port}/"
    port = free_port()
    password_hash = hash_password(DASHBOARD_PASSWORD)
    path, config = write_config(
        health={"bind": "127.0.0.1", "port": port},
        dashboard={"password_hash": password_hash, "api_keys": [DASHBOARD_API_KEY], "session_secret": SESSION_SECRET},
        notifications={"urls": [notify_url]},
    )
    doc = yaml.safe_load(path.read_text())
    doc["radarr"][0]["api_key"] = "placeholder-overridden-by-env"
    # A second qBittorrent reached with an API key: the same 4.5.2 by another name (so no download maps to it),
    # which refuses the key (4.x has no API keys): the key is sent, refused and reported, and must show nowhere.
    doc["qbittorrent"].append({"name": "qbt-key", "url": f"http://localhost:{qbt.port}", "api_key": QBT_API_KEY})
    path.write_text(yaml.safe_dump(doc))
    # Secrets from the environment only
    env = {"RADARR_API_KEY": radarr.api_key, "METRICS_TOKEN": METRICS_TOKEN}
    secrets = [
        qbt.password,
        QBT_API_KEY,
        sonarr.api_key,
        radarr.api_key,
        DASHBOARD_PASSWORD,
        password_hash,
        DASHBOARD_API_KEY,
        SESSION_SECRET,
        METRICS_TOKEN,
        notify_url,
        NOTIFY_TOKEN,
    ]
    # Every secret the monitor knows of is checked here (a new kind of secret must be added to this test).
    assert set(load_config(path, env=env).secrets()) <= set(secrets)
    outputs: list[str] = []

    def run(*args: str, config_path: Path = path, extra_env: dict[str, str] | None = None) -> Any:
        result = cli("--config", str(config_path), *args, env={**env, **(extra_env or {})})
        outputs.append(f"$ {' '.join(args)}\n{result.stdout}\n{result.stderr}")
        return result

    first = run("--test", "--json")
    assert first.stdout, first.stderr
    report = json.loads(first.stdout)
    assert any(a["type"] == "arr_remove" and a["status"] == "done" for a in report["actions"])  # a real repair
    run("--health-check")
    run("history")
    rows = json.loads(run("history", "--json").stdout)
    run("explain", dead)
    run("explain", dead, "--json")
    assert len(sonarr.blocklist) == 1  # the repair blocklisted the release: undo has something to take back
    undone = run("undo", str(next(r["id"] for r in rows if r["type"] == "arr_remove")))
    assert undone.returncode == 0 and "removed blocklist entry" in undone.stdout, undone.stdout + undone.stderr
    assert sonarr.blocklist == []  # it really talked to Sonarr, with its key, and took the entry back
    run("--verbose", "--test")
    # Only the daemon notifies (a --test cycle never does): a second dead download is left for it to repair, so that
    # a repair message, with everything it says, is among the notifications searched.
    later = states.unregistered("Secret.Show.S01E02", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(later, "Secret.Show.S01E02", series_id=1, season=1, episode_ids=[2])
    with Daemon(path, port, "--interval", "1", "--verbose", env=env) as daemon:
        daemon.wait(lambda s, d: "last_cycle" in d, "a cycle")
        deadline = time.monotonic() + 30
        while not any("repair" in json.dumps(m) for m in list(receiver.messages)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for endpoint in ("/health", "/health/ready", "/health/live"):
            outputs.append(json.dumps(daemon.get(endpoint)))
        run("--health-check")  # answered by the running monitor
        outputs += read_the_web_face(port, dead)
        daemon.signal(signal.SIGHUP)  # the configuration is read again
        time.sleep(2.5)
    outputs.append(daemon.err)
    # Each kind of configuration error, with the secrets in the file and the environment.
    broken = path.with_name("broken.yaml")
    for change in (
        lambda t: t + "   oops: [unclosed\n",  # YAML syntax
        lambda t: t.replace(sonarr.url, f"{sonarr.url}/?apikey={sonarr.api_key}"),  # a key in the URL
        lambda t: t.replace("check_interval: 6h", "check_interval: never"),  # a wrong type
        lambda t: t + f"sonar: [{{url: http://x, api_key: {sonarr.api_key}}}]\n",  # an unknown key
    ):
        broken.write_text(change(path.read_text()))
        assert run("--test", config_path=broken).returncode == 2
    # Two variables swapped: the password in QBITTORRENT_URL, the URL in QBITTORRENT_PASSWORD. The password then sits
    # under no secret's key (nothing knows to mask it): the error must name the variable and never echo its value.
    wrong = run("--test", extra_env={"QBITTORRENT_URL": qbt.password, "QBITTORRENT_PASSWORD": qbt.url})
    assert wrong.returncode == 2 and "QBITTORRENT_URL" in wrong.stderr, wrong.stderr

    notified = [json.dumps(m) for m in receiver.wait_for(1)]
    assert any("repair" in m for m in notified), notified  # the daemon's repair was told: its message was read
    assert later not in hashes(qbt)
    outputs += notified

    written = [p for p in config.monitor.data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"state.db", "qbittorrent-monitor.log", "health.log"}
    for secret in secrets:
        for text in outputs:
            assert secret not in text, text[:2000]
        for file in written:
            assert secret.encode() not in file.read_bytes(), file


@pytest.mark.parametrize(
    ("umask_env", "log_mode"),
    [
        # Saltbox's UMASK=002 / a group's 027: the group may read the logs (they hold no secret), as it asked.
        ("027", 0o640),
        ("002", 0o664),
        # No UMASK: the monitor's files are its user's alone, whatever the shell's umask (022 here).
        (None, 0o600),
    ],
)
def test_umask_is_honoured_for_the_logs_and_files_with_secrets_stay_0600(
    tmp_path: Path, umask_env: str | None, log_mode: int
) -> None:
    """The entrypoint applies UMASK before starting the monitor (simulated here by the child's umask); the monitor
    used to force 077 on top of it. config.yaml (API keys), state.db and the session key stay 0600 in every case."""
    import os
    import subprocess

    from e2e import COMMAND, _env

    data = tmp_path / "data"
    umask = int(umask_env or "022", 8)
    env = {"DATA_DIR": str(data), "QBITTORRENT_URL": f"http://127.0.0.1:{free_port()}", "QBITTORRENT_PASSWORD": "pw"}
    env |= {"DOCKER_HOST": f"unix://{tmp_path / 'no.sock'}", "HEALTH_PORT": "0"}
    if umask_env is not None:
        env["UMASK"] = umask_env
    result = subprocess.run(
        [*COMMAND, "--test"],
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.umask(umask),  # the entrypoint's `umask "$UMASK"`
    )
    assert result.returncode == 1, result.stderr  # qBittorrent is not there: the cycle could not run
    assert (data / "logs" / "qbittorrent-monitor.log").stat().st_mode & 0o777 == log_mode
    assert (data / "config" / "config.yaml").stat().st_mode & 0o777 == 0o600
    assert (data / "state.db").stat().st_mode & 0o777 == 0o600


def test_no_secret_in_any_page_with_a_repair_in_the_history_its_evidence_and_a_discovery_report(
    tmp_path: Path, states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator
) -> None:
    """The pages are read once they hold what a secret could leak through: a repair done in the history with its
    evidence, the repaired torrent's page, and discovery's report (the *arr API keys it read from config.xml, the
    qBittorrent it found) on Settings and in /api/discovery. No key, password, hash, token or session secret may be
    in any of them, in the daemon's output or in any file it wrote."""
    from discovery_world import seedbox

    dead = states.unregistered("Evidence.Show.S02E02", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Evidence.Show.S02E02", series_id=2, season=2, episode_ids=[22])
    port = free_port()
    password_hash = hash_password(DASHBOARD_PASSWORD)
    path = tmp_path / "config.yaml"
    # The file says nothing of the services: discovery finds them, their keys and qBittorrent's address.
    path.write_text(
        yaml.safe_dump(
            {
                "health": {"bind": "127.0.0.1", "port": port},
                "stalled": {"min_age": 0},
                "dashboard": {
                    "password_hash": password_hash,
                    "api_keys": [DASHBOARD_API_KEY],
                    "session_secret": SESSION_SECRET,
                },
            }
        )
    )
    with seedbox(tmp_path, qbt, sonarr, radarr) as world:
        data = tmp_path / "data"
        env = {**world.env(data), "QBITTORRENT_PASSWORD": qbt.password, "METRICS_TOKEN": METRICS_TOKEN}
        secrets = [
            qbt.password,
            sonarr.api_key,
            radarr.api_key,
            world.lidarr_key,
            DASHBOARD_PASSWORD,
            password_hash,
            DASHBOARD_API_KEY,
            SESSION_SECRET,
            METRICS_TOKEN,
        ]
        key = {"X-Api-Key": DASHBOARD_API_KEY}
        with Daemon(path, port, "--interval", "1", "--verbose", env=env) as daemon:
            daemon.wait(lambda s, d: "last_cycle" in d, "a cycle")
            deadline = time.monotonic() + 30
            rows: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                rows = httpx.get(f"http://127.0.0.1:{port}/api/history", headers=key, trust_env=False).json()["rows"]
                if any(r["type"] == "arr_remove" and r["status"] == "done" for r in rows):
                    break
                time.sleep(0.5)
            assert any(r["type"] == "arr_remove" and r["status"] == "done" for r in rows), rows
            bodies = read_the_web_face(port, dead)
            found = httpx.get(f"http://127.0.0.1:{port}/api/discovery", headers=key, trust_env=False)
            assert found.status_code == 200
            bodies.append(found.text)
        outputs = [*bodies, daemon.err]
        # What was read really held the repair, its evidence and the discovery report.
        overview, history, torrent_page, settings = bodies[:4]
        assert all(f"<strong>{app}</strong>" in overview for app in ("sonarr", "radarr", "lidarr"))  # discovered
        assert "Evidence.Show.S02E02" in history and "tracker_msg=Unregistered torrent" in history
        assert "Unregistered torrent" in torrent_page and "last decision" in torrent_page
        assert "Discovered" in settings and f"<code>{sonarr.url}</code>" in settings
        by_container = {s["container"]: s for s in found.json()["services"]}
        assert {"qbittorrent", "sonarr", "radarr", "lidarr"} <= set(by_container)
        assert by_container["sonarr"]["api_key_found"] is True
        written = [p for p in data.rglob("*") if p.is_file()]
        assert {p.name for p in written} >= {"state.db", "qbittorrent-monitor.log", discovery_report_name()}
        for secret in secrets:
            for text in outputs:
                assert secret not in text, text[:2000]
            for file in written:
                assert secret.encode() not in file.read_bytes(), file


def discovery_report_name() -> str:
    from qbittorrent_monitor.discovery import REPORT_NAME

    return str(REPORT_NAME)
