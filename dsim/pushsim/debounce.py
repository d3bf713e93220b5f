"""istiod's debouncer (``pilot/pkg/xds/discovery.go`` ``debounce``), event for event.

Requests are merged until ``debounce_after`` of quiet, or ``debounce_max`` since the batch's first
event; then one push runs, and no other starts until it is done (single flight: a batch that
becomes ready meanwhile waits for it). With EDS debounce off, incremental requests skip all this
and push at once, concurrently with anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any, cast

import simpy

from dsim.pushsim.requests import PushRequest

CLOCK_RESOLUTION_S = 1e-9
PushProcess = Callable[[PushRequest], Generator[simpy.Event, Any, None]]
"""Runs one push (a simpy process) of a request."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DebounceOptions:
    """The three knobs (``pilot/pkg/features/tuning.go``)."""

    after_s: float = 0.1
    """PILOT_DEBOUNCE_AFTER: quiet time that ends a batch, seconds."""
    max_s: float = 10.0
    """PILOT_DEBOUNCE_MAX: longest a batch waits from its first event, seconds."""
    eds_debounce: bool = True
    """PILOT_ENABLE_EDS_DEBOUNCE: whether incremental (EDS) requests are debounced too."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DebouncedPush:
    """One push the debouncer started."""

    time: float
    """When it started, seconds."""
    request: PushRequest
    """What it pushes (merged)."""
    debounced: bool
    """False for an incremental request that bypassed the debouncer (EDS debounce off)."""


class Debouncer:
    """Put requests into :attr:`inbox`; each push runs ``push(request)`` as a simpy process."""

    def __init__(self, env: simpy.Environment, options: DebounceOptions, push: PushProcess) -> None:
        self.env = env
        self.options = options
        self.inbox: simpy.Store = simpy.Store(env)
        self.pushes: list[DebouncedPush] = []
        """Every push started, in order: the debounce trace."""
        self._push = push
        self._pending: PushRequest | None = None
        self._batch_start = 0.0
        self._last_event = 0.0
        self._timer: simpy.Event | None = None
        self._free = True
        self._done: simpy.Event | None = None
        env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        receive = self.inbox.get()
        while True:
            waits = [e for e in (self._done, receive, self._timer) if e is not None]
            fired = yield self.env.any_of(waits)
            if self._done is not None and self._done in fired:
                self._done = None
                self._free = True
                self._try_push()
            if receive in fired:
                self._receive(cast(PushRequest, receive.value))
                receive = self.inbox.get()
            if self._timer is not None and self._timer in fired:
                self._timer = None
                if self._free:
                    self._try_push()

    def _receive(self, request: PushRequest) -> None:
        if not self.options.eds_debounce and not request.full:
            self.pushes.append(DebouncedPush(time=self.env.now, request=request, debounced=False))
            self.env.process(self._push(request))
            return
        self._last_event = self.env.now
        if self._pending is None:
            self._batch_start = self.env.now
            self._timer = self.env.timeout(self.options.after_s)
        self._pending = request if self._pending is None else self._pending.merge(request)

    def _try_push(self) -> None:
        # Istio's pushWorker: push when the batch is old enough or quiet enough, else wait the rest.
        if self._pending is None:
            return
        # Times are floats: a timer set for the rest of the quiet time can land a rounding error
        # short of it, so "enough" is within a nanosecond (Istio's clock is no finer).
        age = self.env.now - self._batch_start
        quiet = self.env.now - self._last_event
        if age + CLOCK_RESOLUTION_S >= self.options.max_s or quiet + CLOCK_RESOLUTION_S >= self.options.after_s:
            request, self._pending = self._pending, None
            self._free = False
            self.pushes.append(DebouncedPush(time=self.env.now, request=request, debounced=True))
            self._done = self.env.process(self._push(request))
        else:
            self._timer = self.env.timeout(max(self.options.after_s - quiet, CLOCK_RESOLUTION_S))
