"""The steps of one repair: per owning *arr a queue removal (with its flags), then one targeted search; a kept
private torrent is tagged; a file error also raises an alert in the log."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, RuleAction
from ..model import Action, ActionType, ArrDownload, Download, Finding, Kind, human_duration
from .facts import CycleFacts
from .protection import owes_seeding, private_word


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...]  # for the explanation
    given_up: tuple[str, ...]  # items (episode:101, movie:42, album:12) failed too often to be searched again


def plan_actions(download: Download, finding: Finding, rule: RuleAction, cfg: Config, facts: CycleFacts) -> Plan:
    """The actions of the repair, with notes for its explanation."""
    actions: list[Action] = []
    notes: list[str] = []
    given_up_all: list[str] = []
    t = download.torrent
    keep = rule.remove and owes_seeding(download, cfg)
    # Only a release at fault is blocklisted; a kept private torrent follows `private.blocklist`.
    blocklist = rule.blocklist and (not keep or cfg.private.blocklist)
    if keep:
        notes.append(
            f"{private_word(t.private)} torrent still owes seeding ({human_duration(t.seeding_time)} seeded, "
            f"ratio {t.ratio:.2f}):"
            " kept in qBittorrent"
        )
    torrent_removed = False
    for arr in download.arr:
        if rule.remove or blocklist:
            remove_from_client = rule.remove and not keep and not torrent_removed
            torrent_removed = torrent_removed or remove_from_client
            actions.append(
                Action(
                    ActionType.ARR_REMOVE,
                    arr.arr,
                    {
                        "queue_id": arr.queue_ids[0],
                        "download_id": arr.download_id,
                        "removeFromClient": remove_from_client,
                        # The repair deletes the torrent: if this *arr's removal is the first to succeed, it does.
                        "deletes_torrent": rule.remove and not keep,
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
            given_up_all += given_up
            continue
        actions.append(
            Action(
                ActionType.ARR_SEARCH,
                arr.arr,
                {"command": search, "items": search_items(arr)},
                f"{arr.arr}: search {search['name']} {search_items(arr)}",
            )
        )
    if keep:
        actions.append(
            Action(
                ActionType.QBT_TAG,
                t.client,
                {"hash": t.hash, "tags": [cfg.private.tag]},
                f"{t.client}: tag {t.name} '{cfg.private.tag}' (kept: private, owes seeding)",
            )
        )
    if finding.kind is Kind.FILE:
        actions.append(
            Action(ActionType.ALERT, "log", {"level": "warning"}, f"file error on {t.name}: {finding.reason}")
        )
    return Plan(tuple(actions), tuple(notes), tuple(given_up_all))


def search_command(arr: ArrDownload) -> dict[str, object] | None:
    """A search for exactly what this download was for (the app's own command, from apps.py: EpisodeSearch,
    MoviesSearch, AlbumSearch, BookSearch); never a global Missing*Search."""
    return arr.profile.search_command(arr.item_ids)


def search_items(arr: ArrDownload) -> list[str]:
    """Stable names of what a download was for: `episode:101`, `movie:42`, `album:12`, `book:7`."""
    return arr.profile.names(arr.item_ids)


def _describe_remove(arr: ArrDownload, remove_from_client: bool, blocklist: bool) -> str:
    what = ["remove from queue"]
    what.append("delete torrent and data" if remove_from_client else "keep torrent in client")
    if blocklist:
        what.append("blocklist release")
    return f"{arr.arr}: " + ", ".join(what) + f" (queue id {arr.queue_ids[0]})"
