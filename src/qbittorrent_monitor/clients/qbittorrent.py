"""One qBittorrent instance over its WebUI API, with httpx (the one HTTP stack of every adapter; it costs a third
of qbittorrent-api's CPU per request here, see bench/results.md).

Only cheap, scoped questions: torrents by hash (the ones the *arr queues name, with their tracker rows from 5.1),
the `errored` state filter, trackers of 4.x suspects, and the log tail since the last id seen. Never the whole
library each cycle: it is read only for the opt-in seed cleanup (once per its interval) and for the counts the
outage breaker asks for (once per `outage.window`).

Authentication, as each version allows: a session cookie from `auth/login` (`SID`, or `QBT_SID_<port>` from 5.2;
answered `Ok.` or 204, refused with `Fails.` or 401, banned with 403), an API key sent as a Bearer token (5.2+), or
HTTP Basic (5.2+). Only qBittorrent's own refusal counts against the credentials: any other answer to a login (a
proxy's 502, a redirect, an HTML page) is an outage retried next cycle, and a 401 an anonymous request gets too is
the door (Host header validation, CSRF, a proxy), not the password. An expired session is renewed once per request,
and refused credentials are never tried again before `LoginGuard` allows it. The version is read again after each
login and every DETECT_EVERY. What differs between versions is data, in `FEATURES`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
from packaging.version import Version

from ..apps import parse_version
from ..config import QBittorrentInstance
from ..logs import iso_time
from ..model import STATE_KINDS, Kind, LogEntry, Population, Torrent, TrackerStatus
from . import Call, ServiceError, report_call, short_error
from .logins import LoginGuard, Refusal

log = logging.getLogger(__name__)

HASH_CHUNK = 200
DETECT_EVERY = 3600.0  # seconds, as ArrClient's: an upgrade in place is noticed within the hour even with no login


class Feature:
    """Names of the version-dependent behaviours the monitor relies on."""

    PRIVATE_IN_INFO = "torrents/info carries `private` (null while metadata is missing)"
    TRACKER_FIELD_FIRST_URL = "torrents/info `tracker` is the first tracker's URL even when it never answered"
    INCLUDE_TRACKERS = "torrents/info?includeTrackers=true returns each torrent's tracker rows"
    TRACKER_ERROR_FLAGS = "sync/maindata marks each torrent has_tracker_error / has_other_announce_error"
    CONTENT_REMOVE_OPTION = "app/preferences torrent_content_remove_option (MoveToTrash by default)"
    API_KEY = "an API key, sent as a Bearer token, instead of a login"
    BASIC_AUTH = "HTTP Basic credentials on any request, instead of a login"
    LOGIN_401 = "auth/login answers 204, and 401 to wrong credentials (was 200 `Ok.` / `Fails.`)"


FEATURES: dict[str, Version] = {
    Feature.PRIVATE_IN_INFO: Version("5.0"),
    Feature.CONTENT_REMOVE_OPTION: Version("5.0"),
    Feature.API_KEY: Version("5.2"),
    Feature.BASIC_AUTH: Version("5.2"),
    Feature.LOGIN_401: Version("5.2"),
    Feature.TRACKER_FIELD_FIRST_URL: Version("5.1"),
    Feature.INCLUDE_TRACKERS: Version("5.1"),
    Feature.TRACKER_ERROR_FLAGS: Version("5.2"),
}
"""Each behaviour, and the first qBittorrent version that has it (observed on 4.5.2, 5.1.0 and 5.3.0)."""


class LoginAnswer(Enum):
    OK = "logged in"
    REFUSED = "qBittorrent refused the credentials"
    BANNED = "qBittorrent banned this IP"
    UNAUTHORIZED = "401: refused credentials (5.2+) or refused at the door (Host header, CSRF, a proxy)"
    DOOR_CLOSED = "refused before the credentials were looked at"
    UNEXPECTED = "not an answer of qBittorrent's login"


def login_answer(status: int, body: str) -> LoginAnswer:
    """What an auth/login answer says (API-NOTES §6.2: 200 `Ok.`/`Fails.` up to 5.1, 204/401 from 5.2, 403 banned).
    Only qBittorrent's own words count as a refusal: a proxy's 502 or 404, a redirect, an HTML login page or an
    empty 200 say nothing about the password."""
    text = body.strip()
    if status == 204 or (status == 200 and text == "Ok."):
        return LoginAnswer.OK
    if status == 200 and text == "Fails.":
        return LoginAnswer.REFUSED
    if status == 403:
        return LoginAnswer.BANNED
    if status == 401:
        return LoginAnswer.UNAUTHORIZED
    return LoginAnswer.UNEXPECTED


DOOR_CLOSED = (
    "401 Unauthorized before the credentials were looked at: qBittorrent's Host header validation (the port in the"
    " URL must be the WebUI's own port: a container published on another port fails it; or turn off Options > WebUI"
    " > 'Enable Host header validation'), its CSRF protection, or a reverse proxy's own authentication refused the"
    " request; tried again next cycle"
)


class AuthMode(Enum):
    LOGIN = "a username and password at auth/login (a session cookie)"
    API_KEY = "an API key, sent as a Bearer token"
    BASIC = "HTTP Basic credentials on each request"


_FIX_LOGIN = (
    "Fix `password` (or `username`) of qBittorrent instance {name!r} in the configuration (for the first instance:"
    " QBITTORRENT_PASSWORD, QBITTORRENT_USERNAME), then send SIGHUP or restart the monitor"
)


def refusal_text(name: str, auth: AuthMode, refusal: Refusal, version: Version | None) -> str:
    """What to tell the user about credentials qBittorrent refused: what was refused, when it is tried again (a time
    that stays the same from one cycle to the next, so the problem is logged once), and the field to fix."""
    retry = refusal.retry_at()
    when = f"not tried again before {iso_time(retry)}" if retry is not None else "not tried again"
    fix = _FIX_LOGIN.format(name=name)
    if auth is AuthMode.LOGIN and refusal.banned:
        return (
            "qBittorrent answered 403 Forbidden to the login: this IP is banned after too many failed logins"
            " (WebUI\\MaxAuthenticationFailCount, 5 by default), and refuses even the right password until the ban"
            f" ends (WebUI\\BanDuration, 1 hour by default); {when}, when a default ban has ended, or restart"
            " qBittorrent to lift it at once. First check the password and whatever else logs in from this IP (a"
            " browser, another tool), and that no reverse proxy in front of qBittorrent answers 403 itself."
            f" {fix}"
        )
    if auth is AuthMode.LOGIN:
        return (
            f"qBittorrent refused this username and password {refusal.tries} time(s); {when} with the same"
            f" credentials, so that qBittorrent never bans this IP (it bans after 5 failures). {fix}"
        )
    feature = Feature.API_KEY if auth is AuthMode.API_KEY else Feature.BASIC_AUTH
    if version is not None and not supported(version, feature):
        return (
            f"qBittorrent {version} has no {'API keys' if auth is AuthMode.API_KEY else 'HTTP Basic'} (5.2 or later"
            f" only): {'remove `api_key`' if auth is AuthMode.API_KEY else 'set `auth: login`'} of qBittorrent"
            f" instance {name!r} in the configuration and log in with `username` and `password`"
        )
    if auth is AuthMode.API_KEY:
        return (
            f"qBittorrent refused the API key {refusal.tries} time(s); {when} with the same key. Copy the key again"
            f" from qBittorrent (Options > WebUI > API key) into `api_key` of qBittorrent instance {name!r} in the"
            " configuration, then send SIGHUP or restart the monitor. API keys need qBittorrent 5.2 or later: an older"
            " one answers 403 to any key (then remove `api_key` and log in with `username` and `password`)"
        )
    if refusal.banned:
        return (
            "qBittorrent answered 403 Forbidden to HTTP Basic: it is older than 5.2 and has no HTTP Basic (then set"
            f" `auth: login` of qBittorrent instance {name!r}), or it banned this IP after too many failed logins"
            f" (restart qBittorrent to lift the ban); {when}. {fix}"
        )
    return (
        f"qBittorrent refused the HTTP Basic username and password {refusal.tries} time(s) (`auth: basic`); {when}"
        f" with the same credentials, so that qBittorrent never bans this IP (it bans after 5 failures). {fix}"
    )


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
    """The one useful phrase buried in a connection error."""
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


_SKIPPED = object()  # a torrents/info entry that could not be read (logged, left out)


class QBittorrentClient:
    """One qBittorrent instance: one keep-alive httpx connection, JSON read straight into the model."""

    def __init__(
        self,
        instance: QBittorrentInstance,
        logins: LoginGuard | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = instance.name
        self.url = instance.url
        self._instance = instance
        api_key = instance.api_key.get_secret_value()
        password = instance.password.get_secret_value()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        auth = httpx.BasicAuth(instance.username, password) if instance.auth == "basic" else None
        self._http = httpx.Client(
            base_url=instance.url + "/api/v2",
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(instance.timeout, connect=min(5.0, instance.timeout)),
            verify=_verify(instance),
            transport=transport,
            follow_redirects=False,
        )
        self._auth = AuthMode.API_KEY if api_key else AuthMode.BASIC if instance.auth == "basic" else AuthMode.LOGIN
        self._cookie_login = self._auth is AuthMode.LOGIN
        self._logged_in = False
        self.version: str | None = None
        self._clock = clock
        self._version_read_at = 0.0
        self._last_version: str | None = None  # what the last reading said (`version` is cleared at each login)
        self._logins = logins or LoginGuard(None, time.time)
        secret = api_key or password
        self._credentials = self._logins.fingerprint(instance.url, instance.username, secret)

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _request(self, method: str, endpoint: str, *, what: str = "", **kwargs: Any) -> httpx.Response:
        """One request, logged in first (cookie auth), renewed once if the session expired (403). Credentials
        qBittorrent refused are remembered by the LoginGuard and not tried again before it allows: with a cookie
        that is the next login, with an API key or HTTP Basic (no login: every request carries them) the next
        request."""
        what = what or endpoint
        if self._cookie_login and not self._logged_in:
            self._login()
        elif not self._cookie_login:
            self._refuse_if_blocked()
        response = self._send(method, endpoint, what, **kwargs)
        if response.status_code == 403 and self._cookie_login:
            self._logged_in = False  # the session expired (qBittorrent restarted): once, never a storm
            self._login()
            response = self._send(method, endpoint, what, **kwargs)
        if response.status_code in (401, 403) and not self._cookie_login:  # the API key or Basic credentials
            self._credentials_refused(response.status_code)
        if response.status_code == 403:
            raise ServiceError(self.name, f"{what}: 403 Forbidden even after logging in again")
        if response.status_code >= 400:
            raise ServiceError(self.name, f"{what}: HTTP {response.status_code} {_body(response)}")
        self._logins.succeeded(self.name, self._credentials)
        return response

    def _refuse_if_blocked(self) -> None:
        if self._logins.cannot_record is not None:
            raise ServiceError(
                self.name,
                f"not logging in: {self._logins.cannot_record}. A refused login could not be remembered, and each new"
                " run would try again (qBittorrent bans this IP after 5 failures)",
            )
        if (refusal := self._logins.blocked(self.name, self._credentials)) is not None:
            raise self._refusal_error(refusal)  # not even asked: a wrong password must not become a ban

    def _refused(self, *, banned: bool = False) -> ServiceError:
        return self._refusal_error(self._logins.refused(self.name, self._credentials, banned=banned))

    def _refusal_error(self, refusal: Refusal) -> ServiceError:
        return ServiceError(self.name, refusal_text(self.name, self._auth, refusal, parse_version(self._last_version)))

    def _credentials_refused(self, status: int) -> None:
        """An API key or HTTP Basic request answered 401/403 (measured on 5.3.0: a wrong key 403, wrong Basic 401;
        4.5.2 answers 403 to both, having neither)."""
        if status == 401 and self._anonymous_status() != 403:
            raise ServiceError(self.name, DOOR_CLOSED)  # not the credentials: the door (Host header, a proxy)
        # a 403 to Basic is a ban on 5.2+ (or no Basic at all before it): waited out like a ban
        raise self._refused(banned=status == 403 and self._auth is AuthMode.BASIC)

    def _send(self, method: str, endpoint: str, what: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._http.request(method, "/" + endpoint, **kwargs)
        except httpx.HTTPError as exc:
            seconds = time.monotonic() - started
            report_call(Call(self.name, "qbittorrent", method, endpoint, None, seconds, short_error(exc, 120)))
            self.version = None  # it may come back upgraded: its version is read again
            raise ServiceError(self.name, f"{what}: cannot reach {self.url} ({connection_reason(exc)})") from None
        report_call(Call(self.name, "qbittorrent", method, endpoint, response.status_code, time.monotonic() - started))
        return response

    def _login(self) -> None:
        """auth/login. Only qBittorrent's own refusal (`Fails.`, or 401 from 5.2) is recorded as refused credentials
        and 403 as a ban; any other answer (a proxy's 502/404 while qBittorrent starts, a redirect, an HTML page, an
        empty 200) is an outage, tried again next cycle and never counted against the credentials."""
        self._refuse_if_blocked()
        form = {"username": self._instance.username, "password": self._instance.password.get_secret_value()}
        response = self._send("POST", "auth/login", "login", data=form)
        answer = login_answer(response.status_code, response.text)
        if answer is LoginAnswer.UNAUTHORIZED:
            answer = self._unauthorized_answer()
        if answer is LoginAnswer.BANNED:
            raise self._refused(banned=True)
        if answer is LoginAnswer.REFUSED:
            raise self._refused()
        if answer is LoginAnswer.DOOR_CLOSED:
            raise ServiceError(self.name, f"login: {DOOR_CLOSED}")
        if answer is LoginAnswer.UNEXPECTED:
            raise ServiceError(
                self.name,
                f"login: unexpected answer HTTP {response.status_code} {_body(response) or '(empty)'}: not"
                " qBittorrent's (a reverse proxy while qBittorrent starts, or the wrong URL); tried again next cycle",
            )
        self._logged_in = True
        self.version = None  # a new session may be a new qBittorrent (upgraded in place): its version is read again

    def _unauthorized_answer(self) -> LoginAnswer:
        """A 401 to auth/login is qBittorrent 5.2+ refusing the credentials, or (any version, or a proxy in front)
        refusing the request before looking at them: Host header validation, the CSRF check, a proxy's own auth.
        An anonymous app/version tells which, and costs no login: refused at the door it answers 401 too, past the
        door 403 (not logged in)."""
        if self.version is not None and not self.supports(Feature.LOGIN_401):
            return LoginAnswer.DOOR_CLOSED  # before 5.2 a wrong password is `Fails.`, never 401
        anonymous = self._anonymous_status()
        if anonymous == 403:
            return LoginAnswer.REFUSED
        return LoginAnswer.DOOR_CLOSED if anonymous == 401 else LoginAnswer.UNEXPECTED

    def _anonymous_status(self) -> int | None:
        """app/version without credentials (no login, so never counted toward a ban): its status, None if none."""
        request = self._http.build_request("GET", "/app/version")
        request.headers.pop("Authorization", None)
        started = time.monotonic()
        try:
            status = self._http.send(request, auth=None).status_code
        except httpx.HTTPError as exc:
            report_call(
                Call(self.name, "qbittorrent", "GET", "app/version", None, time.monotonic() - started, str(exc))
            )
            return None
        report_call(Call(self.name, "qbittorrent", "GET", "app/version", status, time.monotonic() - started))
        return status

    def _json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        return self._decoded(endpoint, self._request(method, endpoint, **kwargs))

    def _decoded(self, endpoint: str, response: httpx.Response, object_hook: Callable[..., Any] | None = None) -> Any:
        try:
            return response.json(object_hook=object_hook)
        except ValueError:
            raise ServiceError(self.name, f"{endpoint}: the answer is not JSON ({_body(response)})") from None

    # -- the version ---------------------------------------------------------------------------------------------
    @property
    def parsed_version(self) -> Version | None:
        """The version, read after each login (qBittorrent may have been upgraded while it was away) and every
        DETECT_EVERY (an API key or HTTP Basic never logs in)."""
        if self.version is None or self._clock() - self._version_read_at > DETECT_EVERY:
            self._detect_version()
        return parse_version(self.version)

    def _detect_version(self) -> None:
        """Read the version; after a login (or the first time) and when it changed, say what the monitor must warn
        about this qBittorrent (once per login or change, not every cycle)."""
        after_login = self.version is None
        text = self._request("GET", "app/version", what="version").text.strip()
        changed = text != self._last_version
        if self._last_version is not None and changed:
            log.info("%s: qBittorrent is now %s (was %s)", self.name, text, self._last_version)
        self.version = self._last_version = text
        self._version_read_at = self._clock()
        if after_login or changed:
            try:
                self._warn_about_trash()
            except ServiceError as exc:  # a warning only: the cycle goes on, the next login asks again
                log.debug("%s: cannot read the preferences (%s)", self.name, exc.message)

    def supports(self, feature: str) -> bool:
        """Whether this instance has a version-dependent behaviour."""
        return supported(self.parsed_version, feature)

    def check(self) -> str:
        """Log in and read the version: proves the service is reachable and the credentials work."""
        self._logged_in = False
        self.version = None
        version = self.parsed_version  # and the trash warning, as after every login
        return self.version or str(version)

    def _warn_about_trash(self) -> None:
        """qBittorrent 5 moves deleted content to the trash by default: a removal then frees no space."""
        if not self.supports(Feature.CONTENT_REMOVE_OPTION):
            return
        prefs = self._json("GET", "app/preferences")
        option = prefs.get("torrent_content_remove_option") if isinstance(prefs, dict) else None
        if option == "MoveToTrash":
            log.warning(
                "%s: qBittorrent moves deleted torrents' data to the trash (Options > Advanced > 'Torrent content"
                " removing mode'): removals will not free disk space until the trash is emptied",
                self.name,
            )

    # -- reads ---------------------------------------------------------------------------------------------------
    def torrents(self, hashes: Iterable[str]) -> list[Listed]:
        """The torrents with these hashes (the ones the queues name), with their trackers where the same call can
        return them (5.1+): no request per torrent."""
        wanted = sorted({h.lower() for h in hashes})
        out: list[Listed] = []
        extra = self._inline_trackers()
        for i in range(0, len(wanted), HASH_CHUNK):
            form = {"hashes": "|".join(wanted[i : i + HASH_CHUNK]), **extra}
            out.extend(self._listed("POST", data=form))
        return out

    def errored(self) -> list[Listed]:
        """`filter=errored`: the `error` and `missingFiles` states, a cheap server-side filter."""
        return self._listed("GET", params={"filter": "errored"})

    def all_torrents(self) -> list[Listed]:
        """Every torrent (with its trackers on 5.1+): only for the opt-in cleanup of unregistered seeds, at most once
        per its interval."""
        return self._listed("GET", params=self._inline_trackers())

    def _inline_trackers(self) -> dict[str, str]:
        return {"includeTrackers": "true"} if self.supports(Feature.INCLUDE_TRACKERS) else {}

    def _listed(self, method: str, **kwargs: Any) -> list[Listed]:
        """torrents/info, each entry made a Listed the moment the JSON decoder has read it (`object_hook`): a page's
        raw entries (some 4 KiB of Python objects per torrent, 0.8 MiB for 200) are never all held at once, which
        was the largest part of a cycle's peak memory. Tracker rows inside an entry (5.1+) stay plain until their
        entry is read. A malformed entry is skipped with a warning; an answer that is not a list is refused."""
        skipped: list[str] = []
        version: Version | None = None

        def entry(obj: dict[str, Any]) -> Any:
            if "hash" not in obj:  # a tracker row, or not a torrent at all (then refused below)
                return obj
            try:
                return parse_listed(self.name, obj, version)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                skipped.append(f"{type(exc).__name__}: {exc}")
                return _SKIPPED

        response = self._request(method, "torrents/info", **kwargs)
        version = self.parsed_version  # after the request: a re-login on the way read the version again
        rows = self._decoded("torrents/info", response, entry)
        if not isinstance(rows, list):
            raise ServiceError(self.name, "torrents/info did not return a list")
        out = [row for row in rows if isinstance(row, Listed)]
        others = [row for row in rows if row is not _SKIPPED and not isinstance(row, Listed)]
        skipped += [f"not a torrent entry: {type(row).__name__}" for row in others]
        for why in skipped:
            log.warning("%s: skipping a malformed torrent entry (%s)", self.name, why)
        return out

    def populations(self) -> Populations:
        """qBittorrent's own count of every tracker's torrents, from one full sync/maindata (the whole library: its
        torrents are reduced to four fields while it is parsed)."""
        response = self._request("POST", "sync/maindata", data={"rid": "0"})
        try:
            return count_populations(response.content, self.parsed_version)
        except ValueError as exc:
            raise ServiceError(self.name, f"sync/maindata: {exc}") from None

    def trackers(self, torrent_hash: str) -> tuple[TrackerStatus, ...]:
        rows = self._json("GET", "torrents/trackers", params={"hash": torrent_hash})
        if not isinstance(rows, list):
            raise ServiceError(self.name, "torrents/trackers did not return a list")
        return tuple(TrackerStatus.from_api(r) for r in rows if isinstance(r, dict))

    def is_private(self, torrent_hash: str) -> bool | None:
        """4.x has no `private` in torrents/info: ask the properties of this one torrent."""
        props = self._json("GET", "torrents/properties", params={"hash": torrent_hash})
        value = props.get("is_private", props.get("private")) if isinstance(props, dict) else None
        return value if isinstance(value, bool) else None

    def log_since(self, last_known_id: int) -> list[LogEntry]:
        """Warnings and critical lines after `last_known_id` (where qBittorrent explains `error` states)."""
        params = {"normal": "false", "info": "false", "warning": "true", "critical": "true"}
        rows = self._json("GET", "log/main", params={**params, "last_known_id": str(last_known_id)})
        if not isinstance(rows, list):
            raise ServiceError(self.name, "log/main did not return a list")
        return [LogEntry.from_api(r) for r in rows if isinstance(r, dict)]

    def connection_status(self) -> str:
        info = self._json("GET", "transfer/info")
        if not isinstance(info, dict):
            raise ServiceError(self.name, "transfer/info did not return an object")
        return str(info.get("connection_status", "unknown"))

    # -- writes --------------------------------------------------------------------------------------------------
    def add_tags(self, torrent_hash: str, tags: list[str]) -> None:
        self._request("POST", "torrents/addTags", data={"hashes": torrent_hash, "tags": ",".join(tags)})

    def delete(self, torrent_hash: str, *, delete_files: bool) -> None:
        form = {"hashes": torrent_hash, "deleteFiles": "true" if delete_files else "false"}
        self._request("POST", "torrents/delete", data=form)

    def close(self) -> None:
        if self._logged_in:
            with contextlib.suppress(ServiceError, httpx.HTTPError):
                self._send("POST", "auth/logout", "logout")
        self._http.close()


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


def _verify(instance: QBittorrentInstance) -> bool | str:
    """No TLS context for a plain-HTTP URL (each one loads the CA bundle: about a MiB), else the configured one."""
    if not instance.url.lower().startswith("https:"):
        return False
    return instance.ca_file if instance.ca_file else instance.verify_ssl


def _body(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:200]
