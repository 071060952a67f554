"""Configuration: one YAML file, environment overrides, strict validation.

Every mistake is reported once, naming the field and how to fix it (`ConfigError`); the CLI turns it into
exit code 2. Unknown keys are errors: a typo must never be silently ignored.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import platformdirs
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .apps import App
from .model import Kind

CONTAINER_DATA_DIR = Path("/config")
APP_NAME = "qbittorrent-monitor"


def default_data_dir() -> Path:
    """`/config` where it exists (the container's volume), else the platform's user data dir: a pip user never
    gets a folder created at the filesystem root."""
    if CONTAINER_DATA_DIR.is_dir():
        return CONTAINER_DATA_DIR
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def describe_data_dir(config: Config, env: dict[str, str]) -> str:
    """Where the data directory in use comes from (printed at start: a pip user sees where their state lives)."""
    default, why = data_dir_from(env)
    return why if config.monitor.data_dir == default else "monitor.data_dir in the configuration"


def data_dir_from(env: dict[str, str]) -> tuple[Path, str]:
    """The data dir before the configuration is read (it holds the configuration), and where that choice came from."""
    if env.get("DATA_DIR"):
        return Path(env["DATA_DIR"]), "the DATA_DIR environment variable"
    if CONTAINER_DATA_DIR.is_dir():
        return CONTAINER_DATA_DIR, "the container volume /config"
    return default_data_dir(), "the user data directory (no /config here, no DATA_DIR set)"


class ConfigError(Exception):
    """A configuration problem the user must fix; the message names the field and the fix."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> float:
    """`90`, `"90s"`, `"15m"`, `"6h"`, `"1.5d"` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 6h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration: use e.g. 30s, 15m, 6h, 2d or a number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class MonitorSettings(_Strict):
    check_interval: Duration = Field(300, description="seconds between two cycles")
    cycle_budget: Duration = Field(
        120, description="a cycle running longer than this marks the monitor degraded in /health (a service is slow)"
    )
    dry_run: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Field(default_factory=default_data_dir)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("check_interval")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v < 1:
            raise ValueError("must be at least 1 second")
        return v


class LoggingSettings(_Strict):
    format: Literal["text", "json"] = Field("text", description="json: one JSON object per line")


class HealthSettings(_Strict):
    enabled: bool = True
    bind: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)


_ADDRESS = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}(?:/[\w./-]*)?$")  # host:port[/base], a URL without its scheme


def _check_url(v: str) -> str:
    if not re.match(r"^https?://[^/\s]+", v):
        # What is not a URL may be a password or an API key pasted into the wrong field or variable
        # (QBITTORRENT_URL=<the password>), and this message goes to the console and the logs: the value is shown only
        # when it is the usual slip, an address without its scheme (`qbittorrent:8080`, `10.0.0.5:8080/qbt`).
        if _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not an http(s) URL: write it like http://{v}")
        if "://" not in v:
            why = "it does not start with http:// or https://"
        elif not re.match(r"^https?://", v, re.IGNORECASE):
            why = "its scheme is not http or https"
        else:
            why = "no host follows http(s)://"
        raise ValueError(
            f"is not an http(s) URL ({why}; the value is not shown, it may be a secret): write it like "
            "http://qbittorrent:8080 (a URL base like /sonarr may follow)"
        )
    parts = urlsplit(v)
    if "@" in parts.netloc:
        # Credentials in a URL end up in error messages and /health: they belong in their own fields.
        raise ValueError("must not contain credentials (user:password@): use the username/password or api_key fields")
    if parts.query or parts.fragment:
        # `?apikey=...` would be echoed in errors and /health; the key has its own field.
        raise ValueError(
            "must not contain a query string or fragment (?apikey=... belongs in api_key): write only scheme, host, "
            "port and URL base"
        )
    return v.rstrip("/")


def _text_secret(v: Any) -> Any:
    """YAML reads unquoted digits as a number (and 0123 as 83): a password or key must be written as text."""
    if isinstance(v, bool | int | float):
        raise ValueError(
            "is not text: YAML reads an unquoted value like 20242024 as a number (and 0123 as 83); put it in quotes, "
            'e.g. password: "20242024"'
        )
    return v


Secret = Annotated[SecretStr, BeforeValidator(_text_secret)]


class QBittorrentInstance(_Strict):
    name: str = "qbittorrent"
    url: str
    username: Annotated[str, BeforeValidator(_text_secret)] = "admin"
    password: Secret = SecretStr("")
    api_key: Secret = Field(
        SecretStr(""),
        description="qBittorrent 5.2+: an API key (sent as Bearer) instead of a login (username/password unused)",
    )
    auth: Literal["login", "basic"] = Field(
        "login", description="login: the WebUI session cookie; basic: HTTP Basic (a reverse proxy, or 5.3's WebUI)"
    )
    verify_ssl: bool = True
    ca_file: str = Field("", description="a CA bundle to verify an https URL with (a self-signed certificate)")
    timeout: Duration = 15

    _url = field_validator("url")(classmethod(lambda cls, v: _check_url(v)))

    @model_validator(mode="after")
    def _one_way_in(self) -> QBittorrentInstance:
        # Both would send an Authorization header; one would silently win. Say it instead.
        if self.api_key.get_secret_value() and self.auth == "basic":
            raise ValueError(
                "api_key and `auth: basic` are two ways to log in and only one can be used: remove api_key to send"
                " username and password with HTTP Basic, or remove `auth: basic` to use the API key (qBittorrent 5.2+)"
            )
        return self


class ArrInstance(_Strict):
    name: str = ""
    url: str  # with the app's URL base if it has one: http://host:8989/sonarr
    api_key: Secret
    timeout: Duration = 30
    ca_file: Path | None = Field(None, description="PEM file of the CA that signed the app's HTTPS certificate")
    # Which qBittorrent instance the app's download clients are: one name for all of them, or per download client
    # name ({"qBittorrent 4K": "qbt-4k"}). Unset: matched from the app's download client settings (host, port).
    qbittorrent: str | dict[str, str] | None = None

    _url = field_validator("url")(classmethod(lambda cls, v: _check_url(v)))

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"{str(v)!r} is not a readable file: give the path of the CA certificate (PEM)")
        return v

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("is empty: copy the API key from the app's Settings > General (or its config.xml)")
        return v


class ProtectionSettings(_Strict):
    tags: list[str] = Field(default_factory=lambda: ["keep"])
    categories: list[str] = Field(default_factory=list)
    trackers: list[str] = Field(default_factory=list, description="tracker hosts (a domain covers its subdomains)")
    hashes: list[str] = Field(default_factory=list)
    max_removals_per_tracker: int = Field(3, ge=0, description="per cycle; 0 = no cap")

    @field_validator("hashes")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [h.strip().lower() for h in v]

    def tracker_protected(self, host: str) -> str | None:
        host = host.lower()
        for t in self.trackers:
            t = t.lower().strip(".")
            if host == t or host.endswith("." + t):
                return t
        return None


# Defaults: the old monitor's five categories, extended with the usual "unregistered" family (the qbit_manage
# list) and the common libtorrent/OS network texts. Matching is case-insensitive on word boundaries.
DEFAULT_PATTERNS: dict[str, list[str]] = {
    "connection_errors": [
        "Connection timed out",
        "timed out",
        "No such host is known",
        "Name resolution failed",
        "Host not found",
        "Connection refused",
        "Connection reset by peer",
        "No route to host",
        "Network is unreachable",
        "Operation canceled",
        "Bad Gateway",
        "Service Unavailable",
        "Gateway Timeout",
        "unreachable",
    ],
    "tracker_errors": [
        "Unregistered torrent",
        "unregistered",
        "Torrent not registered with this tracker",
        "not registered",
        "torrent not found",
        "torrent is not found",
        "infohash not found",
        "unknown torrent",
        "not exist",
        "trump",
        "trumped",
        "retitled",
        "truncated",
        "torrent has been deleted",
        "torrent deleted",
        "torrent banned",
        "torrent is not authorized for use on this tracker",
        "Announce failed",
        "Tracker error",
    ],
    "file_errors": [
        "No space left on device",
        "Permission denied",
        "Disk full",
        "Not a directory",
        "Read-only file system",
        "Input/output error",
        "mismatching file size",
    ],
    "ratio_errors": ["Ratio limit reached", "Upload limit", "ratio too low", "hit and run"],
    "auth_errors": [
        "Unauthorized",
        "Invalid passkey",
        "passkey not found",
        "Unknown passkey",
        "Access denied",
        "account disabled",
    ],
    # Messages that look alarming but mean "try again later": never acted on.
    "ignore": [
        "stream truncated",
        "you have reached the client limit for this torrent",
        "announce is currently unavailable",
        "torrent has been postponed",
        "missing info_hash",
        "could not parse bencoded data",
    ],
}


class ErrorPatterns(_Strict):
    """The user's patterns. They add to the built-in defaults (`DEFAULT_PATTERNS`): a config copied from the old
    monitor keeps the whole unregistered family. A default that misfires is silenced by adding it to `ignore`."""

    connection_errors: list[str] = Field(default_factory=list)
    tracker_errors: list[str] = Field(default_factory=list)
    file_errors: list[str] = Field(default_factory=list)
    ratio_errors: list[str] = Field(default_factory=list)
    auth_errors: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)

    def effective(self, category: str) -> list[str]:
        """Defaults first, then the user's additions, without repeats."""
        return list(dict.fromkeys([*DEFAULT_PATTERNS[category], *getattr(self, category)]))

    @field_validator("*", mode="before")
    @classmethod
    def _list_of_strings(cls, v: Any) -> Any:
        # The old monitor turned a grouped dict into its key names. Refuse anything but a list of texts.
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise ValueError("must be a list of non-empty texts, e.g. ['Unregistered torrent', 'trumped']")
        return v


class RuleAction(_Strict):
    """What to do for one kind of finding, once it has lasted `after`."""

    enabled: bool = True
    after: Duration | None = None  # stalled/metadata/slow take theirs from stalled.* and metadata.*
    strikes: int = Field(1, ge=1, description="consecutive cycles the finding must be seen before acting")
    remove: bool = True
    blocklist: bool = False
    search: bool = False


# The old monitor's table, made safe: a duration before network errors count, no blocklist where the release is
# not at fault. A policy entry in the config changes only the keys it names; the rest keep these defaults.
DEFAULT_POLICY: dict[str, dict[str, Any]] = {
    "tracker_errors": {"after": 0, "remove": True, "blocklist": True, "search": True},
    "connection_errors": {"after": "6h", "remove": True, "blocklist": True, "search": True},
    "file_errors": {"after": 0, "remove": True, "blocklist": False, "search": False},
    "missing_files": {"after": 0, "remove": True, "blocklist": False, "search": True},
    "ratio_errors": {"after": 0, "remove": True, "blocklist": False, "search": True},
    "auth_errors": {"after": 0, "remove": False, "blocklist": True, "search": False},
    "stalled": {"remove": True, "blocklist": True, "search": True},
    "metadata": {"remove": True, "blocklist": True, "search": True},
    "slow": {"remove": True, "blocklist": True, "search": True},
}


def _action(kind: str) -> Any:
    return Field(default_factory=lambda: RuleAction.model_validate(DEFAULT_POLICY[kind]))


class PolicySettings(_Strict):
    """What to do per kind of finding (see DEFAULT_POLICY)."""

    tracker_errors: RuleAction = _action("tracker_errors")
    connection_errors: RuleAction = _action("connection_errors")
    file_errors: RuleAction = _action("file_errors")
    missing_files: RuleAction = _action("missing_files")
    ratio_errors: RuleAction = _action("ratio_errors")
    auth_errors: RuleAction = _action("auth_errors")
    stalled: RuleAction = _action("stalled")
    metadata: RuleAction = _action("metadata")
    slow: RuleAction = _action("slow")

    @model_validator(mode="before")
    @classmethod
    def _over_the_defaults(cls, data: Any) -> Any:
        """`tracker_errors: {after: 10m}` changes the duration only: blocklist and search stay as they were."""
        if not isinstance(data, dict):
            return data
        return {
            kind: {**DEFAULT_POLICY[kind], **value} if kind in DEFAULT_POLICY and isinstance(value, dict) else value
            for kind, value in data.items()
        }

    @model_validator(mode="after")
    def _durations_live_elsewhere(self) -> PolicySettings:
        for kind, where in (
            ("stalled", "stalled.no_progress_for"),
            ("metadata", "metadata.max_wait"),
            ("slow", "stalled.slow.window"),
        ):
            if getattr(self, kind).after is not None:
                raise ValueError(f"policy.{kind}.after is not used: set {where} instead")
        return self

    def for_kind(self, kind: Kind) -> RuleAction:
        action: RuleAction = getattr(self, kind.value)
        return action


class SlowSettings(_Strict):
    """Optional: a download whose average speed over `window` stays under `min_speed` (off by default)."""

    enabled: bool = False
    min_speed_kib: float = Field(20, gt=0, description="KiB/s averaged over the window")
    window: Duration = "2h"  # type: ignore[assignment]


class StalledSettings(_Strict):
    no_progress_for: Duration = "6h"  # type: ignore[assignment]
    min_age: Duration = "1h"  # type: ignore[assignment]
    slow: SlowSettings = Field(default_factory=SlowSettings)


class MetadataSettings(_Strict):
    max_wait: Duration = "1h"  # type: ignore[assignment]


class OutageSettings(_Strict):
    """Many torrents failing the same way for one cause is an outage: alert, don't delete (decide/guards/outage.py).
    A backlog of old failures on trackers that still serve their other torrents is not one."""

    enabled: bool = True
    max_torrents: int = Field(
        5, ge=1, description="more than this many downloads of one group that were fine and began failing together"
    )
    max_fraction: float = Field(
        0.5, gt=0, le=1, description="or at least this share of the group's torrents in the client failing"
    )
    min_torrents_for_fraction: int = Field(3, ge=1, description="the share counts from this many failing downloads")
    onset_window: Duration = "1h"  # type: ignore[assignment]
    window: Duration = "6h"  # type: ignore[assignment]


class PrivateSettings(_Strict):
    """Private-tracker torrents are kept in the client while they owe seeding (no hit-and-run)."""

    min_seeding_time: Duration = "72h"  # type: ignore[assignment]
    min_ratio: float = Field(1.0, ge=0)
    blocklist: bool = True
    tag: str = "qbm-failed"


class SearchSettings(_Strict):
    max_per_hour: int = Field(10, ge=1, description="searches per *arr instance per hour")
    dedupe_window: Duration = "15m"  # type: ignore[assignment]
    give_up_after: int = Field(3, ge=1, description="failures of the same episode/movie before we stop searching")
    failure_window: Duration = "30d"  # type: ignore[assignment]


class CleanupSettings(_Strict):
    """Unregistered seeding torrents no queue refers to: remove them from qBittorrent (off by default)."""

    unregistered_seeds: bool = False
    interval: Duration = "6h"  # type: ignore[assignment]


def _paths_list(v: Any) -> Any:
    """`config_paths` from the environment: globs separated by ':' (a YAML list stays a list)."""
    if isinstance(v, str):
        return [p for p in v.split(":") if p.strip()]
    return v


class DiscoverySettings(_Strict):
    """Auto-discovery of qBittorrent and the *arr apps through the Docker socket (see discovery.py). It only fills
    what the configuration and the environment leave unsaid."""

    enabled: bool = True
    docker_socket: str = Field(
        "/var/run/docker.sock", description="the Docker socket (mounted read-only), or a unix:// or tcp:// URL"
    )
    network: str = Field("traefik_proxy", description="the Docker network the monitor shares with the apps")
    config_paths: Annotated[list[str], BeforeValidator(_paths_list)] = Field(
        default_factory=lambda: ["/configs/*/config.xml", "/configs/*/config/config.xml"],
        description="globs of the *arr config.xml files (their API keys), under the mounted config folders",
    )

    @field_validator("docker_socket", "network")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty: give a value or remove the key to use the default")
        return v.strip()


class DashboardSettings(_Strict):
    """The dashboard and the JSON API (web/). Nothing but /health, /metrics (its own token) and the login page is
    served without a login: with neither a password nor an API key set, the dashboard only says how to set one."""

    enabled: bool = True
    password_hash: SecretStr = Field(
        SecretStr(""), description="from `qbittorrent-monitor hash-password`; never the password itself"
    )
    api_keys: list[SecretStr] = Field(default_factory=list, description="accepted in the X-Api-Key header of /api/")
    session_secret: SecretStr = Field(
        SecretStr(""), description="signs the session cookie; empty: a random key kept in data_dir"
    )
    session_lifetime: Duration = "7d"  # type: ignore[assignment]
    secure_cookie: bool = Field(False, description="true when the dashboard is only reached over https (Traefik)")
    login_attempts: int = Field(5, ge=1, description="failed logins allowed per client address per login_window")
    login_window: Duration = "15m"  # type: ignore[assignment]
    refresh: Duration = Field(30, description="seconds between the overview's own reloads; 0: never")

    @field_validator("password_hash")
    @classmethod
    def _a_hash(cls, v: SecretStr) -> SecretStr:
        value = v.get_secret_value().strip()
        if value and not value.startswith("scrypt$"):
            raise ValueError(
                "is not a password hash: run `qbittorrent-monitor hash-password` and paste what it prints "
                "(the password itself never goes in the file)"
            )
        return SecretStr(value)

    @field_validator("api_keys")
    @classmethod
    def _long_keys(cls, v: list[SecretStr]) -> list[SecretStr]:
        if any(len(k.get_secret_value().strip()) < 16 for k in v):
            raise ValueError("each API key needs at least 16 characters: e.g. `openssl rand -hex 24`")
        return [SecretStr(k.get_secret_value().strip()) for k in v]


class MetricsSettings(_Strict):
    """Prometheus metrics at /metrics (open unless a token is set; then `Authorization: Bearer <token>`)."""

    enabled: bool = True
    token: SecretStr = SecretStr("")


NotificationEvent = Literal["repairs", "outage_began", "outage_ended", "service_down", "service_back", "given_up"]
NOTIFICATION_EVENTS: tuple[NotificationEvent, ...] = get_args(NotificationEvent)


class NotificationSettings(_Strict):
    """Apprise URLs (Discord, Telegram, ntfy, Gotify, Pushover, e-mail, a JSON webhook...) and what to send."""

    urls: list[SecretStr] = Field(default_factory=list, description="Apprise URLs; they carry tokens: kept secret")
    events: list[NotificationEvent] = Field(default_factory=lambda: list(NOTIFICATION_EVENTS))

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, v: list[SecretStr]) -> list[SecretStr]:
        for url in v:
            if "://" not in url.get_secret_value():
                raise ValueError(
                    "each entry must be an Apprise URL such as ntfy://ntfy.sh/my-topic or json://host:port"
                )
        return v


ARR_SECTIONS = tuple(app.value for app in App)
"""The *arr sections of the configuration; each is an app of apps.py (Whisparr v2 or v3 is told by its version)."""


class Config(_Strict):
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    qbittorrent: list[QBittorrentInstance] = Field(default_factory=list)
    sonarr: list[ArrInstance] = Field(default_factory=list)
    radarr: list[ArrInstance] = Field(default_factory=list)
    lidarr: list[ArrInstance] = Field(default_factory=list)
    readarr: list[ArrInstance] = Field(default_factory=list)
    whisparr: list[ArrInstance] = Field(default_factory=list)
    protection: ProtectionSettings = Field(default_factory=ProtectionSettings)
    error_patterns: ErrorPatterns = Field(default_factory=ErrorPatterns)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    stalled: StalledSettings = Field(default_factory=StalledSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    outage: OutageSettings = Field(default_factory=OutageSettings)
    private: PrivateSettings = Field(default_factory=PrivateSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    cleanup: CleanupSettings = Field(default_factory=CleanupSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)

    @model_validator(mode="after")
    def _names(self) -> Config:
        for app in ARR_SECTIONS:
            for i, inst in enumerate(getattr(self, app)):
                if not inst.name:
                    inst.name = app if i == 0 else f"{app}{i + 1}"
        seen: set[str] = set()
        instances: list[QBittorrentInstance | ArrInstance] = [*self.qbittorrent, *(a for _, a in self.arr_instances())]
        for inst in instances:
            if inst.name in seen:
                raise ValueError(f"the instance name {inst.name!r} is used twice: give each instance its own name")
            seen.add(inst.name)
        clients = [q.name for q in self.qbittorrent]
        for app, arr in self.arr_instances():
            wanted = arr.qbittorrent
            named = [wanted] if isinstance(wanted, str) else list((wanted or {}).values())
            for name in named:
                if name not in clients:
                    raise ValueError(
                        f"{app} instance {arr.name!r}: qbittorrent: {name!r} is not a configured qBittorrent instance"
                        f" (the names are: {', '.join(clients) or 'none'})"
                    )
        return self

    def after(self, kind: Kind) -> float:
        """How long a finding of this kind must last before the policy acts."""
        if kind is Kind.STALLED:
            return self.stalled.no_progress_for
        if kind is Kind.METADATA:
            return self.metadata.max_wait
        if kind is Kind.SLOW:
            return 0.0  # the window is the duration
        return self.policy.for_kind(kind).after or 0.0

    def arr_instances(self) -> list[tuple[str, ArrInstance]]:
        """Every *arr instance with its app (the section it is listed in)."""
        return [(app, a) for app in ARR_SECTIONS for a in getattr(self, app)]

    def secrets(self) -> list[str]:
        out = [q.password.get_secret_value() for q in self.qbittorrent]
        out += [q.api_key.get_secret_value() for q in self.qbittorrent]
        out += [a.api_key.get_secret_value() for _, a in self.arr_instances()]
        out += [self.dashboard.password_hash.get_secret_value(), self.dashboard.session_secret.get_secret_value()]
        out += [k.get_secret_value() for k in self.dashboard.api_keys]
        out += [self.metrics.token.get_secret_value()]
        out += [u.get_secret_value() for u in self.notifications.urls]
        return [s for s in out if s]


# Environment overrides: variable -> path in the raw document (list items address the first instance).
ENV_OVERRIDES: dict[str, tuple[str | int, ...]] = {
    "CHECK_INTERVAL": ("monitor", "check_interval"),
    "LOG_LEVEL": ("monitor", "log_level"),
    "DRY_RUN": ("monitor", "dry_run"),
    "DATA_DIR": ("monitor", "data_dir"),
    "HEALTH_PORT": ("health", "port"),
    "LOG_FORMAT": ("logging", "format"),
    "QBITTORRENT_URL": ("qbittorrent", 0, "url"),
    "QBITTORRENT_USERNAME": ("qbittorrent", 0, "username"),
    "QBITTORRENT_PASSWORD": ("qbittorrent", 0, "password"),
    "SONARR_URL": ("sonarr", 0, "url"),
    "SONARR_API_KEY": ("sonarr", 0, "api_key"),
    "RADARR_URL": ("radarr", 0, "url"),
    "RADARR_API_KEY": ("radarr", 0, "api_key"),
    "LIDARR_URL": ("lidarr", 0, "url"),
    "LIDARR_API_KEY": ("lidarr", 0, "api_key"),
    "READARR_URL": ("readarr", 0, "url"),
    "READARR_API_KEY": ("readarr", 0, "api_key"),
    "WHISPARR_URL": ("whisparr", 0, "url"),
    "WHISPARR_API_KEY": ("whisparr", 0, "api_key"),
    "DISCOVERY": ("discovery", "enabled"),
    "DOCKER_HOST": ("discovery", "docker_socket"),
    "DOCKER_NETWORK": ("discovery", "network"),
    "DISCOVERY_CONFIG_PATHS": ("discovery", "config_paths"),
    "DASHBOARD_PASSWORD_HASH": ("dashboard", "password_hash"),
    "DASHBOARD_SECURE_COOKIE": ("dashboard", "secure_cookie"),
    "METRICS_TOKEN": ("metrics", "token"),
}


def _apply_env(doc: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str]]:
    """The document with the environment's values in place, and which variable set which field."""
    used: dict[tuple[str | int, ...], str] = {}
    for var, path in ENV_OVERRIDES.items():
        if var not in env or env[var] == "":
            continue
        node: Any = doc
        for key, nxt in itertools.pairwise(path):
            if isinstance(key, int):
                while len(node) <= key:
                    node.append({})
                node = node[key]
            else:
                if not isinstance(node.get(key), dict | list) or node.get(key) is None:
                    node[key] = [] if isinstance(nxt, int) else {}
                node = node[key]
        node[path[-1]] = env[var]
        used[path] = var
    return doc, used


SECRET_FIELDS = frozenset({"password", "api_key", "password_hash", "api_keys", "session_secret", "token", "urls"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(err: ValidationError, source: str, from_env: dict[tuple[str | int, ...], str]) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not str(x).startswith("function-"))
        field = _field_path(loc)
        if loc in from_env:
            field = f"{field} (from the environment variable {from_env[loc]})"
        kind = e["type"]
        if kind == "extra_forbidden":
            msg = "unknown key: remove it or check its spelling (see config.example.yaml)"
        elif kind == "missing":
            msg = "is required but missing: add it"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            secret = any(str(part) in SECRET_FIELDS for part in e["loc"])
            if "input" in e and kind != "value_error" and not secret and not isinstance(e["input"], dict | list):
                msg += f" (got {e['input']!r})"
        lines.append(f"{field or '(top level)'}: {msg}")
    return f"invalid configuration in {source}:\n  " + "\n  ".join(lines)


def read_document(path: Path | None) -> tuple[dict[str, Any], str]:
    """The YAML document (empty if the file does not exist) and the name of its source. Raises ConfigError."""
    if path is None or not path.exists():
        return {}, "environment"
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error(path, exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (monitor:, qbittorrent:, sonarr: ...)")
    return loaded, str(path)


def env_instance(env: dict[str, str], section: str) -> dict[str, str]:
    """The fields the environment sets on a section's first instance (`SONARR_URL` -> `{"url": ...}`)."""
    return {
        str(path[2]): env[var]
        for var, path in ENV_OVERRIDES.items()
        if path[0] == section and len(path) == 3 and env.get(var, "") != ""
    }


def health_settings(doc: dict[str, Any], env: dict[str, str]) -> HealthSettings | None:
    """The `health:` section with its environment overrides, alone (None if it is invalid): where `--health-check`
    asks a running monitor, before anything else is read."""
    partial, _ = _apply_env({"health": copy.deepcopy(doc.get("health") or {})}, env)
    try:
        return HealthSettings.model_validate(partial["health"])
    except ValidationError:
        return None


def discovery_settings(doc: dict[str, Any], env: dict[str, str], source: str) -> DiscoverySettings:
    """The `discovery:` section with its environment overrides, validated on its own (discovery runs before the
    rest of the configuration is complete)."""
    partial, from_env = _apply_env({"discovery": copy.deepcopy(doc.get("discovery") or {})}, env)
    try:
        return DiscoverySettings.model_validate(partial["discovery"])
    except ValidationError as exc:
        env_blame = {path[1:]: var for path, var in from_env.items()}
        raise ConfigError(_explain(exc, source, env_blame).replace("\n  ", "\n  discovery.", 1)) from None


def raw_secrets(doc: Any) -> set[str]:
    """Every value written under a secret's key anywhere in a raw document, before it is validated: an error
    message must not echo them even when they sit in the wrong field."""
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in SECRET_FIELDS and isinstance(value, str | int | float) and str(value).strip():
                found.add(str(value))
            else:
                found |= raw_secrets(value)
    elif isinstance(doc, list):
        for value in doc:
            found |= raw_secrets(value)
    return found


def redacted(message: str, secrets: set[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def validate(doc: dict[str, Any], env: dict[str, str], source: str) -> Config:
    """Apply the environment overrides to a document and validate it. Raises ConfigError."""
    doc, from_env = _apply_env(copy.deepcopy(doc), env)
    secrets = raw_secrets(doc)
    try:
        config = Config.model_validate(doc)
    except ValidationError as exc:
        where = source if source == "environment" or not from_env else f"{source} and the environment"
        raise ConfigError(redacted(_explain(exc, where, from_env), secrets)) from None
    except ValueError as exc:
        raise ConfigError(redacted(f"invalid configuration in {source}: {exc}", secrets)) from None
    if not config.qbittorrent:
        raise ConfigError(
            f"invalid configuration in {source}:\n  qbittorrent: no instance configured: add "
            "`qbittorrent: [{url: http://qbittorrent:8080, username: ..., password: ...}]` or set QBITTORRENT_URL"
        )
    return config


def load_config(path: Path | None, env: dict[str, str] | None = None) -> Config:
    """Read YAML (if it exists), apply environment overrides, validate. Raises ConfigError."""
    env = dict(os.environ) if env is None else env
    doc, source = read_document(path)
    return validate(doc, env, source)


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """Where the YAML is broken and why, never the offending lines: they may hold a password or an API key."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or "it cannot be parsed"
    context = getattr(exc, "context", None)
    why = f"{problem} ({context})" if context else problem
    return f"{path} is not valid YAML{where}: {why}. Check the indentation and quoting there."


EXAMPLE = Path(__file__).with_name("config.example.yaml")


Source = Literal["cli", "environment", "file", "discovery", "default"]
FieldPath = tuple[str | int, ...]
MASK = "********"


def _raw_document(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _present(doc: Any, path: tuple[str | int, ...]) -> bool:
    node = doc
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
        elif not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def provenance(
    config: Config,
    path: Path | None,
    env: dict[str, str] | None = None,
    *,
    discovered: set[FieldPath] | frozenset[FieldPath] = frozenset(),
    cli: dict[FieldPath, Any] | None = None,
) -> list[dict[str, Any]]:
    """The effective configuration, one row per setting: `key` (dotted, `qbittorrent[0].url`), `value` (secrets
    masked), `duration` (present and true when the value is a number of seconds), and `source`, in order of
    precedence: `cli` (a command-line flag: `--interval`, `--dry-run`; its value is the one in force),
    `environment` (an override was set), `file` (the YAML names it), `discovery` (filled in from what discovery
    found: `discovered`, the paths `bootstrap.load` added) or `default` (a key the file leaves out, a policy key an
    entry does not name). The rules of `load_config`, read back."""
    env = dict(os.environ) if env is None else env
    cli = cli or {}
    doc = _raw_document(path)
    from_env = {path_ for var, path_ in ENV_OVERRIDES.items() if env.get(var)}
    rows: list[dict[str, Any]] = []

    def walk(value: Any, where: tuple[str | int, ...], duration: bool = False) -> None:
        if isinstance(value, BaseModel):
            for name, info in type(value).model_fields.items():
                walk(getattr(value, name), (*where, name), _is_duration(info.metadata, info.annotation))
            return
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for i, item in enumerate(value):
                walk(item, (*where, i))
            return
        if where in cli:
            value = cli[where]
        secret = any(str(part) in SECRET_FIELDS for part in where)
        shown: Any
        if isinstance(value, SecretStr) or secret:
            shown = (MASK if _is_set(value) else "") if not isinstance(value, list) else [MASK for _ in value]
        elif isinstance(value, Path):
            shown = str(value)
        else:
            shown = value
        if where in cli:
            source: Source = "cli"
        elif where in from_env:
            source = "environment"
        elif _present(doc, where):
            source = "file"
        elif where in discovered:
            source = "discovery"
        else:
            source = "default"
        row = {"key": _field_path(where), "value": shown, "source": source}
        if duration:
            row["duration"] = True  # seconds: the dashboard also says it as 6h00m
        rows.append(row)

    walk(config, ())
    return rows


def _is_duration(metadata: list[Any], annotation: Any) -> bool:
    """Whether a field is a `Duration` (seconds), also inside `Duration | None`."""
    if any(getattr(m, "func", None) is parse_duration for m in metadata):
        return True
    return any(_is_duration(list(getattr(arg, "__metadata__", ())), None) for arg in typing.get_args(annotation) if arg)


def _is_set(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)
