"""Message patterns: the five configurable categories, matched case-insensitively on word boundaries.

Trackers word their messages as they like, so tracker `msg` texts can only be matched by pattern. Everything
that qBittorrent says through an enum or a status code (torrent state, tracker status) is read from that instead.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..config import ErrorPatterns
from ..model import PATTERN_KINDS, Kind


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    alternatives = sorted({p.strip() for p in patterns if p.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(p) for p in alternatives)
    # A word boundary that also works for patterns starting or ending with punctuation ("(unreachable)").
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class PatternMatch:
    kind: Kind
    pattern: str


MEMORY = 4096  # messages remembered per configuration: the same log lines and tracker messages come back each cycle


class Patterns:
    """Compiled once per configuration; `match` is pure, so its answers are remembered (a cycle meets the same
    messages as the last one: matching them again was a fifth of an idle cycle's CPU with 200 errored torrents)."""

    def __init__(self, categories: dict[str, list[str]], ignore: list[str]) -> None:
        self._by_kind = {kind: _compile(categories.get(kind.value, [])) for kind in PATTERN_KINDS}
        self._ignore = _compile(ignore)
        self._remembered = functools.lru_cache(maxsize=MEMORY)(self._match)

    @classmethod
    def from_config(cls, error_patterns: ErrorPatterns) -> Patterns:
        """The built-in defaults plus the user's patterns."""
        cats = {k.value: error_patterns.effective(k.value) for k in PATTERN_KINDS}
        return cls(cats, error_patterns.effective("ignore"))

    def ignored(self, message: str) -> str | None:
        m = self._ignore.search(message) if self._ignore else None
        return m.group(0) if m else None

    def match(self, message: str) -> PatternMatch | None:
        """The category of a message, most specific category first; None when ignored or unknown."""
        return self._remembered(message)

    def _match(self, message: str) -> PatternMatch | None:
        if not message or self.ignored(message):
            return None
        for kind, rx in self._by_kind.items():
            if rx and (m := rx.search(message)):
                return PatternMatch(kind, m.group(0))
        return None
