"""The seams the record room's listeners use: cycle events and request reports."""

from __future__ import annotations

import logging

import httpx
import pytest

from qbittorrent_monitor.clients import Call, on_request
from qbittorrent_monitor.clients.arr import ArrClient
from qbittorrent_monitor.config import ArrInstance
from qbittorrent_monitor.events import Event, Events, ServiceChanged


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    events, heard = Events(), []

    def broken(_: Event) -> None:
        raise RuntimeError("notification service down")

    events.subscribe(broken)
    events.subscribe(heard.append)
    event = ServiceChanged("sonarr", False, "cannot reach", 1.0)
    with caplog.at_level(logging.ERROR):
        events.emit(event)
    assert heard == [event]
    assert "a listener failed on ServiceChanged" in caplog.text


def test_every_request_is_reported_without_its_query_or_key() -> None:
    calls: list[Call] = []
    stop = on_request(calls.append)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"version": "4.0", "appName": "Sonarr"}))
    client = ArrClient("sonarr", ArrInstance(name="sonarr", url="http://sonarr:8989", api_key="s3cr3t-key"), transport)
    try:
        client.status()
    finally:
        stop()
        client.close()
    [call] = calls
    assert (call.service, call.api, call.method, call.path, call.status) == (
        "sonarr",
        "sonarr",
        "GET",
        "/api/v3/system/status",
        200,
    )
    assert "s3cr3t" not in repr(call)
