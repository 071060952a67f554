"""observe: ask the services the cycle's questions and build the Snapshot, complete before anything is judged.

What it asks (cheap, scoped questions; see clients/qbittorrent.py):
- every *arr queue (every page), whether the *arr can reach its download client, and its download clients'
  settings: each queue download goes to the one qBittorrent instance its *arr uses (`assign`, over mapping.py);
- qBittorrent: `torrents/info?hashes=` for the hashes the queues send to that instance (with their trackers on 5.1+),
  the `errored` filter, the warning log since the last line seen, the connection status;
- tracker rows of suspects only on 4.x (incomplete, running, no data flowing), and the private flag of the torrents
  a repair could delete (4.x says it per torrent; it never changes: asked once, kept in the store);
- when the opt-in seed cleanup is due: the whole library once, to find unregistered seeds and every user of their data.

`populations` answers the outage breaker's one question that depends on what was found (a tracker's whole
population), at most once per `outage.window` per tracker.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .clients import ServiceError
from .clients.arr import ArrClient
from .clients.qbittorrent import Feature, Listed, QBittorrentClient, log_torrent_name
from .config import Config
from .decide.protection import never_a_candidate
from .mapping import DownloadClient, Endpoint, Route, in_category, route, route_clients
from .model import (
    DOWNLOADING_STATES,
    METADATA_STATES,
    ArrDownload,
    Download,
    LogEntry,
    Population,
    PopulationKey,
    QueueItem,
    Snapshot,
    Torrent,
    TrackerState,
    TrackerStatus,
    group_queue,
)
from .store import Store

log = logging.getLogger(__name__)

LOG_MEMORY = 2000  # qBittorrent warning lines kept per instance to explain `error` states
MIN_GAP = 900.0  # a torrent unseen this long (or 3 intervals) was not watched: that time does not count
ERROR_STATES = frozenset({"error", "missingFiles"})
TRACKER_REFRESH = 1800.0  # a suspect's cached tracker rows are read again after this long ...
TRACKER_REFRESH_PER_CYCLE = 25  # ... at most this many a cycle (a change of the torrent is read at once)
SETTLED_REFRESH = 600.0  # a queued torrent no repair can touch is read again after half to all of this (by hash)
CLIENTS_REFRESH = 900.0  # an *arr's download client settings are read again after this long (or when unknown)
ERRORED_REFRESH = 1800.0  # the errored list is asked for again after this long without a new log line

_HASH = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def is_suspect(t: Torrent) -> bool:
    """Torrents whose trackers are worth reading: running, incomplete, and not receiving data now."""
    if t.is_paused or t.is_complete:
        return False
    return t.state in METADATA_STATES or (t.state in DOWNLOADING_STATES and t.dlspeed == 0)


def may_be_repaired(t: Torrent) -> bool:
    """A torrent a repair could delete: incomplete and failing or a suspect (its private flag matters)."""
    return not t.is_complete and (t.state in ERROR_STATES or is_suspect(t))


def join_log(torrents: list[Torrent], entries: Iterable[LogEntry]) -> dict[str, tuple[LogEntry, ...]]:
    """Each log line to the one torrent it is about (hash -> lines). By hash where qBittorrent quotes one; by name
    otherwise, and then only when the name points at a single torrent: two torrents that share a name (cross-seeds)
    are told apart by the path in the line, by time (a line older than a torrent is not about it) and by which one is
    in an error state; a line that still fits several is attached to none, never to the wrong one."""
    by_hash = {t.hash: t for t in torrents}
    by_name: dict[str, list[Torrent]] = {}
    for t in torrents:
        by_name.setdefault(t.name, []).append(t)
    out: dict[str, list[LogEntry]] = {}
    for entry in entries:
        ref = log_torrent_name(entry.message)
        if ref is None:
            continue
        if _HASH.match(ref.lower()):
            target = by_hash.get(ref.lower())
            if target is not None:
                out.setdefault(target.hash, []).append(entry)
            continue
        fits = by_name.get(ref, [])
        if len(fits) > 1:
            fits = [t for t in fits if not t.added_on or entry.timestamp >= t.added_on - 60]
        if len(fits) > 1:
            fits = [t for t in fits if _mentions_path(entry.message, t)] or fits
        if len(fits) > 1:
            fits = [t for t in fits if t.state in ERROR_STATES]
        if len(fits) == 1:
            out.setdefault(fits[0].hash, []).append(entry)
    return {h: tuple(v) for h, v in out.items()}


@dataclass
class Assigned:
    """The queues' downloads by the qBittorrent instance they are in (hash -> downloads), and what could not be
    placed, per *arr instance (why)."""

    by_client: dict[str, dict[str, list[ArrDownload]]] = field(default_factory=dict)
    unplaced: list[tuple[ArrDownload, str]] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # *arr instance -> what the user must fix

    def hashes(self) -> set[str]:
        return {h for by_hash in self.by_client.values() for h in by_hash}


def assign(arr: str, groups: list[ArrDownload], routes: dict[str, Route], out: Assigned) -> None:
    """Each download of one *arr queue to the qBittorrent instance its download client is (never to two)."""
    unplaced: dict[str, int] = {}
    for g in groups:
        r = route(g.download_client, routes)
        if r is None or not r.qbittorrent:
            why = r.why if r is not None else f"the app has no qBittorrent download client named {g.download_client!r}"
            out.unplaced.append((g, why))
            if r is None or r.problem:
                unplaced[why] = unplaced.get(why, 0) + 1
            continue
        placed = replace(g, client=r.qbittorrent)
        out.by_client.setdefault(r.qbittorrent, {}).setdefault(g.download_id, []).append(placed)
    if unplaced:
        out.problems[arr] = "; ".join(
            f"{n} download(s) not judged: {why}" for why, n in sorted(unplaced.items(), key=lambda kv: -kv[1])
        )


def _mentions_path(message: str, t: Torrent) -> bool:
    paths = [p.rstrip("/") for p in (t.content_path, t.save_path) if p]
    return any(f"{p}/" in message or f'{p}"' in message or f"{p})" in message for p in paths)


class Observer:
    def __init__(
        self,
        config: Config,
        qbts: list[QBittorrentClient],
        arrs: dict[str, ArrClient],
        store: Callable[[], Store],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.qbts = qbts
        self.arrs = arrs
        self._store = store  # opened on first use (the health check never opens it)
        self.clock = clock
        self._logs: dict[str, deque[LogEntry]] = {q.name: deque(maxlen=LOG_MEMORY) for q in qbts}
        self._log_cursor: dict[str, int] = {q.name: -1 for q in qbts}
        self._log_reread: set[str] = set()  # torrents whose missing log line justified one full re-read
        self._endpoints = [Endpoint.from_url(q.name, q.url) for q in config.qbittorrent]
        self._routes_said: dict[str, dict[str, str]] = {}  # *arr -> download client -> what was last logged
        self._categories: dict[tuple[str, str], str] = {}  # (*arr, download client) -> the category it polls
        self._private: dict[str, bool] = {}  # what the store knows, kept here too (read once per process)
        self._hosts: dict[str, tuple[str, ...]] = {}  # tracker hosts read for protection.trackers, per torrent
        self._tracker_cache: dict[str, tuple[tuple[Any, ...], tuple[TrackerStatus, ...], float]] = {}
        self._errored_at: dict[str, tuple[float, list[Listed]]] = {}  # instance -> (read at, the errored list)
        self._settled: dict[str, dict[str, tuple[float, Listed]]] = {}  # instance -> hash -> (due, as last read)
        self._clients: dict[str, tuple[float, list[DownloadClient]]] = {}  # *arr -> (read at, its clients)
        self._refreshes_left = TRACKER_REFRESH_PER_CYCLE
        self._whole_log: dict[str, bool] = {}  # instance -> this cycle's tail read the whole log

    @property
    def store(self) -> Store:
        return self._store()

    # -- the snapshot ------------------------------------------------------------------------------------
    def snapshot(self, *, cleanup: bool = False) -> Snapshot:
        now = self.clock()
        snap = Snapshot(taken_at=now)
        self._refreshes_left = TRACKER_REFRESH_PER_CYCLE
        queued = self._queues(snap)
        listed: list[Listed] = []
        read: list[str] = []
        for q in self.qbts:
            mine_queued = queued.by_client.get(q.name, {})
            try:
                status = snap.connection_status[q.name] = q.connection_status()
                new_lines = self._tail_log(q)
                mine = {item.torrent.hash: item for item in self._queued_torrents(q, mine_queued, now)}
                for item in self._errored(q, new_lines, now):
                    mine.setdefault(item.torrent.hash, item)
                self._explain_errors(q, [i.torrent for i in mine.values()])
                snap.service_status[q.name] = f"connection {status}"
                if status == "disconnected":
                    snap.held_clients[q.name] = f"qBittorrent {q.name} reports connection status disconnected"
            except ServiceError as exc:
                snap.service_errors[q.name] = exc.message
                continue
            listed += mine.values()
            read.append(q.name)

        torrents = [item.torrent for item in listed]
        max_gap = max(3 * self.config.monitor.check_interval, MIN_GAP)
        memory = self.store.observe(torrents, now, self.config.stalled.slow.window, max_gap=max_gap, clients=read)
        refs_of = {t.key: self._refs(t, queued) for t in torrents}
        private = self._private_flags([t for t in torrents if refs_of[t.key] and may_be_repaired(t)])
        logs = {q.name: join_log([t for t in torrents if t.client == q.name], self._logs[q.name]) for q in self.qbts}
        completed: dict[str, tuple[Torrent, Torrent]] = {}  # key -> (as listed, as completed here: private, tracker)
        for item in listed:
            t = item.torrent
            if item.trackers is not None and not t.working_tracker:
                # 5.1+ returned the rows with the torrent: a tracker that works for it is known without its field
                working = next((r.url for r in item.trackers if r.status == TrackerState.WORKING and r.host), "")
                t = replace(t, working_tracker=working)
            key = t.key
            refs = refs_of[key]
            trackers = None
            if is_suspect(t):  # the same rows on every version: read where torrents/info did not return them
                trackers = (
                    item.trackers if item.trackers is not None else (self._cached_trackers(t, now) if refs else None)
                )
            if key in private and t.private is not private[key]:
                t = replace(t, private=private[key])
            if t is not item.torrent:
                completed[key] = (item.torrent, t)
            hosts = self._listed_hosts(t, item.trackers or trackers, bool(refs))
            snap.downloads.append(Download(t, refs, trackers, logs[t.client].get(t.hash, ()), memory.get(key), hosts))
        self._keep_completed(completed)
        # Tracker rows of torrents an answering instance no longer lists are forgotten (a daemon runs for months).
        listed_keys = {t.key for t in torrents}
        for key in [k for k in self._tracker_cache if k not in listed_keys and k.rsplit(":", 1)[0] in read]:
            del self._tracker_cache[key]
        joined = {(g.arr, g.client, g.download_id) for d in snap.downloads for g in d.arr}
        if not any(q.name in snap.service_errors for q in self.qbts):
            # Only when every qBittorrent answered: a torrent missing from a failed read is not "gone".
            snap.unmatched_queue = [
                g
                for by_hash in queued.by_client.values()
                for gs in by_hash.values()
                for g in gs
                if (g.arr, g.client, g.download_id) not in joined
            ]
        snap.unmatched_queue += [g for g, _ in queued.unplaced]
        if cleanup and not snap.service_errors and not snap.held_arrs:
            # Only with every queue read: a download a silent *arr still owns must not look orphaned.
            self._seeds(snap, queued.hashes() | {g.download_id for g, _ in queued.unplaced})
        return snap

    def _refs(self, t: Torrent, queued: Assigned) -> tuple[ArrDownload, ...]:
        """The queue downloads that are this torrent: sent to its instance, and in a category their app sees."""
        refs = []
        for g in queued.by_client.get(t.client, {}).get(t.hash, ()):
            category = self._categories.get((g.arr, g.download_client), "")
            if in_category(t.category, category):
                refs.append(g)
            else:
                log.warning(
                    "%s: %s on %s is in category %r, not %r where %s looks: not joined",
                    g.arr,
                    t.name,
                    t.client,
                    t.category,
                    category,
                    g.arr,
                )
        return tuple(refs)

    def _download_clients(self, arr: ArrClient, items: list[QueueItem], now: float) -> list[DownloadClient]:
        """The app's download client settings, read again every CLIENTS_REFRESH or at once when a queue record
        names a client they do not hold (one added or renamed): they change when the user edits them, not per
        cycle."""
        cached = self._clients.get(arr.name)
        named = {i.download_client for i in items if i.download_client}
        if cached is None or now - cached[0] >= CLIENTS_REFRESH or not named <= {c.name for c in cached[1]}:
            cached = self._clients[arr.name] = (now, arr.download_clients())
        return cached[1]

    def _queues(self, snap: Snapshot) -> Assigned:
        out = Assigned()
        self._categories = {}
        for arr in self.arrs.values():
            try:
                items = arr.queue()
                if problem := arr.download_client_problem():
                    snap.held_arrs[arr.name] = problem
                routes = route_clients(
                    self._download_clients(arr, items, snap.taken_at), self._endpoints, arr.qbittorrent
                )
            except ServiceError as exc:
                snap.service_errors[arr.name] = exc.message
                continue
            self._say_routes(arr.name, routes)
            self._categories |= {(arr.name, name): r.category for name, r in routes.items()}
            assign(arr.name, group_queue(items), routes, out)
            if arr.name in out.problems:
                snap.service_errors[arr.name] = out.problems[arr.name]
            else:
                snap.service_status[arr.name] = f"queue: {len(items)} torrent record(s)"
        return out

    def _say_routes(self, arr: str, routes: dict[str, Route]) -> None:
        """Log where each download client's downloads go, once, and again when it changes."""
        said = self._routes_said.setdefault(arr, {})
        for name, r in routes.items():
            text = f"-> qBittorrent {r.qbittorrent} ({r.why})" if r.qbittorrent else f"not placed: {r.why}"
            if said.get(name) == text:
                continue
            said[name] = text
            level = logging.WARNING if r.problem or r.assumed else logging.INFO
            log.log(level, "%s: download client %r %s", arr, name, text)

    def _qbt(self, name: str) -> QBittorrentClient:
        return next(q for q in self.qbts if q.name == name)

    def _trackers(self, t: Torrent) -> tuple[TrackerStatus, ...] | None:
        try:
            return self._qbt(t.client).trackers(t.hash)
        except ServiceError as exc:
            log.warning("%s: trackers of %s unavailable: %s", t.client, t.name, exc.message)
            return None

    def _listed_hosts(self, t: Torrent, rows: tuple[TrackerStatus, ...] | None, queued: bool) -> tuple[str, ...]:
        """Every tracker host the torrent lists, whatever its status, for `protection.trackers`. Where no call
        returned its rows (4.x, not a suspect) and trackers are protected, they are read once per torrent."""
        if rows is None and queued and self.config.protection.trackers and not t.is_complete:
            key = t.key
            if key not in self._hosts:
                read = self._trackers(t)
                if read is None:
                    return ()  # unknown: not remembered, asked again next cycle
                self._hosts[key] = tuple(dict.fromkeys(r.host for r in read if r.host))
            hosts = self._hosts[key]
        else:
            hosts = tuple(r.host for r in rows or () if r.host)
        field = urlsplit(t.tracker).hostname or "" if t.tracker else ""
        return tuple(dict.fromkeys(h for h in (*hosts, field) if h))

    def _private_flags(self, torrents: list[Torrent]) -> dict[str, bool]:
        """Known flags for these torrents; qBittorrent 4.x is asked (torrents/properties) for each unknown one
        once, and the answer kept. Unknown stays unknown (the policy then keeps the torrent: it may be private).
        A torrent without its metadata is never asked: 4.x answers "not private" for a magnet it knows nothing of."""
        unknown = {t.key: t for t in torrents if t.private is None and t.state not in METADATA_STATES and t.size > 0}
        known = {k: v for k, v in self._private.items() if k in unknown}
        known |= self.store.private_flags(k for k in unknown if k not in known)
        asked: dict[str, bool] = {}
        for key, t in unknown.items():
            if key in known:
                continue
            q = self._qbt(t.client)
            if q.supports(Feature.PRIVATE_IN_INFO):
                continue  # 5.x leaves it null while the metadata is missing: nothing to ask
            try:
                flag = q.is_private(t.hash)
            except ServiceError as exc:
                log.warning("%s: cannot tell whether %s is private (%s)", t.client, t.name, exc.message)
                continue
            if flag is not None:
                asked[key] = flag
        self.store.save_private_flags(asked)
        self._private |= known | asked
        return {**known, **asked}

    def _tail_log(self, q: QBittorrentClient) -> bool:
        """Follow qBittorrent's warning log from the last line seen; True when new lines came."""
        self._whole_log[q.name] = self._log_cursor[q.name] == -1
        entries = q.log_since(self._log_cursor[q.name])
        self._logs[q.name].extend(entries)
        if entries:
            self._log_cursor[q.name] = max(e.id for e in entries)
        return bool(entries)

    def _explain_errors(self, q: QBittorrentClient, torrents: list[Torrent]) -> None:
        """Re-read the log whole once if an errored torrent has no line (a restart of qBittorrent resets the ids,
        so the tail would miss it)."""
        errored = [t for t in torrents if t.state in ERROR_STATES]
        explained = join_log(errored, self._logs[q.name])
        unexplained = {t.key for t in errored if t.hash not in explained} - self._log_reread
        if unexplained and not self._whole_log[q.name]:
            self._log_reread |= unexplained  # once per torrent: its line may simply have rotated out
            self._logs[q.name].clear()
            self._log_cursor[q.name] = -1
            self._tail_log(q)

    def _queued_torrents(self, q: QBittorrentClient, hashes: Iterable[str], now: float) -> list[Listed]:
        """The torrents the queues send to this instance: each cycle every one a repair could touch; one that is
        never a candidate (complete and waiting for the app's import, paused, protected by tag, category or hash)
        again only after SETTLED_REFRESH, spread by hash so that a queue of them is not re-read in one burst. Its
        last answer stands meanwhile: stale, it can only delay a repair (a tag removed, a download resumed), never
        cause one. qBittorrent spends about 0.2 ms of CPU on each torrent it lists."""
        cache = self._settled.setdefault(q.name, {})
        wanted = {h.lower() for h in hashes}
        for gone in cache.keys() - wanted:
            del cache[gone]
        fresh = {h: item for h, (due, item) in cache.items() if now < due}
        to_read = wanted - fresh.keys()
        for h in to_read:
            cache.pop(h, None)
        read = q.torrents(to_read) if to_read else []
        for item in read:
            if never_a_candidate(item.torrent, self.config):
                spread = int(item.torrent.hash[:8], 16) / 0xFFFFFFFF if _HASH.match(item.torrent.hash) else 1.0
                cache[item.torrent.hash] = (now + SETTLED_REFRESH * (0.5 + spread / 2), item)
        return read + list(fresh.values())

    def _keep_completed(self, completed: dict[str, tuple[Torrent, Torrent]]) -> None:
        """A cached listing (a settled queued torrent, the errored list) takes the torrent as this cycle completed it
        (its private flag, 5.1+'s working tracker): the next cycles reuse that object rather than completing a copy
        of the cached one every cycle, a second object per torrent for the last report to hold. Only the very
        listing that was completed (`completed`: key -> (as listed, as completed)): the same torrent in the other
        cache, from another read, keeps its own."""
        if not completed:
            return

        def as_completed(item: Listed) -> Listed:
            c = completed.get(item.torrent.key)
            return replace(item, torrent=c[1]) if c is not None and c[0] is item.torrent else item

        for listed, _ in completed.values():
            settled = self._settled.get(listed.client, {})
            if (cached := settled.get(listed.hash)) is not None and (done := as_completed(cached[1])) is not cached[1]:
                settled[listed.hash] = (cached[0], done)
        for name, (at, items) in self._errored_at.items():
            if any(as_completed(i) is not i for i in items):  # rebuilt only when one of its torrents was completed
                self._errored_at[name] = (at, [as_completed(i) for i in items])

    def _errored(self, q: QBittorrentClient, new_lines: bool, now: float) -> list[Listed]:
        """The `errored` filter (torrents in error or missingFiles, queued or not), read again only when the log
        says something new (qBittorrent logs every file error) or every ERRORED_REFRESH: an errored torrent no
        queue refers to can only be reported, so its list need not be asked for every cycle."""
        last = self._errored_at.get(q.name)
        if new_lines or last is None or now - last[0] >= ERRORED_REFRESH:
            self._errored_at[q.name] = (now, q.errored())
        return self._errored_at[q.name][1]

    def _cached_trackers(self, t: Torrent, now: float) -> tuple[TrackerStatus, ...] | None:
        """A suspect's tracker rows (4.x, where torrents/info does not return them), read again only when the
        torrent changed (state, progress, `tracker` field) or at a slow, bounded rate (TRACKER_REFRESH, at most
        TRACKER_REFRESH_PER_CYCLE of them a cycle): a tracker's answer changes at announce intervals."""
        key = t.key
        signature = (t.state, round(t.progress, 4), t.tracker, t.downloaded)
        cached = self._tracker_cache.get(key)
        if cached is not None and cached[0] == signature:
            stale = now - cached[2] >= TRACKER_REFRESH
            if not stale or self._refreshes_left <= 0:
                return cached[1]
            self._refreshes_left -= 1
        rows = self._trackers(t)
        if rows is not None and not any(r.announcing for r in rows):  # an announce in progress: ask again next cycle
            self._tracker_cache[key] = (signature, rows, now)
        elif cached is not None:
            return cached[1]
        return rows

    # -- the opt-in seed cleanup -------------------------------------------------------------------------
    def cleanup_due(self) -> bool:
        """The opt-in cleanup of unregistered seeds reads the whole library: at most once per its interval."""
        cfg = self.config.cleanup
        return cfg.unregistered_seeds and self.clock() - self.store.cursor("cleanup_at", 0) >= cfg.interval

    def cleanup_decided(self, snap: Snapshot) -> None:
        """The cycle decided on the library this snapshot read: the next whole read waits its interval (a cycle
        that failed before deciding reads it again)."""
        if snap.cleanup_read:
            self.store.set_cursor("cleanup_at", int(snap.taken_at))

    def _seeds(self, snap: Snapshot, queued: set[str]) -> None:
        """Complete torrents no queue refers to, with their trackers where no tracker is known to work, and every
        user of their data in every instance. With several qBittorrent instances the data is never deleted: two
        instances may see one folder under different paths, and that cannot be proven otherwise."""
        users: dict[str, int] = {}
        suspects: list[Download] = []
        for q in self.qbts:
            try:
                everything = q.all_torrents()
                found = []
                for item in everything:
                    t = item.torrent
                    if t.hash in queued or not t.is_complete or t.is_paused:
                        continue
                    trackers = item.trackers
                    if trackers is None and not t.working_tracker:
                        trackers = q.trackers(t.hash)
                    if trackers is not None:
                        found.append(Download(t, (), trackers, listed_hosts=self._listed_hosts(t, trackers, False)))
            except ServiceError as exc:
                log.warning("cleanup of unregistered seeds on %s skipped: %s", q.name, exc.message)
                continue
            snap.cleanup_read = True
            for item in everything:  # incomplete torrents (a cross-seed being checked) use the data too
                path = item.torrent.content_path.rstrip("/")
                users[path] = users.get(path, 0) + 1
            private = self._private_flags([d.torrent for d in found])
            suspects += [
                replace(d, torrent=replace(d.torrent, private=private[d.key])) if d.key in private else d for d in found
            ]
        several = len(self.qbts) > 1
        snap.seeds = suspects
        snap.shared_data = frozenset(
            d.key
            for d in suspects
            if several or not d.torrent.content_path or users.get(d.torrent.content_path.rstrip("/"), 0) > 1
        )

    # -- what the outage breaker asks --------------------------------------------------------------------
    def known_populations(self) -> dict[PopulationKey, Population]:
        """The populations read within the last `outage.window` (what the breaker knows without asking)."""
        cached = self.store.populations(since=self.clock() - self.config.outage.window)
        return {k: v for k, v in cached.items() if v is not None}

    def populations(self, wanted: set[PopulationKey]) -> dict[PopulationKey, Population]:
        """qBittorrent's own count of the wanted groups (and, free with the same read, of every tracker of that
        client). Read (sync/maindata, the whole library) at most once per `outage.window` per group, even when the
        read failed; cached in the store."""
        now = self.clock()
        cached = self.store.populations(since=now - self.config.outage.window)
        out = {k: v for k, v in cached.items() if v is not None}
        to_read = sorted(k for k in wanted if k not in cached)
        for client in dict.fromkeys(k.client for k in to_read):
            keys = [k for k in to_read if k.client == client]
            try:
                counted = self._qbt(client).populations()
            except ServiceError as exc:
                log.warning(
                    "%s: tracker populations unavailable (%s): judged on what the monitor sees", client, exc.message
                )
                self.store.save_populations(dict.fromkeys(keys), now)
                continue
            counts: dict[PopulationKey, Population | None] = {PopulationKey(client): counted.client}
            counts |= {PopulationKey(client, host): n for host, n in counted.by_host.items()}
            counts |= {k: Population(0) for k in keys if k not in counts}  # a host no torrent lists
            log.info(
                "%s: read the torrent counts for the outage breaker (%s)",
                client,
                ", ".join(f"{k.describe()}: {counts[k].torrents}" for k in keys),  # type: ignore[union-attr]
            )
            self.store.save_populations(counts, now)
            out |= {k: v for k, v in counts.items() if v is not None}
        return out
