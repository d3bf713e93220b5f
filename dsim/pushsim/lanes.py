"""The push dispatcher as vectorized max-plus recurrences: no Python step per proxy. The push
model runs them push by push, compiled (:func:`dsim.pushsim.kernels.scan`); these closed forms
are its NumPy twin (:func:`dsim.pushsim.reference.scan`) and what the closed-form, M/D/c and
push-by-push tests hold the recurrences to.

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

Several istiod replicas are scheduled at once: every array then has one row per replica (the
replicas share nothing, so each row is its own recurrence; a replica's batch is padded with pushes
ready at +inf, which are dispatched at +inf and so never committed).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(kw_only=True)
class LaneState:
    """What the next dispatch depends on: the recent pushes' times, in dispatch order; one row per
    istiod replica when several are scheduled together."""

    slots: np.ndarray
    """When each of the last ``T`` dispatched pushes was done (seconds)."""
    cores: np.ndarray
    """When each of the last ``C`` dispatched pushes finished its CPU work."""
    dispatched: np.ndarray | float = 0.0
    """When the last push was dispatched."""
    link: np.ndarray | float = 0.0
    """When the last send ended."""

    @staticmethod
    def idle(throttle: int, cores: int, now: float = 0.0, *, replicas: int | None = None) -> LaneState:
        """Nothing dispatched yet; ``replicas`` rows, or the 1-D form when None."""
        if replicas is None:
            return LaneState(slots=np.full(throttle, now), cores=np.full(cores, now), dispatched=now, link=now)
        return LaneState(
            slots=np.full((replicas, throttle), now),
            cores=np.full((replicas, cores), now),
            dispatched=np.full(replicas, now),
            link=np.full(replicas, now),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule:
    """When each push of a batch is dispatched, finishes its CPU work, and is done (sent)."""

    dispatch: np.ndarray
    cpu_start: np.ndarray
    cpu_end: np.ndarray
    done: np.ndarray


def strided(arrival: np.ndarray, work: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``x_i = max(arrival_i, x_{i-s}) + work_i`` for stride ``s = before.shape[-1]``, where
    ``before`` holds ``x_{-s} .. x_{-1}``; along the last axis, row by row for 2-D input."""
    if arrival.ndim == 1:
        return strided(arrival[None, :], work[None, :], before[None, :])[0]
    stride = before.shape[1]
    replicas, count = arrival.shape
    if stride == 1:  # the link: one running sum, no reshaping
        total = np.cumsum(work, axis=1)
        x = np.maximum.accumulate(arrival - total + work, axis=1)
        np.maximum(x, before, out=x)
        x += total
        return x
    rows = -(-count // stride)
    if rows * stride != count:
        a = np.full((replicas, rows * stride), -np.inf)
        a[:, :count] = arrival
        g = np.zeros((replicas, rows * stride))
        g[:, :count] = work
    else:
        a, g = arrival, work
    a3, g3 = a.reshape(replicas, rows, stride), g.reshape(replicas, rows, stride)
    total = np.cumsum(g3, axis=1)
    x = total + np.maximum(before[:, None, :], np.maximum.accumulate(a3 - total + g3, axis=1))
    return x.reshape(replicas, rows * stride)[:, :count]


def schedule(state: LaneState, ready: np.ndarray, cpu: np.ndarray, send: np.ndarray) -> Schedule:
    """The exact schedule of pushes that become ready at ``ready`` (in queue order, nondecreasing
    for queued proxies), needing ``cpu`` and ``send`` seconds, after ``state``; 2-D arrays (and a
    stacked state) schedule one replica per row."""
    if ready.ndim == 1:
        return _one_row(schedule(_stacked(state), ready[None, :], cpu[None, :], send[None, :]))
    count = ready.shape[1]
    throttle = state.slots.shape[1]
    dispatched = np.asarray(state.dispatched, float)[:, None]
    link = np.asarray(state.link, float)[:, None]
    done = np.full(ready.shape, -np.inf)
    slot_free = np.empty(ready.shape)
    head = min(throttle, count)
    slot_free[:, :head] = state.slots[:, :head]
    while True:
        slot_free[:, head:] = done[:, : count - head]
        dispatch = np.maximum.accumulate(np.maximum(np.maximum(ready, slot_free), dispatched), axis=1)
        cpu_end = strided(dispatch, cpu, state.cores)
        done = strided(cpu_end, send, link)
        # Passes only raise the times (they climb to the least fixed point from below); once each
        # push's slot, as now computed, was free when it was dispatched, another pass would
        # compute the same dispatches, so this is the fixed point.
        if (done[:, : count - head] <= dispatch[:, head:]).all():
            break
    return Schedule(dispatch=dispatch, cpu_start=cpu_end - cpu, cpu_end=cpu_end, done=done)


def advanced(state: LaneState, plan: Schedule, count: int | np.ndarray) -> LaneState:
    """``state`` after the first ``count`` pushes of ``plan`` were dispatched (per replica, for a
    stacked state: a replica that dispatched nothing keeps its state)."""
    if plan.done.ndim == 1:
        row = advanced(_stacked(state), _stacked_plan(plan), np.array([count]))
        return LaneState(
            slots=row.slots[0],
            cores=row.cores[0],
            dispatched=float(np.asarray(row.dispatched)[0]),
            link=float(np.asarray(row.link)[0]),
        )
    counts = np.asarray(count)[:, None]
    throttle, cores = state.slots.shape[1], state.cores.shape[1]
    last = np.maximum(counts - 1, 0)
    moved = counts[:, 0] > 0
    return LaneState(
        slots=np.take_along_axis(
            np.concatenate([state.slots, plan.done], axis=1), counts + np.arange(throttle), axis=1
        ),
        cores=np.take_along_axis(
            np.concatenate([state.cores, plan.cpu_end], axis=1), counts + np.arange(cores), axis=1
        ),
        dispatched=np.where(moved, np.take_along_axis(plan.dispatch, last, axis=1)[:, 0], state.dispatched),
        link=np.where(moved, np.take_along_axis(plan.done, last, axis=1)[:, 0], state.link),
    )


# The 1-D forms (one istiod) are the stacked ones with a single row.
def _stacked(state: LaneState) -> LaneState:
    return LaneState(
        slots=state.slots[None, :],
        cores=state.cores[None, :],
        dispatched=np.array([state.dispatched], float),
        link=np.array([state.link], float),
    )


def _stacked_plan(plan: Schedule) -> Schedule:
    return Schedule(
        dispatch=plan.dispatch[None, :],
        cpu_start=plan.cpu_start[None, :],
        cpu_end=plan.cpu_end[None, :],
        done=plan.done[None, :],
    )


def _one_row(plan: Schedule) -> Schedule:
    return Schedule(dispatch=plan.dispatch[0], cpu_start=plan.cpu_start[0], cpu_end=plan.cpu_end[0], done=plan.done[0])
