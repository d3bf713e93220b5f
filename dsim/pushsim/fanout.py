"""istiod's push queues and their fan-out to every proxy: the events that change them.

Each istiod replica serves its share of the proxies (proxy ``p`` is served by replica
``p % replicas``) with its own queue, throttle, cores and egress. A queue follows ``pushqueue.go``
(as :class:`dsim.pushsim.reference.PushQueue`, the per-proxy reference the tests compare
against): a proxy is never queued twice — a push for a waiting proxy merges into its entry; a push
for a proxy being pushed right now is kept and the proxy re-queued when that push is done.

The package's parts: where each proxy stands (:class:`dsim.pushsim.proxytable.ProxyTable`), each
replica's queue (:class:`dsim.pushsim.queueline.QueueLines`), dispatching
(:class:`dsim.pushsim.dispatch.Dispatcher`) and pricing and committing
(:class:`dsim.pushsim.commit.Committer`). :class:`FanOut` is the only way in: every event first
commits what was dispatched before it (the proxy pushes whose results it could change), then
changes anything — and the config model refuses a change the fan-out did not let through
(:meth:`dsim.pushsim.configs.ConfigModel.let_change`). The loops over proxy arrays are compiled
kernels (:mod:`dsim.pushsim.kernels`), or their NumPy twins (:mod:`dsim.pushsim.reference`) with
``DSIM_PUSHSIM_NUMPY=1``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.pushsim.commit import Committer
from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.costs import PushCosts
from dsim.pushsim.dispatch import Dispatcher
from dsim.pushsim.hotpath import hot_loops
from dsim.pushsim.kernels import NEVER
from dsim.pushsim.metrics import Recorder
from dsim.pushsim.proxytable import ProxyTable
from dsim.pushsim.pushlog import Push, PushLog


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
    """The push queues of ``replicas`` istiod replicas over proxy ids ``0..len(proxy_workload)-1``."""

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
        self.proxy_workload = proxy_workload
        self.model = model
        self.rotations = rotations
        self.log = PushLog(len(model.source))
        self.table = ProxyTable.empty(len(proxy_workload), replicas)
        self._hot = hot_loops()
        self.committer = Committer(
            table=self.table,
            proxy_workload=proxy_workload,
            model=model,
            costs=costs,
            log=self.log,
            recorder=recorder,
            delta_xds=limits.delta_xds,
            max_message_bytes=limits.max_message_bytes,
            hot=self._hot,
        )
        self.dispatcher = Dispatcher(
            table=self.table, throttle=limits.throttle, cores=limits.cores, committer=self.committer, hot=self._hot
        )
        model.gate()
        # Per replica, a bound on what is pending, kept up without a pass over the proxies: no
        # pending proxy push carries a push older than ``_oldest_bound``. Commits only raise the
        # truth; pushes and connections lower the bound. (Connections are counted exactly:
        # :attr:`ProxyTable.joining`.)
        self._oldest_bound = np.full(replicas, NEVER)

    @property
    def replicas(self) -> int:
        return self.table.replicas

    def queue_length(self) -> int:
        """Proxies waiting (in all the push queues)."""
        return self.dispatcher.queue_length()

    def drain(self) -> None:
        """Run the queues dry (the churn is over)."""
        self.dispatcher.drain()

    # -- events: each commits what was dispatched before it, then changes ------------------------------
    def push(self, t: float, push: Push, seen: np.ndarray) -> int:
        """Enqueue ``push`` at ``t`` for every connected proxy of the workloads ``seen`` (a mask
        over workloads); returns how many it reached."""
        self.dispatcher.advance(t)
        table = self.table
        pid = self.log.add(push)
        np.minimum(self._oldest_bound, pid, out=self._oldest_bound)  # what it merges into is older
        targets, fresh, idle, bounds = self._hot.reach(
            seen, bool(seen.all()), self.proxy_workload, table.connected, table.queued, table.busy_until_s, t, pid,
            push.start, table.latest_push, table.change_s, table.again_first_push, table.again_latest_push,
            table.again_change_s, table.replicas,
        )  # fmt: skip
        self.dispatcher.flag(fresh)
        # Istio walks its connections map (random order); a seeded rotation stands in for it.
        sizes = np.diff(bounds).tolist()
        turns = np.array([int(rot.integers(n)) if n else 0 for rot, n in zip(self.rotations, sizes, strict=True)])
        self.dispatcher.lines.enqueue(idle, bounds, turns, t, pid, push.start)
        return int(targets)

    def connect(self, t: float, proxy: int) -> None:
        """``proxy`` connected at ``t``: its first full config is generated next, ahead of its replica's queue."""
        r = self.table.replica_of(proxy)
        self.dispatcher.advance(t, [r])
        self._oldest_bound[r] = min(self._oldest_bound[r], len(self.log) - 1)
        self.table.connect(proxy)
        self.table.enqueue(proxy, t, len(self.log) - 1, t)
        self.dispatcher.lines.join_front(proxy, t)

    def disconnect(self, t: float, proxy: int) -> None:
        """``proxy`` went away at ``t``: drop what was waiting for it."""
        table = self.table
        # Only a proxy push still to be computed for it (queued, a new connection's, or asked for
        # while being pushed) is changed: with none, the proxy pushes its replica dispatches
        # before ``t`` are the same whether computed now or later.
        if table.queued[proxy] or table.connecting[proxy] or table.again_first_push[proxy] >= 0:
            self.dispatcher.advance(t, [table.replica_of(proxy)])
        table.drop(proxy)

    def restart(self, t: float) -> np.ndarray:
        """Every istiod replica restarts at ``t``: every connection drops, caches go cold; returns
        the proxies that were connected, replica by replica."""
        self.dispatcher.advance(t)
        table = self.table
        was = np.concatenate([table.members(table.connected, r) for r in range(table.replicas)])
        table.drop(was)
        self.committer.cool_caches()
        return was

    def create_service(self, t: float, service: int) -> None:
        """``service`` comes to life at ``t`` (every proxy push computed after carries it)."""
        self.dispatcher.advance(t)
        self.model.let_change()
        self.model.create_service(service)

    def delete_service(self, t: float, service: int) -> None:
        """``service`` is deleted at ``t``."""
        self.dispatcher.advance(t)
        self.model.let_change()
        self.model.delete_service(service)

    def set_endpoints(self, t: float, workload: int, state: int) -> np.ndarray:
        """``workload``'s endpoints become membership state ``state`` at ``t``; returns the
        services whose endpoint sets changed. Only proxy pushes still to be computed that carry
        these endpoint sets (or a whole config) see the change: those replicas commit first."""
        concerned = self._depends_on(self.model.services_of[workload])
        if len(concerned):
            self.dispatcher.advance(t, concerned)
        self.model.let_change()
        return self.model.set_state(workload, state)

    def _depends_on(self, services: np.ndarray) -> list[int]:
        """The replicas with a proxy push not yet computed that carries a whole config (a full push
        or a new connection) or the endpoint set of one of ``services`` (changed by a push it merges)."""
        table = self.table
        needs, _ = self._hot.concerned(
            self.log.last_naming(services), self.log.full_prefix, self._oldest_bound, table.joining,
            table.queued, table.first_push, table.latest_push, table.connecting, self.dispatcher.flagged(),
            table.again_first_push, table.again_latest_push,
        )  # fmt: skip
        return [r for r, needed in enumerate(needs.tolist()) if needed]
