"""Load benchmark: the monitor's own cost and its load on a real qBittorrent, at realistic library sizes.

    .venv/bin/python bench/load.py            # the matrix below; writes bench/results/load.json and bench/results.md

Real mode (commits on, a throwaway data dir), warm-up cycles then at least 20 steady ones, for a matrix of libraries
(2,000 / 10,000 / 30,000 torrents, each with a 100-item queue and a queue of 5% of the library; 10,000 again with
10% errored torrents), and the naive way on the same qBittorrent. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "tests"))

from harness.qbt import QBittorrent  # noqa: E402
from harness.states import StateFactory  # noqa: E402
from harness.tracker import Tracker  # noqa: E402
from harness.versions import DEFAULT_VERSION  # noqa: E402
from qbittorrent_monitor.observe import TRACKER_REFRESH  # noqa: E402
from sim.arr import ArrSimulator  # noqa: E402

SONARR_CATEGORY = "tv-sonarr"
RADARR_CATEGORY = "radarr"
CATEGORY = {"sonarr": SONARR_CATEGORY, "radarr": RADARR_CATEGORY}
MIX = {"seeding": 0.85, "stalled": 0.10, "unregistered": 0.03, "error": 0.02}  # share of the library
QUEUE_SHARE = {"seeding": 0.20, "stalled": 0.50, "unregistered": 0.20, "error": 0.10}  # share of a queue
QUEUE_OF_LIBRARY = 0.05
CHECK_INTERVAL = 30.0  # the shortest interval the issue asks detection for; shares of a core use it
MIB = 1024 * 1024
# The targets of issue 10 (idle cycle, real mode): (torrents, queue) -> limits.
TARGETS = {
    (10_000, 100): {"monitor_cpu_s": 0.05, "qbt_cpu_s": 0.05, "rss_mib": 60.0, "log_lines": 1},
    (30_000, 1_500): {"monitor_cpu_s": 0.5, "qbt_cpu_s": 0.3, "rss_mib": 64.0, "log_lines": 1},
}


# -- measuring qbittorrent-nox from outside ----------------------------------------------------------------------
def proc_cpu_precise_s(pid: int) -> float:
    """Sum of the threads' on-CPU nanoseconds from /proc/<pid>/task/*/schedstat (threads that exited are lost)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


@dataclass
class CpuWindow:
    """qbittorrent-nox CPU consumed while a block ran: `precise_s` from its threads' schedstat (ns), and `net_s` =
    precise_s minus its idle rate (measured over a longer baseline) times the block's wall time."""

    pid: int
    idle_rate: float = 0.0
    precise_s: float = 0.0
    wall_s: float = 0.0

    @property
    def net_s(self) -> float:
        return self.precise_s - self.idle_rate * self.wall_s

    @contextlib.contextmanager
    def measure(self) -> Iterator[CpuWindow]:
        p0, w0 = proc_cpu_precise_s(self.pid), time.perf_counter()
        try:
            yield self
        finally:
            self.wall_s = time.perf_counter() - w0
            self.precise_s = proc_cpu_precise_s(self.pid) - p0


def idle_rate(pid: int, seconds: float) -> float:
    """qbittorrent-nox CPU seconds per second while nobody asks it anything (its own timers, announces)."""
    c0, w0 = proc_cpu_precise_s(pid), time.perf_counter()
    time.sleep(seconds)
    return (proc_cpu_precise_s(pid) - c0) / (time.perf_counter() - w0)


def wait_quiet(pid: int, threshold: float, window: float, timeout: float) -> dict[str, Any]:
    """After a big add, qBittorrent stays busy for a while (first announces, resume data): wait until its idle rate
    over `window` seconds is under `threshold` CPU-s/s, so the cycles do not run on top of that."""
    t0 = time.perf_counter()
    rates: list[float] = []
    while True:
        rates.append(idle_rate(pid, window))
        waited = time.perf_counter() - t0
        if rates[-1] <= threshold or waited >= timeout:
            return {"rate": rates[-1], "quiet": rates[-1] <= threshold, "waited_s": waited, "rates": rates}


# -- what is run ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One library (size and mix) and the queue sizes run against it, each with fresh simulators and data dir."""

    n: int
    queues: tuple[int, ...]
    mix: tuple[tuple[str, float], ...] = tuple(MIX.items())

    @property
    def errored_share(self) -> float:
        return dict(self.mix)["error"]

    @property
    def label(self) -> str:
        return f"{self.n:,} torrents, {self.errored_share:.0%} errored"


def matrix(
    sizes: list[int], errored_size: int | None, errored_share: float, queues: list[int] | None = None
) -> list[Scenario]:
    """Each size with a 100-item queue and a queue of 5% of the library (the same queue when 5% is 100), then one
    size again with a larger errored share (errored torrents no queue refers to are what grows with the library)."""
    runs = [Scenario(n, tuple(queues or sorted({100, round(n * QUEUE_OF_LIBRARY)}))) for n in sizes]
    if errored_size:
        mix = dict(MIX)
        mix["seeding"] -= errored_share - mix["error"]
        mix["error"] = errored_share
        runs.append(Scenario(errored_size, (100,), tuple(mix.items())))
    return runs


# -- the library ---------------------------------------------------------------------------------------------------
@dataclass
class Item:
    kind: str
    name: str
    hash: str
    app: str | None  # "sonarr" / "radarr": in that app's category, and in its queue when the run's queue reaches it


@dataclass
class Library:
    n: int
    counts: dict[str, int]
    queued: dict[str, list[Item]] = field(default_factory=dict)  # per kind, in the order queues take them
    build_s: float = 0.0
    states: dict[str, int] = field(default_factory=dict)

    def queue(self, size: int) -> list[Item]:
        """The first `size` queue items: QUEUE_SHARE of each kind (20% waiting for import, 50% stalled, 20%
        unregistered, 10% errored)."""
        out: list[Item] = []
        for kind, share in QUEUE_SHARE.items():
            out += self.queued[kind][: round(size * share)]
        return out


def build_library(states: StateFactory, scenario: Scenario, max_queue: int) -> Library:
    """The library in qBittorrent, through the test harness (tests/harness/states.py `many`, 200 torrents per
    torrents/add): seeds (payload written, added with skip_checking), stalled downloads (a tracker with no peers),
    unregistered ones (private; the tracker answers "Unregistered torrent") and errored ones (a file where the
    folder must be). The torrents the largest queue names are in the apps' categories; the queued unregistered and
    errored ones carry the protected tag `keep`, so real-mode cycles find them every cycle and repair nothing (a
    steady, idle state); the others seeds keep the apps' categories or none (imported long ago), the other broken
    torrents have none (added by hand)."""
    counts = {k: round(scenario.n * share) for k, share in scenario.mix}
    counts["seeding"] += scenario.n - sum(counts.values())
    lib = Library(scenario.n, counts)
    t0 = time.perf_counter()
    for kind, count in counts.items():
        queued = min(count, round(max_queue * QUEUE_SHARE[kind]))
        groups: dict[tuple[str, bool], list[str]] = {}
        for i in range(count):
            app = ("sonarr", "radarr")[i % 2] if i < queued else None
            if app is not None:
                category = CATEGORY[app]
            elif kind == "seeding":
                category = (SONARR_CATEGORY, RADARR_CATEGORY, "")[i % 3]
            else:
                category = ""
            if category == RADARR_CATEGORY:
                name = f"Movie.{kind.title()}.{i:05d}.2019.1080p.BluRay.x264-QBMBENCH"
            else:
                name = f"Show.{kind.title()}.{i:05d}.S{i % 9 + 1:02d}E{i % 20 + 1:02d}.1080p.WEB-DL-QBMBENCH"
            keep = app is not None and kind in ("unregistered", "error")
            groups.setdefault((category, keep), []).append(name)
            if app is not None:
                lib.queued.setdefault(kind, []).append(Item(kind, name, "", app))
        for (category, keep), names in groups.items():
            hashes = states.many(
                kind,
                names,
                category=category or None,
                tags=["keep"] if keep else None,
                private=kind == "unregistered",
                timeout=120 + count / 20,
            )
            by_name = dict(zip(names, hashes, strict=True))
            for item in lib.queued.get(kind, []):
                item.hash = by_name.get(item.name, item.hash)
    qbt = states.qbt
    for item in lib.queued.get("unregistered", []):  # the monitor must see what it finds from the first cycle
        qbt.wait_tracker_status(item.hash, qbt.behaviour.unregistered_status, timeout=60)
    lib.build_s = time.perf_counter() - t0
    lib.states = dict(Counter(t["state"] for t in qbt.info()))
    return lib


def quiet_hangups(tracker: Tracker) -> None:
    """qBittorrent hangs up on in-flight announces when it stops: no traceback on stderr for those."""
    server = tracker._server
    assert server is not None
    report = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    server.handle_error = handle_error  # type: ignore[method-assign]


# -- the *arr simulators -------------------------------------------------------------------------------------------
def start_arrs(qbt: QBittorrent, items: list[Item]) -> dict[str, ArrSimulator]:
    sims: dict[str, ArrSimulator] = {}
    for kind in ("sonarr", "radarr"):
        sim = ArrSimulator(
            kind,  # type: ignore[arg-type]
            qbt_url=qbt.url,
            qbt_username=qbt.username,
            qbt_password=qbt.password,
            category=CATEGORY[kind],
        )
        sims[kind] = sim
        sim.start()
    episode = 1
    for n, item in enumerate(items):
        if item.app == "sonarr":
            episodes = list(range(episode, episode + 1 + n % 2))  # season packs name several episodes
            episode += len(episodes)
            sims["sonarr"].grab_episodes(item.hash, item.name, series_id=100 + n, season=1, episode_ids=episodes)
        else:
            sims["radarr"].grab_movie(item.hash, item.name, movie_id=500 + n)
    return sims


def pin_refresh(sim: ArrSimulator) -> Callable[[], None]:
    """The simulator re-reads qBittorrent (torrents/info?category=...) on every queue request; the real apps do
    it on their own one-minute timer whatever the monitor does. So the snapshot is refreshed by the benchmark
    between cycles, outside the measured window, and served as is during the cycle. Returns the refresh."""
    real = ArrSimulator._refresh

    def refresh_now() -> None:
        with sim._lock:
            real(sim)

    def served_from_snapshot() -> None:
        return None

    sim._refresh = served_from_snapshot  # type: ignore[method-assign]
    return refresh_now


# -- processes measured on their own -------------------------------------------------------------------------------
ENVS = {
    "runtime": "a virtualenv of the runtime dependencies only, as `pip install .` and the image install them",
    "dev": "the development virtualenv (test tools installed)",
}


def runtime_python(kind: str) -> str:
    """The interpreter the measured processes run in. `runtime` (the default): a virtualenv under .cache holding only
    the pinned `[project] dependencies` of pyproject.toml, what `pip install .` and the image install, so that no
    test tool is in the RSS measured (in the development venv, httpx's optional CLI imports Pygments, installed there
    for pytest: 1.1 MiB the image never loads); made once per dependency list and Python, from the package index.
    `dev`: this interpreter (the development venv)."""
    if kind == "dev":
        return sys.executable
    deps = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    digest = hashlib.sha256("\n".join(deps).encode()).hexdigest()[:12]
    tag = f"py{sys.version_info.major}{sys.version_info.minor}-{digest}"
    venv = ROOT / ".cache" / "bench-runtime" / tag
    python = venv / "bin" / "python"
    if not (venv / "ready").exists():
        print(f"creating the runtime-only virtualenv {venv} (pyproject's {len(deps)} pinned dependencies)", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *deps],
            check=True,
            timeout=1200,
        )
        (venv / "ready").write_text("\n".join(deps) + "\n")
    return str(python)


class ChildProcess:
    """A bench/_*.py script: one JSON line per command, read with a timeout by a reader thread. The monitor's code
    comes from `monitor_src` (another revision's, exported) or this tree's src/, ahead of anything installed."""

    def __init__(
        self, script: str, argv: list[str], stderr_path: Path, monitor_src: Path | None, python: str = sys.executable
    ) -> None:
        env = dict(os.environ)
        src = str(monitor_src or ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [python, str(BENCH / script), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=env,
            text=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{script}-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the child process did not answer within {timeout:.0f}s") from None
        if line is None:
            tail = self.stderr_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the child process exited with {self.proc.wait()}; its stderr ends with:\n{tail}")
        doc: dict[str, Any] = json.loads(line)
        return doc

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> dict[str, Any] | None:
        bye = None
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.send("quit")
                bye = self.receive(60)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._stderr.close()
        return bye


def write_monitor_config(path: Path, qbt: QBittorrent, sims: dict[str, ArrSimulator], data_dir: Path) -> None:
    doc = {
        "monitor": {
            "check_interval": CHECK_INTERVAL,
            "dry_run": False,  # real mode: decisions stored, the journal on, whatever a cycle would commit
            "log_level": "INFO",
            "data_dir": str(data_dir),
        },
        "health": {"enabled": True, "bind": "127.0.0.1", "port": 0},  # as deployed: the HTTP server runs too
        "qbittorrent": [{"name": "qbittorrent", "url": qbt.url, "username": qbt.username, "password": qbt.password}],
        "sonarr": [{"name": "sonarr", "url": sims["sonarr"].url, "api_key": sims["sonarr"].api_key}],
        "radarr": [{"name": "radarr", "url": sims["radarr"].url, "api_key": sims["radarr"].api_key}],
    }
    path.write_text(yaml.safe_dump(doc))


class Cycles:
    """The monitor process and the measurement around each of its cycles."""

    def __init__(self, qbt: QBittorrent, sims: dict[str, ArrSimulator], child: ChildProcess, baseline: float) -> None:
        assert qbt.pid is not None
        self.qbt_pid = qbt.pid
        self.sims = sims
        self.refreshers = [pin_refresh(s) for s in sims.values()]
        self.child = child
        self.baseline = baseline

    def refresh(self) -> None:
        for refresh_now in self.refreshers:
            refresh_now()

    def one(self) -> dict[str, Any]:
        self.refresh()
        window = CpuWindow(self.qbt_pid, self.baseline)
        with window.measure():
            self.child.send("cycle")
            doc = self.child.receive(900)
        if doc.get("event") != "cycle":
            raise RuntimeError(f"the monitor process answered {doc}")
        doc.update(qbt_cpu_s=window.net_s, qbt_cpu_gross_s=window.precise_s, qbt_window_s=window.wall_s)
        return doc


def print_cycle(label: str, doc: dict[str, Any]) -> None:
    print(
        f"    {label} {doc['cycle']}: monitor CPU {doc['cpu_s']:.3f}s, qBittorrent CPU {doc['qbt_cpu_s']:.3f}s,"
        f" {doc['qbt_requests']} qBittorrent + {doc['arr_requests']} *arr requests, {doc['rows_written']} rows,"
        f" {doc['log_lines']} log lines, RSS {doc['rss_kib'] / 1024:.1f} MiB, actions {doc['actions_taken']}",
        flush=True,
    )


def detect(cycles: Cycles, found: Callable[[dict[str, Any]], bool], limit: int = 3) -> dict[str, Any]:
    """Cycles until `found` holds: how many, and the monitor's wall time over those cycles (the benchmark runs them
    back to back, refreshing the simulators between them; at the service's interval add (cycles - 1) x
    check_interval)."""
    wall = 0.0
    for k in range(1, limit + 1):
        doc = cycles.one()
        wall += doc["wall_s"]
        if found(doc):
            return {"cycles": k, "seconds": round(wall, 3)}
    return {"cycles": None, "seconds": None, "note": f"not found within {limit} cycles"}


def detection(cycles: Cycles, states: StateFactory, sonarr: ArrSimulator, lib: Library, tag: str) -> dict[str, Any]:
    """Three new failures after the steady cycles: a download Sonarr grabs whose tracker does not know it, an
    errored torrent no queue refers to (its log line makes the errored list be read again), and a queued stalled
    download whose tracker starts refusing it (4.x shows that only in torrents/trackers, read again after
    TRACKER_REFRESH: not expected within a few back-to-back cycles there)."""
    qbt = states.qbt
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    name = f"Bench.Dead.On.Arrival.{tag}.S09E01"
    [dead] = states.many("unregistered", [name], category=SONARR_CATEGORY)
    sonarr.grab_episodes(dead, name, series_id=9001, season=9, episode_ids=[90001])
    qbt.wait_tracker_status(dead, qbt.behaviour.unregistered_status, timeout=60)
    out["new queued download, unregistered"] = {
        "setup_s": round(time.perf_counter() - t0, 3),
        **detect(cycles, lambda d: dead in d["found"]),
    }
    [broken] = states.many("error", [f"Bench.Hand.Added.Broken.{tag}"])
    out["new errored torrent, in no queue"] = detect(cycles, lambda d: broken in d["found"])
    stalled = lib.queued["stalled"][0].hash
    states.tracker.set_failure(stalled, "Unregistered torrent")
    try:
        qbt.post("torrents/reannounce", {"hashes": stalled})
        qbt.wait_tracker_status(stalled, qbt.behaviour.unregistered_status, timeout=60, msg="Unregistered torrent")
        out["queued stalled download, its tracker starts refusing it"] = {
            **detect(cycles, lambda d: stalled in d["found"]),
            "expected": "next cycle"
            if qbt.behaviour.include_trackers
            else f"within TRACKER_REFRESH ({TRACKER_REFRESH:.0f} s)",
        }
    finally:  # working again before the next run (whose queue holds it too) sees it
        states.tracker.set_failure(stalled, None)
        qbt.post("torrents/reannounce", {"hashes": stalled})
        qbt.wait_tracker_status(stalled, 2, timeout=60)
    return out


def run_queue(
    qbt: QBittorrent,
    states: StateFactory,
    lib: Library,
    size: int,
    args: argparse.Namespace,
    workdir: Path,
    out: dict[str, Any],
) -> None:
    """One queue size on the library: fresh simulators and data dir, the monitor process, warm-up, steady cycles,
    then the detection cases (which change the library: they run last)."""
    assert qbt.pid is not None
    items = lib.queue(size)
    out.update(queue=size, queue_by_kind=dict(Counter(i.kind for i in items)))
    sims = start_arrs(qbt, items)
    child: ChildProcess | None = None
    try:
        run_dir = Path(tempfile.mkdtemp(prefix=f"q{size}-", dir=workdir))
        config_path = run_dir / "monitor.yaml"
        write_monitor_config(config_path, qbt, sims, run_dir / "data")
        out["qbt_idle_rate"] = idle_rate(qbt.pid, args.baseline)
        t0 = time.perf_counter()
        child = ChildProcess(
            "_monitor_proc.py", [str(config_path)], run_dir / "monitor.stderr.log", args.monitor_src, args.python
        )
        out["ready"] = child.receive(120)
        out["ready"]["wall_to_ready_s"] = round(time.perf_counter() - t0, 3)
        cycles = Cycles(qbt, sims, child, out["qbt_idle_rate"])
        out["warmup"], out["steady"] = [], []
        for _ in range(args.warmup):
            out["warmup"].append(cycles.one())
            print_cycle("warm-up", out["warmup"][-1])
        for _ in range(args.cycles):
            out["steady"].append(cycles.one())
            print_cycle("steady", out["steady"][-1])
        out["qbt_idle_rate_after"] = idle_rate(qbt.pid, args.baseline)
        out["detection"] = detection(cycles, states, sims["sonarr"], lib, f"q{size}")
        print(f"    detection: {out['detection']}", flush=True)
    finally:
        if child is not None:
            out["bye"] = child.stop()
        for sim in sims.values():
            with contextlib.suppress(Exception):
                sim.stop()


def run_naive(qbt: QBittorrent, args: argparse.Namespace, workdir: Path, baseline: float) -> dict[str, Any]:
    """The naive way in its own process (bench/_naive_proc.py): the whole torrents/info, then torrents/trackers for
    every torrent, on one keep-alive connection; its CPU and peak RSS from inside, qBittorrent's around it."""
    assert qbt.pid is not None
    argv = [qbt.url, qbt.username, qbt.password]
    child = ChildProcess("_naive_proc.py", argv, workdir / "naive.stderr.log", None, args.python)
    try:
        window = CpuWindow(qbt.pid, baseline)
        with window.measure():
            child.send("pass")
            doc = child.receive(1800)
    finally:
        child.stop()
    doc.update(qbt_cpu_s=window.net_s, qbt_cpu_gross_s=window.precise_s, qbt_window_s=window.wall_s)
    print(
        f"  naive: {doc['requests']} requests, its CPU {doc['cpu_s']:.2f}s, RSS peak {doc['rss_peak_kib'] / 1024:.0f}"
        f" MiB, qBittorrent CPU {doc['qbt_cpu_s']:.2f}s",
        flush=True,
    )
    return doc


def run_scenario(scenario: Scenario, args: argparse.Namespace, started: list[int], result: dict[str, Any]) -> None:
    """Fills `result` as it goes, so what was measured before an error is still reported."""
    workdir = Path(tempfile.mkdtemp(prefix=f"qbm-bench-{scenario.n}-"))
    result.update(n=scenario.n, errored_share=scenario.errored_share, workdir=str(workdir))
    qbt = QBittorrent(workdir / "qbt", version=args.qbt_version)
    tracker = Tracker()
    t_total = time.perf_counter()
    try:
        tracker.start()
        quiet_hangups(tracker)
        qbt.start()
        assert qbt.pid is not None
        started.append(qbt.pid)
        result["qbt"] = {"pid": qbt.pid, "version": qbt.version}
        print(f"{scenario.label}: qbittorrent-nox {qbt.version} pid {qbt.pid} at {qbt.url}", flush=True)
        qbt.api.timeout = httpx.Timeout(300.0)  # a 30,000-torrent library keeps qBittorrent busy while it is built
        states = StateFactory(qbt, tracker, workdir / "states")
        lib = build_library(states, scenario, max(scenario.queues))
        result["library"] = {"counts": lib.counts, "build_s": lib.build_s, "states": lib.states}
        print(f"  library built in {lib.build_s:.1f}s: {lib.states}", flush=True)
        quiet = wait_quiet(qbt.pid, args.quiet_threshold, args.idle_window, args.quiet_timeout)
        result["qbt_quiet"] = quiet
        result["qbt_rss_kib"] = proc_rss_kib(qbt.pid)
        result["runs"] = []
        for size in scenario.queues:
            run: dict[str, Any] = {}
            result["runs"].append(run)
            print(f"  queue {size}:", flush=True)
            run_queue(qbt, states, lib, size, args, workdir, run)
        result["naive"] = run_naive(qbt, args, workdir, idle_rate(qbt.pid, args.baseline))
        result["loadavg_at_end"] = os.getloadavg()
    finally:
        with contextlib.suppress(Exception):
            qbt.stop(timeout=args.stop_timeout)  # SIGTERM by PID, SIGKILL after the timeout
        with contextlib.suppress(Exception):
            tracker.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        result["total_s"] = time.perf_counter() - t_total


# -- the report ----------------------------------------------------------------------------------------------------
def spread(values: list[float]) -> dict[str, float]:
    """Median and spread (min, max) of the steady cycles."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    """What the tables show for one queue run: per-cycle figures of the steady cycles, as median and spread."""
    steady = run.get("steady", [])
    keys = ("cpu_s", "qbt_cpu_s", "qbt_requests", "qbt_bytes", "arr_requests", "rows_written", "log_lines")
    out = {k: spread([float(c[k]) for c in steady]) for k in keys}
    out["rss_peak_mib"] = max((c["rss_peak_kib"] for c in steady), default=0) / 1024
    out["actions_taken"] = sum(c["actions_taken"] for c in steady)
    out["cycles"] = len(steady)
    return out


def _git(*argv: str) -> str:
    try:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=ROOT, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"git {' '.join(argv)} failed: {exc}") from None
    return done.stdout.strip()


def export_rev(rev: str, into: Path) -> Path:
    """`git archive REV src` unpacked under `into`: the monitor code of that revision, the working tree untouched."""
    archive = subprocess.run(["git", "archive", rev, "src"], capture_output=True, cwd=ROOT, timeout=60, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, timeout=60, check=True)
    return into / "src"


def _machine(rev: str | None) -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(RuntimeError):
        if rev:
            commit = f"{_git('rev-parse', '--short', rev)} (--rev {rev}, exported with git archive)"
        else:
            commit = _git("rev-parse", "--short", "HEAD")
            commit += " + uncommitted changes in src/ (working tree)" if _git("status", "--porcelain", "src") else ""
    return {
        "nproc": os.cpu_count(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "loadavg_at_start": os.getloadavg(),
    }


def _s(d: dict[str, float], fmt: str = ".3f") -> str:
    return f"{d['median']:{fmt}} [{d['min']:{fmt}}-{d['max']:{fmt}}]"


def render(doc: dict[str, Any]) -> str:
    m, a = doc["machine"], doc["args"]
    lines = [
        "# Load benchmark results",
        "",
        f"Written by `bench/load.py` on {doc['date']}. Machine: {m['nproc']} CPU(s), {m['arch']}, kernel"
        f" {m['kernel']}, Python {m['python']}, qBittorrent {a['qbt_version']}, monitor at {m['commit'] or '?'};"
        f" load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}. The monitor and the naive"
        f" process ran in {ENVS.get(a.get('env', 'dev'), a.get('env'))} (Python {m.get('monitor_python', '?')})."
        f" Real mode, {a['warmup']}"
        f" warm-up then {a['cycles']} steady cycles per run, back to back; qBittorrent's idle rate measured over"
        f" {a['baseline']:.0f} s before each run. Figures are medians [min-max] of the steady cycles."
        " How to read: bench/README.md. Raw numbers: bench/results/load.json.",
        "",
        "## Against the targets (issue 10: idle cycle, real mode)",
        "",
        "| library (queue) | monitor CPU-s | target | qBittorrent CPU-s | target | monitor peak RSS MiB | target"
        " | log lines | target | held |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        for q in r.get("runs", []):
            target = TARGETS.get((r["n"], q["queue"]))
            if target is None or r["errored_share"] != MIX["error"] or not q.get("steady"):
                continue
            s = summarize(q)
            held = (
                s["cpu_s"]["median"] <= target["monitor_cpu_s"]
                and s["qbt_cpu_s"]["median"] <= target["qbt_cpu_s"]
                and s["rss_peak_mib"] <= target["rss_mib"]
                and s["log_lines"]["median"] <= target["log_lines"]
            )
            lines.append(
                f"| {r['n']:,} ({q['queue']:,}) | {s['cpu_s']['median']:.3f} | <= {target['monitor_cpu_s']}"
                f" | {s['qbt_cpu_s']['median']:.3f} | <= {target['qbt_cpu_s']} | {s['rss_peak_mib']:.1f}"
                f" | <= {target['rss_mib']:.0f} | {s['log_lines']['median']:.0f} | {target['log_lines']}"
                f" | {'yes' if held else 'NO'} |"
            )
    lines += [
        "",
        "## Steady cycles",
        "",
        "qBittorrent CPU-s: its threads' schedstat time over the cycle minus its idle rate times the cycle's wall time"
        " (what the monitor's requests cost it). Rows: what the store wrote (`Store.rows_written`). Log lines: what the"
        " service's log handlers wrote at INFO. Actions: repairs taken in the steady cycles (a steady, idle library"
        " has none).",
        "",
        "| library | queue | monitor CPU-s | qBittorrent CPU-s | monitor peak RSS MiB | qBittorrent requests"
        " | KiB from qBittorrent | *arr requests | rows written | log lines | actions |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        for q in r.get("runs", []):
            if not q.get("steady"):
                continue
            s = summarize(q)
            lines.append(
                f"| {r['n']:,}, {r['errored_share']:.0%} errored | {q['queue']:,} | {_s(s['cpu_s'])}"
                f" | {_s(s['qbt_cpu_s'])} | {s['rss_peak_mib']:.1f} | {_s(s['qbt_requests'], '.0f')}"
                f" | {s['qbt_bytes']['median'] / 1024:.0f} | {_s(s['arr_requests'], '.0f')}"
                f" | {_s(s['rows_written'], '.0f')} | {_s(s['log_lines'], '.0f')} | {s['actions_taken']} |"
            )
    lines += ["", "Requests per endpoint (last steady cycle):", ""]
    for r in doc["runs"]:
        for q in r.get("runs", []):
            if q.get("steady"):
                last = q["steady"][-1]
                endpoints = ", ".join(f"`{k}` {v}" for k, v in last["qbt_by_endpoint"].items())
                arr = ", ".join(f"`{k}` {v}" for k, v in last["arr_by_endpoint"].items())
                lines.append(
                    f"- {r['n']:,} ({q['queue']:,}), {r['errored_share']:.0%} errored: qBittorrent {endpoints};"
                    f" *arr {arr}; findings {last['findings']}, decisions {last['decisions']}."
                )
    lines += [
        "",
        "## Start-up and the first cycles",
        "",
        "| library | queue | import + Monitor() s (CPU-s) | RSS bare / ready MiB | cycle 1 monitor CPU-s"
        " | cycle 1 qBittorrent CPU-s | cycle 1 requests | cycle 1 rows | cycle 1 log lines | warm-up cycles |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        for q in r.get("runs", []):
            if not q.get("warmup"):
                continue
            ready, first = q["ready"], q["warmup"][0]
            lines.append(
                f"| {r['n']:,}, {r['errored_share']:.0%} errored | {q['queue']:,} | {ready['import_and_setup_s']:.2f}"
                f" ({ready['import_and_setup_cpu_s']:.2f}) | {ready['rss_start_kib'] / 1024:.1f} /"
                f" {ready['rss_ready_kib'] / 1024:.1f} | {first['cpu_s']:.3f} | {first['qbt_cpu_s']:.3f}"
                f" | {first['qbt_requests']} | {first['rows_written']} | {first['log_lines']} | {len(q['warmup'])} |"
            )
    lines += [
        "",
        "## Time to detect a new failure",
        "",
        "Cycles run back to back after the steady ones; `cycles` is the first cycle that reported it (1 = the next"
        f" one), so at a {CHECK_INTERVAL:.0f} s interval it is found within `cycles` x {CHECK_INTERVAL:.0f} s.",
        "",
        "| library | queue | failure | found in cycle | seconds (back to back) | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        for q in r.get("runs", []):
            for what, d in q.get("detection", {}).items():
                lines.append(
                    f"| {r['n']:,}, {r['errored_share']:.0%} errored | {q['queue']:,} | {what}"
                    f" | {d.get('cycles') or 'not yet'} | {d.get('seconds') or '-'}"
                    f" | {d.get('expected', '')} {d.get('note', '')} |"
                )
    lines += [
        "",
        "## The naive way, same qBittorrent, its own process",
        "",
        "The whole `torrents/info` and `torrents/trackers` for every torrent, on one keep-alive httpx connection;"
        " ratios against the monitor's median steady cycle with the 100-item queue on the same library.",
        "",
        "| library | requests | MiB | its CPU-s | its peak RSS MiB | qBittorrent CPU-s | qBittorrent x monitor"
        " | CPU x monitor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        naive = r.get("naive")
        runs = [q for q in r.get("runs", []) if q.get("steady")]
        if not naive or not runs:
            continue
        s = summarize(runs[0])
        qbt_ratio = naive["qbt_cpu_s"] / max(s["qbt_cpu_s"]["median"], 1e-3)
        cpu_ratio = naive["cpu_s"] / max(s["cpu_s"]["median"], 1e-3)
        lines.append(
            f"| {r['n']:,}, {r['errored_share']:.0%} errored | {naive['requests']:,} | {naive['bytes'] / MIB:.1f}"
            f" | {naive['cpu_s']:.2f} | {naive['rss_peak_kib'] / 1024:.1f} | {naive['qbt_cpu_s']:.2f}"
            f" | {qbt_ratio:.0f} | {cpu_ratio:.0f} |"
        )
    lines += [
        "",
        "## Libraries",
        "",
        "| library | built in s | qBittorrent states | qBittorrent RSS MiB |",
        "|---|---|---|---|",
    ]
    for r in doc["runs"]:
        if "library" in r:
            states = ", ".join(f"{k} {v}" for k, v in sorted(r["library"]["states"].items()))
            lines.append(
                f"| {r['n']:,}, {r['errored_share']:.0%} errored | {r['library']['build_s']:.0f} | {states}"
                f" | {r.get('qbt_rss_kib', 0) / 1024:.0f} |"
            )
    errors = [r for r in doc["runs"] if r.get("error")]
    if errors:
        lines += ["", "## Errors", ""] + [f"- {r['n']:,}: {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torrents", type=int, nargs="+", default=[2000, 10000, 30000], help="library sizes")
    parser.add_argument("--errored-size", type=int, default=10000, help="the size run again with --errored-share")
    parser.add_argument("--errored-share", type=float, default=0.10, help="errored share of that run (default 2%%)")
    parser.add_argument("--queues", type=int, nargs="+", help="queue sizes instead of 100 and 5%% of the library")
    parser.add_argument("--warmup", type=int, default=3, help="cycles before the steady ones")
    parser.add_argument("--cycles", type=int, default=20, help="steady cycles per run")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds over which qBittorrent idles")
    parser.add_argument("--qbt-version", default=DEFAULT_VERSION, help="qBittorrent version (tests/harness)")
    parser.add_argument("--out", type=Path, default=BENCH / "results.md", help="the markdown table")
    parser.add_argument("--json", type=Path, default=BENCH / "results" / "load.json", help="the raw numbers")
    parser.add_argument("--idle-window", type=float, default=3.0, help="seconds per quiet check after the build")
    parser.add_argument("--quiet-threshold", type=float, default=0.1, help="idle CPU-s/s that counts as settled")
    parser.add_argument("--quiet-timeout", type=float, default=120.0, help="max seconds to wait for that")
    parser.add_argument("--stop-timeout", type=float, default=30.0, help="SIGTERM grace before SIGKILL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--rev", help="benchmark the monitor code of this git revision (git archive)")
    parser.add_argument(
        "--env",
        choices=("runtime", "dev"),
        default="runtime",
        help="where the measured processes run: a venv of the runtime dependencies only (as installed), or this one",
    )
    args = parser.parse_args(argv)
    if args.cycles < 1 or any(n < 200 for n in args.torrents):
        parser.error("--cycles must be >= 1 and each --torrents >= 200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # unwinds through every finally: stops what we started

    signal.signal(signal.SIGTERM, on_term)
    doc: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(args.rev),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": [],
    }
    started: list[int] = []
    failed = False
    export_dir = Path(tempfile.mkdtemp(prefix="qbm-bench-src-")) if args.rev else None
    try:
        args.monitor_src = export_rev(args.rev, export_dir) if export_dir is not None else None
        args.python = runtime_python(args.env)
        doc["machine"]["monitor_python"] = subprocess.run(
            [args.python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for scenario in matrix(args.torrents, args.errored_size, args.errored_share, args.queues):
            result: dict[str, Any] = {"n": scenario.n, "errored_share": scenario.errored_share}
            doc["runs"].append(result)
            try:
                run_scenario(scenario, args, started, result)
            except Exception as exc:  # report what was measured; the other runs still run
                failed = True
                print(f"{scenario.label}: {type(exc).__name__}: {exc}", file=sys.stderr)
                result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if export_dir is not None:
            shutil.rmtree(export_dir, ignore_errors=True)
        left = [pid for pid in started if Path(f"/proc/{pid}").exists() and _is_qbt(pid)]
        for pid in left:  # harness stop() failed: by PID, only ours
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        doc["qbt_pids"] = {"started": started, "left_running_and_killed": left}
        print(f"qbittorrent-nox started: {started}; still running at the end (then killed): {left or 'none'}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(doc))
        args.json.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        print(f"wrote {args.out} and {args.json}")
    return 1 if failed else 0


def _is_qbt(pid: int) -> bool:
    try:
        return "qbittorrent-nox" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
