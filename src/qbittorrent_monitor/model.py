"""Plain data shared by every room of the pipeline. No I/O here.

observe builds `Torrent`, `TrackerStatus`, `QueueItem`, joined into `Download`s of a `Snapshot`;
classify turns a Download into `Finding`s; decide turns a Finding into a `Decision` carrying `Action`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class Kind(StrEnum):
    """What is wrong with a download. The values are the policy/config keys."""

    TRACKER = "tracker_errors"
    CONNECTION = "connection_errors"
    FILE = "file_errors"
    RATIO = "ratio_errors"
    AUTH = "auth_errors"
    MISSING_FILES = "missing_files"
    STALLED = "stalled"
    METADATA = "metadata"
    SLOW = "slow"


PATTERN_KINDS = (Kind.AUTH, Kind.RATIO, Kind.FILE, Kind.TRACKER, Kind.CONNECTION)
"""Pattern categories in the order they are tried: the most specific first."""


class Verdict(StrEnum):
    ACT = "act"
    WAIT = "wait"
    PROTECTED = "protected"
    REPORT = "report"  # nothing we may do (no *arr knows it, or the policy says only alert)
    DRY_RUN = "dry_run"
    OUTAGE = "outage"  # many torrents failing the same way at once: alert, don't delete
    HELD = "held"  # the cycle's actions are held back (client disconnected, per-tracker cap, budget)


# qBittorrent torrent states (4.x and 5.x names).
PAUSED_STATES = frozenset({"pausedDL", "pausedUP", "stoppedDL", "stoppedUP"})
UPLOAD_STATES = frozenset({"uploading", "stalledUP", "queuedUP", "forcedUP", "checkingUP", "pausedUP", "stoppedUP"})
DOWNLOADING_STATES = frozenset({"downloading", "stalledDL", "forcedDL"})
METADATA_STATES = frozenset({"metaDL", "forcedMetaDL"})

# Tracker row status codes (torrents/trackers).
TRACKER_DISABLED, TRACKER_NOT_CONTACTED, TRACKER_WORKING, TRACKER_UPDATING = 0, 1, 2, 3
TRACKER_NOT_WORKING, TRACKER_ERROR, TRACKER_UNREACHABLE = 4, 5, 6
FAILED_TRACKER_STATUSES = frozenset({TRACKER_NOT_WORKING, TRACKER_ERROR, TRACKER_UNREACHABLE})
_REAL_TRACKER_SCHEMES = ("http", "https", "udp", "ws", "wss")


def _int(d: dict[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key)
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _float(d: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = d.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


@dataclass(frozen=True, slots=True)
class TrackerStatus:
    url: str
    tier: int
    status: int
    msg: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TrackerStatus:
        return cls(str(d.get("url", "")), _int(d, "tier", -1), _int(d, "status"), str(d.get("msg") or ""))

    @property
    def is_real(self) -> bool:
        """False for the DHT/PeX/LSD pseudo rows."""
        return self.url.split(":", 1)[0].lower() in _REAL_TRACKER_SCHEMES

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "") if self.is_real else ""

    def as_evidence(self) -> dict[str, Any]:
        return {"tracker": self.host, "tracker_status": self.status, "tracker_msg": self.msg}


@dataclass(frozen=True, slots=True)
class Torrent:
    client: str
    hash: str
    name: str
    state: str
    progress: float
    category: str
    tags: tuple[str, ...]
    size: int
    downloaded: int
    amount_left: int
    dlspeed: int
    added_on: int
    last_activity: int
    tracker: str
    private: bool | None = None
    seeding_time: int = 0
    ratio: float = 0.0
    content_path: str = ""
    save_path: str = ""

    @classmethod
    def from_api(cls, client: str, d: dict[str, Any]) -> Torrent:
        tags = tuple(t.strip() for t in str(d.get("tags") or "").split(",") if t.strip())
        private = d.get("private", d.get("is_private"))
        return cls(
            client=client,
            hash=str(d["hash"]).lower(),
            name=str(d.get("name", "")),
            state=str(d.get("state", "unknown")),
            progress=_float(d, "progress"),
            category=str(d.get("category") or ""),
            tags=tags,
            size=_int(d, "size"),
            downloaded=_int(d, "downloaded"),
            amount_left=_int(d, "amount_left"),
            dlspeed=_int(d, "dlspeed"),
            added_on=_int(d, "added_on"),
            last_activity=_int(d, "last_activity"),
            tracker=str(d.get("tracker") or ""),
            private=private if isinstance(private, bool) else None,
            seeding_time=_int(d, "seeding_time"),
            ratio=_float(d, "ratio"),
            content_path=str(d.get("content_path") or ""),
            save_path=str(d.get("save_path") or ""),
        )

    @property
    def is_paused(self) -> bool:
        return self.state in PAUSED_STATES

    @property
    def is_complete(self) -> bool:
        """Progress decides, not the state name (a failed recheck drops back to DL states)."""
        return self.progress >= 1.0 or (self.state in UPLOAD_STATES and self.amount_left == 0)

    def as_evidence(self) -> dict[str, Any]:
        return {"state": self.state, "progress": round(self.progress, 4), "downloaded": self.downloaded}


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    message: str
    timestamp: float
    type: int

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> LogEntry:
        ts = _float(d, "timestamp")
        if ts > 1e11:  # milliseconds on newer builds, seconds on 4.5.2
            ts /= 1000.0
        return cls(_int(d, "id"), str(d.get("message", "")), ts, _int(d, "type"))


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One record of an *arr queue (Sonarr: one per episode)."""

    arr: str
    app: str
    id: int
    download_id: str  # lower-case hash
    title: str
    status: str  # lower-cased: older builds send PascalCase
    tracked_state: str
    tracked_status: str
    error_message: str
    protocol: str
    download_client: str
    series_id: int | None = None
    episode_id: int | None = None
    season_number: int | None = None
    movie_id: int | None = None

    @classmethod
    def from_api(cls, arr: str, app: str, d: dict[str, Any]) -> QueueItem | None:
        download_id = d.get("downloadId")
        if not download_id:  # pending (delayed) releases have none: nothing to correlate
            return None

        def opt(key: str) -> int | None:
            v = d.get(key)
            return int(v) if isinstance(v, int) and not isinstance(v, bool) else None

        return cls(
            arr=arr,
            app=app,
            id=_int(d, "id"),
            download_id=str(download_id).lower(),
            title=str(d.get("title") or ""),
            status=str(d.get("status") or "").lower(),
            tracked_state=str(d.get("trackedDownloadState") or ""),
            tracked_status=str(d.get("trackedDownloadStatus") or ""),
            error_message=str(d.get("errorMessage") or ""),
            protocol=str(d.get("protocol") or "").lower(),
            download_client=str(d.get("downloadClient") or ""),
            series_id=opt("seriesId"),
            episode_id=opt("episodeId"),
            season_number=opt("seasonNumber"),
            movie_id=opt("movieId"),
        )


@dataclass(frozen=True, slots=True)
class ArrDownload:
    """All queue records of one *arr instance that point at one download (a season pack is one)."""

    arr: str
    app: str
    download_id: str
    items: tuple[QueueItem, ...]

    @property
    def queue_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i.id for i in self.items}))

    @property
    def episode_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i.episode_id for i in self.items if i.episode_id is not None}))

    @property
    def movie_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i.movie_id for i in self.items if i.movie_id}))

    @property
    def title(self) -> str:
        return self.items[0].title if self.items else ""

    def as_evidence(self) -> dict[str, Any]:
        first = self.items[0]
        out: dict[str, Any] = {
            "arr": self.arr,
            "queue_ids": list(self.queue_ids),
            "status": first.status,
            "tracked_state": first.tracked_state,
        }
        if self.episode_ids:
            out["episode_ids"] = list(self.episode_ids)
        if self.movie_ids:
            out["movie_ids"] = list(self.movie_ids)
        return out


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def group_queue(items: list[QueueItem]) -> list[ArrDownload]:
    """Group the records of one *arr queue by downloadId (case-insensitive)."""
    groups: dict[str, list[QueueItem]] = {}
    for item in items:
        groups.setdefault(item.download_id, []).append(item)
    return [ArrDownload(v[0].arr, v[0].app, k, tuple(v)) for k, v in groups.items()]


@dataclass(frozen=True, slots=True)
class Memory:
    """What the store remembers of a torrent between cycles (plain data for the pure rules)."""

    first_seen: float
    last_progress_at: float
    last_downloaded: int
    window_at: float = 0.0  # start of the current speed window (slow rule)
    last_rate: float | None = None  # bytes/s averaged over the last complete window


@dataclass(frozen=True, slots=True)
class Download:
    """One torrent joined with the *arr downloads that point at it, plus what we know about it."""

    torrent: Torrent
    arr: tuple[ArrDownload, ...] = ()
    trackers: tuple[TrackerStatus, ...] | None = None  # None: not read (not a suspect)
    log: tuple[LogEntry, ...] = ()
    memory: Memory | None = None

    @property
    def key(self) -> str:
        return f"{self.torrent.client}:{self.torrent.hash}"

    @property
    def tracker_host(self) -> str:
        """From the tracker rows when read, else from qBittorrent's working-tracker field."""
        for row in self.trackers or ():
            if row.is_real and row.host:
                return row.host
        return (urlsplit(self.torrent.tracker).hostname or "") if self.torrent.tracker else ""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    rule: str
    reason: str
    evidence: dict[str, Any]
    since: float | None = None  # when the condition began, if the rule knows; else first seen by the store

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "rule": self.rule, "reason": self.reason, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Action:
    """One step against one remote API. `params` is everything needed to replay it after a crash."""

    type: str  # "arr_remove" | "arr_search" | "alert"
    target: str  # instance name
    params: dict[str, Any]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "target": self.target, "params": self.params, "description": self.description}


@dataclass(frozen=True, slots=True)
class Decision:
    download: Download
    finding: Finding
    verdict: Verdict
    explanation: str
    actions: tuple[Action, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        t = self.download.torrent
        return {
            "client": t.client,
            "hash": t.hash,
            "name": t.name,
            "category": t.category,
            "reason": self.finding.reason,
            "kind": self.finding.kind.value,
            "rule": self.finding.rule,
            "evidence": self.finding.evidence,
            "arr": [
                {"instance": a.arr, "app": a.app, "queue_ids": list(a.queue_ids), "title": a.title}
                for a in self.download.arr
            ],
            "decision": self.verdict.value,
            "explanation": self.explanation,
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(slots=True)
class Snapshot:
    taken_at: float
    downloads: list[Download] = field(default_factory=list)
    unmatched_queue: list[ArrDownload] = field(default_factory=list)  # queue items whose torrent we did not find
    service_errors: dict[str, str] = field(default_factory=dict)
    connection_status: dict[str, str] = field(default_factory=dict)
    held_arrs: dict[str, str] = field(default_factory=dict)  # *arr instance -> why its actions are held
