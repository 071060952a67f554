"""End-to-end fixtures: Sonarr and Radarr simulators bound to the session's real qBittorrent, and a builder
for the monitor's configuration pointing at all three.

Every simulator a fixture starts is checked when the test ends: a request the app's vendored OpenAPI spec refuses
(the simulator answers it 400/404/405 and records it in `violations`) fails the test, whether or not the test looked.
A test that sends bad requests on purpose says so: `@pytest.mark.spec_violations(reason="...")`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock, check_on_spec
from harness.qbt import QBittorrent
from qbittorrent_monitor.config import Config, load_config
from sim.arr import ArrSimulator


def _sim(request: pytest.FixtureRequest, kind: str, qbt: QBittorrent, category: str) -> Iterator[ArrSimulator]:
    sim = ArrSimulator(
        kind,  # type: ignore[arg-type]
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=category,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
    check_on_spec(request, sim)


@pytest.fixture
def sonarr(request: pytest.FixtureRequest, qbt: QBittorrent) -> Iterator[ArrSimulator]:
    yield from _sim(request, "sonarr", qbt, SONARR_CATEGORY)


@pytest.fixture
def radarr(request: pytest.FixtureRequest, qbt: QBittorrent) -> Iterator[ArrSimulator]:
    yield from _sim(request, "radarr", qbt, RADARR_CATEGORY)


@pytest.fixture
def write_config(
    tmp_path: Path, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator
) -> Callable[..., tuple[Path, Config]]:
    """Write a config.yaml for the real qBittorrent and both simulators; extra sections merge in."""

    def build(name: str = "config.yaml", **sections: Any) -> tuple[Path, Config]:
        doc: dict[str, Any] = {
            # A long interval: the tests move the clock hours ahead between cycles, and that is not a gap in
            # watching (time nobody watched does not count towards durations).
            "monitor": {"check_interval": "6h", "data_dir": str(tmp_path / "data"), "log_level": "DEBUG"},
            "health": {"bind": "127.0.0.1", "port": 0},
            "qbittorrent": [
                {"name": "qbittorrent", "url": qbt.url, "username": qbt.username, "password": qbt.password}
            ],
            "sonarr": [{"name": "sonarr", "url": sonarr.url, "api_key": sonarr.api_key}],
            "radarr": [{"name": "radarr", "url": radarr.url, "api_key": radarr.api_key}],
            "stalled": {"min_age": 0},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return path, load_config(path, env={})

    return build


@pytest.fixture
def clock() -> Clock:
    return Clock()
