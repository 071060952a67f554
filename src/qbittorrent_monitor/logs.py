"""Logging: one line per event, secrets redacted whatever path a message takes (defence in depth).

Times are ISO 8601 with the local offset wherever a person reads one (`2026-12-01T09:12:03+01:00`): log lines,
`history`, `explain`, notifications, and the evidence shown in them (`readable_times`). The JSON documents
(`--test --json`, `history --json`, `explain --json`, /health) keep Unix times in seconds, each beside its ISO twin
`<field>_iso` (`iso_twins`).
`logging.format: json` writes one JSON object per line. Files under DATA_DIR/logs: `qbittorrent-monitor.log`
(everything, rotated) and `health.log` (each change of the monitor's health).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LoggingSettings

REDACTED = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HEALTH_LOGGER = "qbittorrent_monitor.health"


def iso_time(ts: float) -> str:
    """ISO 8601 with the local offset, to the second."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


EPOCH_FIELDS = frozenset(
    {
        # the cycle report, its findings and outages; /health's last cycle
        "started_at",
        "finished_at",
        "since",
        "next_at",
        # the journal (`history`), a torrent's memory and its last decision (`explain`)
        "time",
        "updated",
        "first_seen",
        "last_seen",
        "last_progress_at",
        "window_at",
        # the rules' evidence
        "added_on",
        "no_progress_since",
        "waiting_since",
    }
)
"""The fields that hold a Unix time in seconds, in the JSON documents and in the rules' evidence."""


def _epoch(key: object, value: object) -> bool:
    return key in EPOCH_FIELDS and isinstance(value, int | float) and not isinstance(value, bool)


def iso_twins(doc: Any) -> Any:
    """A JSON document with an ISO 8601 twin `<field>_iso` beside each Unix-time field, at any depth (null when
    the time is unknown: 0 or less, as qBittorrent writes -1)."""
    if isinstance(doc, dict):
        out: dict[Any, Any] = {}
        for key, value in doc.items():
            out[key] = iso_twins(value)
            if _epoch(key, value):
                out[f"{key}_iso"] = iso_time(value) if value > 0 else None
        return out
    if isinstance(doc, list | tuple):
        return [iso_twins(v) for v in doc]
    return doc


def readable_times(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence for a person to read: its Unix times as ISO 8601 with the offset (an unknown one, -1, as it is)."""
    return {k: iso_time(v) if _epoch(k, v) and v > 0 else v for k, v in evidence.items()}


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in (*self.secrets, *secrets) if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            record.exc_text, record.exc_info = text, None
        return True


class TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            doc["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(doc, ensure_ascii=False)


_redact = RedactSecrets(())


def redact(secrets: Iterable[str]) -> None:
    """Add secrets to redact (a reloaded configuration may bring new ones)."""
    _redact.update(secrets)


def setup(
    level: str, secrets: Iterable[str], log_dir: Path | None = None, settings: LoggingSettings | None = None
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in list(logging.getLogger(HEALTH_LOGGER).handlers):
        logging.getLogger(HEALTH_LOGGER).removeHandler(handler)
    _redact.secrets = []
    _redact.update(secrets)
    formatter: logging.Formatter = (
        JsonFormatter() if settings is not None and settings.format == "json" else TextFormatter(FORMAT)
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    health: logging.Handler | None = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)  # as the umask says (cli.py)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_dir / "qbittorrent-monitor.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
                )
            )
            health = logging.handlers.RotatingFileHandler(
                log_dir / "health.log", maxBytes=1_000_000, backupCount=2, encoding="utf-8"
            )
        except OSError as exc:
            print(f"warning: cannot write logs under {log_dir}: {exc.strerror}", file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_redact)
        handler.setLevel(level)  # the main log's level, also for the health lines relayed to it below
        root.addHandler(handler)
    # The health log hears every change at INFO whatever LOG_LEVEL is (at WARNING it used to stay empty); the
    # main log and stderr still get those lines only when their level lets INFO through.
    health_logger = logging.getLogger(HEALTH_LOGGER)
    health_logger.setLevel(logging.INFO)
    health_logger.propagate = False
    for handler in handlers:
        health_logger.addHandler(handler)
    if health is not None:
        health.setFormatter(formatter)
        health.addFilter(_redact)
        health.setLevel(logging.INFO)
        health_logger.addHandler(health)
    root.setLevel(level)
    logging.getLogger("filelock").setLevel(logging.WARNING)  # its lock chatter says nothing to a user
