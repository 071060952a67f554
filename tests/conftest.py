"""Shared fixtures: a real qbittorrent-nox, a loopback tracker and a state factory (tests/harness).

Every test that uses `qbt` (directly or through `states`, `sonarr`, ...) runs once per qBittorrent version
asked for: `--qbt-version=5.1.0,5.3.0` (or QBT_VERSIONS=...); the default is 4.5.2 only. The test ids say the
version (`test_stalled[5.3.0]`), `qbt.version` tells the test, and the end of the run lists what each version
did, counting only the tests that ran a real qBittorrent (harness/version_plugin.py, also under xdist). A 5.x
version that cannot be fetched skips its tests with the reason; 4.5.2 missing is a failure (the suite installs
it with apt).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.qbt import QBittorrent
from harness.states import StateFactory
from harness.tracker import Tracker

# --qbt-version, the per-version parametrization, the `qbt_version` and `qbt_binary` fixtures and the summary
pytest_plugins = ["harness.version_plugin"]


def _instance(request: pytest.FixtureRequest, workdir: Path, version: str, binary: str) -> Iterator[QBittorrent]:
    instance = QBittorrent(workdir, version=version, binary=binary)
    report = request.config.pluginmanager.get_plugin("qbt-versions")  # harness.version_plugin.VersionReport
    try:
        instance.start()
        report.started(instance)
        yield instance
    finally:
        instance.stop()
        report.stopped(instance)


@pytest.fixture(scope="session")
def tracker(qbt_version: str) -> Iterator[Tracker]:
    """A loopback HTTP tracker for the session, one per qBittorrent version: the harness's torrents are
    deterministic (same names, same hashes on every version), so their announces must not mix."""
    server = Tracker()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def qbt(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, qbt_version: str, qbt_binary: str
) -> Iterator[QBittorrent]:
    """One real qbittorrent-nox of `qbt_version` for the session; stopped by PID at the end, even after failures."""
    yield from _instance(request, tmp_path_factory.mktemp(f"qbt-{qbt_version}"), qbt_version, qbt_binary)


@pytest.fixture(scope="session")
def seeder_qbt(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, qbt_version: str, qbt_binary: str
) -> Iterator[QBittorrent]:
    """A second qbittorrent-nox (same version) that seeds for real downloads; started only when a test asks."""
    yield from _instance(request, tmp_path_factory.mktemp(f"qbt-seeder-{qbt_version}"), qbt_version, qbt_binary)


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
