"""Entry point: flags compatible with the old monitor (--config, --test, --dry-run, --health-check, --verbose).

Exit codes: 0 success/healthy; 1 a cycle could not run or a service is unhealthy; 2 bad configuration or
unusable state database.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from . import __version__, logs
from .bootstrap import IncompleteConfig, Loaded, load
from .clients import Call, on_request
from .config import Config, ConfigError, data_dir_from, describe_data_dir, health_settings, read_document
from .signals import SignalRelay
from .store import StoreError, hold_data_dir

log = logging.getLogger("qbittorrent_monitor")

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qbittorrent-monitor",
        description="Find broken qBittorrent downloads and repair them through Sonarr/Radarr.",
    )
    p.add_argument("--config", type=Path, help="YAML configuration (default: $DATA_DIR/config/config.yaml)")
    p.add_argument("--test", action="store_true", help="run one cycle, then exit (non-zero if it could not run)")
    p.add_argument("--dry-run", action="store_true", help="decide and report, change nothing anywhere")
    p.add_argument("--health-check", action="store_true", help="check every service is reachable; print JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.add_argument("--interval", type=float, metavar="SECONDS", help="seconds between cycles (overrides config)")
    p.add_argument("--json", action="store_true", help="with --test: print the cycle report as JSON")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="as above")
    h = sub.add_parser("history", parents=[common], help="list every action with its evidence")
    h.add_argument("--since", default="24h", help="how far back (e.g. 90m, 24h, 7d; default 24h)")
    h.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    e = sub.add_parser("explain", parents=[common], help="everything known about a torrent, and why")
    e.add_argument("hash")
    e.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    u = sub.add_parser("undo", parents=[common], help="reverse what can be reversed of an action's repair")
    u.add_argument("action_id", type=int)
    sub.add_parser(
        "hash-password",
        help="print the hash of a dashboard password for dashboard.password_hash (reads it from the terminal or stdin)",
    )
    return p


def default_config_path() -> Path:
    return data_dir_from(dict(os.environ))[0] / "config" / "config.yaml"


def _load(args: argparse.Namespace, *, discover: bool = True) -> Loaded:
    """The configuration file (default: $DATA_DIR/config/config.yaml; on a first start it is written, with what
    discovery found), discovery where it is silent, the environment on top."""
    if args.config is not None:
        return load(args.config, explicit=True, discover=discover)
    return load(default_config_path(), explicit=False, discover=discover)


def _load_for(args: argparse.Namespace) -> Loaded:
    """The daemon and `--test` load as described above. `--health-check` (every minute in the container) and the
    subcommands first try the file and the environment alone, without asking the Docker engine: after the first
    start the file says everything. Only when that is not enough do they discover, as a start would."""
    if not (args.health_check or args.command):
        return _load(args)
    try:
        return _load(args, discover=False)
    except ConfigError:
        return _load(args)


def _print_notes(notes: list[tuple[int, str]]) -> None:
    for _, message in notes:
        print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The command, with its output going to a pipe that may close early (`history | head`): no traceback then,
    and the command's own exit code (a `--test` that failed still exits 1 when nobody read its report)."""
    code = EXIT_OK
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()
    return code


def _reader_gone() -> None:
    """The reader of stdout went away: say nothing more (flushing again at exit would raise again)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(argv: list[str] | None) -> int:
    if not os.environ.get("UMASK"):
        # Not told otherwise: what the monitor writes (logs, reports) is its user's alone. A UMASK the image's
        # entrypoint applied (Saltbox's 002, a group's 027) is the user's choice and is honoured. Whatever it is,
        # the files that hold secrets or the library's history (config.yaml, state.db, the session key, the
        # discovery report, the login record) are written 0600.
        os.umask(os.umask(0o077) | 0o077)
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        return _hash_password()
    if args.interval is not None and args.interval < 1:
        print("error: --interval must be at least 1 second", file=sys.stderr)
        return EXIT_CONFIG
    if args.health_check and (answer := _ask_running_daemon(args)) is not None:
        return answer  # a running monitor knows; asking the services (or the Docker engine) again would only add load
    try:
        loaded = _load_for(args)
    except IncompleteConfig as exc:
        if not args.health_check:
            _print_notes(exc.notes)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    config = loaded.config
    args.json = getattr(args, "json", False)
    level = "DEBUG" if args.verbose else config.monitor.log_level
    log_dir = None if args.health_check or args.command else config.monitor.data_dir / "logs"
    logs.setup(level, config.secrets(), log_dir, config.logging)
    for note_level, message in loaded.notes:
        # the container's health check runs every minute: its discovery lines only with --verbose
        log.log(logging.DEBUG if args.health_check else note_level, "%s", message)
    log.debug("%s", loaded.describe())
    if args.verbose:
        on_request(_log_request)
    if not args.health_check:
        log.info("data directory: %s (%s)", config.monitor.data_dir, describe_data_dir(config, dict(os.environ)))

    if args.command:
        return _subcommand(args, config)

    from .monitor import Monitor  # after logging is set up

    lock = None
    try:
        if not args.health_check and not (args.dry_run or config.monitor.dry_run):
            lock = hold_data_dir(config.monitor.data_dir)  # one monitor repairs per data dir
        monitor = Monitor(config, dry_run=True if args.dry_run else None, one_shot=args.health_check or args.test)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    monitor.config_path = args.config or default_config_path()
    monitor.discovery = loaded.discovery
    monitor.discovered_fields = loaded.discovered
    if args.interval is not None:
        monitor.cli_overrides[("monitor", "check_interval")] = args.interval
    if args.dry_run:
        monitor.cli_overrides[("monitor", "dry_run")] = True
    relay = None
    try:
        if args.health_check:
            return _health_check(monitor)
        if args.test:
            return _one_cycle(monitor, as_json=args.json)
        # The daemon's signals are relayed until the very end: a second SIGTERM while the notifier is still
        # delivering (monitor.close, up to notify.FLUSH_TIMEOUT) is logged, not the default kill.
        relay = _daemon_signals(monitor)
        relay.start()
        return _forever(monitor, config, args.interval or config.monitor.check_interval, args)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        monitor.close()
        if lock is not None:
            lock.release()
        if relay is not None:
            relay.close()


def _subcommand(args: argparse.Namespace, config: Config) -> int:
    from . import history
    from .clients.arr import ArrClient
    from .config import parse_duration
    from .store import Store

    try:
        store = Store(config.monitor.data_dir / "state.db")
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.command == "history":
            try:
                since = parse_duration(args.since)
            except ValueError as exc:
                print(f"error: --since: {exc}", file=sys.stderr)
                return EXIT_CONFIG
            return history.history(store, since, as_json=args.json, out=print)
        if args.command == "explain":
            return history.explain(store, args.hash, as_json=args.json, out=print)
        arrs = {inst.name: ArrClient(app, inst) for app, inst in config.arr_instances()}
        try:
            return history.undo(store, arrs, args.action_id, out=print)
        finally:
            for arr in arrs.values():
                arr.close()
    finally:
        store.close()


def _log_request(call: Call) -> None:
    status = call.status if call.status is not None else f"no answer ({call.error})"
    log.debug("request %s %s %s -> %s in %d ms", call.service, call.method, call.path, status, call.seconds * 1000)


def _ask_running_daemon(args: argparse.Namespace) -> int | None:
    """`--health-check` when the monitor runs (the container's HEALTHCHECK): its own /health, or None if no monitor
    answers on the health port. Only the file's `health:` section and the environment are read for it."""
    env = dict(os.environ)
    try:
        doc, _ = read_document(args.config if args.config is not None else default_config_path())
    except ConfigError:
        doc = {}
    settings = health_settings(doc, env)
    if settings is None or not settings.enabled or settings.port == 0:
        return None
    host = "127.0.0.1" if settings.bind in ("0.0.0.0", "::", "") else settings.bind
    try:
        response = httpx.get(f"http://{host}:{settings.port}/health", timeout=5.0, trust_env=False)
        doc = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(doc, dict) or "status" not in doc:
        return None
    print(json.dumps(doc))
    return EXIT_OK if response.status_code == 200 else EXIT_FAIL


def _hash_password() -> int:
    """The dashboard password, read twice from a terminal (once from a pipe), printed as a scrypt hash."""
    import getpass

    from .web.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("dashboard password: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return EXIT_FAIL
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("error: use a password of at least 8 characters", file=sys.stderr)
        return EXIT_FAIL
    print(hash_password(password))
    print("put this line in the configuration as dashboard.password_hash (or DASHBOARD_PASSWORD_HASH)", file=sys.stderr)
    return EXIT_OK


def _health_check(monitor: Any) -> int:
    services = monitor.check_services()
    healthy = all(h.ok for h in services.values())
    doc: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "services": {name: h.ok for name, h in services.items()},
    }
    problems = {name: h.message for name, h in services.items() if not h.ok}
    if problems:
        doc["problems"] = problems
    print(json.dumps(doc))
    return EXIT_OK if healthy else EXIT_FAIL


def _one_cycle(monitor: Any, *, as_json: bool) -> int:
    report = monitor.run_cycle()
    doc = report.to_dict()
    code = EXIT_OK if doc["ok"] else EXIT_FAIL
    try:
        if as_json:
            print(json.dumps(logs.iso_twins(doc), indent=2, default=str))
        else:
            _print_summary(doc)
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()  # the cycle ran: its exit code stands, read or not
    return code


def _print_summary(doc: dict[str, Any]) -> None:
    mode = " (dry run)" if doc["dry_run"] else ""
    print(f"cycle{mode}: {doc['torrents_checked']} torrent(s) checked, {len(doc['findings'])} finding(s)")
    for f in doc["findings"]:
        print(f"  [{f['decision']}] {f['name']} ({f['hash'][:8]}): {f['reason']} -> {f['explanation']}")
        for a in f["actions"]:
            print(f"      {a['status']}: {a['description']}" + (f" -> {a['result']}" if a.get("result") else ""))
    for name, message in doc["service_errors"].items():
        print(f"  service {name} unavailable: {message}")


def _daemon_signals(monitor: Any) -> SignalRelay:
    """SIGTERM and SIGINT stop the loop after the current step; SIGHUP reloads the configuration between two
    cycles. The callbacks run on the relay's thread, never inside a signal handler (signals.py says why)."""

    def on_signal(signum: signal.Signals) -> None:
        if monitor.stop_event.is_set():
            log.info("received %s again: already stopping (the last notifications go out first)", signum.name)
            return
        log.info("received %s: finishing the current step, then stopping", signum.name)
        monitor.stop_event.set()
        monitor.wake.set()

    def on_hangup(_signum: signal.Signals) -> None:
        log.info("received SIGHUP: the configuration is read again after the current cycle")
        monitor.reload_requested = True
        monitor.wake.set()

    return SignalRelay({signal.SIGTERM: on_signal, signal.SIGINT: on_signal, signal.SIGHUP: on_hangup})


def _forever(monitor: Any, config: Config, interval: float, args: argparse.Namespace) -> int:
    def reload() -> Config | None:
        try:
            loaded = _load(args)
        except ConfigError as exc:
            log.error("the configuration was not reloaded, the previous one stays in use: %s", exc)
            return None
        logs.redact(loaded.config.secrets())
        if loaded.discovery is not None:
            monitor.discovery = loaded.discovery
        monitor.discovered_fields = loaded.discovered
        return loaded.config

    from .web.app import WebServer

    monitor.start_notifications()  # the daemon alone notifies (not --test, not --health-check)
    web = None
    if config.health.enabled:
        web = WebServer(monitor, config.health.bind, config.health.port)
        try:
            web.start()
        except OSError as exc:
            log.error("health server on %s:%d: %s", config.health.bind, config.health.port, exc)
            return EXIT_FAIL
        log.info("health endpoint on http://%s:%d/health", config.health.bind, web.port)
    log.info(
        "monitoring %d qBittorrent and %d *arr instance(s) every %.0f s%s",
        len(monitor.qbts),
        len(monitor.arrs),
        interval,
        " (dry run)" if monitor.dry_run else "",
    )
    try:
        monitor.run_forever(interval, reload)
    finally:
        if web is not None:
            web.stop()
    log.info("stopped")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
