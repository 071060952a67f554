"""The suite's qBittorrent versions as a pytest plugin: `--qbt-version`, the per-version parametrization, the binary
of each version, and the "qBittorrent versions" summary at the end of a run (tests/conftest.py loads it).

Every test that uses a real qBittorrent (its fixtures reach `qbt_binary`: `qbt`, `states`, `sonarr`, ...) runs once
per version asked for: `--qbt-version=5.1.0,5.3.0` (or QBT_VERSIONS=...); the default is 4.5.2 only. A 5.x version
that cannot be fetched skips its tests with the reason; 4.5.2 missing is a failure (the suite installs it with apt).

The summary counts only those tests, never one whose id merely contains a version (a unit test over the 5.3.0
captures did not run qBittorrent). Under pytest-xdist the tests run in workers: each report carries its version and
the binary that ran it (or why none could) in its `user_properties`, and each worker's reannounce count goes back in
`workeroutput`, so the controller prints what really ran, with or without `-n`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from harness.qbt import BinaryUnavailable, QBittorrent, resolve_binary
from harness.versions import DEFAULT_VERSION, SUPPORTED

VERSION_PROPERTY = "qbittorrent_version"
BINARY_PROPERTY = "qbittorrent_binary"
REAL_QBITTORRENT = "qbt_binary"  # the fixture every real qBittorrent of the harness is started from


class VersionReport:
    """Which qBittorrent versions this run asked for, what ran each, and what each test outcome was."""

    def __init__(self, versions: list[str]) -> None:
        self.versions = versions
        self.binaries: dict[str, str] = {}  # version -> binary, or why it cannot run (this process's fixtures)
        self.where: dict[str, str] = {}  # version -> binary or why not, as the reports said (every process)
        self.nudges: Counter[str] = Counter()  # version -> stuck announces the harness reannounced
        self.outcomes: dict[str, Counter[str]] = {v: Counter() for v in versions}
        self._live: list[QBittorrent] = []  # instances running in this process (their nudges still count up)

    # -- a process's own instances ---------------------------------------------------------------------------
    def started(self, instance: QBittorrent) -> None:
        self._live.append(instance)

    def stopped(self, instance: QBittorrent) -> None:
        if instance in self._live:
            self._live.remove(instance)
        self.nudges[instance.version] += instance.nudges

    # -- the hooks -------------------------------------------------------------------------------------------
    def pytest_report_header(self) -> str:
        return f"qBittorrent versions: {', '.join(self.versions)}"

    @staticmethod
    def version_of(item: pytest.Item) -> str | None:
        """The version of a test that used a real qBittorrent; None for every other test."""
        callspec = getattr(item, "callspec", None)
        if callspec is None or REAL_QBITTORRENT not in getattr(item, "fixturenames", ()):
            return None
        version = callspec.params.get("qbt_version")
        return str(version) if version is not None else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield  # type: ignore[misc]
        version = self.version_of(item)
        if version is not None:  # a new list: the item's own properties stay as the test set them
            said = [(VERSION_PROPERTY, version), (BINARY_PROPERTY, self.binaries.get(version, ""))]
            report.user_properties = [*report.user_properties, *said]
        return report  # type: ignore[return-value]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        version = props.get(VERSION_PROPERTY)
        if version not in self.outcomes:
            return
        if props.get(BINARY_PROPERTY):
            self.where[version] = str(props[BINARY_PROPERTY])
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            self.outcomes[version]["error" if report.when == "setup" and report.failed else outcome] += 1
        elif report.when == "teardown" and report.failed:
            self.outcomes[version]["error"] += 1

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: its reannounces go back to the controller
            for instance in list(self._live):
                self.stopped(instance)
            workeroutput["qbt_nudges"] = dict(self.nudges)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        for version, n in (getattr(node, "workeroutput", None) or {}).get("qbt_nudges", {}).items():
            self.nudges[version] += int(n)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not any(self.outcomes.values()):
            return
        terminalreporter.section("qBittorrent versions")
        for version in self.versions:
            counts = self.outcomes[version]
            said = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no tests"
            ran = "RAN" if counts["passed"] or counts["failed"] else "DID NOT RUN"
            where = self.where.get(version, "never started" if counts else "no test asked for it")
            nudged = f"; {self.nudges[version]} stuck announce(s) nudged" if self.nudges[version] else ""
            terminalreporter.write_line(f"qBittorrent {version} {ran}: {said} ({where}{nudged})")


REPORT = pytest.StashKey[VersionReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--qbt-version",
        action="append",
        default=[],
        metavar="VERSIONS",
        help=f"qBittorrent versions to run the qbt tests against, comma-separated or repeated ({', '.join(SUPPORTED)});"
        f" default $QBT_VERSIONS or {DEFAULT_VERSION}",
    )


def requested(config: pytest.Config) -> list[str]:
    raw = ",".join(config.getoption("--qbt-version")) or os.environ.get("QBT_VERSIONS", "") or DEFAULT_VERSION
    versions = list(dict.fromkeys(v.strip().removeprefix("v") for v in raw.split(",") if v.strip()))
    unknown = [v for v in versions if v not in SUPPORTED]
    if unknown:
        raise pytest.UsageError(f"--qbt-version: unknown {', '.join(unknown)}; the suite runs {', '.join(SUPPORTED)}")
    return versions


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real qbittorrent-nox")
    report = VersionReport(requested(config))
    config.stash[REPORT] = report
    config.pluginmanager.register(report, "qbt-versions")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "qbt_version" in metafunc.fixturenames:
        versions = metafunc.config.stash[REPORT].versions
        metafunc.parametrize("qbt_version", versions, indirect=True, scope="session", ids=versions)


@pytest.fixture(scope="session")
def qbt_version(request: pytest.FixtureRequest) -> str:
    """The qBittorrent version of this test run (parametrized by --qbt-version)."""
    return str(getattr(request, "param", DEFAULT_VERSION))


@pytest.fixture(scope="session")
def qbt_binary(qbt_version: str, request: pytest.FixtureRequest) -> str:
    """The qbittorrent-nox binary of `qbt_version` (5.x: fetched and cached by scripts/fetch_qbittorrent.py)."""
    binaries = request.config.stash[REPORT].binaries
    try:
        binary = resolve_binary(qbt_version)
    except BinaryUnavailable as exc:
        binaries[qbt_version] = f"unavailable: {exc}"
        if SUPPORTED[qbt_version].source == "system":
            pytest.fail(f"{exc}; integration tests need the real program", pytrace=False)
        pytest.skip(f"qBittorrent {qbt_version}: {exc}")
    binaries[qbt_version] = binary
    return binary
