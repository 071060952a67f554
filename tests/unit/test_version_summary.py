"""The "qBittorrent versions" summary at the end of a run (tests/harness/version_plugin.py), checked on a small
suite run by pytester in a new process, once in one process and once with two pytest-xdist workers (CI's `-n 2`).

The small suite loads the real plugin as tests/conftest.py does; only the binary lookup is replaced (4.5.2
"found", 5.1.0 "unavailable"), and its `qbt` stands for a real instance without starting qbittorrent-nox, each one
reannouncing once: the subject here is what the summary counts and says, not qBittorrent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent.parent

CONFTEST = f"""
import sys

import pytest

sys.path.insert(0, {str(TESTS)!r})

from harness.qbt import BinaryUnavailable

pytest_plugins = ["harness.version_plugin"]  # as tests/conftest.py loads it


def resolve_binary(version):
    if version == "4.5.2":
        return "/opt/fake/qbittorrent-nox-4.5.2"
    raise BinaryUnavailable(f"no {{version}} here: the Debian archive is unreachable")


def pytest_configure(config):
    import harness.version_plugin

    harness.version_plugin.resolve_binary = resolve_binary


class Instance:
    def __init__(self, version):
        self.version = version
        self.nudges = 0


@pytest.fixture
def qbt(request, qbt_version, qbt_binary):
    instance = Instance(qbt_version)
    report = request.config.pluginmanager.get_plugin("qbt-versions")
    report.started(instance)
    yield instance
    instance.nudges += 1  # one stuck announce nudged while it ran
    report.stopped(instance)
"""

SUITE = """
import pytest


@pytest.mark.parametrize("capture", ["4.5.2", "5.1.0"])
def test_a_unit_test_over_a_capture(capture):
    pass  # its id names a version; it never ran qBittorrent


def test_a_test_that_only_reads_the_version_number(qbt_version):
    pass  # parametrized by version, but no binary: no qBittorrent either


def test_one(qbt):
    assert qbt.version in ("4.5.2", "5.1.0")


def test_two(qbt):
    pass


def test_three_fails(qbt):
    assert False, "a real failure on a real qBittorrent"
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-2-workers"])
def test_the_summary_counts_only_tests_that_used_a_real_qbittorrent_and_says_which_binary_or_why_not(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """Three tests use `qbt`. On 4.5.2 they ran: 2 passed, 1 failed, with the binary that ran them and the three
    nudges (one each). On 5.1.0 they are the 3 skipped, with the reason the binary is missing. The two capture
    tests and the version-number test (4 results) are counted nowhere, whatever their ids say."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--qbt-version=4.5.2,5.1.0", "-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=6, failed=1, skipped=3)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "qBittorrent versions" in line and "=" in line)
    summary = [line for line in lines[start + 1 :] if line.startswith("qBittorrent ")]
    assert summary == [
        "qBittorrent 4.5.2 RAN: 1 failed, 2 passed (/opt/fake/qbittorrent-nox-4.5.2; 3 stuck announce(s) nudged)",
        "qBittorrent 5.1.0 DID NOT RUN: 3 skipped (unavailable: no 5.1.0 here: the Debian archive is unreachable)",
    ], "\n".join(lines)


def test_a_run_in_which_no_test_used_qbittorrent_prints_no_version_summary(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--qbt-version=4.5.2,5.1.0", "-p", "no:cacheprovider", "-k", "capture")
    result.assert_outcomes(passed=2)
    assert not any("qBittorrent versions" in line for line in result.stdout.lines if "=" in line), result.stdout.str()
