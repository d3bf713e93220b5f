"""istiod's replicas dispatching their push queues through the throttle, cores and egress.

Between two simulation events nothing merges, so every proxy push dispatched in that window is
computed at once, for all the replicas concerned together (the dispatcher's recurrences push by
push, :func:`dsim.pushsim.kernels.scan`), priced and committed by the
:class:`dsim.pushsim.commit.Committer`. :meth:`Dispatcher.advance` does that up to a time;
the fan-out calls it before any change (:class:`dsim.pushsim.fanout.FanOut`). A proxy asked for
while being pushed is flagged and re-joins its replica's queue when that push is done, as
``pushqueue.go`` keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from dsim.pushsim.commit import Committer
from dsim.pushsim.lanes import LaneState
from dsim.pushsim.proxytable import ProxyTable
from dsim.pushsim.queueline import QueueLine

LOOKAHEAD = 1.2  # batch size over the expected dispatches in the window: a second pass costs more than a few spare rows
MIN_BATCH = 64
MAX_BATCH = 1 << 16


class Dispatcher:
    """The replicas' queue lines and lanes over the proxies of ``table``."""

    def __init__(self, *, table: ProxyTable, throttle: int, cores: int, committer: Committer, hot: ModuleType) -> None:
        replicas = table.replicas
        self.table = table
        self.committer = committer
        self.lanes = LaneState.idle(throttle, cores, replicas=replicas)
        self.lines = [QueueLine(hot) for _ in range(replicas)]
        self.replica_of = np.arange(len(table)) % replicas
        self._again = np.zeros(0, np.int64)  # proxies asked for while being pushed (may hold stale ids)
        self._advanced_to = np.full(replicas, -np.inf)
        self._rate = np.full(replicas, 1000.0)  # dispatches per second, to size the next batch
        self._hot = hot

    # -- the queues -----------------------------------------------------------------------------------
    def append(self, proxies: np.ndarray, ready_s: np.ndarray) -> None:
        """Queue ``proxies`` (in this order, ready at ``ready_s``) at the back of their replicas' lines."""
        if self.table.replicas == 1:
            self.lines[0].append(proxies, self.table.new_entries(proxies), ready_s)
            return
        replica = self.replica_of[proxies]
        for r in np.unique(replica).tolist():
            mine = replica == r
            self.lines[r].append(proxies[mine], self.table.new_entries(proxies[mine]), ready_s[mine])

    def flag(self, proxies: np.ndarray) -> None:
        """``proxies`` were asked for while being pushed (their ``again_*`` columns say what for)."""
        self._again = np.union1d(self._again, proxies)

    def flagged(self) -> np.ndarray:
        """Proxies asked for while being pushed (distinct, ascending)."""
        self._again = self._again[self.table.again_first_push[self._again] >= 0]
        return self._again

    def queue_length(self) -> int:
        """Proxies waiting (in all the push queues)."""
        return int(np.count_nonzero(self.table.queued))

    # -- dispatching ----------------------------------------------------------------------------------
    def _requeue(self, until: float, replicas: np.ndarray) -> None:
        """Proxies of ``replicas`` asked for while being pushed re-join the queue when that push is done."""
        if not len(self._again):
            return
        t = self.table
        chosen = np.zeros(t.replicas, bool)
        chosen[replicas] = True
        self._again, joining, ready = self._hot.requeue(
            self._again, chosen, until, t.connected, t.busy_until_s, t.queued, t.first_push, t.latest_push,
            t.enqueued_s, t.change_s, t.again_first_push, t.again_latest_push, t.again_change_s,
        )  # fmt: skip
        if len(joining):
            self.append(joining, ready)

    def advance(self, until: float, replicas: Sequence[int] | np.ndarray | None = None) -> None:
        """Commit every proxy push ``replicas`` (default: all) dispatch before ``until``."""
        which = np.arange(self.table.replicas) if replicas is None else np.asarray(replicas, np.int64)
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
                expected = LOOKAHEAD * float(self._rate[r]) * max(until - float(dispatched[r]), 0.0)
                found = self.lines[r].next_batch(int(min(max(expected, MIN_BATCH), MAX_BATCH)), self.table)
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
        work = self.committer.work(rows)
        counts = self.committer.dispatch_and_commit(self.lanes, self._rate, which, offsets, until, rows, ready, work)
        whole = counts == lengths
        for (r, _, _, front), count, all_of_it in zip(batches, counts.tolist(), whole.tolist(), strict=True):
            self.lines[r].consume(count, front, all_of_it)
        return which[whole & np.array([not self.lines[r].empty() for r in which.tolist()], bool)]

    def drain(self) -> None:
        """Run the queues dry."""
        while self.table.queued.any() or (self.table.again_first_push >= 0).any():
            self._advanced_to[:] = -np.inf
            self.advance(np.inf)
