"""Stopping on a signal the way Ctrl-C stops: by an exception, so every clean-up runs.

Python turns SIGINT into :class:`KeyboardInterrupt`, but SIGTERM (what ``kill``, systemd and CI
send) and SIGHUP (a closed terminal) end the process on the spot: no ``finally`` block or
context manager runs, so an Envoy child keeps running, a temporary bootstrap stays, a
``.partial`` results folder is left beside ``--out``, and Dask's worker processes outlive their
parent. Within :func:`stop_cleanly` those two raise :class:`Interrupted` instead, a
:class:`KeyboardInterrupt`, which the code that owns a resource already releases it on (as
:func:`subprocess.run` kills its child on any exception). :func:`deferred` holds every one of
them, Ctrl-C too, while something that cannot be torn down half-built is set up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_STOPPING = (signal.SIGTERM, signal.SIGHUP)
_HELD = (signal.SIGINT, *_STOPPING)


class Interrupted(KeyboardInterrupt):
    """A signal other than SIGINT asked dsim to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_cleanly() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread.

    Outside the main thread Python cannot install handlers, so the block changes nothing there;
    a signal already ignored (``nohup``) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in _STOPPING:
        if signal.getsignal(signum) == signal.SIG_DFL:
            previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then deliver them as they would have
    been: for setting up something that can only be torn down once set up (a Dask cluster whose
    construction an interrupt cuts short leaves its workers running, and Dask's own exit hook
    fails on it with a traceback). Keep such a block short: Ctrl-C waits for it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}
    for signum in _HELD:
        if signal.getsignal(signum) is not None:  # None: a handler not set from Python, which cannot be restored
            previous[signum] = signal.signal(signum, lambda number, frame: held.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for number in dict.fromkeys(held):  # as it would have been: raised, ignored or the process ended
            signal.raise_signal(number)


def signal_name(interrupt: KeyboardInterrupt) -> str:
    """``SIGTERM`` for an :class:`Interrupted`, ``SIGINT`` for any other KeyboardInterrupt."""
    return signal.Signals(_signum(interrupt)).name


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention for a process a signal stopped: 128 + the signal's number (SIGINT: 130)."""
    return 128 + _signum(interrupt)


def _signum(interrupt: KeyboardInterrupt) -> int:
    return interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT
