"""decide: pure policy turning a cycle's findings into Decisions (act, wait, protected, outage, held, report, dry_run).

Nothing here does I/O: the monitor gathers the facts (strikes, durations, outages, failure counts) from the store
and the services and passes them in as plain data. The checks run in the order of the promises: never destroy
something good (protected, paused, complete), act only through the *arr that owns a download, never during an
outage or while the client is disconnected, and only once a condition has lasted and been struck enough.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .breaker import Outage
from .config import Config, RuleAction
from .model import Action, ArrDownload, Decision, Download, Finding, Kind, Verdict, human_duration


@dataclass(frozen=True)
class CycleFacts:
    """Everything outside the download itself the policy needs, gathered once per cycle."""

    now: float
    dry_run: bool = False
    since: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> kind -> first seen
    strikes: dict[str, dict[str, int]] = field(default_factory=dict)  # key -> kind -> consecutive sightings
    outages: dict[str, Outage] = field(default_factory=dict)  # key -> the outage it belongs to
    held_clients: dict[str, str] = field(default_factory=dict)  # qBittorrent instance -> why
    held_arrs: dict[str, str] = field(default_factory=dict)  # *arr instance -> why
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (arr, item) -> failed downloads
    repaired: set[tuple[str, str]] = field(default_factory=set)  # (arr, download id) already removed from a queue


@dataclass(frozen=True)
class PolicyInput:
    config: Config
    facts: CycleFacts


def decide_cycle(items: Iterable[tuple[Download, list[Finding]]], inp: PolicyInput) -> list[Decision]:
    """Decide every download of a cycle, then apply the cycle-wide cap on removals per tracker."""
    decisions = [d for download, findings in items if (d := decide(download, findings, inp)) is not None]
    return cap_removals(decisions, inp.config.protection.max_removals_per_tracker)


def cap_removals(decisions: list[Decision], cap: int) -> list[Decision]:
    """At most `cap` torrents deleted per tracker per cycle; the rest are held for the next cycle."""
    if not cap:
        return decisions
    removals: dict[str, int] = {}
    out = []
    for d in decisions:
        removes = any(
            (a.type == "arr_remove" and a.params.get("removeFromClient")) or a.type == "qbt_delete" for a in d.actions
        )
        host = str(d.finding.evidence.get("tracker") or d.download.tracker_host or "")
        if d.verdict in (Verdict.ACT, Verdict.DRY_RUN) and removes and host:
            removals[host] = removals.get(host, 0) + 1
            if removals[host] > cap:
                d = Decision(
                    d.download,
                    d.finding,
                    Verdict.HELD,
                    f"held: the cap of {cap} removal(s) per cycle for tracker {host} is reached; next cycle",
                )
        out.append(d)
    return out


def _protection(download: Download, finding: Finding, cfg: Config) -> str | None:
    t = download.torrent
    protected_tags = sorted(set(t.tags) & set(cfg.protection.tags))
    if protected_tags:
        return f"carries the protected tag {', '.join(protected_tags)}"
    if t.category and t.category in cfg.protection.categories:
        return f"is in the protected category {t.category}"
    if t.hash in cfg.protection.hashes:
        return "its hash is in protection.hashes"
    host = str(finding.evidence.get("tracker") or download.tracker_host or "")
    if host and (covered := cfg.protection.tracker_protected(host)):
        return f"its tracker {host} is protected ({covered})"
    if t.is_paused:
        return "is paused: the user stopped it, so it is left alone"
    return None


def decide_seed_cleanup(
    download: Download, finding: Finding, *, shares_data: bool, outage: Outage | None, inp: PolicyInput
) -> Decision:
    """An unregistered, complete torrent no *arr queue refers to (opt-in cleanup). Cross-seed aware: when another
    torrent uses the same content, only the torrent goes, never the data."""
    cfg = inp.config
    t = download.torrent

    def verdict(v: Verdict, why: str, actions: tuple[Action, ...] = ()) -> Decision:
        return Decision(download, finding, v, why, actions)

    if (why := _protection(download, finding, cfg)) is not None:
        return verdict(Verdict.PROTECTED, why)
    if owes_seeding(download, cfg):
        return verdict(Verdict.PROTECTED, "private torrent still owes seeding time/ratio: kept")
    if outage is not None:
        return verdict(Verdict.OUTAGE, f"part of an outage: {outage.describe()}; alert only")
    note = "another torrent uses the same data: the torrent goes, the data stays" if shares_data else "data deleted"
    action = Action(
        "qbt_delete",
        t.client,
        {"hash": t.hash, "deleteFiles": not shares_data, "content_path": t.content_path},
        f"{t.client}: delete unregistered seed {t.name} ({note})",
    )
    why = f"unregistered seeding torrent, no *arr queue refers to it ({note})"
    if inp.facts.dry_run:
        return verdict(Verdict.DRY_RUN, f"dry run: {why}", (action,))
    return verdict(Verdict.ACT, why, (action,))


def decide(download: Download, findings: list[Finding], inp: PolicyInput) -> Decision | None:
    """The decision for the most important finding; None when nothing is wrong."""
    if not findings:
        return None
    finding = findings[0]
    if len(findings) > 1:
        also = [f"{f.kind.value}: {f.reason}" for f in findings[1:]]
        finding = Finding(finding.kind, finding.rule, finding.reason, {**finding.evidence, "also": also}, finding.since)
    cfg, facts = inp.config, inp.facts
    t = download.torrent
    key = download.key
    rule = cfg.policy.for_kind(finding.kind)

    def verdict(v: Verdict, why: str, actions: tuple[Action, ...] = ()) -> Decision:
        return Decision(download, finding, v, why, actions)

    # 1. Never destroy something good.
    if (why := _protection(download, finding, cfg)) is not None:
        return verdict(Verdict.PROTECTED, why)
    if t.is_complete and rule.remove:
        return verdict(Verdict.PROTECTED, "is complete (seeding): completed torrents are never removed")

    # 2. Only through the *arr that owns it; only what the policy enables.
    if not download.arr:
        return verdict(Verdict.REPORT, "no *arr queue refers to this torrent: reported only, never blocklisted")
    if not rule.enabled:
        return verdict(Verdict.REPORT, f"the {finding.kind.value} policy is disabled: reported only")
    again = [a.arr for a in download.arr if (a.arr, a.download_id) in facts.repaired]
    if again:
        return verdict(
            Verdict.REPORT,
            f"already removed from the {', '.join(again)} queue once and listed again (the app had no grab history "
            "for it?): not repeated, check it by hand",
        )

    # 3. Has it lasted, and been seen often enough?
    started = (
        finding.since if finding.since is not None else facts.since.get(key, {}).get(finding.kind.value, facts.now)
    )
    lasted = max(0.0, facts.now - started)
    after = cfg.after(finding.kind)
    if lasted < after:
        return verdict(
            Verdict.WAIT,
            f"waiting: {finding.kind.value} for {human_duration(lasted)} of the {human_duration(after)} "
            "the policy requires",
        )
    strikes = facts.strikes.get(key, {}).get(finding.kind.value, 1)
    if strikes < rule.strikes:
        return verdict(Verdict.WAIT, f"waiting: strike {strikes} of the {rule.strikes} the policy requires")

    # 4. An outage is alerted, not repaired (until it outlives the outage window).
    outage = facts.outages.get(key)
    if outage is not None and facts.now - outage.first_seen < cfg.outage.window:
        return verdict(
            Verdict.OUTAGE,
            f"part of an outage: {outage.describe()}; alert only, no removal until it lasts "
            f"{human_duration(cfg.outage.window)} (seen for {human_duration(facts.now - outage.first_seen)})",
        )
    for reason in (facts.held_clients.get(t.client), *(facts.held_arrs.get(a.arr) for a in download.arr)):
        if reason:
            return verdict(Verdict.HELD, f"held: {reason}; nothing is done this cycle")

    # 5. The repair.
    actions, notes = plan_actions(download, finding, rule, cfg, facts)
    why = f"{finding.kind.value} for {human_duration(lasted)}" + (f" (strike {strikes})" if rule.strikes > 1 else "")
    if outage is not None:
        why += f"; the outage ({outage.describe()}) outlived {human_duration(cfg.outage.window)}"
    if notes:
        why += "; " + "; ".join(notes)
    if not any(a.type != "alert" for a in actions):
        return verdict(
            Verdict.REPORT, "the policy asks only for an alert" + (f"; {'; '.join(notes)}" if notes else ""), actions
        )
    if facts.dry_run:
        return verdict(Verdict.DRY_RUN, f"dry run: these actions would be taken ({why})", actions)
    return verdict(Verdict.ACT, why, actions)


def owes_seeding(download: Download, cfg: Config) -> bool:
    """A private torrent that has not yet seeded the minimum time or ratio (hit-and-run if deleted)."""
    t = download.torrent
    if not t.private:
        return False
    return t.seeding_time < cfg.private.min_seeding_time and t.ratio < cfg.private.min_ratio


def plan_actions(
    download: Download, finding: Finding, rule: RuleAction, cfg: Config, facts: CycleFacts
) -> tuple[tuple[Action, ...], list[str]]:
    """The steps of one repair: per owning *arr a queue removal (with flags), then one targeted search."""
    actions: list[Action] = []
    notes: list[str] = []
    t = download.torrent
    keep = rule.remove and owes_seeding(download, cfg)
    # Only a release at fault is blocklisted; a kept private torrent follows `private.blocklist`.
    blocklist = rule.blocklist and (not keep or cfg.private.blocklist)
    if keep:
        notes.append(
            f"private torrent still owes seeding ({human_duration(t.seeding_time)} seeded, ratio {t.ratio:.2f}): "
            "kept in qBittorrent"
        )
    torrent_removed = False
    for arr in download.arr:
        if rule.remove or blocklist:
            remove_from_client = rule.remove and not keep and not torrent_removed
            torrent_removed = torrent_removed or remove_from_client
            actions.append(
                Action(
                    "arr_remove",
                    arr.arr,
                    {
                        "queue_id": arr.queue_ids[0],
                        "download_id": arr.download_id,
                        "removeFromClient": remove_from_client,
                        "blocklist": blocklist,
                        "title": arr.title,
                        "items": search_items(arr),
                        # Our own targeted search (or none): the app must not search as well.
                        "skipRedownload": True,
                    },
                    _describe_remove(arr, remove_from_client, blocklist),
                )
            )
        if not rule.search:
            continue
        search = search_command(arr)
        if search is None:
            continue
        # This failure counts too: the K-th failure of the same episode or movie is not searched again.
        given_up = [
            item for item in search_items(arr) if facts.failures.get((arr.arr, item), 0) + 1 >= cfg.search.give_up_after
        ]
        if given_up:
            notes.append(f"{', '.join(given_up)} failed {cfg.search.give_up_after} or more times: not searched again")
            continue
        actions.append(
            Action(
                "arr_search",
                arr.arr,
                {"command": search, "items": search_items(arr)},
                f"{arr.arr}: search {search['name']} {search_items(arr)}",
            )
        )
    if keep:
        actions.append(
            Action(
                "qbt_tag",
                t.client,
                {"hash": t.hash, "tags": [cfg.private.tag]},
                f"{t.client}: tag {t.name} '{cfg.private.tag}' (kept: private, owes seeding)",
            )
        )
    if finding.kind is Kind.FILE:
        actions.append(Action("alert", "log", {"level": "warning"}, f"file error on {t.name}: {finding.reason}"))
    return tuple(actions), notes


def search_command(arr: ArrDownload) -> dict[str, object] | None:
    """A search for exactly what this download was for; never a global Missing*Search."""
    if arr.app == "sonarr" and arr.episode_ids:
        return {"name": "EpisodeSearch", "episodeIds": list(arr.episode_ids)}
    if arr.app == "radarr" and arr.movie_ids:
        return {"name": "MoviesSearch", "movieIds": list(arr.movie_ids)}
    return None


def search_items(arr: ArrDownload) -> list[str]:
    """Stable names of what a download was for: `episode:101`, `movie:42`."""
    return [f"episode:{e}" for e in arr.episode_ids] + [f"movie:{m}" for m in arr.movie_ids]


def _describe_remove(arr: ArrDownload, remove_from_client: bool, blocklist: bool) -> str:
    what = ["remove from queue"]
    what.append("delete torrent and data" if remove_from_client else "keep torrent in client")
    if blocklist:
        what.append("blocklist release")
    return f"{arr.arr}: " + ", ".join(what) + f" (queue id {arr.queue_ids[0]})"
