"""Run a real, quiet, loopback-only qbittorrent-nox (4.5.2, 5.1.0 or 5.3.0) for tests and talk to its WebUI API.

Recipe and quirks: /work/shared/QBITTORRENT-TESTING.md and QBITTORRENT-5X.md. In short: the profile config is
written before the first start (legal notice accepted, WebUI on 127.0.0.1 with a PBKDF2 password, no UPnP/GeoIP,
torrents bound to `lo`, DHT/PeX/LSD and queueing off, RefreshInterval=250 ms), the process runs in the foreground
under a cleared environment (qBittorrent reads every CLI option from QBT_* variables too), and it is stopped with
SIGTERM by its PID, SIGKILL after 15 s. `[LegalNotice] Accepted=true` is honoured by all three versions, so 5.x's
--confirm-legal-notice is not needed.

4.5.2 is Debian 12's package (/usr/bin/qbittorrent-nox); 5.1.0 and 5.3.0 are fetched from the Debian archive and
cached by scripts/fetch_qbittorrent.py, which `resolve_binary` runs. Everything that differs between versions is a
row of the table in harness/versions.py (`qbt.behaviour`), never a version comparison here.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from harness.torrents import TorrentFile
from harness.versions import DEFAULT_VERSION, SUPPORTED, Behaviour, Login

__all__ = [
    "BinaryUnavailable",
    "QBittorrent",
    "QBittorrentError",
    "find_binary",
    "hash_from_magnet",
    "pbkdf2_password",
    "resolve_binary",
]

DEFAULT_BINARY = "/usr/bin/qbittorrent-nox"
FETCH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_qbittorrent.py"
FETCH_TIMEOUT = 600.0
STOP_TIMEOUT = 15.0
START_TIMEOUT = 20.0

_reserved_ports: set[int] = set()
_ports_lock = threading.Lock()
_running: weakref.WeakSet[QBittorrent] = weakref.WeakSet()


class QBittorrentError(RuntimeError):
    """The qbittorrent-nox process or its API did not behave as expected."""


class BinaryUnavailable(QBittorrentError):
    """This qBittorrent version cannot be run here; the message says why."""


def find_binary() -> str | None:
    """Path of the system's qbittorrent-nox (Debian 12: 4.5.2), or None when it is not installed."""
    found = shutil.which("qbittorrent-nox")
    if found:
        return found
    return DEFAULT_BINARY if os.access(DEFAULT_BINARY, os.X_OK) else None


def resolve_binary(version: str = DEFAULT_VERSION) -> str:
    """The qbittorrent-nox to run for `version`: the system's for 4.5.2, else the wrapper that
    scripts/fetch_qbittorrent.py fetched and cached (fetched now if needed; instant once cached)."""
    release = SUPPORTED.get(version)
    if release is None:
        raise BinaryUnavailable(f"qBittorrent {version} is not one the suite runs ({', '.join(SUPPORTED)})")
    if release.source == "system":
        found = find_binary()
        if found is None:
            raise BinaryUnavailable(
                f"qbittorrent-nox {version} is not installed: `apt-get install -y --no-install-recommends"
                " qbittorrent-nox` (Debian 12)"
            )
        return found
    argv = [sys.executable, str(FETCH_SCRIPT), "--json", version]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False)
        result = json.loads(done.stdout)[version]
    except subprocess.TimeoutExpired:
        raise BinaryUnavailable(f"fetching qbittorrent-nox {version} took over {FETCH_TIMEOUT:.0f} s") from None
    except (ValueError, KeyError):
        raise BinaryUnavailable(
            f"{FETCH_SCRIPT.name} {version} answered no result (exit {done.returncode}): {done.stderr[-1000:]}"
        ) from None
    if not result.get("ok"):
        raise BinaryUnavailable(f"cannot fetch qbittorrent-nox {version}: {result.get('reason')}")
    return str(result["binary"])


def pbkdf2_password(password: str, salt: bytes | None = None) -> str:
    """The `WebUI\\Password_PBKDF2` value qBittorrent >= 4.2 expects: @ByteArray(SALT_B64:KEY_B64)."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000, 64)
    return f"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"


def hash_from_magnet(magnet: str) -> str:
    """Lower-case hex v1 info hash of a magnet link (hex or base32 btih)."""
    match = re.search(r"xt=urn:btih:([0-9a-zA-Z]+)", magnet)
    if not match:
        raise ValueError(f"no btih in magnet {magnet!r}")
    value = match.group(1)
    if len(value) == 40:
        return value.lower()
    if len(value) == 32:
        return base64.b32decode(value.upper()).hex()
    raise ValueError(f"bad btih {value!r}")


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_pair() -> int:
    """A port P such that P (WebUI) and P+1 (BitTorrent, TCP and UDP) are free on 127.0.0.1."""
    with _ports_lock:
        for _ in range(200):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port >= 65535 or port in _reserved_ports or port + 1 in _reserved_ports:
                continue
            if _port_free(port) and _port_free(port + 1):
                _reserved_ports.update((port, port + 1))
                return port
    raise QBittorrentError("no free pair of loopback ports")


class _SidAuth(httpx.Auth):
    """Logs in on first use and again whenever qBittorrent answers 403 (e.g. after a restart). What a good
    login answers and the cookie's name are the version's (`Login`, from the table): anything else is a failure."""

    requires_request_body = True
    requires_response_body = True

    def __init__(self, base_url: str, username: str, password: str, login: Login, port: int) -> None:
        self._login_url = f"{base_url}/api/v2/auth/login"
        self._form = {"username": username, "password": password}
        self._expect = login
        self.cookie = login.cookie_name(port)
        self.sid: str | None = None

    def _login(self) -> httpx.Request:
        return httpx.Request("POST", self._login_url, data=self._form)

    def _take(self, response: httpx.Response) -> None:
        sid = response.cookies.get(self.cookie)
        expected = (self._expect.ok_status, self._expect.ok_body)
        if (response.status_code, response.text) != expected or not sid:
            raise QBittorrentError(
                f"login failed: HTTP {response.status_code} {response.text!r}, cookies {sorted(response.cookies)};"
                f" expected HTTP {expected[0]} {expected[1]!r} and cookie {self.cookie}"
            )
        self.sid = sid

    def login_now(self, timeout: float) -> None:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            self._take(client.send(self._login()))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.endswith("/api/v2/auth/login"):
            response = yield request
            with contextlib.suppress(QBittorrentError):
                self._take(response)
            return
        if self.sid is None:
            self._take((yield self._login()))
        request.headers["Cookie"] = f"{self.cookie}={self.sid}"
        response = yield request
        if response.status_code == 403:
            self._take((yield self._login()))
            request.headers["Cookie"] = f"{self.cookie}={self.sid}"
            yield request


class QBittorrent:
    """One qbittorrent-nox process of `version` with its own profile under `workdir`.

    `binary` defaults to `resolve_binary(version)` (which fetches 5.x if it is not cached yet). Where versions
    differ, `behaviour` (harness/versions.py) says what this one does."""

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "admin",
        password: str = "harness-Passw0rd",
        port: int | None = None,
        binary: str | None = None,
        version: str = DEFAULT_VERSION,
    ) -> None:
        if version not in SUPPORTED:
            raise QBittorrentError(f"qBittorrent {version} is not one the suite runs ({', '.join(SUPPORTED)})")
        self.version = version
        self.release = SUPPORTED[version]
        self.behaviour = Behaviour(version)
        self.workdir = Path(workdir).resolve()
        self.username = username
        self.password = password
        self.port = port if port is not None else free_port_pair()
        self.torrent_port = self.port + 1
        self.url = f"http://127.0.0.1:{self.port}"
        self.binary = binary or resolve_binary(version)
        self.profile = self.workdir / "profile"
        self.home = self.workdir / "home"
        self.save_root = self.workdir / "downloads"
        self.config_path = self.profile / "qBittorrent" / "config" / "qBittorrent.conf"
        self.output_path = self.workdir / "qbittorrent-nox.out"
        self.pid: int | None = None
        self.nudges = 0  # reannounces wait_tracker_status sent to unstick an announce (see stuck_announce_nudge)
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._api: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"QBittorrent({self.version}, url={self.url!r}, pid={self.pid}, workdir={str(self.workdir)!r})"

    # -- what this version calls things (rows of harness/versions.py) ---------------------------------------
    @property
    def paused_states(self) -> frozenset[str]:
        """The states of a stopped torrent: pausedDL/pausedUP on 4.x, stoppedDL/stoppedUP on 5.x."""
        return frozenset(self.behaviour.stopped_states)

    def paused_state(self, *, complete: bool = False) -> str:
        """The state of a stopped torrent, incomplete (DL) or complete (UP), on this version."""
        states = self.behaviour.stopped_states
        return states.up if complete else states.dl

    # -- profile -------------------------------------------------------------------------------------
    def config_text(self) -> str:
        save = self.save_root.as_posix()
        return "\n".join(
            [
                "[LegalNotice]",
                "Accepted=true",
                "",
                "[Network]",
                "PortForwardingEnabled=false",
                "",
                "[BitTorrent]",
                "Session\\Interface=lo",
                "Session\\InterfaceName=lo",
                "Session\\InterfaceAddress=127.0.0.1",
                f"Session\\Port={self.torrent_port}",
                "Session\\DHTEnabled=false",
                "Session\\PeXEnabled=false",
                "Session\\LSDEnabled=false",
                "Session\\AddTrackersEnabled=false",
                "Session\\QueueingSystemEnabled=false",
                "Session\\IgnoreLimitsOnLAN=false",
                f"Session\\DefaultSavePath={save}",
                f"Session\\TempPath={save}/.incomplete",
                "Session\\TempPathEnabled=false",
                "Session\\RefreshInterval=250",
                *self._content_remove_option(),
                # libtorrent's SSRF mitigation only allows the path "/announce" for trackers on
                # localhost ("blocked by SSRF mitigation"); the harness tracker encodes its mode in
                # the path (/ok/announce, /fail/<reason>/announce), so it is switched off.
                "Session\\SSRFMitigation=false",
                "",
                "[Preferences]",
                "WebUI\\Enabled=true",
                "WebUI\\Address=127.0.0.1",
                f"WebUI\\Port={self.port}",
                f"WebUI\\Username={self.username}",
                f'WebUI\\Password_PBKDF2="{pbkdf2_password(self.password)}"',
                "WebUI\\UseUPnP=false",
                "WebUI\\MaxAuthenticationFailCount=0",
                "Connection\\ResolvePeerCountries=false",
                "Connection\\UPnP=false",
                "",
            ]
        )

    def _content_remove_option(self) -> list[str]:
        key = self.behaviour.content_remove_option_key
        # 5.x moves deleted content to the trash by default (it stays on disk): the harness really deletes.
        return [f"{key}=Delete"] if key else []

    def _write_profile(self) -> None:
        for directory in (self.config_path.parent, self.home, self.save_root):
            directory.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(self.config_text())

    # -- process -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process (config written on the first start) and wait until the WebUI answers."""
        if self.running:
            return
        if not os.access(self.binary, os.X_OK):
            raise QBittorrentError(f"qbittorrent-nox not found at {self.binary}")
        self._write_profile()
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }
        argv = [self.binary, f"--profile={self.profile}", f"--webui-port={self.port}"]
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # Safety net only: if the test process dies without running its finalizers, the kernel
            # sends SIGTERM to qbittorrent-nox. setpriv execs, so the PID is qbittorrent-nox's.
            argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
        self._output = open(self.output_path, "ab")  # noqa: SIM115 - lives as long as the process
        self._output.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(argv)}\n".encode())
        self._output.flush()
        self._proc = subprocess.Popen(
            argv, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT
        )
        self.pid = self._proc.pid
        _running.add(self)
        try:
            self._wait_ready(timeout)
            said = self.get("app/version").text  # also proves the login works as the table says
            if said != f"v{self.version}":
                raise QBittorrentError(f"{self.binary} is qBittorrent {said}, not v{self.version}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: str = ""
        with httpx.Client(timeout=1.0, trust_env=False) as probe:
            while True:
                assert self._proc is not None
                code = self._proc.poll()
                if code is not None:
                    raise QBittorrentError(
                        f"qbittorrent-nox exited with {code} during start-up:\n{self.output()[-3000:]}"
                    )
                try:
                    # Without a session qBittorrent answers 403 here: any answer means the WebUI is up.
                    response = probe.get(f"{self.url}/api/v2/app/version")
                    if response.status_code in (200, 403):
                        return
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    raise QBittorrentError(f"WebUI at {self.url} not ready after {timeout}s ({last})")
                time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM by PID, wait up to `timeout` s, then SIGKILL. Safe to call when not running."""
        proc, self._proc = self._proc, None
        if self._api is not None:
            self._api.close()
            self._api = None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        _running.discard(self)
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> QBittorrent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def output(self) -> str:
        """Everything the process wrote to stdout/stderr (all runs)."""
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP ----------------------------------------------------------------------------------------
    def client(self, timeout: float = 10.0) -> httpx.Client:
        """A new logged-in client (base_url=url) that logs in again on 403. The caller closes it
        (`with qbt.client() as c:` works: the login happens on a separate connection)."""
        auth = _SidAuth(self.url, self.username, self.password, self.behaviour.login, self.port)
        auth.login_now(timeout)
        # trust_env=False: never route loopback requests through an HTTP(S)_PROXY from the environment
        return httpx.Client(base_url=self.url, auth=auth, timeout=timeout, trust_env=False)

    @property
    def api(self) -> httpx.Client:
        """The harness's own shared client (closed by stop())."""
        if self._api is None:
            self._api = self.client()
        return self._api

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET /api/v2/<path>; raises QBittorrentError unless 200."""
        response = self.api.get(f"/api/v2/{path}", params=params)
        if response.status_code != 200:
            raise QBittorrentError(f"GET {path} {params}: HTTP {response.status_code} {response.text!r}")
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """POST /api/v2/<path> (form data); raises QBittorrentError unless 2xx (5.2+ answers some with 204)."""
        response = self.api.post(f"/api/v2/{path}", data=data, **kwargs)
        if not response.is_success:
            raise QBittorrentError(f"POST {path} {data}: HTTP {response.status_code} {response.text!r}")
        return response

    # -- torrents ------------------------------------------------------------------------------------
    def ensure_category(self, category: str) -> None:
        if category in self.get("torrents/categories").json():
            return
        response = self.api.post("/api/v2/torrents/createCategory", data={"category": category})
        if response.status_code not in (200, 409):
            raise QBittorrentError(f"createCategory {category!r}: HTTP {response.status_code} {response.text!r}")

    def add(
        self,
        tf: TorrentFile | str,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        paused: bool = False,
        skip_checking: bool = False,
        save_path: Path | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Add a TorrentFile or a magnet link and wait until qBittorrent lists it; returns the hash.
        `paused=True` adds it stopped (the field is `paused` on 4.x, `stopped` on 5.x, which ignores `paused`)."""
        data = {self.behaviour.add_stopped_field: str(paused).lower(), "skip_checking": str(skip_checking).lower()}
        if category:
            self.ensure_category(category)
            data["category"] = category
        if tags:
            data["tags"] = ",".join(tags)
        if save_path is not None:
            data["savepath"] = str(save_path)
        if isinstance(tf, TorrentFile):
            info_hash = tf.info_hash
            files = {"torrents": (f"{tf.name}.torrent", tf.data, "application/x-bittorrent")}
            response = self.api.post("/api/v2/torrents/add", data=data, files=files)
        else:
            info_hash = hash_from_magnet(tf)
            response = self.api.post("/api/v2/torrents/add", data={**data, "urls": tf})
        if response.status_code != 200 or not self._added(response, info_hash):
            raise QBittorrentError(
                f"torrents/add {info_hash} refused (already there?): HTTP {response.status_code} {response.text!r}"
            )
        deadline = time.monotonic() + timeout
        while not self.info([info_hash]):
            if time.monotonic() > deadline:
                raise QBittorrentError(f"torrent {info_hash} not listed {timeout}s after torrents/add")
            time.sleep(0.05)
        return info_hash

    def add_many(
        self,
        tfs: list[TorrentFile],
        *,
        save_path: Path,
        category: str | None = None,
        tags: list[str] | None = None,
        skip_checking: bool = False,
    ) -> None:
        """Add many .torrent files, 200 per torrents/add request (how a library of thousands is built in seconds).
        Does not wait for them to be listed."""
        data = {self.behaviour.add_stopped_field: "false", "skip_checking": str(skip_checking).lower()}
        data["savepath"] = str(save_path)
        if category:
            self.ensure_category(category)
            data["category"] = category
        if tags:
            data["tags"] = ",".join(tags)
        for start in range(0, len(tfs), 200):
            batch = tfs[start : start + 200]
            files = [("torrents", (f"{tf.info_hash}.torrent", tf.data, "application/x-bittorrent")) for tf in batch]
            response = self.api.post("/api/v2/torrents/add", data=data, files=files, timeout=120)
            if response.status_code != 200 or (not self.behaviour.add_reply_is_json and response.text != "Ok."):
                raise QBittorrentError(f"torrents/add of {len(batch)}: HTTP {response.status_code} {response.text!r}")

    def _added(self, response: httpx.Response, info_hash: str) -> bool:
        """Whether the torrents/add reply says the torrent was taken: "Ok." or, from 5.2, JSON."""
        if not self.behaviour.add_reply_is_json:
            return response.text == "Ok."
        try:
            reply = response.json()
        except ValueError:
            return False
        return isinstance(reply, dict) and reply.get("success_count") == 1 and reply.get("failure_count") == 0

    def info(self, hashes: Iterable[str] | None = None, **params: Any) -> list[dict[str, Any]]:
        """GET torrents/info; `params` are passed as is (filter, category, tag, sort, ...)."""
        if hashes is not None:
            hashes = list(hashes)
            if not hashes:  # hashes="" would mean "all torrents" to qBittorrent
                return []
            params["hashes"] = "|".join(hashes)
        result: list[dict[str, Any]] = self.get("torrents/info", **params).json()
        return result

    def torrent(self, info_hash: str) -> dict[str, Any]:
        """torrents/info of one torrent; AssertionError if it does not exist."""
        found = self.info([info_hash])
        assert found, f"torrent {info_hash} not in qBittorrent"
        return found[0]

    def trackers(self, info_hash: str) -> list[dict[str, Any]]:
        """GET torrents/trackers (includes the DHT/PeX/LSD pseudo rows, tier -1)."""
        result: list[dict[str, Any]] = self.get("torrents/trackers", hash=info_hash).json()
        return result

    @staticmethod
    def real_trackers(trackers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of torrents/trackers that are actual trackers (not ** [DHT] ** etc.)."""
        return [t for t in trackers if not str(t.get("url", "")).startswith("** [")]

    def wait_state(self, info_hash: str, states: set[str], timeout: float = 20.0) -> dict[str, Any]:
        """Poll torrents/info every 0.1 s until the torrent's state is in `states`; returns its info."""
        deadline = time.monotonic() + timeout
        history: list[str] = []
        while True:
            found = self.info([info_hash])
            state = found[0]["state"] if found else "<absent>"
            if not history or history[-1] != state:
                history.append(state)
            if found and state in states:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"torrent {info_hash}: state {state!r} after {timeout}s, wanted one of {sorted(states)};"
                    f" seen {' -> '.join(history)}"
                )
            time.sleep(0.1)

    def wait_info(
        self, info_hash: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Poll torrents/info every 0.1 s until `predicate(info)` holds; returns the info."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.info([info_hash])
            if found and predicate(found[0]):
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"torrent {info_hash}: not {what} after {timeout}s; last info {found}")
            time.sleep(0.1)

    def wait_tracker_status(
        self, info_hash: str, status: int, timeout: float = 20.0, *, msg: str | None = None
    ) -> list[dict[str, Any]]:
        """Poll torrents/trackers until a real tracker row has `status` (and `msg`, if given).

        Where the version can leave a row "updating" although the tracker has answered (`stuck_announce_nudge`),
        a row updating for that long gets one torrents/reannounce, as a user would click; `nudges` counts them."""
        deadline = time.monotonic() + timeout
        nudge_after = self.behaviour.stuck_announce_nudge
        updating_since: float | None = None
        rows: list[dict[str, Any]] = []
        while True:
            with contextlib.suppress(QBittorrentError):
                rows = self.trackers(info_hash)
            real = self.real_trackers(rows)
            if any(t["status"] == status and (msg is None or t["msg"] == msg) for t in real):
                return rows
            now = time.monotonic()
            # status 3 is "updating" up to 5.1; from 5.2 the row says updating=true (status stays 1 until replied)
            updating = any(t["status"] == 3 or t.get("updating") is True for t in real)
            updating_since = (updating_since or now) if updating else None
            if nudge_after is not None and updating_since is not None and now - updating_since > nudge_after:
                self.nudges += 1
                with contextlib.suppress(QBittorrentError):
                    self.reannounce(info_hash)
                updating_since = None
            if now > deadline:
                seen = [(t["url"], t["status"], t["msg"], t.get("updating")) for t in real]
                raise AssertionError(
                    f"torrent {info_hash}: no tracker with status {status} msg {msg!r} after {timeout}s;"
                    f" last seen (url, status, msg, updating) {seen}"
                )
            time.sleep(0.1)

    def delete(self, hashes: Iterable[str], delete_files: bool = True, timeout: float = 20.0) -> None:
        hashes = list(hashes)
        if not hashes:
            return
        self.post("torrents/delete", {"hashes": "|".join(hashes), "deleteFiles": str(delete_files).lower()})
        deadline = time.monotonic() + timeout
        while self.info(hashes):
            if time.monotonic() > deadline:
                raise QBittorrentError(f"torrents still present {timeout}s after delete: {hashes}")
            time.sleep(0.05)

    def delete_all(self, delete_files: bool = True, timeout: float = 20.0) -> None:
        """Delete every torrent (and its data) and wait until torrents/info is empty."""
        self.post("torrents/delete", {"hashes": "all", "deleteFiles": str(delete_files).lower()})
        deadline = time.monotonic() + timeout
        while remaining := self.info():
            if time.monotonic() > deadline:
                raise QBittorrentError(f"{len(remaining)} torrents still present {timeout}s after delete_all")
            time.sleep(0.05)

    def pause(self, info_hash: str) -> None:
        """Stop the torrent (torrents/pause on 4.x, torrents/stop on 5.x)."""
        self.post(self.behaviour.stop_endpoint, {"hashes": info_hash})

    def resume(self, info_hash: str) -> None:
        """Start the torrent again (torrents/resume on 4.x, torrents/start on 5.x)."""
        self.post(self.behaviour.start_endpoint, {"hashes": info_hash})

    def recheck(self, info_hash: str) -> None:
        self.post("torrents/recheck", {"hashes": info_hash})

    def reannounce(self, info_hash: str) -> None:
        self.post("torrents/reannounce", {"hashes": info_hash})

    def set_upload_limit(self, info_hash: str, bytes_per_s: int) -> None:
        self.post("torrents/setUploadLimit", {"hashes": info_hash, "limit": str(bytes_per_s)})

    def log(self, **params: Any) -> list[dict[str, Any]]:
        """GET log/main: [{id, message, timestamp, type}] (type 1 normal, 2 info, 4 warning, 8 critical)."""
        result: list[dict[str, Any]] = self.get("log/main", **params).json()
        return result


@atexit.register
def _stop_leftovers() -> None:
    for instance in list(_running):
        instance.stop()
