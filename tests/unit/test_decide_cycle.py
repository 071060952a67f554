"""The decide room over whole cycles (pure, no I/O): which downloads are repaired, which wait, which alert is raised.

Each case is a seedbox a user really has, built from real qBittorrent captures (4.5.2, 5.1.0, 5.3.0) cloned onto
several tracker hosts, with protected, paused, complete and unmanaged torrents beside the broken ones. A small
`World` plays the store's part between cycles (first sightings, finding clocks, strikes, the outage memory, the
tracker populations qBittorrent would report) and removes what a repair removed, so a case can run cycle after cycle.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from captured import radarr_ref, sonarr_ref
from qbittorrent_monitor import decide
from qbittorrent_monitor.clients.qbittorrent import parse_listed, parse_version
from qbittorrent_monitor.config import Config, ErrorPatterns
from qbittorrent_monitor.model import (
    ArrDownload,
    Decision,
    Download,
    Memory,
    Population,
    PopulationKey,
    RememberedOutage,
    Scope,
    TrackerState,
    TrackerStatus,
    Verdict,
)
from qbittorrent_monitor.observe import is_suspect
from qbittorrent_monitor.rules import Patterns, RuleContext, classify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PATTERNS = Patterns.from_config(ErrorPatterns())
T0 = 1_800_000_000.0  # the day the user installs the monitor
HOUR = 3600.0
CYCLE = 300.0  # the default check interval
DAY = 86_400.0

DEAD = "dead.example"  # a tracker host that refuses connections
TV = "tv.example"  # a tracker that still serves its other torrents
WIPE = "wipe.example"  # a tracker that will forget every torrent at once
CLIENT = "qbittorrent"


def config(**sections: Any) -> Config:
    return Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1"}], **sections})


# -- building a seedbox from real captures ----------------------------------------------------------------------
@dataclass
class Box:
    """The torrents of one seedbox as observe would present them; names identify them in assertions."""

    version: str = "4.5.2"
    items: list[tuple[Download, bool]] = field(default_factory=list)  # (download, its bytes are moving)
    counter: int = 0

    def add(
        self,
        state: str,
        name: str,
        *,
        host: str | None = None,
        arr: str | None = "radarr",
        episodes: tuple[int, ...] = (),
        tags: tuple[str, ...] = (),
        private: bool = False,
        moving: bool = False,
        seed: bool = False,
    ) -> str:
        self.counter += 1
        root = FIXTURES / f"qbittorrent-{self.version}" / "states" / state
        info = json.loads((root / "torrents_info.json").read_text())[0]
        rows = json.loads((root / "torrents_trackers.json").read_text())
        text = json.dumps({**info, "trackers": rows})
        if host:  # the capture's loopback tracker becomes this host (the port stays: one host, one tracker)
            text = text.replace("127.0.0.1", host)
        row = json.loads(text)
        row |= {"hash": f"{self.counter:040x}", "name": name, "tags": ", ".join(tags), "private": private}
        listed = parse_listed(CLIENT, row, parse_version(self.version))
        t = dataclasses.replace(listed.torrent, private=private)
        refs: tuple[ArrDownload, ...] = ()
        if arr == "sonarr":
            refs = (sonarr_ref(t.hash, list(episodes or (self.counter,))),)
        elif arr == "radarr":
            refs = (radarr_ref(t.hash, movie_id=self.counter),)
        # observe reads the trackers of suspects, and of the seeds the opt-in cleanup looks at
        trackers = listed.trackers if is_suspect(t) or seed else None
        # what observe lists for the protections: every tracker row, whatever its status, and the `tracker` field
        hosts = [r.host for r in listed.trackers or () if r.host] + [urlsplit(t.tracker).hostname or ""]
        self.items.append(
            (Download(t, refs, trackers, listed_hosts=tuple(dict.fromkeys(h for h in hosts if h))), moving)
        )
        return name

    def get(self, name: str) -> Download:
        return next(d for d, _ in self.items if d.torrent.name == name)

    def set_trackers(self, name: str, rows: tuple[TrackerStatus, ...]) -> None:
        """The same download with these tracker rows (what torrents/trackers answers this cycle)."""
        self.items = [
            (dataclasses.replace(d, trackers=rows) if d.torrent.name == name else d, m) for d, m in self.items
        ]

    def replace(self, name: str, state: str, *, host: str | None = None) -> None:
        """The same torrent (hash, *arr refs, tags) in a new state: what the next observation shows."""
        old = self.get(name)
        scratch = Box(self.version, counter=int(old.torrent.hash, 16) - 1)
        scratch.add(state, name, host=host, arr=None, tags=old.torrent.tags, private=bool(old.torrent.private))
        new = scratch.items[0][0]
        self.items = [
            (dataclasses.replace(new, arr=old.arr), False) if d.torrent.name == name else (d, m) for d, m in self.items
        ]


@dataclass
class Cycle:
    decisions: dict[str, Decision]
    alerts: tuple[str, ...]
    asked: set[PopulationKey]
    outages: dict[str, RememberedOutage]

    def named(self, *verdicts: Verdict) -> set[str]:
        return {name for name, d in self.decisions.items() if d.verdict in verdicts}


@dataclass
class World:
    """The store's memory between cycles, and what qBittorrent would answer about tracker populations."""

    cfg: Config
    populations: dict[PopulationKey, int] = field(default_factory=dict)
    now: float = T0
    first_seen: dict[str, float] = field(default_factory=dict)
    since: dict[str, dict[str, float]] = field(default_factory=dict)
    strikes: dict[str, dict[str, int]] = field(default_factory=dict)
    outages: dict[str, RememberedOutage] = field(default_factory=dict)

    def cycle(self, box: Box, *, remove_repaired: bool = True, **facts: Any) -> Cycle:
        downloads = []
        for d, moving in box.items:
            first = self.first_seen.setdefault(d.key, self.now)
            progress = self.now if moving else first
            downloads.append(dataclasses.replace(d, memory=Memory(first, progress, d.torrent.downloaded)))
        ctx = RuleContext(PATTERNS, self.now, self.cfg.stalled.min_age, self.cfg.stalled.slow)
        findings = {d.key: classify(d, ctx) for d in downloads}
        for key, found in findings.items():  # what store.note_findings keeps: continuous conditions only
            kinds = {f.kind.value for f in found}
            self.since[key] = {k: self.since.get(key, {}).get(k, self.now) for k in kinds}
            self.strikes[key] = {k: self.strikes.get(key, {}).get(k, 0) + 1 for k in kinds}
        base = decide.CycleFacts(now=self.now, since=self.since, strikes=self.strikes, outages=self.outages, **facts)
        candidates = decide.pass_one(((d, findings[d.key]) for d in downloads), (), self.cfg, base)
        asked = decide.population_requests(candidates, downloads, self.cfg, base)
        known = {k: Population(self.populations[k]) for k in asked if k in self.populations}
        state = decide.guard_cycle(candidates, downloads, self.cfg, dataclasses.replace(base, populations=known))
        self.outages = state.outages
        result = Cycle({d.download.torrent.name: d for d in state.decisions}, state.alerts, asked, state.outages)
        if remove_repaired:  # the repair took them out of the queue and the client
            done = result.named(Verdict.ACT)
            box.items = [(d, m) for d, m in box.items if d.torrent.name not in done]
        self.now += CYCLE
        return result


def realistic_seedbox(version: str) -> Box:
    """The issue's seedbox: a dead tracker host refusing connections for 10 Radarr downloads; on another tracker two
    Sonarr downloads answered "Unregistered torrent" (one a 3-record season pack) and a `keep` one; a movie in
    `error`, one in `missingFiles`; seeds awaiting import, a paused download, a private seed, an unmanaged error."""
    box = Box(version)
    for i in range(10):
        box.add("fx-tracker-down", f"Dead.Movie.{i}", host=DEAD)
    box.add("fx-sonarr-unregistered", "Show.S01E05", host=TV, arr="sonarr", episodes=(105,))
    box.add("fx-sonarr-unregistered", "Show.S02.Pack", host=TV, arr="sonarr", episodes=(201, 202, 203))
    box.add("fx-sonarr-unregistered", "Kept.Show.S01E01", host=TV, arr="sonarr", tags=("keep",))
    box.add("fx-error-notadir", "Broken.Movie.2019", host=TV)
    box.add(
        "fx-missingfiles-restart" if version != "4.5.2" else "fx-missingfiles-skipcheck", "Missing.Movie.2020", host=TV
    )
    box.add("fx-seeding", "Done.Movie.2018", host=TV)
    box.add("fx-seeding", "Done.Show.S03", host=TV, arr="sonarr")
    box.add("fx-seeding", "Private.Seed.2017", host=TV, private=True)
    box.add("fx-paused-dl", "Paused.Movie.2016", host=TV)
    box.add("fx-error-notadir", "Nobody.Owns.This", host=TV, arr=None)
    return box


SEEDBOX_POPULATIONS = {
    PopulationKey(CLIENT, DEAD): 10,  # the dead tracker serves only these ten
    PopulationKey(CLIENT, TV): 240,  # the working tracker seeds 200+ torrents fine
    PopulationKey(CLIENT): 260,
}
BROKEN_FOUR = {"Show.S01E05", "Show.S02.Pack", "Broken.Movie.2019", "Missing.Movie.2020"}
DEAD_TEN = {f"Dead.Movie.{i}" for i in range(10)}


# -- what surrounds a breaker case -------------------------------------------------------------------------------
# A failing group is never alone on a real seedbox. Around a group on WIPE: a healthy download on another tracker;
# on WIPE itself a protected and an unmanaged download failing the same way at the same moment (never candidates, so
# never counted) and a download failing another way (connection refused: another kind, so another group); and, in
# the cycle the group fails, a download of another tracker failing the same way and a file error no tracker answered
# (their own groups of one: repaired whatever the group decides).
ON_WIPE = ("Kept.On.Wipe", "Unmanaged.On.Wipe", "Refused.On.Wipe")


def add_neighbours(box: Box) -> None:
    """Before the group fails: every neighbour fine (bytes moving)."""
    box.add("fx-stalled-dl", "Fine.On.TV", host=TV, moving=True)
    box.add("fx-stalled-dl", "Kept.On.Wipe", host=WIPE, tags=("keep",), moving=True)
    box.add("fx-stalled-dl", "Unmanaged.On.Wipe", host=WIPE, arr=None, moving=True)
    box.add("fx-stalled-dl", "Refused.On.Wipe", host=WIPE, arr="sonarr", moving=True)


def neighbours_fail(box: Box) -> None:
    """In the cycle the group fails (all at the same moment, so each would be a sudden onset if it counted)."""
    box.replace("Kept.On.Wipe", "fx-unregistered-dl", host=WIPE)
    box.replace("Unmanaged.On.Wipe", "fx-unregistered-dl", host=WIPE)
    box.replace("Refused.On.Wipe", "fx-tracker-down", host=WIPE)
    box.add("fx-unregistered-dl", "Gone.On.TV", host=TV, arr="sonarr")
    box.add("fx-error-notadir", "Broken.No.Tracker")


def assert_neighbours(cycle: Cycle, *, new: bool = False, refused: Verdict = Verdict.WAIT) -> None:
    """What happens to each neighbour whatever the group's fate. The protected one is PROTECTED and the unmanaged one
    reported, never repaired; the connection refusal waits its connection_errors `after` (6h); the healthy one has
    no decision. In the cycle they appear (`new`) the other tracker's failure and the file error are repaired at once:
    one candidate each in their own tracker's and the client's cap of 3."""
    d = cycle.decisions
    assert "Fine.On.TV" not in d
    assert d["Kept.On.Wipe"].verdict is Verdict.PROTECTED
    assert d["Unmanaged.On.Wipe"].verdict is Verdict.REPORT
    assert d["Refused.On.Wipe"].verdict is refused
    if new:
        assert d["Gone.On.TV"].verdict is Verdict.ACT
        assert d["Broken.No.Tracker"].verdict is Verdict.ACT


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_realistic_seedbox_on_first_start_repairs_the_four_unrelated_failures_and_alerts_one_dead_tracker(
    version: str,
) -> None:
    box = realistic_seedbox(version)
    world = World(config(), SEEDBOX_POPULATIONS)

    first = world.cycle(box)

    assert first.named(Verdict.ACT) == BROKEN_FOUR  # repaired in the first cycle, none held by a cap
    assert first.named(Verdict.OUTAGE) == DEAD_TEN  # waiting, and known to be an outage
    for name in DEAD_TEN:
        assert "part of an outage" in first.decisions[name].explanation
        assert "connection_errors for 0s of the 6h00m" in first.decisions[name].explanation
    assert first.named(Verdict.PROTECTED) == {"Kept.Show.S01E01"}
    assert first.named(Verdict.REPORT) == {"Nobody.Owns.This"}
    # Seeds, the paused download and the private seed are not even findings.
    assert not {"Done.Movie.2018", "Done.Show.S03", "Private.Seed.2017", "Paused.Movie.2016"} & set(first.decisions)
    [alert] = first.alerts  # one alert: the dead tracker; no client-wide outage
    assert f"tracker {DEAD} (connection_errors): 10 of 10 torrents failing" in alert
    # Read only where it decides: the dead tracker, and the client (ten connection errors are most of what the
    # monitor watches there); one read of qBittorrent's counts answers both.
    assert first.asked == {PopulationKey(CLIENT, DEAD), PopulationKey(CLIENT)}
    # The season pack is one download: one removal, one search for its three episodes.
    pack = first.decisions["Show.S02.Pack"]
    assert [a.type for a in pack.actions] == ["arr_remove", "arr_search"]
    assert pack.actions[1].params["command"] == {"name": "EpisodeSearch", "episodeIds": [201, 202, 203]}
    # The file error and the missing files belong to no tracker: they did not count against tv.example.
    assert first.decisions["Broken.Movie.2019"].download.tracker_host == ""
    assert first.decisions["Missing.Movie.2020"].download.tracker_host == ""

    second = world.cycle(box)  # five minutes later: the same outage, no second alert, still nothing removed
    assert second.named(Verdict.OUTAGE) == DEAD_TEN and second.alerts == ()


def test_on_5x_a_never_contacted_torrent_is_not_counted_against_the_tracker_its_field_names() -> None:
    # 5.1+ puts the tracker URL in `tracker` even for torrents that never contacted it.
    box = Box("5.3.0")
    box.add("fx-error-notadir", "Broken.0", host=TV)
    box.add("fx-error-notadir", "Broken.1", host=TV)
    box.add("fx-missingfiles-restart", "Missing.0", host=TV)
    for i in range(3):  # 5.3 says "unregistered" with status 5
        box.add("fx-unregistered-dl", f"Gone.{i}", host=TV, arr="sonarr" if i else "radarr")
    box.add("fx-paused-dl", "Stopped.Movie", host=TV)  # stoppedDL: the user stopped it
    assert box.get("Broken.0").torrent.tracker.startswith(f"http://{TV}")  # the field names the tracker
    world = World(config(), {PopulationKey(CLIENT, TV): 300})

    cycle = world.cycle(box)

    # Three on the tracker, three that never contacted it: all six repaired, none held by the cap of 3 per tracker.
    assert cycle.named(Verdict.ACT) == {"Broken.0", "Broken.1", "Missing.0", "Gone.0", "Gone.1", "Gone.2"}
    assert {cycle.decisions[f"Gone.{i}"].finding.evidence["tracker_status"] for i in range(3)} == {5}
    assert "Stopped.Movie" not in cycle.decisions
    assert cycle.alerts == ()


def test_a_tracker_wipe_between_two_cycles_is_one_alert_and_nothing_removed_until_it_outlives_the_window() -> None:
    box = Box()
    for i in range(12):
        box.add("fx-stalled-dl", f"Wiped.Show.S01E{i:02d}", host=WIPE, arr="sonarr", moving=True)
    box.add("fx-unregistered-dl", "Other.Movie", host=TV)  # another tracker, already dead: repaired at once
    world = World(config(), {PopulationKey(CLIENT, WIPE): 400, PopulationKey(CLIENT, TV): 300})
    before = world.cycle(box)
    assert before.named(Verdict.ACT) == {"Other.Movie"} and before.alerts == ()

    for i in range(12):  # the tracker forgets them all
        box.replace(f"Wiped.Show.S01E{i:02d}", "fx-unregistered-dl", host=WIPE)
    box.add("fx-error-notadir", "Broken.Movie", host=WIPE)  # meanwhile a disk error: another kind, repaired
    wiped = world.cycle(box)

    assert len(wiped.named(Verdict.OUTAGE)) == 12 and wiped.named(Verdict.ACT) == {"Broken.Movie"}
    [alert] = wiped.alerts
    assert f"tracker {WIPE} (tracker_errors)" in alert and "12 of them fine until moments ago" in alert
    assert wiped.asked == set()  # twelve sudden failures are an outage whatever the tracker's size

    later = world.cycle(box)
    assert len(later.named(Verdict.OUTAGE)) == 12 and later.alerts == ()

    world.now = T0 + 6 * HOUR + 2 * CYCLE  # the outage outlived outage.window: repaired at the capped rate
    outlived = world.cycle(box)
    assert len(outlived.named(Verdict.ACT)) == 3 and len(outlived.named(Verdict.HELD)) == 9
    assert all("outlived 6h00m" in outlived.decisions[n].explanation for n in outlived.named(Verdict.ACT))
    for _ in range(3):
        world.cycle(box)
    assert not box.items  # all twelve repaired, three per cycle
    [over] = world.cycle(box).alerts
    assert over.startswith(f"outage over on tracker {WIPE} (tracker_errors)")


@pytest.mark.parametrize(("sudden", "outage"), [(5, False), (6, True)])
def test_more_than_max_torrents_failing_together_is_an_outage_and_max_torrents_itself_is_not(
    sudden: int, outage: bool
) -> None:
    """max_torrents is 5: five of ours fine a cycle ago and failing now are no outage, six are. A protected and an
    unmanaged download failing with them, and a connection refusal on the same host, would make five into eight and
    six into nine if they counted; nothing decided about the group changes what happens to the neighbours."""
    box = Box()
    for i in range(sudden):
        box.add("fx-stalled-dl", f"S.{i}", host=WIPE, moving=True)
    add_neighbours(box)
    world = World(config(), {PopulationKey(CLIENT, WIPE): 1000, PopulationKey(CLIENT, TV): 300})
    assert world.cycle(box).decisions == {}
    for i in range(sudden):
        box.replace(f"S.{i}", "fx-unregistered-dl", host=WIPE)
    neighbours_fail(box)
    cycle = world.cycle(box)
    ours = {f"S.{i}" for i in range(sudden)}
    assert_neighbours(cycle, new=True)
    if outage:
        assert cycle.named(Verdict.OUTAGE) == ours
        [alert] = cycle.alerts
        assert f"tracker {WIPE} (tracker_errors)" in alert and "6 of them fine until moments ago" in alert
    else:  # repaired at the capped rate instead: three of the five on WIPE, plus the two neighbours elsewhere
        assert cycle.alerts == () and cycle.named(Verdict.OUTAGE) == set()
        assert len(cycle.named(Verdict.ACT) & ours) == 3 and len(cycle.named(Verdict.HELD) & ours) == 2
    assert cycle.named(Verdict.ACT) - ours == {"Gone.On.TV", "Broken.No.Tracker"}


def test_a_backlog_on_first_start_is_repaired_three_per_tracker_per_cycle_so_ten_each_take_four_cycles() -> None:
    # 30 long-dead downloads on three trackers that still serve their 40 other torrents each: not an outage.
    box = Box()
    hosts = ("a.example", "b.example", "c.example")
    for host in hosts:
        for i in range(10):
            box.add("fx-unregistered-dl", f"{host}.{i}", host=host, arr="sonarr" if i % 2 else "radarr")
    world = World(config(), {PopulationKey(CLIENT, h): 50 for h in hosts})

    repaired: list[int] = []
    while box.items and len(repaired) < 10:
        cycle = world.cycle(box)
        assert cycle.alerts == ()
        assert cycle.named(Verdict.OUTAGE) == set()
        repaired.append(len(cycle.named(Verdict.ACT)))
        for host in hosts:  # the cap holds per tracker
            assert sum(n.startswith(host) for n in cycle.named(Verdict.ACT)) <= 3
    assert repaired == [9, 9, 9, 3]
    assert len(repaired) == math.ceil(10 / 3)


def test_six_unmanaged_missing_files_beside_one_managed_failure_the_managed_one_is_repaired() -> None:
    box = Box()
    for i in range(6):
        box.add("fx-missingfiles-skipcheck", f"Unmanaged.{i}", arr=None)
    box.add("fx-missingfiles-skipcheck", "Managed.Movie")
    world = World(config())
    cycle = world.cycle(box)
    assert cycle.named(Verdict.ACT) == {"Managed.Movie"}
    assert cycle.named(Verdict.REPORT) == {f"Unmanaged.{i}" for i in range(6)}
    assert cycle.alerts == ()


def test_a_protected_torrent_never_counts_toward_any_group() -> None:
    """A small tracker qBittorrent counts 6 torrents on: two of ours fail unregistered (2 of 6, and fewer than the
    3 `min_torrents_for_fraction` asks for: no outage, both repaired). Counting the protected and the unmanaged one
    that fail the same way would make it 4 of 6; adding the connection refusal on the same host (another kind) would
    make it 3 of 6, half: either would be an outage. Another tracker, healthy and with a file error, is untouched by
    all this."""
    box = Box()
    box.add("fx-unregistered-dl", "Bad.One", host=TV)
    box.add("fx-unregistered-dl", "Bad.Two", host=TV, arr="sonarr")
    box.add("fx-unregistered-dl", "Kept.Three", host=TV, tags=("keep",))
    box.add("fx-unregistered-dl", "Unmanaged.Four", host=TV, arr=None)
    box.add("fx-paused-dl", "Paused.Five", host=TV)
    box.add("fx-tracker-down", "Refused.Six", host=TV, arr="sonarr")
    box.add("fx-stalled-dl", "Fine.Elsewhere", host=DEAD, moving=True)
    box.add("fx-error-notadir", "Broken.Elsewhere", host=DEAD)
    world = World(config(), {PopulationKey(CLIENT, TV): 6, PopulationKey(CLIENT): 8})
    cycle = world.cycle(box)
    assert cycle.named(Verdict.ACT) == {"Bad.One", "Bad.Two", "Broken.Elsewhere"}
    assert cycle.named(Verdict.PROTECTED) == {"Kept.Three"}
    assert cycle.named(Verdict.REPORT) == {"Unmanaged.Four"}
    assert cycle.named(Verdict.WAIT) == {"Refused.Six"}  # connection_errors wait their 6h
    assert not {"Paused.Five", "Fine.Elsewhere"} & set(cycle.decisions)
    assert cycle.alerts == () and cycle.asked == set()  # nothing looked like an outage, not even roughly


def test_most_of_a_trackers_population_failing_is_an_outage_even_on_first_start() -> None:
    # A private tracker whose 4 torrents are all downloads of ours, 3 failing: 3 of 4 is an outage.
    box = Box()
    for i in range(3):
        box.add("fx-unregistered-dl", f"Small.{i}", host=TV)
    box.add("fx-stalled-dl", "Small.Fine", host=TV, moving=True)
    box.add("fx-unregistered-dl", "Elsewhere", host=DEAD)
    cycle = World(config(), {PopulationKey(CLIENT, TV): 4, PopulationKey(CLIENT, DEAD): 300}).cycle(box)
    assert cycle.named(Verdict.OUTAGE) == {"Small.0", "Small.1", "Small.2"}
    assert cycle.named(Verdict.ACT) == {"Elsewhere"}
    [alert] = cycle.alerts
    assert "3 of 4 torrents failing" in alert


def test_a_disk_gone_is_a_client_outage_and_other_kinds_still_get_repaired() -> None:
    box = Box()
    for i in range(8):
        box.add("fx-stalled-dl", f"OnDisk.{i}", host=TV, moving=True)
    box.add("fx-unregistered-dl", "Trumped.Movie", host=DEAD)
    world = World(config(), {PopulationKey(CLIENT): 500, PopulationKey(CLIENT, DEAD): 100})
    world.cycle(box)
    for i in range(8):  # the mount went away: every download in missingFiles at once
        box.replace(f"OnDisk.{i}", "fx-missingfiles-skipcheck")
    box.add("fx-unregistered-dl", "Trumped.Show", host=DEAD, arr="sonarr")
    cycle = world.cycle(box)
    assert cycle.named(Verdict.OUTAGE) == {f"OnDisk.{i}" for i in range(8)}
    assert cycle.named(Verdict.ACT) == {"Trumped.Show"}
    [alert] = cycle.alerts
    assert f"qBittorrent {CLIENT} (missing_files)" in alert


def test_connection_errors_across_many_trackers_are_a_client_outage_but_one_dead_tracker_is_not_two() -> None:
    """Six downloads of one host begin refusing connections: a tracker outage (more than max_torrents 5), not also a
    client one. Then the client's network goes: eight more, one on each of eight trackers, all eight a sudden onset.
    The client group's alert says 8 of 17: failing are those 8 (not the dead tracker's 6, already explained, nor the
    protected and unmanaged downloads that refuse connections too: never candidates); the 17 are every download the
    monitor watches there (the 14, the protected, the unmanaged and a missing-files one). An unregistered download on
    the dead host and the missing-files one (other kinds, groups of one) are repaired beside the outages."""
    box = Box()
    for i in range(8):
        box.add("fx-stalled-dl", f"Net.{i}", host=f"t{i}.example", moving=True)
    for i in range(6):
        box.add("fx-stalled-dl", f"Dead.{i}", host=DEAD, moving=True)
    box.add("fx-stalled-dl", "Kept.Refused", host=DEAD, tags=("keep",), moving=True)
    box.add("fx-stalled-dl", "Unmanaged.Refused", host="t0.example", arr=None, moving=True)
    populations = {PopulationKey(CLIENT, f"t{i}.example"): 100 for i in range(8)}
    world = World(config(), {**populations, PopulationKey(CLIENT, DEAD): 100, PopulationKey(CLIENT): 2000})
    world.cycle(box)
    for i in range(6):  # one tracker host dies: a tracker outage, and not also a client-wide one
        box.replace(f"Dead.{i}", "fx-tracker-down", host=DEAD)
    box.replace("Kept.Refused", "fx-tracker-down", host=DEAD)
    box.add("fx-unregistered-dl", "Gone.On.Dead", host=DEAD, arr="sonarr")
    dead = world.cycle(box)
    [alert] = dead.alerts
    assert f"tracker {DEAD} (connection_errors)" in alert and "6 of them fine until moments ago" in alert
    assert dead.named(Verdict.ACT) == {"Gone.On.Dead"}  # tracker_errors on the same host: its own group of one
    for i in range(8):  # then the client's own network goes: every tracker refuses, one torrent each
        box.replace(f"Net.{i}", "fx-tracker-down", host=f"t{i}.example")
    box.replace("Unmanaged.Refused", "fx-tracker-down", host="t0.example")
    box.add("fx-missingfiles-skipcheck", "Missing.Movie")  # missing_files: another client-wide kind, alone
    network = world.cycle(box)
    [alert] = network.alerts
    assert f"qBittorrent {CLIENT} (connection_errors)" in alert and "8 of 17 torrents failing" in alert
    assert network.named(Verdict.OUTAGE) == {f"Net.{i}" for i in range(8)} | {f"Dead.{i}" for i in range(6)}
    assert network.named(Verdict.ACT) == {"Missing.Movie"}
    assert network.named(Verdict.PROTECTED) == {"Kept.Refused"}
    assert network.named(Verdict.REPORT) == {"Unmanaged.Refused"}


def test_turning_the_breaker_off_or_raising_a_threshold_releases_a_remembered_outage_next_cycle() -> None:
    """Eight of ours on WIPE wiped at once (more than max_torrents 5: an outage), among the neighbours. Released by
    the new configuration, the eight are repaired at WIPE's cap of 3 per cycle (the other 5 held); the protected and
    the unmanaged one stay untouched and the connection refusal keeps waiting its 6h, whatever the breaker says."""

    def wiped_world(cfg: Config) -> tuple[World, Box]:
        box = Box()
        for i in range(8):
            box.add("fx-stalled-dl", f"W.{i}", host=WIPE, moving=True)
        add_neighbours(box)
        world = World(cfg, {PopulationKey(CLIENT, WIPE): 400, PopulationKey(CLIENT, TV): 300})
        world.cycle(box)
        for i in range(8):
            box.replace(f"W.{i}", "fx-unregistered-dl", host=WIPE)
        neighbours_fail(box)
        wiped = world.cycle(box)
        assert len(wiped.named(Verdict.OUTAGE)) == 8
        assert_neighbours(wiped, new=True)  # repaired beside the outage, and gone from the box
        return world, box

    ours = {f"W.{i}" for i in range(8)}

    world, box = wiped_world(config())
    world.cfg = config(outage={"enabled": False})
    off = world.cycle(box)
    assert len(off.named(Verdict.ACT) & ours) == 3 and off.named(Verdict.ACT) <= ours and off.outages == {}
    assert len(off.named(Verdict.HELD)) == 5  # the cap still holds
    assert_neighbours(off)

    world, box = wiped_world(config())
    world.cfg = config(outage={"max_torrents": 20})  # eight sudden failures are no outage under this bar
    raised = world.cycle(box)
    assert len(raised.named(Verdict.ACT)) == 3 and raised.named(Verdict.ACT) <= ours and raised.outages == {}
    assert any("outage over" in a for a in raised.alerts)
    assert_neighbours(raised)

    world, box = wiped_world(config())
    world.cfg = config(outage={"window": "1m"})  # a shorter window: the outage has outlived it
    shorter = world.cycle(box)
    assert len(shorter.named(Verdict.ACT)) == 3 and shorter.named(Verdict.ACT) <= ours
    assert_neighbours(shorter)


def test_an_outage_is_remembered_after_its_onset_window_until_it_outlives_its_window() -> None:
    """Six of ours wiped at once on WIPE (more than max_torrents 5). Two hours on, no longer an onset (1h) and only
    6 of WIPE's 1000: the memory alone keeps all six an outage. The neighbours meanwhile: the connection refusal on the
    same host still waits (2h of its 6h), the protected and unmanaged ones are still never repaired."""
    box = Box()
    for i in range(6):
        box.add("fx-stalled-dl", f"W.{i}", host=WIPE, moving=True)
    add_neighbours(box)
    world = World(config(), {PopulationKey(CLIENT, WIPE): 1000, PopulationKey(CLIENT, TV): 300})
    world.cycle(box)
    for i in range(6):
        box.replace(f"W.{i}", "fx-unregistered-dl", host=WIPE)
    neighbours_fail(box)
    wiped = world.cycle(box)
    assert wiped.named(Verdict.OUTAGE) == {f"W.{i}" for i in range(6)}
    assert_neighbours(wiped, new=True)
    world.now += 2 * HOUR
    kept = world.cycle(box)
    assert kept.named(Verdict.OUTAGE) == {f"W.{i}" for i in range(6)} and kept.alerts == ()
    assert kept.named(Verdict.ACT) == set()
    assert_neighbours(kept)


def test_holds_a_disconnected_client_and_an_arr_that_cannot_reach_its_client() -> None:
    box = Box()
    box.add("fx-unregistered-dl", "Movie.A", host=TV)
    box.add("fx-unregistered-dl", "Show.B", host=TV, arr="sonarr")
    held_arr = "sonarr reports its download client unavailable"
    cycle = World(config()).cycle(box, remove_repaired=False, held_arrs={"sonarr": held_arr})
    assert cycle.named(Verdict.ACT) == {"Movie.A"} and cycle.named(Verdict.HELD) == {"Show.B"}
    assert cycle.decisions["Show.B"].guard == "holds"
    held = World(config()).cycle(box, held_clients={CLIENT: "qBittorrent qbittorrent reports connection status ..."})
    assert held.named(Verdict.HELD) == {"Movie.A", "Show.B"}


def test_the_cap_takes_the_oldest_failures_first_and_counts_untracked_downloads_per_client() -> None:
    box = Box()
    for i in range(5):
        box.add("fx-error-notadir", f"Err.{i}")  # no tracker ever answered: counted under the client
    world = World(config(protection={"max_removals_per_tracker": 2}), {PopulationKey(CLIENT): 200})
    world.since = {f"{CLIENT}:{i + 1:040x}": {"file_errors": T0 - (i + 1) * HOUR} for i in range(5)}
    cycle = world.cycle(box)
    assert cycle.named(Verdict.ACT) == {"Err.4", "Err.3"}  # the two oldest, whatever order qBittorrent listed them
    assert "qBittorrent qbittorrent (no tracker answered)" in cycle.decisions["Err.0"].explanation


def test_the_guards_run_in_their_named_order() -> None:
    assert [name for name, _ in decide.GUARDS] == ["outage", "holds", "cap"]


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_a_torrent_no_tracker_ever_answered_belongs_to_no_tracker(version: str) -> None:
    # Its tracker rows, had they been read, say "not contacted"; 5.x still names the tracker in its `tracker` field.
    for state in ("fx-error-notadir", "fx-paused-dl"):
        root = FIXTURES / f"qbittorrent-{version}" / "states" / state
        row = json.loads((root / "torrents_info.json").read_text())[0]
        rows = json.loads((root / "torrents_trackers.json").read_text())
        listed = parse_listed(CLIENT, {**row, "trackers": rows}, parse_version(version))
        assert Download(listed.torrent, (), listed.trackers).tracker_host == "", (version, state)
        assert Download(listed.torrent).tracker_host == "", (version, state)
    # One that answered (even with a failure) is that tracker's.
    root = FIXTURES / f"qbittorrent-{version}" / "states" / "fx-tracker-down"
    row = json.loads((root / "torrents_info.json").read_text())[0]
    rows = json.loads((root / "torrents_trackers.json").read_text())
    listed = parse_listed(CLIENT, {**row, "trackers": rows}, parse_version(version))
    assert Download(listed.torrent, (), listed.trackers).tracker_host == "127.0.0.1"


def test_the_seed_cleanup_waits_while_any_arr_cannot_reach_its_client() -> None:
    # A queue the *arr cannot refresh may still own the seed: no seed is deleted while any *arr is held.
    box = Box()
    box.add("fx-unregistered-seed", "Seed.One", host=TV, arr=None, seed=True)
    seed = box.items[0][0]
    cfg = config()
    facts = decide.CycleFacts(now=T0, held_arrs={"radarr": "radarr reports its download client unavailable"})
    finding = classify(seed, RuleContext(PATTERNS, T0))[0]
    decisions = decide.pass_one((), [(seed, finding, False)], cfg, facts)
    assert [d.verdict for d in decisions] == [Verdict.ACT]
    state = decide.guard_cycle(decisions, [seed], cfg, dataclasses.replace(facts, populations={}))
    assert [(d.verdict, d.guard) for d in state.decisions] == [(Verdict.HELD, "holds")]


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_a_protected_tracker_protects_downloads_no_tracker_ever_answered(version: str) -> None:
    # An error or missingFiles download never contacted its tracker: it is still that tracker's to protect.
    box = Box(version)
    box.add("fx-error-notadir", "Broken.On.Protected", host=TV)
    box.add(
        "fx-missingfiles-restart" if version != "4.5.2" else "fx-missingfiles-skipcheck",
        "Missing.On.Protected",
        host=TV,
    )
    box.add("fx-error-notadir", "Broken.Elsewhere", host=DEAD)
    cycle = World(config(protection={"trackers": [TV]}), {PopulationKey(CLIENT): 100}).cycle(box)
    assert cycle.named(Verdict.PROTECTED) == {"Broken.On.Protected", "Missing.On.Protected"}
    assert cycle.named(Verdict.ACT) == {"Broken.Elsewhere"}


def test_an_outage_survives_a_cycle_that_could_not_see_its_downloads() -> None:
    box = Box()
    for i in range(8):
        box.add("fx-stalled-dl", f"W.{i}", host=WIPE, arr="sonarr", moving=True)
    box.add("fx-error-notadir", "Broken.Elsewhere", host=TV)  # another kind, repaired meanwhile
    world = World(config(), {PopulationKey(CLIENT, WIPE): 400, PopulationKey(CLIENT): 500})
    world.cycle(box)
    for i in range(8):
        box.replace(f"W.{i}", "fx-unregistered-dl", host=WIPE)
    assert len(world.cycle(box).named(Verdict.OUTAGE)) == 8
    hidden, box.items = box.items, []  # Sonarr restarts: its queue cannot be read, its downloads are not seen
    blind = world.cycle(box, unobserved=frozenset({"sonarr"}))
    assert blind.alerts == () and len(blind.outages) == 1  # not "over": nothing says it is
    box.items = hidden
    world.now += 2 * HOUR  # no longer an onset, 8 of 400: only the memory keeps it an outage
    back = world.cycle(box)
    assert len(back.named(Verdict.OUTAGE)) == 8 and back.alerts == ()


def test_a_wiped_tracker_on_first_start_is_an_outage_by_qbittorrents_own_count() -> None:
    # The monitor never saw them fine, but qBittorrent says all 412 of the tracker's torrents fail (its seeds too).
    box = Box()
    for i in range(12):
        box.add("fx-unregistered-dl", f"Wiped.{i}", host=WIPE, arr="sonarr" if i % 2 else "radarr")
    box.add("fx-error-notadir", "Broken.Movie", host=TV)  # another kind and host: repaired
    world = World(config())
    unknown_failing = {PopulationKey(CLIENT, WIPE): Population(412), PopulationKey(CLIENT): Population(500)}
    blind = _cycle_with(world, box, unknown_failing)  # 5.1 cannot tell which of its torrents fail
    assert len(blind.named(Verdict.ACT)) == 4 and blind.alerts == ()  # a backlog: three of them, and the other
    counted = {**unknown_failing, PopulationKey(CLIENT, WIPE): Population(412, {"tracker_errors": 412})}
    cycle = _cycle_with(world, box, counted)
    assert len(cycle.named(Verdict.OUTAGE)) == 12 and cycle.named(Verdict.ACT) == {"Broken.Movie"}
    [alert] = cycle.alerts
    assert "412 of 412 torrents failing (qBittorrent's count)" in alert


def _cycle_with(world: World, box: Box, known: dict[PopulationKey, Population], *, idle: float = 0.0) -> Cycle:
    """One cycle where qBittorrent's counts (with their failing torrents) are these; the downloads were first seen,
    and last made progress, `idle` seconds ago."""
    since = world.now - idle
    downloads = [dataclasses.replace(d, memory=Memory(since, since, 0)) for d, _ in box.items]
    ctx = RuleContext(PATTERNS, world.now, world.cfg.stalled.min_age)
    findings = {d.key: classify(d, ctx) for d in downloads}
    facts = decide.CycleFacts(now=world.now, populations=known)
    candidates = decide.pass_one(((d, findings[d.key]) for d in downloads), (), world.cfg, facts)
    state = decide.guard_cycle(candidates, downloads, world.cfg, facts)
    return Cycle({d.download.torrent.name: d for d in state.decisions}, state.alerts, set(), state.outages)


def test_ten_connection_errors_on_a_large_tracker_are_no_client_outage() -> None:
    """Ten of a 400-torrent tracker's downloads refuse connections on first start: a backlog (no onset), 10 of 400
    and 10 of the client's 900, so no outage: they wait their connection_errors 6h. An unregistered download on the
    same host (another kind) is repaired; a protected and an unmanaged refusal are left alone and counted nowhere."""
    box = Box()
    for i in range(10):
        box.add("fx-tracker-down", f"Refused.{i}", host=DEAD)
    box.add("fx-tracker-down", "Kept.Refused", host=DEAD, tags=("keep",))
    box.add("fx-tracker-down", "Unmanaged.Refused", host=DEAD, arr=None)
    box.add("fx-unregistered-dl", "Gone.On.Dead", host=DEAD, arr="sonarr")
    box.add("fx-stalled-dl", "Fine.Download", host=TV, moving=True)
    world = World(config(), {PopulationKey(CLIENT, DEAD): 400, PopulationKey(CLIENT): 900})
    cycle = world.cycle(box)
    assert cycle.alerts == () and cycle.named(Verdict.WAIT) == {f"Refused.{i}" for i in range(10)}
    assert cycle.named(Verdict.ACT) == {"Gone.On.Dead"}
    assert cycle.named(Verdict.PROTECTED) == {"Kept.Refused"}
    assert cycle.named(Verdict.REPORT) == {"Unmanaged.Refused"}
    assert "Fine.Download" not in cycle.decisions
    assert PopulationKey(CLIENT) in cycle.asked  # the client's count is asked for too: it decides here


def test_a_dead_trackers_stalled_downloads_are_not_counted_again_as_a_client_wide_stall() -> None:
    """A dead tracker holds ten Radarr downloads; qBittorrent lists all ten as stalledDL, and one of them shows no
    connection error this cycle (its announce is still running), so it is classified stalled; it waits with the
    other nine (the outage starves it of peers). Beside them, two downloads are really stalled: one on a healthy
    tracker, one listing the dead tracker and a working one. qBittorrent's own count says 12 of the client's 13
    torrents are stalled, but ten of those are the dead tracker's, which its outage already explains. That is one
    alert (the tracker), not a second client-wide stall, and the two stalled downloads are judged on their own, as
    they would be without the dead tracker."""
    box = Box()
    for i in range(9):
        box.add("fx-tracker-down", f"Dead.Movie.{i}", host=DEAD)
    box.add("fx-stalled-dl", "Dead.Movie.9", host=DEAD)  # the dead tracker's tenth, mid-announce:
    rows = box.get("Dead.Movie.9").trackers or ()  # its tracker row says `updating` (3), with no error yet
    box.set_trackers("Dead.Movie.9", tuple(dataclasses.replace(r, status=TrackerState.UPDATING, msg="") for r in rows))
    box.add("fx-stalled-dl", "Stuck.Movie", host=TV)
    # Also stalled a day: a torrent listing the dead tracker and a working one. The working tracker gives it peers
    # if there are any, so the outage does not explain it: it is judged on its own.
    box.add("fx-stalled-dl", "Two.Trackers.Movie", host=TV)
    [dead_row] = [r for r in box.get("Dead.Movie.0").trackers or () if r.host == DEAD]
    box.set_trackers("Two.Trackers.Movie", (dead_row, *(box.get("Two.Trackers.Movie").trackers or ())))
    cfg = config()
    known = {
        PopulationKey(CLIENT, DEAD): Population(11, {"connection_errors": 10}),
        PopulationKey(CLIENT, TV): Population(2),
        PopulationKey(CLIENT): Population(13, {"stalled": 12, "connection_errors": 10}),
    }
    alone = Box()
    alone.add("fx-stalled-dl", "Stuck.Movie", host=TV)
    only = {PopulationKey(CLIENT, TV): Population(1), PopulationKey(CLIENT): Population(2, {"stalled": 1})}
    by_itself = _cycle_with(World(cfg), alone, only, idle=DAY)
    cycle = _cycle_with(World(cfg), box, known, idle=DAY)  # a day without progress: stalled by any threshold
    [alert] = cycle.alerts
    assert alert.startswith(f"OUTAGE on tracker {DEAD} (connection_errors): 10 of 11 torrents failing"), alert
    # All ten wait for the outage, the one mid-announce too: no peers because its tracker is dead, not broken.
    assert cycle.named(Verdict.OUTAGE) == {f"Dead.Movie.{i}" for i in range(10)}
    assert cycle.decisions["Stuck.Movie"].verdict is by_itself.decisions["Stuck.Movie"].verdict is not Verdict.OUTAGE
    assert cycle.decisions["Two.Trackers.Movie"].verdict is Verdict.ACT
    assert not any(o.group.scope is Scope.CLIENT for o in cycle.outages.values())


def test_a_dead_tracker_on_one_qbittorrent_does_not_hide_a_client_wide_stall_on_another() -> None:
    """Two qBittorrent instances. On the first, a dead tracker holds ten downloads, all stalledDL. On the second
    ("disk"), 12 of its 20 torrents are stalled (its network or disk is gone), three of them watched downloads. The
    first's outage explains only the first's torrents: the second is a client outage of its own, and its three
    downloads wait instead of being removed."""
    box = Box()
    for i in range(10):
        box.add("fx-tracker-down", f"Dead.Movie.{i}", host=DEAD)
    for i in range(3):
        box.add("fx-stalled-dl", f"Other.Movie.{i}", host=TV)
    box.items = [
        (dataclasses.replace(d, torrent=dataclasses.replace(d.torrent, client="disk")), m)
        if d.torrent.name.startswith("Other.")
        else (d, m)
        for d, m in box.items
    ]
    known = {
        PopulationKey(CLIENT, DEAD): Population(10, {"connection_errors": 10}),
        PopulationKey(CLIENT): Population(19, {"stalled": 10, "connection_errors": 10}),
        PopulationKey("disk", TV): Population(20),
        PopulationKey("disk"): Population(20, {"stalled": 12}),
    }
    cycle = _cycle_with(World(config()), box, known, idle=DAY)
    assert any(a.startswith("OUTAGE on qBittorrent disk (stalled): 12 of 20") for a in cycle.alerts), cycle.alerts
    assert len(cycle.alerts) == 2  # the dead tracker, and the second instance's stall
    assert cycle.named(Verdict.OUTAGE) == {f"Dead.Movie.{i}" for i in range(10)} | {
        f"Other.Movie.{i}" for i in range(3)
    }


def test_a_download_whose_removal_failed_waits_and_leaves_its_cap_slot_to_the_others() -> None:
    box = Box()
    for i in range(4):
        box.add("fx-unregistered-dl", f"Bad.{i}", host=TV)
    box.add("fx-missingfiles-skipcheck", "Missing.Movie", host=TV)  # another kind, counted under the client
    world = World(config(), {PopulationKey(CLIENT, TV): 300, PopulationKey(CLIENT): 400})
    refused = {("radarr", f"{n:040x}"): T0 - 600 for n in (1, 2, 3)}  # the app answered 500 ten minutes ago
    cycle = world.cycle(box, failed_removals=refused)
    assert cycle.named(Verdict.ACT) == {"Bad.3", "Missing.Movie"}
    assert cycle.named(Verdict.WAIT) == {"Bad.0", "Bad.1", "Bad.2"}
    assert "its last removal failed 10m ago" in cycle.decisions["Bad.0"].explanation
    assert cycle.decisions["Bad.0"].next_at == T0 - 600 + decide.REMOVAL_RETRY


def test_a_complete_download_is_never_a_candidate_whatever_its_rule() -> None:
    # auth_errors keeps the torrent but would blocklist it: a complete download awaiting import is left alone.
    box = Box()
    box.add("fx-unregistered-seed", "Awaiting.Import", host=TV, seed=True)
    d = box.get("Awaiting.Import")
    rows = tuple(dataclasses.replace(r, msg="Invalid passkey") if r.is_real else r for r in d.trackers or ())
    box.items = [(dataclasses.replace(d, trackers=rows), False)]
    cycle = World(config()).cycle(box)
    assert cycle.named(Verdict.PROTECTED) == {"Awaiting.Import"}
    assert cycle.decisions["Awaiting.Import"].finding.kind.value == "auth_errors"


@pytest.mark.parametrize(("failing", "outage"), [(3, True), (2, False)])
def test_half_of_a_trackers_torrents_failing_is_an_outage_and_less_is_not(failing: int, outage: bool) -> None:
    # max_fraction 0.5: 3 of 6 is half (an outage); 2 of 6 is a third (repaired)
    box = Box()
    for i in range(failing):
        box.add("fx-unregistered-dl", f"Bad.{i}", host=TV)
    box.add("fx-error-notadir", "Broken.Elsewhere", host=DEAD)  # mixed: another kind and host, always repaired
    cycle = World(config(), {PopulationKey(CLIENT, TV): 6, PopulationKey(CLIENT): 50}).cycle(box)
    assert bool(cycle.named(Verdict.OUTAGE)) is outage
    assert "Broken.Elsewhere" in cycle.named(Verdict.ACT)


def test_an_outage_is_repaired_the_moment_it_has_lasted_exactly_its_window() -> None:
    """Six of ours wiped at once on WIPE; window 6h. One second short, all six still wait as an outage and the
    connection refusal beside them (which began with them) still waits its own 6h. At exactly 6h both are due: seven
    candidates on WIPE share its cap of 3 per cycle (the oldest failures first; here they all began together), so 3
    are repaired and 4 held; the protected and unmanaged ones are never among them."""
    box = Box()
    for i in range(6):
        box.add("fx-stalled-dl", f"W.{i}", host=WIPE, moving=True)
    add_neighbours(box)
    world = World(config(), {PopulationKey(CLIENT, WIPE): 1000, PopulationKey(CLIENT, TV): 300})
    world.cycle(box)
    for i in range(6):
        box.replace(f"W.{i}", "fx-unregistered-dl", host=WIPE)
    neighbours_fail(box)
    began = world.now
    assert len(world.cycle(box).named(Verdict.OUTAGE)) == 6
    world.now = began + 6 * HOUR - 1
    short = world.cycle(box, remove_repaired=False)
    assert len(short.named(Verdict.OUTAGE)) == 6 and short.named(Verdict.ACT) == set()
    assert_neighbours(short)
    world.now = began + 6 * HOUR
    due = world.cycle(box)
    candidates = {f"W.{i}" for i in range(6)} | {"Refused.On.Wipe"}
    assert len(due.named(Verdict.ACT)) == 3 and due.named(Verdict.ACT) <= candidates
    assert due.named(Verdict.HELD) == candidates - due.named(Verdict.ACT)
    assert due.decisions["Kept.On.Wipe"].verdict is Verdict.PROTECTED
    assert due.decisions["Unmanaged.On.Wipe"].verdict is Verdict.REPORT
