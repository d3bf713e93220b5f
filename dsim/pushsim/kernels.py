"""The push model's hot loops, compiled: plain functions over plain arrays (``numba.njit``).

Each has a NumPy slow twin of the same signature in :mod:`dsim.pushsim.reference` (the form the
push model had before: vectorized over a batch, and the spec these are held to); the tests run
both on small and randomized inputs, and under ``NUMBA_DISABLE_JIT=1`` these bodies run as plain
Python. :func:`dsim.pushsim.hotpath.hot_loops` picks which one the push model calls.

Compiled code is cached beside this file (``cache=True``; or in ``NUMBA_CACHE_DIR``): the first
run on a machine compiles them all (5 to 10 s on the 2-core development machine; ``bench/pushsim.py``
measures it), later runs load them (well under a second). Editing this file recompiles them.

- :func:`scan`: the dispatcher's recurrences (dispatch, core, link, throttle) push by push, for
  several istiod replicas' batches at once, up to the first dispatch at or after ``until``;
- :func:`commit`: the per-proxy state a committed proxy push changes, and its row for the recorder;
- :func:`dispatch_commit`: a whole dispatch pass, :func:`scan`, :func:`commit` and :func:`tally`, in one call;
- :func:`requeue`: proxies asked for while being pushed re-joining the queue;
- :func:`incremental_table`: the costs of incremental merges by class, for the proxy pushes that
  carry them;
- :func:`tally`: the recorder's tallies and log-binned histograms of committed proxy pushes;
- :func:`spread_cpu`: istiod's CPU seconds over the 1-second bins they cover;
- :func:`reach`, :func:`enqueue`: a push reaching the proxies that see its change, over the
  proxy arrays (merged into waiting entries, flagged to go again, or queued);
- :func:`pending`, :func:`depends_on`, :func:`concerned`: which replicas an endpoint change
  concerns (their pending proxy pushes would carry it);
- :func:`line_append`, :func:`live_batches`, :func:`consume_batches`: the replicas' queue lines:
  entries joining, the next batch of live ones, and what of it was dispatched;
- :func:`union_sorted`: the proxies flagged to go again;
- :func:`endpoint_change`: a workload's endpoints changing, in what every workload of a class sees
  (when every workload sees every service);
- :func:`variant_costs`: what each distinct proxy push costs;
- :func:`incremental_merges`: the common case of pricing, a batch of endpoint updates that every
  proxy of a class receives alike.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# A histogram's bins (:mod:`dsim.pushsim.metrics` holds the same figures; kept here as plain
# numbers so that the compiled code sees constants).
BINS_PER_DECADE = 200
LOWEST_S = 1e-7
DECADES = 12  # 100 ns .. 100,000 s
HISTOGRAM_BINS = BINS_PER_DECADE * DECADES + 1
CPU_BIN_S = 1.0


def _upper_edges() -> np.ndarray:
    edges = LOWEST_S * 10 ** (np.arange(HISTOGRAM_BINS) / BINS_PER_DECADE)
    edges.flags.writeable = False
    return edges


UPPER_EDGES = _upper_edges()
"""Every histogram bin's upper edge, seconds: bin ``b`` counts the durations above edge ``b - 1``
up to edge ``b`` — bin 0 everything up to ``LOWEST_S``, the last bin everything above the edge before it.
A duration's bin is the number of edges below it (at most the last bin): what
:func:`dsim.pushsim.reference.count` computes by binary search and :func:`_bin` by a lookup."""
_KEY_BITS = 8  # mantissa bits of a key: a key's durations span 0.4% (a third of a bin), so one edge at most
_LOWEST_EXPONENT = math.frexp(LOWEST_S)[1]
# A positive double's bits shifted right by _MANTISSA_SHIFT are its biased exponent and top
# mantissa bits: minus _KEY_BASE, the key of :func:`_bin_lookup` (frexp's exponent is the biased one - 1022).
_MANTISSA_SHIFT = 52 - _KEY_BITS
_KEY_BASE = (1022 + _LOWEST_EXPONENT) << _KEY_BITS


def _bin_lookup() -> np.ndarray:
    """Per key of a duration from ``LOWEST_S`` up to the last edge but one (its binary exponent
    and the top mantissa bits, :func:`_bin`), the bin of the smallest duration with that key."""
    keys = np.arange((math.frexp(UPPER_EDGES[-2])[1] - _LOWEST_EXPONENT + 1) << _KEY_BITS)
    fraction, exponent = np.divmod(keys, 1 << _KEY_BITS)[::-1]
    smallest = np.ldexp(0.5 + fraction / (2 << _KEY_BITS), exponent + _LOWEST_EXPONENT)
    lookup = np.searchsorted(UPPER_EDGES, smallest, side="left")
    lookup.flags.writeable = False
    return lookup


BIN_LOOKUP = _bin_lookup()


@numba.njit(cache=True)
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
    """Dispatch the batch of replica ``which[j]`` (rows ``offsets[j]:offsets[j + 1]`` of
    ``ready``, ``cpu``, ``send``, in queue order) after its lane state (rows of ``slots``,
    ``cores``, ``dispatched``, ``link``; see :class:`dsim.pushsim.lanes.LaneState`), push by push:

        dispatch_i = max(ready_i, dispatch_{i-1}, done_{i-T})   # the dispatcher, a free slot
        cpu_end_i  = max(dispatch_i, cpu_end_{i-C}) + cpu_i      # a free core
        done_i     = max(cpu_end_i, done_{i-1}) + send_i         # the link, in dispatch order

    stopping at the first push dispatched at or after ``until`` (dispatches never decrease, so no
    later one is before it). Fills ``dispatch``, ``cpu_start`` and ``done`` for the pushes
    dispatched, advances the replicas' lane state in place, and returns how many each dispatched.

    Each push depends on earlier ones only, so this causal scan is the unique solution of the
    recurrences, the one :func:`dsim.pushsim.lanes.schedule` reaches from below by iterating
    its closed forms (which round differently: cumulative sums from the batch's start).
    """
    throttle = slots.shape[1]
    core_count = cores.shape[1]
    counts = np.zeros(len(which), np.int64)
    slot_ring = np.empty(throttle)
    core_ring = np.empty(core_count)
    for j in range(len(which)):
        r = which[j]
        # Rings: position ``s`` holds the slot push i takes (the one push i-T held).
        for k in range(throttle):
            slot_ring[k] = slots[r, k]
        for k in range(core_count):
            core_ring[k] = cores[r, k]
        last_dispatch = dispatched[r]
        last_done = link[r]
        s = 0
        c = 0
        n = 0
        for i in range(offsets[j], offsets[j + 1]):
            d = max(ready[i], last_dispatch, slot_ring[s])
            if d >= until:
                break
            begin = max(d, core_ring[c])
            end = begin + cpu[i]
            finish = max(end, last_done) + send[i]
            dispatch[i] = d
            cpu_start[i] = begin
            done[i] = finish
            slot_ring[s] = finish
            core_ring[c] = end
            s = s + 1 if s + 1 < throttle else 0
            c = c + 1 if c + 1 < core_count else 0
            last_dispatch = d
            last_done = finish
            n += 1
        for k in range(throttle):
            slots[r, k] = slot_ring[(s + k) % throttle]
        for k in range(core_count):
            cores[r, k] = core_ring[(c + k) % core_count]
        dispatched[r] = last_dispatch
        link[r] = last_done
        counts[j] = n
    return counts


@numba.njit(cache=True)
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
    """Commit the first ``counts[j]`` proxy pushes of each batch ``offsets[j]:offsets[j + 1]``
    of a :func:`scan` (to ``proxies``, distinct, costing ``variant``: ``variant_cpu``,
    ``variant_apply`` seconds): Envoy applies a proxy's pushes one after another, the proxy is no
    longer queued, a new connection warms its replica's cache (``warm[cache_of[p]]``). Each
    committed push is written at row ``fill`` on of the recorder's buffer (see
    :class:`dsim.pushsim.metrics.Recorder`; its variant shifted by ``variant_base``); returns
    the next free row."""
    for j in range(len(counts)):
        for i in range(offsets[j], offsets[j] + counts[j]):
            p = proxies[i]
            v = variant[i]
            converged = max(done[i], envoy_free[p]) + variant_apply[v]
            envoy_free[p] = converged
            busy_until[p] = done[i]
            queued[p] = False
            ints[0, fill] = p
            ints[1, fill] = v + variant_base
            if connecting[p]:  # a new connection's whole config carries no push
                connecting[p] = False
                warm[cache_of[p]] = True
                ints[2, fill] = -1
                ints[3, fill] = -1
            else:
                ints[2, fill] = first[p]
                ints[3, fill] = latest[p]
            floats[0, fill] = enqueued[p]
            floats[1, fill] = start[p]
            floats[2, fill] = dispatch[i]
            floats[3, fill] = converged
            floats[4, fill] = cpu_start[i]
            floats[5, fill] = variant_cpu[v]
            fill += 1
    return fill


@numba.njit(cache=True)
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
    """One dispatch pass in one call: :func:`scan` the replicas' batches (row ``i`` costing
    variant ``variant[i]`` of the pass's cost table: ``variant_*``) up to ``until``, set each
    replica's ``rate`` (dispatches per simulated second, where it dispatched any),
    :func:`commit` what was dispatched (a connection served leaves its replica's ``joining``
    count) and :func:`tally` it (``tallies``: the recorder's arrays in :func:`tally`'s order;
    ``edges``, ``lookup``: its histogram bins), and write its istiod CPU (start, seconds) to
    ``cpu_buffer`` from column ``cpu_fill`` on. Returns how many of each
    batch were dispatched, and the CPU buffer's next free column."""
    n = len(proxies)
    cpu = np.empty(n)
    send = np.empty(n)
    for i in range(n):
        cpu[i] = variant_cpu[variant[i]]
        send[i] = variant_send[variant[i]]
    before = np.empty(len(which))
    for j in range(len(which)):
        before[j] = dispatched[which[j]]
    dispatch, cpu_start, done = np.empty(n), np.empty(n), np.empty(n)
    counts = scan(slots, cores, dispatched, link, which, offsets, ready, cpu, send, until, dispatch, cpu_start, done)
    for j in range(len(which)):
        span = dispatched[which[j]] - before[j]
        if span > 0:
            rate[which[j]] = counts[j] / span
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
        floats[3, :k], variant_kind, variant_type_bytes, variant_type_seconds, variant_over_limit, histograms, stats,
        pushes_by_type, bytes_by_type, jobs_by_kind, proxy_jobs, proxy_bytes, convergence_sum, convergence_max,
        last_converged, over_limit, push_jobs, push_bytes, push_converged, push_cover, edges, lookup,
    )  # fmt: skip
    for i in range(k):
        cpu_buffer[0, cpu_fill + i] = floats[4, i]
        cpu_buffer[1, cpu_fill + i] = floats[5, i]
        if ints[2, i] < 0:  # a connection got its first config: no longer joining
            joining[ints[0, i] % len(joining)] -= 1
    return counts, cpu_fill + k


@numba.njit(cache=True)
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
    """Proxies ``flagged`` (asked for while being pushed: ascending, stale where ``again_first``
    is -1) of the ``chosen`` replicas whose push is done before ``until`` re-join the queue with
    what they were asked for, when still ``connected``; the rest stay flagged. Returns the
    proxies still flagged, and those re-joining in the order they became free (ties by id) with
    when: their ``busy_until``."""
    replicas = len(chosen)
    kept = np.empty(len(flagged), np.int64)
    joining = np.empty(len(flagged), np.int64)
    k = 0
    j = 0
    for p in flagged:
        if again_first[p] < 0:
            continue
        if not (busy_until[p] < until and chosen[p % replicas]):
            kept[k] = p
            k += 1
            continue
        if connected[p]:
            queued[p] = True
            first[p] = again_first[p]
            latest[p] = again_latest[p]
            enqueued[p] = busy_until[p]
            start[p] = again_start[p]
            joining[j] = p
            j += 1
        again_first[p] = -1
    joining = joining[:j]
    joining = joining[np.argsort(busy_until[joining], kind="mergesort")]
    return kept[:k], joining, busy_until[joining]


@numba.njit(cache=True)
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
    """The by-class cost table of incremental ``merges`` (keys ``first * stride + latest``): row
    ``m * classes + k`` is merge ``m`` to a proxy of class ``k``, carrying the endpoint sets, as
    they are now (``eds_now``, ``eaa_now``: per class and service), of the services alive that
    pushes ``first..latest`` named (push ``p`` named ``push_services[push_offsets[p]:push_offsets[p
    + 1]]``; each service once: ``mark`` holds, per service, the last ``tag`` that counted it).
    Their bytes go to xDS type ``eds_type``, their additional addresses to apply term ``eaa_term``
    (of ``terms``); costs as :func:`variant_costs` plus the send per byte. Returns the table's
    cpu, send, apply seconds, bytes and seconds per xDS type, and the next free tag."""
    classes = eds_now.shape[0]
    rows = len(merges) * classes
    type_bytes = np.zeros((rows, 4), np.int64)
    apply_counts = np.zeros((rows, terms), np.int64)
    for m in range(len(merges)):
        first, latest = merges[m] // stride, merges[m] % stride
        for i in range(push_offsets[first], push_offsets[latest + 1]):
            s = push_services[i]
            if mark[s] == tag or not alive[s]:
                continue
            mark[s] = tag
            for k in range(classes):
                type_bytes[m * classes + k, eds_type] += eds_now[k, s]
                apply_counts[m * classes + k, eaa_term] += eaa_now[k, s]
        tag += 1
    cpu, send, apply, type_seconds = variant_costs(
        type_bytes, np.zeros((rows, 4)), apply_counts, np.zeros(rows, np.bool_), per_proxy_s, per_byte_s,
        bytes_per_s, apply_ms, apply_intercept_ms,
    )  # fmt: skip
    for v in range(rows):
        sent = 0
        for t in range(4):
            sent += type_bytes[v, t]
            type_seconds[v, t] += type_bytes[v, t] * send_per_byte_s
        cpu[v] += sent * send_per_byte_s
    return cpu, send, apply, type_bytes, type_seconds, tag


@numba.njit(cache=True)
def _bin(value: float, edges: np.ndarray, lookup: np.ndarray, scratch: np.ndarray, scratch_bits: np.ndarray) -> int:
    """The histogram bin of a duration (seconds): the number of ``edges`` (:data:`UPPER_EDGES`)
    below it, at most the last bin. The duration's binary exponent and top mantissa bits (read
    through ``scratch``, one float, and ``scratch_bits``, the same 8 bytes as an integer) index
    ``lookup`` (:data:`BIN_LOOKUP`), the bin where its key starts; one edge at most lies further."""
    if not value > LOWEST_S:  # and NaN
        return 0
    if value > edges[-2]:
        return len(edges) - 1
    scratch[0] = value
    b = lookup[(scratch_bits[0] >> _MANTISSA_SHIFT) - _KEY_BASE]
    return b + 1 if edges[b] < value else b


@numba.njit(cache=True)
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
    """Tally committed proxy pushes in place (the arrays of :class:`dsim.pushsim.metrics.Recorder`,
    which documents them). Row ``i``: to ``proxy[i]``, costing variant ``variant[i]`` of ``kind``,
    ``type_bytes``, ``type_seconds`` and ``over_limit``, carrying pushes ``first[i]..latest[i]``
    (-1: a new connection's whole config, counted for no push). Histograms are rows of ``counts``
    with ``stats[h]`` = (maximum, total): 0 queue time, 1 convergence (from enqueue), 2 change to
    proxy (from the oldest change carried), 3 + t istiod's time for xDS type ``t``; bins by upper
    ``edges`` (:data:`UPPER_EDGES`, as many as ``counts`` has columns) found through ``lookup``
    (:data:`BIN_LOOKUP`)."""
    types = type_bytes.shape[1]
    uses = np.zeros(len(kind), np.int64)  # rows per variant
    scratch = np.empty(1)
    scratch_bits = scratch.view(np.int64)
    total = type_bytes.sum(axis=1)
    peak = stats[:3, 0].copy()  # the row histograms' maxima and totals, kept out of memory in the loop
    sums = stats[:3, 1].copy()
    for i in range(len(proxy)):
        p = proxy[i]
        v = variant[i]
        uses[v] += 1
        waited = dispatch[i] - enqueued[i]
        convergence = converged[i] - enqueued[i]
        since = converged[i] - start[i]
        counts[0, _bin(waited, edges, lookup, scratch, scratch_bits)] += 1
        counts[1, _bin(convergence, edges, lookup, scratch, scratch_bits)] += 1
        counts[2, _bin(since, edges, lookup, scratch, scratch_bits)] += 1
        peak[0], peak[1], peak[2] = max(peak[0], waited), max(peak[1], convergence), max(peak[2], since)
        sums[0] += waited
        sums[1] += convergence
        sums[2] += since
        proxy_jobs[p] += 1
        proxy_bytes[p] += total[v]
        proxy_convergence_sum[p] += convergence
        proxy_convergence_max[p] = max(proxy_convergence_max[p], convergence)
        if math.isnan(proxy_last_converged[p]) or converged[i] > proxy_last_converged[p]:
            proxy_last_converged[p] = converged[i]
        if over_limit[v]:
            proxy_over_limit[p] = True
        pushed = latest[i]
        if pushed >= 0:
            push_latest_jobs[pushed] += 1
            for t in range(types):
                push_latest_bytes[pushed, t] += type_bytes[v, t]
            push_last_converged[pushed] = max(push_last_converged[pushed], converged[i])
            push_cover[first[i]] += 1
            push_cover[pushed + 1] -= 1
    stats[:3, 0] = peak
    stats[:3, 1] = sums
    # What depends on a row's cost alone, once per variant, weighted by its rows.
    for v in range(len(kind)):
        if uses[v] == 0:
            continue
        jobs_by_kind[kind[v]] += uses[v]
        for t in range(types):
            if type_bytes[v, t] > 0:
                counts[3 + t, _bin(type_seconds[v, t], edges, lookup, scratch, scratch_bits)] += uses[v]
                stats[3 + t, 0] = max(stats[3 + t, 0], type_seconds[v, t])
                stats[3 + t, 1] += type_seconds[v, t] * uses[v]
                pushes_by_type[t] += uses[v]
                bytes_by_type[t] += type_bytes[v, t] * uses[v]


@numba.njit(cache=True)
def spread_cpu(bins: np.ndarray, start: np.ndarray, seconds: np.ndarray) -> None:
    """Add CPU ``seconds`` spent from ``start`` on to the ``CPU_BIN_S`` ``bins`` they cover (each
    bin the part inside it); ``bins`` must reach the last one."""
    for i in range(len(start)):
        end = start[i] + seconds[i]
        first_bin = math.floor(start[i] / CPU_BIN_S)
        last_bin = math.floor(end / CPU_BIN_S)
        if first_bin == last_bin:
            bins[first_bin] += seconds[i]
            continue
        for b in range(first_bin, last_bin + 1):
            bins[b] += min((b + 1) * CPU_BIN_S, end) - max(b * CPU_BIN_S, start[i])


@numba.njit(cache=True)
def _enter(
    order: np.ndarray,
    token: np.ndarray,
    ready: np.ndarray,
    tail: np.ndarray,
    r: int,
    p: int,
    ready_s: float,
    entry_token: np.ndarray,
) -> None:
    """Proxy ``p`` joins the back of line ``r``, ready at ``ready_s``, with its next token (an
    older entry of the proxy's is stale from then on)."""
    entry_token[p] += 1
    order[r, tail[r]] = p
    token[r, tail[r]] = entry_token[p]
    ready[r, tail[r]] = ready_s
    tail[r] += 1


@numba.njit(cache=True)
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
    """Push ``push`` (started by a change at ``push_start``) at ``t`` reaches the connected proxies
    of the workloads ``seen`` (``everyone``: all of them, and the proxies' workloads need not be
    read): a waiting proxy merges it into its entry; one being pushed
    (``busy_until > t``) is flagged to go again with it; the rest are idle. Returns how many it
    reached, the proxies newly flagged, and the idle ones replica by replica (proxy ``p`` is of
    replica ``p % replicas``; replica ``r``'s ascending at ``idle[bounds[r]:bounds[r + 1]]``)."""
    n = len(proxy_workload)
    flagged = np.empty(n, np.int64)
    idle = np.empty(n, np.int64)
    bounds = np.zeros(replicas + 1, np.int64)
    targets = 0
    nf = 0
    ni = 0
    for r in range(replicas):
        for p in range(r, n, replicas):
            if not (connected[p] and (everyone or seen[proxy_workload[p]])):
                continue
            targets += 1
            if queued[p]:
                latest[p] = push
                start[p] = min(start[p], push_start)
            elif busy_until[p] > t:
                if again_first[p] < 0:
                    again_first[p] = push
                    again_start[p] = push_start
                    flagged[nf] = p
                    nf += 1
                again_latest[p] = push
                again_start[p] = min(again_start[p], push_start)
            else:
                idle[ni] = p
                ni += 1
        bounds[r + 1] = ni
    return targets, flagged[:nf], idle[:ni], bounds


@numba.njit(cache=True)
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
    """Queue the idle proxies of :func:`reach` for ``push`` at ``t``, replica ``r``'s turned to
    start at its ``turns[r]``-th (Istio walks its connections map in random order), at the back
    of their replicas' lines as :func:`line_append` does (the rows must have room)."""
    for r in range(len(bounds) - 1):
        turn = bounds[r] + turns[r]
        for part in range(2):  # from the turn to the end, then from the start to the turn
            lo, hi = (turn, bounds[r + 1]) if part == 0 else (bounds[r], turn)
            for i in range(lo, hi):
                p = idle[i]
                queued[p] = True
                first[p] = push
                latest[p] = push
                enqueued[p] = t
                start[p] = push_start
                _enter(line_order, line_token, line_ready, tail, r, p, t, entry_token)


NEVER = np.iinfo(np.int64).max
"""A push id no proxy push carries."""


@numba.njit(cache=True)
def _carries_full(full_prefix: np.ndarray, first: int, latest: int) -> bool:
    return full_prefix[latest + 1] - full_prefix[first] > 0


@numba.njit(cache=True)
def pending(
    queued: np.ndarray,
    first: np.ndarray,
    connecting: np.ndarray,
    flagged: np.ndarray,
    again_first: np.ndarray,
    replicas: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per replica: the oldest push a proxy push it has not computed yet carries (``NEVER``: none),
    and whether one is a new connection. Pending are the ``queued`` proxies (carrying pushes from
    ``first`` on) and the ``flagged`` ones (asked for while being pushed, from ``again_first``)."""
    oldest = np.full(replicas, NEVER)
    joining = np.zeros(replicas, np.bool_)
    r = 0
    for p in range(len(queued)):  # in memory order: this runs over every proxy, event by event
        if queued[p] and first[p] < oldest[r]:
            oldest[r] = first[p]
        joining[r] |= connecting[p]
        r = r + 1 if r + 1 < replicas else 0
    for p in flagged:
        oldest[p % replicas] = min(oldest[p % replicas], again_first[p])
    return oldest, joining


@numba.njit(cache=True)
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
    """Per replica: whether a proxy push it has not computed yet (:func:`pending`: ``oldest``,
    ``joining``) carries a whole config (a new connection, or a merge of pushes ``first..latest``
    — ``again_first..again_latest`` for the flagged — with a full one: ``full_prefix[i]`` counts
    the full pushes before push ``i``) or a push from ``named`` on."""
    replicas = len(oldest)
    n = len(queued)
    last = len(full_prefix) - 2
    needs = joining.copy()
    for r in range(replicas):
        waiting = oldest[r] < NEVER
        needs[r] |= waiting and named >= oldest[r]
        if needs[r] or not waiting or not _carries_full(full_prefix, oldest[r], last):
            continue
        # A full push since the oldest: whether a pending merge includes it, proxy by proxy.
        for p in range(r, n, replicas):
            if queued[p] and _carries_full(full_prefix, first[p], latest[p]):
                needs[r] = True
                break
        for p in flagged:
            if p % replicas == r and not needs[r]:
                lo, hi = (first[p], latest[p]) if queued[p] else (again_first[p], again_latest[p])
                needs[r] = _carries_full(full_prefix, lo, hi)
    return needs


@numba.njit(cache=True)
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
    """Per replica: whether a proxy push it has not computed yet carries a whole config or a push
    from ``named`` on (:func:`depends_on`). A replica with a connection waiting (``joining_count``)
    does; for the others the bound ``oldest_bound`` (no pending proxy push carries an older push)
    decides most cases alone; else :func:`pending` recomputes it exactly, in place. Returns the
    answer and whether the bound was recomputed."""
    replicas = len(oldest_bound)
    last = len(full_prefix) - 2
    needs = np.zeros(replicas, np.bool_)
    decided = True
    for r in range(replicas):
        if joining_count[r] > 0:
            needs[r] = True
        elif oldest_bound[r] < NEVER and (
            named >= oldest_bound[r] or _carries_full(full_prefix, oldest_bound[r], last)
        ):
            decided = False
    if decided:
        return needs, False
    oldest, joining = pending(queued, first, connecting, flagged, again_first, replicas)
    oldest_bound[:] = oldest
    needs = depends_on(named, full_prefix, oldest, joining, queued, first, latest, flagged, again_first, again_latest)
    return needs, True


@numba.njit(cache=True)
def incremental_merges(
    proxies: np.ndarray,
    first: np.ndarray,
    latest: np.ndarray,
    connecting: np.ndarray,
    full_prefix: np.ndarray,
    proxy_class: np.ndarray,
    classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which proxy pushes to ``proxies`` are not incremental (a new connection, or a full push in
    their merge ``first..latest``); the distinct merges of the incremental ones (keys ``first *
    (pushes + 1) + latest``, ascending), and each incremental push's row of a table of merges by
    class: ``merge * classes + proxy_class`` (-1 for the others). Proxies queued together carry
    the same merge: the runs of equal keys are looked up once."""
    n = len(proxies)
    stride = len(full_prefix)  # pushes + 1
    other = np.zeros(n, np.bool_)
    keys = np.empty(n, np.int64)
    runs = np.empty(n, np.int64)
    count = 0
    previous = -1
    for i in range(n):
        p = proxies[i]
        if connecting[p] or _carries_full(full_prefix, first[p], latest[p]):
            other[i] = True
            keys[i] = -1
            continue
        keys[i] = first[p] * stride + latest[p]
        if keys[i] != previous:
            runs[count] = keys[i]
            count += 1
            previous = keys[i]
    merges = np.unique(runs[:count])
    variant = np.full(n, -1, np.int64)
    index = 0
    previous = -1
    for i in range(n):
        if other[i]:
            continue
        if keys[i] != previous:
            index = np.searchsorted(merges, keys[i])
            previous = keys[i]
        variant[i] = index * classes + proxy_class[proxies[i]]
    return other, merges, variant


@numba.njit(cache=True)
def union_sorted(ascending: np.ndarray, more: np.ndarray) -> np.ndarray:
    """The distinct values of ``ascending`` (distinct, ascending) and ``more``, ascending."""
    extra = np.sort(more)
    out = np.empty(len(ascending) + len(extra), np.int64)
    i = j = k = 0
    while i < len(ascending) or j < len(extra):
        if j == len(extra) or (i < len(ascending) and ascending[i] <= extra[j]):
            value = ascending[i]
            i += 1
        else:
            value = extra[j]
            j += 1
        if k == 0 or out[k - 1] != value:
            out[k] = value
            k += 1
    return out[:k]


@numba.njit(cache=True)
def line_append(
    order: np.ndarray,
    token: np.ndarray,
    ready: np.ndarray,
    tail: np.ndarray,
    proxies: np.ndarray,
    ready_s: np.ndarray,
    entry_token: np.ndarray,
) -> None:
    """Queue ``proxies`` (in this order, ready at ``ready_s``) at the back of their replicas'
    lines (row ``p % rows`` of ``order``, ``token`` and ``ready``, from ``tail`` on), each entry
    with the proxy's next token (an older entry of the proxy's is stale from then on). The rows
    must have room."""
    replicas = len(tail)
    for i in range(len(proxies)):
        p = proxies[i]
        _enter(order, token, ready, tail, p % replicas, p, ready_s[i], entry_token)


@numba.njit(cache=True)
def _live(p: int, entry: int, token: np.ndarray, queued: np.ndarray) -> bool:
    return entry == token[p] and queued[p]


@numba.njit(cache=True)
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
    """The next batch of each replica of ``which``: its live connections waiting in front (stale
    ones are dropped from the front for good), then its live entries among the next ``sizes[j]``
    raw ones of its line, past any run of stale entries (``head`` moves over them). An entry is
    live while its proxy is queued with the token it had when the entry was made.

    Returns the replicas with a batch (``taken``), their proxies and ready times one batch after
    another (batch ``j`` at ``offsets[j]:offsets[j + 1]``), how many of each came from the front,
    where each batch's scan of the line stopped (``raw_end``), and per proxy of the line (the front
    ones count 0) how many raw entries the batch takes up to and including it (``spans``)."""
    total = 0  # what the batches can hold: a batch takes at most its size from its line
    for j in range(len(which)):
        r = which[j]
        total += front_len[r] + max(min(sizes[j], tail[r] - head[r]), 0)
    proxies = np.empty(total, np.int64)
    batch_ready = np.empty(total)
    spans = np.empty(total, np.int64)
    taken = np.empty(len(which), np.int64)
    offsets = np.zeros(len(which) + 1, np.int64)
    fronts = np.empty(len(which), np.int64)
    raw_end = np.empty(len(which), np.int64)
    k = 0
    b = 0
    for j in range(len(which)):
        r = which[j]
        begin = k
        kept = 0
        for i in range(front_len[r]):
            p = front_order[r, i]
            if _live(p, front_token[r, i], entry_token, queued):
                front_order[r, kept] = p
                front_token[r, kept] = front_token[r, i]
                front_ready[r, kept] = front_ready[r, i]
                kept += 1
                proxies[k] = p
                batch_ready[k] = front_ready[r, i]
                spans[k] = 0
                k += 1
        front_len[r] = kept
        while True:
            end = min(tail[r], head[r] + sizes[j])
            for i in range(head[r], end):
                p = order[r, i]
                if _live(p, token[r, i], entry_token, queued):
                    proxies[k] = p
                    batch_ready[k] = ready[r, i]
                    spans[k] = i - head[r] + 1
                    k += 1
            if k > begin or end >= tail[r]:
                break
            head[r] = end  # only stale entries: skip them
        if k == begin:
            head[r] = end
            continue
        taken[b] = r
        fronts[b] = kept
        raw_end[b] = end
        offsets[b + 1] = k
        b += 1
    return taken[:b], offsets[: b + 1], proxies[:k], batch_ready[:k], fronts[:b], raw_end[:b], spans[:k]


@numba.njit(cache=True)
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
    """The first ``counts[j]`` proxies of each batch of :func:`live_batches` were dispatched: its
    connections leave the front, its line's head moves past the raw entries they took (past the
    whole scan when the whole batch went). Returns the replicas whose whole batch was dispatched
    and whose line holds more."""
    more = np.empty(len(taken), np.int64)
    m = 0
    for j in range(len(taken)):
        r = taken[j]
        count = counts[j]
        gone = min(count, fronts[j])
        if gone:
            n = front_len[r]
            for i in range(n - gone):
                front_order[r, i] = front_order[r, i + gone]
                front_token[r, i] = front_token[r, i + gone]
                front_ready[r, i] = front_ready[r, i + gone]
            front_len[r] = n - gone
        if count == offsets[j + 1] - offsets[j]:
            head[r] = raw_end[j]
            if head[r] < tail[r] or front_len[r] > 0:
                more[m] = r
                m += 1
        elif count > fronts[j]:
            head[r] += spans[offsets[j] + count - 1]
    return more[:m]


@numba.njit(cache=True)
def _add_state(
    sign: int,
    services: np.ndarray,
    eds_bytes: np.ndarray,
    additional: np.ndarray,
    alive: np.ndarray,
    eds_now: np.ndarray,
    eaa_now: np.ndarray,
    change: np.ndarray,
    extra: np.ndarray,
) -> None:
    for i in range(len(services)):
        s = services[i]
        for k in range(eds_now.shape[0]):
            eds_now[k, s] += sign * eds_bytes[k, i]
            eaa_now[k, s] += sign * additional[k, i]
            if alive[s]:
                change[k] += sign * eds_bytes[k, i]
                extra[k] += sign * additional[k, i]


@numba.njit(cache=True)
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
    """A workload's endpoints leave one membership state for another: subtract the old state's
    change and add the new one's (each per class and service of its ``services``, distinct:
    endpoint-set bytes, endpoint additional addresses) to the endpoint sets as they are now
    (``eds_now``, ``eaa_now``, per class and service) and, for the services ``alive``, to what
    every workload of a class sees (``class_bytes``, ``class_additional``: every workload sees
    every service)."""
    _add_state(-1, old_services, old_eds_bytes, old_additional, alive, eds_now, eaa_now, class_bytes, class_additional)
    _add_state(1, new_services, new_eds_bytes, new_additional, alive, eds_now, eaa_now, class_bytes, class_additional)


@numba.njit(cache=True)
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
    """What proxy pushes sending ``type_bytes`` per xDS type, of which istiod generates
    ``generated`` (the rest its cache serves), cost: istiod CPU (``per_proxy_s`` plus
    ``per_byte_s`` per generated byte), time on the egress (``bytes_per_s``), Envoy's apply time
    (``apply_ms`` per object of ``apply_counts``, plus ``apply_intercept_ms`` for a ``whole``
    first config), and istiod's time per xDS type (the per-proxy part shared among the types
    carried, the generation and the send of its own bytes)."""
    rows, types = type_bytes.shape
    cpu, send, apply = np.empty(rows), np.empty(rows), np.empty(rows)
    type_seconds = np.empty((rows, types))
    for v in range(rows):
        carried = 0
        made = 0.0
        sent = 0
        for t in range(types):
            carried += type_bytes[v, t] > 0
            made += generated[v, t]
            sent += type_bytes[v, t]
        share = per_proxy_s / max(carried, 1)
        for t in range(types):
            fixed = share if type_bytes[v, t] > 0 else 0.0
            type_seconds[v, t] = fixed + generated[v, t] * per_byte_s + type_bytes[v, t] / bytes_per_s
        cpu[v] = per_proxy_s + made * per_byte_s
        send[v] = sent / bytes_per_s
        objects = 0.0
        for j in range(len(apply_ms)):
            objects += apply_counts[v, j] * apply_ms[j]
        apply[v] = max(objects, 0.0) / 1e3 + (apply_intercept_ms / 1e3 if whole[v] else 0.0)
    return cpu, send, apply, type_seconds
