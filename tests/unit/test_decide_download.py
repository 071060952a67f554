"""Pass 1 of decide, each download on its own: the default policy table, protections, ownership, durations,
strikes and the repair's steps, over real captured torrents."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from captured import download, radarr_ref, sonarr_ref, stale, torrent
from qbittorrent_monitor.config import Config, ErrorPatterns
from qbittorrent_monitor.decide import CycleFacts, decide_download
from qbittorrent_monitor.model import Download, Kind, Verdict
from qbittorrent_monitor.rules import Patterns, RuleContext, classify

PATTERNS = Patterns.from_config(ErrorPatterns())


def config(sections: dict[str, Any] | None = None, **policy: dict[str, object]) -> Config:
    doc = {"qbittorrent": [{"url": "http://127.0.0.1:1"}], "policy": policy, **(sections or {})}
    return Config.model_validate(doc)


def run(d: Download, cfg: Config, now: float, *, since: dict[str, float] | None = None, **facts: Any) -> Any:
    findings = classify(d, RuleContext(PATTERNS, now, cfg.stalled.min_age))
    return decide_download(d, findings, cfg, CycleFacts(now, since={d.key: since or {}}, **facts))


def public(d: Download) -> Download:
    """The captures were made on a private tracker; the policy table is about public torrents (observe fills the
    flag in before deciding; the private cases below set it themselves)."""
    return dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, private=False))


def with_sonarr(state: str, episodes: tuple[int, ...] = (11,), **kw: object) -> Download:
    t = torrent(state)
    return public(download(state, arr=(sonarr_ref(t.hash, list(episodes)),), **kw))  # type: ignore[arg-type]


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
        "deletes_torrent": True,
        "blocklist": True,
        "title": "Show.S01.1080p",
        "items": ["episode:11", "episode:12", "episode:13"],
        "skipRedownload": True,
    }
    assert search.type == "arr_search"
    assert search.params == {
        "command": {"name": "EpisodeSearch", "episodeIds": [11, 12, 13]},
        "items": ["episode:11", "episode:12", "episode:13"],
    }


def test_radarr_search_is_movies_search_with_the_movie_id() -> None:
    t = torrent("fx-radarr-not-found")
    d = public(download("fx-radarr-not-found", arr=(radarr_ref(t.hash, 42),)))
    decision = run(d, config(), now=t.added_on + 60)
    assert decision is not None and decision.verdict is Verdict.ACT
    assert decision.actions[-1].params == {"command": {"name": "MoviesSearch", "movieIds": [42]}, "items": ["movie:42"]}


def test_connection_errors_wait_until_they_have_lasted() -> None:
    d = with_sonarr("fx-tracker-down")
    t0 = torrent("fx-tracker-down").added_on
    early = run(d, config(), now=t0 + 3600, since={"connection_errors": t0})
    assert early is not None and early.verdict is Verdict.WAIT and not early.actions
    assert "60m of the 6h00m" in early.explanation
    assert early.next_at == t0 + 6 * 3600  # what happens next, and when
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
    cfg = config({"stalled": {"no_progress_for": "6h", "min_age": 0}})
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
    d = public(download("fx-sonarr-unregistered", arr=(sonarr_ref(t.hash, [1]), radarr_ref(t.hash))))
    decision = run(d, config(), now=t.added_on + 10)
    assert decision is not None
    removes = [a for a in decision.actions if a.type == "arr_remove"]
    assert [a.params["removeFromClient"] for a in removes] == [True, False]


# -- issue 3: strikes, outages, holds, private trackers, give-up, caps, more protections ------------------------


def test_strikes_must_accumulate() -> None:
    d = with_sonarr("fx-sonarr-unregistered")
    cfg = config(tracker_errors={"strikes": 3})
    now = d.torrent.added_on + 10
    second = run(d, cfg, now, strikes={d.key: {"tracker_errors": 2}})
    assert second.verdict is Verdict.WAIT and "strike 2 of the 3" in second.explanation
    third = run(d, cfg, now, strikes={d.key: {"tracker_errors": 3}})
    assert third.verdict is Verdict.ACT and "strike 3" in third.explanation


def private(d: Download, seeding_time: int = 0, ratio: float = 0.0) -> Download:
    return dataclasses.replace(
        d, torrent=dataclasses.replace(d.torrent, private=True, seeding_time=seeding_time, ratio=ratio)
    )


def test_private_torrent_owing_seed_time_is_kept_blocklisted_and_tagged() -> None:
    d = private(with_sonarr("fx-sonarr-unregistered"))
    decision = run(d, config(), d.torrent.added_on + 10)
    assert decision.verdict is Verdict.ACT
    assert [a.type for a in decision.actions] == ["arr_remove", "arr_search", "qbt_tag"]
    assert decision.actions[0].params["removeFromClient"] is False
    assert decision.actions[0].params["blocklist"] is True
    assert decision.actions[2].params == {"hash": d.torrent.hash, "tags": ["qbm-failed"]}
    assert "owes seeding" in decision.explanation


def test_private_file_problems_keep_the_torrent_without_blocklisting_the_release() -> None:
    for state in ("fx-missingfiles-skipcheck", "fx-error-notadir"):
        d = private(with_sonarr(state))
        decision = run(d, config(), d.torrent.added_on + 10)
        assert decision.actions[0].params["removeFromClient"] is False, state
        assert decision.actions[0].params["blocklist"] is False, state  # the release is not at fault


def test_private_blocklist_can_be_turned_off() -> None:
    d = private(with_sonarr("fx-sonarr-unregistered"))
    decision = run(d, config({"private": {"blocklist": False}}), d.torrent.added_on + 10)
    assert decision.actions[0].params == {**decision.actions[0].params, "removeFromClient": False, "blocklist": False}


def test_a_download_already_removed_once_is_not_repaired_again() -> None:
    d = with_sonarr("fx-sonarr-unregistered")
    decision = run(d, config(), d.torrent.added_on + 10, repaired={("sonarr", d.torrent.hash)})
    assert decision.verdict is Verdict.REPORT and decision.actions == ()
    assert "already removed from the sonarr queue once" in decision.explanation


def test_a_torrent_whose_private_flag_is_unknown_is_kept_like_a_private_one() -> None:
    # qBittorrent did not say (5.x during metaDL, or the properties call failed): the safe assumption keeps it.
    d = with_sonarr("fx-sonarr-unregistered")
    d = dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, private=None))
    decision = run(d, config(), d.torrent.added_on + 10)
    assert decision.actions[0].params["removeFromClient"] is False
    assert "possibly private" in decision.explanation


def test_a_magnet_whose_metadata_never_came_owes_nothing_whatever_its_unknown_flag() -> None:
    # Not a byte of it was downloaded, and qBittorrent cannot say whether it is private before the metadata comes.
    t = torrent("fx-metadl")
    d = download("fx-metadl", arr=(sonarr_ref(t.hash, [1]),))
    d = dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, private=None))
    decision = run(d, config(), t.added_on + 7200)
    assert decision.verdict is Verdict.ACT and decision.actions[0].params["removeFromClient"] is True


def test_private_torrent_that_seeded_enough_may_be_deleted() -> None:
    d = private(with_sonarr("fx-sonarr-unregistered"), seeding_time=80 * 3600)
    assert run(d, config(), d.torrent.added_on + 10).actions[0].params["removeFromClient"] is True
    d = private(with_sonarr("fx-sonarr-unregistered"), ratio=1.2)
    assert run(d, config(), d.torrent.added_on + 10).actions[0].params["removeFromClient"] is True


def test_an_item_that_failed_again_and_again_is_not_searched_any_more() -> None:
    d = with_sonarr("fx-sonarr-unregistered", (11, 12))
    # Two earlier failures: this is the third, and it is not searched again.
    decision = run(d, config(), d.torrent.added_on + 10, failures={("sonarr", "episode:12"): 2})
    assert [a.type for a in decision.actions] == ["arr_remove"]
    assert "episode:12 failed 3 or more times: not searched again" in decision.explanation
    assert decision.given_up == ("episode:12",)  # what the notifications and the dashboard report
    decision = run(d, config(), d.torrent.added_on + 10, failures={("sonarr", "episode:12"): 1})
    assert [a.type for a in decision.actions] == ["arr_remove", "arr_search"]


def test_protected_trackers_and_hashes() -> None:
    d = with_sonarr("fx-sonarr-unregistered")  # tracker 127.0.0.1
    cfg = config({"protection": {"trackers": ["127.0.0.1"]}})
    assert run(d, cfg, d.torrent.added_on + 10).verdict is Verdict.PROTECTED
    cfg = config({"protection": {"hashes": [d.torrent.hash.upper()]}})
    assert run(d, cfg, d.torrent.added_on + 10).verdict is Verdict.PROTECTED


def test_protected_categories() -> None:
    d = with_sonarr("fx-sonarr-unregistered")  # category tv-sonarr
    decision = run(d, config({"protection": {"categories": ["tv-sonarr"]}}), d.torrent.added_on + 10)
    assert decision.verdict is Verdict.PROTECTED and "protected category tv-sonarr" in decision.explanation
    assert run(d, config({"protection": {"categories": ["radarr"]}}), d.torrent.added_on + 10).verdict is Verdict.ACT


def test_tracker_domain_protection_covers_subdomains() -> None:
    cfg = config({"protection": {"trackers": ["example.org"]}})
    assert cfg.protection.tracker_protected("tracker.example.org") == "example.org"
    assert cfg.protection.tracker_protected("badexample.org") is None


def test_stalled_and_metadata_durations_come_from_their_sections() -> None:
    with pytest.raises(ValueError, match=r"set stalled\.no_progress_for instead"):
        config(stalled={"after": "1h"})
    cfg = config({"metadata": {"max_wait": "10m"}})
    t = torrent("fx-metadl")
    d = public(download("fx-metadl", arr=(sonarr_ref(t.hash, [1]),)))
    assert run(d, cfg, t.added_on + 300).verdict is Verdict.WAIT
    assert run(d, cfg, t.added_on + 700).verdict is Verdict.ACT
