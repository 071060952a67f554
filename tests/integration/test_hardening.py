"""Faults, bad input and secrets, each against the real qbittorrent-nox and the *arr simulator: a wrong password that
must never get the IP banned, a frozen qBittorrent, an unusable data dir, secrets that must never be echoed, two
monitors on one data dir, and the small lies of the command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from daemon import Daemon, free_port
from e2e import COMMAND, SONARR_CATEGORY, _env, cli
from harness.faults import Fault, FaultProxy
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.store import Store
from sim.arr import ArrSimulator
from times import ISO_OFFSET, bare_times, untwinned_times

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]


class BannableQBittorrent(QBittorrent):
    """qBittorrent with its default ban: after 5 failed logins it bans the IP for an hour."""

    def config_text(self) -> str:
        return (
            super().config_text().replace("WebUI\\MaxAuthenticationFailCount=0", "WebUI\\MaxAuthenticationFailCount=5")
        )


def failed_logins(q: QBittorrent) -> int:
    return sum("WebAPI login failure" in e["message"] for e in q.log())


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def own_qbt(qbt_version: str, qbt_binary: str, tmp_path: Path) -> Callable[..., QBittorrent]:
    """A qBittorrent this test starts and stops itself (a ban, a freeze must not touch the shared one), of this run's
    version (--qbt-version; the test id says it): 4.5.2 refuses a login with 200 `Fails.`, 5.2+ with 401. A
    version that cannot be fetched skips with the reason (qbt_binary)."""

    def make(name: str, kind: type[QBittorrent] = QBittorrent) -> QBittorrent:
        return kind(tmp_path / name, version=qbt_version, binary=qbt_binary)

    return make


@pytest.fixture
def bannable(own_qbt: Callable[..., QBittorrent]) -> Iterator[QBittorrent]:
    q = own_qbt("qbt-ban", BannableQBittorrent)
    q.start()
    try:
        yield q
    finally:
        q.stop()


# -- 1. a wrong password --------------------------------------------------------------------------------------
def test_a_wrong_password_never_gets_the_monitors_ip_banned(bannable: QBittorrent, tmp_path: Path) -> None:
    port = free_port()
    doc = {
        "monitor": {"check_interval": 1, "data_dir": str(tmp_path / "data")},
        "health": {"bind": "127.0.0.1", "port": port},
        "qbittorrent": [{"url": bannable.url, "username": bannable.username, "password": "not-the-password"}],
    }
    path = write(tmp_path / "config.yaml", doc)
    with Daemon(path, port, "--interval", "1") as daemon:
        health = daemon.wait(lambda s, d: s == 503 and "qbittorrent" in d.get("problems", {}), "unhealthy")
        problem = health["problems"]["qbittorrent"]
        assert "refused this username and password" in problem and "QBITTORRENT_PASSWORD" in problem
        time.sleep(5)  # five more cycles
        for _ in range(3):  # the container's health check: answered by the running monitor
            assert cli("--config", str(path), "--health-check").returncode == 1
    for _ in range(3):  # then the user runs cycles by hand, again and again
        result = cli("--config", str(path), "--test")
        assert result.returncode == 1 and "not tried again before" in result.stdout + result.stderr
    assert cli("--config", str(path), "--health-check").returncode == 1  # no monitor running: still no new login
    assert failed_logins(bannable) == 1  # one refused login in all (200 Fails. or, from 5.2, 401), far under 5
    assert bannable.get("app/version").text.startswith("v")  # the right password still works: not banned
    # The user fixes the password and sends SIGHUP: the new credentials are tried at once.
    with Daemon(path, port, "--interval", "1") as daemon:
        daemon.wait(lambda s, d: s == 503, "unhealthy with the old password")
        write(path, {**doc, "qbittorrent": [{**doc["qbittorrent"][0], "password": bannable.password}]})
        daemon.signal(signal.SIGHUP)
        daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy after SIGHUP", timeout=30)
    assert failed_logins(bannable) == 1


def test_health_checks_before_any_daemon_never_get_the_ip_banned(bannable: QBittorrent, tmp_path: Path) -> None:
    """The container's health check runs every minute, each time a new process, maybe before the daemon ever made
    the data dir: it makes the dir as the daemon does, so the one refusal is remembered (4.5.2 bans at 5: six runs
    were six failed logins before)."""
    doc = {
        "monitor": {"data_dir": str(tmp_path / "not-yet" / "data")},
        "health": {"enabled": False},
        "qbittorrent": [{"url": bannable.url, "username": bannable.username, "password": "not-the-password"}],
    }
    path = write(tmp_path / "config.yaml", doc)
    for _ in range(6):
        result = cli("--config", str(path), "--health-check")
        assert result.returncode == 1
        assert "refused this username and password 1 time(s)" in json.loads(result.stdout)["problems"]["qbittorrent"]
    assert failed_logins(bannable) == 1
    assert (tmp_path / "not-yet" / "data" / "qbittorrent-logins.json").exists()
    # A data dir that cannot be made: no login is tried at all, since its refusal could not be remembered.
    write(path, {**doc, "monitor": {"data_dir": "/proc/qbm-cannot-be-here/data"}})
    for _ in range(6):
        result = cli("--config", str(path), "--health-check")
        problem = json.loads(result.stdout)["problems"]["qbittorrent"]
        assert result.returncode == 1 and problem.startswith("not logging in: the data directory")
    assert failed_logins(bannable) == 1
    assert bannable.get("app/version").text.startswith("v")  # not banned


def test_a_banned_ip_is_told_what_it_is_and_how_to_recover(own_qbt: Callable[..., QBittorrent], tmp_path: Path) -> None:
    banned = own_qbt("qbt-banned", BannableQBittorrent)
    banned.start()
    try:
        refusal = (banned.behaviour.login.bad_status, banned.behaviour.login.bad_body)
        for _ in range(5):  # someone else (a browser on this IP) got it banned
            answer = httpx.post(f"{banned.url}/api/v2/auth/login", data={"username": "admin", "password": "wrong"})
            assert (answer.status_code, answer.text) == refusal  # this version's refusal: 200 Fails. or 401
        assert (
            httpx.post(f"{banned.url}/api/v2/auth/login", data={"username": "admin", "password": "x"}).status_code
            == 403
        )
        doc = {
            "monitor": {"data_dir": str(tmp_path / "data")},
            "qbittorrent": [{"url": banned.url, "username": banned.username, "password": banned.password}],
        }
        result = cli("--config", str(write(tmp_path / "c.yaml", doc)), "--health-check")
        problem = json.loads(result.stdout)["problems"]["qbittorrent"]
        assert "banned after too many failed logins" in problem and "restart qBittorrent" in problem
    finally:
        banned.stop()


# -- 2. /health tells the truth -------------------------------------------------------------------------------
def test_a_frozen_qbittorrent_makes_health_fail_within_seconds_and_it_recovers(
    own_qbt: Callable[..., QBittorrent], tmp_path: Path
) -> None:
    frozen = own_qbt("qbt-frozen")
    frozen.start()
    port = free_port()
    doc = {
        "monitor": {"check_interval": 2, "cycle_budget": 4, "data_dir": str(tmp_path / "data")},
        "health": {"bind": "127.0.0.1", "port": port},
        "qbittorrent": [{"url": frozen.url, "username": frozen.username, "password": frozen.password, "timeout": 2}],
    }
    path = write(tmp_path / "config.yaml", doc)
    try:
        with Daemon(path, port, "--interval", "2") as daemon:
            daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy")
            assert frozen.pid is not None
            os.kill(frozen.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                bad = daemon.wait(lambda s, d: s == 503, "unhealthy while qBittorrent is frozen", timeout=20)
                assert bad["status"] in ("degraded", "unhealthy") and set(bad["problems"]) & {"qbittorrent", "monitor"}
                assert time.monotonic() - started < 20
                assert daemon.get("/health/live")[0] == 200  # the process itself answers
                assert daemon.get("/health/ready")[0] == 503
            finally:
                os.kill(frozen.pid, signal.SIGCONT)
            daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy again", timeout=40)
            assert daemon.get("/health/ready")[0] == 200
    finally:
        frozen.stop()


def test_a_failed_cycle_is_unhealthy_at_once_and_the_next_good_one_heals_it(
    states: StateFactory, sonarr: ArrSimulator, write_config: WriteConfig, tmp_path: Path
) -> None:
    port = free_port()
    data = tmp_path / "data"
    path, _ = write_config(
        health={"bind": "127.0.0.1", "port": port}, monitor={"data_dir": str(data), "cycle_budget": "2m"}
    )
    with Daemon(path, port, "--interval", "1") as daemon:
        daemon.wait(lambda s, d: d.get("status") == "healthy", "healthy")
        # Someone holds the state database (a backup tool, a user with sqlite3): every write of a cycle waits, then
        # the cycle fails.
        blocker = sqlite3.connect(data / "state.db", isolation_level=None, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            # An idle cycle writes nothing, so it still succeeds; a new download in the queue must be remembered.
            cycles = daemon.get("/health")[1]["last_cycle"]["finished_at"]
            daemon.wait(lambda s, d: d["last_cycle"]["finished_at"] > cycles + 1.5 and s == 200, "idle cycles pass")
            paused = states.paused("Held.Database.S01E01", category=SONARR_CATEGORY)
            sonarr.grab_episodes(paused, "Held.Database.S01E01", series_id=1, season=1, episode_ids=[1])
            bad = daemon.wait(lambda s, d: s == 503 and "monitor" in d.get("problems", {}), "unhealthy", timeout=40)
            assert "the last cycle failed" in bad["problems"]["monitor"] and bad["status"] == "unhealthy"
            assert daemon.get("/health/ready")[0] == 503
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        daemon.wait(lambda s, d: s == 200 and d["status"] == "healthy", "healthy again", timeout=40)
    health_log = (data / "logs" / "health.log").read_text()
    assert re.search(rf"^{ISO_OFFSET} INFO qbittorrent_monitor.health: health \w+ -> healthy", health_log, re.M)
    assert "healthy -> unhealthy" in health_log and "unhealthy -> healthy" in health_log


# -- 3. the data dir ------------------------------------------------------------------------------------------
def run_as_nobody(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv")
    if os.getuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the monitor as another user (permissions are not enforced on root)")
    return subprocess.run(
        [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", "--", *COMMAND, *args],
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=60,
        check=False,
    )


def test_an_unwritable_data_dir_names_the_cause_the_user_and_the_fix(write_config: WriteConfig) -> None:
    shared = Path(tempfile.mkdtemp(prefix="qbm-perm-"))
    try:
        shared.chmod(0o755)
        data = shared / "data"
        data.mkdir(mode=0o755)  # root's: not writable by the monitor's user
        path, _ = write_config(monitor={"data_dir": str(data)})
        config = shared / "config.yaml"
        shutil.copy(path, config)
        config.chmod(0o644)
        result = run_as_nobody("--config", str(config), "--test")
        assert result.returncode == 2, result.stderr
        assert f"the data directory {data} is not writable" in result.stderr
        assert "uid 65534, gid 65534" in result.stderr and "chown" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        shutil.rmtree(shared)


def test_an_uncreatable_data_dir_exits_2_without_a_traceback(write_config: WriteConfig) -> None:
    path, _ = write_config(monitor={"data_dir": "/proc/qbm-cannot-be-here/data"})
    result = cli("--config", str(path), "--test")
    assert result.returncode == 2
    assert "the data directory /proc/qbm-cannot-be-here/data cannot be created" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_pip_user_without_data_dir_gets_the_user_data_dir_not_one_at_the_root(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    path, _ = write_config()
    doc = yaml.safe_load(path.read_text())
    doc["monitor"].pop("data_dir")
    write(path, doc)
    home = tmp_path / "home"
    result = cli("--config", str(path), "--test", env={"HOME": str(home), "XDG_DATA_HOME": "", "DATA_DIR": ""})
    assert result.returncode == 0, result.stderr
    expected = home / ".local" / "share" / "qbittorrent-monitor"
    assert (expected / "state.db").exists()
    assert f"data directory: {expected} (the user data directory" in result.stderr
    assert not Path("/config").exists()


# -- 4. secrets -----------------------------------------------------------------------------------------------
def test_a_yaml_error_gives_line_and_column_and_never_the_secret_lines(tmp_path: Path) -> None:
    text = (
        "sonarr:\n"
        "  - url: http://127.0.0.1:8989\n"
        "    api_key: yamlsecretkey0123456789abcdef00\n"
        "qbittorrent:\n"
        "  - url: http://127.0.0.1:8080\n"
        "    password: &pw yaml-Secret-Passw0rd\n"
        "    username: *pw\n"
        "   bad: [unclosed\n"
    )
    (tmp_path / "config.yaml").write_text(text)
    result = cli("--config", str(tmp_path / "config.yaml"), "--test")
    assert result.returncode == 2
    assert re.search(r"is not valid YAML at line \d+, column \d+", result.stderr), result.stderr
    assert "yamlsecretkey" not in result.stderr + result.stdout and "yaml-Secret" not in result.stderr + result.stdout


class RedirectingArr:
    """An *arr behind a proxy that answers 307 to another host; that host records what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        outer = self

        class Elsewhere(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.received.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:
                pass

        self.elsewhere = ThreadingHTTPServer(("127.0.0.2", 0), Elsewhere)
        target = f"http://127.0.0.2:{self.elsewhere.server_address[1]}"

        class Redirect(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.front = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        self.url = f"http://127.0.0.1:{self.front.server_address[1]}"
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (self.front, self.elsewhere)]
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        for s in (self.front, self.elsewhere):
            s.shutdown()
            s.server_close()


def test_the_api_key_never_follows_a_redirect_to_another_host(write_config: WriteConfig) -> None:
    arr = RedirectingArr()
    try:
        path, _ = write_config(sonarr=[{"name": "sonarr", "url": arr.url, "api_key": "redirectsecret00112233445566"}])
        result = cli("--config", str(path), "--health-check")
    finally:
        arr.stop()
    problem = json.loads(result.stdout)["problems"]["sonarr"]
    assert "redirects to another address (http://127.0.0.2:" in problem and "not sent there" in problem
    assert all("redirectsecret" not in json.dumps(h) for h in arr.received)


def test_a_key_written_in_the_url_is_refused_and_never_echoed(write_config: WriteConfig) -> None:
    path, _ = write_config()
    doc = yaml.safe_load(path.read_text())
    doc["sonarr"][0]["url"] += "/?apikey=urlsecret9988776655"
    result = cli("--config", str(write(path, doc)), "--test")
    assert result.returncode == 2
    assert "sonarr[0].url: must not contain a query string" in result.stderr
    assert "urlsecret" not in result.stderr + result.stdout


def test_what_the_monitor_writes_is_private_to_its_user(write_config: WriteConfig) -> None:
    path, config = write_config()
    assert cli("--config", str(path), "--test").returncode == 0
    data = config.monitor.data_dir
    written = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"state.db", "qbittorrent-monitor.log", "health.log"}
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p


# -- 5. one monitor per data dir ------------------------------------------------------------------------------
def test_a_second_monitor_on_the_same_data_dir_exits_2_naming_the_first(write_config: WriteConfig) -> None:
    port = free_port()
    path, _ = write_config(health={"bind": "127.0.0.1", "port": port})
    with Daemon(path, port, "--interval", "5") as first:
        first.wait(lambda s, d: "last_cycle" in d, "a first cycle")
        second = cli("--config", str(path), "--test")
        assert second.returncode == 2
        assert "another qbittorrent-monitor already uses the data directory" in second.stderr
        assert f"process {first.proc.pid}" in second.stderr
        assert cli("--config", str(path), "--test", "--dry-run").returncode == 0  # a dry run changes nothing: allowed
    assert cli("--config", str(path), "--test").returncode == 0  # the first one stopped: the lock is free


# -- 6. small lies and rough edges ----------------------------------------------------------------------------
def dead_download(states: StateFactory, sonarr: ArrSimulator, name: str, episode: int) -> str:
    info_hash = states.unregistered(name, category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(info_hash, name, series_id=episode, season=1, episode_ids=[episode])
    return info_hash


def test_undo_says_when_a_blocklist_entry_was_already_gone_and_never_claims_it_removed_it(
    states: StateFactory, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead_download(states, sonarr, "Undo.Gone.S01E01", 1)
    path, _ = write_config()
    assert cli("--config", str(path), "--test").returncode == 0
    rows = json.loads(cli("--config", str(path), "history", "--json").stdout)
    [remove] = [r for r in rows if r["type"] == "arr_remove"]
    # The entry disappears between our listing and our DELETE (the app answers 404).
    with FaultProxy(sonarr.url) as proxy:
        proxy.fail("/api/v3/blocklist/", Fault.STATUS, status=404)
        proxied = yaml.safe_load(path.read_text())
        proxied["sonarr"][0]["url"] = proxy.url
        raced = cli("--config", str(write(path.with_name("proxied.yaml"), proxied)), "undo", str(remove["id"]))
    assert raced.returncode == 1, raced.stdout  # nothing was undone by us
    assert "was already gone from sonarr" in raced.stdout and "removed blocklist entry" not in raced.stdout
    assert len(sonarr.blocklist) == 1
    done = cli("--config", str(path), "undo", str(remove["id"]))
    assert done.returncode == 0 and "removed blocklist entry" in done.stdout and sonarr.blocklist == []
    again = cli("--config", str(path), "undo", str(remove["id"]))
    assert again.returncode == 1 and "no blocklist entry" in again.stdout and "removed blocklist" not in again.stdout


def test_verbose_shows_each_request_and_each_rules_reasoning_but_no_secret(
    states: StateFactory, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead_download(states, sonarr, "Verbose.Show.S01E01", 2)
    path, config = write_config(monitor={"log_level": "INFO"})
    result = cli("--config", str(path), "--verbose", "--test")
    assert result.returncode == 0, result.stderr
    assert re.search(r"request qbittorrent POST torrents/info -> 200 in \d+ ms", result.stderr)
    assert re.search(r"request sonarr GET /api/v3/queue -> 200 in \d+ ms", result.stderr)
    assert re.search(r"rule tracker on 'Verbose.Show.S01E01' \([0-9a-f]{40}\): tracker_errors", result.stderr)
    for secret in config.secrets():
        assert secret not in result.stderr


def test_an_error_from_an_environment_variable_names_the_variable(write_config: WriteConfig) -> None:
    path, _ = write_config()
    result = cli("--config", str(path), "--test", env={"QBITTORRENT_URL": "qbittorrent:8080"})
    assert result.returncode == 2
    assert "qbittorrent[0].url (from the environment variable QBITTORRENT_URL)" in result.stderr


def test_an_unquoted_numeric_password_is_refused_with_the_fix(write_config: WriteConfig) -> None:
    path, _ = write_config()
    text = re.sub(r"password: .*", "password: 19871987", path.read_text(), count=1)
    path.write_text(text)
    result = cli("--config", str(path), "--test")
    assert result.returncode == 2
    assert "qbittorrent[0].password: is not text" in result.stderr and 'password: "20242024"' in result.stderr
    assert "19871987" not in result.stderr  # the fix is shown with an example, never with the password


def test_history_into_a_pipe_that_closes_early_ends_quietly(write_config: WriteConfig) -> None:
    path, config = write_config()
    store = Store(config.monitor.data_dir / "state.db")
    from captured import download, sonarr_ref, torrent
    from qbittorrent_monitor.model import Action, ActionType, Decision, Finding, Kind, Verdict

    t = torrent("fx-sonarr-unregistered")
    d = download("fx-sonarr-unregistered", arr=(sonarr_ref(t.hash, [1]),))
    finding = Finding(Kind.TRACKER, "tracker", "x" * 200, {"tracker_msg": "Unregistered torrent"})
    many = tuple(Action(ActionType.ALERT, "log", {}, f"step {i} " + "y" * 200) for i in range(3000))
    store.plan(Decision(d, finding, Verdict.ACT, "why", many), now=time.time())
    store.close()
    shell = f"{' '.join(COMMAND)} --config {path} history --since 1h | head -n 1"
    result = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, env=_env(), timeout=60, check=False)
    assert result.stdout.startswith("#")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_every_time_a_user_reads_is_iso_8601_with_offset_and_every_unix_time_in_json_has_its_iso_twin(
    states: StateFactory, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    """One repaired download (the journal, `history`) and one stalled download waiting its 6h (a decision due later,
    evidence saying when it was added and since when no byte came). Every output a user reads: the log file and
    stderr (at DEBUG, every request too), `--test`'s summary, `history`, `explain`: ISO 8601 with the offset and no
    bare Unix time; `--test --json`, `history --json`, `explain --json`: each Unix time beside its ISO twin."""
    dead = dead_download(states, sonarr, "Time.Show.S01E01", 3)
    stalled = states.stalled("Time.Show.S01E02", category=SONARR_CATEGORY)
    sonarr.grab_episodes(stalled, "Time.Show.S01E02", series_id=4, season=1, episode_ids=[4])
    path, config = write_config()
    run = cli("--config", str(path), "--test", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert {f["decision"] for f in report["findings"]} == {"act", "wait"}, report["findings"]
    assert untwinned_times(report) == []
    outputs = {"--test --json stderr": run.stderr}
    lines = (config.monitor.data_dir / "logs" / "qbittorrent-monitor.log").read_text().splitlines()
    assert lines and all(re.match(rf"^{ISO_OFFSET} ", line) for line in lines if line[:2] == "20")
    outputs["the log file"] = "\n".join(lines)
    stderr_lines = [line for line in run.stderr.splitlines() if re.match(r"^\d{4}-", line)]
    assert stderr_lines and all(re.match(rf"^{ISO_OFFSET} ", line) for line in stderr_lines)
    summary = cli("--config", str(path), "--test")
    outputs["--test"] = summary.stdout + summary.stderr
    listed = cli("--config", str(path), "history").stdout
    assert re.search(rf"^#\d+ {ISO_OFFSET} \[done\]", listed, re.M), listed
    outputs["history"] = listed
    assert untwinned_times(json.loads(cli("--config", str(path), "history", "--json").stdout)) == []
    for info_hash in (dead, stalled):
        explained = cli("--config", str(path), "explain", info_hash)
        assert explained.returncode == 0 and re.search(rf"first seen {ISO_OFFSET}", explained.stdout), explained
        outputs[f"explain {info_hash}"] = explained.stdout
        doc = json.loads(cli("--config", str(path), "explain", info_hash, "--json").stdout)
        assert doc["torrents"] and untwinned_times(doc) == []
    assert "last decision" in outputs[f"explain {stalled}"] and "no_progress_since" in outputs[f"explain {stalled}"]
    for name, text in outputs.items():
        assert bare_times(text) == [], (name, bare_times(text), text[-3000:])


def test_an_unchanged_decision_is_logged_once_with_one_summary_line_per_cycle(
    states: StateFactory, qbt: QBittorrent, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    down = states.tracker_down("Waiting.Movie.2020", category="radarr")
    radarr.grab_movie(down, "Waiting.Movie.2020", movie_id=20)
    port = free_port()
    path, _ = write_config(health={"bind": "127.0.0.1", "port": port}, monitor={"log_level": "INFO"})
    with Daemon(path, port, "--interval", "1") as daemon:
        daemon.wait(lambda s, d: "last_cycle" in d, "a cycle")
        time.sleep(4)
    err = daemon.err
    assert err.count("decision=wait") == 1, err
    assert len(re.findall(r"cycle: \d+ torrent\(s\) checked", err)) >= 3
    assert "unchanged decision(s) not logged again" in err
