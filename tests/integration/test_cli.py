"""The command line as users run it: a real process, real exit codes, real output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from e2e import SONARR_CATEGORY, cli, spawn
from harness.qbt import QBittorrent
from harness.states import StateFactory, closed_port
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Any]]


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_health_check_healthy(write_config: WriteConfig) -> None:
    path, _ = write_config()
    result = cli("--config", str(path), "--health-check")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "status": "healthy",
        "services": {"qbittorrent": True, "sonarr": True, "radarr": True},
    }


def test_health_check_unreachable_wrong_key_wrong_password(
    write_config: WriteConfig, sonarr: ArrSimulator, radarr: ArrSimulator
) -> None:
    path, _ = write_config()

    def break_things(doc: dict[str, Any]) -> None:
        doc["radarr"][0]["url"] = f"http://127.0.0.1:{closed_port()}"
        doc["sonarr"][0]["api_key"] = "0" * 32
        doc["qbittorrent"][0]["password"] = "not-the-password"

    result = cli("--config", str(edit(path, break_things)), "--health-check")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "unhealthy"
    assert doc["services"] == {"qbittorrent": False, "sonarr": False, "radarr": False}
    assert "cannot reach" in doc["problems"]["radarr"]
    assert "API key was refused" in doc["problems"]["sonarr"]
    assert "qBittorrent refused this username and password" in doc["problems"]["qbittorrent"]
    assert "not-the-password" not in result.stdout + result.stderr and "0" * 32 not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["sonarr"][0].pop("api_key"), "sonarr[0].api_key: is required but missing"),
        (lambda d: d["monitor"].update(check_interval="often"), "monitor.check_interval: 'often' is not a duration"),
        (lambda d: d["health"].update(port="http"), "health.port: Input should be a valid integer"),
        (lambda d: d["qbittorrent"][0].update(pasword="x"), "qbittorrent[0].pasword: unknown key"),
        (lambda d: d.update(error_patterns={"tracker_errors": {"x": ["y"]}}), "error_patterns.tracker_errors: must be"),
    ],
    ids=["missing-field", "wrong-type-duration", "wrong-type-int", "unknown-key", "grouped-patterns"],
)
def test_bad_config_exits_2_naming_the_field(write_config: WriteConfig, change: Any, message: str) -> None:
    path, _ = write_config()
    result = cli("--config", str(edit(path, change)), "--test")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_missing_config_file_and_bad_env(tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "nope.yaml"), "--test")
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = cli("--test", env={"DATA_DIR": str(tmp_path), "QBITTORRENT_URL": "qbt:8080"})
    assert result.returncode == 2 and "qbittorrent[0].url" in result.stderr
    assert (tmp_path / "config" / "config.yaml").exists()  # the first start left an example to edit


def test_test_json_report_and_no_secret_anywhere(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, write_config: WriteConfig, tmp_path: Path
) -> None:
    dead = states.unregistered("Json.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Json.Show.S01E01", series_id=2, season=1, episode_ids=[21])
    path, config = write_config()

    result = cli("--config", str(path), "--test", "--json", "--verbose")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [finding] = report["findings"]
    for key in ("client", "hash", "name", "category", "reason", "evidence", "arr", "decision", "actions"):
        assert key in finding
    assert finding["hash"] == dead and finding["category"] == SONARR_CATEGORY and finding["decision"] == "act"
    assert finding["arr"][0]["instance"] == "sonarr" and finding["arr"][0]["queue_ids"]
    assert [a["type"] for a in report["actions"]] == ["arr_remove", "arr_search"]
    assert all(a["status"] == "done" for a in report["actions"])
    assert dead not in {t["hash"] for t in qbt.info()}
    # One log line per decision, carrying its evidence.
    decision_lines = [line for line in result.stderr.splitlines() if "decision=act" in line]
    assert len(decision_lines) == 1 and "Unregistered torrent" in decision_lines[0]
    log_file = config.monitor.data_dir / "logs" / "qbittorrent-monitor.log"
    everything = result.stdout + result.stderr + log_file.read_text()
    for secret in config.secrets():
        assert secret not in everything


def test_test_exits_non_zero_when_qbittorrent_is_down(write_config: WriteConfig) -> None:
    path, _ = write_config()
    path = edit(path, lambda d: d["qbittorrent"][0].update(url=f"http://127.0.0.1:{closed_port()}"))
    result = cli("--config", str(path), "--test", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and "qbittorrent" in report["service_errors"]


def test_runs_forever_serves_health_and_stops_on_sigterm(write_config: WriteConfig) -> None:
    port = closed_port()
    path, _ = write_config(health={"bind": "127.0.0.1", "port": port})
    proc = spawn("--config", str(path), "--interval", "1")
    try:
        deadline = time.monotonic() + 20
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                doc = response.json()
                if doc.get("last_cycle"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert doc.get("status") == "healthy", doc
        assert doc["services"] == {"qbittorrent": True, "sonarr": True, "radarr": True}
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "stopped" in err


def test_version_and_console_script() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("qbittorrent-monitor ")
    script = Path(sys.executable).with_name("qbittorrent-monitor")
    assert subprocess.run([str(script), "--help"], capture_output=True, check=False).returncode == 0


def test_health_endpoint_says_what_is_wrong_and_the_monitor_keeps_running(write_config: WriteConfig) -> None:
    port = closed_port()
    path, config = write_config(health={"bind": "127.0.0.1", "port": port})
    edit(path, lambda d: d["radarr"][0].update(url=f"http://127.0.0.1:{closed_port()}"))
    proc = spawn("--config", str(path), "--interval", "1")
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                if response.json().get("last_cycle"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert response is not None and response.status_code == 503
        doc = response.json()
        assert doc["status"] == "unhealthy"
        assert doc["services"] == {"qbittorrent": True, "sonarr": True, "radarr": False}
        assert "cannot reach" in doc["problems"]["radarr"]
        for secret in config.secrets():
            assert secret not in response.text
        time.sleep(2.5)  # more cycles: the monitor keeps running with one service down
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert err.count("service radarr unavailable") == 1  # logged once, not every cycle


def test_dry_run_flag_end_to_end(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("DryFlag.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "DryFlag.Show.S01E01", series_id=2, season=1, episode_ids=[21])
    path, _ = write_config()
    result = cli("--config", str(path), "--test", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert [(f["hash"], f["decision"]) for f in report["findings"]] == [(dead, "dry_run")]
    assert {a["status"] for a in report["actions"]} == {"planned"}
    assert sonarr.mutating_calls() == [] and dead in {t["hash"] for t in qbt.info()}
    history = cli("--config", str(path), "history", "--json")
    assert json.loads(history.stdout) == []


def test_history_since_leaves_out_older_actions(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, write_config: WriteConfig
) -> None:
    from e2e import Clock
    from qbittorrent_monitor.monitor import Monitor

    old = states.unregistered("Old.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(old, "Old.Show.S01E01", series_id=3, season=1, episode_ids=[31])
    path, config = write_config()
    clock = Clock()
    clock.advance(-3 * 3600)  # this repair happened three hours ago
    monitor = Monitor(config, clock=clock)
    try:
        monitor.run_cycle()
    finally:
        monitor.close()
    assert len(json.loads(cli("--config", str(path), "history", "--json", "--since", "4h").stdout)) == 2
    assert json.loads(cli("--config", str(path), "history", "--json", "--since", "2h").stdout) == []
    assert "no action in that period" in cli("--config", str(path), "history", "--since", "1h").stdout
    assert cli("--config", str(path), "history", "--since", "soon").returncode == 2


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "summary"])
def test_a_failed_test_cycle_exits_1_even_when_its_reader_went_away(tmp_path: Path, as_json: bool) -> None:
    """`--test | head -c0` in a script: the cycle could not reach qBittorrent, so its exit code is 1 whether or not
    anyone reads the report; a closed pipe must not turn a failure into 0 (nor print a traceback)."""
    from e2e import COMMAND, _env

    path = tmp_path / "config.yaml"
    doc = {
        "monitor": {"data_dir": str(tmp_path / "data")},
        "qbittorrent": [{"url": f"http://127.0.0.1:{closed_port()}", "password": "x"}],
    }
    path.write_text(yaml.safe_dump(doc))
    args = [*COMMAND, "--config", str(path), "--test", *(["--json"] if as_json else [])]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the report is written
    try:
        proc = subprocess.run(args, stdout=write, stderr=subprocess.PIPE, text=True, env=_env(), timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_settings_say_a_flag_overrides_the_file_and_show_the_value_in_force(write_config: WriteConfig) -> None:
    """`--interval 7 --dry-run`: the monitor cycles every 7 s and changes nothing, whatever the file says, so the
    settings must show 7 and true with the source `cli` (they showed the file's values)."""
    from daemon import Daemon, free_port

    port, key = free_port(), "settings-api-key-0123456789abcdef"
    path, _ = write_config(health={"bind": "127.0.0.1", "port": port}, dashboard={"api_keys": [key]})
    with Daemon(path, port, "--interval", "7", "--dry-run") as daemon:
        daemon.wait(lambda status, _doc: status == 200, "up")
        rows = httpx.get(f"http://127.0.0.1:{port}/api/settings", headers={"X-Api-Key": key}, timeout=10).json()
    by_key = {r["key"]: r for r in rows["settings"]}
    assert (by_key["monitor.check_interval"]["value"], by_key["monitor.check_interval"]["source"]) == (7.0, "cli")
    assert (by_key["monitor.dry_run"]["value"], by_key["monitor.dry_run"]["source"]) == (True, "cli")
