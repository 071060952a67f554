"""Pass 1 for the opt-in cleanup: an unregistered, complete torrent no *arr queue refers to. Cross-seed aware: when
another torrent uses the same content, only the torrent goes, never the data. Its candidates then pass the same
cycle-wide guards as every repair."""

from __future__ import annotations

from ..config import Config
from ..model import Action, ActionType, Decision, Download, Finding, Origin, Verdict
from .facts import CycleFacts
from .protection import owes_seeding, private_word, protection


def decide_seed(download: Download, finding: Finding, *, shares_data: bool, cfg: Config, facts: CycleFacts) -> Decision:
    t = download.torrent
    since = facts.first_seen(download.key, finding.kind.value)

    def verdict(v: Verdict, why: str, actions: tuple[Action, ...] = ()) -> Decision:
        return Decision(download, finding, v, why, actions, origin=Origin.SEED_CLEANUP, since=since)

    if (why := protection(download, finding, cfg)) is not None:
        return verdict(Verdict.PROTECTED, why)
    if owes_seeding(download, cfg):
        return verdict(Verdict.PROTECTED, f"{private_word(t.private)} torrent still owes seeding time/ratio: kept")
    note = "another torrent uses the same data: the torrent goes, the data stays" if shares_data else "data deleted"
    action = Action(
        ActionType.QBT_DELETE,
        t.client,
        {"hash": t.hash, "deleteFiles": not shares_data, "content_path": t.content_path},
        f"{t.client}: delete unregistered seed {t.name} ({note})",
    )
    why = f"unregistered seeding torrent, no *arr queue refers to it ({note})"
    if facts.dry_run:
        return verdict(Verdict.DRY_RUN, f"dry run: {why}", (action,))
    return verdict(Verdict.ACT, why, (action,))
