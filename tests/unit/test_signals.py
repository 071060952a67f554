"""The daemon's signals reach their callbacks on the relay's own thread, so a SIGTERM that lands while the main
thread holds a lock (threading.Event's, between two cycles) can no longer freeze the stop (signals.py)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from qbittorrent_monitor.signals import SignalRelay

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_sigterm_while_the_main_thread_holds_the_lock_its_callback_needs_still_stops_the_process() -> None:
    """What froze the image stage once: the signal arrives while the main thread is inside a lock the callback
    takes (Event.set's). Run as a child process so that a regression hangs the child, not the suite."""
    script = textwrap.dedent(
        """
        import os, signal, threading, sys
        from qbittorrent_monitor.signals import SignalRelay
        lock = threading.Lock()
        stopped = threading.Event()
        def on_term(_signum):
            with lock:  # as Event.set() takes the event's own lock
                stopped.set()
        relay = SignalRelay({signal.SIGTERM: on_term})
        relay.start()
        with lock:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # bytecodes with the lock held: where a Python-level handler would run
                pass
        sys.exit(0 if stopped.wait(5) else 3)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    try:
        done = subprocess.run([sys.executable, "-c", script], env=env, timeout=20, capture_output=True, text=True)
    except subprocess.TimeoutExpired:  # pragma: no cover - the regression itself
        pytest.fail("the process froze: the callback ran inside the signal handler, under the main thread's lock")
    assert done.returncode == 0, done.stderr


def test_each_signal_goes_to_its_own_callback_on_the_signals_thread_and_close_restores_the_handlers() -> None:
    seen: list[tuple[signal.Signals, str]] = []
    arrived = threading.Event()

    def note(signum: signal.Signals) -> None:
        seen.append((signum, threading.current_thread().name))
        arrived.set()

    before = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGUSR1)}
    relay = SignalRelay({signal.SIGHUP: note, signal.SIGUSR1: note})
    relay.start()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert arrived.wait(5)
        arrived.clear()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert arrived.wait(5)
    finally:
        relay.close()
    assert seen == [(signal.SIGHUP, "signals"), (signal.SIGUSR1, "signals")]
    assert {s: signal.getsignal(s) for s in before} == before  # the suite's own handling is back
    left = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(left)
    assert left == -1  # no wake-up fd left behind
    assert not any(t.name == "signals" for t in threading.enumerate())


def test_a_callback_that_fails_is_logged_and_the_next_signal_is_still_relayed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SIGHUP whose reload raised must not leave the daemon deaf to the SIGTERM that follows."""
    stopped = threading.Event()

    def bad_reload(_signum: signal.Signals) -> None:
        raise RuntimeError("reload broke")

    relay = SignalRelay({signal.SIGHUP: bad_reload, signal.SIGUSR1: lambda _s: stopped.set()})
    relay.start()
    try:
        with caplog.at_level(logging.ERROR, logger="qbittorrent_monitor.signals"):
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGUSR1)
            assert stopped.wait(5)
    finally:
        relay.close()
    assert any("handling SIGHUP failed" in r.getMessage() for r in caplog.records)
