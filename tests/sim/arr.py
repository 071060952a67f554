"""A Sonarr/Radarr/Lidarr/Readarr/Whisparr simulator backed by a real qBittorrent, for integration tests.

Which app, and which API generation of it, is a row of `sim.flavours.FLAVOURS` (Sonarr v4 and v5, Radarr v4 and
v5/v6, Lidarr, Readarr, Whisparr v2 and v3; not Sonarr v3, which publishes no spec); every request is validated
against that app's vendored spec.

It behaves like the real apps as described in ../../../shared/API-NOTES.md (§1-§5) and validates
every request against the vendored OpenAPI specs (see `sim.validation`). Typical use::

    sim = ArrSimulator("sonarr", qbt_url=qbt.url, qbt_username=qbt.username,
                       qbt_password=qbt.password, category="tv-sonarr")
    sim.start()
    sim.grab_episodes(torrent_hash, "Show.S01.1080p", series_id=5, season=1, episode_ids=[11, 12])
    ...  # run the service against sim.url / sim.api_key
    assert sim.violations == []
    sim.stop()

Simplifications (the simulator has no library, indexers or importer): series/movies are known only
through grabs, search commands find nothing ("0 reports downloaded"), completed downloads stay
`importPending`, `includeSeries`/`includeEpisode`/`includeMovie` embed minimal objects, quality is
always "Unknown" and the language "English" (known items) or "Unknown". The queue is refreshed from
qBittorrent on every request that reads or changes it (the real apps refresh every minute and after
RefreshMonitoredDownloads), so ids that vanished from qBittorrent give 404 at once.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.commands import all_command_properties, find_command
from sim.flavours import (
    ADDED_FIELD,
    CAMELCASE_STATUS,
    CHANGE_CATEGORY,
    MIN_VERSIONS,
    QBT_API_KEY_FIELD,
    STOPPED_STATES,
    flavour_for,
    has,
)
from sim.qbtclient import QbtCall, QbtClient, QbtError
from sim.state import (
    CLIENT_ID,
    ENGLISH,
    FAILED_MESSAGE,
    QUEUE_STATUSES,
    UNKNOWN_LANGUAGE,
    Grab,
    Record,
    SimCommand,
    Tracked,
    fmt_dt,
    fmt_span,
    hash_int31,
    map_torrent,
    parse_version,
    quality_unknown,
    utcnow,
)
from sim.validation import (
    OpenAPIRequest,
    SpecVariant,
    openapi_for,
    patched_spec,
    validate_request,
    validate_response,
)

QUEUE_SORT_KEYS = {
    "sonarr": [
        "added",
        "downloadClient",
        "episode",
        "episode.airDateUtc",
        "episode.title",
        "episodes.airDateUtc",
        "episodes.title",
        "estimatedCompletionTime",
        "indexer",
        "language",
        "languages",
        "progress",
        "protocol",
        "quality",
        "series.sortTitle",
        "size",
        "status",
        "timeleft",
        "title",
    ],
    "radarr": [
        "added",
        "downloadClient",
        "estimatedCompletionTime",
        "indexer",
        "languages",
        "movies.sortTitle",
        "progress",
        "protocol",
        "quality",
        "size",
        "status",
        "timeleft",
        "title",
        "year",
    ],
}
GENERIC_QUEUE_SORT_KEYS = [
    "added",
    "downloadClient",
    "estimatedCompletionTime",
    "indexer",
    "progress",
    "protocol",
    "quality",
    "size",
    "status",
    "timeleft",
    "title",
]
BLOCKLIST_SORT_KEYS = {
    "sonarr": ["date", "indexer", "series.sortTitle", "sourceTitle"],
    "radarr": ["date", "indexer", "movies.sortTitle", "sourceTitle"],
}
HISTORY_EVENT_TYPES = {
    "sonarr": {
        0: "unknown",
        1: "grabbed",
        2: "seriesFolderImported",
        3: "downloadFolderImported",
        4: "downloadFailed",
        5: "episodeFileDeleted",
        6: "episodeFileRenamed",
        7: "downloadIgnored",
    },
    "radarr": {
        0: "unknown",
        1: "grabbed",
        3: "downloadFolderImported",
        4: "downloadFailed",
        6: "movieFileDeleted",
        7: "movieFolderImported",
        8: "movieFileRenamed",
        9: "downloadIgnored",
    },
}
FILE_EXTENSIONS = re.compile(r"\.(mkv|mp4|avi|m4v|wmv|mov|ts|m2ts|mpg|mpeg|iso|nzb|torrent)$", re.IGNORECASE)
JSON_TYPE = "application/json; charset=utf-8"
FINISHED_COMMAND_MEMORY = timedelta(minutes=5)
DELETE_GRACE_SECONDS = 30.0


@dataclass
class Recorded:
    """One request the simulator received."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any  # parsed JSON body, or None (no body / not JSON)
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)


class ApiError(Exception):
    """Ends a request with this status (and an optional JSON body)."""

    def __init__(self, status: int, body: Any = None, violation: str | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.violation = violation


class Query:
    """Typed access to already-validated query parameters."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for key, value in items:
            self.values.setdefault(key, []).append(value)

    def first(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[0] if vals else None

    def get_bool(self, name: str, default: bool) -> bool:
        val = self.first(name)
        return default if val is None else val.strip().lower() == "true"

    def get_int(self, name: str, default: int) -> int:
        val = self.first(name)
        return default if val is None else int(val)

    def get_ints(self, name: str) -> list[int]:
        return [int(v) for v in self.values.get(name, [])]

    def get_strs(self, name: str) -> list[str]:
        return list(self.values.get(name, []))


@dataclass
class Ctx:
    method: str
    path: str
    query: Query
    body: Any
    params: dict[str, str]
    headers: dict[str, str]
    base_url: str


Handler = Callable[[Ctx], tuple[int, Any]]


def _sort_value(value: Any) -> tuple[int, Any]:
    """.NET Comparer<T?>: null sorts before every value."""
    return (0, 0) if value is None else (1, value)


class ArrSimulator:
    """An *arr instance (any flavour of sim.flavours) whose download client is a real qBittorrent."""

    def __init__(
        self,
        kind: Literal["sonarr", "radarr", "lidarr", "readarr", "whisparr"],
        *,
        qbt_url: str,
        qbt_username: str,
        qbt_password: str,
        category: str | None,
        api_key: str | None = None,
        name: str | None = None,
        version: str | None = None,
        download_client_name: str = "qBittorrent",
        auto_redownload_failed: bool = True,
        post_import_category: str | None = None,
        command_duration: float = 1.0,
        url_base: str = "",
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.flavour = flavour_for(kind, version)
        self.kind: str = kind
        self.version = version or self.flavour.default_version
        self._v = parse_version(self.version)
        if self._v < MIN_VERSIONS.get(self.flavour.key, (0,)):
            raise ValueError(f"{kind} {self.version} predates the API shape this simulator models")
        self.api_key = api_key or secrets.token_hex(16)
        self.app_name = self.flavour.app_name
        # <UrlBase>: every route lives under it; a request without it gets a 307 to the same path with it.
        self.url_base = "/" + url_base.strip("/") if url_base.strip("/") else ""
        self._tls = tls  # (certificate file, key file): serve HTTPS
        self.name = name or self.app_name
        self.category = category
        self.post_import_category = post_import_category
        self.download_client_name = download_client_name
        self.auto_redownload_failed = auto_redownload_failed
        self.command_duration = command_duration
        self.qbt_url = qbt_url.rstrip("/")
        self.url = ""
        f = self.flavour
        self._variant = SpecVariant(
            kind=f.spec,
            legacy_status=not has(CAMELCASE_STATUS, f, self._v),
            change_category=has(CHANGE_CATEGORY, f, self._v),
        )
        openapi_for(self._variant)  # load and check the spec now (cached per variant)
        self._legacy_variant = None
        if f.legacy_spec is not None:
            self._legacy_variant = SpecVariant(kind=f.legacy_spec, legacy_status=False, change_category=True)
            openapi_for(self._legacy_variant)
        self._schemas = patched_spec(self._variant)["components"]["schemas"]
        self._qbt = QbtClient(qbt_url, qbt_username, qbt_password)
        self._qbt_username = qbt_username
        self._lock = threading.RLock()
        self.requests: list[Recorded] = []
        self._holds: list[tuple[str, str, float]] = []
        self.held = threading.Event()
        self.violations: list[str] = []
        self._grabs: dict[str, Grab] = {}
        self._download_events: dict[str, str] = {}  # latest download-history event per downloadId
        self._history: list[dict[str, Any]] = []
        self._blocklist: list[dict[str, Any]] = []
        self._commands: list[SimCommand] = []
        self._season_episodes: dict[tuple[int, int], set[int]] = {}
        self._tracked: dict[str, Tracked] = {}
        self._records: list[Record] = []
        self._refreshed_at = utcnow()
        self._unavailable = False
        self._stale_queue = False
        self._refresh_error: str | None = None
        # Torrents the app asked qBittorrent to delete. qBittorrent removes them asynchronously; the real
        # app would not refresh again for up to a minute, so they must not reappear meanwhile.
        self._deleting: dict[str, float] = {}
        self._next_ids = {"history": 1, "blocklist": 1, "command": 1}
        self._started_at = utcnow()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        api = f.api
        settings = "/settings" if f.key == "sonarr-v5" else "/config"  # Sonarr v5 moved /config/* to /settings/*
        self._routes: dict[tuple[str, str], Handler] = {
            ("get", "/ping"): self._h_ping,
            ("head", "/ping"): self._h_ping,
            ("get", "/api"): self._h_api_info,
            ("get", f"{api}/system/status"): self._h_system_status,
            ("get", f"{api}/queue"): self._h_queue,
            ("get", f"{api}/queue/details"): self._h_queue_details,
            ("get", f"{api}/queue/status"): self._h_queue_status,
            ("delete", f"{api}/queue/{{id}}"): self._h_queue_delete,
            ("delete", f"{api}/queue/bulk"): self._h_queue_delete_bulk,
            ("post", f"{api}/command"): self._h_command_post,
            ("get", f"{api}/command"): self._h_command_list,
            ("get", f"{api}/command/{{id}}"): self._h_command_get,
            ("get", f"{api}/blocklist"): self._h_blocklist,
            ("delete", f"{api}/blocklist/{{id}}"): self._h_blocklist_delete,
            ("delete", f"{api}/blocklist/bulk"): self._h_blocklist_delete_bulk,
            ("get", f"{api}/downloadclient"): self._h_downloadclient_list,
            ("get", f"{api}/downloadclient/{{id}}"): self._h_downloadclient_get,
            ("get", f"{api}{settings}/downloadclient"): self._h_config_downloadclient,
            ("get", f"{api}/health"): self._h_health,
        }
        if f.kind in HISTORY_EVENT_TYPES:
            self._routes[("get", f"{api}/history")] = self._h_history
        if f.legacy_api is not None:  # the deprecated API a newer build still serves: only what a client detects
            self._routes[("get", f"{f.legacy_api}/system/status")] = self._h_system_status

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> None:
        """Serve on 127.0.0.1 at a free port from a daemon thread; returns once the server answers."""
        if self._server is not None:
            raise RuntimeError("already started")
        # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on sockets that say so (else 40 ms per response)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._asgi_endpoint,
                    methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
                )
            ]
        )
        tls = {"ssl_certfile": self._tls[0], "ssl_keyfile": self._tls[1]} if self._tls else {}
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **tls)
        server = uvicorn.Server(config)
        self._server = server
        self._sock = sock
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"arr-sim-{self.kind}-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.kind} simulator did not start")
            time.sleep(0.01)
        self.root_url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"
        self.url = self.root_url + self.url_base  # what a user configures (with the app's URL base)
        self._started_at = utcnow()

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
        if getattr(self, "_sock", None) is not None:
            self._sock.close()
        self._server = None
        self._thread = None
        self._qbt.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ArrSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ArrSimulator {self.kind} {self.version} {self.url or '(stopped)'}>"

    # ------------------------------------------------------------------ world state (test side)

    def grab(
        self,
        download_hash: str,
        title: str,
        *,
        item_ids: list[int],
        parent_id: int | None = None,
        season: int | None = None,
        indexer: str = "SimIndexer",
    ) -> None:
        """Record that the app grabbed this torrent for these items (episodes, the movie, albums, books): its Grabbed
        history, one row per item where the app keeps one per item."""
        if not item_ids:
            raise ValueError("item_ids must not be empty")
        if self.flavour.shape == "movie" and len(item_ids) != 1:
            raise ValueError("a movie download is for one movie")
        if self.flavour.shape != "movie" and parent_id is None:
            raise ValueError(f"a {self.flavour.shape} grab needs its parent_id (series, artist, author)")
        did = download_hash.upper()
        with self._lock:
            grab = Grab(did, title, indexer, utcnow(), parent_id, season, list(dict.fromkeys(item_ids)))
            self._grabs[did] = grab
            self._download_events[did] = "grabbed"
            if self.flavour.shape == "series":
                for episode_id in grab.item_ids:
                    self._add_history("grabbed", grab, episode_id, {"indexer": indexer})
            else:
                self._add_history("grabbed", grab, None, {"indexer": indexer})

    def grab_episodes(
        self,
        download_hash: str,
        title: str,
        *,
        series_id: int,
        season: int,
        episode_ids: list[int],
        indexer: str = "SimIndexer",
    ) -> None:
        """Record that Sonarr (or Whisparr v2) grabbed this torrent for these episodes."""
        if self.flavour.shape != "series":
            raise ValueError("grab_episodes is for a Sonarr-based simulator")
        self.grab(download_hash, title, item_ids=episode_ids, parent_id=series_id, season=season, indexer=indexer)

    def grab_movie(self, download_hash: str, title: str, *, movie_id: int, indexer: str = "SimIndexer") -> None:
        """Record that Radarr (or Whisparr v3) grabbed this torrent for this movie."""
        if self.flavour.shape != "movie":
            raise ValueError("grab_movie is for a Radarr-based simulator")
        self.grab(download_hash, title, item_ids=[movie_id], indexer=indexer)

    def set_season_episodes(self, series_id: int, season: int, episode_ids: Iterable[int]) -> None:
        """Declare all episodes of a season (else the sim knows a season's episodes only from grabs)."""
        with self._lock:
            self._season_episodes[(series_id, season)] = set(episode_ids)

    def set_download_client_unavailable(self, flag: bool, *, stale_queue: bool = False) -> None:
        """Simulate the app failing to reach qBittorrent: its downloads drop out of the queue (the
        refresh yields no items for the client) and /health reports a DownloadClientCheck error.
        `stale_queue=True` is the minute before the app's next scheduled refresh: the health check already
        fails, while the queue still lists the last snapshot it took."""
        with self._lock:
            if flag and stale_queue:
                self._refresh()  # the snapshot the app keeps serving
            self._unavailable = flag
            self._stale_queue = flag and stale_queue

    def queue_id(self, download_hash: str, item_id: int | None = None) -> int:
        """The queue id the app gives a download: per episode (Sonarr v3/v4, Whisparr v2), per album (Lidarr), per
        book (Readarr), with item 0 for unknown items; per download (Radarr, Whisparr v3, Sonarr v5)."""
        did = download_hash.upper()
        suffix = self.flavour.id_suffix.format(item_id or 0)
        return hash_int31(f"trackedDownload-{CLIENT_ID}-{did}{suffix}")

    def refresh(self) -> None:
        """What RefreshMonitoredDownloads does: re-read qBittorrent into the queue snapshot."""
        with self._lock:
            self._refresh()

    def finish_commands(self) -> None:
        """Complete every queued/started command now."""
        with self._lock:
            now = utcnow()
            for cmd in self._commands:
                if cmd.status(now) in ("queued", "started"):
                    cmd.ended_override = now

    @property
    def blocklist(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._blocklist)

    @property
    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._history)

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Every command ever pushed (API-posted and automatic), as CommandResources."""
        with self._lock:
            now = utcnow()
            return [c.resource(self._type_exclusive, now) for c in self._commands]

    @property
    def qbt_calls(self) -> list[QbtCall]:
        """The calls the simulated app made to qBittorrent."""
        return list(self._qbt.calls)

    def calls(self, method: str | None = None, path_prefix: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            ]

    def mutating_calls(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def hold_response(self, method: str, path_prefix: str, seconds: float) -> threading.Event:
        """Process matching requests at once but answer only after `seconds` (a client killed in between
        has had its change made without learning it). The returned event is set when one was processed."""
        self._holds.append((method.upper(), path_prefix, seconds))
        self.held.clear()
        return self.held

    def clear_holds(self) -> None:
        self._holds.clear()

    def clear_log(self) -> None:
        """Forget recorded requests, violations and qBittorrent calls (the world state stays)."""
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._qbt.calls.clear()

    # ------------------------------------------------------------------ HTTP plumbing

    async def _asgi_endpoint(self, request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(
            self._handle,
            request.method,
            request.url.path,
            list(request.query_params.multi_items()),
            list(request.headers.items()),
            body,
            str(request.base_url).rstrip("/"),
        )

    def _authenticated(self, query: list[tuple[str, str]], headers: dict[str, str]) -> bool:
        # ApiKeyAuthenticationHandler: query `apikey`, then X-Api-Key, then "Authorization: Bearer".
        provided = next((v for k, v in query if k.lower() == "apikey"), None)
        if provided is None:
            provided = headers.get("x-api-key")
        if provided is None and "authorization" in headers:
            provided = headers["authorization"].replace("Bearer ", "")
        return provided is not None and provided == self.api_key

    def _handle(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        header_items: list[tuple[str, str]],
        body: bytes,
        base_url: str,
    ) -> Response:
        headers = {k.lower(): v for k, v in header_items}
        if self.url_base:  # UrlBaseMiddleware: a path without the base is redirected to the same path with it
            if path != self.url_base and not path.startswith(self.url_base + "/"):
                target = f"{base_url}{self.url_base}{path}" + (f"?{urlencode(query)}" if query else "")
                with self._lock:
                    self.requests.append(Recorded(method.upper(), path, {}, None, 307, body, headers))
                return Response(b"", status_code=307, headers={"Location": target})
            path = path[len(self.url_base) :] or "/"
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        qdict: dict[str, list[str]] = {}
        for key, value in query:
            qdict.setdefault(key, []).append(value)
        rec = Recorded(method.upper(), path, qdict, parsed, 0, body, headers)
        with self._lock:
            try:
                status, payload, extra_headers = self._dispatch(rec, query, headers, body, base_url)
            except ApiError as err:
                status, payload, extra_headers = err.status, err.body, {}
                if err.violation:
                    rec.violations.append(err.violation)
            except (QbtError, httpx.HTTPError) as err:  # the app fails the request when the client does
                status, payload, extra_headers = 500, {"message": str(err)}, {}
            except Exception as err:  # a simulator bug: make it loud in `violations`
                status, payload, extra_headers = 500, {"message": repr(err)}, {}
                rec.violations.append(f"SIMULATOR ERROR in {method} {path}: {err!r}")
            if payload is None:
                data, content_type = b"", ""
            else:
                data, content_type = json.dumps(payload, separators=(",", ":")).encode(), JSON_TYPE
            if rec.violations == [] and 200 <= status < 300:
                oreq = self._openapi_request(method, path, query, header_items, body, base_url, headers)
                variant = self._variant_for(path)
                rec.violations.extend(validate_response(variant, oreq, status, data, content_type))
            rec.status = status
            self.requests.append(rec)
            self.violations.extend(rec.violations)
        hold = next((h for h in self._holds if h[0] == method.upper() and path.startswith(h[1])), None)
        if hold is not None:
            self.held.set()  # processed: the change is made, the answer is not sent yet
            time.sleep(hold[2])
        if method.upper() == "HEAD":
            data = b""
        return Response(data, status_code=status, headers=extra_headers, media_type=content_type or None)

    @staticmethod
    def _openapi_request(
        method: str,
        path: str,
        query: list[tuple[str, str]],
        header_items: list[tuple[str, str]],
        body: bytes,
        base_url: str,
        headers: dict[str, str],
    ) -> OpenAPIRequest:
        return OpenAPIRequest(
            host_url=base_url,
            method=method,
            path=path,
            query=query,
            headers=header_items,
            body=body,
            content_type=headers.get("content-type", "application/octet-stream"),
        )

    def _variant_for(self, path: str) -> SpecVariant:
        """The spec a request is checked against: a newer build's deprecated API has a spec of its own."""
        legacy = self.flavour.legacy_api
        if legacy is not None and self._legacy_variant is not None and path.startswith(legacy + "/"):
            return self._legacy_variant
        return self._variant

    def _dispatch(
        self,
        rec: Recorded,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> tuple[int, Any, dict[str, str]]:
        method, path = rec.method.lower(), rec.path
        anonymous = path == "/ping" and method in ("get", "head")
        if not anonymous and not self._authenticated(query, headers):
            return 401, None, {}
        oreq = self._openapi_request(method, path, query, list(headers.items()), body, base_url, headers)
        check = validate_request(self._variant_for(path), oreq)
        if check.template is None:
            rec.violations.extend(check.errors)
            return 404, None, {}
        if not check.method_allowed:
            rec.violations.extend(check.errors)
            return 405, None, {}
        if check.errors:
            rec.violations.extend(check.errors)
            return 400, {"message": "Invalid request (simulator)", "description": "; ".join(check.errors)}, {}
        handler = self._routes.get((method, check.template))
        if handler is None:
            rec.violations.append(f"{rec.method} {path}: valid per the spec but not simulated ({check.template})")
            return 501, {"message": f"{check.template} is not simulated"}, {}
        params = self._path_params(check.template, path)
        ctx = Ctx(method, path, Query(query), rec.json, params, headers, base_url)
        status, payload = handler(ctx)
        extra: dict[str, str] = {}
        if status == 201 and isinstance(payload, dict) and "id" in payload:
            extra["Location"] = f"{base_url}{self.url_base}{path}/{payload['id']}"
        return status, payload, extra

    @staticmethod
    def _path_params(template: str, path: str) -> dict[str, str]:
        names = re.findall(r"\{([^}]+)\}", template)
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
        match = re.match(regex, path)
        return dict(zip(names, match.groups(), strict=True)) if match else {}

    # ------------------------------------------------------------------ queue model

    def _refresh(self) -> None:
        if self._stale_queue:
            self._refresh_error = "Connection refused (simulated)"
            return
        now = utcnow()
        self._refreshed_at = now
        tracked: dict[str, Tracked] = {}
        if self._unavailable:
            self._refresh_error = "Connection refused (simulated)"
        else:
            try:
                self._qbt.webapi_version()
                prefs = self._qbt.preferences()
                torrents = self._qbt.torrents(self.category)
                self._refresh_error = None
            except (QbtError, httpx.HTTPError, ValueError) as err:
                self._refresh_error = str(err)
                torrents, prefs = [], {}
            stopped_ok = has(STOPPED_STATES, self.flavour, self._v)
            listed = {str(t["hash"]).upper() for t in torrents}
            deadline = time.monotonic() - DELETE_GRACE_SECONDS
            self._deleting = {d: t for d, t in self._deleting.items() if d in listed and t > deadline}
            for torrent in torrents:
                did = str(torrent["hash"]).upper()
                if did in self._deleting:
                    continue
                if self._download_events.get(did) in ("failed", "ignored"):
                    continue  # recreated as failed/ignored from download history: not trackable
                status, message, timeleft, output_path = map_torrent(
                    torrent, dht_enabled=bool(prefs.get("dht")), stopped_states_supported=stopped_ok
                )
                size = max(int(torrent.get("size", 0)), 0)
                sizeleft = int(size * (1.0 - float(torrent.get("progress", 0.0))))
                tracked[did] = Tracked(
                    download_id=did,
                    title=FILE_EXTENSIONS.sub("", str(torrent.get("name", ""))),
                    size=size,
                    sizeleft=sizeleft,
                    timeleft=timeleft,
                    status=status,
                    message=message,
                    output_path=output_path,
                    state="importPending" if status == "completed" else "downloading",
                    grab=self._grabs.get(did),
                    qbt_state=str(torrent.get("state", "")),
                )
        self._tracked = tracked
        records: list[Record] = []
        for did, tr in tracked.items():
            if self.flavour.per_download or tr.grab is None:
                records.append(Record(self.queue_id(did), tr))
            else:
                records.extend(Record(self.queue_id(did, i), tr, i) for i in tr.grab.item_ids)
        self._records = records

    def _status_out(self, status: str) -> str:
        return status[0].upper() + status[1:] if self._variant.legacy_status else status

    def _has_post_import_category(self) -> bool:
        return bool(self.post_import_category) and self.post_import_category != self.category

    def _fit(self, resource: dict[str, Any], schema: str) -> dict[str, Any]:
        """Only the properties this app's resource has (Lidarr and Readarr have no languages, Readarr and Whisparr
        no `added`, ...): the spec says which."""
        if schema not in self._schemas:
            return resource
        props = self._schemas[schema]["properties"]
        return {k: v for k, v in resource.items() if k in props}

    @property
    def _catalogue(self) -> str:
        return self.flavour.commands

    def _quality(self) -> dict[str, Any]:
        """The "Unknown" quality, with the fields this app's Quality has (Radarr: modifier; Lidarr: no source)."""
        model = quality_unknown(with_modifier=True)
        model["quality"] = self._fit(model["quality"], "Quality")
        return model

    @property
    def _type_exclusive(self) -> bool:
        return "isTypeExclusive" in self._schemas["Command"]["properties"]

    def _record_resource(self, rec: Record, include_parent: bool, include_child: bool) -> dict[str, Any]:
        f, tr, grab = self.flavour, rec.tracked, rec.tracked.grab
        res: dict[str, Any] = {"id": rec.id}
        if grab is not None:
            if f.parent_field:
                res[f.parent_field] = grab.parent_id
            if f.item_list_field:  # Sonarr v5: one record for the whole download
                res[f.item_list_field] = list(grab.item_ids)
                res["seasonNumbers"] = [grab.season] if grab.season is not None else []
            elif f.per_download:
                res[f.item_field] = grab.item_ids[0]
            else:
                res[f.item_field] = rec.item_id
            if f.shape == "series" and not f.item_list_field:
                res["seasonNumber"] = grab.season
            if include_parent and f.parent_param:
                parent = {"series": "series", "movie": "movie", "music": "artist", "book": "author"}[f.shape]
                res[parent] = {"id": grab.parent_id if f.parent_field else grab.item_ids[0]}
            if include_child and f.child_param:
                child = {"series": "episode", "music": "album", "book": "book"}[f.shape]
                res[child] = {"id": rec.item_id}
                if f.shape == "series":
                    res[child].update({"seriesId": grab.parent_id, "seasonNumber": grab.season, "hasFile": False})
        res["languages"] = [dict(ENGLISH if grab is not None else UNKNOWN_LANGUAGE)]
        res["quality"] = self._quality()
        res["customFormats"] = []
        res["customFormatScore"] = 0
        res["size"] = tr.size
        res["title"] = tr.title
        if tr.timeleft is not None:
            res["estimatedCompletionTime"] = fmt_dt(self._refreshed_at + timedelta(seconds=tr.timeleft))
        if grab is not None and has(ADDED_FIELD, f, self._v):
            res["added"] = fmt_dt(grab.date)
        res["status"] = self._status_out(tr.status)
        res["trackedDownloadStatus"] = "ok"
        res["trackedDownloadState"] = tr.state
        res["statusMessages"] = []
        if tr.message is not None:
            res["errorMessage"] = tr.message
        res["downloadId"] = tr.download_id
        res["protocol"] = "torrent"
        res["downloadClient"] = self.download_client_name
        if self._variant.change_category:
            res["downloadClientHasPostImportCategory"] = self._has_post_import_category()
        if grab is not None:
            res["indexer"] = grab.indexer
        if tr.output_path is not None:
            res["outputPath"] = tr.output_path
        if f.shape == "series":
            res["episodeHasFile"] = False
        res[f.size_left] = tr.sizeleft
        if tr.timeleft is not None:
            res[f.time_left] = fmt_span(tr.timeleft)
        return self._fit(res, "QueueResource")

    def _queue_sort_value(self, key: str, rec: Record) -> Any:
        tr, grab = rec.tracked, rec.tracked.grab
        values: dict[str, Callable[[], Any]] = {
            "timeleft": lambda: tr.timeleft,
            "estimatedCompletionTime": lambda: tr.timeleft,
            "title": lambda: tr.title.casefold(),
            "series.sortTitle": lambda: tr.title.casefold(),  # the sim knows no series titles
            "movies.sortTitle": lambda: tr.title.casefold(),
            "size": lambda: tr.size,
            "status": lambda: QUEUE_STATUSES.index(tr.status),
            "progress": lambda: tr.progress,
            "protocol": lambda: "torrent",
            "downloadClient": lambda: self.download_client_name.casefold(),
            "indexer": lambda: grab.indexer.casefold() if grab else None,
            "added": lambda: grab.date if grab else None,
            "quality": lambda: 0,
            "language": lambda: 1 if grab else 0,
            "languages": lambda: 1 if grab else 0,
            "year": lambda: grab.item_ids[0] if grab else None,
        }
        getter = values.get(key, lambda: rec.item_id)  # episode.* keys: by episode id
        return _sort_value(getter())

    def _queue_filtered(self, q: Query, include_unknown: bool) -> list[Record]:
        f = self.flavour
        parent_ids = set(q.get_ints(f.parent_ids_param)) if f.parent_ids_param else set()
        protocol = q.first("protocol")
        languages = set(q.get_ints("languages"))
        qualities = set(q.get_ints("quality"))
        statuses = set(q.get_strs("status"))
        out = []
        for rec in self._records:
            grab = rec.tracked.grab
            if grab is None and not include_unknown:
                continue
            parent = None if grab is None else grab.parent_id if f.parent_field else grab.item_ids[0]
            if parent_ids and (parent is None or parent not in parent_ids):
                continue
            if protocol is not None and protocol != "torrent":
                continue
            if languages and (1 if grab else 0) not in languages:
                continue
            if qualities and 0 not in qualities:
                continue
            if statuses and rec.tracked.status not in statuses:
                continue
            out.append(rec)
        return out

    def _h_queue(self, ctx: Ctx) -> tuple[int, Any]:
        q = ctx.query
        page, page_size = q.get_int("page", 1), q.get_int("pageSize", 10)
        f = self.flavour
        self._refresh()
        # Sonarr v5 includes unknown items unless told not to (API-NOTES §2.1).
        full = self._queue_filtered(q, q.get_bool(f.unknown_param, f.key == "sonarr-v5"))
        requested_key = q.first("sortKey")
        strict = f.queue_sort_keys_or_400
        if (
            strict is not None
            and requested_key is not None
            and requested_key.lower() not in {k.lower() for k in strict}
        ):
            raise ApiError(400, {"message": f"Invalid sort key {requested_key}"})
        sort_keys = QUEUE_SORT_KEYS.get(f.kind, GENERIC_QUEUE_SORT_KEYS)
        allowed = {k.lower() for k in sort_keys}
        sort_key = requested_key if requested_key and requested_key.lower() in allowed else "timeleft"
        direction = q.first("sortDirection")
        # PagingResource: omitted -> descending; MapToPagingSpec: "default" -> the controller's ascending.
        direction = "descending" if direction is None else "ascending" if direction == "default" else direction
        canonical = next((k for k in sort_keys if k.lower() == sort_key.lower()), "timeleft")
        ordered = sorted(full, key=lambda r: r.tracked.progress, reverse=True)  # ThenByDescending(progress)
        ordered = sorted(ordered, key=lambda r: self._queue_sort_value(canonical, r), reverse=direction == "descending")
        total = len(ordered)

        def take(p: int) -> list[Record]:
            if page_size <= 0:
                return []
            start = max((p - 1) * page_size, 0)
            return ordered[start : start + page_size]

        records = take(page)
        if not records and page > 1:
            if page_size == 0:
                raise ApiError(500, {"message": "Attempted to divide by zero."})
            # max(ceil(totalRecords / pageSize), 1) with integer division: effectively the floor.
            page = max(total // page_size, 1)
            records = take(page)
        subresources = {v.lower() for v in q.get_strs("includeSubresources")}  # Sonarr v5
        include_parent = q.get_bool(f.parent_param, False) if f.parent_param else "series" in subresources
        include_child = q.get_bool(f.child_param, False) if f.child_param else False
        return 200, {
            "page": page,
            "pageSize": page_size,
            "sortKey": sort_key,
            "sortDirection": direction,
            "totalRecords": total,
            "records": [self._record_resource(r, include_parent, include_child) for r in records],
        }

    def _h_queue_details(self, ctx: Ctx) -> tuple[int, Any]:
        q = ctx.query
        self._refresh()
        records = self._records
        f = self.flavour
        # seriesId+episodeIds, movieId, artistId+albumIds, authorId+bookIds: a parent id wins over child ids.
        parent_param = {"series": "seriesId", "movie": "movieId", "music": "artistId", "book": "authorId"}[f.shape]
        child_param = {"series": "episodeIds", "music": "albumIds", "book": "bookIds"}.get(f.shape)
        parent_id = q.first(parent_param)
        child_ids = set(q.get_ints(child_param)) if child_param else set()

        def parent_of(r: Record) -> int | None:
            grab = r.tracked.grab
            return None if grab is None else grab.parent_id if f.parent_field else grab.item_ids[0]

        if parent_id is not None:
            records = [r for r in records if parent_of(r) == int(parent_id)]
        elif child_ids:
            records = [r for r in records if r.tracked.grab and child_ids & set(r.tracked.grab.item_ids)]
        parent = q.get_bool(f.parent_param, False) if f.parent_param else False
        child = q.get_bool(f.child_param, f.shape in ("music", "book")) if f.child_param else False
        return 200, [self._record_resource(r, parent, child) for r in records]

    def _h_queue_status(self, ctx: Ctx) -> tuple[int, Any]:
        self._refresh()
        known = [r for r in self._records if r.tracked.grab is not None]
        unknown = [r for r in self._records if r.tracked.grab is None]
        return 200, {
            "id": 0,
            "totalCount": len(self._records),
            "count": len(known),
            "unknownCount": len(unknown),
            "errors": any(r.tracked.status == "failed" for r in known),
            "warnings": any(r.tracked.status == "warning" for r in known),
            "unknownErrors": any(r.tracked.status == "failed" for r in unknown),
            "unknownWarnings": any(r.tracked.status == "warning" for r in unknown),
        }

    def _find_tracked(self, queue_id: int) -> Tracked:
        for rec in self._records:
            if rec.id == queue_id:
                return rec.tracked
        raise ApiError(404, {"message": "NotFound"})

    def _delete_flags(self, q: Query) -> tuple[bool, bool, bool, bool]:
        change = q.get_bool("changeCategory", False) if self._variant.change_category else False
        remove = q.get_bool("removeFromClient", True)
        return remove, q.get_bool("blocklist", False), q.get_bool("skipRedownload", False), change

    def _remove(self, tr: Tracked, remove: bool, blocklist: bool, skip_redownload: bool, change: bool) -> None:
        """QueueController.Remove for one tracked download (StopTracking is done by the caller)."""
        if remove:
            self._qbt.delete(tr.download_id.lower(), delete_files=True)
            self._deleting[tr.download_id] = time.monotonic()
        elif change and self._has_post_import_category():
            assert self.post_import_category is not None
            # The app logs a warning ("Does the label exist?") and carries on.
            with contextlib.suppress(QbtError):
                self._qbt.set_category(tr.download_id.lower(), self.post_import_category)
        if blocklist:
            self._mark_as_failed(tr, skip_redownload)
        if not remove and not blocklist and not change and tr.grab is not None:
            self._download_events[tr.download_id] = "ignored"
            self._add_history_for_grab("downloadIgnored", tr.grab, {"message": "Manually ignored"})

    def _stop_tracking(self, download_ids: Iterable[str]) -> None:
        gone = set(download_ids)
        for did in gone:
            self._tracked.pop(did, None)
        self._records = [r for r in self._records if r.tracked.download_id not in gone]

    def _h_queue_delete(self, ctx: Ctx) -> tuple[int, Any]:
        self._refresh()
        tr = self._find_tracked(int(ctx.params["id"]))
        self._remove(tr, *self._delete_flags(ctx.query))
        self._stop_tracking([tr.download_id])
        return self.flavour.delete_status, None

    def _h_queue_delete_bulk(self, ctx: Ctx) -> tuple[int, Any]:
        ids = ctx.body.get("ids") if isinstance(ctx.body, dict) else None
        if ids is None:
            raise ApiError(
                500,
                {"message": "Object reference not set to an instance of an object."},
                violation=f"DELETE {ctx.path}: body has no 'ids' (the app dereferences null -> 500)",
            )
        self._refresh()
        found: dict[str, Tracked] = {}
        for queue_id in ids:  # all ids are resolved first: one unknown id aborts the whole request
            tr = self._find_tracked(int(queue_id))
            found.setdefault(tr.download_id, tr)
        flags = self._delete_flags(ctx.query)
        for tr in found.values():
            self._remove(tr, *flags)
        self._stop_tracking(found)
        return (204, None) if self.flavour.delete_status == 204 else (200, {})

    # ------------------------------------------------------------------ failed downloads, history, blocklist

    def _add_history(self, event: str, grab: Grab, episode_id: int | None, data: dict[str, str]) -> None:
        row: dict[str, Any] = {"id": self._next_id("history")}
        if self.flavour.shape == "series":
            row["episodeId"] = episode_id
            row["seriesId"] = grab.parent_id
        elif self.flavour.shape == "movie":
            row["movieId"] = grab.item_ids[0]
        else:
            row[self.flavour.parent_field or ""] = grab.parent_id
            row[self.flavour.item_field] = grab.item_ids[0]
        row.update(
            {
                "sourceTitle": grab.source_title,
                "languages": [dict(ENGLISH)],
                "quality": self._quality(),
                "customFormats": [],
                "customFormatScore": 0,
                "qualityCutoffNotMet": False,
                "date": fmt_dt(utcnow()),
                "downloadId": grab.download_id,
                "eventType": event,
                "data": {
                    **data,
                    "downloadClient": "QBittorrent",
                    "downloadClientName": self.download_client_name,
                },
            }
        )
        self._history.append(row)

    def _add_history_for_grab(self, event: str, grab: Grab, data: dict[str, str]) -> None:
        if self.flavour.shape == "series":
            for episode_id in grab.item_ids:
                self._add_history(event, grab, episode_id, data)
        else:
            self._add_history(event, grab, None, data)

    def _next_id(self, what: str) -> int:
        value = self._next_ids[what]
        self._next_ids[what] = value + 1
        return value

    def _mark_as_failed(self, tr: Tracked, skip_redownload: bool) -> None:
        """FailedDownloadService.MarkAsFailed: nothing at all unless the app grabbed the download."""
        grab = tr.grab
        if grab is None:
            return
        f = self.flavour
        row: dict[str, Any] = {"id": self._next_id("blocklist")}
        if f.blocklist_parent and f.blocklist_parent != f.blocklist_items:
            row[f.blocklist_parent] = grab.parent_id if f.parent_field else grab.item_ids[0]
        row[f.blocklist_items] = grab.item_ids[0] if f.shape == "movie" else list(grab.item_ids)
        if f.key == "sonarr-v5":  # v5 always embeds the series (its schema requires it)
            row["series"] = {"id": grab.parent_id}
        row.update(
            {
                "sourceTitle": grab.source_title,
                "languages": [dict(ENGLISH)],
                "quality": self._quality(),
                "customFormats": [],
                "date": fmt_dt(utcnow()),
                "protocol": "torrent",
                "indexer": grab.indexer,
                "message": FAILED_MESSAGE,
            }
        )
        self._blocklist.append(self._fit(row, "BlocklistResource"))
        self._download_events[tr.download_id] = "failed"
        self._add_history_for_grab("downloadFailed", grab, {"message": FAILED_MESSAGE})
        # RedownloadFailedDownloadService (runs last).
        if skip_redownload or not self.auto_redownload_failed:
            return
        ids = list(grab.item_ids)
        if f.shape == "movie":
            self._push_command("MoviesSearch", {"movieIds": ids}, "unspecified")
            return
        if f.shape == "music":  # one album or some of the artist's: AlbumSearch (the sim knows no discography)
            self._push_command("AlbumSearch", {"albumIds": ids}, "unspecified")
            return
        if f.shape == "book":
            self._push_command("BookSearch", {"bookIds": ids}, "unspecified")
            return
        assert grab.parent_id is not None and grab.season is not None
        if len(ids) > 1 and set(ids) == self._known_season_episodes(grab.parent_id, grab.season):
            self._push_command("SeasonSearch", {"seriesId": grab.parent_id, "seasonNumber": grab.season}, "unspecified")
        else:
            self._push_command("EpisodeSearch", {"episodeIds": ids}, "unspecified")

    def _known_season_episodes(self, series_id: int, season: int) -> set[int]:
        declared = self._season_episodes.get((series_id, season))
        if declared is not None:
            return declared
        known: set[int] = set()
        for grab in self._grabs.values():
            if grab.parent_id == series_id and grab.season == season:
                known.update(grab.item_ids)
        return known

    def _paged_db(
        self,
        q: Query,
        rows: list[dict[str, Any]],
        allowed_keys: list[str],
        default_key: str,
    ) -> dict[str, Any]:
        """Database paging (blocklist/history): no page-past-the-end correction, unlike the queue."""
        page, page_size = q.get_int("page", 1), q.get_int("pageSize", 10)
        requested = q.first("sortKey")
        key = next((k for k in allowed_keys if requested and k.lower() == requested.lower()), default_key)
        direction = q.first("sortDirection")
        direction = "descending" if direction in (None, "default") else direction

        def sort_value(row: dict[str, Any]) -> Any:
            if key in ("series.sortTitle", "movies.sortTitle"):
                return _sort_value(row.get("sourceTitle", "").casefold())
            value = row.get(key)
            return _sort_value(value.casefold() if isinstance(value, str) and key != "date" else value)

        ordered = sorted(rows, key=lambda r: r["id"], reverse=direction == "descending")
        ordered = sorted(ordered, key=sort_value, reverse=direction == "descending")
        start = max((page - 1) * page_size, 0)
        records = ordered[start:] if page_size < 0 else ordered[start : start + page_size]
        return {
            "page": page,
            "pageSize": page_size,
            "sortKey": requested if requested and requested.lower() == key.lower() else key,
            "sortDirection": direction,
            "totalRecords": len(rows),
            "records": copy.deepcopy(records),
        }

    def _h_blocklist(self, ctx: Ctx) -> tuple[int, Any]:
        q = ctx.query
        f = self.flavour
        parent_key = f.blocklist_parent or ""
        parent_ids = set(q.get_ints(f.parent_ids_param)) if f.parent_ids_param else set()
        protocols = set(q.get_strs("protocols"))
        rows = [
            r
            for r in self._blocklist
            if (not parent_ids or r.get(parent_key) in parent_ids) and (not protocols or r["protocol"] in protocols)
        ]
        sort_keys = BLOCKLIST_SORT_KEYS.get(f.kind, ["date", "indexer", "sourceTitle"])
        return 200, self._paged_db(q, rows, sort_keys, "date")

    def _h_blocklist_delete(self, ctx: Ctx) -> tuple[int, Any]:
        # BlocklistService.Delete(id) is a plain DELETE ... WHERE Id = id: an unknown id is not an error.
        self._blocklist = [r for r in self._blocklist if r["id"] != int(ctx.params["id"])]
        return self.flavour.delete_status, None

    def _h_blocklist_delete_bulk(self, ctx: Ctx) -> tuple[int, Any]:
        ids = ctx.body.get("ids") if isinstance(ctx.body, dict) else None
        if ids is None:
            raise ApiError(
                500,
                {"message": "Value cannot be null."},
                violation=f"DELETE {ctx.path}: body has no 'ids' (the app fails with 500)",
            )
        gone = {int(i) for i in ids}
        self._blocklist = [r for r in self._blocklist if r["id"] not in gone]
        return (204, None) if self.flavour.delete_status == 204 else (200, {})

    def _h_history(self, ctx: Ctx) -> tuple[int, Any]:
        q = ctx.query
        names = HISTORY_EVENT_TYPES[self.kind]
        event_types = {names.get(i, f"#{i}") for i in q.get_ints("eventType")}
        download_id = q.first("downloadId")
        parent_key = "seriesId" if self.kind == "sonarr" else "movieId"
        parent_ids = set(q.get_ints("seriesIds" if self.kind == "sonarr" else "movieIds"))
        episode_id = q.first("episodeId") if self.kind == "sonarr" else None
        rows = [
            r
            for r in self._history
            if (not event_types or r["eventType"] in event_types)
            and (download_id is None or r["downloadId"] == download_id)
            and (not parent_ids or r[parent_key] in parent_ids)
            and (episode_id is None or r.get("episodeId") == int(episode_id))
        ]
        return 200, self._paged_db(q, rows, ["date", "eventType", "sourceTitle"], "date")

    # ------------------------------------------------------------------ commands

    def _push_command(self, name: str, values: dict[str, Any], trigger: str) -> SimCommand:
        """CommandQueueManager.Push: merge into an equal queued/started command, else queue a new one."""
        definition = find_command(self._catalogue, name)
        assert definition is not None
        full = {f.name: values.get(f.name, f.default) for f in definition.fields}
        now = utcnow()
        for cmd in self._commands:
            if cmd.status(now) in ("queued", "started") and cmd.equals(definition, full):
                return cmd
        cmd = SimCommand(self._next_id("command"), definition, full, trigger, now, self.command_duration)
        self._commands.append(cmd)
        if definition.refreshes_queue:
            self._refresh()
        return cmd

    def _h_command_post(self, ctx: Ctx) -> tuple[int, Any]:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        name = body.get("name")
        definition = find_command(self._catalogue, name) if isinstance(name, str) else None
        if definition is None:
            raise ApiError(
                500,
                {"message": "Sequence contains no matching element"},
                violation=f"POST {ctx.path}: unknown command name {name!r} (the app answers 500)",
            )
        own = {f.name for f in definition.fields}
        stray = [k for k in body if k in all_command_properties(self._catalogue) and k not in own]
        if stray:
            raise ApiError(
                400,
                {"message": f"{definition.name} has no properties {stray}"},
                violation=f"POST {ctx.path}: {stray} are not properties of {definition.name} (the app would "
                "silently ignore them)",
            )
        cmd = self._push_command(definition.name, {k: body[k] for k in own if k in body}, "manual")
        return 201, cmd.resource(self._type_exclusive, utcnow())

    def _h_command_list(self, ctx: Ctx) -> tuple[int, Any]:
        now = utcnow()
        live = []
        for cmd in self._commands:
            _, _, ended = cmd.times(now)
            if ended is None or now - ended < FINISHED_COMMAND_MEMORY:
                live.append(cmd.resource(self._type_exclusive, now))
        return 200, live

    def _h_command_get(self, ctx: Ctx) -> tuple[int, Any]:
        wanted = int(ctx.params["id"])
        for cmd in self._commands:
            if cmd.id == wanted:
                return 200, cmd.resource(self._type_exclusive, utcnow())
        raise ApiError(404, {"message": "NotFound"})

    # ------------------------------------------------------------------ static-ish resources

    def _h_ping(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, {"status": "OK"}

    def _h_api_info(self, ctx: Ctx) -> tuple[int, Any]:
        f = self.flavour
        deprecated = [f.legacy_api.rsplit("/", 1)[-1]] if f.legacy_api else []
        return 200, {"current": f.api_version, "deprecated": deprecated}

    def _h_system_status(self, ctx: Ctx) -> tuple[int, Any]:
        sonarr = self.flavour.shape == "series"
        status: dict[str, Any] = {
            "appName": self.app_name,
            "instanceName": self.name,
            "version": self.version,
            "buildTime": "2025-01-01T00:00:00Z",
            "isDebug": False,
            "isProduction": True,
            "isAdmin": False,
            "isUserInteractive": False,
            "startupPath": f"/app/{self.kind}/bin",
            "appData": "/config",
            "osName": "alpine",
            "osVersion": "3.20.0",
            "isNetCore": True,
            "isLinux": True,
            "isOsx": False,
            "isWindows": False,
            "isDocker": True,
            "mode": "console",
            "branch": "main" if sonarr else "master",
            "authentication": "forms",
            "databaseType": "sqLite",
            "databaseVersion": "3.45.3",
            "migrationVersion": 215 if sonarr else 241,
            "urlBase": self.url_base,
            "runtimeVersion": "6.0.36" if sonarr else "8.0.12",
            "runtimeName": ".NET",
            "startTime": fmt_dt(self._started_at),
            "packageVersion": self.version,
            "packageAuthor": "simulator",
            "packageUpdateMechanism": "docker",
        }
        return 200, self._fit(status, "SystemResource")

    def _qbt_location(self) -> tuple[str, int, bool, str | None]:
        parts = urlsplit(self.qbt_url)
        use_ssl = parts.scheme == "https"
        port = parts.port or (443 if use_ssl else 80)
        url_base = parts.path.strip("/") or None
        return parts.hostname or "localhost", port, use_ssl, url_base

    def _download_client_resource(self) -> dict[str, Any]:
        host, port, use_ssl, url_base = self._qbt_location()
        prefix = self.flavour.category_prefix
        fields: list[tuple[str, str, Any, str, bool, str]] = [
            ("host", "Host", host, "textbox", False, "normal"),
            ("port", "Port", port, "textbox", False, "normal"),
            ("useSsl", "Use SSL", use_ssl, "checkbox", False, "normal"),
            ("urlBase", "URL Base", url_base, "textbox", True, "normal"),
            ("username", "Username", self._qbt_username, "textbox", False, "userName"),
            ("password", "Password", "********", "password", False, "password"),
        ]
        if has(QBT_API_KEY_FIELD, self.flavour, self._v):
            fields.append(("apiKey", "API Key", "********", "password", True, "apiKey"))
        fields += [
            (f"{prefix}Category", "Category", self.category, "textbox", False, "normal"),
            (f"{prefix}ImportedCategory", "Post-Import Category", self.post_import_category, "textbox", True, "normal"),
            (f"recent{prefix.title()}Priority", "Recent Priority", 0, "select", False, "normal"),
            (f"older{prefix.title()}Priority", "Older Priority", 0, "select", False, "normal"),
            ("initialState", "Initial State", 0, "select", False, "normal"),
            ("sequentialOrder", "Sequential Order", False, "checkbox", False, "normal"),
            ("firstAndLast", "First and Last First", False, "checkbox", False, "normal"),
            ("contentLayout", "Content Layout", 0, "select", False, "normal"),
        ]
        out_fields = []
        for order, (fname, label, value, ftype, advanced, privacy) in enumerate(fields):
            item: dict[str, Any] = {"order": order, "name": fname, "label": label}
            if value is not None:
                item["value"] = value
            item.update({"type": ftype, "advanced": advanced, "privacy": privacy, "isFloat": False})
            out_fields.append(self._fit(item, "Field"))
        return {
            "id": CLIENT_ID,
            "name": self.download_client_name,
            "fields": out_fields,
            "implementationName": "qBittorrent",
            "implementation": "QBittorrent",
            "configContract": "QBittorrentSettings",
            "infoLink": f"https://wiki.servarr.com/{self.kind}/supported#qbittorrent",
            "tags": [],
            "enable": True,
            "protocol": "torrent",
            "priority": 1,
            "removeCompletedDownloads": True,
            "removeFailedDownloads": True,
        }

    def _h_downloadclient_list(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, [self._download_client_resource()]

    def _h_downloadclient_get(self, ctx: Ctx) -> tuple[int, Any]:
        if int(ctx.params["id"]) != CLIENT_ID:
            raise ApiError(404, {"message": "NotFound"})
        return 200, self._download_client_resource()

    def _h_config_downloadclient(self, ctx: Ctx) -> tuple[int, Any]:
        config: dict[str, Any] = {
            "id": 1,
            "downloadClientWorkingFolders": "_UNPACK_|_FAILED_",
            "enableCompletedDownloadHandling": True,
        }
        config["checkForFinishedDownloadInterval"] = 1  # Radarr-based apps only: _fit drops it elsewhere
        config["autoRedownloadFailed"] = self.auto_redownload_failed
        config["autoRedownloadFailedFromInteractiveSearch"] = True
        return 200, self._fit(config, "DownloadClientConfigResource")

    def _h_health(self, ctx: Ctx) -> tuple[int, Any]:
        self._refresh()
        checks: list[dict[str, Any]] = []
        if self._refresh_error is not None:
            checks.append(
                {
                    "id": 0,
                    "source": "DownloadClientCheck",
                    "type": "error",
                    "message": f"Unable to communicate with {self.download_client_name}. {self._refresh_error}",
                    "wikiUrl": f"https://wiki.servarr.com/{self.kind}/system#download-clients-are-unavailable",
                }
            )
        return 200, checks
