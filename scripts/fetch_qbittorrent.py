#!/usr/bin/env python3
"""Fetch real qbittorrent-nox builds that Debian 12 does not ship (5.1.0, 5.3.0) and cache them unpacked.

    python3 scripts/fetch_qbittorrent.py [--cache-dir DIR] [--json] VERSION...

How (facts in QBITTORRENT-5X.md, measured on Debian 12 machines): a private apt configuration in a temporary
directory (its own sources.list naming the trixie suites at the mirror this machine's apt sources already use, its
own lists and cache, an EMPTY dpkg status so apt downloads the whole dependency closure, libc6 included), then
`apt-get install --download-only`, then `dpkg-deb -x` of every .deb into `<cache>/<version>/root`. Nothing is
installed on the host and no chroot is needed. `<cache>/<version>/qbittorrent-nox` is a wrapper that runs the
unpacked binary with its own dynamic loader, its own libraries and QT_PLUGIN_PATH, all set by the wrapper itself so
it also works under a cleared environment (`env -i`). The wrapper `exec`s, so its PID is qBittorrent's.

Idempotent: a version already cached (its `fetched.json` written last, after the unpacked build answered
`--version` with the right version) returns at once. A version that cannot be fetched is reported with the
reason, and the exit status is 1. Standard library only: the suite runs this before its virtualenv has anything.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "qbittorrent"


@dataclass(frozen=True)
class Build:
    """Where one qBittorrent version comes from in the Debian archive."""

    version: str  # upstream version, as qbittorrent-nox --version prints it (without the "v")
    suite: str  # the apt suite whose qbittorrent-nox has that upstream version


# The versions this script knows how to fetch. The Debian revision is not pinned (a rebuild such as 5.1.0-3 is the
# same program); the upstream version is checked twice: in apt's candidates, then by running the unpacked binary.
BUILDS = {
    "5.1.0": Build("5.1.0", "trixie"),
    "5.3.0": Build("5.3.0", "trixie-backports"),
}
PACKAGE = "qbittorrent-nox"
RELEASE = "trixie"  # the Debian release all BUILDS come from
SUITES = (RELEASE, f"{RELEASE}-updates", f"{RELEASE}-backports")  # at the main archive
SECURITY_SUITE = f"{RELEASE}-security"  # at the security archive, when the host's sources name one

# dpkg architecture -> (multiarch library directory, dynamic loader file name in it)
LOADERS = {
    "amd64": ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    "arm64": ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
}


class FetchError(RuntimeError):
    """This version cannot be fetched here; the message says why."""


# -- the host's apt sources ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    uri: str
    suites: tuple[str, ...]
    signed_by: str | None


def _deb822_sources(text: str) -> Iterator[Source]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace() and key:  # continuation line
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        signed_by = fields.get("signed-by") or None
        if signed_by and not signed_by.startswith("/"):
            signed_by = None  # an inline key block: let apt's trusted keyrings decide
        for uri in fields.get("uris", "").split():
            yield Source(uri.rstrip("/"), tuple(fields.get("suites", "").split()), signed_by)


def _one_line_sources(text: str) -> Iterator[Source]:
    for line in text.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if not match:
            continue
        options = dict(o.split("=", 1) for o in (match.group(1) or "").split() if "=" in o)
        yield Source(match.group(2).rstrip("/"), (match.group(3),), options.get("signed-by"))


def host_sources(etc_apt: Path = Path("/etc/apt")) -> list[Source]:
    """Every enabled `deb` source of this machine (sources.list.d/*.sources and *.list, sources.list)."""
    found: list[Source] = []
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        found.extend(_deb822_sources(path.read_text(errors="replace")))
    lists = [etc_apt / "sources.list", *(sorted(parts.glob("*.list")) if parts.is_dir() else [])]
    for path in lists:
        if path.is_file():
            found.extend(_one_line_sources(path.read_text(errors="replace")))
    return found


def mirrors(sources: list[Source]) -> tuple[Source, Source | None]:
    """The main Debian archive the host uses, and its security archive if it names one. Never a hard-coded host."""
    main = [s for s in sources if s.suites and not any(x.endswith("-security") for x in s.suites)]
    security = [s for s in sources if any(x.endswith("-security") for x in s.suites)]
    debian = [s for s in main if s.uri.endswith("/debian")] or main
    if not debian:
        raise FetchError("no Debian archive in this machine's apt sources (/etc/apt/sources.list.d/*.sources)")
    return debian[0], (security[0] if security else None)


def _sources_list(main: Source, security: Source | None) -> str:
    def line(src: Source, suite: str) -> str:
        opts = f"[signed-by={src.signed_by}] " if src.signed_by and Path(src.signed_by).is_file() else ""
        return f"deb {opts}{src.uri} {suite} main\n"

    text = "".join(line(main, suite) for suite in SUITES)
    return text + (line(security, SECURITY_SUITE) if security else "")


# -- apt with a private configuration -------------------------------------------------------------------------
class PrivateApt:
    """apt-get/apt-cache with their own sources, lists, cache and an empty dpkg status, under `work`."""

    def __init__(self, work: Path, main: Source, security: Source | None) -> None:
        self.work = work
        self.archives = work / "cache" / "archives"
        for directory in (work / "lists" / "partial", self.archives / "partial"):
            directory.mkdir(parents=True, exist_ok=True)
        (work / "sources.list").write_text(_sources_list(main, security))
        (work / "status").write_text("")  # empty: apt fetches the whole closure, nothing of the host counts
        # Hooks of the host's apt.conf.d (PackageKit, AppStream refresh, cache cleaning) must not run for us.
        (work / "apt.conf").write_text(
            "#clear APT::Update::Post-Invoke;\n"
            "#clear APT::Update::Post-Invoke-Success;\n"
            "#clear DPkg::Pre-Invoke;\n"
            "#clear DPkg::Post-Invoke;\n"
        )
        self.options = [
            "-c",
            str(work / "apt.conf"),
            "-o",
            f"Dir::Etc::sourcelist={work / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=/nonexistent",
            "-o",
            f"Dir::State::Lists={work / 'lists'}",
            "-o",
            f"Dir::Cache={work / 'cache'}",
            "-o",
            f"Dir::State::status={work / 'status'}",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Sandbox::User=root",
        ]

    def run(self, tool: str, *args: str, timeout: float = 600) -> str:
        argv = [tool, *self.options, *args]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise FetchError(f"{tool} {' '.join(args)}: no answer after {timeout:.0f} s") from None
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip())[-1500:]
            raise FetchError(f"{tool} {' '.join(args)} failed (exit {done.returncode}): {tail}")
        if tool == "apt-get" and args[:1] == ("update",) and re.search(r"^(W|E): ", done.stderr, re.M):
            # apt-get update exits 0 when a suite could not be read; say which, or the install fails unclearly.
            problems = [ln for ln in done.stderr.splitlines() if re.match(r"^(W|E): ", ln)]
            if any("Failed to fetch" in p or "not signed" in p or "NO_PUBKEY" in p for p in problems):
                raise FetchError("apt-get update: " + " | ".join(problems)[-1500:])
        return done.stdout

    def candidate(self, build: Build) -> str:
        """The Debian version of qbittorrent-nox in `build.suite` whose upstream version is `build.version`."""
        table = self.run("apt-cache", "madison", PACKAGE)
        offered: list[tuple[str, str]] = []
        for row in table.splitlines():
            cells = [c.strip() for c in row.split("|")]
            if len(cells) < 3 or cells[0] != PACKAGE:
                continue
            version, origin = cells[1], cells[2]
            suite = origin.split()[1].split("/")[0] if len(origin.split()) > 1 else ""
            offered.append((version, suite))
            upstream = version.split(":", 1)[-1].rsplit("-", 1)[0]
            if suite == build.suite and upstream == build.version:
                return version
        seen = ", ".join(f"{v} ({s})" for v, s in offered) or "none"
        raise FetchError(f"the archive has no {PACKAGE} {build.version} in {build.suite}; it offers: {seen}")


# -- the cache ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fetched:
    version: str
    binary: Path  # the wrapper to run
    debian_version: str
    suite: str
    mirror: str
    cached: bool
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": True,
            "version": self.version,
            "binary": str(self.binary),
            "debian_version": self.debian_version,
            "suite": self.suite,
            "mirror": self.mirror,
            "cached": self.cached,
            "seconds": round(self.seconds, 2),
        }


def _arch() -> tuple[str, str]:
    try:
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FetchError(f"dpkg --print-architecture failed: {exc}") from None
    name = arch.stdout.strip()
    if name not in LOADERS:
        raise FetchError(f"architecture {name} ({platform.machine()}) is not supported (only {sorted(LOADERS)})")
    return LOADERS[name]


def wrapper_text(root: Path, multiarch: str, loader: str) -> str:
    lib = root / "usr" / "lib" / multiarch
    return (
        "#!/bin/sh\n"
        "# Written by scripts/fetch_qbittorrent.py: run the unpacked qbittorrent-nox with its own loader and\n"
        "# libraries. Everything it needs is set here, so it also runs under a cleared environment (env -i).\n"
        f"L='{lib}'\n"
        'QT_PLUGIN_PATH="$L/qt6/plugins"\n'
        "export QT_PLUGIN_PATH\n"
        f'exec "$L/{loader}" --library-path "$L:$L/libproxy" \'{root}/usr/bin/qbittorrent-nox\' "$@"\n'
    )


def _check_version(binary: Path, version: str) -> None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"the unpacked qbittorrent-nox does not run: {exc}") from None
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or f"v{version}" not in said.split():
        raise FetchError(f"the unpacked qbittorrent-nox --version said {said[-500:]!r} (exit {done.returncode})")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two test runs fetching at once: the second waits, then finds it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached(version: str, cache_dir: Path = DEFAULT_CACHE) -> Fetched | None:
    """The cached build of `version`, or None."""
    dest = cache_dir / version
    try:
        stamp = json.loads((dest / "fetched.json").read_text())
    except (OSError, ValueError):
        return None
    binary = dest / PACKAGE
    if not (os.access(binary, os.X_OK) and (dest / "root" / "usr" / "bin" / PACKAGE).is_file()):
        return None
    multiarch, loader = _arch()
    if binary.read_text() != wrapper_text((dest / "root").resolve(), multiarch, loader):
        binary.write_text(wrapper_text((dest / "root").resolve(), multiarch, loader))  # the cache was moved
    return Fetched(version, binary, stamp["debian_version"], stamp["suite"], stamp["mirror"], True, 0.0)


def fetch(version: str, cache_dir: Path = DEFAULT_CACHE, etc_apt: Path = Path("/etc/apt")) -> Fetched:
    """The unpacked build of `version` (fetched now, or from the cache); FetchError says why not."""
    started = time.monotonic()
    if version not in BUILDS:
        raise FetchError(f"unknown version {version}: this script fetches {', '.join(BUILDS)}")
    build = BUILDS[version]
    cache_dir = cache_dir.resolve()
    with _locked(cache_dir / f".lock-{version}"):
        found = cached(version, cache_dir)
        if found is not None:
            return Fetched(**{**found.__dict__, "seconds": time.monotonic() - started})
        for tool in ("apt-get", "apt-cache", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise FetchError(f"{tool} is not installed (a Debian system is needed)")
        multiarch, loader = _arch()
        main, security = mirrors(host_sources(etc_apt))
        dest = cache_dir / version
        shutil.rmtree(dest, ignore_errors=True)  # an unfinished earlier attempt
        with tempfile.TemporaryDirectory(prefix=f".fetch-{version}-", dir=cache_dir) as tmp:
            apt = PrivateApt(Path(tmp) / "apt", main, security)
            apt.run("apt-get", "update")
            debian_version = apt.candidate(build)
            apt.run(
                "apt-get",
                "install",
                "--download-only",
                "--no-install-recommends",
                "-y",
                "-t",
                build.suite,
                f"{PACKAGE}={debian_version}",
            )
            debs = sorted(apt.archives.glob("*.deb"))
            if not any(d.name.startswith(f"{PACKAGE}_") for d in debs):
                raise FetchError(f"apt downloaded {len(debs)} packages but not {PACKAGE}")
            staging = Path(tmp) / "unpacked"
            root = staging / "root"
            root.mkdir(parents=True)
            for deb in debs:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
            if not (root / "usr" / "lib" / multiarch / loader).exists():
                raise FetchError(f"no {loader} in the unpacked packages (libc6 missing from the download?)")
            (staging / PACKAGE).write_text(wrapper_text(dest / "root", multiarch, loader))
            (staging / PACKAGE).chmod(0o755)
            staging.rename(dest)
        try:
            _check_version(dest / PACKAGE, version)
            stamp = {
                "version": version,
                "debian_version": debian_version,
                "suite": build.suite,
                "mirror": main.uri,
                "packages": [d.name for d in debs],
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (dest / "fetched.json").write_text(json.dumps(stamp, indent=1) + "\n")  # last: marks it complete
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        return Fetched(
            version, dest / PACKAGE, debian_version, build.suite, main.uri, False, time.monotonic() - started
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", metavar="VERSION", help=f"default: all of {', '.join(BUILDS)}")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout: version -> result")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, object]] = {}
    for version in args.versions or list(BUILDS):
        try:
            got = fetch(version, args.cache_dir)
        except (FetchError, OSError, subprocess.CalledProcessError) as exc:
            results[version] = {"ok": False, "version": version, "reason": str(exc)}
            if not args.json:
                print(f"qbittorrent-nox {version}: cannot fetch: {exc}", file=sys.stderr)
            continue
        results[version] = got.as_dict()
        if not args.json:
            how = "cached" if got.cached else f"fetched {got.debian_version} ({got.suite}) in {got.seconds:.1f} s"
            print(f"qbittorrent-nox {version}: {got.binary} ({how})")
    if args.json:
        print(json.dumps(results, indent=1))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
