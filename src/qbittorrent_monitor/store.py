"""record: the monitor's memory in one embedded SQLite file under data_dir.

- `torrents`: first seen, last progress (bytes and time), the last decision, per client:hash.
- `findings`: since when each kind of finding has been seen on a torrent (durations survive restarts).
- `actions`: the journal and history. A repair's steps are written as `pending` before the first runs and
  marked `done`/`failed`/`skipped` after each, so a crash between "removed" and "searched" is finished on
  the next start, never redone.
- `cursors`: qBittorrent log positions.
- `outages`: the outage breaker's memory (each group, since when, the evidence that made it an outage).
- `private_flags`: whether a torrent is private (qBittorrent 4.x says so only per torrent, and it never changes).
- `populations`: how many torrents each tracker has in a client, read at most once per `outage.window`.
- `protected_torrents`, `controls`, `found`: torrents protected and the pause switch set from the dashboard, and
  each failure found (torrent and kind, first and last flagged) for the overview's chart.
Schema versioned (`PRAGMA user_version`), WAL journal. A file that is not a readable database is moved aside
with a clear message, never silently emptied.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .logs import iso_time
from .model import (
    Action,
    ActionType,
    Decision,
    Evidence,
    Kind,
    Memory,
    OutageGroup,
    Population,
    PopulationKey,
    RememberedOutage,
    RemoveResult,
    Scope,
    StepStatus,
    Torrent,
    human_duration,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
FORGET_AFTER = 30 * 86400.0  # a torrent no cycle has seen for this long is forgotten (its findings with it)
CACHE_KIB = 256
"""SQLite's page cache for the state file, in KiB (its default is 2,000). The cycle reads a few thousand rows by key
and the kernel keeps the file's pages cached anyway; the default cache, filled by the first cycle's writes, stayed
allocated for the process's life: 1.7-1.9 MiB of RSS at 30,000 torrents (bench/results.md), for no CPU measured."""

_SCHEMA_V1 = """
CREATE TABLE torrents (
    key TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    last_progress_at REAL NOT NULL,
    last_downloaded INTEGER NOT NULL,
    last_decision TEXT
);
CREATE INDEX torrents_hash ON torrents(hash);
CREATE TABLE findings (
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (key, kind)
);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repair TEXT NOT NULL,
    step INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    client TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    params TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_hash ON actions(hash);
CREATE INDEX actions_status ON actions(status);
CREATE TABLE cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# v2: strikes, the slow rule's speed window, outages, per-item failure counts.
_SCHEMA_V2 = """
ALTER TABLE findings ADD COLUMN strikes INTEGER NOT NULL DEFAULT 1;
ALTER TABLE torrents ADD COLUMN window_at REAL NOT NULL DEFAULT 0;
ALTER TABLE torrents ADD COLUMN window_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE torrents ADD COLUMN last_rate REAL;
CREATE TABLE outages (
    grp TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    size INTEGER NOT NULL,
    total INTEGER NOT NULL,
    members TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE failures (
    arr TEXT NOT NULL,
    item TEXT NOT NULL,
    hash TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (arr, item, hash)
);
CREATE INDEX actions_type_target ON actions(type, target, status, updated_at);
"""

# v3: outages per (scope, client, host, kind) with the evidence that made them one; private flags; populations.
# v2's outage rows were keyed by one tracker / client / kind and are dropped: the next cycle judges again.
_SCHEMA_V3 = """
DROP TABLE outages;
CREATE TABLE outages (
    scope TEXT NOT NULL,
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    failing INTEGER NOT NULL,
    onset INTEGER NOT NULL,
    population INTEGER NOT NULL,
    counted INTEGER NOT NULL,
    members TEXT NOT NULL,
    PRIMARY KEY (scope, client, host, kind)
);
CREATE TABLE private_flags (key TEXT PRIMARY KEY, private INTEGER NOT NULL);
CREATE TABLE populations (
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    torrents INTEGER,
    failing TEXT NOT NULL DEFAULT '{}',
    read_at REAL NOT NULL,
    PRIMARY KEY (client, host)
);
"""

# v4 (the dashboard): torrents protected from the dashboard, the monitor's pause switch, and the failures found
# (first flagged, last flagged) that the overview's chart counts per hour.
_SCHEMA_V4 = """
CREATE TABLE protected_torrents (hash TEXT PRIMARY KEY, name TEXT NOT NULL, added_at REAL NOT NULL);
CREATE TABLE controls (name TEXT PRIMARY KEY, value TEXT NOT NULL, set_at REAL NOT NULL);
CREATE TABLE found (
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_at REAL NOT NULL,
    last_at REAL NOT NULL,
    PRIMARY KEY (key, kind)
);
CREATE INDEX found_first_at ON found(first_at);
"""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}


class StoreError(Exception):
    """The state database cannot be used; the message says what happened and what was done."""


@dataclass(frozen=True)
class JournalRow:
    id: int
    repair: str
    step: int
    created_at: float
    updated_at: float
    client: str
    hash: str
    name: str
    type: str
    target: str
    params: dict[str, Any]
    description: str
    kind: str
    reason: str
    evidence: dict[str, Any]
    status: str
    result: str

    @property
    def action(self) -> Action:
        return Action(ActionType(self.type), self.target, self.params, self.description)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repair": self.repair,
            "step": self.step,
            "time": self.created_at,
            "updated": self.updated_at,
            "client": self.client,
            "hash": self.hash,
            "name": self.name,
            "type": self.type,
            "target": self.target,
            "params": self.params,
            "description": self.description,
            "kind": self.kind,
            "reason": self.reason,
            "evidence": self.evidence,
            "status": self.status,
            "result": self.result,
        }


def running_as() -> str:
    return f"uid {os.getuid()}, gid {os.getgid()}"


def prepare_dir(directory: Path) -> None:
    """Create the data directory (private to the running user) or say exactly why it cannot be used."""
    uid, gid = os.getuid(), os.getgid()
    fix = (
        f"create it and give it to the user the monitor runs as (chown -R {uid}:{gid} {directory}; in a container set "
        "PUID/PGID to the owner of the mounted folder), or set DATA_DIR to a writable directory"
    )
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(
            f"the data directory {directory} cannot be created ({exc.strerror}); the monitor runs as "
            f"{running_as()}: {fix}"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreError(f"the data directory {directory} is not writable by the monitor ({running_as()}): {fix}")


def hold_data_dir(directory: Path) -> FileLock:
    """One monitor repairs from a data dir at a time: an exclusive lock (released by the kernel if the process
    dies), with who holds it written beside it. Raises StoreError naming the holder."""
    prepare_dir(directory)
    lock = FileLock(directory / "monitor.lock", timeout=0)
    holder = directory / "monitor.lock.json"
    try:
        lock.acquire()
    except Timeout:
        try:
            who = json.loads(holder.read_text(encoding="utf-8"))
            by = f"process {who['pid']} on {who['host']} (started {who['since']}, `{who['command']}`)"
        except (OSError, ValueError, KeyError, TypeError):
            by = "another process"
        raise StoreError(
            f"another qbittorrent-monitor already uses the data directory {directory}: {by}. Two monitors on one "
            "data dir could repair the same download twice: stop the other one, or give this one its own DATA_DIR"
        ) from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": iso_time(time.time()),  # as the logs print it: 2026-12-01T09:12:03+01:00
        "command": " ".join(["qbittorrent-monitor", *sys.argv[1:]])[:200],
    }
    with contextlib.suppress(OSError):
        holder.write_text(json.dumps(info), encoding="utf-8")
    return lock


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._watched: dict[str, float] = {}  # qBittorrent instance -> when it was last read
        self._watched_written: dict[str, float] = {}
        prepare_dir(path.parent)
        for existing in (path, path.with_name(path.name + "-wal")):
            if existing.exists() and not os.access(existing, os.R_OK | os.W_OK):
                raise StoreError(
                    f"the state database {existing} exists but the monitor ({running_as()}) cannot read and write "
                    f"it (permissions): chown {os.getuid()}:{os.getgid()} {existing}, or run the monitor as its owner"
                )
        self._db = self._open()
        for own in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if own.exists():
                own.chmod(0o600)  # it holds the history of the user's library: theirs alone

    @classmethod
    def scratch_copy(cls, path: Path) -> Store:
        """A private in-memory copy of the database at `path` (an empty one if there is none): a dry run works on
        it, remembers between its own cycles, and leaves the file untouched."""
        store = cls.__new__(cls)
        store.path = path
        store._lock = threading.RLock()
        store._watched, store._watched_written = {}, {}
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        if path.exists():
            try:
                source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    source.backup(db)
                finally:
                    source.close()
            except sqlite3.DatabaseError as exc:
                log.warning("dry run: the state database %s cannot be read (%s); starting from nothing", path, exc)
                db.close()
                db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        store._migrate(db)
        store._db = db
        return store

    # -- opening, migrating, corruption -------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            db = self._connect()
            self._migrate(db)
            return db
        except sqlite3.OperationalError as exc:  # the file system said no (permissions, full disk): not corruption
            raise StoreError(
                f"the state database {self.path} cannot be opened ({exc}); the monitor runs as {running_as()}: check "
                "that the data directory is writable and not full"
            ) from None
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                self.path.rename(aside)
                for suffix in ("-wal", "-shm"):
                    extra = self.path.with_name(self.path.name + suffix)
                    if extra.exists():
                        extra.rename(aside.with_name(aside.name + suffix))
            except OSError as move_exc:
                raise StoreError(
                    f"the state database {self.path} is unreadable ({exc}) and could not be moved aside "
                    f"({move_exc.strerror}): move or delete it by hand, then restart"
                ) from None
            raise StoreError(
                f"the state database {self.path} is unreadable ({exc}); it was moved aside to {aside} "
                "(nothing deleted). Restart to begin with a new database, or restore a backup in its place."
            ) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            db.close()
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the state database {self.path} has schema version {version}, newer than this monitor "
                f"understands ({SCHEMA_VERSION}): upgrade qbittorrent-monitor or restore an older database"
            )
        if version == 0:
            log.info("creating the state database %s (schema version %d)", self.path, SCHEMA_VERSION)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN")
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={target}")
            db.execute("COMMIT")
            if version:
                log.info("state database %s migrated to schema version %d", self.path, target)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def rows_written(self) -> int:
        """Rows inserted, changed or deleted since this store was opened (the cycle log and the bench count them)."""
        with self._lock:
            return self._db.total_changes

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (a dry run's store is an in-memory copy: `scratch_copy`)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- torrent memory ---------------------------------------------------------------------------
    def observe(
        self,
        torrents: Iterable[Torrent],
        now: float,
        speed_window: float = 7200.0,
        max_gap: float = float("inf"),
        clients: Iterable[str] = (),
    ) -> dict[str, Memory]:
        """Progress memory for the torrents seen this cycle (key client:hash). A row is written only when something
        changed (a new torrent, bytes that moved, a speed window that closed): an idle cycle writes nothing.

        Time nobody watched does not count: when a qBittorrent instance was last read more than `max_gap` ago (the
        monitor, the host or that qBittorrent was down), the clocks of its torrents, findings and outages move
        forward by that gap. `clients` are the instances read this cycle."""
        torrents = list(torrents)
        checkpoint = [client for client in clients if self._note_watch(client, now, max_gap)]
        out: dict[str, Memory] = {}
        rows = self._rows_by_key("torrents", [t.key for t in torrents])
        writes: list[tuple[str, tuple[Any, ...]]] = []
        for t in torrents:
            key = t.key
            row = rows.get(key)
            if row is None:
                # First sight: the last moment of activity qBittorrent knows is the best guess of progress.
                last_at = min(float(t.last_activity or t.added_on or now), now)
                writes.append(
                    (
                        "INSERT INTO torrents (key, client, hash, name, first_seen, last_seen, last_progress_at,"
                        " last_downloaded, window_at, window_bytes) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (key, t.client, t.hash, t.name, now, now, last_at, t.downloaded, now, t.downloaded),
                    )
                )
                out[key] = Memory(now, last_at, t.downloaded, now, None)
                continue
            first, last_at, last_dl = row["first_seen"], row["last_progress_at"], row["last_downloaded"]
            window_at, window_bytes, rate = row["window_at"], row["window_bytes"], row["last_rate"]
            before = (last_at, last_dl, window_at, window_bytes, rate, row["name"])
            if t.downloaded > last_dl:
                last_at, last_dl = now, t.downloaded
            elif t.downloaded < last_dl:  # rechecked or reset: a new baseline, not progress
                last_dl = t.downloaded
                window_at, window_bytes, rate = now, t.downloaded, None
            if now - window_at >= speed_window:
                rate = max(0.0, (t.downloaded - window_bytes) / (now - window_at))
                window_at, window_bytes = now, t.downloaded
            if (last_at, last_dl, window_at, window_bytes, rate, t.name) != before:
                writes.append(
                    (
                        "UPDATE torrents SET name=?, last_seen=?, last_progress_at=?, last_downloaded=?, window_at=?,"
                        " window_bytes=?, last_rate=? WHERE key=?",
                        (t.name, now, last_at, last_dl, window_at, window_bytes, rate, key),
                    )
                )
            out[key] = Memory(first, last_at, last_dl, window_at, rate)
        if checkpoint:  # every max_gap / 3: `last_seen` of the rows not written since, and forget the long gone
            seen = [(now, t.key) for t in torrents if t.client in checkpoint]
            writes += [("UPDATE torrents SET last_seen=? WHERE key=?", args) for args in seen]
            for client in checkpoint:
                gone = (client, now - FORGET_AFTER)
                writes.append(
                    (
                        "DELETE FROM findings WHERE key IN (SELECT key FROM torrents WHERE client=? AND last_seen<?)",
                        gone,
                    )
                )
                writes.append(("DELETE FROM torrents WHERE client=? AND last_seen<?", gone))
        if writes:
            with self._tx() as db:
                for sql, args in writes:
                    db.execute(sql, args)
        return out

    def _note_watch(self, client: str, now: float, max_gap: float) -> bool:
        """This instance was read now. After a gap longer than `max_gap`, its clocks move on by the gap. The cursor
        is kept in memory and written at most every `max_gap` / 3 (an idle cycle writes nothing): True when it is
        written this time."""
        name = f"watched_at:{client}"
        last = self._watched.get(client)
        if last is None:
            stored = self.cursor(name, default=-1)
            last = float(stored) if stored >= 0 else None
            self._watched_written[client] = last or 0.0
        gap = now - last if last is not None else 0.0
        self._watched[client] = now
        if gap > max_gap:
            like = client.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
            with self._tx() as db:
                db.execute(
                    "UPDATE torrents SET first_seen=first_seen+?, last_progress_at=last_progress_at+?, window_at=?,"
                    " window_bytes=last_downloaded, last_rate=NULL WHERE client=?",
                    (gap, gap, now, client),
                )
                db.execute("UPDATE findings SET first_seen=first_seen+? WHERE key LIKE ? ESCAPE '\\'", (gap, like))
                db.execute("UPDATE outages SET first_seen=first_seen+? WHERE client=?", (gap, client))
            log.info("%s was not watched for %s: its clocks move on by that much", client, human_duration(gap))
        if gap > max_gap or now - self._watched_written.get(client, 0.0) >= max(max_gap / 3, 1.0):
            self.set_cursor(name, int(now))
            self._watched_written[client] = now
            return True
        return False

    def _rows_by_key(self, table: str, keys: list[str]) -> dict[str, sqlite3.Row]:
        out: dict[str, sqlite3.Row] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._db.execute(f"SELECT * FROM {table} WHERE key IN ({marks})", chunk):
                    out[r["key"]] = r
        return out

    def note_findings(
        self,
        kinds_by_key: dict[str, list[str]],
        now: float,
        strikes_cap: int = sys.maxsize,
        undecided: dict[str, frozenset[str]] | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
        """Record the finding kinds seen now on each observed torrent. Returns since when each has lasted and its
        strikes (consecutive cycles seen, counted up to `strikes_cap`: beyond it nothing changes, nothing is
        written). A kind no longer seen is forgotten: a condition must be continuous; but a kind `undecided` for a
        torrent this cycle (its tracker is re-announcing) is neither forgotten nor struck."""
        undecided = undecided or {}
        since: dict[str, dict[str, float]] = {}
        strikes: dict[str, dict[str, int]] = {}
        existing: dict[str, dict[str, tuple[float, int]]] = {}
        keys = list(kinds_by_key)
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, kind, first_seen, strikes FROM findings WHERE key IN ({marks})"
                for r in self._db.execute(sql, chunk):
                    existing.setdefault(r[0], {})[r[1]] = (r[2], r[3])
        writes: list[tuple[str, tuple[Any, ...]]] = []
        for key, kinds in kinds_by_key.items():
            known = existing.get(key, {})
            if known:
                for gone in set(known) - set(kinds) - undecided.get(key, frozenset()):
                    writes.append(("DELETE FROM findings WHERE key=? AND kind=?", (key, gone)))
            if not kinds:
                continue  # nothing found: nothing to tell (most torrents of a cycle)
            since[key], strikes[key] = {}, {}
            for kind in kinds:
                if kind in known:
                    first, count = known[kind]
                    if count < strikes_cap:
                        count += 1
                        writes.append(
                            (
                                "UPDATE findings SET last_seen=?, strikes=? WHERE key=? AND kind=?",
                                (now, count, key, kind),
                            )
                        )
                else:
                    first, count = now, 1
                    writes.append(
                        (
                            "INSERT INTO findings (key, kind, first_seen, last_seen, strikes) VALUES (?,?,?,?,?)",
                            (key, kind, now, now, count),
                        )
                    )
                since[key][kind], strikes[key][kind] = first, count
        if writes:
            with self._tx() as db:
                for sql, args in writes:
                    db.execute(sql, args)
        return since, strikes

    # -- the outage breaker's memory -------------------------------------------------------------
    def outages(self) -> dict[str, RememberedOutage]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outages").fetchall()
        out = {}
        for r in rows:
            group = OutageGroup(Scope(r["scope"]), r["client"], Kind(r["kind"]), r["host"])
            evidence = Evidence(r["failing"], r["onset"], r["population"], bool(r["counted"]))
            members = tuple(json.loads(r["members"]))
            out[group.key] = RememberedOutage(group, r["first_seen"], r["last_seen"], evidence, members)
        return out

    def save_outages(self, outages: dict[str, RememberedOutage]) -> None:
        """Replace the memory with the breaker's new state (nothing is written when it did not change)."""
        if outages == self.outages():
            return
        with self._tx() as db:
            db.execute("DELETE FROM outages")
            for o in outages.values():
                g, e = o.group, o.evidence
                db.execute(
                    "INSERT INTO outages VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        g.scope.value,
                        g.client,
                        g.host,
                        g.kind.value,
                        o.first_seen,
                        o.last_seen,
                        e.failing,
                        e.onset,
                        e.population,
                        int(e.counted),
                        json.dumps(list(o.members)),
                    ),
                )

    # -- facts about torrents that never change, or change slowly -------------------------------------
    def private_flags(self, keys: Iterable[str]) -> dict[str, bool]:
        wanted = list(keys)
        out: dict[str, bool] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._db.execute(f"SELECT key, private FROM private_flags WHERE key IN ({marks})", chunk):
                    out[r[0]] = bool(r[1])
        return out

    def save_private_flags(self, flags: dict[str, bool]) -> None:
        if not flags:
            return
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO private_flags VALUES (?,?)", [(k, int(v)) for k, v in flags.items()])

    def populations(self, since: float) -> dict[PopulationKey, Population | None]:
        """Populations read at or after `since` (None: the read was tried and failed; not tried again before)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM populations WHERE read_at>=?", (since,)).fetchall()
        return {
            PopulationKey(r["client"], r["host"]): (
                Population(r["torrents"], json.loads(r["failing"])) if r["torrents"] is not None else None
            )
            for r in rows
        }

    def save_populations(self, counts: dict[PopulationKey, Population | None], now: float) -> None:
        if not counts:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO populations VALUES (?,?,?,?,?)",
                [
                    (k.client, k.host, v.torrents if v else None, json.dumps(v.failing if v else {}), now)
                    for k, v in counts.items()
                ],
            )

    def repaired(self) -> set[tuple[str, str]]:
        """(arr, download id) of every download a queue removal really took out of a queue (not one that failed,
        nor one the queue no longer had: that one may be listed again and still need its repair)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT target, json_extract(params, '$.download_id') FROM actions"
                " WHERE type=? AND status=? AND result!=?",
                (ActionType.ARR_REMOVE, StepStatus.DONE, RemoveResult.GONE),
            ).fetchall()
        return {(r[0], r[1]) for r in rows if r[1]}

    def finish_removal(
        self, action_id: int, result: str, arr: str, items: Iterable[str], hash_: str, now: float
    ) -> None:
        """A removal that really removed the download, and the failed download of its items, in one transaction
        (a crash between the two must not count the failure twice on resume, nor lose it)."""
        with self._tx() as db:
            db.execute(
                "UPDATE actions SET status=?, result=?, updated_at=? WHERE id=?",
                (StepStatus.DONE, result, now, action_id),
            )
            for item in items:
                db.execute("INSERT OR IGNORE INTO failures VALUES (?,?,?,?)", (arr, item, hash_, now))

    def failed_removals(self, since: float) -> dict[tuple[str, str], float]:
        """(arr, download id) -> when a queue removal of it last failed, for failures since `since`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT target, json_extract(params, '$.download_id'), MAX(updated_at) FROM actions"
                " WHERE type=? AND status=? AND updated_at>=? GROUP BY target, json_extract(params, '$.download_id')",
                (ActionType.ARR_REMOVE, StepStatus.FAILED, since),
            ).fetchall()
        return {(r[0], r[1]): float(r[2]) for r in rows if r[1]}

    def failures(self, since: float) -> dict[tuple[str, str], int]:
        """(arr, item) -> how many different downloads of it failed since `since`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT arr, item, COUNT(DISTINCT hash) FROM failures WHERE at>=? GROUP BY arr, item", (since,)
            ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def searches_since(self, arr: str, since: float) -> list[JournalRow]:
        return self._rows(
            "SELECT * FROM actions WHERE type=? AND target=? AND status=? AND updated_at>=? ORDER BY id",
            (ActionType.ARR_SEARCH, arr, StepStatus.DONE, since),
        )

    def set_decision(self, key: str, decision: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE torrents SET last_decision=? WHERE key=?", (json.dumps(decision), key))

    def torrent(self, hash_: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM torrents WHERE hash=?", (hash_.lower(),)).fetchall()
            result = []
            for r in rows:
                d = dict(r)
                d["last_decision"] = json.loads(r["last_decision"]) if r["last_decision"] else None
                d["findings"] = {
                    f["kind"]: {"first_seen": f["first_seen"], "last_seen": f["last_seen"], "strikes": f["strikes"]}
                    for f in self._db.execute("SELECT * FROM findings WHERE key=?", (r["key"],))
                }
                result.append(d)
            return result

    # -- cursors ----------------------------------------------------------------------------------
    def cursor(self, name: str, default: int = -1) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM cursors WHERE name=?", (name,)).fetchone()
            return int(row[0]) if row else default

    def set_cursor(self, name: str, value: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors VALUES (?,?) ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, value)
            )

    # -- the dashboard's switches (protect a torrent, pause the monitor) and its chart ---------------------
    def protected_hashes(self) -> dict[str, dict[str, Any]]:
        """hash -> {name, added_at} of the torrents protected from the dashboard."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM protected_torrents ORDER BY added_at").fetchall()
        return {r["hash"]: {"name": r["name"], "added_at": r["added_at"]} for r in rows}

    def protect(self, hash_: str, name: str, now: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO protected_torrents VALUES (?,?,?)", (hash_.lower(), name, now))

    def unprotect(self, hash_: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM protected_torrents WHERE hash=?", (hash_.lower(),))

    def control(self, name: str) -> tuple[str, float] | None:
        with self._lock:
            row = self._db.execute("SELECT value, set_at FROM controls WHERE name=?", (name,)).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def set_control(self, name: str, value: str | None, now: float) -> None:
        with self._tx() as db:
            if value is None:
                db.execute("DELETE FROM controls WHERE name=?", (name,))
            else:
                db.execute("INSERT OR REPLACE INTO controls VALUES (?,?,?)", (name, value, now))

    def note_found(self, keys_kinds: Iterable[tuple[str, str]], now: float, forget_after: float) -> None:
        """Each (torrent, kind) flagged this cycle: a new failure found unless it was flagged within `forget_after`.
        A failure still flagged has its `last_at` moved on only every `forget_after` / 24 (an idle cycle writes
        nothing; "found again" is then precise to that much)."""
        flagged = list(dict.fromkeys(keys_kinds))
        with self._lock:
            known = {(r[0], r[1]): float(r[2]) for r in self._db.execute("SELECT key, kind, last_at FROM found")}
        refresh = forget_after / 24
        due = [(k, kind) for k, kind in flagged if now - known.get((k, kind), -math.inf) >= refresh]
        stale = any(last < now - forget_after for last in known.values())
        if not due and not stale:
            return
        with self._tx() as db:
            db.execute("DELETE FROM found WHERE last_at<?", (now - forget_after,))
            for key, kind in due:
                db.execute(
                    "INSERT INTO found VALUES (?,?,?,?) ON CONFLICT(key, kind) DO UPDATE SET last_at=excluded.last_at",
                    (key, kind, now, now),
                )

    def found_since(self, since: float) -> list[float]:
        """When each failure found since `since` was first flagged."""
        with self._lock:
            rows = self._db.execute("SELECT first_at FROM found WHERE first_at>=?", (since,)).fetchall()
        return [float(r[0]) for r in rows]

    def repairs_since(self, since: float) -> list[float]:
        """When each repair that took a download out of a queue or the client since `since` did so; a repair the user
        has undone (from the dashboard or `undo`) no longer counts as one."""
        with self._lock:
            rows = self._db.execute(
                "SELECT repair, MIN(updated_at) FROM actions WHERE type IN (?,?) AND status=? AND result!=?"
                " AND updated_at>=? AND repair NOT IN (SELECT repair FROM actions WHERE type=? AND status=?)"
                " GROUP BY repair",
                (
                    ActionType.ARR_REMOVE,
                    ActionType.QBT_DELETE,
                    StepStatus.DONE,
                    RemoveResult.GONE,
                    since,
                    ActionType.UNDO,
                    StepStatus.DONE,
                ),
            ).fetchall()
        return [float(r[1]) for r in rows]

    def strikes_for(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        """key -> kind -> strikes, for the torrents the dashboard lists."""
        wanted = list(keys)
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._db.execute(f"SELECT key, kind, strikes FROM findings WHERE key IN ({marks})", chunk):
                    out.setdefault(r[0], {})[r[1]] = int(r[2])
        return out

    # -- the action journal -----------------------------------------------------------------------
    def plan(self, decision: Decision, now: float) -> list[JournalRow]:
        """Write every step of a repair before the first one runs."""
        repair = uuid.uuid4().hex[:12]
        t = decision.download.torrent
        f = decision.finding
        with self._tx() as db:
            for step, action in enumerate(decision.actions):
                db.execute(
                    "INSERT INTO actions (repair, step, created_at, updated_at, client, hash, name, type, target,"
                    " params, description, kind, reason, evidence, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        repair,
                        step,
                        now,
                        now,
                        t.client,
                        t.hash,
                        t.name,
                        action.type,
                        action.target,
                        json.dumps(action.params),
                        action.description,
                        f.kind.value,
                        f.reason,
                        json.dumps(f.evidence, default=str),
                        StepStatus.PENDING,
                    ),
                )
        return self.repair(repair)

    def record_undo(self, step: JournalRow, result: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO actions (repair, step, created_at, updated_at, client, hash, name, type, target,"
                " params, description, kind, reason, evidence, status, result)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    step.repair,
                    1000 + step.step,
                    now,
                    now,
                    step.client,
                    step.hash,
                    step.name,
                    ActionType.UNDO,
                    step.target,
                    json.dumps({"undoes": step.id}),
                    f"{step.target}: undo of action {step.id}",
                    step.kind,
                    step.reason,
                    json.dumps(step.evidence),
                    StepStatus.DONE,
                    result,
                ),
            )

    def finish(self, action_id: int, status: str, result: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE actions SET status=?, result=?, updated_at=? WHERE id=?", (status, result, now, action_id)
            )

    def repair(self, repair: str) -> list[JournalRow]:
        return self._rows("SELECT * FROM actions WHERE repair=? ORDER BY step", (repair,))

    def unfinished(self) -> list[JournalRow]:
        return self._rows(
            "SELECT * FROM actions WHERE status IN (?,?) ORDER BY id", (StepStatus.PENDING, StepStatus.RUNNING)
        )

    def deferred(self) -> list[JournalRow]:
        return self._rows("SELECT * FROM actions WHERE status=? ORDER BY id", (StepStatus.DEFERRED,))

    def history(self, since: float = 0.0, hash_: str | None = None) -> list[JournalRow]:
        if hash_:
            return self._rows(
                "SELECT * FROM actions WHERE hash=? AND created_at>=? ORDER BY id", (hash_.lower(), since)
            )
        return self._rows("SELECT * FROM actions WHERE created_at>=? ORDER BY id", (since,))

    def journal(
        self, where: dict[str, str], between: tuple[float, float] | None, limit: int
    ) -> tuple[int, list[JournalRow]]:
        """The dashboard's History: how many rows match (`where`: column -> value, among type, target and status;
        `between`: [start, end) of created_at) and the newest `limit` of them, newest first. Only those are read
        and decoded, however long the journal has grown."""
        clauses: list[str] = ["1=1"]
        args: list[Any] = []
        for column, value in where.items():
            if column not in ("type", "target", "status"):
                raise ValueError(f"not a journal filter: {column}")
            clauses.append(f"{column}=?")
            args.append(value)
        if between is not None:
            clauses.append("created_at>=? AND created_at<?")
            args += [between[0], between[1]]
        cond = " AND ".join(clauses)
        with self._lock:
            total = int(self._db.execute(f"SELECT COUNT(*) FROM actions WHERE {cond}", args).fetchone()[0])
        rows = self._rows(f"SELECT * FROM actions WHERE {cond} ORDER BY id DESC LIMIT ?", (*args, limit))
        return total, rows

    def journal_options(self) -> dict[str, list[str]]:
        """The values the History filters offer: every action type, target and status in the journal."""
        with self._lock:
            return {
                column: [str(r[0]) for r in self._db.execute(f"SELECT DISTINCT {column} FROM actions ORDER BY 1")]
                for column in ("type", "target", "status")
            }

    def undone_actions(self) -> set[int]:
        """The ids of the actions an undo has taken back."""
        with self._lock:
            rows = self._db.execute("SELECT params FROM actions WHERE type=?", (ActionType.UNDO,)).fetchall()
        return {int(json.loads(r[0]).get("undoes", 0)) for r in rows}

    def action(self, action_id: int) -> JournalRow | None:
        rows = self._rows("SELECT * FROM actions WHERE id=?", (action_id,))
        return rows[0] if rows else None

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[JournalRow]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            JournalRow(**{**dict(r), "params": json.loads(r["params"]), "evidence": json.loads(r["evidence"])})
            for r in rows
        ]
