"""Shared fixtures: a real qbittorrent-nox, a loopback tracker and a state factory (tests/harness).

Every test that uses `qbt` (directly or through `states`, `sonarr`, ...) runs once per qBittorrent version
asked for: `--qbt-version=5.1.0,5.3.0` (or QBT_VERSIONS=...); the default is 4.5.2 only. The test ids say the
version (`test_stalled[5.3.0]`), `qbt.version` tells the test, and the end of the run lists what each version
did. A 5.x version that cannot be fetched skips its tests with the reason; 4.5.2 missing is a failure (the
suite installs it with apt).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.qbt import BinaryUnavailable, QBittorrent, resolve_binary
from harness.states import StateFactory
from harness.tracker import Tracker
from harness.versions import DEFAULT_VERSION, SUPPORTED


class VersionReport:
    """Which qBittorrent versions this run asked for, what ran each, and what each test outcome was."""

    def __init__(self, versions: list[str]) -> None:
        self.versions = versions
        self.binaries: dict[str, str] = {}  # version -> binary, or why it cannot run
        self.nudges: Counter[str] = Counter()  # version -> stuck announces the harness reannounced
        self.outcomes: dict[str, Counter[str]] = {v: Counter() for v in versions}
        self._item_version: dict[str, str] = {}

    def pytest_report_header(self) -> str:
        return f"qBittorrent versions: {', '.join(self.versions)}"

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec is not None and "qbt_version" in callspec.params:
                self._item_version[item.nodeid] = callspec.params["qbt_version"]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        version = self._item_version.get(report.nodeid)
        if version is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            self.outcomes[version]["error" if report.when == "setup" and report.failed else outcome] += 1
        elif report.when == "teardown" and report.failed:
            self.outcomes[version]["error"] += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self._item_version:
            return
        terminalreporter.section("qBittorrent versions")
        for version in self.versions:
            counts = self.outcomes[version]
            said = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no tests"
            ran = "RAN" if counts["passed"] or counts["failed"] else "DID NOT RUN"
            where = self.binaries.get(version, "not started")
            nudged = f"; {self.nudges[version]} stuck announce(s) nudged" if self.nudges[version] else ""
            terminalreporter.write_line(f"qBittorrent {version} {ran}: {said} ({where}{nudged})")


_REPORT = pytest.StashKey[VersionReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--qbt-version",
        action="append",
        default=[],
        metavar="VERSIONS",
        help=f"qBittorrent versions to run the qbt tests against, comma-separated or repeated ({', '.join(SUPPORTED)});"
        f" default $QBT_VERSIONS or {DEFAULT_VERSION}",
    )


def _requested(config: pytest.Config) -> list[str]:
    raw = ",".join(config.getoption("--qbt-version")) or os.environ.get("QBT_VERSIONS", "") or DEFAULT_VERSION
    versions = list(dict.fromkeys(v.strip().removeprefix("v") for v in raw.split(",") if v.strip()))
    unknown = [v for v in versions if v not in SUPPORTED]
    if unknown:
        raise pytest.UsageError(f"--qbt-version: unknown {', '.join(unknown)}; the suite runs {', '.join(SUPPORTED)}")
    return versions


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real qbittorrent-nox")
    report = VersionReport(_requested(config))
    config.stash[_REPORT] = report
    config.pluginmanager.register(report, "qbt-versions")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "qbt_version" in metafunc.fixturenames:
        versions = metafunc.config.stash[_REPORT].versions
        metafunc.parametrize("qbt_version", versions, indirect=True, scope="session", ids=versions)


# -- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def qbt_version(request: pytest.FixtureRequest) -> str:
    """The qBittorrent version of this test run (parametrized by --qbt-version)."""
    return str(getattr(request, "param", DEFAULT_VERSION))


@pytest.fixture(scope="session")
def qbt_binary(qbt_version: str, request: pytest.FixtureRequest) -> str:
    """The qbittorrent-nox binary of `qbt_version` (5.x: fetched and cached by scripts/fetch_qbittorrent.py)."""
    binaries = request.config.stash[_REPORT].binaries
    try:
        binary = resolve_binary(qbt_version)
    except BinaryUnavailable as exc:
        binaries[qbt_version] = f"unavailable: {exc}"
        if SUPPORTED[qbt_version].source == "system":
            pytest.fail(f"{exc}; integration tests need the real program", pytrace=False)
        pytest.skip(f"qBittorrent {qbt_version}: {exc}")
    binaries[qbt_version] = binary
    return binary


def _instance(request: pytest.FixtureRequest, workdir: Path, version: str, binary: str) -> Iterator[QBittorrent]:
    instance = QBittorrent(workdir, version=version, binary=binary)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        request.config.stash[_REPORT].nudges[version] += instance.nudges


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
