"""The slow twins the push model's fast paths are checked and timed against (as msprime keeps
its ``algorithms.py``): plain, one event at a time, and known to be right.

- :class:`PushQueue`: istiod's per-proxy push queue (``pilot/pkg/xds/pushqueue.go``), the
  reference for the fan-out's vectorized queues (:mod:`dsim.pushsim.fanout`);
- :func:`fan_out_one_by_one`: Istio's loop push by push (queue, throttle, cores), the reference
  for the fan-out as a whole;
- :func:`dispatch_one_by_one`: the dispatcher push by push with simpy resources, the reference
  for its max-plus recurrences (:mod:`dsim.pushsim.lanes`);
- :func:`md_c`: the exact M/D/c queue, the theory those recurrences must meet under Poisson load;
- :func:`scan`, :func:`commit`, :func:`dispatch_commit`, :func:`requeue`, :func:`tally`, :func:`spread_cpu`,
  :func:`incremental_table`, :func:`reach`, :func:`enqueue`, :func:`pending`, :func:`depends_on`, :func:`concerned`,
  :func:`line_append`, :func:`live_batches`, :func:`consume_batches`, :func:`union_sorted`,
  :func:`incremental_merges`, :func:`endpoint_change`, :func:`variant_costs`: the NumPy forms of the
  compiled kernels (:mod:`dsim.pushsim.kernels`), same signatures, vectorized over a batch: the spec
  the kernels are held to, and the path ``DSIM_PUSHSIM_NUMPY=1`` selects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from dsim.pushsim.kernels import CPU_BIN_S, NEVER, UPPER_EDGES
from dsim.pushsim.lanes import LaneState, advanced, schedule
from dsim.pushsim.requests import PushRequest


class PushQueue:
    """Proxies waiting for a push, in order; :meth:`get` is a simpy event.

    A proxy is never in the queue twice: a request for a proxy already waiting merges into its
    entry; a request for a proxy being pushed right now is kept and the proxy re-queued when that
    push is marked done. So however long a burst, each proxy is generated at most twice for it.
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._order: deque[int] = deque()
        self._pending: dict[int, PushRequest] = {}
        self._processing: dict[int, PushRequest | None] = {}
        self._waiting: deque[simpy.Event] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def holds(self, proxy: int) -> bool:
        """Whether ``proxy`` is waiting or being pushed (a new request for it would merge)."""
        return proxy in self._pending or proxy in self._processing

    def enqueue(self, proxy: int, request: PushRequest) -> None:
        """Ask for a push of ``request`` to ``proxy``."""
        if proxy in self._processing:
            earlier = self._processing[proxy]
            self._processing[proxy] = request if earlier is None else earlier.merge(request)
        elif proxy in self._pending:
            self._pending[proxy] = self._pending[proxy].merge(request)
        else:
            self._pending[proxy] = request
            self._order.append(proxy)
            self._hand_out()

    def get(self) -> simpy.Event:
        """An event whose value is ``(proxy, request)``, the next proxy to push; it is then being
        processed until :meth:`mark_done`."""
        event = self.env.event()
        self._waiting.append(event)
        self._hand_out()
        return event

    def mark_done(self, proxy: int) -> None:
        """The push to ``proxy`` finished; re-queue it if it was asked for meanwhile."""
        again = self._processing.pop(proxy)
        if again is not None:
            self._pending[proxy] = again
            self._order.append(proxy)
            self._hand_out()

    def _hand_out(self) -> None:
        while self._waiting and self._order:
            proxy = self._order.popleft()
            request = self._pending.pop(proxy)
            self._processing[proxy] = None
            self._waiting.popleft().succeed((proxy, request))


def fan_out_one_by_one(
    pushes: list[float],
    proxies: int,
    *,
    cost_s: float,
    throttle: int,
    cores: int,
    rotation: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Istio's loop push by push in one istiod replica, the reference for the fan-out: a
    :class:`PushQueue`, a dispatcher holding a throttle slot while it waits for a proxy, FIFO
    cores, every proxy push costing ``cost_s``. Each push (at the times ``pushes``, incremental)
    enqueues every proxy ``0..proxies-1``: those waiting or being pushed first, then the idle ones
    in id order turned by ``rotation`` (as the fan-out turns them). Returns pushes per proxy and
    when each was last done."""
    env = simpy.Environment()
    queue = PushQueue(env)
    slots = simpy.Resource(env, throttle)
    cpus = simpy.Resource(env, cores)
    jobs = np.zeros(proxies, np.int64)
    done = np.full(proxies, np.nan)

    def push_to(proxy: int, slot: simpy.resources.resource.Request) -> Generator[simpy.Event, Any, None]:
        with cpus.request() as core:
            yield core
            yield env.timeout(cost_s)
        jobs[proxy] += 1
        done[proxy] = env.now
        queue.mark_done(proxy)
        slots.release(slot)

    def dispatcher() -> Generator[simpy.Event, Any, None]:
        while True:
            slot = slots.request()
            yield slot
            proxy, _ = yield queue.get()
            env.process(push_to(proxy, slot))

    def pusher() -> Generator[simpy.Event, Any, None]:
        for t in pushes:
            yield env.timeout(t - env.now)
            request = PushRequest(full=False, start=t)
            busy = {p for p in range(proxies) if queue.holds(p)}
            idle = np.array([p for p in range(proxies) if p not in busy], np.int64)
            if len(idle):
                idle = np.roll(idle, -int(rotation.integers(len(idle))))
            for p in range(proxies):
                if p in busy:
                    queue.enqueue(p, request)
            for p in idle.tolist():
                queue.enqueue(p, request)

    env.process(dispatcher())
    env.process(pusher())
    env.run(until=max(pushes) + 100)
    return jobs, done


def dispatch_one_by_one(
    ready: np.ndarray, cpu: np.ndarray, send: np.ndarray, *, throttle: int, cores: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch and done times of each push (in queue order), one simpy process per push: a
    semaphore of ``throttle`` slots taken in order by one dispatcher (Istio's ``doSendPushes``; a
    slot goes to whoever asks first once any frees), ``cores`` FIFO cores for generation, one FIFO
    link for sends; a slot is held until its push is sent."""
    env = simpy.Environment()
    slots = simpy.Resource(env, throttle)
    cpus = simpy.Resource(env, cores)
    link = simpy.Resource(env, 1)
    dispatch = np.zeros(len(ready))
    done = np.zeros(len(ready))

    def push(i: int, slot: simpy.resources.resource.Request) -> Generator[simpy.Event, Any, None]:
        with cpus.request() as core:
            yield core
            yield env.timeout(cpu[i])
        with link.request() as wire:
            yield wire
            yield env.timeout(send[i])
        done[i] = env.now
        slots.release(slot)

    def dispatcher() -> Generator[simpy.Event, Any, None]:
        for i in range(len(ready)):
            if ready[i] > env.now:
                yield env.timeout(ready[i] - env.now)
            slot = slots.request()
            yield slot
            dispatch[i] = env.now
            env.process(push(i, slot))

    env.process(dispatcher())
    env.run()
    return dispatch, done


def md_c(rate: float, service: float, servers: int, states: int = 400) -> tuple[float, float]:
    """Mean wait in queue and P(wait > 0) of M/D/c (Poisson ``rate``, service ``service`` s,
    ``servers``). Sampled every ``service`` seconds the number in system is the Markov chain
    ``N' = max(N - servers, 0) + Poisson(rate·service)`` (all in service leave, all arrivals
    stay); its stationary law is the time-stationary one, Little's law gives the wait and PASTA
    P(wait > 0) = P(N ≥ servers)."""
    from scipy import stats  # only the queueing check needs it; the push model imports this module

    arrivals = stats.poisson.pmf(np.arange(states), rate * service)
    step = np.zeros((states, states))
    for n in range(states):
        base = max(n - servers, 0)
        step[n, base:] = arrivals[: states - base]
    pi = np.full(states, 1.0 / states)
    for _ in range(5000):
        pi = pi @ step
        pi /= pi.sum()
    in_system = float(np.arange(states) @ pi)
    waiting = in_system - rate * service  # mean busy servers = offered load
    return waiting / rate, float(pi[servers:].sum())


# -- the NumPy twins of dsim.pushsim.kernels ------------------------------------------------------
def scan(
    slots: np.ndarray,
    cores: np.ndarray,
    dispatched: np.ndarray,
    link: np.ndarray,
    which: np.ndarray,
    offsets: np.ndarray,
    ready: np.ndarray,
    cpu: np.ndarray,
    send: np.ndarray,
    until: float,
    dispatch: np.ndarray,
    cpu_start: np.ndarray,
    done: np.ndarray,
) -> np.ndarray:
    """:func:`dsim.pushsim.kernels.scan` as max-plus closed forms over the whole batch (the
    replicas' batches as rows of one computation, padded with pushes ready at +inf)."""
    lengths = np.diff(offsets)
    state = LaneState(slots=slots[which], cores=cores[which], dispatched=dispatched[which], link=link[which])
    at = np.arange(len(ready)) - np.repeat(offsets[:-1], lengths)
    slot = (np.repeat(np.arange(len(which)), lengths), at)
    shape = (len(which), int(lengths.max()))
    ready2, cpu2, send2 = np.full(shape, np.inf), np.zeros(shape), np.zeros(shape)
    ready2[slot], cpu2[slot], send2[slot] = ready, cpu, send
    plan = schedule(state, ready2, cpu2, send2)
    counts = (plan.dispatch < until).sum(axis=1)
    moved = advanced(state, plan, counts)
    slots[which], cores[which] = moved.slots, moved.cores
    dispatched[which], link[which] = moved.dispatched, moved.link
    committed = at < np.repeat(counts, lengths)
    taken = (slot[0][committed], slot[1][committed])
    dispatch[committed] = plan.dispatch[taken]
    cpu_start[committed] = plan.cpu_start[taken]
    done[committed] = plan.done[taken]
    return np.asarray(counts, np.int64)


def commit(
    proxies: np.ndarray,
    offsets: np.ndarray,
    counts: np.ndarray,
    variant: np.ndarray,
    dispatch: np.ndarray,
    cpu_start: np.ndarray,
    done: np.ndarray,
    variant_cpu: np.ndarray,
    variant_apply: np.ndarray,
    variant_base: int,
    cache_of: np.ndarray,
    envoy_free: np.ndarray,
    busy_until: np.ndarray,
    queued: np.ndarray,
    connecting: np.ndarray,
    warm: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    enqueued: np.ndarray,
    start: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
    fill: int,
) -> int:
    """:func:`dsim.pushsim.kernels.commit`, vectorized."""
    lengths = np.diff(offsets)
    mine = np.flatnonzero(np.arange(len(proxies)) - np.repeat(offsets[:-1], lengths) < np.repeat(counts, lengths))
    proxies, variant, done = proxies[mine], variant[mine], done[mine]
    converged = np.maximum(done, envoy_free[proxies]) + variant_apply[variant]
    envoy_free[proxies] = converged
    busy_until[proxies] = done
    queued[proxies] = False
    joining = connecting[proxies]
    connecting[proxies] = False
    warm[cache_of[proxies[joining]]] = True
    rows = slice(fill, fill + len(proxies))
    ints[0, rows], ints[1, rows] = proxies, variant + variant_base
    ints[2, rows] = np.where(joining, -1, first[proxies])
    ints[3, rows] = np.where(joining, -1, latest[proxies])
    floats[0, rows], floats[1, rows], floats[2, rows] = enqueued[proxies], start[proxies], dispatch[mine]
    floats[3, rows], floats[4, rows], floats[5, rows] = converged, cpu_start[mine], variant_cpu[variant]
    return fill + len(proxies)


def dispatch_commit(
    slots: np.ndarray,
    cores: np.ndarray,
    dispatched: np.ndarray,
    link: np.ndarray,
    rate: np.ndarray,
    which: np.ndarray,
    offsets: np.ndarray,
    until: float,
    proxies: np.ndarray,
    ready: np.ndarray,
    variant: np.ndarray,
    variant_kind: np.ndarray,
    variant_cpu: np.ndarray,
    variant_send: np.ndarray,
    variant_apply: np.ndarray,
    variant_type_bytes: np.ndarray,
    variant_type_seconds: np.ndarray,
    variant_over_limit: np.ndarray,
    cache_of: np.ndarray,
    envoy_free: np.ndarray,
    busy_until: np.ndarray,
    queued: np.ndarray,
    connecting: np.ndarray,
    warm: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    enqueued: np.ndarray,
    start: np.ndarray,
    joining: np.ndarray,
    tallies: tuple[np.ndarray, ...],
    edges: np.ndarray,
    lookup: np.ndarray,
    cpu_buffer: np.ndarray,
    cpu_fill: int,
) -> tuple[np.ndarray, int]:
    """:func:`dsim.pushsim.kernels.dispatch_commit`, from the twins of its parts."""
    n = len(proxies)
    dispatch, cpu_start, done = np.empty(n), np.empty(n), np.empty(n)
    before = dispatched[which].copy()
    counts = scan(
        slots, cores, dispatched, link, which, offsets, ready, variant_cpu[variant], variant_send[variant], until,
        dispatch, cpu_start, done,
    )  # fmt: skip
    spans = dispatched[which] - before
    rated = spans > 0
    rate[which[rated]] = counts[rated] / spans[rated]
    ints, floats = np.empty((4, n), np.int64), np.empty((6, n))
    k = commit(
        proxies, offsets, counts, variant, dispatch, cpu_start, done, variant_cpu, variant_apply, 0,
        cache_of, envoy_free, busy_until, queued, connecting, warm, first, latest, enqueued, start, ints, floats, 0,
    )  # fmt: skip
    (
        histograms,
        stats,
        pushes_by_type,
        bytes_by_type,
        jobs_by_kind,
        proxy_jobs,
        proxy_bytes,
        convergence_sum,
        convergence_max,
        last_converged,
        over_limit,
        push_jobs,
        push_bytes,
        push_converged,
        push_cover,
    ) = tallies
    tally(
        ints[0, :k], ints[1, :k], ints[2, :k], ints[3, :k], floats[0, :k], floats[1, :k], floats[2, :k],
        floats[3, :k], variant_kind, variant_type_bytes, variant_type_seconds, variant_over_limit,
        histograms, stats, pushes_by_type, bytes_by_type, jobs_by_kind, proxy_jobs, proxy_bytes, convergence_sum,
        convergence_max, last_converged, over_limit, push_jobs, push_bytes, push_converged, push_cover, edges, lookup,
    )  # fmt: skip
    cpu_buffer[:, cpu_fill : cpu_fill + k] = floats[4:, :k]
    served = ints[0, :k][ints[2, :k] < 0]
    np.subtract.at(joining, served % len(joining), 1)
    return counts, cpu_fill + k


def requeue(
    flagged: np.ndarray,
    chosen: np.ndarray,
    until: float,
    connected: np.ndarray,
    busy_until: np.ndarray,
    queued: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    enqueued: np.ndarray,
    start: np.ndarray,
    again_first: np.ndarray,
    again_latest: np.ndarray,
    again_start: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.requeue`, vectorized."""
    flagged = flagged[again_first[flagged] >= 0]
    due = (busy_until[flagged] < until) & chosen[flagged % len(chosen)]
    kept, due = flagged[~due], flagged[due]
    joining = due[connected[due]]
    joining = joining[np.argsort(busy_until[joining], kind="stable")]
    ready = busy_until[joining]
    queued[joining] = True
    first[joining] = again_first[joining]
    latest[joining] = again_latest[joining]
    enqueued[joining] = ready
    start[joining] = again_start[joining]
    again_first[due] = -1
    return kept, joining, ready


def incremental_table(
    merges: np.ndarray,
    stride: int,
    push_offsets: np.ndarray,
    push_services: np.ndarray,
    alive: np.ndarray,
    eds_now: np.ndarray,
    eaa_now: np.ndarray,
    mark: np.ndarray,
    tag: int,
    eds_type: int,
    eaa_term: int,
    terms: int,
    per_proxy_s: float,
    per_byte_s: float,
    bytes_per_s: float,
    apply_ms: np.ndarray,
    apply_intercept_ms: float,
    send_per_byte_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`dsim.pushsim.kernels.incremental_table`, merge by merge with NumPy."""
    classes = eds_now.shape[0]
    type_bytes = np.zeros((len(merges) * classes, 4), np.int64)
    apply_counts = np.zeros((len(merges) * classes, terms), np.int64)
    for m, (first, latest) in enumerate(zip(*np.divmod(merges, stride), strict=True)):
        services = np.unique(push_services[push_offsets[first] : push_offsets[latest + 1]])
        services = services[alive[services]]
        mark[services] = tag + m
        type_bytes[m * classes : (m + 1) * classes, eds_type] = eds_now[:, services].sum(axis=1)
        apply_counts[m * classes : (m + 1) * classes, eaa_term] = eaa_now[:, services].sum(axis=1)
    cpu, send, apply, type_seconds = variant_costs(
        type_bytes, np.zeros(type_bytes.shape), apply_counts, np.zeros(len(type_bytes), bool), per_proxy_s,
        per_byte_s, bytes_per_s, apply_ms, apply_intercept_ms,
    )  # fmt: skip
    cpu = cpu + type_bytes.sum(axis=1) * send_per_byte_s
    type_seconds = type_seconds + type_bytes * send_per_byte_s
    return cpu, send, apply, type_bytes, type_seconds, tag + len(merges)


def count(
    counts: np.ndarray,
    stats: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray | None = None,
    edges: np.ndarray = UPPER_EDGES,
) -> None:
    """One histogram (``counts``, ``stats`` = maximum, total, binned by upper ``edges``) counts
    ``values`` (each ``weights`` times, positive integers, if given)."""
    if len(values) == 0:
        return
    # A value's bin: the number of upper edges below it, at most the last (NaN: the first).
    index = np.searchsorted(edges[: len(counts)], values, side="left")
    np.minimum(index, len(counts) - 1, out=index)
    index[np.isnan(values)] = 0
    if weights is None:
        counts += np.bincount(index, minlength=len(counts))
        stats[1] += float(values.sum())
    else:  # integer weights: float sums of them are exact far beyond any count here
        counts += np.bincount(index, weights=weights, minlength=len(counts)).astype(np.int64)
        stats[1] += float(values @ weights)
    stats[0] = max(stats[0], float(values.max()))


def tally(
    proxy: np.ndarray,
    variant: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    enqueued: np.ndarray,
    start: np.ndarray,
    dispatch: np.ndarray,
    converged: np.ndarray,
    kind: np.ndarray,
    type_bytes: np.ndarray,
    type_seconds: np.ndarray,
    over_limit: np.ndarray,
    counts: np.ndarray,
    stats: np.ndarray,
    pushes_by_type: np.ndarray,
    bytes_by_type: np.ndarray,
    jobs_by_kind: np.ndarray,
    proxy_jobs: np.ndarray,
    proxy_bytes: np.ndarray,
    proxy_convergence_sum: np.ndarray,
    proxy_convergence_max: np.ndarray,
    proxy_last_converged: np.ndarray,
    proxy_over_limit: np.ndarray,
    push_latest_jobs: np.ndarray,
    push_latest_bytes: np.ndarray,
    push_last_converged: np.ndarray,
    push_cover: np.ndarray,
    edges: np.ndarray,
    lookup: np.ndarray,
) -> None:
    """:func:`dsim.pushsim.kernels.tally`, vectorized: what depends on a row's cost alone is
    tallied per variant, weighted by its rows. Bins by binary search over ``edges`` (``lookup``
    is the kernel's shortcut to the same bins)."""
    del lookup
    count(counts[0], stats[0], dispatch - enqueued, edges=edges)
    convergence = converged - enqueued
    count(counts[1], stats[1], convergence, edges=edges)
    count(counts[2], stats[2], converged - start, edges=edges)
    uses = np.bincount(variant, minlength=len(kind))
    used = uses > 0
    carried = type_bytes > 0
    for t in range(type_bytes.shape[1]):
        mine = carried[:, t] & used
        count(counts[3 + t], stats[3 + t], type_seconds[mine, t], uses[mine], edges=edges)
    pushes_by_type += uses @ carried
    bytes_by_type += uses @ type_bytes
    jobs_by_kind += np.bincount(kind, weights=uses, minlength=len(jobs_by_kind)).astype(np.int64)
    total = type_bytes.sum(axis=1)
    size = len(proxy_jobs)
    proxy_jobs += np.bincount(proxy, minlength=size)
    proxy_bytes += np.bincount(proxy, weights=total[variant], minlength=size).astype(np.int64)
    proxy_convergence_sum += np.bincount(proxy, weights=convergence, minlength=size)
    np.maximum.at(proxy_convergence_max, proxy, convergence)
    np.fmax.at(proxy_last_converged, proxy, converged)
    if over_limit.any():
        proxy_over_limit[proxy[over_limit[variant]]] = True
    pushed = latest >= 0
    latest, variant, first, converged = latest[pushed], variant[pushed], first[pushed], converged[pushed]
    push_latest_jobs += np.bincount(latest, minlength=len(push_latest_jobs))
    # Rows per (push, variant): counted directly when the pairs span few bins, else sorted.
    lowest = int(latest.min(initial=0))
    pairs = (latest - lowest) * len(kind) + variant
    if len(pairs) and int(pairs.max()) < 4 * len(pairs) + 4096:
        found = np.bincount(pairs)
        pairs = np.flatnonzero(found)
        found = found[pairs]
    else:
        pairs, found = np.unique(pairs, return_counts=True)
    np.add.at(push_latest_bytes, pairs // len(kind) + lowest, found[:, None] * type_bytes[pairs % len(kind)])
    np.maximum.at(push_last_converged, latest, converged)
    push_cover += np.bincount(first, minlength=len(push_cover))
    push_cover -= np.bincount(latest + 1, minlength=len(push_cover))


def spread_cpu(bins: np.ndarray, start: np.ndarray, seconds: np.ndarray) -> None:
    """:func:`dsim.pushsim.kernels.spread_cpu`, vectorized."""
    end = start + seconds
    first_bin = (start // CPU_BIN_S).astype(np.int64)
    last_bin = (end // CPU_BIN_S).astype(np.int64)
    same = first_bin == last_bin
    bins += np.bincount(first_bin[same], weights=seconds[same], minlength=len(bins))
    # The rare span over several bins gives each bin the part of it inside that bin.
    start, end, first_bin = start[~same], end[~same], first_bin[~same]
    spans = last_bin[~same] - first_bin + 1
    row = np.repeat(np.arange(len(start)), spans)
    index = np.arange(len(row)) - np.repeat(np.cumsum(spans) - spans, spans) + first_bin[row]
    inside = np.minimum((index + 1) * CPU_BIN_S, end[row]) - np.maximum(index * CPU_BIN_S, start[row])
    bins += np.bincount(index, weights=inside, minlength=len(bins))


def reach(
    seen: np.ndarray,
    everyone: bool,
    proxy_workload: np.ndarray,
    connected: np.ndarray,
    queued: np.ndarray,
    busy_until: np.ndarray,
    t: float,
    push: int,
    push_start: float,
    latest: np.ndarray,
    start: np.ndarray,
    again_first: np.ndarray,
    again_latest: np.ndarray,
    again_start: np.ndarray,
    replicas: int,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.reach`, vectorized over the proxy arrays."""
    targets = connected.copy() if everyone else connected & seen[proxy_workload]
    waiting = targets & queued
    np.copyto(latest, push, where=waiting)
    np.minimum(start, push_start, out=start, where=waiting)
    busy = (targets ^ waiting) & (busy_until > t)
    fresh = busy & (again_first < 0)
    np.copyto(again_first, push, where=fresh)
    np.copyto(again_start, push_start, where=fresh)
    np.copyto(again_latest, push, where=busy)
    np.minimum(again_start, push_start, out=again_start, where=busy)
    idle = targets ^ waiting ^ busy
    mine = [np.flatnonzero(idle[r::replicas]) * replicas + r for r in range(replicas)]
    bounds = np.concatenate([[0], np.cumsum([len(m) for m in mine])])
    return int(np.count_nonzero(targets)), np.flatnonzero(fresh), np.concatenate(mine), bounds


def enqueue(
    idle: np.ndarray,
    bounds: np.ndarray,
    turns: np.ndarray,
    t: float,
    push: int,
    push_start: float,
    queued: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    enqueued: np.ndarray,
    start: np.ndarray,
    entry_token: np.ndarray,
    line_order: np.ndarray,
    line_token: np.ndarray,
    line_ready: np.ndarray,
    tail: np.ndarray,
) -> None:
    """:func:`dsim.pushsim.kernels.enqueue`, vectorized."""
    order = np.concatenate(
        [np.roll(idle[lo:hi], -int(turn)) for lo, hi, turn in zip(bounds[:-1], bounds[1:], turns, strict=True)]
    )
    queued[order] = True
    first[order] = push
    latest[order] = push
    enqueued[order] = t
    start[order] = push_start
    line_append(line_order, line_token, line_ready, tail, order, np.full(len(order), t), entry_token)


def _by_replica(values: np.ndarray, replicas: int, pad: object) -> np.ndarray:
    """Per-proxy ``values`` as rows of ``replicas`` columns (proxy ``p`` at ``[p // replicas, p % replicas]``)."""
    short = -len(values) % replicas
    if short:
        values = np.concatenate([values, np.full(short, pad, values.dtype)])
    return values.reshape(-1, replicas)


def pending(
    queued: np.ndarray,
    first: np.ndarray,
    connecting: np.ndarray,
    flagged: np.ndarray,
    again_first: np.ndarray,
    replicas: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.pending`, vectorized over the proxy arrays."""
    oldest = _by_replica(np.where(queued, first, NEVER), replicas, NEVER).min(axis=0)
    np.minimum.at(oldest, flagged % replicas, again_first[flagged])
    return oldest, np.asarray(_by_replica(connecting, replicas, False).any(axis=0))


def depends_on(
    named: int,
    full_prefix: np.ndarray,
    oldest: np.ndarray,
    joining: np.ndarray,
    queued: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    flagged: np.ndarray,
    again_first: np.ndarray,
    again_latest: np.ndarray,
) -> np.ndarray:
    """:func:`dsim.pushsim.kernels.depends_on`, vectorized over the proxy arrays."""
    replicas, last = len(oldest), len(full_prefix) - 2

    def carries_full(lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
        return np.asarray(full_prefix[np.asarray(hi) + 1] - full_prefix[lo] > 0)

    waiting = oldest < NEVER
    needs = (waiting & (named >= oldest)) | joining
    maybe_full = waiting & ~needs & carries_full(np.where(waiting, oldest, 0), np.full(replicas, last))
    for r in np.flatnonzero(maybe_full).tolist():
        # A full push since the oldest: whether a pending merge includes it, proxy by proxy.
        mine = np.concatenate([np.flatnonzero(queued[r::replicas]) * replicas + r, flagged[flagged % replicas == r]])
        firsts = np.where(queued[mine], first[mine], again_first[mine])
        latest_ = np.where(queued[mine], latest[mine], again_latest[mine])
        needs[r] = carries_full(firsts, latest_).any()
    return np.asarray(needs, bool)


def concerned(
    named: int,
    full_prefix: np.ndarray,
    oldest_bound: np.ndarray,
    joining_count: np.ndarray,
    queued: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    connecting: np.ndarray,
    flagged: np.ndarray,
    again_first: np.ndarray,
    again_latest: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """:func:`dsim.pushsim.kernels.concerned`, from the twins of its parts."""
    replicas = len(oldest_bound)
    last = len(full_prefix) - 2
    joining = joining_count > 0
    waiting = (oldest_bound < NEVER) & ~joining
    bound = np.where(waiting, oldest_bound, 0)
    maybe = waiting & ((named >= oldest_bound) | (full_prefix[last + 1] - full_prefix[bound] > 0))
    if not maybe.any():
        return joining, False
    oldest, exact_joining = pending(queued, first, connecting, flagged, again_first, replicas)
    oldest_bound[:] = oldest
    needs = depends_on(
        named, full_prefix, oldest, exact_joining, queued, first, latest, flagged, again_first, again_latest
    )
    return needs, True


def merge_runs(first: np.ndarray, latest: np.ndarray, pushes: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct merges ``first..latest`` of a batch (keys ``first * (pushes + 1) + latest``,
    ascending) and each row's index among them; proxies queued together carry the same merge, so
    the runs of equal keys are looked up once."""
    keys = first * (pushes + 1) + latest
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
    unique, run_index = np.unique(keys[starts], return_inverse=True)
    return unique, np.repeat(run_index, np.diff(np.append(starts, len(keys))))


def incremental_merges(
    proxies: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    connecting: np.ndarray,
    full_prefix: np.ndarray,
    proxy_class: np.ndarray,
    classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.incremental_merges`, vectorized."""
    first, latest = first[proxies], latest[proxies]
    other = connecting[proxies] | (full_prefix[latest + 1] - full_prefix[first] > 0)
    variant = np.full(len(proxies), -1, np.int64)
    mine = ~other
    if not mine.any():
        return other, np.zeros(0, np.int64), variant
    merges, index = merge_runs(first[mine], latest[mine], len(full_prefix) - 1)
    variant[mine] = index * classes + proxy_class[proxies[mine]]
    return other, merges, variant


def union_sorted(ascending: np.ndarray, more: np.ndarray) -> np.ndarray:
    """:func:`dsim.pushsim.kernels.union_sorted`: NumPy's own."""
    return np.union1d(ascending, more).astype(np.int64)


def line_append(
    order: np.ndarray,
    token: np.ndarray,
    ready: np.ndarray,
    tail: np.ndarray,
    proxies: np.ndarray,
    ready_s: np.ndarray,
    entry_token: np.ndarray,
) -> None:
    """:func:`dsim.pushsim.kernels.line_append`, vectorized replica by replica (``proxies`` distinct)."""
    replicas = len(tail)
    entry_token[proxies] += 1
    for r in range(replicas):
        mine = proxies % replicas == r
        n = int(np.count_nonzero(mine))
        order[r, tail[r] : tail[r] + n] = proxies[mine]
        token[r, tail[r] : tail[r] + n] = entry_token[proxies[mine]]
        ready[r, tail[r] : tail[r] + n] = ready_s[mine]
        tail[r] += n


def live_batches(
    order: np.ndarray,
    token: np.ndarray,
    ready: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    front_order: np.ndarray,
    front_token: np.ndarray,
    front_ready: np.ndarray,
    front_len: np.ndarray,
    which: np.ndarray,
    sizes: np.ndarray,
    entry_token: np.ndarray,
    queued: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.live_batches`, vectorized over each replica's entries."""
    taken, offsets, fronts, raw_end = [], [0], [], []
    proxies, batch_ready, spans = [], [], []
    for r, size in zip(which.tolist(), sizes.tolist(), strict=True):
        n = int(front_len[r])
        alive = (front_token[r, :n] == entry_token[front_order[r, :n]]) & queued[front_order[r, :n]]
        kept = int(np.count_nonzero(alive))
        for column in (front_order, front_token, front_ready):
            column[r, :kept] = column[r, :n][alive]
        front_len[r] = kept
        while True:
            end = min(int(tail[r]), int(head[r]) + size)
            raw = order[r, head[r] : end]
            live = (token[r, head[r] : end] == entry_token[raw]) & queued[raw]
            if kept or live.any() or end >= tail[r]:
                break
            head[r] = end  # only stale entries: skip them
        if not kept and not live.any():
            head[r] = end
            continue
        taken.append(r)
        fronts.append(kept)
        raw_end.append(end)
        proxies += [front_order[r, :kept], raw[live]]
        batch_ready += [front_ready[r, :kept], ready[r, head[r] : end][live]]
        spans += [np.zeros(kept, np.int64), np.flatnonzero(live) + 1]
        offsets.append(offsets[-1] + kept + int(np.count_nonzero(live)))
    return (
        np.array(taken, np.int64),
        np.array(offsets, np.int64),
        np.concatenate([np.zeros(0, np.int64), *proxies]),
        np.concatenate([np.zeros(0), *batch_ready]),
        np.array(fronts, np.int64),
        np.array(raw_end, np.int64),
        np.concatenate([np.zeros(0, np.int64), *spans]),
    )


def consume_batches(
    head: np.ndarray,
    tail: np.ndarray,
    front_order: np.ndarray,
    front_token: np.ndarray,
    front_ready: np.ndarray,
    front_len: np.ndarray,
    taken: np.ndarray,
    offsets: np.ndarray,
    fronts: np.ndarray,
    raw_end: np.ndarray,
    spans: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """:func:`dsim.pushsim.kernels.consume_batches`, batch by batch over whole rows."""
    more = []
    for j, (r, count) in enumerate(zip(taken.tolist(), counts.tolist(), strict=True)):
        gone = min(count, int(fronts[j]))
        n = int(front_len[r])
        for column in (front_order, front_token, front_ready):
            column[r, : n - gone] = column[r, gone:n].copy()
        front_len[r] = n - gone
        if count == offsets[j + 1] - offsets[j]:
            head[r] = raw_end[j]
            if head[r] < tail[r] or front_len[r]:
                more.append(r)
        elif count > fronts[j]:
            head[r] += spans[offsets[j] + count - 1]
    return np.array(more, np.int64)


def endpoint_change(
    old_services: np.ndarray,
    old_eds_bytes: np.ndarray,
    old_additional: np.ndarray,
    new_services: np.ndarray,
    new_eds_bytes: np.ndarray,
    new_additional: np.ndarray,
    alive: np.ndarray,
    eds_now: np.ndarray,
    eaa_now: np.ndarray,
    class_bytes: np.ndarray,
    class_additional: np.ndarray,
) -> None:
    """:func:`dsim.pushsim.kernels.endpoint_change`, over whole columns."""
    for sign, services, eds_bytes, additional in (
        (-1, old_services, old_eds_bytes, old_additional),
        (1, new_services, new_eds_bytes, new_additional),
    ):
        np.add.at(eds_now.T, services, sign * eds_bytes.T)
        np.add.at(eaa_now.T, services, sign * additional.T)
        counted = alive[services]
        class_bytes += sign * eds_bytes[:, counted].sum(axis=1)
        class_additional += sign * additional[:, counted].sum(axis=1)


def variant_costs(
    type_bytes: np.ndarray,
    generated: np.ndarray,
    apply_counts: np.ndarray,
    whole: np.ndarray,
    per_proxy_s: float,
    per_byte_s: float,
    bytes_per_s: float,
    apply_ms: np.ndarray,
    apply_intercept_ms: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`dsim.pushsim.kernels.variant_costs`, vectorized."""
    carried = np.maximum((type_bytes > 0).sum(axis=1), 1)
    type_seconds = (
        (type_bytes > 0) * (per_proxy_s / carried)[:, None] + generated * per_byte_s + type_bytes / bytes_per_s
    )
    cpu = per_proxy_s + generated.sum(axis=1) * per_byte_s
    send = type_bytes.sum(axis=1) / bytes_per_s
    apply = np.maximum(apply_counts @ apply_ms, 0.0) / 1e3 + np.where(whole, apply_intercept_ms / 1e3, 0.0)
    return cpu, send, apply, type_seconds
