"""record: notifications through Apprise (any Apprise URL: Discord, Telegram, ntfy, Gotify, Pushover, e-mail, JSON).

What is sent (each can be switched off in `notifications.events`):
- `repairs`: one message per cycle for all of that cycle's repairs (never one per torrent);
- `outage_began` / `outage_ended`: one message each per outage, whatever the number of torrents it holds;
- `service_down` / `service_back`: a service stopped answering, or answers again;
- `given_up`: an episode or movie the monitor stops searching for, a search given up after a day of retries.

Messages are sent from one worker thread: a slow or dead receiver never delays a cycle, and a failure to notify is
logged and forgotten (it never breaks a cycle).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .config import NotificationSettings
from .events import CycleFinished, Event, Events, OutageBegan, OutageEnded, ServiceChanged
from .logs import iso_time
from .model import StepStatus, Verdict, human_duration

if TYPE_CHECKING:
    from .actions import Outcome
    from .record import CycleReport

log = logging.getLogger(__name__)
TITLE = "qbittorrent-monitor"
FLUSH_TIMEOUT = 30.0  # how long a stopping monitor waits for the messages still on their way


def _outcome(o: Outcome) -> str:
    return f"{o.action.description}: {o.status.value}" + (f" ({o.result})" if o.result else "")


def repairs_message(report: CycleReport) -> tuple[str, str] | None:
    """One message for every repair of a cycle (and the interrupted repairs it finished), or None."""
    lines = []
    for i, d in enumerate(report.decisions):
        if d.verdict is not Verdict.ACT or i not in report.outcomes:
            continue
        t = d.download.torrent
        where = ", ".join(x for x in (t.client, d.download.tracker_host) if x)
        lines.append(f"- {t.name} ({where}): {d.finding.kind.value}, {d.finding.reason}")
        lines += [f"    {_outcome(o)}" for o in report.outcomes[i]]
    repaired = len(lines) and sum(1 for line in lines if line.startswith("- "))
    if report.resumed:
        lines.append(f"- finished {len(report.resumed)} step(s) left by an interrupted repair or a deferred search:")
        lines += [f"    {_outcome(o)}" for o in report.resumed]
    if not lines:
        return None
    title = f"{TITLE}: {repaired} repair(s)" if repaired else f"{TITLE}: interrupted repairs finished"
    return title, "\n".join(lines)


def given_up_message(report: CycleReport) -> tuple[str, str] | None:
    lines = []
    for d in report.decisions:
        if d.given_up and d.verdict is Verdict.ACT:
            lines.append(
                f"- {d.download.torrent.name}: no new search for {', '.join(d.given_up)} "
                "(its downloads failed too often: look for it by hand)"
            )
    for o in report.resumed:
        if o.status is StepStatus.FAILED and "given up" in o.result:
            lines.append(f"- {o.action.description}: {o.result}")
    if not lines:
        return None
    return f"{TITLE}: given up on {len(lines)} item(s)", "\n".join(lines)


class Notifier:
    def __init__(
        self, settings: NotificationSettings, events: Events, *, outage_window: float, after: Notifier | None = None
    ) -> None:
        """`after`: the notifier this one replaces (a reloaded configuration): what it already told (the outages
        announced, the services down) is not told again, and a service it said was down is said to be back."""
        self.settings = settings
        self.events = events
        self.outage_window = outage_window
        self.enabled = set(settings.events) if settings.urls else set()
        self._apprise: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self._outages: set[str] = set()  # group keys already announced (dry runs judge them anew each cycle)
        self._down: dict[str, bool] = {}  # service -> down when last told
        if after is not None:
            self._outages, self._down = set(after._outages), dict(after._down)
        if self.enabled:
            events.subscribe(self.on_event)

    # -- events -> messages ----------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, CycleFinished):
            if "repairs" in self.enabled and (msg := repairs_message(event.report)):
                self.send(*msg)
            if "given_up" in self.enabled and (msg := given_up_message(event.report)):
                self.send(*msg)
        elif isinstance(event, OutageBegan):
            key = event.outage.group.key
            if key in self._outages:
                return
            self._outages.add(key)
            if "outage_began" in self.enabled:
                o = event.outage
                self.send(
                    f"{TITLE}: OUTAGE on {o.group.describe()}",
                    f"{o.describe()}.\n{len(o.members)} download(s) held: nothing in it is removed or blocklisted "
                    f"before {iso_time(o.first_seen + self.outage_window)} unless it ends first.",
                )
        elif isinstance(event, OutageEnded):
            self._outages.discard(event.outage.group.key)
            if "outage_ended" in self.enabled:
                o = event.outage
                self.send(
                    f"{TITLE}: outage over on {o.group.describe()}",
                    f"It lasted {human_duration(event.at - o.first_seen)}; its downloads are judged one by one again.",
                )
        elif isinstance(event, ServiceChanged):
            was_down = self._down.get(event.name)
            self._down[event.name] = not event.ok
            if not event.ok and not was_down and "service_down" in self.enabled:
                self.send(f"{TITLE}: {event.name} is down", event.message)
            elif event.ok and was_down and "service_back" in self.enabled:
                self.send(f"{TITLE}: {event.name} is back", event.message)

    # -- sending ---------------------------------------------------------------------------------
    def send(self, title: str, body: str) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._pool.submit(self._deliver, title, body))

    def _deliver(self, title: str, body: str) -> None:
        try:
            if self._apprise is None:
                import apprise

                logging.getLogger("apprise").setLevel(logging.WARNING)
                self._apprise = apprise.Apprise()
                for url in self.settings.urls:
                    if not self._apprise.add(url.get_secret_value()):
                        log.error("notifications: one of notifications.urls is not an Apprise URL it understands")
            if not self._apprise.notify(title=title, body=body):
                log.warning("notification %r could not be delivered to every URL; the monitor goes on", title)
        except Exception as exc:  # a notification must never break anything
            log.warning("notification %r failed (%s); the monitor goes on", title, type(exc).__name__)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every message handed over so far was delivered or given up."""
        deadline = time.monotonic() + (FLUSH_TIMEOUT if timeout is None else timeout)
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:
                log.warning("notifications: gave up waiting for a message to be delivered")
                return

    def close(self) -> None:
        self.events.unsubscribe(self.on_event)
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
