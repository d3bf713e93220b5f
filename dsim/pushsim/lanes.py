"""The push dispatcher as vectorized max-plus recurrences: no Python step per proxy.

istiod hands queued proxies, in queue order, to ``T`` throttle slots (``PILOT_PUSH_THROTTLE``); a
slot is held for generation (CPU, on one of ``C`` cores) and the send (istiod's egress, one link
served in dispatch order). For the i-th dispatched push::

    dispatch_i  = max(ready_i, dispatch_{i-1}, done_{i-T})     # a free slot, one dispatcher
    cpu_end_i   = max(dispatch_i, cpu_end_{i-C}) + cpu_i        # a free core
    done_i      = max(cpu_end_i, done_{i-1}) + send_i           # the link, in dispatch order

Push i takes the slot push i-T held and the core push i-C held. Istio's semaphore gives whichever
slot frees first, which is that one whenever pushes finish in the order they started — always when
costs are equal (the closed-form and M/D/c checks, and the push-by-push comparison in the tests).
With unequal costs a slot can idle until its turn, so the rule is a little slower than Go's: the
tests measure 2% on a fan-out whose costs spread ±10%. Within one push, a proxy's cost is
dominated by the per-proxy part and the (shared, cached) changed resources, so spreads are small.

Each strided chain ``x_r = max(a_r, x_{r-1}) + g_r`` is solved at once as
``x = G + max(x_{-1}, cummax(a - G + g))`` (``G`` the running sum of ``g``); the throttle couples
the chains, so the three are iterated to their least fixed point (the causal schedule), which a
handful of passes reach unless the throttle binds on long sends.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(kw_only=True)
class LaneState:
    """What the next dispatch depends on: the recent pushes' times, in dispatch order."""

    slots: np.ndarray
    """When each of the last ``T`` dispatched pushes was done (seconds)."""
    cores: np.ndarray
    """When each of the last ``C`` dispatched pushes finished its CPU work."""
    dispatched: float = 0.0
    """When the last push was dispatched."""
    link: float = 0.0
    """When the last send ended."""

    @staticmethod
    def idle(throttle: int, cores: int, now: float = 0.0) -> LaneState:
        return LaneState(slots=np.full(throttle, now), cores=np.full(cores, now), dispatched=now, link=now)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule:
    """When each push of a batch is dispatched, finishes its CPU work, and is done (sent)."""

    dispatch: np.ndarray
    cpu_start: np.ndarray
    cpu_end: np.ndarray
    done: np.ndarray


def strided(arrival: np.ndarray, work: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``x_i = max(arrival_i, x_{i-s}) + work_i`` for stride ``s = len(before)``, where
    ``before`` holds ``x_{-s} .. x_{-1}``."""
    stride = len(before)
    count = len(arrival)
    rows = -(-count // stride)
    a = np.full(rows * stride, -np.inf)
    a[:count] = arrival
    g = np.zeros(rows * stride)
    g[:count] = work
    a2, g2 = a.reshape(rows, stride), g.reshape(rows, stride)
    total = np.cumsum(g2, axis=0)
    x = total + np.maximum(before[None, :], np.maximum.accumulate(a2 - total + g2, axis=0))
    return x.reshape(-1)[:count]


def schedule(state: LaneState, ready: np.ndarray, cpu: np.ndarray, send: np.ndarray) -> Schedule:
    """The exact schedule of pushes that become ready at ``ready`` (in queue order, nondecreasing
    for queued proxies), needing ``cpu`` and ``send`` seconds, after ``state``."""
    count = len(ready)
    done = np.full(count, -np.inf)
    link = np.array([state.link])
    while True:
        slot_free = np.concatenate([state.slots, done])[:count]
        dispatch = np.maximum.accumulate(np.maximum(np.maximum(ready, slot_free), state.dispatched))
        cpu_end = strided(dispatch, cpu, state.cores)
        sent = strided(cpu_end, send, link)
        if np.array_equal(sent, done):
            break
        done = sent
    cpu_start = cpu_end - cpu
    return Schedule(dispatch=dispatch, cpu_start=cpu_start, cpu_end=cpu_end, done=done)


def advanced(state: LaneState, plan: Schedule, count: int) -> LaneState:
    """``state`` after the first ``count`` pushes of ``plan`` were dispatched."""
    if count == 0:
        return state
    throttle, cores = len(state.slots), len(state.cores)
    return LaneState(
        slots=np.concatenate([state.slots, plan.done[:count]])[-throttle:],
        cores=np.concatenate([state.cores, plan.cpu_end[:count]])[-cores:],
        dispatched=float(plan.dispatch[count - 1]),
        link=float(plan.done[count - 1]),
    )
