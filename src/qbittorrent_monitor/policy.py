"""decide: pure policy turning findings into a Decision (act, wait, protected, report, dry_run) with its actions.

Nothing here does I/O. The order of the checks is the order of the promises: never destroy something good
(paused, protected, complete and seeding), act only through the *arr that owns a download, and only once a
condition has lasted as long as the policy asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config, RuleAction
from .model import Action, ArrDownload, Decision, Download, Finding, Kind, Verdict
from .rules.stalled import _human


@dataclass(frozen=True)
class PolicyInput:
    config: Config
    now: float
    dry_run: bool


def decide(download: Download, findings: list[Finding], since: dict[str, float], inp: PolicyInput) -> Decision | None:
    """The decision for the most important finding; None when nothing is wrong."""
    if not findings:
        return None
    finding = findings[0]
    if len(findings) > 1:
        finding = Finding(
            finding.kind,
            finding.rule,
            finding.reason,
            {**finding.evidence, "also": [f"{f.kind.value}: {f.reason}" for f in findings[1:]]},
            finding.since,
        )
    cfg = inp.config
    t = download.torrent
    rule = cfg.policy.for_kind(finding.kind)

    def verdict(v: Verdict, why: str, actions: tuple[Action, ...] = ()) -> Decision:
        return Decision(download, finding, v, why, actions)

    protected_tags = sorted(set(t.tags) & set(cfg.protection.tags))
    if protected_tags:
        return verdict(Verdict.PROTECTED, f"carries the protected tag {', '.join(protected_tags)}")
    if t.category and t.category in cfg.protection.categories:
        return verdict(Verdict.PROTECTED, f"is in the protected category {t.category}")
    if t.is_paused:
        return verdict(Verdict.PROTECTED, "is paused: the user stopped it, so it is left alone")
    if t.is_complete and rule.remove:
        return verdict(Verdict.PROTECTED, "is complete (seeding): completed torrents are never removed")
    if not download.arr:
        return verdict(Verdict.REPORT, "no *arr queue refers to this torrent: reported only, never blocklisted")
    if not rule.enabled:
        return verdict(Verdict.REPORT, f"the {finding.kind.value} policy is disabled: reported only")

    started = finding.since if finding.since is not None else since.get(finding.kind.value, inp.now)
    lasted = max(0.0, inp.now - started)
    if lasted < rule.after:
        return verdict(
            Verdict.WAIT,
            f"waiting: {finding.kind.value} for {_human(lasted)} of the {_human(rule.after)} the policy requires",
        )

    actions = plan_actions(download, finding, rule)
    if not any(a.type != "alert" for a in actions):
        return verdict(Verdict.REPORT, "the policy asks only for an alert", actions)
    if inp.dry_run:
        return verdict(Verdict.DRY_RUN, "dry run: these actions would be taken", actions)
    return verdict(Verdict.ACT, f"{finding.kind.value} for {_human(lasted)}", actions)


def plan_actions(download: Download, finding: Finding, rule: RuleAction) -> tuple[Action, ...]:
    """The steps of one repair: per owning *arr a queue removal (with flags), then one targeted search."""
    actions: list[Action] = []
    torrent_removed = False
    for arr in download.arr:
        if rule.remove or rule.blocklist:
            remove_from_client = rule.remove and not torrent_removed
            torrent_removed = torrent_removed or remove_from_client
            actions.append(
                Action(
                    "arr_remove",
                    arr.arr,
                    {
                        "queue_id": arr.queue_ids[0],
                        "download_id": arr.download_id,
                        "removeFromClient": remove_from_client,
                        "blocklist": rule.blocklist,
                        # Our own targeted search (or none): the app must not search as well.
                        "skipRedownload": True,
                    },
                    _describe_remove(arr, remove_from_client, rule.blocklist),
                )
            )
        if rule.search and (search := search_command(arr)) is not None:
            actions.append(Action("arr_search", arr.arr, {"command": search}, f"{arr.arr}: search {search['name']}"))
    if finding.kind is Kind.FILE:
        actions.append(
            Action("alert", "log", {"level": "warning"}, f"file error on {download.torrent.name}: {finding.reason}")
        )
    return tuple(actions)


def search_command(arr: ArrDownload) -> dict[str, object] | None:
    """A search for exactly what this download was for; never a global Missing*Search."""
    if arr.app == "sonarr" and arr.episode_ids:
        return {"name": "EpisodeSearch", "episodeIds": list(arr.episode_ids)}
    if arr.app == "radarr" and arr.movie_ids:
        return {"name": "MoviesSearch", "movieIds": list(arr.movie_ids)}
    return None


def _describe_remove(arr: ArrDownload, remove_from_client: bool, blocklist: bool) -> str:
    what = ["remove from queue"]
    what.append("delete torrent and data" if remove_from_client else "keep torrent in client")
    if blocklist:
        what.append("blocklist release")
    return f"{arr.arr}: " + ", ".join(what) + f" (queue id {arr.queue_ids[0]})"
