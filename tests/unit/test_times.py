"""One time format wherever a person reads a time (ISO 8601 with the offset), and an ISO twin beside every Unix time
in the JSON documents: the cycle report (`--test --json`), /health, the journal and a torrent's memory."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest
import yaml

from captured import download, sonarr_ref, torrent
from qbittorrent_monitor.config import Config, ErrorPatterns, load_config
from qbittorrent_monitor.decide import CycleFacts, decide_download
from qbittorrent_monitor.health import document
from qbittorrent_monitor.logs import iso_twins
from qbittorrent_monitor.model import Memory, Verdict
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.record import CycleReport, log_decision
from qbittorrent_monitor.rules import Patterns, RuleContext, classify
from times import ISO_OFFSET, bare_times, untwinned_times


def stalled_wait() -> CycleReport:
    """A report holding the decision on a Sonarr download stalled for 2 h of its 6 h: its evidence carries when it
    was added and since when no byte came, its decision since when it lasts and when it is due."""
    t = torrent("fx-sonarr-stalled")
    cfg = Config.model_validate(
        {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "stalled": {"no_progress_for": "6h", "min_age": 0}}
    )
    d = download("fx-sonarr-stalled", arr=(sonarr_ref(t.hash, [11]),), memory=Memory(t.added_on, t.added_on, 0))
    now = t.added_on + 2 * 3600
    decision = decide_download(
        d, classify(d, RuleContext(Patterns.from_config(ErrorPatterns()), now, 0)), cfg, CycleFacts(now)
    )
    assert decision is not None and decision.verdict is Verdict.WAIT
    report = CycleReport(started_at=now, finished_at=now + 1.5)
    report.decisions.append(decision)
    return report


def test_every_unix_time_of_the_cycle_report_has_its_iso_twin() -> None:
    doc = stalled_wait().to_dict()
    assert untwinned_times(doc)  # the report alone holds bare Unix times (started_at, since, next_at, evidence)
    twinned = json.loads(json.dumps(iso_twins(doc)))
    assert untwinned_times(twinned) == []
    assert {"started_at_iso", "since_iso", "next_at_iso"} <= set(twinned) | set(twinned["findings"][0])


def test_an_unknown_time_gets_a_null_twin_not_1970() -> None:
    """qBittorrent 5.x writes -1 for a time it does not know; 0 is the store's "never"."""
    assert iso_twins({"added_on": -1, "next_at": None, "since": 0}) == {
        "added_on": -1,
        "added_on_iso": None,
        "next_at": None,
        "since": 0,
        "since_iso": None,
    }


def test_health_gives_the_last_cycles_end_in_iso_8601_beside_its_unix_time(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"monitor": {"data_dir": str(tmp_path)}, "qbittorrent": [{"url": "http://127.0.0.1:9"}]})
    )
    monitor = Monitor(load_config(path, env={}))
    try:
        end = time.time() - 5
        monitor.last_report = CycleReport(started_at=end - 2, finished_at=end)
        doc = json.loads(json.dumps(document(monitor)))
    finally:
        monitor.close()
    assert doc["last_cycle"]["finished_at"] == end
    assert untwinned_times(doc) == []


def test_a_decisions_log_line_shows_its_evidences_times_in_iso_8601(caplog: pytest.LogCaptureFixture) -> None:
    [decision] = stalled_wait().decisions
    assert {"added_on", "no_progress_since"} <= set(decision.finding.evidence)
    with caplog.at_level(logging.INFO, logger="qbittorrent_monitor.monitor"):
        log_decision(decision)
    [line] = [r.getMessage() for r in caplog.records]
    assert bare_times(line, around=decision.download.torrent.added_on) == [], line
    assert "'no_progress_since': '" in line and len(re.findall(ISO_OFFSET, line)) == 2, line
