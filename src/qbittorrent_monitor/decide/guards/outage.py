"""Guard 1, the outage breaker: many downloads failing the same way for a shared cause are an outage. It is alerted
once and nothing in it is repaired until it outlives `outage.window`. A backlog of old failures is not an outage.

Groups, finest first (a coarser group counts only what no finer outage already explains):
- one tracker host with one kind of tracker-reported failure (unregistered, connection, auth, ratio);
- one qBittorrent instance with one client-level kind (file errors, missing files: a disk or mount gone; connection
  errors across many trackers: the client's own network).
Different kinds never add up. Only candidates count (downloads the monitor would repair, now or once they have
lasted): protected, paused, complete, unmanaged and disabled-rule downloads are never in a group.

A group is an outage when
- **sudden onset**: more than `max_torrents` of its candidates were fine at an earlier observation and began failing
  within the last `onset_window`; or
- **most of its population fails**: at least `min_torrents_for_fraction` candidates, making up `max_fraction` of the
  group's torrents in the client (the tracker's whole population, not just the downloads the monitor watches; read on
  demand, see `population_requests`).
An outage is remembered (first seen, the evidence that made it one) until its group has no candidate left; the
remembered evidence is judged again every cycle under the current thresholds, so a change of configuration takes
effect at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ...config import OutageSettings
from ...model import (
    CANDIDATE_VERDICTS,
    STATE_KINDS,
    Decision,
    Evidence,
    Kind,
    OutageGroup,
    PopulationKey,
    RememberedOutage,
    Scope,
    Verdict,
    human_duration,
)
from .context import CycleState, GuardContext, tracker_of

NAME = "outage"

TRACKER_KINDS = frozenset({Kind.TRACKER, Kind.CONNECTION, Kind.AUTH, Kind.RATIO})
CLIENT_KINDS = frozenset({Kind.CONNECTION, Kind.FILE, Kind.MISSING_FILES, Kind.STALLED, Kind.METADATA})
"""Client-wide kinds: a disk or mount gone, the client's network, peers or DHT unreachable for every download."""


def judge(evidence: Evidence, cfg: OutageSettings) -> bool:
    if evidence.onset > cfg.max_torrents:
        return True
    return (
        evidence.population > 0
        and evidence.failing >= cfg.min_torrents_for_fraction
        and evidence.failing / evidence.population >= cfg.max_fraction
    )


def is_onset(decision: Decision, ctx: GuardContext) -> bool:
    """Fine at an earlier observation, failing since less than `onset_window` (a first sighting is not an onset:
    the monitor cannot tell when a failure it finds on its first look began)."""
    memory = decision.download.memory
    if memory is None:
        return False
    began = ctx.facts.first_seen(decision.download.key, decision.finding.kind.value)
    return memory.first_seen < began and ctx.facts.now - began <= ctx.config.outage.onset_window


def tracker_group(decision: Decision) -> OutageGroup | None:
    host = tracker_of(decision)
    if decision.finding.kind not in TRACKER_KINDS or not host:
        return None
    return OutageGroup(Scope.TRACKER, decision.download.torrent.client, decision.finding.kind, host)


def client_group(decision: Decision) -> OutageGroup | None:
    if decision.finding.kind not in CLIENT_KINDS:
        return None
    return OutageGroup(Scope.CLIENT, decision.download.torrent.client, decision.finding.kind)


STARVED_KINDS = frozenset({Kind.STALLED, Kind.METADATA})
"""What a tracker outage explains beyond its own kind: a download of that tracker without peers (its announce still
running this cycle, so no connection error shows yet) is starved by the outage, not broken on its own."""


def tracker_group_key(decision: Decision) -> str:
    """The key of the connection-errors outage of the download's tracker, if it has one."""
    host = decision.download.tracker_host
    return OutageGroup(Scope.TRACKER, decision.download.torrent.client, Kind.CONNECTION, host).key if host else ""


def _starved(
    candidates: list[Decision], explained: dict[str, Decision], active: dict[str, RememberedOutage]
) -> list[Decision]:
    """Candidates of a kind in STARVED_KINDS on a tracker whose connection errors are an outage this cycle, with
    no tracker that works (another tracker that answers would give it peers: then it is stalled on its own)."""
    return [
        d
        for d in candidates
        if d.download.key not in explained
        and d.finding.kind in STARVED_KINDS
        and tracker_group_key(d) in active
        and d.download.no_tracker_works
    ]


GroupOf = Callable[[Decision], OutageGroup | None]


def _tally(decisions: list[Decision], group_of: GroupOf) -> dict[OutageGroup, list[Decision]]:
    out: dict[OutageGroup, list[Decision]] = {}
    for d in decisions:
        if (group := group_of(d)) is not None:
            out.setdefault(group, []).append(d)
    return dict(sorted(out.items()))


def _in_client_count(group: OutageGroup, explained: Iterable[Decision]) -> int:
    """Of the downloads a tracker outage explains, how many qBittorrent's client-wide count of `group.kind` holds:
    every one for connection errors (the count is of torrents whose trackers fail), else those in one of the kind's
    states (STATE_KINDS: a dead tracker's downloads are stalledDL too)."""
    if group.scope is not Scope.CLIENT:
        return 0
    mine = [d for d in explained if d.download.torrent.client == group.client]  # the count is per qBittorrent
    if group.kind is Kind.CONNECTION:  # the tracker outages' own members: the starved show no tracker error
        return sum(d.finding.kind in TRACKER_KINDS for d in mine)
    return sum(STATE_KINDS.get(d.download.torrent.state) is group.kind for d in mine)


def _evidence(
    group: OutageGroup,
    members: list[Decision],
    ctx: GuardContext,
    *,
    lower_bound: bool,
    explained: Iterable[Decision] = (),
) -> Evidence:
    """The group's numbers: its candidates and their onsets; its population and failing torrents by qBittorrent's
    own count when known (the failing seeds of a wiped tracker count too), else the monitor's lower bound. A client
    group counts only what no tracker outage explains: those downloads are taken out of qBittorrent's count too."""
    seen = ctx.watched.get(group.population_key, 0)
    known = None if lower_bound else ctx.facts.populations.get(group.population_key)
    onset = sum(is_onset(d, ctx) for d in members)
    counted = known.failing.get(group.kind.value, 0) - _in_client_count(group, explained) if known else 0
    failing = max(len(members), counted)
    population = max(known.torrents if known else 0, seen, failing)
    return Evidence(failing, onset, population, counted=known is not None)


def _candidates(decisions: tuple[Decision, ...]) -> list[Decision]:
    return [d for d in decisions if d.verdict in CANDIDATE_VERDICTS]


def population_requests(decisions: tuple[Decision, ...], ctx: GuardContext) -> set[PopulationKey]:
    """Groups that look like an outage over what the monitor watches, where only the group's whole population in
    the client can tell: the populations to read (the caller reads each at most once per `outage.window`)."""
    cfg = ctx.config.outage
    if not cfg.enabled:
        return set()
    needed: set[PopulationKey] = set()
    candidates = _candidates(decisions)
    groups: tuple[GroupOf, ...] = (tracker_group, client_group)
    # Client groups are judged with every candidate here: whether a tracker outage explains some of them is not
    # known before that tracker's population is read.
    for group_of in groups:
        for group, members in _tally(candidates, group_of).items():
            rough = _evidence(group, members, ctx, lower_bound=True)
            if (
                judge(rough, cfg)
                and rough.onset <= cfg.max_torrents
                and group.population_key not in ctx.facts.populations
            ):
                needed.add(group.population_key)
    return needed


def apply(state: CycleState, ctx: GuardContext) -> CycleState:
    cfg = ctx.config.outage
    now = ctx.facts.now
    remembered = ctx.facts.outages
    if not cfg.enabled:
        return replace(state, outages={}, ended=tuple(remembered.values()))
    candidates = _candidates(state.decisions)
    active: dict[str, RememberedOutage] = {}
    member_of: dict[str, RememberedOutage] = {}  # download key -> the outage it is part of this cycle
    alerts: list[str] = []
    explained: dict[str, Decision] = {}  # download key -> its decision, for the downloads a tracker outage holds
    groups: tuple[GroupOf, ...] = (tracker_group, client_group)
    for group_of in groups:
        for group, members in _tally([d for d in candidates if d.download.key not in explained], group_of).items():
            evidence = _evidence(group, members, ctx, lower_bound=False, explained=explained.values())
            before = remembered.get(group.key)
            if not judge(evidence, cfg):
                # It was an outage, and nothing says it is over: what made it one (with what is known now of the
                # group's population) is judged again, under today's thresholds.
                again = replace(before.evidence, population=evidence.population) if before is not None else None
                if again is None or not judge(again, cfg):
                    continue
                evidence = again
            keys = tuple(d.download.key for d in members)
            if before is None:
                outage = RememberedOutage(group, now, now, evidence, keys)
                alerts.append(
                    f"OUTAGE on {outage.describe()}; alert only, no removal or blocklist for them until it lasts "
                    f"{human_duration(cfg.window)}"
                )
            else:
                members_ever = tuple(sorted(set(before.members) | set(keys)))
                changed = members_ever != before.members or evidence != before.evidence
                outage = replace(
                    before, last_seen=now if changed else before.last_seen, evidence=evidence, members=members_ever
                )
            active[group.key] = outage
            member_of.update(dict.fromkeys(keys, outage))
            if group.scope is Scope.TRACKER:
                explained.update((d.download.key, d) for d in members)
        if group_of is tracker_group:
            for d in _starved(candidates, explained, active):
                explained[d.download.key] = d
                member_of[d.download.key] = active[tracker_group_key(d)]
    for key, r in remembered.items():
        if key not in active and _unobserved(r, ctx):
            active[key] = r  # its downloads were not seen this cycle (a service did not answer): still an outage
    ended = tuple(r for key, r in remembered.items() if key not in active)
    for r in ended:
        alerts.append(f"outage over on {r.group.describe()}, after {human_duration(now - r.first_seen)}")
    decisions = tuple(
        _mark(d, member_of[d.download.key], ctx)
        if d.verdict in CANDIDATE_VERDICTS and d.download.key in member_of
        else d
        for d in state.decisions
    )
    return CycleState(decisions, (*state.alerts, *alerts), active, (*state.ended, *ended))


def _unobserved(outage: RememberedOutage, ctx: GuardContext) -> bool:
    """A cycle that could not see the group's downloads says nothing about its end: its qBittorrent did not
    answer, or an *arr did (its downloads then had no owner in the snapshot)."""
    missing = ctx.facts.unobserved
    return outage.group.client in missing or bool(missing - {q.name for q in ctx.config.qbittorrent})


def _mark(d: Decision, outage: RememberedOutage, ctx: GuardContext) -> Decision:
    window = ctx.config.outage.window
    age = ctx.facts.now - outage.first_seen
    if age >= window:
        outlived = f"the outage ({outage.describe()}) outlived {human_duration(window)}"
        return replace(d, explanation=f"{d.explanation}; {outlived}")
    why = (
        f"part of an outage: {outage.describe()}; alert only, no removal until it lasts {human_duration(window)} "
        f"(seen for {human_duration(age)})"
    )
    if d.verdict is Verdict.WAIT:
        why += f"; meanwhile {d.explanation}"
    release = outage.first_seen + window
    return replace(
        d, verdict=Verdict.OUTAGE, explanation=why, actions=(), guard=NAME, next_at=max(release, d.next_at or 0.0)
    )
