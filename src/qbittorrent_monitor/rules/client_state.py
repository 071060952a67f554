"""qBittorrent's own verdict: the `error` and `missingFiles` states.

4.5.2 has no error-message field: the reason is in qBittorrent's log (`/api/v2/log/main`, warnings), which the
observer attaches to the download by torrent name. `error` is a file error (disk full, permission denied,
not a directory); `missingFiles` is its own kind (the data is gone; the release itself is not at fault).
"""

from __future__ import annotations

from ..model import Download, Finding, Kind
from .patterns import Patterns

RULE = "client_state"


def check(download: Download, patterns: Patterns) -> Finding | None:
    t = download.torrent
    if t.state not in ("error", "missingFiles"):
        return None
    evidence = t.as_evidence()
    reason_text = ""
    if download.log:
        latest = max(download.log, key=lambda e: e.id)
        evidence["log"] = latest.message
        evidence["log_time"] = latest.timestamp
        reason_text = _reason(latest.message)
        if m := patterns.match(latest.message):
            evidence["pattern"] = m.pattern
    if t.state == "error":
        reason = "qBittorrent reports an error" + (f": {reason_text}" if reason_text else " (no reason logged)")
        return Finding(Kind.FILE, RULE, reason, evidence)
    reason = "qBittorrent reports missing files" + (f": {reason_text}" if reason_text else "")
    return Finding(Kind.MISSING_FILES, RULE, reason, evidence)


def _reason(message: str) -> str:
    """The part after `Reason: "` in qBittorrent's alert lines, else the whole message."""
    marker = 'Reason: "'
    if marker in message:
        return message.split(marker, 1)[1].rstrip('"')
    return message
