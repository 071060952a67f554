"""Loading the configuration as the CLI does: the file, discovery where the file and the environment are silent,
the environment on top; and the first start, which writes config/config.yaml (commented, 0600) with the defaults
and what discovery found, and says exactly which value is still missing.

Order of precedence: environment > the configuration file > discovery > defaults. Nothing here overwrites a file
the user has.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from . import discovery
from .config import (
    EXAMPLE,
    Config,
    ConfigError,
    data_dir_from,
    discovery_settings,
    env_instance,
    read_document,
    validate,
)

PROBE_TIMEOUT = 5.0


@dataclass
class Loaded:
    config: Config
    notes: list[tuple[int, str]] = field(default_factory=list)  # (logging level, message), logged by the caller
    discovery: discovery.Discovery | None = None
    wrote: Path | None = None  # the configuration file this start wrote (first start)
    path: Path | None = None  # the configuration file read (None: it did not exist)
    discovered: set[tuple[str | int, ...]] = field(default_factory=set)  # the fields discovery filled in

    def describe(self) -> str:
        """One line for --verbose: where the configuration came from."""
        where = str(self.path) if self.path else "the environment alone"
        if self.discovery is None:
            how = "discovery not needed (nothing left to find) or disabled"
        elif not self.discovery.ran:
            how = "discovery found no Docker socket"
        else:
            how = f"discovery found {len(self.discovery.services)} service(s)"
        n_arr = len(self.config.arr_instances())
        return (
            f"configuration from {where}: {len(self.config.qbittorrent)} qBittorrent, {n_arr} *arr instance(s); {how}"
        )


class IncompleteConfig(ConfigError):
    """The configuration is complete but for one value discovery cannot find (the message says which, and how)."""

    def __init__(self, message: str, notes: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.notes = notes


def supported_sections() -> set[str]:
    """The apps config.py has a section for (the other discovered ones stay in discovered_services.json)."""
    return {app.name for app in discovery.APPS if app.name in Config.model_fields}


def _data_dir(doc: dict[str, Any], env: dict[str, str]) -> Path:
    monitor = doc.get("monitor") if isinstance(doc.get("monitor"), dict) else {}
    if env.get("DATA_DIR") or not (monitor or {}).get("data_dir"):
        return data_dir_from(env)[0]
    return Path((monitor or {})["data_dir"])


def _needs_discovery(doc: dict[str, Any], sections: set[str], env: dict[str, str]) -> bool:
    """Whether the file and the environment leave something for discovery to find: a section, a URL or an API key.
    A section written `app: []` (the first start writes it for an app it did not find) is complete."""
    for section in sections:
        from_env = env_instance(env, section)
        if section not in doc and not from_env:
            return True
        instances = doc.get(section)
        if instances is None and from_env:
            instances = []
        if not isinstance(instances, list):
            continue
        if from_env and not instances:
            instances = [{}]  # the environment makes the first instance
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict):
                continue
            given = {**inst, **(from_env if i == 0 else {})}
            if not given.get("url") or (section != "qbittorrent" and not given.get("api_key")):
                return True
    return False


def load(path: Path, *, explicit: bool, env: dict[str, str] | None = None, discover: bool = True) -> Loaded:
    """The configuration for this run. Raises ConfigError (IncompleteConfig when one value is missing).

    `discover=False` (`--health-check`, the subcommands): the file and the environment alone, no Docker engine
    request and no first-start file (the caller falls back to `discover=True` when they are not enough)."""
    env = dict(os.environ) if env is None else env
    if explicit and not path.exists():
        raise ConfigError(f"the configuration file {path} does not exist: check --config")
    first_start = not explicit and not path.exists()
    doc, source = read_document(path)
    settings = discovery_settings(doc, env, source)
    sections = supported_sections()
    notes: list[tuple[int, str]] = []
    found: discovery.Discovery | None = None
    merged = copy.deepcopy(doc)
    discovered_doc: dict[str, Any] = {}
    if discover and settings.enabled and (first_start or _needs_discovery(doc, sections, env)):
        found = discovery.discover(settings)
        notes += _describe(found, settings.docker_socket)
        if found.ran:
            report = _data_dir(doc, env) / "config" / discovery.REPORT_NAME
            try:
                discovery.write_report(found, report)
            except OSError as exc:
                notes.append((logging.WARNING, f"discovery: cannot write {report}: {exc.strerror}"))
        env_fields = {s: fields for s in sections if (fields := env_instance(env, s))}
        for line in discovery.fill(merged, found, sections, env_fields):
            notes.append((logging.INFO, f"discovery: {line}"))
        discovery.fill(discovered_doc, found, sections, env_fields)  # what the first start writes: the same

    wrote = None
    if first_start and discover:
        try:
            write_first_config(path, discovered_doc, found, sections)
            wrote = path
            notes.append((logging.INFO, f"first start: wrote {path} (mode 0600) with the defaults and what was found"))
        except FileExistsError:
            pass
        except OSError as exc:
            notes.append((logging.WARNING, f"first start: cannot write {path}: {exc.strerror}"))

    try:
        config = validate(merged, env, source if not wrote else str(path))
    except ConfigError as exc:
        message = str(exc)
        if "qbittorrent: no instance configured" in message and found is not None:
            message += (
                f"\n  (discovery found no qBittorrent container on network {settings.network}"
                + ("" if found.ran else f": no Docker socket at {settings.docker_socket}")
                + ")"
            )
        raise IncompleteConfig(message, notes) from None
    missing = _missing_password(config, path)
    if missing:
        raise IncompleteConfig(missing, notes)
    filled = set() if wrote else _added_paths(doc, merged)  # a file just written names them itself
    return Loaded(config, notes, found, wrote, path if path.exists() else None, filled)


def _added_paths(before: Any, after: Any, where: tuple[str | int, ...] = ()) -> set[tuple[str | int, ...]]:
    """The leaves of `after` that `before` does not have (what discovery added to the file's document)."""
    if isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        return set().union(*(_added_paths(old.get(k), v, (*where, k)) for k, v in after.items()))
    if isinstance(after, list) and after:
        old_list = before if isinstance(before, list) else []
        return set().union(
            *(_added_paths(old_list[i] if i < len(old_list) else None, v, (*where, i)) for i, v in enumerate(after))
        )
    return set() if before is not None else {where}


def _describe(found: discovery.Discovery, socket: str) -> list[tuple[int, str]]:
    if not found.ran:
        return [
            (
                logging.INFO,
                f"discovery: no Docker socket at {socket} (mount it read-only to find qBittorrent and the *arr "
                "apps); running from the configuration alone",
            )
        ]
    notes: list[tuple[int, str]] = [(logging.INFO, found.summary())]
    for skipped in found.skipped:
        what = f"{skipped['app']} container {skipped['container']}"
        notes.append((logging.INFO, f"discovery: {what}: {skipped['reason']}"))
    for service in found.services:
        if service.problem:
            notes.append((logging.WARNING, f"discovery: {service.app} ({service.container}): {service.problem}"))
        elif service.app not in supported_sections():
            what = f"{service.app} ({service.container})"
            notes.append((logging.INFO, f"discovery: {what} found; this version does not monitor it yet"))
    notes += [(logging.WARNING, f"discovery: {error}") for error in found.errors]
    return notes


def _missing_password(config: Config, path: Path) -> str | None:
    """An instance without a password whose qBittorrent asks for a login. Asked without logging in (a wrong login
    counts towards qBittorrent's ban): GET app/version answers 200 only where the WebUI needs no login. An instance
    with an API key (5.2+) never logs in: it needs no password."""
    for i, inst in enumerate(config.qbittorrent):
        if inst.password.get_secret_value() or inst.api_key.get_secret_value():
            continue
        try:
            response = httpx.get(
                f"{inst.url}/api/v2/app/version", timeout=PROBE_TIMEOUT, verify=inst.verify_ssl, trust_env=False
            )
        except httpx.HTTPError:
            continue  # not reachable now: the monitor reports it and retries
        if response.status_code not in (401, 403):
            continue
        how = "set QBITTORRENT_PASSWORD in the environment (e.g. compose `environment:`), or " if i == 0 else ""
        return (
            f"one value is missing: qbittorrent[{i}].password. qBittorrent at {inst.url} asks for a login (user "
            f"{inst.username!r}) and its WebUI password cannot be discovered: {how}write it in {path} under "
            f"qbittorrent[{i}] as `password: ...`"
        )
    return None


HEADER = """\
# qbittorrent-monitor configuration, written on the first start ({when}).
# Below the services come the defaults; change what you need. This file is yours: the monitor never overwrites it.
# Environment variables (QBITTORRENT_PASSWORD, SONARR_API_KEY, ...) override what it says.
"""


def write_first_config(
    path: Path, services: dict[str, Any], found: discovery.Discovery | None, sections: set[str] | None = None
) -> None:
    """Create the configuration file (0600: it holds API keys), never replacing one. Raises FileExistsError or
    OSError.

    When discovery ran, every *arr section of `sections` it found nothing for is written `app: []`: the file then
    says everything, and the next starts (and every `--health-check`) ask the Docker engine nothing. qBittorrent is
    left out when not found: the monitor cannot run without it, so the next start looks again."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [HEADER.format(when=when)]
    if found is not None and found.ran:
        parts.append(f"# Discovery (Docker network {found.network}) found the services below; its full report is")
        parts.append(f"# {discovery.REPORT_NAME} beside this file.\n")
    elif found is not None:
        parts.append(f"# Discovery found no Docker socket at {found.socket}: write your services below.\n")
    for section, instances in services.items():
        parts.append(yaml.safe_dump({section: instances}, sort_keys=False, default_flow_style=False).rstrip())
        if section == "qbittorrent":
            parts.append(
                "# qbittorrent[0].password: the WebUI password cannot be discovered: set QBITTORRENT_PASSWORD in the"
                "\n# environment, or add `password: ...` to the instance above."
            )
        parts.append("")
    if found is not None and found.ran:
        for section in sorted((sections or set()) - set(services) - {"qbittorrent"}):
            parts.append(
                f"# {section}: discovery found none on network {found.network}. Add yours here, or delete this line"
                "\n# to let discovery look again on the next start."
            )
            parts.append(f"{section}: []\n")
    parts.append(EXAMPLE.read_text(encoding="utf-8"))
    text = "\n".join(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
