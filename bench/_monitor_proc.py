"""The monitor under test, in its own process, driven line by line by bench/load.py.

Usage: `python bench/_monitor_proc.py CONFIG.yaml`. Logging goes to the data_dir log file (and stderr), exactly as the
service sets it up; stdout carries only the protocol, one JSON object per line:

- on start-up: {"event": "ready", ...} with the RSS before and after importing and building the Monitor and the
  time that took;
- for each line "cycle" read on stdin: one `Monitor.run_cycle()` (real mode: whatever the config says) and
  {"event": "cycle", ...} with its wall time, this process's CPU time, every HTTP request it made (per endpoint, to
  qBittorrent and to the *arr apps, counted by `clients.on_request`, what `--verbose` and the metrics see), the bytes
  the services sent back (counted in `httpx.Client.send`, the one HTTP stack), the rows the store wrote, the log
  lines written, the findings and decisions, and the RSS now and at its peak;
- "quit" (or end of input): `Monitor.close()`, a last {"event": "bye"} and exit 0.

A separate process keeps the benchmark's own memory (simulators, torrent files, tracker) out of the monitor's RSS.
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import resource
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any


def status_kib(field: str) -> int:
    """VmRSS / VmHWM of this process in KiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return -1


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


class LineCounter(logging.Handler):
    """Counts the records the service's handlers write (same level as they have)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines = 0
        self.by_logger: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        self.by_logger[record.name] += 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _monitor_proc.py CONFIG.yaml", file=sys.stderr)
        return 2
    rss_start = status_kib("VmRSS")
    t_import = time.perf_counter()
    cpu_import = time.process_time()

    import httpx

    from qbittorrent_monitor import clients, logs
    from qbittorrent_monitor.clients import Call
    from qbittorrent_monitor.config import load_config
    from qbittorrent_monitor.monitor import Monitor

    calls: dict[str, Counter[str]] = {"qbittorrent": Counter(), "arr": Counter()}
    received = Counter[str]()

    def count(call: Call) -> None:
        calls["qbittorrent" if call.api == "qbittorrent" else "arr"][f"{call.method} {call.path}"] += 1

    clients.on_request(count)
    original_send = httpx.Client.send

    def counting_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = original_send(self, request, **kwargs)
        received[f"{request.url.host}:{request.url.port}"] += len(response.content)
        return response

    httpx.Client.send = counting_send  # type: ignore[method-assign]

    config = load_config(Path(argv[1]), env={})
    logs.setup(config.monitor.log_level, config.secrets(), config.monitor.data_dir / "logs")
    root = logging.getLogger()
    counter = LineCounter(root.level)
    root.addHandler(counter)
    monitor = Monitor(config)
    web = None
    if config.health.enabled:  # as deployed: /health, the dashboard and /metrics served beside the cycles
        from qbittorrent_monitor.web.app import WebServer

        web = WebServer(monitor, config.health.bind, config.health.port)
        web.start()
    trace = bool(os.environ.get("QBM_BENCH_TRACEMALLOC"))  # where the memory goes (slows the cycles: figures only)
    if trace:
        tracemalloc.start(25)
    # where the CPU goes: cProfile over every cycle after the first (QBM_BENCH_PROFILE=FILE, pstats format; slows
    # the cycles: figures only)
    profile_to = os.environ.get("QBM_BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    qbt_hosts = {f"{u.host}:{u.port}" for u in (httpx.URL(q.url) for q in config.qbittorrent)}
    _emit(
        {
            "event": "ready",
            "rss_start_kib": rss_start,
            "rss_ready_kib": status_kib("VmRSS"),
            "import_and_setup_s": round(time.perf_counter() - t_import, 3),
            "import_and_setup_cpu_s": round(time.process_time() - cpu_import, 3),
            "log_lines": counter.lines,
            "web_port": web.port if web is not None else None,
        }
    )

    cycle = 0
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command != "cycle":
                _emit({"event": "error", "message": f"unknown command {command!r}"})
                continue
            cycle += 1
            for c in calls.values():
                c.clear()
            received.clear()
            lines0, rows0 = counter.lines, monitor.store.rows_written
            counter.by_logger.clear()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if profiler is not None and cycle > 1:
                profiler.enable()
            try:
                report = monitor.run_cycle()
            finally:
                if profiler is not None:
                    profiler.disable()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            _emit(
                {
                    "event": "cycle",
                    "cycle": cycle,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "qbt_requests": sum(calls["qbittorrent"].values()),
                    "qbt_by_endpoint": dict(sorted(calls["qbittorrent"].items())),
                    "qbt_bytes": sum(n for host, n in received.items() if host in qbt_hosts),
                    "arr_requests": sum(calls["arr"].values()),
                    "arr_by_endpoint": dict(sorted(calls["arr"].items())),
                    "arr_bytes": sum(n for host, n in received.items() if host not in qbt_hosts),
                    "rows_written": monitor.store.rows_written - rows0,
                    "log_lines": counter.lines - lines0,
                    "log_by_logger": dict(counter.by_logger),
                    # Read off the report's objects, not `report.to_dict()`: the daemon never builds that document
                    # (only `--test --json` does), and at 2,000 decisions it would weigh on the RSS measured here.
                    "torrents_checked": report.torrents_checked,
                    "findings": dict(Counter(d.finding.kind.value for d in report.decisions)),
                    "decisions": dict(Counter(d.verdict.value for d in report.decisions)),
                    "found": sorted(d.download.torrent.hash for d in report.decisions),
                    "actions_taken": sum(len(o) for o in report.outcomes.values()) + len(report.resumed),
                    "service_errors": report.service_errors,
                    "rss_kib": status_kib("VmRSS"),
                    "rss_peak_kib": status_kib("VmHWM"),
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            )
    finally:
        if profiler is not None and profile_to:
            profiler.dump_stats(profile_to)  # also when a cycle failed: what it spent is there
        if web is not None:
            web.stop()
        monitor.close()
    bye: dict[str, Any] = {"event": "bye", "cycles": cycle, "cpu_total_s": time.process_time()}
    if trace:
        snapshot = tracemalloc.take_snapshot()
        bye["traced_peak_kib"] = tracemalloc.get_traced_memory()[1] // 1024
        bye["traced_top"] = [
            f"{s.size // 1024} KiB {s.traceback[0].filename.rsplit('/', 2)[-1]}:{s.traceback[0].lineno}"
            for s in snapshot.statistics("lineno")[:20]
        ]
    _emit(bye)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
