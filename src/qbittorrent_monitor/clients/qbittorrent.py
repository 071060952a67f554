"""One qBittorrent instance, through qbittorrent-api (version-aware endpoints and login handled there).

Only cheap, scoped questions: torrents by hash (the ones the *arr queues name), the `errored` state filter,
trackers for suspects only, and the log tail since the last id we saw. Never the whole library each cycle.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import UserList
from collections.abc import Iterable
from typing import Any

import qbittorrentapi

from ..config import QBittorrentInstance
from ..model import LogEntry, Torrent, TrackerStatus
from . import ServiceError, short_error

log = logging.getLogger(__name__)
logging.getLogger("qbittorrentapi").setLevel(logging.WARNING)
logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry chatter; our own line says what failed

HASH_CHUNK = 200
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
    """The torrent name qBittorrent quotes in its alert lines (`... Torrent: "NAME". ...`)."""
    m = _TORRENT_IN_LOG.search(message)
    return m.group("name") if m else None


class QBittorrentClient:
    def __init__(self, instance: QBittorrentInstance) -> None:
        self.name = instance.name
        self.url = instance.url
        self._client = qbittorrentapi.Client(
            host=instance.url,
            username=instance.username,
            password=instance.password.get_secret_value(),
            VERIFY_WEBUI_CERTIFICATE=instance.verify_ssl,
            REQUESTS_ARGS={"timeout": (min(5.0, instance.timeout), instance.timeout)},
            RAISE_NOTIMPLEMENTEDERROR_FOR_UNIMPLEMENTED_API_ENDPOINTS=True,
            FORCE_SCHEME_FROM_HOST=True,  # http:// means http://: no probing for https
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
        )
        self.version: str | None = None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except qbittorrentapi.LoginFailed:
            raise ServiceError(self.name, "login refused: check qbittorrent username and password") from None
        except qbittorrentapi.Forbidden403Error:
            raise ServiceError(self.name, "403 forbidden: banned IP or no session (check the credentials)") from None
        except qbittorrentapi.HTTPError as exc:
            raise ServiceError(self.name, f"{what} failed: {short_error(exc)}") from None
        except qbittorrentapi.APIConnectionError as exc:
            raise ServiceError(self.name, f"{what}: cannot reach {self.url} ({connection_reason(exc)})") from None
        except qbittorrentapi.APIError as exc:
            raise ServiceError(self.name, f"{what} failed: {short_error(exc)}") from None
        except ValueError as exc:  # a body that is not what the API promises
            raise ServiceError(self.name, f"{what}: unexpected answer ({exc})") from None

    def check(self) -> str:
        """Log in and read the version: proves the service is reachable and the credentials work."""
        self._call("login", self._client.auth_log_in)
        version = str(self._call("version", self._client.app_version))
        self.version = version
        return version

    def torrents(self, hashes: Iterable[str]) -> list[Torrent]:
        wanted = sorted({h.lower() for h in hashes})
        out: list[Torrent] = []
        for i in range(0, len(wanted), HASH_CHUNK):
            chunk = wanted[i : i + HASH_CHUNK]
            rows = self._call("torrents/info", self._client.torrents_info, torrent_hashes=chunk)
            out.extend(self._parse(rows))
        return out

    def errored(self) -> list[Torrent]:
        """`filter=errored`: the `error` and `missingFiles` states, a cheap server-side filter."""
        return self._parse(self._call("torrents/info", self._client.torrents_info, status_filter="errored"))

    def all_torrents(self) -> list[Torrent]:
        """Every torrent: only for the opt-in cleanup of unregistered seeds, at most once per its interval."""
        return self._parse(self._call("torrents/info", self._client.torrents_info))

    @property
    def tracker_field_reliable(self) -> bool:
        """Before 5.1 the `tracker` field is empty when no tracker works; from 5.1 it is never empty."""
        if not self.version:
            return False
        parts = [int(p) for p in re.findall(r"\d+", self.version)[:2]] + [0, 0]
        return (parts[0], parts[1]) < (5, 1)

    def _parse(self, rows: Any) -> list[Torrent]:
        if not isinstance(rows, list | UserList):
            raise ServiceError(self.name, "torrents/info did not return a list")
        out = []
        for row in rows:
            try:
                out.append(Torrent.from_api(self.name, dict(row)))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("%s: skipping a malformed torrent entry (%s)", self.name, exc)
        return out

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
