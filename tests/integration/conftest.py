"""End-to-end fixtures: Sonarr and Radarr simulators bound to the session's real qBittorrent, and a builder
for the monitor's configuration pointing at all three."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock
from harness.qbt import QBittorrent
from harness.versions import Behaviour
from qbittorrent_monitor.config import Config, load_config
from sim.arr import ArrSimulator


@dataclass(frozen=True)
class KnownFailure:
    """Tests that fail on some qBittorrent versions for a cause outside the harness, in files this suite's harness
    work may not change. `applies` reads the version table, so the condition is the cause, not a version number.
    Strict xfail: once the cause is fixed the tests pass, which fails the run until the entry is removed."""

    tests: tuple[str, ...]  # "file.py::test_function" (every parametrization)
    applies: Callable[[Behaviour], bool]
    reason: str


_SIM_LOGIN = KnownFailure(
    tuple(
        f"{file}::{name}"
        for file, names in {
            "test_arr_client.py": (
                "test_every_page_of_the_queue_is_read_and_the_loop_ends",
                "test_status_casing_of_older_and_newer_builds_reads_the_same",
            ),
            "test_cli.py": (
                "test_dry_run_flag_end_to_end",
                "test_history_since_leaves_out_older_actions",
                "test_test_json_report_and_no_secret_anywhere",
            ),
            "test_pipeline.py": (
                "test_a_queue_that_changed_underneath_is_not_searched",
                "test_dry_run_changes_nothing_anywhere",
                "test_error_state_removed_without_blocklist_or_search_and_alerted",
                "test_metadata_and_stall_judged_by_wall_clock",
                "test_missing_files_removed_without_blocklist_then_searched",
                "test_movie_not_found_on_tracker",
                "test_nothing_is_done_while_qbittorrent_is_disconnected",
                "test_tracker_down_waits_before_acting",
                "test_what_must_never_be_touched",
            ),
            "test_safety.py": (
                "test_a_private_torrent_owing_seed_time_is_never_deleted",
                "test_a_slow_but_moving_download_is_never_stalled",
                "test_actions_are_held_while_the_arr_cannot_reach_its_download_client",
                "test_an_identical_search_moments_later_is_deferred_not_repeated",
                "test_dry_runs_leave_no_trace_not_even_a_strike_or_a_resumed_repair",
                "test_restart_keeps_strikes_durations_and_history",
                "test_search_budget_defers_and_never_drops_a_search",
                "test_sigkill_between_two_steps_is_finished_on_restart_without_repeating",
                "test_sigterm_in_the_middle_of_a_repair_finishes_the_pair_then_stops",
                "test_tracker_outage_across_many_torrents_alerts_once_and_removes_nothing",
            ),
            "test_sim.py": (
                "test_automatic_research_unless_skip_redownload",
                "test_blocklist_listing_and_deletion",
                "test_blocklist_needs_a_grab_and_all_false_flags_ignore",
                "test_blocklisting_one_episode_of_a_pack_fails_the_whole_download",
                "test_bulk_delete_is_all_or_nothing_and_dedups_by_download",
                "test_change_category_moves_the_torrent_out_of_the_queue",
                "test_download_client_and_health",
                "test_metadl_is_queued_when_dht_is_on",
                "test_old_radarr_has_no_change_category_flag",
                "test_queue_paging_pitfalls",
                "test_queue_status_follows_the_real_qbittorrent_state",
                "test_radarr_queue_has_one_record_per_download",
                "test_remove_from_client_really_deletes_torrent_and_data",
                "test_sonarr_queue_has_one_record_per_episode_with_upper_case_download_id",
                "test_status_casing_depends_on_the_version",
                "test_unknown_items_are_hidden_unless_asked_for",
            ),
        }.items()
        for name in names
    ),
    lambda b: b.login.ok_status != 200,
    "tests/sim/qbtclient.py: the *arr simulator's qBittorrent client takes only HTTP 200 from auth/login; 5.2+ answers"
    " 204, so the simulated Sonarr/Radarr see no torrent (their queues are empty, health reports the client down)",
)
_STATUS_4 = KnownFailure(
    (
        "test_pipeline.py::test_unregistered_season_pack_removed_blocklisted_and_searched_once",  # line 93
        "test_safety.py::test_history_explain_and_undo_end_to_end",  # line 250
        "test_safety.py::test_optional_cleanup_of_unregistered_seeds_is_cross_seed_aware",  # line 291
    ),
    lambda b: b.unregistered_status != 4,
    "the test asserts tracker status 4 for an unregistered torrent; 5.2+ reports 5 (TrackerError): the monitor's"
    " evidence says 5, correctly (use qbt.behaviour.unregistered_status)",
)
KNOWN_FAILURES = (_SIM_LOGIN, _STATUS_4)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "qbt_version" not in callspec.params:
            continue
        behaviour = Behaviour(callspec.params["qbt_version"])
        key = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        reasons = [k.reason for k in KNOWN_FAILURES if key in k.tests and k.applies(behaviour)]
        if reasons:
            item.add_marker(pytest.mark.xfail(strict=True, reason=" AND ".join(reasons)))


def _sim(kind: str, qbt: QBittorrent, category: str) -> Iterator[ArrSimulator]:
    sim = ArrSimulator(
        kind,  # type: ignore[arg-type]
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=category,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sonarr(qbt: QBittorrent) -> Iterator[ArrSimulator]:
    yield from _sim("sonarr", qbt, SONARR_CATEGORY)


@pytest.fixture
def radarr(qbt: QBittorrent) -> Iterator[ArrSimulator]:
    yield from _sim("radarr", qbt, RADARR_CATEGORY)


@pytest.fixture
def write_config(
    tmp_path: Path, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator
) -> Callable[..., tuple[Path, Config]]:
    """Write a config.yaml for the real qBittorrent and both simulators; extra sections merge in."""

    def build(name: str = "config.yaml", **sections: Any) -> tuple[Path, Config]:
        doc: dict[str, Any] = {
            # A long interval: the tests move the clock hours ahead between cycles, and that is not a gap in
            # watching (time nobody watched does not count towards durations).
            "monitor": {"check_interval": "6h", "data_dir": str(tmp_path / "data"), "log_level": "DEBUG"},
            "health": {"bind": "127.0.0.1", "port": 0},
            "qbittorrent": [
                {"name": "qbittorrent", "url": qbt.url, "username": qbt.username, "password": qbt.password}
            ],
            "sonarr": [{"name": "sonarr", "url": sonarr.url, "api_key": sonarr.api_key}],
            "radarr": [{"name": "radarr", "url": radarr.url, "api_key": radarr.api_key}],
            "stalled": {"min_age": 0},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return path, load_config(path, env={})

    return build


@pytest.fixture
def clock() -> Clock:
    return Clock()
