"""One qBittorrent instance, through qbittorrent-api (version-aware endpoints and login handled there).

Only cheap, scoped questions: torrents by hash (the ones the *arr queues name), the `errored` state filter,
trackers for suspects only, and the log tail since the last id we saw. Never the whole library each cycle: the
whole library is read only for the opt-in seed cleanup (once per its interval) and for the tracker populations the
outage breaker asks for (once per `outage.window`).

What differs between qBittorrent versions is data, in `FEATURES` (compared with packaging.version).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections import UserList
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import qbittorrentapi
from packaging.version import InvalidVersion, Version

from ..config import QBittorrentInstance
from ..model import METADATA_STATES, Kind, LogEntry, Population, Torrent, TrackerStatus
from . import Call, ServiceError, report_call, short_error
from .logins import LoginGuard

log = logging.getLogger(__name__)
logging.getLogger("qbittorrentapi").setLevel(logging.WARNING)
logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry chatter; our own line says what failed

HASH_CHUNK = 200


class Feature:
    """Names of the version-dependent behaviours the monitor relies on."""

    PRIVATE_IN_INFO = "torrents/info carries `private` (null while metadata is missing)"
    TRACKER_FIELD_FIRST_URL = "torrents/info `tracker` is the first tracker's URL even when it never answered"
    INCLUDE_TRACKERS = "torrents/info?includeTrackers=true returns each torrent's tracker rows"
    TRACKER_ERROR_FLAGS = "sync/maindata marks each torrent has_tracker_error / has_other_announce_error"


FEATURES: dict[str, Version] = {
    Feature.PRIVATE_IN_INFO: Version("5.0"),
    Feature.TRACKER_FIELD_FIRST_URL: Version("5.1"),
    Feature.INCLUDE_TRACKERS: Version("5.1"),
    Feature.TRACKER_ERROR_FLAGS: Version("5.2"),
}
"""Each behaviour, and the first qBittorrent version that has it (observed on 4.5.2, 5.1.0 and 5.3.0)."""


def parse_version(text: str) -> Version | None:
    """`v4.5.2`, `5.1.0`, `v5.0.0beta1` -> Version; None when it cannot be read."""
    m = re.search(r"\d+(?:\.\d+)*", text or "")
    if not m:
        return None
    try:
        return Version(m.group(0))
    except InvalidVersion:
        return None


def supported(version: Version | None, feature: str) -> bool:
    """Whether a qBittorrent of this version has a behaviour (an unreadable version counts as the oldest)."""
    return version is not None and version >= FEATURES[feature]


@dataclass(frozen=True, slots=True)
class Listed:
    """A torrent as torrents/info lists it, with its tracker rows when the same call returned them."""

    torrent: Torrent
    trackers: tuple[TrackerStatus, ...] | None = None


def parse_listed(client: str, row: dict[str, Any], version: Version | None) -> Listed:
    """One torrents/info entry of a qBittorrent of this version (its trackers too when it sent them)."""
    working = not supported(version, Feature.TRACKER_FIELD_FIRST_URL)
    torrent = Torrent.from_api(client, row, tracker_field_is_working=working)
    rows = row.get("trackers")
    trackers = tuple(TrackerStatus.from_api(dict(r)) for r in rows) if isinstance(rows, list) else None
    return Listed(torrent, trackers)


@dataclass(frozen=True, slots=True)
class Populations:
    """qBittorrent's own count of its torrents, in all (`client`) and per tracker host (a torrent counts once per
    host it lists), with how many of each fail the ways this version can tell."""

    client: Population
    by_host: dict[str, Population]


ANNOUNCING_STATES = frozenset(
    {"downloading", "stalledDL", "forcedDL", "uploading", "stalledUP", "forcedUP", "metaDL", "forcedMetaDL"}
)
"""Running torrents: they announce, so an empty `tracker` field (before 5.1) means no tracker works for them."""
STATE_KINDS = {"error": Kind.FILE, "missingFiles": Kind.MISSING_FILES, "stalledDL": Kind.STALLED}
STATE_KINDS |= dict.fromkeys(METADATA_STATES, Kind.METADATA)
TRACKER_KINDS_COUNTED = (Kind.TRACKER, Kind.CONNECTION, Kind.AUTH, Kind.RATIO)


_TORRENT_IN_LOG = re.compile(r'Torrent: "(?P<name>.*?)"(?:\.|$)')


_REASONS = (
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "Network is unreachable",
    "timed out",
    "certificate verify failed",
    "Connection reset by peer",
)


def connection_reason(exc: BaseException) -> str:
    """The one useful phrase buried in a requests/urllib3 connection error."""
    text = str(exc)
    for reason in _REASONS:
        if reason.lower() in text.lower():
            return reason
    return short_error(exc, 160)


def log_torrent_name(message: str) -> str | None:
    """What qBittorrent quotes in its alert lines (`... Torrent: "NAME". ...`): the torrent's name, or its hash
    (resume failures quote the torrent id)."""
    m = _TORRENT_IN_LOG.search(message)
    return m.group("name") if m else None


class QBittorrentClient:
    def __init__(self, instance: QBittorrentInstance, logins: LoginGuard | None = None) -> None:
        self.name = instance.name
        self.url = instance.url
        password = instance.password.get_secret_value()
        self._client = qbittorrentapi.Client(
            host=instance.url,
            username=instance.username,
            password=password,
            VERIFY_WEBUI_CERTIFICATE=instance.verify_ssl,
            # Connect and read timeouts on every request; no silent retry under ours (a frozen qBittorrent must
            # show within one timeout, not four).
            REQUESTS_ARGS={"timeout": (min(5.0, instance.timeout), instance.timeout)},
            HTTPADAPTER_ARGS={"max_retries": 0},
            RAISE_NOTIMPLEMENTEDERROR_FOR_UNIMPLEMENTED_API_ENDPOINTS=True,
            FORCE_SCHEME_FROM_HOST=True,  # http:// means http://: no probing for https
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
        )
        self.version: str | None = None
        self._logins = logins or LoginGuard(None, time.time)
        self._credentials = self._logins.fingerprint(instance.url, instance.username, password)

    @property
    def parsed_version(self) -> Version | None:
        if self.version is None:
            self.version = str(self._call("version", self._client.app_version))
        return parse_version(self.version)

    def supports(self, feature: str) -> bool:
        """Whether this instance has a version-dependent behaviour."""
        return supported(self.parsed_version, feature)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if (blocked := self._logins.blocked(self.name, self._credentials)) is not None:
            raise ServiceError(self.name, blocked)  # not even asked: a wrong password must not become a ban
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            result = fn(*args, **kwargs)
            status = 200
            self._logins.succeeded(self.name)
            return result
        except qbittorrentapi.LoginFailed:
            error = "login refused"
            raise ServiceError(self.name, self._logins.refused(self.name, self._credentials)) from None
        except qbittorrentapi.Forbidden403Error:
            status, error = 403, "forbidden"
            raise ServiceError(self.name, self._logins.refused(self.name, self._credentials, banned=True)) from None
        except qbittorrentapi.HTTPError as exc:
            status, error = getattr(exc, "http_status_code", None), short_error(exc, 120)
            raise self._service_error(what, exc) from None
        except (qbittorrentapi.APIError, ValueError) as exc:
            error = short_error(exc, 120)
            raise self._service_error(what, exc) from None
        finally:
            report_call(Call(self.name, "qbittorrent", "API", what, status, time.monotonic() - started, error))

    def _service_error(self, what: str, exc: Exception) -> ServiceError:
        """What went wrong, said once, safely (the most specific exception first)."""
        if isinstance(exc, qbittorrentapi.HTTPError):
            return ServiceError(self.name, f"{what} failed: {short_error(exc)}")
        if isinstance(exc, qbittorrentapi.APIConnectionError):
            self.version = None  # it may come back upgraded: its version is read again
            return ServiceError(self.name, f"{what}: cannot reach {self.url} ({connection_reason(exc)})")
        if isinstance(exc, qbittorrentapi.APIError):
            return ServiceError(self.name, f"{what} failed: {short_error(exc)}")
        return ServiceError(self.name, f"{what}: unexpected answer ({exc})")  # a body not as the API promises

    def check(self) -> str:
        """Log in and read the version: proves the service is reachable and the credentials work."""
        self._call("login", self._client.auth_log_in)
        version = str(self._call("version", self._client.app_version))
        self.version = version
        return version

    def torrents(self, hashes: Iterable[str]) -> list[Listed]:
        """The torrents with these hashes (the ones the queues name), with their trackers where the same call can
        return them (5.1+): no request per torrent."""
        wanted = sorted({h.lower() for h in hashes})
        out: list[Listed] = []
        extra = self._inline_trackers()
        for i in range(0, len(wanted), HASH_CHUNK):
            chunk = wanted[i : i + HASH_CHUNK]
            rows = self._call("torrents/info", self._client.torrents_info, torrent_hashes=chunk, **extra)
            out.extend(self._parse(rows))
        return out

    def errored(self) -> list[Listed]:
        """`filter=errored`: the `error` and `missingFiles` states, a cheap server-side filter."""
        return self._parse(self._call("torrents/info", self._client.torrents_info, status_filter="errored"))

    def all_torrents(self) -> list[Listed]:
        """Every torrent (with its trackers on 5.1+): only for the opt-in cleanup of unregistered seeds, at most once
        per its interval."""
        return self._parse(self._call("torrents/info", self._client.torrents_info, **self._inline_trackers()))

    def _inline_trackers(self) -> dict[str, bool]:
        return {"include_trackers": True} if self.supports(Feature.INCLUDE_TRACKERS) else {}

    def _parse(self, rows: Any) -> list[Listed]:
        if not isinstance(rows, list | UserList):
            raise ServiceError(self.name, "torrents/info did not return a list")
        version = self.parsed_version
        out = []
        for row in rows:
            try:
                out.append(parse_listed(self.name, dict(row), version))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("%s: skipping a malformed torrent entry (%s)", self.name, exc)
        return out

    def populations(self) -> Populations:
        """How many torrents each tracker host has in this client, from sync/maindata's tracker map (every torrent
        that lists a tracker, whether it works or not). The whole library is in that answer, so the torrents are
        dropped while it is parsed: only the counts are kept."""
        raw = self._call(
            "sync/maindata",
            self._client._post,
            _name="sync",
            _method="maindata",
            data={"rid": 0},
            response_class=bytes,
        )
        try:
            return count_populations(raw, self.parsed_version)
        except ValueError as exc:
            raise ServiceError(self.name, f"sync/maindata: {exc}") from None

    def trackers(self, torrent_hash: str) -> tuple[TrackerStatus, ...]:
        rows = self._call("torrents/trackers", self._client.torrents_trackers, torrent_hash=torrent_hash)
        return tuple(TrackerStatus.from_api(dict(r)) for r in rows)

    def is_private(self, torrent_hash: str) -> bool | None:
        """4.x has no `private` in torrents/info: ask the properties of this one torrent."""
        props = self._call("torrents/properties", self._client.torrents_properties, torrent_hash=torrent_hash)
        value = props.get("is_private", props.get("private"))
        return value if isinstance(value, bool) else None

    def add_tags(self, torrent_hash: str, tags: list[str]) -> None:
        self._call("torrents/addTags", self._client.torrents_add_tags, tags=tags, torrent_hashes=[torrent_hash])

    def delete(self, torrent_hash: str, *, delete_files: bool) -> None:
        self._call(
            "torrents/delete", self._client.torrents_delete, delete_files=delete_files, torrent_hashes=[torrent_hash]
        )

    def log_since(self, last_known_id: int) -> list[LogEntry]:
        """Warnings and critical lines after `last_known_id` (where qBittorrent explains `error` states)."""
        rows = self._call(
            "log/main",
            self._client.log_main,
            normal=False,
            info=False,
            warning=True,
            critical=True,
            last_known_id=last_known_id,
        )
        return [LogEntry.from_api(dict(r)) for r in rows]

    def connection_status(self) -> str:
        info = self._call("transfer/info", self._client.transfer_info)
        return str(info.get("connection_status", "unknown"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.auth_log_out()


def count_populations(raw: bytes, version: Version | None) -> Populations:
    """Count a full sync/maindata answer (the whole library): its torrents in all and per tracker host, and how many
    of them fail. Each torrent is reduced to four fields while it is parsed; nothing else of the answer is kept.

    A torrent whose trackers fail: 5.2+ says so per torrent (has_tracker_error, has_other_announce_error); before
    5.1 a running torrent's empty `tracker` field means no tracker works; 5.1 cannot tell (only our own candidates
    count as failing then)."""
    try:
        doc = json.loads(raw, object_pairs_hook=_reduce_torrent)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"unexpected answer ({short_error(exc, 120)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("trackers"), dict):
        raise ValueError("no tracker map in the answer")
    raw_torrents = doc.get("torrents")
    torrents: dict[str, Any] = raw_torrents if isinstance(raw_torrents, dict) else {}
    flags, field_works = (
        supported(version, Feature.TRACKER_ERROR_FLAGS),
        not supported(version, Feature.TRACKER_FIELD_FIRST_URL),
    )

    def tracker_fails(t: _Reduced) -> bool | None:
        if flags:
            return t.tracker_error
        if field_works:
            return t.state in ANNOUNCING_STATES and not t.tracker
        return None

    by_state: dict[str, int] = {}
    not_working = 0
    for t in torrents.values():
        if isinstance(t, _Reduced):
            if kind := STATE_KINDS.get(t.state):
                by_state[kind.value] = by_state.get(kind.value, 0) + 1
            not_working += bool(tracker_fails(t))
    known = flags or field_works
    client_failing = dict(by_state) | ({Kind.CONNECTION.value: not_working} if known else {})
    hashes_by_host: dict[str, set[str]] = {}
    for url, hashes in doc["trackers"].items():
        host = urlsplit(str(url)).hostname or ""
        if host and isinstance(hashes, list):
            hashes_by_host.setdefault(host, set()).update(str(h) for h in hashes)
    by_host = {}
    for host, hashes in hashes_by_host.items():
        failing: dict[str, int] = {}
        if known:
            n = sum(1 for h in hashes if isinstance(t := torrents.get(h), _Reduced) and tracker_fails(t))
            failing = dict.fromkeys((k.value for k in TRACKER_KINDS_COUNTED), n)
        by_host[host] = Population(len(hashes), failing)
    return Populations(Population(len(torrents), client_failing), by_host)


@dataclass(frozen=True, slots=True)
class _Reduced:
    state: str
    tracker: str
    tracker_error: bool


def _reduce_torrent(pairs: list[tuple[str, Any]]) -> Any:
    """json object hook for sync/maindata: a torrent (the only objects with a `state`) becomes four fields."""
    d = dict(pairs)
    if "state" in d and "name" in d:
        errors = bool(d.get("has_tracker_error")) or bool(d.get("has_other_announce_error"))
        return _Reduced(str(d.get("state") or ""), str(d.get("tracker") or ""), errors)
    return d
