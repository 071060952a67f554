"""CPU per request of the two HTTP stacks the monitor could use, on a real qbittorrent-nox (how the one stack was
chosen: issue 10, "one HTTP stack, chosen by measurement").

    .venv/bin/pip install qbittorrent-api==2026.10.1   # only for this comparison: not a dependency of the monitor
    .venv/bin/python bench/http_stack.py               # writes bench/results/http-stack.json

Each call is made 300 times after one warm-up; the figure is this process's CPU milliseconds per call
(`time.process_time`), for qbittorrent-api as the monitor used it (dict conversion of its models), qbittorrent-api
with SIMPLE_RESPONSES, and httpx with a keep-alive client parsing the JSON (what the monitor's adapter does now).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness.qbt import QBittorrent  # noqa: E402
from harness.torrents import make_torrent  # noqa: E402

CALLS = 300


def cpu_ms(fn: Callable[[], Any]) -> float:
    fn()
    t = time.process_time()
    for _ in range(CALLS):
        fn()
    return round((time.process_time() - t) / CALLS * 1000, 3)


def main() -> int:
    try:
        import qbittorrentapi
    except ImportError:
        print("qbittorrent-api is not installed (see the docstring): nothing to compare", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="qbm-http-stack-"))
    qbt = QBittorrent(workdir)
    qbt.start()
    try:
        hashes = [
            qbt.add(make_torrent(f"bench-{i}", announce="http://127.0.0.1:9/announce"), save_path=workdir / "dl")
            for i in range(100)
        ]
        one, chunk = hashes[0], "|".join(hashes)
        options = {"FORCE_SCHEME_FROM_HOST": True, "DISABLE_LOGGING_DEBUG_OUTPUT": True}
        api = qbittorrentapi.Client(host=qbt.url, username=qbt.username, password=qbt.password, **options)
        simple = qbittorrentapi.Client(
            host=qbt.url, username=qbt.username, password=qbt.password, SIMPLE_RESPONSES=True, **options
        )
        client = httpx.Client(base_url=qbt.url + "/api/v2")
        client.post("/auth/login", data={"username": qbt.username, "password": qbt.password})
        figures = {
            "qbittorrent-api, info of 1 hash": cpu_ms(
                lambda: [dict(t) for t in api.torrents_info(torrent_hashes=[one])]
            ),
            "qbittorrent-api SIMPLE_RESPONSES, info of 1 hash": cpu_ms(
                lambda: simple.torrents_info(torrent_hashes=[one])
            ),
            "httpx, info of 1 hash": cpu_ms(lambda: client.post("/torrents/info", data={"hashes": one}).json()),
            "qbittorrent-api, info of 100 hashes": cpu_ms(
                lambda: [dict(t) for t in api.torrents_info(torrent_hashes=hashes)]
            ),
            "qbittorrent-api SIMPLE_RESPONSES, info of 100 hashes": cpu_ms(
                lambda: simple.torrents_info(torrent_hashes=hashes)
            ),
            "httpx, info of 100 hashes": cpu_ms(lambda: client.post("/torrents/info", data={"hashes": chunk}).json()),
            "qbittorrent-api, trackers": cpu_ms(lambda: [dict(r) for r in api.torrents_trackers(torrent_hash=one)]),
            "httpx, trackers": cpu_ms(lambda: client.get("/torrents/trackers", params={"hash": one}).json()),
            "qbittorrent-api, transfer/info": cpu_ms(lambda: dict(api.transfer_info())),
            "httpx, transfer/info": cpu_ms(lambda: client.get("/transfer/info").json()),
        }
    finally:
        qbt.stop()
    doc = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "qbittorrent": qbt.version,
        "qbittorrent_api": importlib.metadata.version("qbittorrent-api"),
        "httpx": httpx.__version__,
        "unit": "CPU ms per call in the client process",
        "figures": figures,
    }
    out = ROOT / "bench" / "results" / "http-stack.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
