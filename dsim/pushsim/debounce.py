"""istiod's debouncer (``pilot/pkg/xds/discovery.go`` ``debounce``), event for event.

Requests are merged until ``debounce_after`` of quiet, or ``debounce_max`` since the batch's first
event; then one push runs, and no other starts until it is done (single flight: a batch that
becomes ready meanwhile waits for it). With EDS debounce off, incremental requests skip all this
and push at once, concurrently with anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

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
    """Hand requests to :meth:`receive`; each push runs ``push(request)`` as a simpy process.

    Driven by callbacks on its timer and on the running push rather than by a process of its own
    waiting on a request store: a churn event then costs a method call, not a store, a condition and
    a process switch (Istio's select over its channels, which has no order either, is the model)."""

    def __init__(self, env: simpy.Environment, options: DebounceOptions, push: PushProcess) -> None:
        self.env = env
        self.options = options
        self.pushes: list[DebouncedPush] = []
        """Every push started, in order: the debounce trace."""
        self._push = push
        self._pending: PushRequest | None = None
        self._batch_start = 0.0
        self._last_event = 0.0
        self._timer: simpy.Event | None = None
        self._free = True

    def receive(self, request: PushRequest) -> None:
        """A request arrives now."""
        if not self.options.eds_debounce and not request.full:
            self.pushes.append(DebouncedPush(time=self.env.now, request=request, debounced=False))
            self.env.process(self._push(request))
            return
        self._last_event = self.env.now
        if self._pending is None:
            self._batch_start = self.env.now
            self._arm(self.options.after_s)
        self._pending = request if self._pending is None else self._pending.merge(request)

    def _arm(self, delay: float) -> None:
        timer = self.env.timeout(delay)
        timer.callbacks.append(self._on_timer)
        self._timer = timer

    def _on_timer(self, timer: simpy.Event) -> None:
        if timer is not self._timer:
            return  # a timer the batch no longer waits on (a push took its requests meanwhile)
        self._timer = None
        if self._free:
            self._try_push()

    def _on_done(self, _: simpy.Event) -> None:
        self._free = True
        self._try_push()

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
            self.env.process(self._push(request)).callbacks.append(self._on_done)
        else:
            self._arm(max(self.options.after_s - quiet, CLOCK_RESOLUTION_S))
