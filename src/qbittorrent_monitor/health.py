"""The monitor's health, as /health, /health/live and /health/ready tell it (and the health log records it).

- live: the process answers and its cycle loop is alive;
- ready: the last cycle succeeded and is fresh;
- the whole truth: `starting` (only until the first cycle ends), `healthy`, `degraded` (the running cycle, or the last
  finished one, overran its budget: a service is slow or frozen; it lasts until a cycle finishes within budget),
  `unhealthy` (the cycle loop has stopped, a service is down, a cycle failed, or none finished for too long).
No secret and no URL in any answer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .logs import iso_twins
from .model import human_duration

if TYPE_CHECKING:
    from .monitor import Monitor

OK_STATUSES = frozenset({"starting", "healthy"})


def _stale_after(monitor: Monitor) -> float:
    cfg = monitor.config.monitor
    return 2 * cfg.check_interval + cfg.cycle_budget + 60


def document(monitor: Monitor) -> dict[str, Any]:
    """`{"status": ..., "services": {name: bool}, "problems": {name: why}, "last_cycle": {...}}`."""
    now = time.time()
    services = {name: h.ok for name, h in monitor.health.items()}
    problems = {name: h.message for name, h in monitor.health.items() if not h.ok}
    report = monitor.last_report
    budget = monitor.config.monitor.cycle_budget
    running = monitor.cycle_started_at
    failure = monitor.last_failure
    took = report.finished_at - report.started_at if report is not None else 0.0
    if not monitor.loop_alive():
        status = "unhealthy"
        problems["monitor"] = "the cycle loop has stopped: nothing is watched any more (see the log; restart)"
    elif failure is not None and (report is None or failure[0] >= report.finished_at):
        status = "unhealthy"
        problems["monitor"] = f"the last cycle failed: {failure[1]}"
    elif running is not None and now - running > budget:
        status = "degraded"
        problems["monitor"] = (
            f"the current cycle has run for {human_duration(now - running)}, over its budget of "
            f"{human_duration(budget)}: a service is slow to answer or frozen"
        )
    elif report is None:
        status = "starting"
    elif problems:
        status = "unhealthy"
    elif now - report.finished_at > _stale_after(monitor):
        status = "unhealthy"
        problems["monitor"] = f"no cycle finished for {human_duration(now - report.finished_at)}"
    elif took > budget:
        status = "degraded"
        # the same words whatever it took (last_cycle.duration_s says): the health log gets one line, not one a cycle
        problems["monitor"] = (
            f"the last cycle overran its budget of {human_duration(budget)} (see last_cycle.duration_s): a service "
            "is slow to answer"
        )
    else:
        status = "healthy"
    doc: dict[str, Any] = {"status": status, "services": services, "dry_run": monitor.dry_run}
    if problems:
        doc["problems"] = problems
    if report is not None:
        doc["last_cycle"] = {
            "finished_at": report.finished_at,
            "duration_s": round(report.finished_at - report.started_at, 3),
            "torrents_checked": report.torrents_checked,
            "decisions": len(report.decisions),
        }
    monitor.note_health(status, problems)
    return iso_twins(doc)  # type: ignore[no-any-return]


def ready(monitor: Monitor) -> tuple[bool, str]:
    report = monitor.last_report
    failure = monitor.last_failure
    if not monitor.loop_alive():
        return False, "the cycle loop has stopped"
    if report is None:
        return False, "no cycle has finished yet"
    if failure is not None and failure[0] >= report.finished_at:
        return False, f"the last cycle failed: {failure[1]}"
    if not report.ran or report.service_errors:
        return False, "the last cycle could not read every service: " + ", ".join(sorted(report.service_errors))
    age = time.time() - report.finished_at
    if age > _stale_after(monitor):
        return False, f"the last cycle finished {human_duration(age)} ago"
    return True, f"the last cycle succeeded {human_duration(age)} ago"
