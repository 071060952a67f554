"""What the dashboard and the JSON API show, built once for both from the monitor's last report, its service
health and the store. Plain dicts and lists of JSON-ready values; nothing here calls a remote service."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import history as _history
from ..config import Config, provenance
from ..discovery import REPORT_NAME
from ..model import ActionType, Decision, Kind, StepStatus, Verdict, human_duration
from ..store import JournalRow, Store

if TYPE_CHECKING:
    from ..monitor import Monitor
    from ..record import CycleReport

HOUR = 3600.0
CHART_HOURS = 48

RECOVERS = {
    Kind.STALLED: "it progresses",
    Kind.SLOW: "it speeds up",
    Kind.METADATA: "its metadata arrives",
    Kind.CONNECTION: "the tracker answers again",
    Kind.TRACKER: "the tracker accepts it again",
    Kind.AUTH: "the tracker accepts it again",
    Kind.RATIO: "the tracker accepts it again",
    Kind.FILE: "qBittorrent clears the error",
    Kind.MISSING_FILES: "its files come back",
}


def clock(ts: float | None, now: float | None = None) -> str:
    """`14:05` today, `Mon 14:05` within a week, else the date (local time of the server)."""
    if not ts:
        return "-"
    now = time.time() if now is None else now
    when, today = datetime.fromtimestamp(ts), datetime.fromtimestamp(now)
    if when.date() == today.date():
        return when.strftime("%H:%M")
    if abs(ts - now) < 6 * 86400:
        return when.strftime("%a %H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    seconds = max(0, int((time.time() if now is None else now) - ts))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def until(ts: float | None, now: float | None = None) -> str:
    """`in 45 s`, `in 3 min`, `in 2 h`; `now` once the time has come."""
    if not ts:
        return "-"
    seconds = int(ts - (time.time() if now is None else now))
    if seconds <= 0:
        return "now"
    if seconds < 120:
        return f"in {seconds} s"
    if seconds < 7200:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h"


def plural(n: int, word: str) -> str:
    """`1 torrent`, `2 torrents`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- services and cycles ------------------------------------------------------------------------------
def services(monitor: Monitor) -> list[dict[str, Any]]:
    kinds = {q.name: "qbittorrent" for q in monitor.config.qbittorrent}
    kinds |= {inst.name: app for app, inst in monitor.config.arr_instances()}
    out = []
    for name, app in kinds.items():
        health = monitor.health.get(name)
        latency = monitor.activity.latency(name)
        out.append(
            {
                "name": name,
                "app": app,
                "status": "unknown" if health is None else ("up" if health.ok else "down"),
                "message": health.message if health else "not checked yet",
                "checked_at": health.checked_at if health else None,
                "version": monitor.activity.versions.get(name),
                "latency_ms": None if latency is None else round(latency * 1000, 1),
            }
        )
    return out


def cycles(monitor: Monitor) -> dict[str, Any]:
    report = monitor.last_report
    last = None
    if report is not None:
        last = {
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "duration_s": round(report.finished_at - report.started_at, 3),
            "ok": report.ran and not report.service_errors,
            "dry_run": report.dry_run,
            "torrents_checked": report.torrents_checked,
            "findings": len(report.decisions),
            "alerts": list(report.alerts),
        }
    return {
        "last": last,
        "next_at": monitor.next_cycle_at,
        "running": monitor.cycle_started_at is not None,
        "interval_s": monitor.config.monitor.check_interval,
        "paused": monitor.paused,
        "paused_since": (monitor.store.control("paused") or (None, None))[1],
        "dry_run": monitor.dry_run,
    }


def local_midnight(now: float) -> float:
    return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def counts(monitor: Monitor, now: float) -> dict[str, int]:
    decisions = monitor.last_report.decisions if monitor.last_report else []
    verdicts = [d.verdict for d in decisions]
    return {
        "repaired_today": len(monitor.store.repairs_since(local_midnight(now))),
        "waiting": verdicts.count(Verdict.WAIT),
        "outage": verdicts.count(Verdict.OUTAGE),
        "held": verdicts.count(Verdict.HELD),
        "protected": verdicts.count(Verdict.PROTECTED),
        "protected_from_dashboard": len(monitor.store.protected_hashes()),
    }


def chart(store: Store, now: float, hours: int = CHART_HOURS) -> list[dict[str, Any]]:
    """Failures found and repairs made per hour over the last `hours` hours (the last bucket is this hour)."""
    end = (int(now // HOUR) + 1) * HOUR
    start = end - hours * HOUR
    found, repaired = [0] * hours, [0] * hours
    for ts in store.found_since(start):
        found[min(hours - 1, int((ts - start) // HOUR))] += 1
    for ts in store.repairs_since(start):
        repaired[min(hours - 1, int((ts - start) // HOUR))] += 1
    return [{"hour": start + i * HOUR, "found": found[i], "repaired": repaired[i]} for i in range(hours)]


def chart_svg(buckets: list[dict[str, Any]]) -> str:
    """The chart as inline SVG (server-side, no script): red bars failures found, green bars repairs. The bars stretch
    to any width (an inner SVG without aspect ratio); the labels sit at percentages, so they never distort."""
    n = max(1, len(buckets))
    top = max([1, *(max(b["found"], b["repaired"]) for b in buckets)])
    plot_h = 140.0
    bars = []
    for i, b in enumerate(buckets):
        for j, (value, cls) in enumerate(((b["found"], "found"), (b["repaired"], "repaired"))):
            if value:
                h = plot_h * value / top
                label = "failures found" if cls == "found" else "repairs"
                bars.append(
                    f'<rect x="{i * 10 + 1 + j * 4}" y="{plot_h - h:.1f}" width="4" height="{h:.1f}" class="{cls}">'
                    f"<title>{clock(b['hour'])}: {value} {label}</title></rect>"
                )
    # Counted back from the last bucket (this hour, labelled "now" at the right edge): every sixth hour, each label
    # centred under its bar.
    ticks = ['<text x="100%" y="174" class="tick" text-anchor="end">now</text>'] if buckets else []
    for i in range(n - 7, -1, -6):
        hour = datetime.fromtimestamp(buckets[i]["hour"]).strftime("%H:00")
        ticks.append(f'<text x="{100 * (i + 0.5) / n:.2f}%" y="174" class="tick" text-anchor="middle">{hour}</text>')
    return (
        '<svg class="chart" width="100%" height="180" role="img" '
        'aria-label="failures found and repairs per hour over the last 48 hours">'
        f'<svg x="0" y="14" width="100%" height="{plot_h:.0f}" viewBox="0 0 {n * 10} {plot_h:.0f}" '
        'preserveAspectRatio="none">'
        f'<line x1="0" y1="{plot_h}" x2="{n * 10}" y2="{plot_h}" class="axis"/>{"".join(bars)}</svg>'
        f'<text x="0" y="10" class="tick">max {top} per hour</text>{"".join(ticks)}</svg>'
    )


# -- the flagged torrents -----------------------------------------------------------------------------
def _plan_words(cfg: Config, kind: Kind) -> str:
    rule = cfg.policy.for_kind(kind)
    words = [w for w, on in (("removed", rule.remove), ("blocklisted", rule.blocklist)) if on]
    text = " and ".join(words) or "repaired"
    return text + (", then searched for again" if rule.search else "")


def next_step(
    decision: Decision,
    index: int,
    report: CycleReport,
    cfg: Config,
    next_cycle_at: float | None,
    now: float,
) -> dict[str, Any]:
    """What happens next to this torrent, and when: `{"text": ..., "at": ts | None}`."""
    kind = decision.finding.kind
    verdict = decision.verdict
    recovers = RECOVERS.get(kind, "it recovers")
    if verdict is Verdict.WAIT:
        words = _plan_words(cfg, kind)
        if decision.next_at is not None:
            at = max(decision.next_at, now)
            return {"text": f"will be {words} at {clock(at, now)} unless {recovers}", "at": at}
        strikes = decision.explanation.removeprefix("waiting: ")
        return {
            "text": f"will be {words} once seen enough cycles in a row ({strikes}) unless {recovers}; "
            f"next cycle at {clock(next_cycle_at, now)}",
            "at": next_cycle_at,
        }
    if verdict is Verdict.ACT:
        outcomes = report.outcomes.get(index, [])
        done = "; ".join(f"{o.action.description}: {o.status.value}" for o in outcomes) or "nothing left to do"
        return {"text": f"repaired at {clock(report.finished_at or now, now)}: {done}", "at": report.finished_at}
    if verdict is Verdict.OUTAGE:
        for outage in report.outages:
            if decision.download.key in outage.members:
                until = outage.first_seen + cfg.outage.window
                return {
                    "text": f"held by the outage on {outage.group.describe()}: nothing is removed before "
                    f"{clock(until, now)}; if it lasts, repaired at the capped rate after that",
                    "at": until,
                }
        return {"text": "held by an outage: " + decision.explanation, "at": None}
    if verdict is Verdict.HELD:
        return {
            "text": f"held this cycle ({decision.explanation}); judged again at {clock(next_cycle_at, now)}",
            "at": next_cycle_at,
        }
    if verdict is Verdict.DRY_RUN:
        return {"text": f"would be {_plan_words(cfg, kind)} now; nothing is changed (dry run or paused)", "at": None}
    if verdict is Verdict.PROTECTED:
        return {"text": f"left alone: {decision.explanation}", "at": None}
    return {"text": f"reported only: {decision.explanation}", "at": None}


def flagged(monitor: Monitor, now: float) -> list[dict[str, Any]]:
    report = monitor.last_report
    if report is None:
        return []
    strikes = monitor.store.strikes_for(d.download.key for d in report.decisions)
    protected = monitor.store.protected_hashes()
    cfg = monitor.config
    out = []
    for i, d in enumerate(report.decisions):
        doc = d.to_dict()
        step = next_step(d, i, report, cfg, monitor.next_cycle_at, now)
        out.append(
            {
                "client": doc["client"],
                "hash": doc["hash"],
                "name": doc["name"],
                "category": doc["category"],
                "tracker": doc["tracker"],
                "kind": doc["kind"],
                "reason": doc["reason"],
                "rule": doc["rule"],
                "since": doc["since"],
                "strikes": strikes.get(d.download.key, {}).get(doc["kind"], 0),
                "decision": doc["decision"],
                "explanation": doc["explanation"],
                "guard": doc["guard"],
                "arr": [a["instance"] for a in doc["arr"]],
                "next": step["text"],
                "next_at": step["at"],
                "protected_from_dashboard": doc["hash"] in protected,
                "evidence": doc["evidence"],
            }
        )
    order = {v: n for n, v in enumerate(("act", "wait", "outage", "held", "dry_run", "report", "protected"))}
    out.sort(key=lambda r: (order.get(r["decision"], 9), r["next_at"] or float("inf"), r["name"]))
    return out


FLAGGED_SHOWN = 200  # the overview lists the first ones (most urgent first); /api/torrents has every one


def overview(monitor: Monitor, now: float, shown: int = FLAGGED_SHOWN) -> dict[str, Any]:
    """Everything the Overview shows. The flagged torrents are cut to the `shown` most urgent: an outage can flag
    thousands, and a page of thousands of rows every refresh is too heavy for the server and for a phone."""
    rows = flagged(monitor, now)
    return {
        "now": now,
        "services": services(monitor),
        "cycles": cycles(monitor),
        "counts": counts(monitor, now),
        "chart": chart(monitor.store, now),
        "flagged": rows[:shown],
        "flagged_total": len(rows),
        "outages": [
            {
                "group": o.group.key,
                "where": o.group.describe(),
                "since": o.first_seen,
                "evidence": o.evidence.describe(),
                "torrents": len(o.members),
                "held_until": o.first_seen + monitor.config.outage.window,
            }
            for o in (monitor.last_report.outages if monitor.last_report else [])
        ],
    }


# -- the journal -------------------------------------------------------------------------------------
FILTERS = ("action", "app", "result", "date")


def history(store: Store, filters: dict[str, str], limit: int = 500) -> dict[str, Any]:
    """The journal, newest first, filtered by action type, app instance, result (step status) and local date; only
    the newest `limit` rows are read (the journal only grows)."""
    where = {
        column: value
        for column, key in (("type", "action"), ("target", "app"), ("status", "result"))
        if (value := filters.get(key, ""))
    }
    total, rows = store.journal(where, _local_day(filters.get("date", "")), limit)
    options = store.journal_options()
    undone = store.undone_actions()
    return {
        "filters": {k: filters.get(k, "") for k in FILTERS},
        "options": {"action": options["type"], "app": options["target"], "result": options["status"]},
        "total": total,
        "rows": [_row(r, undone) for r in rows],
    }


def _local_day(value: str) -> tuple[float, float] | None:
    """`2026-12-01` -> [its local midnight, the next one); None for no date. A date that is not one matches no row
    (an empty range), as before."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return (0.0, 0.0)
    return day.timestamp(), (day + timedelta(days=1)).timestamp()


def undoable(row: JournalRow, undone: set[int]) -> bool:
    return (
        row.type == ActionType.ARR_REMOVE
        and row.status == StepStatus.DONE
        and bool(row.params.get("blocklist"))
        and row.id not in undone
    )


def _row(row: JournalRow, undone: set[int]) -> dict[str, Any]:
    doc = row.to_dict()
    if row.type == ActionType.UNDO:  # the user's own action: not a repair, and no failure evidence of its own
        doc["why"] = f"undone by the user: action #{row.params.get('undoes', '?')}"
        doc["evidence_text"] = ""
    else:
        doc["why"] = f"{row.kind}: {row.reason}"
        doc["evidence_text"] = ", ".join(
            f"{k}={v if isinstance(v, str | int | float) else json.dumps(v, default=str)}"
            for k, v in row.evidence.items()
            if k != "log"
        )
    doc["undoable"] = undoable(row, undone)
    doc["undone"] = row.id in undone
    return doc


# -- one torrent, and the settings --------------------------------------------------------------------
def torrent(store: Store, hash_: str) -> dict[str, Any]:
    """Everything `qbittorrent-monitor explain HASH` prints (its text, line by line) and its JSON document."""
    lines: list[str] = []
    docs: list[str] = []
    found = _history.explain(store, hash_, as_json=False, out=lines.append) == 0
    _history.explain(store, hash_, as_json=True, out=docs.append)
    doc = json.loads(docs[0])
    return {
        "hash": doc["hash"],
        "known": found,
        "lines": lines,
        "torrents": doc["torrents"],
        "actions": doc["actions"],
        "protected_from_dashboard": doc["hash"] in store.protected_hashes(),
        "name": next((t["name"] for t in doc["torrents"]), next((a["name"] for a in doc["actions"]), "")),
        "removed_at": removed_at(doc),
    }


def removed_at(doc: dict[str, Any]) -> float | None:
    """When a repair took this torrent out of qBittorrent (an *arr removal or a delete, done), if it was not seen
    again since: a torrent that is gone cannot be protected (nothing is left to protect)."""
    removals = [
        float(a["updated"])
        for a in doc["actions"]
        if a["type"] in (ActionType.ARR_REMOVE, ActionType.QBT_DELETE) and a["status"] == StepStatus.DONE
    ]
    if not removals:
        return None
    seen = max((float(t["last_seen"]) for t in doc["torrents"]), default=0.0)
    return max(removals) if max(removals) >= seen else None


def settings(monitor: Monitor) -> dict[str, Any]:
    """The effective configuration with where each value came from. Each section shows what was set (file,
    environment, command line, discovery) first, each such value marked when it is the default anyway; the values
    left at their default are folded away (they are most of the 160 rows)."""
    rows = provenance(
        monitor.config, monitor.config_path, discovered=monitor.discovered_fields, cli=monitor.cli_overrides
    )
    defaults = _defaults()
    sections: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        section = sections.setdefault(row["key"].split(".")[0].split("[")[0], {"set": [], "defaults": []})
        shown = {**row, "text": _setting_text(row)}
        if row["source"] == "default":
            section["defaults"].append(shown)
        else:
            shown["is_default"] = row["key"] in defaults and defaults[row["key"]] == row["value"]
            section["set"].append(shown)
    return {
        "config_file": str(monitor.config_path) if monitor.config_path else None,
        "settings": rows,
        "sections": [{"name": name, **section} for name, section in sections.items()],
    }


def _defaults() -> dict[str, Any]:
    """key -> default value, as provenance() shows it (an instance's defaults: those of a first one with a URL)."""
    doc: dict[str, Any] = {"qbittorrent": [{"url": "http://qbittorrent:8080"}]}
    doc |= {
        app: [{"url": "http://app:1", "api_key": "k"}] for app in ("sonarr", "radarr", "lidarr", "readarr", "whisparr")
    }
    config = Config.model_validate(doc)
    return {r["key"]: r["value"] for r in provenance(config, None, {}) if not r["key"].endswith((".url", ".api_key"))}


def _setting_text(row: dict[str, Any]) -> str:
    value = row["value"]
    if row.get("duration") and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{human_duration(value)} ({value:g} s)" if value >= 60 else f"{value:g} s"
    return json.dumps(value, default=str)


# -- discovery ---------------------------------------------------------------------------------------
def discovery(monitor: Monitor) -> dict[str, Any]:
    """What discovery found (never a secret: `Discovery.to_dict()`): from this start's run, else from the report the
    last run wrote (config/discovered_services.json; after the first start the file says everything and discovery
    does not run again). `source`: `this start`, `report` or `none`; each service says whether it is `monitored`
    (its URL is one the configuration in force uses)."""
    report = monitor.config.monitor.data_dir / "config" / REPORT_NAME
    doc: dict[str, Any]
    if monitor.discovery is not None and monitor.discovery.ran:
        doc = {**monitor.discovery.to_dict(), "source": "this start"}
    else:
        try:
            loaded = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("services"), list):
            doc = {**loaded, "source": "report"}
        else:
            doc = {"ran": False, "services": [], "skipped": [], "errors": [], "source": "none"}
    cfg = monitor.config
    used = {q.url.rstrip("/") for q in cfg.qbittorrent} | {a.url.rstrip("/") for _, a in cfg.arr_instances()}
    services = [s for s in doc.get("services", []) if isinstance(s, dict)]
    for service in services:
        service["monitored"] = str(service.get("url", "")).rstrip("/") in used
    doc["services"] = services
    doc["report"] = str(report)
    return doc
