"""Plain data shared by every room of the pipeline. No I/O here.

observe builds `Torrent`, `TrackerStatus`, `QueueItem`, joined into `Download`s of a `Snapshot`;
classify turns a Download into `Finding`s; decide turns a Finding into a `Decision` carrying `Action`s.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any
from urllib.parse import urlsplit

from .apps import Profile
from .apps import profile as profile_by_key


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


READY_VERDICTS = frozenset({Verdict.ACT, Verdict.DRY_RUN})
"""A repair that would run this cycle (really, or as a dry run)."""
CANDIDATE_VERDICTS = READY_VERDICTS | {Verdict.WAIT}
"""What the cycle-wide guards look at: downloads the monitor would repair, now or once they have lasted."""


class ActionType(StrEnum):
    ARR_REMOVE = "arr_remove"  # DELETE /queue/{id} with its flags
    ARR_SEARCH = "arr_search"  # POST /command: one targeted search
    QBT_TAG = "qbt_tag"  # tag a torrent kept in qBittorrent
    QBT_DELETE = "qbt_delete"  # delete a torrent in qBittorrent (the opt-in seed cleanup)
    ALERT = "alert"  # a line in the log
    UNDO = "undo"  # a journal entry written by `undo`


class StepStatus(StrEnum):
    """Where a journaled step stands."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


UNFINISHED_STEPS = frozenset({StepStatus.PENDING, StepStatus.RUNNING})


class RemoveResult(StrEnum):
    """What the *arr said to a queue removal."""

    REMOVED = "removed"
    GONE = "gone"  # 404: the queue changed underneath us (imported, or removed by someone)


# qBittorrent torrent states (4.x and 5.x names).
PAUSED_STATES = frozenset({"pausedDL", "pausedUP", "stoppedDL", "stoppedUP"})
UPLOAD_STATES = frozenset({"uploading", "stalledUP", "queuedUP", "forcedUP", "checkingUP", "pausedUP", "stoppedUP"})
DOWNLOADING_STATES = frozenset({"downloading", "stalledDL", "forcedDL"})
METADATA_STATES = frozenset({"metaDL", "forcedMetaDL"})
STATE_KINDS: dict[str, Kind] = {"error": Kind.FILE, "missingFiles": Kind.MISSING_FILES, "stalledDL": Kind.STALLED}
STATE_KINDS |= dict.fromkeys(METADATA_STATES, Kind.METADATA)
"""The states qBittorrent's own client-wide count files under a kind (clients/qbittorrent.count_populations); the
outage guard takes the torrents a tracker outage explains back out of that count."""


class TrackerState(IntEnum):
    """`status` of a torrents/trackers row. 5.3 reports "unregistered" as TRACKER_ERROR, 4.x and 5.1 as NOT_WORKING."""

    DISABLED = 0  # also the DHT/PeX/LSD pseudo rows
    NOT_CONTACTED = 1
    WORKING = 2
    UPDATING = 3
    NOT_WORKING = 4
    TRACKER_ERROR = 5
    UNREACHABLE = 6


FAILED_TRACKER_STATUSES = frozenset({TrackerState.NOT_WORKING, TrackerState.TRACKER_ERROR, TrackerState.UNREACHABLE})
REPORTED_TRACKER_STATUSES = frozenset(TrackerState) - {TrackerState.DISABLED, TrackerState.NOT_CONTACTED}
"""A tracker with one of these statuses has answered (or refused) this torrent: it is the torrent's tracker."""
_REAL_TRACKER_SCHEMES = ("http", "https", "udp", "ws", "wss")


def _int(d: dict[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key)
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _float(d: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = d.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _shared(value: object) -> str:
    """A text field with few distinct values across a library (a state, a category, a tag, a save path, a tracker
    URL, a queue record's status, protocol or download client), kept as one string object however many records
    carry it. The JSON decoder makes a new string for every value it reads; a cycle at 30,000 torrents with a
    1,500-item queue held tens of thousands of copies of a few hundred texts, a few MiB of the monitor's peak RSS
    (bench/results.md). Only such fields: CPython 3.12.0-3.12.5 never frees an interned string (cpython#113993), so
    what is unique to a torrent and changes with turnover (a hash, a name, a message) is never interned."""
    return sys.intern(str(value))


def _is_tracker_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in _REAL_TRACKER_SCHEMES


@functools.lru_cache(maxsize=16384)
def url_host(url: str) -> str:
    """The host of a tracker URL ("" for the DHT/PeX/LSD pseudo rows and for ""), remembered: the same few tracker
    URLs are asked for every watched torrent every cycle."""
    return (urlsplit(url).hostname or "") if url and _is_tracker_url(url) else ""


@dataclass(frozen=True, slots=True)
class TrackerStatus:
    url: str
    tier: int
    status: int
    msg: str
    updating: bool = False  # 5.2+: an announce is in progress right now (`status` and `msg` are the previous one's)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TrackerStatus:
        endpoints = d.get("endpoints")
        updating = d.get("updating") is True or (
            isinstance(endpoints, list) and any(isinstance(e, dict) and e.get("updating") is True for e in endpoints)
        )
        url, msg = _shared(d.get("url", "")), str(d.get("msg") or "")
        return cls(url, _int(d, "tier", -1), _int(d, "status"), msg, updating)

    @property
    def announcing(self) -> bool:
        """Re-announcing right now (5.2+ `updating`, 4.x status 3): its answer is not known yet."""
        return self.updating or self.status == TrackerState.UPDATING

    @property
    def is_real(self) -> bool:
        """False for the DHT/PeX/LSD pseudo rows."""
        return _is_tracker_url(self.url)

    @property
    def host(self) -> str:
        return url_host(self.url)

    @property
    def reported(self) -> bool:
        """The tracker has been in contact about this torrent (a failure counts; "not contacted" does not)."""
        return self.is_real and self.status in REPORTED_TRACKER_STATUSES

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
    tracker: str  # qBittorrent's `tracker` field, as sent (its meaning changed in 5.1: see `working_tracker`)
    private: bool | None = None
    seeding_time: int = 0
    ratio: float = 0.0
    content_path: str = ""
    save_path: str = ""
    working_tracker: str = ""  # a tracker URL known to work for it ("" when qBittorrent does not say)
    # `client:hash`, what the store, the findings and the decisions are keyed by: made once, one object per torrent
    # (every room's dicts of a cycle share it instead of each formatting its own copy)
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.client}:{self.hash}")

    @classmethod
    def from_api(cls, client: str, d: dict[str, Any], *, tracker_field_is_working: bool = True) -> Torrent:
        """`tracker_field_is_working`: before 5.1 the `tracker` field is the working tracker ("" when none works);
        from 5.1 it is the first tracker's URL even when that tracker was never contacted (the adapter knows)."""
        tags = tuple(_shared(t.strip()) for t in str(d.get("tags") or "").split(",") if t.strip())
        private = d.get("private", d.get("is_private"))
        return cls(
            client=client,
            hash=str(d["hash"]).lower(),
            name=str(d.get("name", "")),
            state=_shared(d.get("state", "unknown")),
            progress=_float(d, "progress"),
            category=_shared(d.get("category") or ""),
            tags=tags,
            size=_int(d, "size"),
            downloaded=_int(d, "downloaded"),
            amount_left=_int(d, "amount_left"),
            dlspeed=_int(d, "dlspeed"),
            added_on=_int(d, "added_on"),
            last_activity=_int(d, "last_activity"),
            tracker=_shared(d.get("tracker") or ""),
            private=private if isinstance(private, bool) else None,
            seeding_time=_int(d, "seeding_time"),
            ratio=_float(d, "ratio"),
            content_path=str(d.get("content_path") or ""),
            save_path=_shared(d.get("save_path") or ""),
            working_tracker=_shared(d.get("tracker") or "") if tracker_field_is_working else "",
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
    """One record of an *arr queue (Sonarr v3/v4: one per episode; Lidarr: per album; Readarr: per book)."""

    arr: str
    app: str
    id: int
    download_id: str  # lower-case hash
    title: str
    status: str  # lower-cased: older builds (and Lidarr, Readarr, Whisparr) send PascalCase
    tracked_state: str
    tracked_status: str
    error_message: str  # the app's (translated) UI text: kept for people, never decided on
    protocol: str
    download_client: str  # the name of the app's download client definition
    profile: str = ""  # the apps.py profile it was read with ("" = the app's oldest one)
    parent_id: int | None = None  # series / artist / author
    item_ids: tuple[int, ...] = ()  # episodes / movie / album / book: what a search targets

    @classmethod
    def from_api(cls, arr: str, profile: Profile, d: dict[str, Any]) -> QueueItem | None:
        download_id = d.get("downloadId")
        if not download_id:  # pending (delayed) releases have none: nothing to correlate
            return None
        parent = d.get(profile.parent_field) if profile.parent_field else None
        return cls(
            arr=arr,
            app=profile.app.value,
            id=_int(d, "id"),
            download_id=str(download_id).lower(),
            title=str(d.get("title") or ""),
            status=_shared(str(d.get("status") or "").lower()),
            tracked_state=_shared(d.get("trackedDownloadState") or ""),
            tracked_status=_shared(d.get("trackedDownloadStatus") or ""),
            error_message=str(d.get("errorMessage") or ""),
            protocol=_shared(str(d.get("protocol") or "").lower()),
            download_client=_shared(d.get("downloadClient") or ""),
            profile=profile.key,
            parent_id=parent if isinstance(parent, int) and not isinstance(parent, bool) else None,
            item_ids=profile.item_ids(d),
        )


@dataclass(frozen=True, slots=True)
class ArrDownload:
    """All queue records of one *arr instance that point at one download (a season pack is one)."""

    arr: str
    app: str
    download_id: str
    items: tuple[QueueItem, ...]
    client: str = ""  # the qBittorrent instance this download is in (observe maps it; "" = not mapped)

    @property
    def profile(self) -> Profile:
        key = self.items[0].profile if self.items else ""
        return profile_by_key(key or self.app)

    @property
    def queue_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i.id for i in self.items}))

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(sorted({i for item in self.items for i in item.item_ids}))

    @property
    def download_client(self) -> str:
        return self.items[0].download_client if self.items else ""

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
        if self.item_ids:
            out[f"{self.profile.item}_ids"] = list(self.item_ids)
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
    """Group the records of one *arr queue by download client and downloadId (case-insensitive). One app may have
    two qBittorrent download clients holding the same torrent: those are two downloads, each in its own client (one
    may be broken and the other healthy), never one routed by its first record."""
    groups: dict[tuple[str, str], list[QueueItem]] = {}
    for item in items:
        groups.setdefault((item.download_client, item.download_id), []).append(item)
    return [ArrDownload(v[0].arr, v[0].app, download_id, tuple(v)) for (_, download_id), v in groups.items()]


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
    listed_hosts: tuple[str, ...] = ()  # every tracker host it lists, whatever its status (for the protections)

    @property
    def key(self) -> str:
        return self.torrent.key

    @property
    def tracker_host(self) -> str:
        """The host of a tracker that actually reported on this torrent (a row not "not contacted"), else of the
        tracker qBittorrent says works for it; "" when no tracker ever answered (it then belongs to no tracker)."""
        for row in self.trackers or ():
            if row.reported and row.host:
                return row.host
        return url_host(self.torrent.working_tracker)

    @property
    def real_trackers(self) -> tuple[TrackerStatus, ...]:
        """Its tracker rows without the DHT/PeX/LSD pseudo rows (none when they were not read)."""
        return tuple(t for t in self.trackers or () if t.is_real)

    @property
    def no_tracker_works(self) -> bool:
        """Its trackers were read, it has a real one, and not one of them works."""
        rows = self.real_trackers
        return bool(rows) and not any(t.status == TrackerState.WORKING for t in rows)


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

    type: ActionType
    target: str  # instance name
    params: dict[str, Any]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "target": self.target, "params": self.params, "description": self.description}


class Origin(StrEnum):
    """Which pipeline a decision comes from."""

    REPAIR = "repair"  # a download an *arr queue refers to
    SEED_CLEANUP = "seed_cleanup"  # the opt-in cleanup of unregistered seeds no queue refers to


@dataclass(frozen=True, slots=True)
class Decision:
    download: Download
    finding: Finding
    verdict: Verdict
    explanation: str
    actions: tuple[Action, ...] = ()
    origin: Origin = Origin.REPAIR
    since: float | None = None  # when the failure began (the rule's moment, else when the store first saw it)
    next_at: float | None = None  # a waiting candidate: when it will have lasted long enough
    guard: str = ""  # the cycle-wide guard that changed the verdict (outage, holds, cap)
    given_up: tuple[str, ...] = ()  # items this repair no longer searches for (they failed too often)

    @property
    def removes(self) -> bool:
        """Takes the download out of a queue or the client (what the per-tracker cap counts)."""
        return any(a.type in (ActionType.ARR_REMOVE, ActionType.QBT_DELETE) for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        t = self.download.torrent
        return {
            "client": t.client,
            "hash": t.hash,
            "name": t.name,
            "category": t.category,
            "tracker": self.download.tracker_host,
            "reason": self.finding.reason,
            "kind": self.finding.kind.value,
            "rule": self.finding.rule,
            "evidence": self.finding.evidence,
            "arr": [
                {"instance": a.arr, "app": a.app, "queue_ids": list(a.queue_ids), "title": a.title}
                for a in self.download.arr
            ],
            "origin": self.origin.value,
            "since": self.since,
            "decision": self.verdict.value,
            "explanation": self.explanation,
            "next_at": self.next_at,
            "guard": self.guard or None,
            "given_up": list(self.given_up),
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(frozen=True, slots=True, order=True)
class PopulationKey:
    """A group of torrents in one qBittorrent instance: those of one tracker host, or (host "") all of them."""

    client: str
    host: str = ""

    def describe(self) -> str:
        return f"tracker {self.host}" if self.host else f"qBittorrent {self.client}"


class Scope(StrEnum):
    """The breadth of an outage group."""

    TRACKER = "tracker"
    CLIENT = "client"


@dataclass(frozen=True, slots=True, order=True)
class OutageGroup:
    """A group the outage breaker judges: one tracker host and one kind, or one qBittorrent instance and one kind."""

    scope: Scope
    client: str
    kind: Kind
    host: str = ""

    @property
    def key(self) -> str:
        """A readable identity (the store keeps the fields in columns of their own)."""
        where = f"{self.client}/{self.host}" if self.scope is Scope.TRACKER else self.client
        return f"{self.scope.value}:{where}:{self.kind.value}"

    @property
    def population_key(self) -> PopulationKey:
        return PopulationKey(self.client, self.host)

    def describe(self) -> str:
        return f"{self.population_key.describe()} ({self.kind.value})"


@dataclass(frozen=True, slots=True)
class Population:
    """A group's torrents in one qBittorrent instance by qBittorrent's own count: how many, and how many of them
    fail each way qBittorrent can tell (`failing` by Kind value; a kind is absent when this version cannot tell)."""

    torrents: int
    failing: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evidence:
    failing: int  # the group's failing torrents: its candidates, or qBittorrent's count when that is larger
    onset: int  # candidates fine at an earlier observation and failing since less than onset_window
    population: int  # the group's torrents in the client (at least what the monitor watches)
    counted: bool = False  # the population (and failing) come from qBittorrent's own count

    def describe(self) -> str:
        of = f" of {self.population} torrents" if self.population else ""
        how = " (qBittorrent's count)" if self.counted else " (of those the monitor watches)"
        sudden = f", {self.onset} of them fine until moments ago" if self.onset else ""
        return f"{self.failing}{of} failing{how if self.population else ''}{sudden}"


@dataclass(frozen=True, slots=True)
class RememberedOutage:
    group: OutageGroup
    first_seen: float
    last_seen: float
    evidence: Evidence  # the last evidence that was itself an outage
    members: tuple[str, ...]  # every download key it held

    def describe(self) -> str:
        return f"{self.group.describe()}: {self.evidence.describe()}"


@dataclass(slots=True)
class Snapshot:
    """Everything observe learned this cycle; nothing is asked of a service after it is built (but the tracker
    populations a cycle-wide guard may need, read on demand: see `Observer.populations`)."""

    taken_at: float
    downloads: list[Download] = field(default_factory=list)
    unmatched_queue: list[ArrDownload] = field(default_factory=list)  # queue items whose torrent we did not find
    service_errors: dict[str, str] = field(default_factory=dict)  # service -> what went wrong
    service_status: dict[str, str] = field(default_factory=dict)  # service -> what it answered (when it did)
    connection_status: dict[str, str] = field(default_factory=dict)
    held_arrs: dict[str, str] = field(default_factory=dict)  # *arr instance -> why its actions are held
    seeds: list[Download] = field(default_factory=list)  # opt-in cleanup: complete torrents no queue refers to
    shared_data: frozenset[str] = frozenset()  # keys of seeds whose content another torrent also uses
    cleanup_read: bool = False  # the cleanup read the whole library this cycle
    held_clients: dict[str, str] = field(default_factory=dict)  # qBittorrent instance -> why its actions wait
