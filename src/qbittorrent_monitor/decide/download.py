"""Pass 1 for the downloads an *arr queue refers to: each on its own, in the order of the promises.

Never destroy something good (protected, paused, complete), act only through the *arr that owns a download and only
what the policy enables, and only once a condition has lasted and been struck enough. What survives is a candidate:
ready (act, or dry run) or waiting for its duration or strikes. The cycle-wide guards (`guards/`) judge candidates only.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import Config
from ..model import Action, ActionType, Decision, Download, Finding, Verdict, human_duration
from .facts import CycleFacts
from .protection import protection
from .repair import plan_actions

REMOVAL_RETRY = 3600.0
"""A removal the *arr refused is tried again after this long; meanwhile it takes no slot of the per-tracker cap."""


def primary(findings: list[Finding]) -> Finding:
    """The most important finding, carrying the others as evidence."""
    finding = findings[0]
    if len(findings) == 1:
        return finding
    also = [f"{f.kind.value}: {f.reason}" for f in findings[1:]]
    return Finding(finding.kind, finding.rule, finding.reason, {**finding.evidence, "also": also}, finding.since)


def decide_download(download: Download, findings: list[Finding], cfg: Config, facts: CycleFacts) -> Decision | None:
    """The decision for the most important finding; None when nothing is wrong."""
    if not findings:
        return None
    finding = primary(findings)
    t = download.torrent
    rule = cfg.policy.for_kind(finding.kind)
    since = finding.since if finding.since is not None else facts.first_seen(download.key, finding.kind.value)

    def verdict(v: Verdict, why: str, actions: tuple[Action, ...] = (), next_at: float | None = None) -> Decision:
        return Decision(download, finding, v, why, actions, since=since, next_at=next_at)

    # 1. Never destroy something good.
    if (why := protection(download, finding, cfg)) is not None:
        return verdict(Verdict.PROTECTED, why)
    if t.is_complete:
        return verdict(Verdict.PROTECTED, "is complete (seeding): completed torrents are never repaired")

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

    # 3. Has it lasted, been seen often enough, and not failed to be removed a moment ago? (a candidate that waits)
    failed = [at for a in download.arr if (at := facts.failed_removals.get((a.arr, a.download_id)))]
    if failed and facts.now - max(failed) < REMOVAL_RETRY:
        return verdict(
            Verdict.WAIT,
            f"waiting: its last removal failed {human_duration(facts.now - max(failed))} ago; tried again after "
            f"{human_duration(REMOVAL_RETRY)} (a download the app will not remove must not hold the others back)",
            next_at=max(failed) + REMOVAL_RETRY,
        )
    lasted = max(0.0, facts.now - since)
    after = cfg.after(finding.kind)
    if lasted < after:
        return verdict(
            Verdict.WAIT,
            f"waiting: {finding.kind.value} for {human_duration(lasted)} of the {human_duration(after)} "
            "the policy requires",
            next_at=since + after,
        )
    strikes = facts.strikes.get(download.key, {}).get(finding.kind.value, 1)
    if strikes < rule.strikes:
        return verdict(Verdict.WAIT, f"waiting: strike {strikes} of the {rule.strikes} the policy requires")

    # 4. The repair (a ready candidate).
    plan = plan_actions(download, finding, rule, cfg, facts)
    notes = "; ".join(plan.notes)
    why = f"{finding.kind.value} for {human_duration(lasted)}" + (f" (strike {strikes})" if rule.strikes > 1 else "")
    why += f"; {notes}" if notes else ""
    if not any(a.type != ActionType.ALERT for a in plan.actions):
        decided = verdict(Verdict.REPORT, "the policy asks only for an alert" + (f"; {notes}" if notes else ""))
    elif facts.dry_run:
        decided = verdict(Verdict.DRY_RUN, f"dry run: these actions would be taken ({why})")
    else:
        decided = verdict(Verdict.ACT, why)
    return replace(decided, actions=plan.actions, given_up=plan.given_up)
