"""istiod's push queue and its fan-out to every proxy, vectorized over proxies.

The queue follows ``pushqueue.go`` (as :class:`dsim.pushsim.push_queue.PushQueue`, the per-proxy
reference the tests compare against): a proxy is never queued twice — a push for a waiting proxy
merges into its entry; a push for a proxy being pushed right now is kept and the proxy re-queued
when that push is done. Between two simulation events nothing merges, so every proxy dispatched
in that window is computed at once by :mod:`dsim.pushsim.lanes`; :meth:`FanOut.advance` commits
the window's dispatches before each event changes anything.

A proxy push carries the merge of the pushes ``first..latest`` (ids into :attr:`FanOut.pushes`):
only changed endpoint sets for incremental pushes, the whole config (state of the world) or
changed clusters and endpoint sets plus all listeners and routes (delta xDS) for full ones, and
the whole config for a newly connected proxy, generated directly (a connection's first request is
served at once: dsim puts it at the head of the line).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.pushsim.costs import PushCosts
from dsim.pushsim.lanes import LaneState, Schedule, advanced, schedule
from dsim.pushsim.metrics import Recorder
from dsim.pushsim.sizes import CDS, EDS, LDS, RDS, ConfigModel

INCREMENTAL, FULL, CONNECT = 0, 1, 2
MIN_BATCH = 64
MAX_BATCH = 1 << 16


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Push:
    """One push istiod started: what it carries to the proxies it reaches."""

    full: bool
    """A full push (every type) rather than an incremental (EDS) one."""
    services: np.ndarray
    """The services whose resources changed."""
    rescoped: np.ndarray
    """Namespaces whose Sidecar scope changed (their proxies get every type whole)."""
    start: float
    """When the oldest event it carries happened."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Limits:
    """istiod's knobs the fan-out obeys."""

    throttle: int
    """PILOT_PUSH_THROTTLE: concurrent proxy pushes."""
    cores: int
    """CPU cores (GOMAXPROCS)."""
    delta_xds: bool
    """Delta xDS: full pushes resend only changed clusters and endpoint sets."""
    max_message_bytes: int
    """Largest message a proxy accepts (gRPC's 4 MiB default)."""


class FanOut:
    """Proxy state, the push queue, and the dispatcher's lanes, for ids ``0..proxies-1``."""

    def __init__(
        self,
        *,
        proxy_workload: np.ndarray,
        replica: int = 0,
        replicas: int = 1,
        model: ConfigModel,
        costs: PushCosts,
        limits: Limits,
        recorder: Recorder,
        rotation: np.random.Generator,
    ) -> None:
        # This replica serves proxies replica, replica + replicas, ...; arrays hold only those.
        self.replica, self.replicas = replica, replicas
        self.proxy_workload = proxy_workload[replica::replicas]
        n = len(self.proxy_workload)
        self.model = model
        self.costs = costs
        self.limits = limits
        self.recorder = recorder
        self.rotation = rotation
        self.lanes = LaneState.idle(limits.throttle, limits.cores)
        self.pushes: list[Push] = []
        self._full_prefix = np.zeros(1024, np.int64)  # pushes before id i that were full
        self._last_push_of = np.full(len(model.source), -1, np.int64)  # per service: last push naming it
        self.connected = np.zeros(n, bool)
        self.queued = np.zeros(n, bool)
        self.connecting = np.zeros(n, bool)
        self.first = np.zeros(n, np.int64)
        self.latest = np.zeros(n, np.int64)
        self.enqueued = np.zeros(n)
        self.start = np.zeros(n)
        self.busy_until = np.full(n, -np.inf)
        self.envoy_free = np.zeros(n)
        self.again_first = np.full(n, -1, np.int64)
        self.again_latest = np.zeros(n, np.int64)
        self.again_start = np.zeros(n)
        self.token = np.zeros(n, np.int64)
        self.warm = np.ones(len(model.workload_class), bool)
        self._order = np.zeros(1024, np.int64)
        self._order_token = np.zeros(1024, np.int64)
        self._order_ready = np.zeros(1024)
        self._head = 0
        self._tail = 0
        self._front: list[tuple[int, int, float]] = []
        self._spans = np.zeros(0, np.int64)
        self._raw_end = 0
        self._advanced_to = -np.inf
        self._again = np.zeros(0, np.int64)
        self._rate = 1000.0  # dispatches per second, to size the next batch

    # -- the queue ---------------------------------------------------------------------------------
    def _append(self, proxies: np.ndarray, ready: np.ndarray) -> None:
        need = self._tail + len(proxies)
        if need > len(self._order):
            live = self._tail - self._head
            size = max(2 * (live + len(proxies)), 1024)
            for name in ("_order", "_order_token", "_order_ready"):
                old = getattr(self, name)
                fresh = np.zeros(size, old.dtype)
                fresh[:live] = old[self._head : self._tail]
                setattr(self, name, fresh)
            self._tail, self._head = live, 0
        end = self._tail + len(proxies)
        self.token[proxies] += 1
        self._order[self._tail : end] = proxies
        self._order_token[self._tail : end] = self.token[proxies]
        self._order_ready[self._tail : end] = ready
        self._tail = end

    def _enqueue(self, proxies: np.ndarray, t: np.ndarray | float, push: int, start: float | np.ndarray) -> None:
        self.queued[proxies] = True
        self.first[proxies] = push
        self.latest[proxies] = push
        self.enqueued[proxies] = t
        self.start[proxies] = start

    def queue_length(self) -> int:
        """Proxies waiting (the push queue's length)."""
        return int(self.queued.sum())

    # -- events -------------------------------------------------------------------------------------
    def push(self, t: float, push: Push, proxies: np.ndarray) -> int:
        """Enqueue ``push`` for every connected proxy of ``proxies`` (a mask over all proxy
        ids); returns how many of this replica's it reached."""
        proxies = proxies[self.replica :: self.replicas]
        pid = len(self.pushes)
        self.pushes.append(push)
        if pid + 2 > len(self._full_prefix):
            self._full_prefix = np.concatenate([self._full_prefix, np.zeros(len(self._full_prefix) + 2, np.int64)])
        self._full_prefix[pid + 1] = self._full_prefix[pid] + int(push.full)
        if len(push.services):
            top = int(push.services.max()) + 1
            if top > len(self._last_push_of):
                grown = np.full(max(top, 2 * len(self._last_push_of)), -1, np.int64)
                grown[: len(self._last_push_of)] = self._last_push_of
                self._last_push_of = grown
            self._last_push_of[push.services] = pid
        targets = self.connected & proxies
        waiting = targets & self.queued
        self.latest[waiting] = pid
        self.start[waiting] = np.minimum(self.start[waiting], push.start)
        busy = targets & ~self.queued & (self.busy_until > t)
        fresh = busy & (self.again_first < 0)
        self.again_first[fresh] = pid
        self.again_start[fresh] = push.start
        self.again_latest[busy] = pid
        self.again_start[busy] = np.minimum(self.again_start[busy], push.start)
        self._again = np.union1d(self._again, np.flatnonzero(fresh))
        idle = np.flatnonzero(targets & ~self.queued & ~busy)
        if len(idle):
            # Istio walks its connections map (random order); a seeded rotation stands in for it.
            idle = np.roll(idle, -int(self.rotation.integers(len(idle))))
            self._enqueue(idle, t, pid, push.start)
            self._append(idle, np.full(len(idle), t))
        return int(targets.sum())

    def depends_on(self, services: np.ndarray) -> bool:
        """Whether a proxy push not yet computed carries a whole config (a full push or a new
        connection) or the endpoint set of one of ``services`` (changed by a push it merges)."""
        flagged = self._again[self.again_first[self._again] >= 0]
        queued = np.flatnonzero(self.queued)
        if len(queued) == 0 and len(flagged) == 0:
            return False
        if self.connecting[queued].any():
            return True
        firsts = np.concatenate([self.first[queued], self.again_first[flagged]])
        latest = np.concatenate([self.latest[queued], self.again_latest[flagged]])
        if (self._full_prefix[latest + 1] - self._full_prefix[firsts] > 0).any():
            return True
        seen = self._last_push_of[services[services < len(self._last_push_of)]]
        return bool(len(seen) and seen.max() >= firsts.min())

    def local(self, proxy: int) -> int:
        """This replica's index of a proxy id it serves."""
        return proxy // self.replicas

    def ids(self, local: np.ndarray) -> np.ndarray:
        """Proxy ids of this replica's indices."""
        return local * self.replicas + self.replica

    def connect(self, t: float, proxy_id: int) -> None:
        """``proxy_id`` connected: its first full config is generated next, ahead of the queue."""
        proxy = self.local(proxy_id)
        self.connected[proxy] = True
        self.connecting[proxy] = True
        self._enqueue(np.array([proxy]), t, len(self.pushes) - 1, t)
        self.token[proxy] += 1
        self._front.append((proxy, int(self.token[proxy]), t))

    def disconnect(self, proxy_id: int) -> None:
        """``proxy_id`` went away: drop what was waiting for it."""
        proxy = self.local(proxy_id)
        self.connected[proxy] = False
        self.queued[proxy] = False
        self.connecting[proxy] = False
        self.again_first[proxy] = -1

    def restart(self) -> np.ndarray:
        """istiod restarts: every connection drops, caches go cold; returns the proxies that were connected."""
        was = self.ids(np.flatnonzero(self.connected))
        for proxy in was.tolist():
            self.disconnect(proxy)
        self.warm[:] = False
        return was

    # -- dispatching -------------------------------------------------------------------------------
    def _requeue(self, until: float) -> None:
        """Proxies asked for while being pushed re-join the queue when that push is done."""
        flagged = self._again[self.again_first[self._again] >= 0]
        due = flagged[self.busy_until[flagged] < until]
        self._again = flagged[self.busy_until[flagged] >= until]
        again = due[self.connected[due]]
        again = again[np.argsort(self.busy_until[again], kind="stable")]
        if len(again):
            ready = self.busy_until[again]
            self.queued[again] = True
            self.first[again] = self.again_first[again]
            self.latest[again] = self.again_latest[again]
            self.enqueued[again] = ready
            self.start[again] = self.again_start[again]
            self._append(again, ready)
        self.again_first[due] = -1

    def _batch(self, size: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The connections waiting, then up to ``size`` raw queue entries that are still live:
        their proxies, ready times, and how many came from the front. ``_spans[i]`` is how many raw
        entries the first ``i + 1`` live queue entries take; ``_raw_end`` where the scan stopped."""
        self._front = [(p, tok, r) for p, tok, r in self._front if self.token[p] == tok and self.queued[p]]
        front = [(p, r) for p, _, r in self._front]
        raw_end = min(self._tail, self._head + size)
        proxies = self._order[self._head : raw_end]
        live = (self._order_token[self._head : raw_end] == self.token[proxies]) & self.queued[proxies]
        spans = np.flatnonzero(live) + 1
        proxies = np.concatenate([np.array([p for p, _ in front], np.int64), proxies[live]])
        ready = np.concatenate([np.array([r for _, r in front]), self._order_ready[self._head : raw_end][live]])
        self._spans = spans
        self._raw_end = raw_end
        return proxies, ready, len(front)

    def advance(self, until: float) -> None:
        """Commit every proxy push dispatched before ``until``."""
        if until <= self._advanced_to:
            return  # anything enqueued since is ready at ``until`` or later
        if until < np.inf:
            self._advanced_to = until
        self._requeue(until)
        while True:
            # The next dispatch waits for the dispatcher and for the slot T pushes back; when
            # that is already past ``until`` there is nothing to compute.
            if max(self.lanes.dispatched, float(self.lanes.slots[0])) >= until:
                return
            size = int(np.clip(1.5 * self._rate * max(until - self.lanes.dispatched, 0.0), MIN_BATCH, MAX_BATCH))
            proxies, ready, front = self._batch(size)
            if len(proxies) == 0:
                self._head = self._raw_end  # only stale entries: skip them
                if self._head >= self._tail:
                    return
                continue
            work = self._work(proxies)
            plan = schedule(self.lanes, ready, work.cpu, work.send)
            count = int(np.searchsorted(plan.dispatch, until, side="left"))
            if count:
                span = plan.dispatch[count - 1] - self.lanes.dispatched
                if span > 0:
                    self._rate = count / span
                self._commit(proxies[:count], plan, work, count)
                self.lanes = advanced(self.lanes, plan, count)
            del self._front[: min(count, front)]
            if count < len(proxies):  # the next dispatch is at or after ``until``
                if count > front:
                    self._head += int(self._spans[count - front - 1])
                return
            self._head = self._raw_end
            if self._head >= self._tail and not self._front:
                return

    def drain(self) -> None:
        """Run the queue dry."""
        while self.queued.any() or (self.again_first >= 0).any():
            self._advanced_to = -np.inf
            self.advance(np.inf)

    # -- what each proxy push costs -----------------------------------------------------------------
    def _work(self, proxies: np.ndarray) -> _Work:
        model, costs = self.model, self.costs
        workloads = self.proxy_workload[proxies]
        first, latest = self.first[proxies], self.latest[proxies]
        prefix = self._full_prefix
        full = prefix[latest + 1] - prefix[first] > 0
        kind = np.where(self.connecting[proxies], CONNECT, np.where(full, FULL, INCREMENTAL))
        type_bytes = np.zeros((len(proxies), 4), np.int64)
        generated = np.zeros((len(proxies), 4))
        apply_counts = np.zeros((len(proxies), 3), np.int64)
        whole = kind == CONNECT
        type_bytes[whole] = model.bytes[workloads[whole]]
        apply_counts[whole] = model.apply_counts[workloads[whole]]
        generated[whole, LDS] = type_bytes[whole, LDS]
        cold = whole & ~self.warm[workloads]
        if cold.any():  # the first proxy of a workload after a restart fills the caches
            rows = np.flatnonzero(cold)
            _, firsts = np.unique(workloads[rows], return_index=True)
            rows = rows[firsts]
            cached = np.ix_(rows, np.array([CDS, EDS, RDS]))
            generated[cached] = type_bytes[cached]
        merged = ~whole
        if merged.any():
            rows = np.flatnonzero(merged)
            keys = first[rows] * (len(self.pushes) + 1) + latest[rows]
            for key in np.unique(keys).tolist():
                mine = rows[keys == key]
                lo, hi = divmod(key, len(self.pushes) + 1)
                self._merged(mine, workloads[mine], lo, hi, kind[mine[0]] == FULL, type_bytes, generated, apply_counts)
        cpu = costs.per_proxy_s + generated.sum(axis=1) * costs.per_byte_s
        send = type_bytes.sum(axis=1) / costs.bytes_per_s
        carried = np.maximum((type_bytes > 0).sum(axis=1), 1)
        type_seconds = (
            (type_bytes > 0) * (costs.per_proxy_s / carried)[:, None]
            + generated * costs.per_byte_s
            + type_bytes / costs.bytes_per_s
        )
        return _Work(
            kind=kind,
            cpu=cpu,
            send=send,
            apply=costs.apply_s(apply_counts, whole=whole),
            type_bytes=type_bytes,
            type_seconds=type_seconds,
        )

    def _merged(
        self,
        rows: np.ndarray,
        workloads: np.ndarray,
        lo: int,
        hi: int,
        full: bool,
        type_bytes: np.ndarray,
        generated: np.ndarray,
        apply_counts: np.ndarray,
    ) -> None:
        """Fill the rows of proxies carrying the merge of pushes ``lo..hi``."""
        pushes = self.pushes[lo : hi + 1]
        services = np.unique(np.concatenate([p.services for p in pushes]))
        size, counts = self.model.changes_seen(services, workloads)
        if not full:
            # An endpoint update re-creates no cluster: of the calibrated apply terms only the
            # endpoints' additional addresses apply (the rest of an EDS update's cost was not
            # measured apart from cluster creation, so it is not counted).
            apply_counts[rows, 2] = counts[:, 2]
            type_bytes[rows, EDS] = size[:, EDS]
            return
        apply_counts[rows] = counts
        whole = self.model.bytes[workloads]
        rescoped = np.isin(self.model.workload_namespace[workloads], np.concatenate([p.rescoped for p in pushes]))
        resend_all = rescoped | (not self.limits.delta_xds)
        type_bytes[rows] = np.where(resend_all[:, None], whole, size)
        type_bytes[rows, LDS] = whole[:, LDS]
        type_bytes[rows, RDS] = whole[:, RDS]
        generated[rows, LDS] = whole[:, LDS]  # listeners are never cached

    def _commit(self, proxies: np.ndarray, plan: Schedule, work: _Work, count: int) -> None:
        done = plan.done[:count]
        kind = work.kind[:count]
        apply = work.apply[:count]
        converged = np.maximum(done, self.envoy_free[proxies]) + apply
        self.envoy_free[proxies] = converged
        self.busy_until[proxies] = done
        self.queued[proxies] = False
        connecting = self.connecting[proxies]
        self.connecting[proxies] = False
        self.warm[self.proxy_workload[proxies[connecting]]] = True
        type_bytes = work.type_bytes[:count]
        whole = kind != INCREMENTAL
        over = whole & (type_bytes > self.limits.max_message_bytes).any(axis=1)
        self.recorder.record(
            proxy=self.ids(proxies),
            kind=kind,
            first=np.where(connecting, -1, self.first[proxies]),
            latest=np.where(connecting, -1, self.latest[proxies]),
            enqueued=self.enqueued[proxies],
            start=self.start[proxies],
            dispatch=plan.dispatch[:count],
            converged=converged,
            type_bytes=type_bytes,
            type_seconds=work.type_seconds[:count],
            over_limit=over,
        )
        self.recorder.add_cpu(plan.cpu_start[:count], work.cpu[:count])


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Work:
    kind: np.ndarray
    cpu: np.ndarray
    send: np.ndarray
    apply: np.ndarray
    type_bytes: np.ndarray
    type_seconds: np.ndarray
