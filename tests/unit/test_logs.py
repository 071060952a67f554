"""Logging as the daemon sets it up: the files under DATA_DIR/logs, their levels and formats."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbittorrent_monitor import logs
from qbittorrent_monitor.config import LoggingSettings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """logs.setup() replaces the root's handlers (pytest's own among them): put them back afterwards."""
    root, health = logging.getLogger(), logging.getLogger(logs.HEALTH_LOGGER)
    saved = (list(root.handlers), root.level, list(health.handlers), health.level, health.propagate)
    yield
    for logger in (root, health):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    root.handlers[:], root.level = saved[0], saved[1]
    health.handlers[:], health.level, health.propagate = saved[2], saved[3], saved[4]


def flush() -> None:
    for logger in (logging.getLogger(), logging.getLogger(logs.HEALTH_LOGGER)):
        for handler in logger.handlers:
            handler.flush()


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_health_log_records_every_change_even_when_log_level_hides_info(
    tmp_path: Path, level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """health.log is the history of the monitor's health: each change is written there whatever LOG_LEVEL says.
    The main log and stderr keep their level: an INFO health line is not in them at WARNING."""
    logs.setup(level, [], tmp_path)
    logging.getLogger(logs.HEALTH_LOGGER).info("health healthy -> unhealthy (sonarr: refused)")
    logging.getLogger("qbittorrent_monitor").info("an info line the main log must not have")
    logging.getLogger("qbittorrent_monitor").error("an error line")
    flush()
    assert "health healthy -> unhealthy (sonarr: refused)" in (tmp_path / "health.log").read_text()
    main = (tmp_path / "qbittorrent-monitor.log").read_text()
    assert "an error line" in main and "healthy -> unhealthy" not in main and "an info line" not in main
    assert "healthy -> unhealthy" not in capsys.readouterr().err


def test_at_info_a_health_change_is_in_both_logs_once(tmp_path: Path) -> None:
    logs.setup("INFO", [], tmp_path)
    logging.getLogger(logs.HEALTH_LOGGER).info("health none -> healthy (every service answers)")
    flush()
    assert (tmp_path / "health.log").read_text().count("none -> healthy") == 1
    assert (tmp_path / "qbittorrent-monitor.log").read_text().count("none -> healthy") == 1


def test_json_format_is_one_object_per_line_with_secrets_redacted(tmp_path: Path) -> None:
    logs.setup("INFO", ["s3cret-api-key"], tmp_path, LoggingSettings(format="json"))
    logging.getLogger("qbittorrent_monitor.monitor").warning("sonarr refused key %s", "s3cret-api-key")
    logging.getLogger(logs.HEALTH_LOGGER).info("health none -> healthy (every service answers)")
    flush()
    [line] = (tmp_path / "qbittorrent-monitor.log").read_text().splitlines()[:1]
    doc = json.loads(line)
    assert doc["level"] == "WARNING" and doc["logger"] == "qbittorrent_monitor.monitor"
    assert doc["message"] == "sonarr refused key ***" and "s3cret" not in line
    [health] = [json.loads(x) for x in (tmp_path / "health.log").read_text().splitlines()]
    assert health["message"] == "health none -> healthy (every service answers)"
