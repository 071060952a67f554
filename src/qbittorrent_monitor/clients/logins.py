"""Never let a wrong password get the monitor's IP banned.

qBittorrent bans an IP after 5 failed logins (`WebUI\\MaxAuthenticationFailCount`) for an hour
(`WebUI\\BanDuration`), after which even the right password gets 403. So once qBittorrent refuses a set of
credentials, the same credentials are tried again only after a long pause, and at most `MAX_TRIES` times in all,
whatever the number of cycles, `--test` runs or health checks (the record is kept in the data dir, so separate
processes share it). New credentials (the config or the environment changed: SIGHUP or a restart) are tried at once.
The record holds a salted fingerprint of the credentials, never the credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

MAX_TRIES = 3  # refusals of the same credentials before the monitor stops trying them (qBittorrent bans at 5)
RETRY_AFTER = (3600.0, 6 * 3600.0)  # pause after the 1st and the 2nd refusal
BAN_WAIT = 3600.0  # qBittorrent's default ban


@dataclass(frozen=True)
class Refusal:
    fingerprint: str
    tries: int
    last_at: float
    banned: bool = False

    def retry_at(self) -> float | None:
        if self.banned:
            return self.last_at + BAN_WAIT
        if self.tries >= MAX_TRIES:
            return None
        return self.last_at + RETRY_AFTER[min(self.tries, len(RETRY_AFTER)) - 1]


class LoginGuard:
    """What qBittorrent said to each instance's credentials, kept in `path` (None: in memory only).

    Several processes share the record (the daemon, `--test`, `--health-check` on one data dir): it is read again
    before each try when the file changed, and each change is made to the file's current content under a lock, so
    that a refusal recorded by one process is seen by the others and never erased by them."""

    def __init__(self, path: Path | None, clock: Callable[[], float], *, cannot_record: str | None = None) -> None:
        self.path = path
        self.clock = clock
        # Set when a refusal could not be remembered by the next run of a one-shot process: no login is tried then.
        self.cannot_record = cannot_record
        self._salt = secrets.token_hex(16)
        self._refusals: dict[str, Refusal] = {}
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of the file last read
        with self._locked():
            if not self._reload() and self.path is not None:
                self._write()  # the salt is shared from the start: every process fingerprints alike

    def fingerprint(self, url: str, username: str, password: str) -> str:
        return hashlib.sha256(f"{self._salt}\0{url}\0{username}\0{password}".encode()).hexdigest()

    def blocked(self, instance: str, fingerprint: str) -> Refusal | None:
        """The refusal that forbids trying these credentials now, or None (asked before each try, so it reads what
        other processes recorded since). The caller words it (it knows how it authenticates); the record only says
        how often and when, so its text never changes between two cycles."""
        self._reload()
        r = self._refusals.get(instance)
        if r is None or r.fingerprint != fingerprint:
            return None
        retry = r.retry_at()
        if retry is not None and self.clock() >= retry:
            return None
        return r

    def refused(self, instance: str, fingerprint: str, *, banned: bool = False) -> Refusal:
        with self._locked():
            self._reload()
            before = self._refusals.get(instance)
            tries = before.tries + 1 if before is not None and before.fingerprint == fingerprint else 1
            refusal = Refusal(fingerprint, tries, self.clock(), banned)
            self._refusals[instance] = refusal
            self._write()
        return refusal

    def succeeded(self, instance: str, fingerprint: str) -> None:
        """These credentials worked: their refusal is forgotten (another set's, recorded by another process, stays)."""
        r = self._refusals.get(instance)
        if r is None or r.fingerprint != fingerprint:
            return  # the common case, every request: nothing read, nothing written
        with self._locked():
            self._reload()
            r = self._refusals.get(instance)
            if r is not None and r.fingerprint == fingerprint:
                del self._refusals[instance]
                self._write()

    # -- the record ---------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        lock = FileLock(self.path.with_name(self.path.name + ".lock"), timeout=10)
        try:
            lock.acquire()
        except (Timeout, OSError) as exc:
            log.warning("cannot lock the login record %s (%s): changing it without the lock", self.path, exc)
            yield
            return
        try:
            yield
        finally:
            lock.release()

    def _reload(self) -> bool:
        """Read the file again if it changed since it was last read; whether there is a record file."""
        if self.path is None:
            return False
        try:
            st = self.path.stat()
        except OSError:
            return False
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen == self._seen:
            return True
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            salt = str(doc["salt"])
            refusals = {name: Refusal(**r) for name, r in doc.get("refusals", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the unreadable login record %s (%s)", self.path, exc)
            return False
        self._salt, self._refusals, self._seen = salt, refusals, seen
        return True

    def _write(self) -> None:
        if self.path is None:
            return
        doc = {"salt": self._salt, "refusals": {k: vars(r) for k, r in self._refusals.items()}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, self.path)
            st = self.path.stat()
            self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError as exc:
            log.warning("cannot keep the login record in %s (%s): only this process remembers it", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
