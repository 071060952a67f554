"""The default policy table, protections and durations, over real captured torrents."""

from __future__ import annotations

import dataclasses

import pytest

from captured import download, radarr_ref, sonarr_ref, stale, torrent
from qbittorrent_monitor.config import Config, ErrorPatterns
from qbittorrent_monitor.model import Download, Kind, Verdict
from qbittorrent_monitor.policy import PolicyInput, decide
from qbittorrent_monitor.rules import Patterns, RuleContext, classify

PATTERNS = Patterns.from_config(ErrorPatterns())


def config(**policy: dict[str, object]) -> Config:
    return Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1"}], "policy": policy})


def run(d: Download, cfg: Config, now: float, *, since: dict[str, float] | None = None, dry_run: bool = False):
    findings = classify(d, RuleContext(PATTERNS, now, cfg.stalled.min_age))
    return decide(d, findings, since or {}, PolicyInput(cfg, now, dry_run))


def with_sonarr(state: str, episodes: tuple[int, ...] = (11,), **kw: object) -> Download:
    t = torrent(state)
    return download(state, arr=(sonarr_ref(t.hash, list(episodes)),), **kw)  # type: ignore[arg-type]


def test_tracker_error_removes_blocklists_and_searches_the_episodes_once() -> None:
    d = with_sonarr("fx-sonarr-unregistered", (11, 12, 13))  # a season pack: three queue records
    decision = run(d, config(), now=torrent("fx-sonarr-unregistered").added_on + 60)
    assert decision is not None and decision.verdict is Verdict.ACT
    assert decision.finding.kind is Kind.TRACKER
    remove, search = decision.actions
    assert remove.type == "arr_remove" and remove.target == "sonarr"
    assert remove.params == {
        "queue_id": 1011,
        "download_id": torrent("fx-sonarr-unregistered").hash,
        "removeFromClient": True,
        "blocklist": True,
        "skipRedownload": True,
    }
    assert search.type == "arr_search"
    assert search.params == {"command": {"name": "EpisodeSearch", "episodeIds": [11, 12, 13]}}


def test_radarr_search_is_movies_search_with_the_movie_id() -> None:
    t = torrent("fx-radarr-not-found")
    decision = run(download("fx-radarr-not-found", arr=(radarr_ref(t.hash, 42),)), config(), now=t.added_on + 60)
    assert decision is not None and decision.verdict is Verdict.ACT
    assert decision.actions[-1].params == {"command": {"name": "MoviesSearch", "movieIds": [42]}}


def test_connection_errors_wait_until_they_have_lasted() -> None:
    d = with_sonarr("fx-tracker-down")
    t0 = torrent("fx-tracker-down").added_on
    early = run(d, config(), now=t0 + 3600, since={"connection_errors": t0})
    assert early is not None and early.verdict is Verdict.WAIT and not early.actions
    assert "60m of the 6h00m" in early.explanation
    late = run(d, config(), now=t0 + 7 * 3600, since={"connection_errors": t0})
    assert late is not None and late.verdict is Verdict.ACT
    assert late.actions[0].params["blocklist"] is True


def test_file_error_removes_without_blocklist_or_search_and_alerts() -> None:
    d = with_sonarr("fx-error-notadir")
    decision = run(d, config(), now=torrent("fx-error-notadir").added_on + 10)
    assert decision is not None and decision.verdict is Verdict.ACT
    assert [a.type for a in decision.actions] == ["arr_remove", "alert"]
    assert decision.actions[0].params["removeFromClient"] is True
    assert decision.actions[0].params["blocklist"] is False
    assert "Not a directory" in decision.actions[1].description


def test_missing_files_remove_without_blocklist_then_search() -> None:
    d = with_sonarr("fx-missingfiles-skipcheck")
    decision = run(d, config(), now=torrent("fx-missingfiles-skipcheck").added_on + 10)
    assert decision is not None and decision.verdict is Verdict.ACT
    assert [a.type for a in decision.actions] == ["arr_remove", "arr_search"]
    assert decision.actions[0].params["blocklist"] is False


def test_auth_errors_blocklist_only_and_keep_the_torrent() -> None:
    d = with_sonarr("fx-unregistered-dl")
    rows = tuple(dataclasses.replace(r, msg="Invalid passkey") if r.is_real else r for r in d.trackers or ())
    d = dataclasses.replace(d, trackers=rows)
    decision = run(d, config(), now=d.torrent.added_on + 10)
    assert decision is not None and decision.finding.kind is Kind.AUTH
    assert [a.type for a in decision.actions] == ["arr_remove"]
    assert decision.actions[0].params["removeFromClient"] is False
    assert decision.actions[0].params["blocklist"] is True


def test_ratio_errors_remove_and_search_without_blocklist() -> None:
    d = with_sonarr("fx-unregistered-dl")
    rows = tuple(dataclasses.replace(r, msg="Ratio limit reached") if r.is_real else r for r in d.trackers or ())
    decision = run(dataclasses.replace(d, trackers=rows), config(), now=d.torrent.added_on + 10)
    assert decision is not None and decision.finding.kind is Kind.RATIO
    assert [a.type for a in decision.actions] == ["arr_remove", "arr_search"]
    assert decision.actions[0].params["blocklist"] is False


def test_unknown_torrent_is_reported_never_blocklisted() -> None:
    decision = run(download("fx-unregistered-dl"), config(), now=torrent("fx-unregistered-dl").added_on + 10)
    assert decision is not None and decision.verdict is Verdict.REPORT and decision.actions == ()


@pytest.mark.parametrize("paused_state", ["pausedDL", "stoppedDL", "pausedUP", "stoppedUP"])
def test_paused_torrents_are_never_touched(paused_state: str) -> None:
    # An unregistered torrent the user paused (4.x and 5.x state names): the finding stands, nothing is done.
    d = with_sonarr("fx-sonarr-unregistered")
    d = dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, state=paused_state))
    decision = run(d, config(), now=d.torrent.added_on + 10)
    assert decision is not None and decision.finding.kind is Kind.TRACKER
    assert decision.verdict is Verdict.PROTECTED and decision.actions == ()
    assert "paused" in decision.explanation


def test_protected_tag_wins_over_everything() -> None:
    d = with_sonarr("fx-sonarr-unregistered")  # tags: sonarr, fixture
    cfg = Config.model_validate({"qbittorrent": [{"url": "http://x:1"}], "protection": {"tags": ["fixture"]}})
    decision = run(d, cfg, now=d.torrent.added_on + 10)
    assert decision is not None and decision.verdict is Verdict.PROTECTED and not decision.actions
    assert "fixture" in decision.explanation


def test_completed_seeding_torrent_is_never_removed() -> None:
    d = with_sonarr("fx-unregistered-seed")
    decision = run(d, config(), now=d.torrent.added_on + 10)
    assert decision is not None and decision.finding.kind is Kind.TRACKER
    assert decision.verdict is Verdict.PROTECTED and decision.actions == ()


def test_dry_run_plans_but_does_not_act() -> None:
    d = with_sonarr("fx-sonarr-unregistered")
    decision = run(d, config(), now=d.torrent.added_on + 10, dry_run=True)
    assert decision is not None and decision.verdict is Verdict.DRY_RUN
    assert [a.type for a in decision.actions] == ["arr_remove", "arr_search"]


def test_stalled_waits_for_no_progress_duration() -> None:
    memory, now = stale("fx-sonarr-stalled", hours=2)
    d = with_sonarr("fx-sonarr-stalled", memory=memory)
    cfg = config(stalled={"after": "6h"})
    first = run(d, cfg, now=now)
    assert first is not None and first.verdict is Verdict.WAIT
    memory, now = stale("fx-sonarr-stalled", hours=7)
    second = run(with_sonarr("fx-sonarr-stalled", memory=memory), cfg, now=now)
    assert second is not None and second.verdict is Verdict.ACT


def test_disabled_rule_only_reports() -> None:
    d = with_sonarr("fx-sonarr-unregistered")
    decision = run(d, config(tracker_errors={"enabled": False}), now=d.torrent.added_on + 10)
    assert decision is not None and decision.verdict is Verdict.REPORT


def test_several_findings_keep_the_others_as_evidence() -> None:
    memory, now = stale("fx-sonarr-unregistered", hours=8)
    decision = run(with_sonarr("fx-sonarr-unregistered", memory=memory), config(), now=now)
    assert decision is not None and decision.finding.kind is Kind.TRACKER
    assert decision.finding.evidence["also"][0].startswith("stalled:")


def test_torrent_in_two_arrs_is_deleted_once() -> None:
    t = torrent("fx-sonarr-unregistered")
    d = download("fx-sonarr-unregistered", arr=(sonarr_ref(t.hash, [1]), radarr_ref(t.hash)))
    decision = run(d, config(), now=t.added_on + 10)
    assert decision is not None
    removes = [a for a in decision.actions if a.type == "arr_remove"]
    assert [a.params["removeFromClient"] for a in removes] == [True, False]
