"""The simulator's own qBittorrent WebUI client: the few calls a real *arr makes (API-NOTES §2.5, §2.6)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


class QbtError(RuntimeError):
    pass


@dataclass
class QbtCall:
    method: str
    path: str
    params: dict[str, str]
    status: int
    at: float = field(default_factory=time.time)


class QbtClient:
    """Cookie-session client (POST /api/v2/auth/login, SID cookie; re-login once on 403)."""

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        # trust_env=False: never send loopback requests through an HTTP(S)_PROXY from the environment
        self._client = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False)
        self._logged_in = False
        self._lock = threading.Lock()
        self.calls: list[QbtCall] = []
        self._webapi_version: str | None = None

    def close(self) -> None:
        self._client.close()

    def _login(self) -> None:
        data = {"username": self._username, "password": self._password}
        resp = self._client.post("/api/v2/auth/login", data=data)
        self.calls.append(QbtCall("POST", "/api/v2/auth/login", {"username": self._username}, resp.status_code))
        # 200 "Ok." before 5.2, 204 with a QBT_SID_<port> cookie from 5.2; "Fails." (200) or 401 is a refusal.
        if resp.status_code not in (200, 204) or resp.text.strip() == "Fails.":
            raise QbtError(f"qBittorrent login failed: {resp.status_code} {resp.text.strip()!r}")
        self._logged_in = True

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, data: dict[str, str] | None = None
    ) -> httpx.Response:
        with self._lock:
            if not self._logged_in:
                self._login()
            for attempt in (1, 2):
                resp = self._client.request(method, path, params=params, data=data)
                self.calls.append(QbtCall(method, path, dict(params or data or {}), resp.status_code))
                if resp.status_code == 403 and attempt == 1:
                    self._login()
                    continue
                break
            if resp.status_code >= 400:
                raise QbtError(f"qBittorrent {method} {path} -> {resp.status_code} {resp.text[:200]!r}")
            return resp

    def webapi_version(self) -> str:
        if self._webapi_version is None:
            self._webapi_version = self._request("GET", "/api/v2/app/webapiVersion").text.strip()
        return self._webapi_version

    def preferences(self) -> dict[str, Any]:
        prefs: dict[str, Any] = self._request("GET", "/api/v2/app/preferences").json()
        return prefs

    def torrents(self, category: str | None) -> list[dict[str, Any]]:
        # The apps send `category` only when one is configured (QBittorrentProxyV2.GetTorrents).
        params = {"category": category} if category else None
        torrents: list[dict[str, Any]] = self._request("GET", "/api/v2/torrents/info", params=params).json()
        return torrents

    def delete(self, hash_lower: str, delete_files: bool) -> None:
        data = {"hashes": hash_lower, "deleteFiles": "true" if delete_files else "false"}
        self._request("POST", "/api/v2/torrents/delete", data=data)

    def set_category(self, hash_lower: str, category: str) -> None:
        self._request("POST", "/api/v2/torrents/setCategory", data={"hashes": hash_lower, "category": category})
