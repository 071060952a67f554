"""The monitor under test, in its own process, driven line by line by bench/load.py.

Usage: `python bench/_monitor_proc.py CONFIG.yaml`. Logging goes to stderr (and the data_dir log file), exactly as
the service sets it up; stdout carries only the protocol, one JSON object per line:

- on start-up: {"event": "ready", ...} with the RSS before and after importing and building the Monitor;
- for each line "cycle" read on stdin: one `Monitor.run_cycle()` and {"event": "cycle", ...} with its wall time,
  this process's CPU time, the HTTP requests it made (per endpoint, to qBittorrent and to the *arr apps), the bytes
  qBittorrent sent back, the findings, and the RSS now and at its peak;
- "quit" (or end of input): `Monitor.close()`, a last {"event": "bye"} and exit 0.

Running in a separate process keeps the benchmark's own memory (simulators, torrent files, tracker) out of the
monitor's RSS figures.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _status_kib(field: str) -> int:
    """VmRSS / VmHWM of this process in KiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return -1


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _monitor_proc.py CONFIG.yaml", file=sys.stderr)
        return 2
    rss_start = _status_kib("VmRSS")
    t_import = time.perf_counter()

    import httpx
    import qbittorrentapi.request

    from qbittorrent_monitor import logs
    from qbittorrent_monitor.config import load_config
    from qbittorrent_monitor.monitor import Monitor

    qbt_calls: Counter[str] = Counter()
    arr_calls: Counter[str] = Counter()
    qbt_bytes = [0]

    # Count at the lowest level both client libraries share: every HTTP request, logins and retries included.
    original_qbt_request = qbittorrentapi.request.QbittorrentSession.request

    def counting_qbt_request(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        response = original_qbt_request(self, method, url, **kwargs)
        qbt_calls[f"{method.upper()} {urlsplit(url).path or '/'}"] += 1  # HEAD /: qbittorrent-api's scheme probe
        qbt_bytes[0] += len(response.content)
        return response

    qbittorrentapi.request.QbittorrentSession.request = counting_qbt_request  # type: ignore[method-assign]

    original_send = httpx.Client.send

    def counting_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        arr_calls[f"{request.method} {request.url.path}"] += 1
        return original_send(self, request, **kwargs)

    httpx.Client.send = counting_send  # type: ignore[method-assign]

    config = load_config(Path(argv[1]), env={})
    logs.setup(config.monitor.log_level, config.secrets(), config.monitor.data_dir / "logs")
    monitor = Monitor(config, dry_run=True)
    _emit(
        {
            "event": "ready",
            "rss_start_kib": rss_start,
            "rss_ready_kib": _status_kib("VmRSS"),
            "import_and_setup_s": round(time.perf_counter() - t_import, 3),
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
            qbt_calls.clear()
            arr_calls.clear()
            qbt_bytes[0] = 0
            wall0, cpu0 = time.perf_counter(), time.process_time()
            report = monitor.run_cycle()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            doc = report.to_dict()
            _emit(
                {
                    "event": "cycle",
                    "cycle": cycle,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "qbt_requests": sum(qbt_calls.values()),
                    "qbt_by_endpoint": dict(sorted(qbt_calls.items())),
                    "qbt_bytes": qbt_bytes[0],
                    "arr_requests": sum(arr_calls.values()),
                    "arr_by_endpoint": dict(sorted(arr_calls.items())),
                    "torrents_checked": doc["torrents_checked"],
                    "findings": dict(Counter(f["kind"] for f in doc["findings"])),
                    "decisions": dict(Counter(f["decision"] for f in doc["findings"])),
                    "unmatched_queue": len(doc["unmatched_queue"]),
                    "service_errors": doc["service_errors"],
                    "alerts": len(doc["alerts"]),
                    "rss_kib": _status_kib("VmRSS"),
                    "rss_peak_kib": _status_kib("VmHWM"),
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            )
    finally:
        monitor.close()
    _emit({"event": "bye", "cycles": cycle, "cpu_total_s": time.process_time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
