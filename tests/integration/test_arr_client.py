"""The *arr adapter against the simulator: every page of a long queue, pending items, errors that say what to fix."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e2e import SONARR_CATEGORY
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.clients import ServiceError
from qbittorrent_monitor.clients import arr as arr_module
from qbittorrent_monitor.clients.arr import ArrClient
from qbittorrent_monitor.config import ArrInstance
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration


def test_every_page_of_the_queue_is_read_and_the_loop_ends(
    states: StateFactory, sonarr: ArrSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = [states.stalled(f"Paged.Show.S0{i}", category=SONARR_CATEGORY) for i in range(1, 4)]
    for i, h in enumerate(packs, start=1):
        sonarr.grab_episodes(h, f"Paged.Show.S0{i}", series_id=i, season=i, episode_ids=[i * 10 + e for e in range(3)])
    monkeypatch.setattr(arr_module, "PAGE_SIZE", 2)  # 9 records: five pages, the last one half full
    client = ArrClient("sonarr", ArrInstance(name="sonarr", url=sonarr.url, api_key=sonarr.api_key))
    try:
        items = client.queue()
    finally:
        client.close()
    assert len(items) == 9 and len({i.id for i in items}) == 9
    assert {i.download_id for i in items} == set(packs)  # upper-case downloadIds joined lower-case
    pages = [r.query["page"] for r in sonarr.calls("GET", "/api/v3/queue")]
    assert pages == [["1"], ["2"], ["3"], ["4"], ["5"]]
    first = sonarr.calls("GET", "/api/v3/queue")[0].query
    assert first["sortDirection"] == ["ascending"] and first["pageSize"] == ["2"]
    # Unknown items are left out explicitly (Sonarr v5 would include them); the protocol is filtered by the monitor
    # (Readarr, Whisparr v2 and Radarr v4 have no `protocol` filter).
    assert first["includeUnknownSeriesItems"] == ["false"] and "protocol" not in first
    assert sonarr.violations == []


def test_a_wrong_key_and_a_wrong_url_say_what_to_fix(sonarr: ArrSimulator) -> None:
    bad_key = ArrClient("sonarr", ArrInstance(name="sonarr", url=sonarr.url, api_key="f" * 32))
    with pytest.raises(ServiceError, match="API key was refused"):
        bad_key.queue()
    bad_key.close()
    not_an_arr = ArrClient("sonarr", ArrInstance(name="sonarr", url=f"{sonarr.url}/nothing-here", api_key="k" * 32))
    with pytest.raises(ServiceError) as err:
        not_an_arr.status()
    not_an_arr.close()
    assert "sonarr:" in str(err.value) and "k" * 32 not in str(err.value)


@pytest.mark.parametrize(("version", "raw"), [("4.0.5.1778", "Warning"), ("4.0.19.2979", "warning")])
def test_status_casing_of_older_and_newer_builds_reads_the_same(
    states: StateFactory, qbt: QBittorrent, version: str, raw: str
) -> None:
    stalled = states.stalled(f"Case.Show.{version}", category=SONARR_CATEGORY)
    sim = ArrSimulator(
        "sonarr",
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=SONARR_CATEGORY,
        version=version,
    )
    sim.start()
    try:
        sim.grab_episodes(stalled, f"Case.Show.{version}", series_id=1, season=1, episode_ids=[1])
        client = ArrClient("sonarr", ArrInstance(name="sonarr", url=sim.url, api_key=sim.api_key))
        try:
            [item] = client.queue()
        finally:
            client.close()
        records = httpx.get(f"{sim.url}/api/v3/queue", headers={"X-Api-Key": sim.api_key}).json()["records"]
        assert records[0]["status"] == raw  # what the app sends differs by build...
        assert item.status == "warning" and item.download_id == stalled  # ...what the monitor reads does not
        assert sim.violations == []
    finally:
        sim.stop()


def _sim(qbt: QBittorrent, kind: str = "sonarr", **kwargs: Any) -> ArrSimulator:
    sim = ArrSimulator(
        kind,  # type: ignore[arg-type]
        qbt_url=qbt.url,
        qbt_username=qbt.username,
        qbt_password=qbt.password,
        category=SONARR_CATEGORY,
        **kwargs,
    )
    sim.start()
    return sim


def test_an_app_behind_a_url_base_is_read_with_or_without_the_base_in_the_url(
    states: StateFactory, qbt: QBittorrent
) -> None:
    stalled = states.stalled("Based.Show.S01E01", category=SONARR_CATEGORY)
    sim = _sim(qbt, url_base="/sonarr")
    try:
        sim.grab_episodes(stalled, "Based.Show.S01E01", series_id=1, season=1, episode_ids=[1])
        assert sim.url.endswith("/sonarr")
        with_base = ArrClient("sonarr", ArrInstance(name="sonarr", url=sim.url, api_key=sim.api_key))
        forgot = ArrClient("sonarr", ArrInstance(name="sonarr", url=sim.root_url, api_key=sim.api_key))
        try:
            assert [i.download_id for i in with_base.queue()] == [stalled]
            assert all(r.status != 307 for r in sim.calls())  # the base in the URL: straight to the API
            assert [i.download_id for i in forgot.queue()] == [stalled]  # the app's 307 is followed
            assert any(r.status == 307 for r in sim.calls())
        finally:
            with_base.close()
            forgot.close()
        assert sim.violations == []
    finally:
        sim.stop()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of our own and a certificate it signs for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    now = datetime.now(UTC)

    def build(subject: str, issuer: x509.Name | None, key: Any, sign_key: Any, ca: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(sign_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("qbm test CA", None, ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("127.0.0.1", ca.subject, key, ca_key, ca=False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def test_https_with_a_custom_ca_is_verified(qbt: QBittorrent, tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    sim = _sim(qbt, tls=(str(cert), str(key)))
    try:
        assert sim.url.startswith("https://")
        trusted = ArrClient("sonarr", ArrInstance(name="sonarr", url=sim.url, api_key=sim.api_key, ca_file=ca))
        untrusted = ArrClient("sonarr", ArrInstance(name="sonarr", url=sim.url, api_key=sim.api_key))
        try:
            assert trusted.status()["version"] == sim.version
            with pytest.raises(ServiceError, match="certificate verify failed"):
                untrusted.status()  # the system CAs do not know ours: refused, never silently accepted
        finally:
            trusted.close()
            untrusted.close()
    finally:
        sim.stop()
