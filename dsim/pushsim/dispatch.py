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
from dsim.pushsim.queueline import Batches, QueueLines

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
        self.lines = QueueLines(replicas, table, hot)
        self._again = np.zeros(0, np.int64)  # proxies asked for while being pushed (may hold stale ids)
        self._chosen = np.zeros(replicas, bool)  # the replicas a re-queue is for (reused: it runs at every advance)
        self._advanced_to = [-np.inf] * replicas  # a list: read and set a replica at a time, in Python
        self._rate = np.full(replicas, 1000.0)  # dispatches per second, to size the next batch
        self._hot = hot

    # -- the queues -----------------------------------------------------------------------------------
    def flag(self, proxies: np.ndarray) -> None:
        """``proxies`` were asked for while being pushed (their ``again_*`` columns say what for)."""
        if len(proxies):
            self._again = self._hot.union_sorted(self._again, proxies)

    def flagged(self) -> np.ndarray:
        """Proxies asked for while being pushed (distinct, ascending)."""
        if len(self._again):
            self._again = self._again[self.table.again_first_push[self._again] >= 0]
        return self._again

    def queue_length(self) -> int:
        """Proxies waiting (in all the push queues)."""
        return int(np.count_nonzero(self.table.queued))

    # -- dispatching ----------------------------------------------------------------------------------
    def _requeue(self, until: float, replicas: list[int]) -> None:
        """Proxies of ``replicas`` asked for while being pushed re-join the queue when that push is done."""
        if not len(self._again):
            return
        t = self.table
        chosen = self._chosen
        chosen[:] = False
        chosen[replicas] = True
        self._again, joining, ready = self._hot.requeue(
            self._again, chosen, until, t.connected, t.busy_until_s, t.queued, t.first_push, t.latest_push,
            t.enqueued_s, t.change_s, t.again_first_push, t.again_latest_push, t.again_change_s,
        )  # fmt: skip
        self.lines.append(joining, ready)

    def advance(self, until: float, replicas: Sequence[int] | np.ndarray | None = None) -> None:
        """Commit every proxy push ``replicas`` (default: all) dispatch before ``until``."""
        # The replicas are few (istiod's): Python lists and scalars here cost less than NumPy's
        # per-call overhead on arrays of a handful.
        advanced = self._advanced_to
        if replicas is None:
            candidates: Sequence[int] = range(self.table.replicas)
        else:
            candidates = replicas if isinstance(replicas, list) else np.asarray(replicas).tolist()
        # A replica advanced to ``until`` or later has nothing to do: anything enqueued since is
        # ready at ``until`` or later.
        which = [r for r in candidates if until > advanced[r]]
        if not which:
            return
        if until < np.inf:
            for r in which:
                advanced[r] = until
        self._requeue(until, which)
        rate = self._rate
        while which:
            dispatched, first_slot = self.lanes.dispatched, self.lanes.slots[:, 0]
            assert isinstance(dispatched, np.ndarray)  # one row per replica
            # A replica's next dispatch waits for its dispatcher and for the slot T pushes back;
            # when that is already past ``until`` there is nothing to compute.
            which = [r for r in which if max(dispatched[r], first_slot[r]) < until]
            if not which:
                return
            sizes = [
                int(min(max(LOOKAHEAD * float(rate[r]) * max(until - float(dispatched[r]), 0.0), MIN_BATCH), MAX_BATCH))
                for r in which
            ]
            batches = self.lines.batches(np.array(which, np.int64), np.array(sizes, np.int64))
            if not len(batches.taken):
                return
            which = self._dispatch(batches, until).tolist()

    def _dispatch(self, batches: Batches, until: float) -> np.ndarray:
        """Schedule the replicas' batches together, commit what is dispatched before ``until``;
        returns the replicas whose whole batch was dispatched and that have more."""
        rows, ready = batches.proxies, batches.ready
        work = self.committer.work(rows)
        counts = self.committer.dispatch_and_commit(
            self.lanes, self._rate, batches.taken, batches.offsets, until, rows, ready, work
        )
        return self.lines.consume(batches, counts)

    def drain(self) -> None:
        """Run the queues dry."""
        while self.table.queued.any() or (self.table.again_first_push >= 0).any():
            self._advanced_to = [-np.inf] * self.table.replicas
            self.advance(np.inf)
