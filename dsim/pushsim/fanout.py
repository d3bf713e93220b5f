"""istiod's push queues and their fan-out to every proxy, over proxy arrays and replicas.

Each istiod replica serves its share of the proxies (proxy ``p`` is served by replica
``p % replicas``) with its own queue, throttle, cores and egress. A queue follows ``pushqueue.go``
(as :class:`dsim.pushsim.reference.PushQueue`, the per-proxy reference the tests compare
against): a proxy is never queued twice — a push for a waiting proxy merges into its entry; a push
for a proxy being pushed right now is kept and the proxy re-queued when that push is done. Between
two simulation events nothing merges, so every proxy push dispatched in that window is computed at
once, for all the replicas concerned together (the dispatcher's recurrences push by push,
:func:`dsim.pushsim.kernels.scan`); :meth:`FanOut.advance` commits the window's dispatches before
each event changes anything. A connection's first request is served at once: dsim puts it at the
head of its replica's line. The loops over proxy arrays are compiled kernels
(:mod:`dsim.pushsim.kernels`), or their NumPy twins (:mod:`dsim.pushsim.reference`) with
``DSIM_PUSHSIM_NUMPY=1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.costs import PushCosts
from dsim.pushsim.hotpath import hot_loops
from dsim.pushsim.kernels import NEVER
from dsim.pushsim.lanes import LaneState
from dsim.pushsim.metrics import Recorder
from dsim.pushsim.pushlog import Push, PushLog
from dsim.pushsim.work import INCREMENTAL, Pricer, Work

LOOKAHEAD = 1.2  # batch size over the expected dispatches in the window: a second pass costs more than a few spare rows
MIN_BATCH = 64
MAX_BATCH = 1 << 16


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


class _Line:
    """One replica's queue in arrival order. An entry records the proxy's token when it was
    queued; a proxy pushed, merged away or dropped since has a newer token (or is no longer
    queued), so its old entry is skipped. Connections wait in ``front``, ahead of the line."""

    def __init__(self, hot: ModuleType) -> None:
        self._hot = hot
        self.order = np.zeros(1024, np.int64)
        self.token = np.zeros(1024, np.int64)
        self.ready = np.zeros(1024)
        self.head = 0
        self.tail = 0
        self.front: list[tuple[int, int, float]] = []
        self.spans = np.zeros(0, np.int64)
        self.raw_end = 0

    def append(self, proxies: np.ndarray, tokens: np.ndarray, ready: np.ndarray) -> None:
        need = self.tail + len(proxies)
        if need > len(self.order):
            live = self.tail - self.head
            size = max(2 * (live + len(proxies)), 1024)
            for name in ("order", "token", "ready"):
                old = getattr(self, name)
                fresh = np.zeros(size, old.dtype)
                fresh[:live] = old[self.head : self.tail]
                setattr(self, name, fresh)
            self.tail, self.head = live, 0
        end = self.tail + len(proxies)
        self.order[self.tail : end] = proxies
        self.token[self.tail : end] = tokens
        self.ready[self.tail : end] = ready
        self.tail = end

    def batch(self, size: int, token: np.ndarray, queued: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The connections waiting, then up to ``size`` raw entries that are still live: their
        proxies, ready times, and how many came from the front. ``spans[i]`` is how many raw entries
        the first ``i + 1`` live ones take; ``raw_end`` where the scan stopped."""
        self.front = [(p, tok, r) for p, tok, r in self.front if token[p] == tok and queued[p]]
        raw_end = min(self.tail, self.head + size)
        proxies, ready, self.spans = self._hot.live_entries(
            self.order, self.token, self.ready, self.head, raw_end, token, queued
        )
        self.raw_end = raw_end
        if self.front:
            proxies = np.concatenate([np.array([p for p, _, _ in self.front], np.int64), proxies])
            ready = np.concatenate([np.array([r for _, _, r in self.front]), ready])
        return proxies, ready, len(self.front)

    def next_batch(self, size: int, token: np.ndarray, queued: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
        """:meth:`batch`, past any run of stale entries; None when nothing live is left."""
        proxies, ready, front = self.batch(size, token, queued)
        while len(proxies) == 0 and self.raw_end < self.tail:  # only stale entries: skip them
            self.head = self.raw_end
            proxies, ready, front = self.batch(size, token, queued)
        if len(proxies) == 0:
            self.head = self.raw_end
            return None
        return proxies, ready, front

    def consume(self, count: int, front: int, whole_batch: bool) -> None:
        """``count`` proxies of the last batch (``front`` of them connections) were dispatched."""
        del self.front[: min(count, front)]
        if whole_batch:
            self.head = self.raw_end
        elif count > front:
            self.head += int(self.spans[count - front - 1])

    def empty(self) -> bool:
        return self.head >= self.tail and not self.front


class FanOut:
    """Proxy state, the replicas' push queues and lanes, for proxy ids ``0..len(proxy_workload)-1``."""

    def __init__(
        self,
        *,
        proxy_workload: np.ndarray,
        replicas: int,
        model: ConfigModel,
        costs: PushCosts,
        limits: Limits,
        recorder: Recorder,
        rotations: list[np.random.Generator],
    ) -> None:
        n = len(proxy_workload)
        self.proxy_workload = proxy_workload
        self.replicas = replicas
        self.replica_of = np.arange(n) % replicas
        self.model = model
        self.costs = costs
        self.limits = limits
        self.recorder = recorder
        self.rotations = rotations
        self.log = PushLog(len(model.source))
        self.pricer = Pricer(model, costs, self.log, delta_xds=limits.delta_xds)
        self.lanes = LaneState.idle(limits.throttle, limits.cores, replicas=replicas)
        self._hot = hot_loops()
        self.lines = [_Line(self._hot) for _ in range(replicas)]
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
        self.warm = np.ones(replicas * len(model.workload_class), bool)  # per replica and workload: caches filled
        self.cache_of = self.replica_of * len(model.workload_class) + proxy_workload
        """Per proxy: its replica's cache entry for its workload (an index into :attr:`warm`)."""
        self.proxy_class = model.workload_class[proxy_workload]
        """Per proxy: its workload's proxy family class (a row of the config model's class arrays)."""
        self._again = np.zeros(0, np.int64)  # proxies asked for while being pushed (may hold stale ids)
        self._advanced_to = np.full(replicas, -np.inf)
        self._rate = np.full(replicas, 1000.0)  # dispatches per second, to size the next batch
        # Per replica, a bound on what is pending, kept up without a pass over the proxies: no
        # pending proxy push carries a push older than ``_oldest_bound``, none is a connection
        # unless ``_joining_bound``. Commits only raise the truth; pushes and connections lower the bound.
        self._oldest_bound = np.full(replicas, NEVER)
        self._joining_bound = np.zeros(replicas, bool)

    # -- the queue ---------------------------------------------------------------------------------
    def _append(self, proxies: np.ndarray, ready: np.ndarray) -> None:
        """Queue ``proxies`` (in this order, ready at ``ready``) at the back of their replicas' lines."""
        if self.replicas == 1:
            self._append_to(0, proxies, ready)
            return
        replica = self.replica_of[proxies]
        for r in np.unique(replica).tolist():
            mine = replica == r
            self._append_to(r, proxies[mine], ready[mine])

    def _append_to(self, replica: int, proxies: np.ndarray, ready: np.ndarray) -> None:
        self.token[proxies] += 1  # any older entry of these proxies is stale from now on
        self.lines[replica].append(proxies, self.token[proxies], ready)

    def _enqueue(self, proxies: np.ndarray, t: np.ndarray | float, push: int, start: float | np.ndarray) -> None:
        self.queued[proxies] = True
        self.first[proxies] = push
        self.latest[proxies] = push
        self.enqueued[proxies] = t
        self.start[proxies] = start

    def queue_length(self) -> int:
        """Proxies waiting (in all the push queues)."""
        return int(np.count_nonzero(self.queued))

    # -- events -------------------------------------------------------------------------------------
    def push(self, t: float, push: Push, seen: np.ndarray) -> int:
        """Enqueue ``push`` for every connected proxy of the workloads ``seen`` (a mask over
        workloads); returns how many it reached. Call :meth:`advance` to ``t`` first."""
        pid = self.log.add(push)
        np.minimum(self._oldest_bound, pid, out=self._oldest_bound)  # what it merges into is older
        targets, fresh, idle, bounds = self._hot.reach(
            seen, self.proxy_workload, self.connected, self.queued, self.busy_until, t, pid, push.start,
            self.latest, self.start, self.again_first, self.again_latest, self.again_start, self.replicas,
        )  # fmt: skip
        self._again = np.union1d(self._again, fresh)
        # Istio walks its connections map (random order); a seeded rotation stands in for it.
        sizes = np.diff(bounds).tolist()
        turns = np.array([int(rot.integers(n)) if n else 0 for rot, n in zip(self.rotations, sizes, strict=True)])
        order, tokens = self._hot.enqueue(
            idle, bounds, turns, t, pid, push.start, self.queued, self.first, self.latest, self.enqueued, self.start,
            self.token,
        )  # fmt: skip
        for r, n in enumerate(sizes):
            if n:
                mine = slice(bounds[r], bounds[r + 1])
                self.lines[r].append(order[mine], tokens[mine], np.full(n, t))
        return int(targets)

    def depends_on(self, services: np.ndarray) -> np.ndarray:
        """The replicas with a proxy push not yet computed that carries a whole config (a full push
        or a new connection) or the endpoint set of one of ``services`` (changed by a push it merges)."""
        named = self.log.last_naming(services)
        # The bounds decide most events alone: no replica whose bound is after the last push naming
        # a service, and before no full push, can have a pending proxy push that carries either.
        bound, last = self._oldest_bound, len(self.log) - 1
        waiting = bound < NEVER
        if (
            not self._joining_bound.any()
            and not (waiting & ((named >= bound) | self.log.carries_full(np.where(waiting, bound, 0), last))).any()
        ):
            return np.zeros(0, np.int64)
        flagged = self._flagged()
        oldest, joining = self._hot.pending(
            self.queued, self.first, self.connecting, flagged, self.again_first, self.replicas
        )
        self._oldest_bound, self._joining_bound = oldest.copy(), joining.copy()
        needs = self._hot.depends_on(
            named, self.log.full_prefix, oldest, joining, self.queued, self.first, self.latest, flagged,
            self.again_first, self.again_latest,
        )  # fmt: skip
        return np.flatnonzero(needs)

    def connect(self, t: float, proxy: int) -> None:
        """``proxy`` connected: its first full config is generated next, ahead of its replica's queue."""
        r = proxy % self.replicas
        self._oldest_bound[r] = min(self._oldest_bound[r], len(self.log) - 1)
        self._joining_bound[r] = True
        self.connected[proxy] = True
        self.connecting[proxy] = True
        self._enqueue(np.array([proxy]), t, len(self.log) - 1, t)
        self.token[proxy] += 1
        self.lines[proxy % self.replicas].front.append((proxy, int(self.token[proxy]), t))

    def disconnect(self, proxy: int) -> None:
        """``proxy`` went away: drop what was waiting for it."""
        self._drop(np.array([proxy]))

    def restart(self) -> np.ndarray:
        """Every istiod replica restarts: every connection drops, caches go cold; returns the
        proxies that were connected, replica by replica."""
        was = np.concatenate([self._members(self.connected, r) for r in range(self.replicas)])
        self._drop(was)
        self.warm[:] = False
        return was

    def _drop(self, proxies: np.ndarray) -> None:
        self.connected[proxies] = False
        self.queued[proxies] = False
        self.connecting[proxies] = False
        self.again_first[proxies] = -1

    def _members(self, mask: np.ndarray, replica: int) -> np.ndarray:
        """Ids of the proxies of ``replica`` where ``mask`` (over all proxy ids) holds, ascending."""
        return np.flatnonzero(mask[replica :: self.replicas]) * self.replicas + replica

    # -- dispatching -------------------------------------------------------------------------------
    def _flagged(self) -> np.ndarray:
        """Proxies asked for while being pushed (distinct, ascending)."""
        self._again = self._again[self.again_first[self._again] >= 0]
        return self._again

    def _requeue(self, until: float, replicas: np.ndarray) -> None:
        """Proxies of ``replicas`` asked for while being pushed re-join the queue when that push is done."""
        flagged = self._flagged()
        due = self.busy_until[flagged] < until
        if len(replicas) < self.replicas:
            chosen = np.zeros(self.replicas, bool)
            chosen[replicas] = True
            due &= chosen[self.replica_of[flagged]]
        if not due.any():
            return
        self._again = flagged[~due]
        due = flagged[due]
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

    def advance(self, until: float, replicas: Sequence[int] | np.ndarray | None = None) -> None:
        """Commit every proxy push ``replicas`` (default: all) dispatch before ``until``."""
        which = np.arange(self.replicas) if replicas is None else np.asarray(replicas, np.int64)
        which = which[until > self._advanced_to[which]]  # else: anything enqueued since is ready at ``until`` or later
        if len(which) == 0:
            return
        if until < np.inf:
            self._advanced_to[which] = until
        self._requeue(until, which)
        while len(which):
            # A replica's next dispatch waits for its dispatcher and for the slot T pushes back;
            # when that is already past ``until`` there is nothing to compute.
            dispatched = np.asarray(self.lanes.dispatched)
            which = which[np.maximum(dispatched[which], self.lanes.slots[which, 0]) < until]
            batches = []
            for r in which.tolist():
                expected = LOOKAHEAD * self._rate[r] * max(until - float(dispatched[r]), 0.0)
                found = self.lines[r].next_batch(int(np.clip(expected, MIN_BATCH, MAX_BATCH)), self.token, self.queued)
                if found is not None:
                    batches.append((r, *found))
            if not batches:
                return
            which = self._dispatch(batches, until)

    def _dispatch(self, batches: list[tuple[int, np.ndarray, np.ndarray, int]], until: float) -> np.ndarray:
        """Schedule the replicas' batches together, commit what is dispatched before ``until``;
        returns the replicas whose whole batch was dispatched (they may have more)."""
        which = np.array([r for r, _, _, _ in batches], np.int64)
        lengths = np.array([len(p) for _, p, _, _ in batches], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        rows = batches[0][1] if len(batches) == 1 else np.concatenate([p for _, p, _, _ in batches])
        ready = batches[0][2] if len(batches) == 1 else np.concatenate([r for _, _, r, _ in batches])
        work = self._work(rows)
        lanes = self.lanes
        assert isinstance(lanes.dispatched, np.ndarray)  # one row per replica
        assert isinstance(lanes.link, np.ndarray)
        before = lanes.dispatched[which]
        dispatch, cpu_start, done = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
        counts = self._hot.scan(
            lanes.slots, lanes.cores, lanes.dispatched, lanes.link, which, offsets,
            ready, work.cpu, work.send, until, dispatch, cpu_start, done,
        )  # fmt: skip
        spans = lanes.dispatched[which] - before  # > 0 only where some dispatched
        rated = spans > 0
        self._rate[which[rated]] = counts[rated] / spans[rated]
        if counts.any():
            self._commit(rows, offsets, counts, work, dispatch, cpu_start, done)
        whole = counts == lengths
        for (r, _, _, front), count, all_of_it in zip(batches, counts.tolist(), whole.tolist(), strict=True):
            self.lines[r].consume(count, front, all_of_it)
        return which[whole & np.array([not self.lines[r].empty() for r in which.tolist()], bool)]

    def drain(self) -> None:
        """Run the queues dry."""
        while self.queued.any() or (self.again_first >= 0).any():
            self._advanced_to[:] = -np.inf
            self.advance(np.inf)

    # -- what each proxy push costs -----------------------------------------------------------------
    def _work(self, proxies: np.ndarray) -> Work:
        if self.pricer.by_class:
            incremental, merges, variant = self._hot.incremental_merges(
                proxies, self.first, self.latest, self.connecting, self.log.full_prefix, self.proxy_class,
                self.pricer.classes,
            )  # fmt: skip
            if incremental:
                return Work(variants=self.pricer.incremental(merges), variant=variant)
        return self.pricer.price(
            self.proxy_workload[proxies],
            self.first[proxies],
            self.latest[proxies],
            self.connecting[proxies],
            self.cache_of[proxies],
            self.warm,
        )

    def _commit(
        self,
        proxies: np.ndarray,
        offsets: np.ndarray,
        counts: np.ndarray,
        work: Work,
        dispatch: np.ndarray,
        cpu_start: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """Commit the dispatched prefix (``counts``) of each replica's batch (``offsets``)."""
        variants = work.variants
        ints, floats, fill, base = self.recorder.buffer(int(counts.sum()))
        fill = self._hot.commit(
            proxies, offsets, counts, work.variant, dispatch, cpu_start, done, variants.cpu, variants.apply, base,
            self.cache_of, self.envoy_free, self.busy_until, self.queued, self.connecting, self.warm,
            self.first, self.latest, self.enqueued, self.start, ints, floats, fill,
        )  # fmt: skip
        over = (variants.kind != INCREMENTAL) & (variants.type_bytes > self.limits.max_message_bytes).any(axis=1)
        self.recorder.committed(fill, variants, over)
