"""The container image, really built from the Dockerfile with buildah (../shared/CONTAINER-TESTING.md) and really run:
what it declares, the entrypoint's drop to PUID/PGID, a rootless `user:`, and the old monitor's documented commands
against the suite's real qbittorrent-nox and *arr simulators on loopback (buildah's chroot isolation shares the host's
network). Its own stage of scripts/test.sh (`pytest -m image`): it takes minutes the first time (debootstrap)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from e2e import SONARR_CATEGORY
from harness.qbt import QBittorrent
from harness.states import StateFactory
from sim.arr import ArrSimulator

# Not `integration`: `pytest -m integration` must not build images. It does need the real qbittorrent-nox.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "image"
BASE = "localhost/debian-python:bookworm"
IMAGE = "localhost/qbittorrent-monitor:test"
PUID, PGID = 1234, 2345
PARIS = ZoneInfo("Europe/Paris")


def _run(*cmd: str, timeout: float = 120, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (never a hard-coded host)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for block in path.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", block, re.M)
            if uris and suites and "bookworm" in suites.group(1).split():
                return uris.group(1)
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in lists:
        if path.exists():
            for line in path.read_text().splitlines():
                m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", line)
                if m:
                    return m.group(1)
    raise AssertionError("no Debian bookworm archive in this machine's apt sources")


def ensure_base_image() -> None:
    """A local Debian 12 image with python3 (no registry here): debootstrap once, cached under .cache/image/."""
    if _run("buildah", "images", "--quiet", BASE, check=False).stdout.strip():
        return
    tarball = CACHE / "debian-python-bookworm.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            pytest.fail("debootstrap is missing: scripts/test.sh installs it with apt (`apt-get install debootstrap`)")
        CACHE.mkdir(parents=True, exist_ok=True)
        rootfs = CACHE / "rootfs-tmp"
        shutil.rmtree(rootfs, ignore_errors=True)
        _run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            debian_mirror(),
            timeout=1200,
        )
        partial = tarball.with_suffix(".partial")
        _run("tar", "-C", str(rootfs), "-cf", str(partial), ".", timeout=600)
        partial.rename(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    container = _run("buildah", "from", "scratch").stdout.strip()
    try:
        _run("buildah", "add", container, str(tarball), "/", timeout=600)
        _run("buildah", "commit", "--quiet", container, BASE, timeout=600)
    finally:
        _run("buildah", "rm", container, check=False)


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (scripts/test.sh installs it with apt; that needs root)")
    info = _run("buildah", "info", check=False)
    if info.returncode != 0:
        pytest.skip(f"buildah cannot run on this machine: {info.stderr.strip()[-500:]}")
    ensure_base_image()
    trust = []
    # This machine reaches PyPI through a TLS proxy whose CA the image does not know: lend the build its trust.
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if os.path.exists(path):
            trust += ["-v", f"{path}:{path}:ro"]
    _run(
        "buildah",
        "bud",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "--layers=false",
        "--build-arg",
        f"BASE={BASE}",
        # Built the armv7 way (the index has no armv7l PyYAML wheel): from its sdist, in a stage with no compiler.
        "--build-arg",
        "FROM_SOURCE=pyyaml",
        *trust,
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1200,
    )
    try:
        yield IMAGE
    finally:
        _run("buildah", "rmi", IMAGE, check=False)


class Box:
    """A working container of the image; /config is a host folder (the image's own /config volume is dropped
    from this container only, so that the host can look at what the entrypoint did)."""

    def __init__(self, image: str, config: Path) -> None:
        self.config = config
        self.id = _run("buildah", "from", image).stdout.strip()
        _run("buildah", "config", "--volume", "/config-", self.id)

    def argv(self, *cmd: str, user: str = "0:0", env: dict[str, str] | None = None) -> list[str]:
        envs = [x for k, v in (env or {}).items() for x in ("--env", f"{k}={v}")]
        return [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            "--user",
            user,
            *envs,
            "-v",
            f"{self.config}:/config",
            self.id,
            "--",
            *cmd,
        ]

    def run(self, *cmd: str, user: str = "0:0", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return _run(*self.argv(*cmd, user=user, env=env), check=False, timeout=180)

    def remove(self) -> None:
        _run("buildah", "rm", self.id, check=False)


@pytest.fixture
def box(image: str, tmp_path: Path) -> Iterator[Box]:
    config = tmp_path / "volume"
    config.mkdir()
    b = Box(image, config)
    try:
        yield b
    finally:
        b.remove()


def write_volume_config(box: Box, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, **extra: Any) -> Path:
    doc = {
        "monitor": {"log_level": "INFO"},
        "health": {"bind": "127.0.0.1", "port": 0},
        "qbittorrent": [{"url": qbt.url, "username": qbt.username, "password": qbt.password}],
        "sonarr": [{"url": sonarr.url, "api_key": sonarr.api_key}],
        "radarr": [{"url": radarr.url, "api_key": radarr.api_key}],
        "stalled": {"min_age": 0},
        **extra,
    }
    path = box.config / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def owners(root: Path) -> set[tuple[int, int]]:
    return {(p.lstat().st_uid, p.lstat().st_gid) for p in [root, *root.rglob("*")]}


def test_the_image_declares_its_volume_port_health_check_and_starts_as_root_only_to_drop(image: str) -> None:
    doc = json.loads(_run("buildah", "inspect", "--type", "image", image).stdout)
    config, docker = doc["OCIv1"]["config"], doc["Docker"]["config"]
    # No USER: the entrypoint starts as root to give /config to PUID:PGID, then drops (tested below).
    assert config.get("User", "") == ""
    assert config["Entrypoint"] == ["/entrypoint.sh"] and config["Cmd"] == ["/app/bin/qbittorrent-monitor"]
    assert set(config["Volumes"]) == {"/config"}
    assert set(config["ExposedPorts"]) == {"8080/tcp"}
    assert "DATA_DIR=/config" in config["Env"]
    assert docker["Healthcheck"]["Test"] == ["CMD", "qbittorrent-monitor", "--health-check"]
    assert docker["Healthcheck"]["Interval"] == 60 * 10**9  # once a minute: the check asks every service


def test_entrypoint_gives_config_to_puid_pgid_and_runs_the_monitor_as_that_user(
    box: Box, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_volume_config(box, qbt, sonarr, radarr, health={"bind": "127.0.0.1", "port": port})
    (box.config / "left-by-root").write_text("x")
    assert owners(box.config) == {(0, 0)}
    mark = uuid.uuid4().hex
    env = {"PUID": str(PUID), "PGID": str(PGID), "UMASK": "027", "TZ": "Europe/Paris", "QBM_TEST_MARK": mark}
    output = tmp_path / "monitor.out"
    with output.open("w") as out:  # a file, not a pipe: the running monitor logs more than a pipe holds
        proc = subprocess.Popen(box.argv("/entrypoint.sh", user="0:0", env=env), stdout=out, stderr=subprocess.STDOUT)
    pid = None
    try:
        deadline = time.monotonic() + 90
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                doc = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, trust_env=False).json()
                if doc.get("last_cycle"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert doc.get("status") == "healthy", (doc, proc.poll())
        pid = find_pid(mark)
        status = Path(f"/proc/{pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{PUID}\s+{PUID}\s+{PUID}\s+{PUID}$", status, re.M), status
        assert re.search(rf"^Gid:\s+{PGID}\s+{PGID}\s+{PGID}\s+{PGID}$", status, re.M), status
        assert re.search(r"^Groups:\s*$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"/app/bin/qbittorrent-monitor" in cmdline
        # /config and everything in it belong to PUID:PGID; what the monitor wrote follows UMASK=027.
        assert owners(box.config) == {(PUID, PGID)}
        log_file = box.config / "logs" / "qbittorrent-monitor.log"
        assert log_file.stat().st_mode & 0o777 == 0o640  # UMASK=027 exactly: the group reads, nobody else
        assert (box.config / "state.db").stat().st_mode & 0o777 == 0o600  # the library's history: the user's alone
        assert (box.config / "state.db").exists()
        # TZ=Europe/Paris took effect: the log's times carry Paris's offset then (+01:00 or +02:00), not this
        # machine's UTC.
        stamps = [line.split(" ", 1)[0] for line in log_file.read_text().splitlines() if line[:4].isdigit()]
        assert stamps, log_file.read_text()[:500]
        for stamp in stamps:
            when = datetime.fromisoformat(stamp)
            assert when.utcoffset() == when.astimezone(PARIS).utcoffset() != timedelta(0), stamp
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)  # the monitor, by its PID (buildah run has no PID namespace)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    text = output.read_text()
    assert proc.returncode == 0, text
    assert "stopped" in text


def find_pid(mark: str) -> int:
    """The monitor process started with this marker in its environment."""
    needle = f"QBM_TEST_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and b"/app/bin/qbittorrent-monitor" in cmdline:
            return int(entry.name)
    raise AssertionError("the monitor process was not found")


def test_tz_sets_the_time_zone_of_what_runs_and_an_unknown_one_is_said_and_left_utc(box: Box) -> None:
    env = {"PUID": str(PUID), "PGID": str(PGID)}
    paris = box.run("/entrypoint.sh", "date", "+%z %Z", env={**env, "TZ": "Europe/Paris"})
    assert paris.returncode == 0, paris.stderr
    offset = datetime.now(PARIS).strftime("%z %Z")  # "+0100 CET" in winter, "+0200 CEST" in summer
    assert paris.stdout.strip() == offset and "not a known time zone" not in paris.stderr
    unknown = box.run("/entrypoint.sh", "date", "+%z", env={**env, "TZ": "Nowhere/Atlantis"})
    assert unknown.returncode == 0 and unknown.stdout.strip() == "+0000"
    assert "TZ=Nowhere/Atlantis is not a known time zone" in unknown.stderr


def test_root_is_refused_as_puid(box: Box) -> None:
    result = box.run("/entrypoint.sh", "--test", env={"PUID": "0", "PGID": "0"})
    assert result.returncode == 64
    assert "refusing to run the monitor as root" in result.stderr
    assert owners(box.config) == {(0, 0)}


def test_with_a_non_root_user_it_runs_as_that_user_and_changes_no_ownership(
    box: Box, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator
) -> None:
    write_volume_config(box, qbt, sonarr, radarr)
    foreign = box.config / "someone-elses"
    foreign.write_text("x")
    for path in box.config.rglob("*"):
        os.chown(path, 1500, 1500)
    os.chown(box.config, 1500, 1500)
    os.chown(foreign, 4000, 4000)
    os.chmod(foreign, 0o644)

    ids = box.run("/entrypoint.sh", "sh", "-c", "id -u; id -g", user="1500:1500", env={"PUID": "1234", "PGID": "1234"})
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == ["1500", "1500"]  # `user:` wins over PUID/PGID, no chown attempted
    health = box.run("qbittorrent-monitor", "--health-check", user="1500:1500")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["status"] == "healthy"
    assert foreign.stat().st_uid == 4000 and box.config.stat().st_uid == 1500


def test_the_old_monitors_commands_work_inside_the_image(
    box: Box, states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator
) -> None:
    """`docker exec qbittorrent-monitor python3 /app/qbittorrent-monitor.py ...` as the old README says (docker exec
    runs as root: the monitor must still run as PUID)."""
    write_volume_config(box, qbt, sonarr, radarr)
    env = {"PUID": str(PUID), "PGID": str(PGID)}
    old = ["python3", "/app/qbittorrent-monitor.py"]

    health = box.run(*old, "--health-check", env=env)
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {
        "status": "healthy",
        "services": {"qbittorrent": True, "sonarr": True, "radarr": True},
    }

    dead = states.unregistered("Image.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Image.Show.S01E01", series_id=9, season=1, episode_ids=[91])
    dry = box.run(*old, "--dry-run", "--test", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("cycle (dry run): ") and "[dry_run]" in dry.stdout
    assert dead in {t["hash"] for t in qbt.info()}  # a dry run changes nothing
    # Run as root, yet what this run created (its log) belongs to PUID: the entrypoint chowns before, not after.
    assert owners(box.config) == {(PUID, PGID)}

    verbose = box.run(*old, "--verbose", "--test", env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert " DEBUG " in verbose.stderr and "[act]" in verbose.stdout
    assert dead not in {t["hash"] for t in qbt.info()}  # repaired through Sonarr, from inside the image
    assert [c["name"] for c in sonarr.commands if c["trigger"] == "manual"] == ["EpisodeSearch"]

    again = box.run(*old, "--test", env=env)
    assert again.returncode == 0 and again.stdout.startswith("cycle: ")
    by_path = box.run(*old, "--config", "/app/config/config.yaml", "--health-check", env=env)
    assert by_path.returncode == 0, by_path.stderr
    # Run as root, yet everything the monitor wrote belongs to PUID:PGID.
    assert (box.config / "state.db").stat().st_uid == PUID
    assert owners(box.config) == {(PUID, PGID)}


def test_no_build_tools_or_sources_in_the_runtime_image(box: Box) -> None:
    result = box.run("sh", "-c", "test ! -e /app/bin/pip && test ! -e /src && /app/bin/python -c 'import docker'")
    assert result.returncode == 0, result.stderr


def test_pyyaml_built_from_its_sdist_as_on_armv7_is_its_pure_python_fallback_and_there_is_no_compiler(
    box: Box,
) -> None:
    """On armv7 the build stage builds PyYAML from its sdist (scripts/check_wheels.py); this image was built that way,
    and every test above ran the monitor with it. No C extension was compiled, none could be, and none is needed."""
    probe = "import shutil, yaml; print(yaml.__with_libyaml__, shutil.which('cc') or shutil.which('gcc'))"
    result = box.run("/app/bin/python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "None"]
