"""The istiod replicas' push queues in arrival order, as arrays (``pushqueue.go``'s list): row
``r`` of every array is replica ``r``'s line.

A proxy is never queued twice: an entry records the proxy's token (:attr:`ProxyTable.entry_token`)
when it was made, and an entry whose proxy was pushed, dropped or queued again since is stale and
skipped. New connections wait in front, ahead of the line: istiod serves a connection's first
request at once. All the replicas' lines are one set of arrays so that one compiled call
(:func:`dsim.pushsim.kernels.line_append`, :func:`dsim.pushsim.kernels.live_batches`) serves
every replica an event concerns.
"""

from __future__ import annotations

import dataclasses
import itertools
from types import ModuleType

import numpy as np

from dsim.pushsim.proxytable import ProxyTable

_INITIAL = 1024


def _moved(old: np.ndarray, live: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """``old``'s rows' entries ``starts[r]:starts[r] + live[r]`` moved to the start of their rows,
    in place when the rows are ``size`` long already, else into new rows ``size`` long."""
    fresh = old if old.shape[1] == size else np.empty((old.shape[0], size), old.dtype)
    for r, (start, n) in enumerate(zip(starts.tolist(), live.tolist(), strict=True)):
        if start or fresh is not old:
            fresh[r, :n] = old[r, start : start + n]  # NumPy copies overlapping slices as if buffered
    return fresh


class QueueLines:
    """Every replica's queue: entries ``head[r]:tail[r]`` of row ``r`` (proxy, token when queued,
    ready time), and its connections waiting in front (``front_len[r]`` of them)."""

    def __init__(self, replicas: int, table: ProxyTable, hot: ModuleType) -> None:
        self.table = table
        self._hot = hot
        self.order = np.zeros((replicas, _INITIAL), np.int64)
        self.token = np.zeros((replicas, _INITIAL), np.int64)
        self.ready = np.zeros((replicas, _INITIAL))
        self.head = np.zeros(replicas, np.int64)
        self.tail = np.zeros(replicas, np.int64)
        self.front_order = np.zeros((replicas, 16), np.int64)
        self.front_token = np.zeros((replicas, 16), np.int64)
        self.front_ready = np.zeros((replicas, 16))
        self.front_len = np.zeros(replicas, np.int64)
        self._tail_bound = 0  # no row's tail is past it: checking room needs no pass over the rows

    def reserve(self, extra: int) -> None:
        """Room for ``extra`` more entries in every row: the rows' live entries move to their
        starts, in rows twice as long as they need when that is more than they have."""
        capacity = self.order.shape[1]
        if self._tail_bound + extra <= capacity:
            self._tail_bound += extra
            return
        self._tail_bound = int(self.tail.max())  # the bound is loose: is there room after all?
        if self._tail_bound + extra <= capacity:
            self._tail_bound += extra
            return
        live = self.tail - self.head
        need = int(live.max()) + extra
        size = capacity if 2 * need <= capacity else max(2 * need, _INITIAL)
        self.order = _moved(self.order, live, self.head, size)
        self.token = _moved(self.token, live, self.head, size)
        self.ready = _moved(self.ready, live, self.head, size)
        self.head[:] = 0
        self.tail[:] = live
        self._tail_bound = need

    def append(self, proxies: np.ndarray, ready_s: np.ndarray) -> None:
        """Queue ``proxies`` (in this order, ready at ``ready_s``) at the back of their replicas' lines."""
        if len(proxies):
            self.reserve(len(proxies))
            self._hot.line_append(
                self.order, self.token, self.ready, self.tail, proxies, ready_s, self.table.entry_token
            )

    def enqueue(
        self, idle: np.ndarray, bounds: np.ndarray, turns: np.ndarray, t: float, push: int, push_start: float
    ) -> None:
        """A push's idle proxies (:func:`dsim.pushsim.kernels.reach`'s, replica by replica) join the
        queue at ``t``, each replica's turned to start at its ``turns[r]``-th
        (:func:`dsim.pushsim.kernels.enqueue`)."""
        t_ = self.table
        edges = bounds.tolist()  # a handful of replicas: Python's max costs less than NumPy's calls
        self.reserve(max((hi - lo for lo, hi in itertools.pairwise(edges)), default=0))
        self._hot.enqueue(
            idle, bounds, turns, t, push, push_start, t_.queued, t_.first_push, t_.latest_push, t_.enqueued_s,
            t_.change_s, t_.entry_token, self.order, self.token, self.ready, self.tail,
        )  # fmt: skip

    def join_front(self, proxy: int, ready_s: float) -> None:
        """A new connection waits ahead of its replica's line."""
        r = self.table.replica_of(proxy)
        n = int(self.front_len[r])
        if n == self.front_order.shape[1]:
            starts, size = np.zeros_like(self.front_len), 2 * n
            self.front_order = _moved(self.front_order, self.front_len, starts, size)
            self.front_token = _moved(self.front_token, self.front_len, starts, size)
            self.front_ready = _moved(self.front_ready, self.front_len, starts, size)
        self.front_order[r, n] = proxy
        self.table.entry_token[proxy] += 1  # its older entries are stale from now on
        self.front_token[r, n] = self.table.entry_token[proxy]
        self.front_ready[r, n] = ready_s
        self.front_len[r] = n + 1

    def batches(self, which: np.ndarray, sizes: np.ndarray) -> Batches:
        """The next batch of each replica of ``which`` (its connections waiting, then up to
        ``sizes[j]`` raw entries that are still live): see :func:`dsim.pushsim.kernels.live_batches`."""
        t = self.table
        found = self._hot.live_batches(
            self.order, self.token, self.ready, self.head, self.tail, self.front_order, self.front_token,
            self.front_ready, self.front_len, which, sizes, t.entry_token, t.queued,
        )  # fmt: skip
        return Batches(*found)

    def consume(self, batches: Batches, counts: np.ndarray) -> np.ndarray:
        """The first ``counts[j]`` proxies of each batch were dispatched; returns the replicas whose
        whole batch was, and whose line holds more (:func:`dsim.pushsim.kernels.consume_batches`)."""
        return self._hot.consume_batches(
            self.head, self.tail, self.front_order, self.front_token, self.front_ready, self.front_len,
            batches.taken, batches.offsets, batches.fronts, batches.raw_end, batches.spans, counts,
        )  # fmt: skip


@dataclasses.dataclass(slots=True, frozen=True)
class Batches:
    """The replicas' next batches, one after another (:func:`dsim.pushsim.kernels.live_batches`)."""

    taken: np.ndarray
    """The replicas with a batch."""
    offsets: np.ndarray
    """Batch ``j`` is ``proxies[offsets[j]:offsets[j + 1]]``."""
    proxies: np.ndarray
    ready: np.ndarray
    """When each proxy's entry was ready."""
    fronts: np.ndarray
    """How many of each batch are connections from the front."""
    raw_end: np.ndarray
    """Where each batch's scan of its line stopped."""
    spans: np.ndarray
    """Per proxy from the line: how many raw entries its batch takes up to and including it."""
