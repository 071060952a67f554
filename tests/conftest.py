"""Shared fixtures: a real qbittorrent-nox, a loopback tracker and a state factory (tests/harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.qbt import QBittorrent, find_binary
from harness.states import StateFactory
from harness.tracker import Tracker


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real qbittorrent-nox")


def _require_qbittorrent() -> None:
    if find_binary() is None:
        pytest.fail(
            "qbittorrent-nox is not installed, and integration tests need the real program. Install it with"
            " `apt-get install -y --no-install-recommends qbittorrent-nox` (Debian 12: 4.5.2).",
            pytrace=False,
        )


def _instance(workdir: Path) -> Iterator[QBittorrent]:
    _require_qbittorrent()
    instance = QBittorrent(workdir)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def tracker() -> Iterator[Tracker]:
    """A loopback HTTP tracker for the whole session."""
    server = Tracker()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def qbt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QBittorrent]:
    """One real qbittorrent-nox for the session; stopped by PID at the end, even after failures."""
    yield from _instance(tmp_path_factory.mktemp("qbt"))


@pytest.fixture(scope="session")
def seeder_qbt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QBittorrent]:
    """A second qbittorrent-nox that seeds for real downloads; started only when a test asks for it."""
    yield from _instance(tmp_path_factory.mktemp("qbt-seeder"))


@pytest.fixture
def states(qbt: QBittorrent, tracker: Tracker, tmp_path: Path) -> Iterator[StateFactory]:
    """Makes torrents in real states; afterwards every torrent (and its data) is deleted."""
    factory = StateFactory(qbt, tracker, tmp_path)
    try:
        yield factory
    finally:
        try:
            factory.cleanup()
        finally:
            tracker.clear_failures()
            if not qbt.running:  # a test stopped it (or it died): bring it back for the next tests
                qbt.start()
            qbt.delete_all()
