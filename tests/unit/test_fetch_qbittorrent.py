"""scripts/fetch_qbittorrent.py without the network: which mirror it reads from the machine's apt sources, what
its private apt configuration says, and what it reports when a version cannot be fetched."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_qbittorrent.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_qbittorrent", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


fetch = _load()

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.test/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.test/debian
Suites: bookworm
Components: main
"""


def etc_apt(tmp_path: Path, sources: str = DEBIAN_SOURCES, one_line: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True)
    (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    (tmp_path / "sources.list.d" / "nodesource.sources.disabled-by-farm").write_text(
        "Types: deb\nURIs: http://wrong.example.test/node\nSuites: nodistro\n"
    )
    if one_line:
        (tmp_path / "sources.list").write_text(one_line)
    return tmp_path


def test_the_mirror_is_the_one_the_machine_already_uses(tmp_path: Path) -> None:
    main, security = fetch.mirrors(fetch.host_sources(etc_apt(tmp_path)))
    assert (main.uri, main.signed_by) == (
        "http://mirror.example.test/debian",
        "/usr/share/keyrings/debian-archive-keyring.gpg",
    )
    assert security is not None and security.uri == "http://mirror.example.test/debian-security"
    text = fetch._sources_list(main, security)
    assert [line.split()[-3:] for line in text.splitlines()] == [
        ["http://mirror.example.test/debian", "trixie", "main"],
        ["http://mirror.example.test/debian", "trixie-updates", "main"],
        ["http://mirror.example.test/debian", "trixie-backports", "main"],
        ["http://mirror.example.test/debian-security", "trixie-security", "main"],
    ]


def test_one_line_sources_list_works_too(tmp_path: Path) -> None:
    apt = etc_apt(
        tmp_path,
        sources="Types: deb\nEnabled: no\nURIs: http://off.example.test/debian\nSuites: bookworm\n",
        one_line="# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://old.example.test/debian/ bookworm main\n",
    )
    main, security = fetch.mirrors(fetch.host_sources(apt))
    assert (main.uri, main.signed_by, security) == ("http://old.example.test/debian", "/k.gpg", None)


def test_no_debian_source_is_a_clear_reason(tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match="no Debian archive in this machine's apt sources"):
        fetch.mirrors(fetch.host_sources(etc_apt(tmp_path, sources="Types: deb-src\nURIs: http://x/debian\n")))


def test_private_apt_never_touches_the_hosts_state(tmp_path: Path) -> None:
    main, security = fetch.mirrors(fetch.host_sources(etc_apt(tmp_path / "etc")))
    apt = fetch.PrivateApt(tmp_path / "work", main, security)
    assert apt.options[:2] == ["-c", str(tmp_path / "work" / "apt.conf")] and set(apt.options[2::2]) == {"-o"}
    assert dict(o.split("=", 1) for o in apt.options[3::2]) == {
        "Dir::Etc::sourcelist": str(tmp_path / "work" / "sources.list"),
        "Dir::Etc::sourceparts": "/nonexistent",
        "Dir::State::Lists": str(tmp_path / "work" / "lists"),
        "Dir::Cache": str(tmp_path / "work" / "cache"),
        "Dir::State::status": str(tmp_path / "work" / "status"),
        "Debug::NoLocking": "1",
        "APT::Sandbox::User": "root",
    }
    assert (tmp_path / "work" / "status").read_text() == ""  # empty: the whole closure is downloaded
    assert "#clear APT::Update::Post-Invoke-Success;" in (tmp_path / "work" / "apt.conf").read_text()


def test_wrapper_sets_everything_itself(tmp_path: Path) -> None:
    text = fetch.wrapper_text(tmp_path / "root", "x86_64-linux-gnu", "ld-linux-x86-64.so.2")
    lib = tmp_path / "root" / "usr" / "lib" / "x86_64-linux-gnu"
    assert f"L='{lib}'" in text and 'QT_PLUGIN_PATH="$L/qt6/plugins"' in text and "export QT_PLUGIN_PATH" in text
    binary = tmp_path / "root" / "usr" / "bin" / "qbittorrent-nox"
    assert text.splitlines()[-1] == f'exec "$L/ld-linux-x86-64.so.2" --library-path "$L:$L/libproxy" \'{binary}\' "$@"'


def test_an_unknown_version_is_reported_with_the_reason_and_exit_1(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cache-dir", str(tmp_path), "--json", "5.2.0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert '"reason": "unknown version 5.2.0: this script fetches 5.1.0, 5.3.0"' in done.stdout
    assert not list(tmp_path.glob("5.2.0"))
