"""What "one time format" means, checked the same way over every output a user reads.

A person reads ISO 8601 with the offset (`2026-12-01T09:12:03+01:00`), never a bare Unix time; a JSON document may
carry Unix times in seconds, each beside its ISO twin `<field>_iso`. A Unix time is recognised by its value, not by
its field's name, so a new time field without its twin fails the check.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

ISO_OFFSET = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
EPOCH = re.compile(r"(?<![\w.])(1[5-9]\d{8}|20\d{8})(\.\d+)?(?![\w.])")  # 2017-06 .. 2033-05, in seconds
ID_KEY = re.compile(r"(^|_)ids?$|Ids?$")


def looks_like_a_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 1.5e9 <= value < 2.1e9


def untwinned_times(doc: Any, path: str = "") -> list[str]:
    """Where a JSON document holds a Unix time without an ISO twin that says the same second."""
    bad: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}"
            if looks_like_a_time(value) and not ID_KEY.search(str(key)):
                twin = doc.get(f"{key}_iso")
                if not isinstance(twin, str) or not re.fullmatch(ISO_OFFSET, twin):
                    bad.append(f"{here}={value} (twin {twin!r})")
                elif int(datetime.fromisoformat(twin).timestamp()) != int(value):
                    bad.append(f"{here}={value} != {twin}")
            else:
                bad += untwinned_times(value, here)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            bad += untwinned_times(value, f"{path}[{i}]")
    return bad


def bare_times(text: str, around: float | None = None, within: float = 2 * 86400) -> list[str]:
    """Unix times in text a person reads: numbers within `within` seconds of `around` (default now; the times a
    test makes are all recent). The range keeps ids out: a 31-bit queue id such as 1606623474 is a valid 2020 time,
    but one of them falling within two days of now is a chance of 1 in 12,000."""
    centre = time.time() if around is None else around
    return [m.group(0) for m in EPOCH.finditer(text) if abs(float(m.group(0)) - centre) <= within]
