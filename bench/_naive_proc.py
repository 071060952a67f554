"""The naive way of watching qBittorrent, in its own process, for bench/load.py to compare the monitor with.

Usage: `python bench/_naive_proc.py URL USERNAME PASSWORD`; on each line "pass" read on stdin: log in once, then
the whole `torrents/info` and `torrents/trackers` for every torrent it lists, on one keep-alive httpx connection
(the same HTTP stack as the monitor, so the comparison is of the calls, not of the libraries). Answers one JSON line
with the requests, the bytes received, this process's CPU time and its peak RSS.
"""

from __future__ import annotations

import json
import sys
import time

import httpx
from _monitor_proc import status_kib  # bench/ is this script's directory: on sys.path


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: _naive_proc.py URL USERNAME PASSWORD", file=sys.stderr)
        return 2
    url, username, password = argv[1:]
    with httpx.Client(base_url=f"{url}/api/v2", timeout=120) as client:
        for line in sys.stdin:
            if line.strip() != "pass":
                break
            wall0, cpu0 = time.perf_counter(), time.process_time()
            client.post("/auth/login", data={"username": username, "password": password}).raise_for_status()
            requests, size = 1, 0
            listed = client.get("/torrents/info")
            listed.raise_for_status()
            requests, size = requests + 1, size + len(listed.content)
            for torrent in listed.json():
                rows = client.get("/torrents/trackers", params={"hash": torrent["hash"]})
                rows.raise_for_status()
                rows.json()
                requests, size = requests + 1, size + len(rows.content)
            doc = {
                "requests": requests,
                "bytes": size,
                "wall_s": time.perf_counter() - wall0,
                "cpu_s": time.process_time() - cpu0,
                "rss_peak_kib": status_kib("VmHWM"),
            }
            sys.stdout.write(json.dumps(doc) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
