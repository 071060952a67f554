"""The daemon's signals (SIGTERM, SIGINT, SIGHUP), handled on a thread of their own.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread happens to be. When
it is inside `threading.Event.wait` (the cycle loop waits on one between two cycles) it may be holding the
event's own lock (a plain, non-reentrant Lock: taken back after the wait, held until the `with` ends), and a
handler that calls `Event.set()` then waits for that lock forever: the daemon logs "received SIGTERM" and never
stops. Seen once in the image stage, 2 times in 200 in a reproduction with short waits; the same re-entrancy as
CPython gh-126434 (reported for multiprocessing.Event). Any other non-reentrant lock the handler would take (a
queue's) is the same trap, and logging from a handler can re-enter a stream's buffered writer.

So the Python handler does nothing. `signal.set_wakeup_fd` makes CPython's C-level handler write the signal's
number to a socket, and the `signals` thread reads it there and calls the callback, outside of any signal
context: it may log, set events and take locks like any other thread.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[[signal.Signals], None]

_CLOSE = b"\0"  # not a signal number: the relay's own "stop reading"


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: none of the work (see the module docstring). It has to be a Python callable:
    CPython writes the wake-up byte only for a signal with a Python handler, and it stops the default action
    (SIGTERM and SIGHUP would end the process, SIGINT would raise KeyboardInterrupt anywhere)."""


class SignalRelay:
    """Relays `callbacks`' signals to a daemon thread. `start` and `close` are called from the main thread (the
    only one allowed to set signal handlers)."""

    def __init__(self, callbacks: Mapping[signal.Signals, Callback]) -> None:
        self.callbacks = dict(callbacks)
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)  # set_wakeup_fd requires it: a C signal handler never blocks
        self._thread = threading.Thread(target=self._relay, name="signals", daemon=True)
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_fd: int | None = None

    def start(self) -> None:
        """The wake-up fd before the handlers: a signal handled in between still writes its byte. On failure
        (a signal with its default action in between) what was done is undone."""
        try:
            self._thread.start()
            # A full socket (bytes the thread has not read) is reported by CPython itself, with no lock taken.
            self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
            for signum in self.callbacks:
                self._previous[signum] = signal.signal(signum, _ignore)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if self._previous_fd is not None:
            signal.set_wakeup_fd(self._previous_fd)
            self._previous_fd = None
        if self._thread.is_alive():
            try:
                self._writer.send(_CLOSE)
            except OSError:  # a full buffer (signals in a storm): end the thread's reading instead
                self._reader.shutdown(socket.SHUT_RD)
            self._thread.join(timeout=5)
        self._reader.close()
        self._writer.close()

    def _relay(self) -> None:
        while True:
            try:
                data = self._reader.recv(64)
            except OSError:  # pragma: no cover - the socket was closed under us
                return
            if not data:  # shut down by close()
                return
            for number in data:
                if number == _CLOSE[0]:
                    return
                self._deliver(number)

    def _deliver(self, number: int) -> None:
        try:
            signum = signal.Signals(number)
        except ValueError:  # a real-time signal some other code handles: not ours
            return
        callback = self.callbacks.get(signum)
        if callback is None:
            return
        try:
            callback(signum)
        except Exception:  # the thread must go on relaying: a later SIGTERM still has to stop the daemon
            log.exception("handling %s failed", signum.name)
