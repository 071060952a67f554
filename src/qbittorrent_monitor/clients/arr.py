"""One *arr instance (Sonarr, Radarr, Lidarr, Readarr, Whisparr) over httpx.

What differs between the apps and their API versions is data, in apps.py (`PROFILES`): the client reads
`system/status` once (and again every `DETECT_EVERY`), picks the app's profile by version, and from then on asks
through it (API base, queue parameter, record fields, command, download-client endpoint).
The pitfalls of API-NOTES handled here: the queue's default page size (10) and descending default sort, a page
past the end that repeats the last page (loop on totalRecords), pending items without downloadId, upper-case
downloadIds, PascalCase statuses (older builds, Lidarr, Readarr, Whisparr), 201 on commands, 204 on Sonarr v5's
deletes, 404 when the queue changed underneath us, a URL base (`http://host:8989/sonarr`), HTTPS with a custom CA.
Reads are retried with backoff; writes never are (the journal decides what to redo).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from .. import apps
from ..apps import App, Profile
from ..config import ArrInstance
from ..mapping import DownloadClient
from ..model import QueueItem, RemoveResult
from . import Call, ServiceError, report_call, short_error

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PAGE_SIZE = 250
MAX_PAGES = 200
MAX_REDIRECTS = 3
READ_RETRIES = 2
DETECT_EVERY = 3600.0  # seconds: an app upgraded in place (Sonarr 4 -> 5) is noticed within the hour

DOWNLOAD_CLIENT_CHECKS = frozenset({"DownloadClientCheck", "DownloadClientStatusCheck"})
# The statuses of pending releases, the only queue records without a downloadId (API-NOTES §2.1), lower-cased.
PENDING_STATUSES = frozenset({"delay", "downloadclientunavailable", "fallback"})
T = TypeVar("T")


def _raw(record: dict[str, Any]) -> dict[str, Any]:
    return record


class ArrClient:
    def __init__(self, app: str, instance: ArrInstance, transport: httpx.BaseTransport | None = None) -> None:
        if app not in set(App):
            raise ValueError(f"unsupported app {app!r}")
        self.app = App(app)
        self.name = instance.name
        self.url = instance.url
        self.qbittorrent = instance.qbittorrent  # the configured override of the download-client mapping
        self.version: str | None = None
        self._profile: Profile | None = None
        self._detected_at = 0.0
        self._api = apps.detection_api(self.app)  # until the version is known
        self._origin = httpx.URL(instance.url)
        # No TLS context for a plain-HTTP URL (each one loads the CA bundle: about a MiB; redirects are followed
        # only within this origin, so never to HTTPS).
        verify: ssl.SSLContext | bool = instance.url.lower().startswith("https:")
        if verify and instance.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(instance.ca_file))
        self._http = httpx.Client(
            base_url=instance.url,
            headers={"X-Api-Key": instance.api_key.get_secret_value(), "Accept": "application/json"},
            timeout=httpx.Timeout(instance.timeout, connect=min(5.0, instance.timeout)),
            transport=transport,
            verify=verify,
            follow_redirects=False,  # followed by hand, and only to the same origin: the API key stays home
        )

    @property
    def profile(self) -> Profile:
        """The app's profile (apps.py), detected from `system/status` on first use and every DETECT_EVERY."""
        if self._profile is None or time.monotonic() - self._detected_at > DETECT_EVERY:
            self._api = apps.detection_api(self.app)  # every version of the app still serves this one
            self.status()
        assert self._profile is not None
        return self._profile

    def _ensure(self) -> None:
        """The version is known (the API base depends on it)."""
        _ = self.profile

    # -- plumbing ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, read: bool, **kwargs: Any) -> httpx.Response:
        attempts = 1 + (READ_RETRIES if read else 0)
        for attempt in range(attempts):
            started = time.monotonic()
            try:
                response = self._send(method, self._api + path, **kwargs)
            except httpx.HTTPError as exc:
                self._report(method, path, None, started, short_error(exc, 120))
                if attempt + 1 < attempts:
                    time.sleep(0.5 * 3**attempt)
                    continue
                raise ServiceError(
                    self.name, f"{method} {path}: cannot reach {self.url} ({short_error(exc, 200)})"
                ) from None
            self._report(method, path, response.status_code, started)
            if response.status_code >= 500 and attempt + 1 < attempts:
                time.sleep(0.5 * 3**attempt)
                continue
            if response.status_code == 401:
                raise ServiceError(self.name, "401: the API key was refused: check api_key (Settings > General)")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, following redirects (a URL base the user forgot: the app answers 307) only within the
        configured origin: the X-Api-Key header is never sent to another host, port or scheme."""
        response = self._http.request(method, url, **kwargs)
        for _ in range(MAX_REDIRECTS):
            if not response.is_redirect:
                return response
            target = response.next_request
            if target is None:
                return response
            if _origin(target.url) != _origin(self._origin):
                there = f"{target.url.scheme}://{target.url.netloc.decode()}"
                raise ServiceError(
                    self.name,
                    f"{method} {urlsplit(url).path}: the app redirects to another address ({there}); the API key is not"
                    " sent there: put that address in this instance's url",
                )
            response = self._http.send(target)
        return response

    def _report(self, method: str, path: str, status: int | None, started: float, error: str = "") -> None:
        endpoint = self._api + path
        report_call(Call(self.name, self.app, method, endpoint, status, time.monotonic() - started, error))

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise ServiceError(self.name, f"{what}: HTTP {response.status_code} {_body(response)}")
        try:
            return response.json()
        except ValueError:
            raise ServiceError(self.name, f"{what}: the answer is not JSON ({_body(response)})") from None

    # -- reads ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        data = self._json(self._request("GET", "/system/status", read=True), "system/status")
        if not isinstance(data, dict) or "version" not in data:
            raise ServiceError(self.name, "system/status: not an *arr status answer (wrong URL?)")
        self.version = str(data["version"])
        found = apps.profile_for(self.app, self.version)
        if found != self._profile:
            log.info(
                "%s: %s %s, through %s (%s)", self.name, data.get("appName", ""), self.version, found.api, found.label
            )
        self._profile, self._api, self._detected_at = found, found.api, time.monotonic()
        return data

    def _paged(self, path: str, params: dict[str, Any], keep: Callable[[dict[str, Any]], T | None]) -> list[T]:
        """Every record of a paged list, or a ServiceError: a list read short is never taken for the whole list (the
        seed cleanup would take a torrent the app still owns for an orphan). Pages are read until as many distinct
        records as `totalRecords` were read, or a page brings none not seen yet (an empty page, or a queue page past
        the end, which repeats the last page). A short page is not the end: the app may cap the page size. A list
        that changed while it was read (a record moved to another page) is read once more before giving up.
        `keep` turns each record into what is kept (None: counted, not kept) page by page, so that the raw records
        of a long list are never all held at once."""
        what = path.strip("/")
        kept: list[T] = []
        read = total = 0
        for attempt in range(2):
            kept, read, total = self._pages(path, params, keep)
            if read >= total:
                return kept
            if attempt == 0:
                log.info("%s: %s read %d of its %d records; reading it again", self.name, what, read, total)
        raise ServiceError(
            self.name,
            f"{what}: read {read} of the {total} records it counts (short pages, or it changed while read "
            "twice): incomplete, not trusted",
        )

    def _pages(
        self, path: str, params: dict[str, Any], keep: Callable[[dict[str, Any]], T | None]
    ) -> tuple[list[T], int, int]:
        """One pass over the pages: what `keep` kept of the distinct records (by id), how many were read, and the
        last `totalRecords`."""
        what = path.strip("/")
        kept: list[T] = []
        seen: set[int] = set()
        read = total = 0
        for page in range(1, MAX_PAGES + 1):
            query = {"page": page, "pageSize": PAGE_SIZE, **params}
            data = self._json(self._request("GET", path, read=True, params=query), what)
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise ServiceError(self.name, f"{what}: not a paging envelope with records")
            count = data.get("totalRecords")
            if not isinstance(count, int) or isinstance(count, bool):
                # Without the count a short read cannot be told from the end: nothing is inferred from it.
                raise ServiceError(self.name, f"{what}: a page without totalRecords; not trusted")
            total = count
            new = 0
            for r in data["records"]:
                if not isinstance(r, dict):
                    continue
                rid = r.get("id")
                if isinstance(rid, int) and not isinstance(rid, bool):
                    if rid in seen:
                        continue  # a page past the end repeating the last one, or a record that moved
                    seen.add(rid)
                read += 1
                new += 1
                if (item := keep(r)) is not None:
                    kept.append(item)
            del data
            if read >= total or new == 0:
                break
        return kept, read, total

    def queue(self) -> list[QueueItem]:
        """The whole queue, every page, torrents only, pending items skipped. Unknown items (in the category but not
        grabbed by the app) are left out explicitly: Sonarr v5 would include them by default. The protocol is
        filtered here, not with `protocol=`: Readarr, Whisparr v2 and Radarr v4 do not take that filter."""
        p = self.profile
        params = {"sortKey": "timeleft", "sortDirection": "ascending", p.queue_unknown: "false"}

        def keep(record: dict[str, Any]) -> QueueItem | None:
            if str(record.get("protocol", "torrent")).lower() not in ("torrent", ""):
                return None
            if record.get("downloadId") and not _is_id(record.get("id")):
                # A record we cannot act on hides which download it is for: the whole queue read is not trusted,
                # or its torrent would look like nobody's.
                raise ServiceError(self.name, "queue: a record without a numeric id; the queue is not trusted")
            if not record.get("downloadId") and str(record.get("status") or "").lower() not in PENDING_STATUSES:
                # Only a pending release (held by a delay profile, or waiting for a client) has no downloadId. A
                # tracked download without one is a broken answer: skipped like a pending one, its torrent would look
                # like nobody's (never repaired, and a seed the opt-in cleanup may delete).
                status = record.get("status") or "none"
                raise ServiceError(
                    self.name,
                    f"queue: record {record.get('id', '?')} (status {status}) has no downloadId and is not a pending "
                    "release; the queue is not trusted",
                )
            return QueueItem.from_api(self.name, p, record)

        return self._paged("/queue", params, keep)

    def download_clients(self) -> list[DownloadClient]:
        """The app's download client definitions with their qBittorrent settings (host, port, urlBase, category;
        the password is masked by the app and never read)."""
        p = self.profile
        data = self._json(self._request("GET", p.download_client_path, read=True), "downloadclient")
        out: list[DownloadClient] = []
        for d in data if isinstance(data, list) else []:
            if not isinstance(d, dict):
                continue
            fields = {f.get("name"): f.get("value") for f in d.get("fields") or [] if isinstance(f, dict)}
            port = fields.get("port")
            out.append(
                DownloadClient(
                    name=str(d.get("name") or ""),
                    implementation=str(d.get("implementation") or ""),
                    host=str(fields.get("host") or ""),
                    port=port if isinstance(port, int) and not isinstance(port, bool) else 0,
                    use_ssl=fields.get("useSsl") is True,
                    url_base=str(fields.get("urlBase") or ""),
                    category=str(fields.get(p.category_field) or ""),
                    enabled=d.get("enable") is not False,
                )
            )
        return out

    def download_client_problem(self) -> str | None:
        """The app's own health checks saying it cannot reach its download client (then we hold our hands)."""
        self._ensure()
        data = self._json(self._request("GET", "/health", read=True), "health")
        for check in data if isinstance(data, list) else []:
            if not isinstance(check, dict):
                continue
            if check.get("source") in DOWNLOAD_CLIENT_CHECKS and str(check.get("type", "")).lower() == "error":
                return f"{self.name} reports its download client unavailable ({check.get('message', '')})"
        return None

    def blocklist(self) -> list[dict[str, Any]]:
        """Every blocklist entry (paged like the queue)."""
        self._ensure()
        return self._paged("/blocklist", {"sortKey": "date", "sortDirection": "descending"}, _raw)

    def delete_blocklist(self, blocklist_id: int) -> str:
        self._ensure()
        response = self._request("DELETE", f"/blocklist/{int(blocklist_id)}", read=False)
        if response.status_code == 404:
            return "gone"
        if response.status_code >= 400:
            raise ServiceError(self.name, f"DELETE blocklist/{blocklist_id}: HTTP {response.status_code}")
        return "deleted"

    # -- writes --------------------------------------------------------------------------------
    def remove(
        self, queue_id: int, *, remove_from_client: bool, blocklist: bool, skip_redownload: bool
    ) -> RemoveResult:
        """DELETE one queue item: REMOVED, or GONE when the queue no longer has it (404)."""
        params = {
            "removeFromClient": _b(remove_from_client),
            "blocklist": _b(blocklist),
            "skipRedownload": _b(skip_redownload),
        }
        self._ensure()
        response = self._request("DELETE", f"/queue/{int(queue_id)}", read=False, params=params)
        if response.status_code == 404:
            return RemoveResult.GONE
        if response.status_code >= 400:
            raise ServiceError(self.name, f"DELETE queue/{queue_id}: HTTP {response.status_code} {_body(response)}")
        return RemoveResult.REMOVED

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a command; the apps answer 201 (their specs say 200): any 2xx is success."""
        response = self._request("POST", self.profile.command_path, read=False, json=body)
        data = self._json(response, f"command {body.get('name')}")
        if not isinstance(data, dict):
            raise ServiceError(self.name, "command: unexpected answer")
        return data

    def has_command_since(self, body: dict[str, Any], since: float) -> bool:
        """Did a command equal to `body` reach the app at or after `since`? (resuming after a crash; the app
        keeps finished commands in this list for 5 minutes, so a much later restart searches again)"""
        data = self._json(self._request("GET", self.profile.command_path, read=True), "command list")
        for cmd in data if isinstance(data, list) else []:
            if not isinstance(cmd, dict) or str(cmd.get("name", "")).lower() != str(body["name"]).lower():
                continue
            queued = _timestamp(cmd.get("queued"))
            sent = {k: v for k, v in (cmd.get("body") or {}).items() if k in body}
            if queued is not None and queued >= since - 60 and same_command({**sent, "name": body["name"]}, body):
                return True
        return False

    def close(self) -> None:
        self._http.close()


def same_command(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal commands, lists compared as sets (the apps merge commands the same way)."""

    def norm(d: dict[str, Any]) -> dict[str, Any]:
        return {k.lower(): sorted(v) if isinstance(v, list) else v for k, v in d.items()}

    return {**norm(a), "name": str(a.get("name", "")).lower()} == {**norm(b), "name": str(b.get("name", "")).lower()}


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _b(value: bool) -> str:
    return "true" if value else "false"


def _body(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]
