"""Load benchmark: the monitor's own cost and its load on a real qBittorrent, at realistic library sizes.

    .venv/bin/python bench/load.py [--torrents 2000 10000] [--cycles 5] [--out bench/results.md]

For each library size N: a throwaway qbittorrent-nox and a loopback tracker (tests/harness), a library of 85%
seeding, 10% stalled, 3% unregistered and 2% errored torrents, a Sonarr and a Radarr simulator (tests/sim) whose
queues name ~5% of it, then `--cycles` monitor cycles in a separate process (bench/_monitor_proc.py) with the
qBittorrent CPU time read from /proc around each cycle, then the same measurement for the naive ways of asking.
Writes a markdown table (--out) and the raw numbers next to it (.json). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "tests"))

from harness.qbt import QBittorrent, find_binary  # noqa: E402
from harness.torrents import TorrentFile, make_torrent, write_payload  # noqa: E402
from harness.tracker import Tracker  # noqa: E402
from sim.arr import ArrSimulator  # noqa: E402

SONARR_CATEGORY = "tv-sonarr"
RADARR_CATEGORY = "radarr"
# Share of the library in each state, and share of the library (not of the state) the *arr queues name.
MIX = {"seeding": 0.85, "stalled": 0.10, "unregistered": 0.03, "error": 0.02}
QUEUED = {"seeding": 0.01, "stalled": 0.025, "unregistered": 0.01, "error": 0.005}
ADD_BATCH = 200
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHECK_INTERVAL = 300.0  # the service's default, for the "share of a core" figures
MIB = 1024 * 1024


# -- measuring qbittorrent-nox from outside ----------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat, in seconds (tick resolution)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state): utime is 14, stime 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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
    """qbittorrent-nox CPU consumed while a block ran: `cpu_s` from /proc/PID/stat (whole ticks), `precise_s` from
    the threads' schedstat (ns), and `net_s` = precise_s minus the idle rate over the same wall time."""

    pid: int
    idle_rate: float = 0.0
    cpu_s: float = 0.0
    precise_s: float = 0.0
    wall_s: float = 0.0

    @property
    def net_s(self) -> float:
        return self.precise_s - self.idle_rate * self.wall_s

    @contextlib.contextmanager
    def measure(self) -> Iterator[CpuWindow]:
        c0, p0, w0 = proc_cpu_s(self.pid), proc_cpu_precise_s(self.pid), time.perf_counter()
        try:
            yield self
        finally:
            self.wall_s = time.perf_counter() - w0
            self.cpu_s = proc_cpu_s(self.pid) - c0
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


# -- the library ---------------------------------------------------------------------------------------------------
@dataclass
class Item:
    kind: str
    name: str
    category: str
    app: str | None  # "sonarr" / "radarr" when the *arr queue names it
    tf: TorrentFile


@dataclass
class Library:
    n: int
    items: list[Item] = field(default_factory=list)
    build_s: float = 0.0
    settle_s: float = 0.0
    settled: bool = False
    states: dict[str, int] = field(default_factory=dict)

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    def counts(self) -> dict[str, int]:
        return dict(Counter(i.kind for i in self.items))


def plan_library(n: int, tracker: Tracker) -> Library:
    counts = {k: round(n * share) for k, share in MIX.items()}
    counts["seeding"] += n - sum(counts.values())
    lib = Library(n)
    for kind, count in counts.items():
        queued = min(count, round(n * QUEUED[kind]))
        for i in range(count):
            app = ("sonarr", "radarr")[i % 2] if i < queued else None
            if app is not None:
                category = SONARR_CATEGORY if app == "sonarr" else RADARR_CATEGORY
            elif kind == "seeding":  # imported long ago: still in the app's category, no longer in its queue
                category = (SONARR_CATEGORY, RADARR_CATEGORY, "")[i % 3]
            else:  # added by hand
                category = ""
            if category == RADARR_CATEGORY:
                name = f"Movie.{kind.title()}.{i:05d}.2019.1080p.BluRay.x264-QBMBENCH"
            else:
                name = f"Show.{kind.title()}.{i:05d}.S{i % 9 + 1:02d}E{i % 20 + 1:02d}.1080p.WEB-DL-QBMBENCH"
            if kind == "unregistered":
                announce = tracker.announce_url("fail", reason="Unregistered torrent")
                tf = make_torrent(name, announce=announce, size=1024, private=True)
            elif kind == "error":
                tf = make_torrent(name, announce=tracker.announce_url("ok"), size=2048, multi_file=True)
            else:
                tf = make_torrent(name, announce=tracker.announce_url("nopeers"), size=1024)
            lib.items.append(Item(kind, name, category, app, tf))
    return lib


def add_library(qbt: QBittorrent, lib: Library, save_root: Path) -> None:
    """Write payloads (seeds) and blocking files (errors), then post the .torrent files in batches."""
    for category in (SONARR_CATEGORY, RADARR_CATEGORY):
        qbt.ensure_category(category)
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in lib.items:
        groups.setdefault((item.kind, item.category), []).append(item)
    for (kind, category), items in groups.items():
        save = save_root / kind
        save.mkdir(parents=True, exist_ok=True)
        for item in items:
            if kind == "seeding":
                write_payload(item.tf, save)
            elif kind == "error":  # a regular file where the torrent's folder must go: state `error`
                (save / item.tf.name).write_bytes(b"a file where the torrent's folder must be\n")
        data = {
            "paused": "false",
            "skip_checking": "true" if kind == "seeding" else "false",
            "savepath": str(save),
        }
        if category:
            data["category"] = category
        for start in range(0, len(items), ADD_BATCH):
            files = [
                ("torrents", (f"{i.tf.info_hash}.torrent", i.tf.data, "application/x-bittorrent"))
                for i in items[start : start + ADD_BATCH]
            ]
            response = qbt.post("torrents/add", data, files=files)
            if response.text != "Ok.":
                raise RuntimeError(f"torrents/add refused a batch of {kind}: {response.text!r}")


def wait_listed(qbt: QBittorrent, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not qbt.get("torrents/info", limit=1, offset=n - 1).json():
        if time.monotonic() > deadline:
            raise RuntimeError(f"qBittorrent does not list {n} torrents {timeout:.0f}s after adding them")
        time.sleep(0.5)


def wait_settled(qbt: QBittorrent, tracker: Tracker, lib: Library, timeout: float) -> bool:
    """Until the broken torrents show their state (and the queued unregistered ones their tracker message)
    and nearly every torrent has announced once. Returns False on timeout (the run goes on, and says so)."""
    counts = lib.counts()
    want_errored = counts["error"]
    want_stalled = counts["stalled"] + counts["unregistered"]
    unregistered = [i.tf.info_hash for i in lib.of("unregistered") if i.app]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errored = len(qbt.info(filter="errored"))
        stalled = len(qbt.info(filter="stalled_downloading"))
        if errored >= want_errored and stalled >= want_stalled:
            break
        time.sleep(1.0)
    else:
        return False
    while unregistered and time.monotonic() < deadline:
        unregistered = [
            h for h in unregistered if not any(t["status"] == 4 for t in qbt.real_trackers(qbt.trackers(h)))
        ]
        if unregistered:
            time.sleep(1.0)
    while time.monotonic() < deadline:
        announced = len({a["info_hash"] for a in list(tracker.announces)})
        if announced >= 0.95 * (lib.n - counts["error"]):
            return not unregistered
        time.sleep(1.0)
    return False


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
def start_arrs(qbt: QBittorrent, lib: Library) -> dict[str, ArrSimulator]:
    sims: dict[str, ArrSimulator] = {}
    for kind, category in (("sonarr", SONARR_CATEGORY), ("radarr", RADARR_CATEGORY)):
        sim = ArrSimulator(
            kind,  # type: ignore[arg-type]
            qbt_url=qbt.url,
            qbt_username=qbt.username,
            qbt_password=qbt.password,
            category=category,
        )
        sims[kind] = sim
        sim.start()
    episode = 1
    for n, item in enumerate(i for i in lib.items if i.app):
        if item.app == "sonarr":
            episodes = list(range(episode, episode + 1 + n % 2))  # season packs name several episodes
            episode += len(episodes)
            sims["sonarr"].grab_episodes(
                item.tf.info_hash, item.name, series_id=100 + n, season=1, episode_ids=episodes
            )
        else:
            sims["radarr"].grab_movie(item.tf.info_hash, item.name, movie_id=500 + n)
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


# -- the monitor, in its own process -------------------------------------------------------------------------------
class MonitorProcess:
    """bench/_monitor_proc.py: one JSON line per command, read with a timeout by a reader thread."""

    def __init__(self, config_path: Path, stderr_path: Path, monitor_src: Path | None) -> None:
        env = dict(os.environ)
        if monitor_src is not None:  # ahead of the editable install's /work/main/src
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(monitor_src), env.get("PYTHONPATH", "")) if p)
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "_monitor_proc.py"), str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=env,
            text=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="monitor-proc-reader", daemon=True)
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
            raise RuntimeError(f"the monitor process did not answer within {timeout:.0f}s") from None
        if line is None:
            tail = self.stderr_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the monitor process exited with {self.proc.wait()}; its stderr ends with:\n{tail}")
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
                bye = self.receive(30)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._stderr.close()
        return bye


def write_monitor_config(path: Path, qbt: QBittorrent, sims: dict[str, ArrSimulator], data_dir: Path) -> None:
    doc = {
        "monitor": {"check_interval": CHECK_INTERVAL, "dry_run": True, "log_level": "INFO", "data_dir": str(data_dir)},
        "health": {"enabled": False},
        "qbittorrent": [{"name": "qbittorrent", "url": qbt.url, "username": qbt.username, "password": qbt.password}],
        "sonarr": [{"name": "sonarr", "url": sims["sonarr"].url, "api_key": sims["sonarr"].api_key}],
        "radarr": [{"name": "radarr", "url": sims["radarr"].url, "api_key": sims["radarr"].api_key}],
    }
    path.write_text(yaml.safe_dump(doc))


def run_cycles(
    qbt: QBittorrent,
    sims: dict[str, ArrSimulator],
    refreshers: list[Callable[[], None]],
    config_path: Path,
    workdir: Path,
    cycles: int,
    pause: float,
    monitor_src: Path | None,
    out: dict[str, Any],
) -> None:
    assert qbt.pid is not None
    child = MonitorProcess(config_path, workdir / "monitor.stderr.log", monitor_src)
    out.update(pid=child.pid, cycles=[])
    try:
        out["ready"] = child.receive(60)
        for _ in range(cycles):
            refresh = CpuWindow(qbt.pid)
            with refresh.measure():
                for refresh_now in refreshers:
                    refresh_now()
            rate = idle_rate(qbt.pid, pause)  # the pause between cycles is the idle baseline of this cycle
            sim_before = {k: len(s.requests) for k, s in sims.items()}
            window = CpuWindow(qbt.pid, rate)
            with window.measure():
                child.send("cycle")
                doc = child.receive(600)
            if doc.get("event") != "cycle":
                raise RuntimeError(f"the monitor process answered {doc}")
            doc.update(
                qbt_cpu_s=window.cpu_s,
                qbt_cpu_precise_s=window.precise_s,
                qbt_window_s=window.wall_s,
                qbt_idle_rate=rate,
                qbt_idle_estimate_s=rate * window.wall_s,
                qbt_cpu_net_s=window.net_s,
                arr_sim_requests={k: len(s.requests) - sim_before[k] for k, s in sims.items()},
                arr_refresh_qbt_cpu_s=refresh.precise_s,
            )
            out["cycles"].append(doc)
            print(
                f"  cycle {doc['cycle']}: wall {doc['wall_s']:.3f}s, monitor CPU {doc['cpu_s']:.3f}s,"
                f" qBittorrent CPU {window.cpu_s:.2f}s (net {doc['qbt_cpu_net_s']:.3f}s),"
                f" {doc['qbt_requests']} qBittorrent + {doc['arr_requests']} *arr requests,"
                f" RSS {doc['rss_kib'] / 1024:.1f} MiB, findings {doc['findings']}",
                flush=True,
            )
    finally:
        out["bye"] = child.stop()


# -- the naive ways, on the same instance --------------------------------------------------------------------------
def naive_passes(
    qbt: QBittorrent, lib: Library, pause: float, repeats: int, trackers_max: int, results: list[dict[str, Any]]
) -> None:
    assert qbt.pid is not None
    api = qbt.api

    def measure(way: str, fn: Callable[[], tuple[int, int]]) -> None:
        rate = idle_rate(qbt.pid or 0, pause)  # this pass's idle baseline
        window = CpuWindow(qbt.pid or 0, rate)
        with window.measure():
            requests, size = fn()
        results.append(
            {
                "way": way,
                "requests": requests,
                "bytes": size,
                "wall_s": window.wall_s,
                "qbt_cpu_s": window.cpu_s,
                "qbt_cpu_precise_s": window.precise_s,
                "qbt_cpu_net_s": window.net_s,
                "qbt_idle_rate": rate,
            }
        )
        r = results[-1]
        print(f"  {way}: {requests} requests, wall {r['wall_s']:.3f}s, qBittorrent CPU {r['qbt_cpu_s']:.2f}s")

    def get(path: str, **params: Any) -> Any:
        response = api.get(f"/api/v2/{path}", params=params)
        response.raise_for_status()
        return response

    def full_info() -> tuple[int, int]:
        return 1, len(get("torrents/info").content)

    rid = [0]

    def maindata_full() -> tuple[int, int]:
        response = get("sync/maindata", rid=0)
        rid[0] = int(response.json()["rid"])
        return 1, len(response.content)

    def maindata_incremental() -> tuple[int, int]:
        response = get("sync/maindata", rid=rid[0])
        rid[0] = int(response.json()["rid"])
        return 1, len(response.content)

    def filters_and_trackers() -> tuple[int, int]:
        size, hashes = 0, []
        for state in ("errored", "stalled_downloading"):
            response = get("torrents/info", filter=state)
            size += len(response.content)
            hashes += [t["hash"] for t in response.json()]
        for h in hashes:
            size += len(get("torrents/trackers", hash=h).content)
        return 2 + len(hashes), size

    def info_and_all_trackers() -> tuple[int, int]:
        response = get("torrents/info")
        size = len(response.content)
        hashes = [t["hash"] for t in response.json()]
        for h in hashes:
            size += len(get("torrents/trackers", hash=h).content)
        return 1 + len(hashes), size

    for _ in range(repeats):
        measure("full torrents/info", full_info)
    for _ in range(repeats):
        measure("sync/maindata rid=0", maindata_full)
        time.sleep(2.0)  # a poller's interval: the incremental answer then carries what changed meanwhile
        measure("sync/maindata incremental (2 s later)", maindata_incremental)
    for _ in range(repeats):
        measure("filters errored + stalled_downloading, trackers for those", filters_and_trackers)
    if lib.n <= trackers_max:
        measure("full torrents/info + trackers per torrent", info_and_all_trackers)


# -- one library size ----------------------------------------------------------------------------------------------
def run_size(n: int, args: argparse.Namespace, started: list[int], result: dict[str, Any]) -> None:
    """Fills `result` as it goes, so what was measured before an error is still reported."""
    workdir = Path(tempfile.mkdtemp(prefix=f"qbm-bench-{n}-"))
    result.update(n=n, workdir=str(workdir))
    qbt = QBittorrent(workdir / "qbt")
    tracker = Tracker()
    sims: dict[str, ArrSimulator] = {}
    t_total = time.perf_counter()
    try:
        tracker.start()
        quiet_hangups(tracker)
        qbt.start()
        assert qbt.pid is not None
        started.append(qbt.pid)
        result["qbt_pid"] = qbt.pid
        print(f"N={n}: qbittorrent-nox pid {qbt.pid} at {qbt.url}, tracker at {tracker.url}", flush=True)

        t0 = time.perf_counter()
        lib = plan_library(n, tracker)
        add_library(qbt, lib, workdir / "downloads")
        wait_listed(qbt, n, timeout=60 + n / 50)
        lib.build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lib.settled = wait_settled(qbt, tracker, lib, timeout=args.settle_timeout)
        lib.settle_s = time.perf_counter() - t0
        lib.states = dict(Counter(t["state"] for t in qbt.info()))
        queued = Counter(i.app for i in lib.items if i.app)
        result["library"] = {
            "counts": lib.counts(),
            "queued_torrents": dict(queued),
            "queued_by_kind": dict(Counter(i.kind for i in lib.items if i.app)),
            "build_s": lib.build_s,
            "settle_s": lib.settle_s,
            "settled": lib.settled,
            "states": lib.states,
            "tracker_announces": len(tracker.announces),
        }
        print(
            f"  library built in {lib.build_s:.1f}s, settled={lib.settled} after {lib.settle_s:.1f}s: {lib.states}",
            flush=True,
        )

        sims = start_arrs(qbt, lib)
        refreshers = [pin_refresh(s) for s in sims.values()]
        for refresh_now in refreshers:
            refresh_now()
        result["arr_queue_records"] = {  # what the monitor reads: known items (unknown ones are not asked for)
            k: sum(1 for r in s._records if r.tracked.grab is not None) for k, s in sims.items()
        }

        quiet = wait_quiet(qbt.pid, args.quiet_threshold, args.idle_window, args.quiet_timeout)
        result["qbt_quiet"] = quiet
        result["qbt_rss_kib"] = proc_rss_kib(qbt.pid)
        print(
            f"  qBittorrent idle {quiet['rate']:.3f} CPU-s/s after {quiet['waited_s']:.0f}s"
            f"{'' if quiet['quiet'] else ' (NOT quiet)'}, RSS {result['qbt_rss_kib'] / 1024:.0f} MiB",
            flush=True,
        )

        config_path = workdir / "monitor.yaml"
        write_monitor_config(config_path, qbt, sims, workdir / "monitor-data")
        result["monitor"] = {}
        run_cycles(
            qbt,
            sims,
            refreshers,
            config_path,
            workdir,
            args.cycles,
            args.pause,
            args.monitor_src,
            result["monitor"],
        )
        result["naive"] = []
        naive_passes(qbt, lib, args.pause, args.naive_repeats, args.naive_trackers_max, result["naive"])
        result["qbt_idle_rate"] = {"before": quiet["rate"], "after": idle_rate(qbt.pid, args.idle_window)}
        result["qbt_rss_kib_after"] = proc_rss_kib(qbt.pid)
        result["loadavg_at_end"] = os.getloadavg()
    finally:
        for sim in sims.values():
            with contextlib.suppress(Exception):
                sim.stop()
        with contextlib.suppress(Exception):
            t_stop = time.perf_counter()
            qbt.stop(timeout=args.stop_timeout)  # SIGTERM by PID, SIGKILL after the timeout
            result["qbt_stop_s"] = time.perf_counter() - t_stop
        with contextlib.suppress(Exception):
            tracker.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        result["total_s"] = time.perf_counter() - t_total


# -- the report ----------------------------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


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
    binary = find_binary() or ""
    version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
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
        "qbittorrent": version,
        "commit": commit,
        "loadavg_at_start": os.getloadavg(),
    }


def _cycle_row(label: str, cycles: list[dict[str, Any]]) -> str:
    def med(key: str) -> float:
        return _median([float(c[key]) for c in cycles])

    return (
        f"| {label} | {med('wall_s'):.3f} | {med('cpu_s'):.3f} | {med('qbt_cpu_s'):.2f} | {med('qbt_cpu_net_s'):.3f}"
        f" | {med('qbt_requests'):.0f} | {med('arr_requests'):.0f} | {med('qbt_bytes') / 1024:.0f}"
        f" | {med('rss_kib') / 1024:.1f} | {max(c['rss_peak_kib'] for c in cycles) / 1024:.1f} |"
    )


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Load benchmark results",
        "",
        f"Written by `bench/load.py` on {doc['date']}. Machine: {m['nproc']} CPU(s), {m['arch']}, kernel"
        f" {m['kernel']}, Python {m['python']}, {m['qbittorrent']}, monitor at {m['commit'] or '?'};"
        f" load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}."
        f" {doc['args']['cycles']} cycles per size, {doc['args']['pause']} s idle before each."
        " How to read: bench/README.md.",
        "",
        "## Library",
        "",
        "| N | seeding / stalled / unregistered / error | in *arr queues (sonarr + radarr torrents, sonarr+radarr"
        " records) | build s | settled | qBittorrent states | qBittorrent RSS MiB | qBittorrent idle CPU-s/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        if "library" not in r:
            continue
        lib, c = r["library"], r["library"]["counts"]
        q = lib["queued_torrents"]
        rec = r.get("arr_queue_records", {})
        idle = r.get("qbt_idle_rate", {})
        states = ", ".join(f"{k} {v}" for k, v in sorted(lib["states"].items()))
        lines.append(
            f"| {r['n']:,} | {c.get('seeding', 0)} / {c.get('stalled', 0)} / {c.get('unregistered', 0)} /"
            f" {c.get('error', 0)} | {q.get('sonarr', 0)} + {q.get('radarr', 0)} torrents,"
            f" {sum(rec.values())} records | {lib['build_s']:.1f} | {'yes' if lib['settled'] else 'NO'}"
            f" ({lib['settle_s']:.0f} s) | {states} | {r.get('qbt_rss_kib', 0) / 1024:.0f}"
            f" | {idle.get('before', float('nan')):.3f} (after {r.get('qbt_quiet', {}).get('waited_s', 0):.0f} s)"
            f" / {idle.get('after', float('nan')):.3f} |"
        )
    lines += [
        "",
        "## Monitor cycles (medians)",
        "",
        "qBittorrent CPU: `gross` is utime+stime from /proc/PID/stat over the cycle (10 ms ticks); `net` is the"
        " threads' schedstat time minus qBittorrent's idle rate (measured over the pause just before) times the wall"
        " time, i.e. what the monitor's requests cost it.",
        "",
        "| N | cycles | wall s | monitor CPU s | qBittorrent CPU s gross | qBittorrent CPU s net | qBittorrent"
        " requests | *arr requests | KiB from qBittorrent | monitor RSS MiB | monitor peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        cycles = r.get("monitor", {}).get("cycles", [])
        if not cycles:
            continue
        lines.append(_cycle_row(f"{r['n']:,} | 1 (first)", cycles[:1]))
        if len(cycles) > 1:
            lines.append(_cycle_row(f"{r['n']:,} | 2-{len(cycles)} (median)", cycles[1:]))
    lines += ["", "Requests per endpoint (last cycle) and what the monitor found:", ""]
    for r in doc["runs"]:
        mon = r.get("monitor", {})
        cycles = mon.get("cycles", [])
        if not cycles:
            continue
        last = cycles[-1]
        ready = mon.get("ready", {})
        endpoints = ", ".join(f"`{k}` {v}" for k, v in last["qbt_by_endpoint"].items())
        arr = ", ".join(f"`{k}` {v}" for k, v in last["arr_by_endpoint"].items())
        lines.append(
            f"- N={r['n']:,}: qBittorrent {endpoints}; *arr {arr}. Torrents checked {last['torrents_checked']},"
            f" findings {last['findings']}, decisions {last['decisions']}, unmatched queue items"
            f" {last['unmatched_queue']}, service errors {last['service_errors'] or 'none'}. Monitor process RSS"
            f" {ready.get('rss_start_kib', 0) / 1024:.1f} MiB bare Python, {ready.get('rss_ready_kib', 0) / 1024:.1f}"
            f" MiB after imports and Monitor(); each *arr refresh (not counted above) cost qBittorrent"
            f" {_median([c['arr_refresh_qbt_cpu_s'] for c in cycles]):.3f} CPU-s for both apps. Load average at"
            f" the end: {', '.join(f'{x:.2f}' for x in r.get('loadavg_at_end', ()))}."
        )
    lines += [
        "",
        "## The naive ways, same instance (medians of the repeats)",
        "",
        "| N | way | runs | requests | MiB returned | wall s | qBittorrent CPU s gross | qBittorrent CPU s net |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        ways: dict[str, list[dict[str, Any]]] = {}
        for row in r.get("naive", []):
            ways.setdefault(row["way"], []).append(row)
        for way, rows in ways.items():
            lines.append(
                f"| {r['n']:,} | {way} | {len(rows)} | {_median([x['requests'] for x in rows]):.0f}"
                f" | {_median([x['bytes'] for x in rows]) / MIB:.2f} | {_median([x['wall_s'] for x in rows]):.3f}"
                f" | {_median([x['qbt_cpu_s'] for x in rows]):.2f}"
                f" | {_median([x['qbt_cpu_net_s'] for x in rows]):.3f} |"
            )
        if r.get("library") and r["n"] > doc["args"]["naive_trackers_max"]:
            lines.append(
                f"| {r['n']:,} | full torrents/info + trackers per torrent | skipped (N > "
                f"{doc['args']['naive_trackers_max']:,}) | | | | | |"
            )
    lines += [
        "",
        "## Against the budget (128 MiB RSS, a quarter core; shares at the default 300 s interval)",
        "",
        "Steady cycles (2 and later). The monitor's share of a core is its CPU per cycle / 300 s; the budget allows"
        " 25%. qBittorrent's share is the net CPU the cycle cost it / 300 s.",
        "",
        "| N | monitor RSS after start-up MiB | after cycle 1 | after the last cycle | peak | growth after cycle 1"
        " | monitor CPU s/cycle | share of a core | qBittorrent net CPU s/cycle | share of a core |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        mon = r.get("monitor", {})
        cycles = mon.get("cycles", [])
        if not cycles:
            continue
        steady = cycles[1:] or cycles
        cpu = _median([c["cpu_s"] for c in steady])
        net = max(_median([c["qbt_cpu_net_s"] for c in steady]), 0.0)
        ready = mon.get("ready", {}).get("rss_ready_kib", 0) / 1024
        first, last = cycles[0]["rss_kib"] / 1024, cycles[-1]["rss_kib"] / 1024
        peak = max(c["rss_peak_kib"] for c in cycles) / 1024
        lines.append(
            f"| {r['n']:,} | {ready:.1f} | {first:.1f} | {last:.1f} | {peak:.1f} | {last - first:+.1f} | {cpu:.3f}"
            f" | {cpu / CHECK_INTERVAL:.3%} | {net:.3f} | {net / CHECK_INTERVAL:.3%} |"
        )
    errors = [r for r in doc["runs"] if r.get("error")]
    if errors:
        lines += ["", "## Errors", ""] + [f"- N={r['n']:,}: {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torrents", type=int, nargs="+", default=[2000, 10000], help="library sizes")
    parser.add_argument("--cycles", type=int, default=5, help="monitor cycles per size")
    parser.add_argument(
        "--pause", type=float, default=1.0, help="idle seconds before each cycle and naive pass (its CPU baseline)"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results.md", help="markdown; raw numbers go to .json")
    parser.add_argument("--idle-window", type=float, default=3.0, help="seconds to measure qBittorrent idle CPU")
    parser.add_argument(
        "--quiet-threshold", type=float, default=0.1, help="idle CPU-s/s under which qBittorrent counts as settled"
    )
    parser.add_argument("--quiet-timeout", type=float, default=120.0, help="max seconds to wait for that")
    parser.add_argument("--settle-timeout", type=float, default=120.0, help="max seconds for states to show")
    parser.add_argument("--naive-repeats", type=int, default=3, help="runs of each naive way (median reported)")
    parser.add_argument(
        "--naive-trackers-max", type=int, default=2000, help="largest N for the trackers-per-torrent pass"
    )
    parser.add_argument("--stop-timeout", type=float, default=20.0, help="SIGTERM grace before SIGKILL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument(
        "--rev", help="benchmark the monitor code of this git revision (git archive) instead of the working tree"
    )
    args = parser.parse_args(argv)
    if args.cycles < 1 or any(n < 100 for n in args.torrents):
        parser.error("--cycles must be >= 1 and each --torrents >= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if find_binary() is None:
        print("qbittorrent-nox is not installed (apt-get install qbittorrent-nox)", file=sys.stderr)
        return 2

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
        for n in args.torrents:
            result: dict[str, Any] = {"n": n}
            doc["runs"].append(result)
            try:
                run_size(n, args, started, result)
            except Exception as exc:  # report what was measured; the other sizes still run
                failed = True
                print(f"N={n}: {type(exc).__name__}: {exc}", file=sys.stderr)
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
        args.out.write_text(render(doc))
        args.out.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 1 if failed else 0


def _is_qbt(pid: int) -> bool:
    try:
        return "qbittorrent-nox" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
