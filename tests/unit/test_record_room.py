"""The record room's listeners and the settings' provenance, without services: Apprise to a local receiver for the
service and outage messages, and where each setting came from (file, environment, default)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from captured import download, sonarr_ref, torrent
from qbittorrent_monitor.config import Config, ErrorPatterns, NotificationSettings, load_config, provenance
from qbittorrent_monitor.decide import CycleFacts, CycleState, decide_download
from qbittorrent_monitor.events import CycleFinished, Events, OutageBegan, OutageEnded, ServiceChanged
from qbittorrent_monitor.model import (
    Decision,
    Download,
    Evidence,
    Finding,
    Kind,
    Memory,
    OutageGroup,
    RememberedOutage,
    Scope,
    Torrent,
    Verdict,
)
from qbittorrent_monitor.notify import Notifier
from qbittorrent_monitor.record import CycleReport, DecisionLog, Recorder
from qbittorrent_monitor.rules import Patterns, RuleContext, classify
from qbittorrent_monitor.store import Store
from receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def notifier(receiver: Receiver, bus: Events, **settings: object) -> Notifier:
    return Notifier(
        NotificationSettings.model_validate({"urls": [receiver.url], **settings}), bus, outage_window=6 * 3600
    )


def outage(members: int) -> RememberedOutage:
    group = OutageGroup(Scope.TRACKER, "qbittorrent", Kind.CONNECTION, "dead.example")
    keys = tuple(f"qbittorrent:{i:040x}" for i in range(members))
    return RememberedOutage(group, 1_800_000_000.0, 1_800_000_300.0, Evidence(members, 0, members), keys)


def test_a_service_down_is_told_once_however_its_error_changes_and_once_when_it_is_back(receiver: Receiver) -> None:
    events = Events()
    n = notifier(receiver, events)
    events.emit(ServiceChanged("sonarr", False, "cannot reach http://sonarr:8989 (refused)", 1.0))
    events.emit(ServiceChanged("sonarr", False, "cannot reach http://sonarr:8989 (timed out)", 2.0))
    events.emit(ServiceChanged("sonarr", True, "queue: 3 torrent record(s)", 3.0))
    n.flush()
    n.close()
    assert receiver.titles() == ["qbittorrent-monitor: sonarr is down", "qbittorrent-monitor: sonarr is back"]
    assert "refused" in receiver.messages[0]["message"]


def test_an_outage_is_one_message_when_it_begins_and_one_when_it_ends(receiver: Receiver) -> None:
    events = Events()
    n = notifier(receiver, events)
    big = outage(40)
    events.emit(OutageBegan(big))
    events.emit(OutageBegan(big))  # a dry run judges it anew each cycle: still one message
    events.emit(OutageEnded(big, big.first_seen + 2 * 3600))
    n.flush()
    n.close()
    titles = receiver.titles()
    assert titles == [
        "qbittorrent-monitor: OUTAGE on tracker dead.example (connection_errors)",
        "qbittorrent-monitor: outage over on tracker dead.example (connection_errors)",
    ]
    assert "40 download(s) held" in receiver.messages[0]["message"]
    assert "lasted 2h00m" in receiver.messages[1]["message"]


def test_an_outage_message_gives_its_deadline_in_iso_8601_with_the_offset(receiver: Receiver) -> None:
    """`held before 14:00` is ambiguous (which day? which zone, for a user reading on a phone abroad?): the deadline
    is one time format, the logs' and `history`'s, whether the 6 h window ends later today or another day."""
    import time

    events = Events()
    n = notifier(receiver, events)
    old = outage(3)  # began in 2027: its deadline is not today
    events.emit(OutageBegan(old))
    soon = dataclasses.replace(outage(2), group=OutageGroup(Scope.TRACKER, "qbittorrent", Kind.CONNECTION, "b.example"))
    now = time.time()
    soon = dataclasses.replace(soon, first_seen=now - 6 * 3600 + 60)  # its window ends in a minute
    events.emit(OutageBegan(soon))
    n.flush()
    n.close()
    for message, deadline in zip(receiver.messages, (old.first_seen + 6 * 3600, now + 60), strict=True):
        [when] = re.findall(r"before (\S+) unless", message["message"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", when), when
        assert datetime.fromisoformat(when).timestamp() == int(deadline)


def test_a_repair_that_gives_up_searching_an_episode_says_so_and_events_can_be_switched_off(
    receiver: Receiver,
) -> None:
    torrent = Torrent.from_api("qbittorrent", {"hash": "ab" * 20, "name": "Given.Up.S01E05", "state": "stalledDL"})
    decision = Decision(
        Download(torrent),
        Finding(Kind.TRACKER, "tracker", 'tracker t.example says "Unregistered torrent"', {}),
        Verdict.ACT,
        "tracker_errors for 0s",
        given_up=("episode:105",),
    )
    report = CycleReport(started_at=1.0, finished_at=2.0, decisions=[decision], outcomes={0: []})
    events = Events()
    n = notifier(receiver, events, events=["given_up"])
    events.emit(ServiceChanged("radarr", False, "down", 1.0))  # switched off
    events.emit(CycleFinished(report))
    n.flush()
    n.close()
    assert receiver.titles() == ["qbittorrent-monitor: given up on 1 item(s)"]
    assert "Given.Up.S01E05" in receiver.messages[0]["message"] and "episode:105" in receiver.messages[0]["message"]


def test_no_url_configured_sends_nothing_and_subscribes_nothing() -> None:
    events = Events()
    n = Notifier(NotificationSettings(), events, outage_window=1)
    events.emit(ServiceChanged("sonarr", False, "down", 1.0))
    assert n._pool is None and not n.enabled


def test_each_setting_says_whether_it_came_from_the_file_the_environment_or_the_default(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "monitor": {"check_interval": 60},
                "qbittorrent": [{"url": "http://qbittorrent:8080", "password": "file-password"}],
                "policy": {"tracker_errors": {"after": "10m"}},
                "notifications": {"urls": ["ntfy://ntfy.example/secret-topic"]},
            }
        )
    )
    env = {"SONARR_URL": "http://sonarr:8989", "SONARR_API_KEY": "env-sonarr-key-0123456789", "LOG_LEVEL": "debug"}
    config = load_config(path, env=env)
    rows = {r["key"]: r for r in provenance(config, path, env)}
    assert (rows["monitor.check_interval"]["source"], rows["monitor.check_interval"]["value"]) == ("file", 60.0)
    assert rows["monitor.log_level"]["source"] == "environment" and rows["monitor.log_level"]["value"] == "DEBUG"
    assert rows["monitor.dry_run"]["source"] == "default"
    assert rows["sonarr[0].url"]["source"] == "environment" and rows["sonarr[0].api_key"]["value"] == "********"
    assert rows["qbittorrent[0].password"] == {"key": "qbittorrent[0].password", "value": "********", "source": "file"}
    assert rows["policy.tracker_errors.after"]["source"] == "file"
    assert rows["policy.tracker_errors.blocklist"]["source"] == "default"  # the entry names only `after`
    assert rows["notifications.urls"]["value"] == ["********"]
    assert rows["dashboard.password_hash"] == {"key": "dashboard.password_hash", "value": "", "source": "default"}
    everything = repr(list(rows.values()))
    for secret in config.secrets():
        assert secret not in everything


def test_the_new_sections_are_strict_and_name_the_field() -> None:
    from qbittorrent_monitor.config import ConfigError

    base = {"qbittorrent": [{"url": "http://q:1"}]}
    for section, message in (
        ({"dashboard": {"password_hash": "hunter2"}}, "dashboard.password_hash: is not a password hash"),
        ({"dashboard": {"api_keys": ["short"]}}, "dashboard.api_keys: each API key needs at least 16 characters"),
        ({"notifications": {"events": ["everything"]}}, "notifications.events[0]"),
        ({"notifications": {"urls": ["not a url"]}}, "notifications.urls: each entry must be an Apprise URL"),
        ({"metrics": {"tokn": "x"}}, "metrics.tokn: unknown key"),
    ):
        with pytest.raises(ConfigError) as err:
            _validate({**base, **section})
        assert message in str(err.value)
        assert "hunter2" not in str(err.value)


def _validate(doc: dict[str, object]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_text(yaml.safe_dump(doc))
        load_config(path, env={})


# -- one log line per decision, when it changes ------------------------------------------------------------------
def _stalled_decisions(
    last_progress_at: float, hours: list[float], *, dry_run: bool = False
) -> list[tuple[float, Decision]]:
    """The real stalled rule and decide pass over one stalled Sonarr download, one cycle at each of `hours` after
    it was added (policy: no progress for 6h)."""
    t = torrent("fx-sonarr-stalled")
    cfg = Config.model_validate(
        {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "stalled": {"no_progress_for": "6h", "min_age": 0}}
    )
    memory = Memory(t.added_on, last_progress_at, t.downloaded)
    d = download("fx-sonarr-stalled", arr=(sonarr_ref(t.hash, [11]),), memory=memory)
    out = []
    for h in hours:
        now = t.added_on + h * 3600
        findings = classify(d, RuleContext(Patterns.from_config(ErrorPatterns()), now, 0))
        decision = decide_download(d, findings, cfg, CycleFacts(now, dry_run=dry_run))
        assert decision is not None
        out.append((now, decision))
    return out


def test_a_waiting_stalled_download_is_logged_once_though_its_reason_text_changes_every_cycle() -> None:
    """Twelve 5-minute cycles of the same wait: the reason ("no progress for 1h05m", "1h10m", ...) and the
    explanation change each cycle, the decision does not (wait, stalled, due 6h after its last progress): 1 line."""
    t0 = torrent("fx-sonarr-stalled").added_on
    cycles = _stalled_decisions(t0, [1 + i / 12 for i in range(12)])
    assert len({d.finding.reason for _, d in cycles}) == 12  # the text really changes every cycle
    assert {d.verdict for _, d in cycles} == {Verdict.WAIT}
    log = DecisionLog()
    assert [log.changed(d) for _, d in cycles] == [True] + [False] * 11


def test_a_stalled_download_is_logged_again_when_its_decision_really_changes() -> None:
    """The same download: waiting (1 line), then its 6h are up in a dry run (1 line for the planned repair, not one
    per cycle after), then it moved and stalled again, so it is due at a new time (1 line): 3 lines in 9 cycles."""
    t0 = torrent("fx-sonarr-stalled").added_on
    waiting = _stalled_decisions(t0, [1, 2, 3], dry_run=True)
    ready = _stalled_decisions(t0, [6.5, 7, 7.5], dry_run=True)
    stalled_again = _stalled_decisions(t0 + 7.6 * 3600, [8, 8.5, 9], dry_run=True)
    assert [d.verdict for _, d in ready] == [Verdict.DRY_RUN] * 3
    assert stalled_again[0][1].next_at != waiting[0][1].next_at
    log = DecisionLog()
    logged = [log.changed(d) for _, d in [*waiting, *ready, *stalled_again]]
    assert logged == [True, False, False, True, False, False, True, False, False]
    log.keep_only(set())  # healed: the next sighting is a new problem, logged again
    assert log.changed(waiting[0][1])


def test_the_recorder_logs_and_stores_a_decision_when_it_changes_and_acts_only_on_a_repair(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three 5-minute cycles of the same wait, then its 6h are up: the wait is logged and written to the dashboard's
    copy once (the copy keeps the first cycle's time), never acted on; the repair is logged, acted on (once) and
    stored. 2 lines, 2 writes, 1 act in 4 cycles."""
    t0 = torrent("fx-sonarr-stalled").added_on
    cycles = [*_stalled_decisions(t0, [1, 1 + 5 / 60, 1 + 10 / 60]), *_stalled_decisions(t0, [6.5])]
    assert [d.verdict for _, d in cycles] == [Verdict.WAIT] * 3 + [Verdict.ACT]
    store = Store(tmp_path / "state.db")
    store.observe([cycles[0][1].download.torrent], now=cycles[0][0])
    recorder, acted = Recorder(Events()), []
    reports = []
    with caplog.at_level(logging.INFO, logger="qbittorrent_monitor.monitor"):
        for now, decision in cycles[:3]:
            report = CycleReport(started_at=now)
            recorder.decision(decision, report, store=store, now=now, act=lambda d: acted.append(d) or [])
            reports.append(report)
            [stored] = store.torrent(decision.download.torrent.hash)
            assert stored["last_decision"]["decision"] == "wait" and stored["last_decision"]["time"] == cycles[0][0]
        now, repair = cycles[3]
        report = CycleReport(started_at=now)
        recorder.decision(repair, report, store=store, now=now, act=lambda d: acted.append(d) or [])
    store.close()
    assert [r.logged for r in reports] == [1, 0, 0] and report.logged == 1
    assert [r.decisions for r in reports] == [[d] for _, d in cycles[:3]]  # every decision is in its report
    assert acted == [repair] and report.outcomes == {0: []}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decision=")]
    assert [line.split()[0] for line in lines] == ["decision=wait", "decision=act"]
    reopened = Store(tmp_path / "state.db")
    [row] = reopened.torrent(repair.download.torrent.hash)
    reopened.close()
    assert row["last_decision"]["decision"] == "act" and row["last_decision"]["time"] == now


def test_the_recorder_tells_an_outage_that_began_once_and_one_that_ended(caplog: pytest.LogCaptureFixture) -> None:
    """Guard output with two active outages, one of them already remembered before this cycle, and one over: one
    OutageBegan (the new one only: the remembered one began earlier and was told then), one OutageEnded, each alert
    a WARNING line and in the report, and the report lists the two active outages."""
    events, heard = Events(), []
    events.subscribe(heard.append)
    new, known = outage(7), dataclasses.replace(outage(3), group=OutageGroup(Scope.CLIENT, "qbittorrent", Kind.FILE))
    over = dataclasses.replace(outage(2), group=OutageGroup(Scope.TRACKER, "qbittorrent", Kind.TRACKER, "b.example"))
    alerts = ("OUTAGE on tracker dead.example (connection_errors)", "outage over on tracker b.example")
    result = CycleState((), alerts, {new.group.key: new, known.group.key: known}, (over,))
    report = CycleReport(started_at=1_800_000_600.0)
    with caplog.at_level(logging.WARNING, logger="qbittorrent_monitor.monitor"):
        Recorder(events).guards(result, {known.group.key: known, over.group.key: over}, report, 1_800_000_600.0)
    assert heard == [OutageBegan(new), OutageEnded(over, 1_800_000_600.0)]
    assert report.alerts == list(alerts) and report.outages == [new, known]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == list(alerts)


def test_verbose_logs_each_rules_reasoning_and_the_default_level_logs_none(caplog: pytest.LogCaptureFixture) -> None:
    """--verbose (DEBUG): one line per finding, naming the rule, the torrent, its hash and the evidence; at INFO
    none is even formatted."""
    d = download("fx-sonarr-unregistered", arr=(sonarr_ref(torrent("fx-sonarr-unregistered").hash, [11]),))
    found = {d.key: classify(d, RuleContext(Patterns.from_config(ErrorPatterns()), d.torrent.added_on + 60, 0))}
    assert found[d.key]
    with caplog.at_level(logging.INFO, logger="qbittorrent_monitor.monitor"):
        Recorder(Events()).reasoning([d], found)
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, logger="qbittorrent_monitor.monitor"):
        Recorder(Events()).reasoning([d], found)
    assert [r.getMessage() for r in caplog.records] == [
        f"rule {f.rule} on {d.torrent.name!r} ({d.torrent.hash}): {f.kind.value} {f.reason}; evidence {f.evidence}"
        for f in found[d.key]
    ]


def test_a_reloaded_configuration_notifies_its_own_urls_and_not_the_old_ones(tmp_path: Path) -> None:
    """SIGHUP with new notifications.urls: the next message goes to the new receiver only (the old URL may be a
    channel the user no longer reads, or one whose token leaked), and a service already told down is not told
    down again."""
    from qbittorrent_monitor.monitor import Monitor

    old, new = Receiver().start(), Receiver().start()
    path = tmp_path / "config.yaml"

    def write(url: str) -> None:
        doc = {
            "monitor": {"data_dir": str(tmp_path / "data")},
            "qbittorrent": [{"url": "http://127.0.0.1:9", "password": "p"}],
            "notifications": {"urls": [url]},
        }
        path.write_text(yaml.safe_dump(doc))

    write(old.url)
    monitor = Monitor(load_config(path, env={}))
    try:
        monitor.start_notifications()
        monitor.events.emit(ServiceChanged("sonarr", False, "refused", 1.0))
        assert [m["title"] for m in old.wait_for(1)] == ["qbittorrent-monitor: sonarr is down"]
        write(new.url)
        monitor.reconfigure(load_config(path, env={}))
        monitor.events.emit(ServiceChanged("sonarr", False, "timed out", 2.0))  # still down: nothing new to tell
        monitor.events.emit(ServiceChanged("sonarr", True, "answers", 3.0))
        assert monitor.notifier is not None
        monitor.notifier.flush()
        assert new.titles() == ["qbittorrent-monitor: sonarr is back"]
        assert old.titles() == ["qbittorrent-monitor: sonarr is down"]
    finally:
        monitor.close()
        old.stop()
        new.stop()


def test_metrics_and_health_follow_the_instances_of_a_reloaded_configuration(tmp_path: Path) -> None:
    """Before any check no service_up series says 0 ("down") for a service nobody asked yet. After a reload that
    replaces Sonarr `tv` by Radarr `films`: `films` has its search counters at 0 (a rate() over them needs the
    series), and `tv`, no longer configured, is neither in /health as down nor in service_up."""
    from qbittorrent_monitor import health
    from qbittorrent_monitor.monitor import Monitor

    path = tmp_path / "config.yaml"

    def write(**arrs: object) -> None:
        doc = {
            "monitor": {"data_dir": str(tmp_path / "data")},
            "qbittorrent": [{"url": "http://127.0.0.1:9", "password": "p"}],
            **arrs,
        }
        path.write_text(yaml.safe_dump(doc))

    write(sonarr=[{"name": "tv", "url": "http://127.0.0.1:9", "api_key": "0123456789abcdef0123456789abcdef"}])
    monitor = Monitor(load_config(path, env={}))
    try:
        assert b"qbittorrent_monitor_service_up{" not in monitor.metrics.render()
        monitor.check_services()  # nothing listens: both down
        text = monitor.metrics.render().decode()
        assert 'qbittorrent_monitor_service_up{service="tv"} 0.0' in text
        write(radarr=[{"name": "films", "url": "http://127.0.0.1:9", "api_key": "abcdef0123456789abcdef0123456789"}])
        monitor.reconfigure(load_config(path, env={}))
        text = monitor.metrics.render().decode()
        up = re.findall(r'^qbittorrent_monitor_service_up\{service="([^"]+)"\}', text, re.M)
        assert up == ["qbittorrent"]
        assert 'qbittorrent_monitor_searches_total{app="films",result="done"} 0.0' in text
        assert "tv" not in health.document(monitor)["services"]
    finally:
        monitor.close()
