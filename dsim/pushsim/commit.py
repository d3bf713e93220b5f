"""Pricing the proxy pushes a dispatch pass schedules, and committing the ones it dispatched.

A dispatch pass (:class:`dsim.pushsim.dispatch.Dispatcher`) asks what each proxy push of its batch
costs (:meth:`Committer.work`, by :class:`dsim.pushsim.work.Pricer`), then
:meth:`Committer.dispatch_and_commit` schedules the batch on the dispatcher's lanes and applies
the dispatched prefix of each replica's batch to the proxy table (no longer queued, Envoy busy
applying, a new connection's caches warm) and to the :class:`dsim.pushsim.metrics.Recorder`, in
one compiled call: a pass's fixed cost is most of its cost.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.costs import PushCosts
from dsim.pushsim.kernels import BIN_LOOKUP, UPPER_EDGES
from dsim.pushsim.lanes import LaneState
from dsim.pushsim.metrics import Recorder
from dsim.pushsim.proxytable import ProxyTable
from dsim.pushsim.pushlog import PushLog
from dsim.pushsim.work import INCREMENTAL, Pricer, Variants, Work


class Committer:
    """Prices and commits proxy pushes for the proxies of ``table`` (``proxy_workload``: each one's workload)."""

    def __init__(
        self,
        *,
        table: ProxyTable,
        proxy_workload: np.ndarray,
        model: ConfigModel,
        costs: PushCosts,
        log: PushLog,
        recorder: Recorder,
        delta_xds: bool,
        max_message_bytes: int,
        hot: ModuleType,
    ) -> None:
        self.table = table
        self.proxy_workload = proxy_workload
        self.log = log
        self.recorder = recorder
        self.max_message_bytes = max_message_bytes
        self.pricer = Pricer(model, costs, log, delta_xds=delta_xds)
        self._hot = hot
        classes = len(model.workload_class)
        self.warm = np.ones(table.replicas * classes, bool)
        """Per replica and workload: istiod's caches hold the workload's resources."""
        self.cache_of = np.arange(len(table)) % table.replicas * classes + proxy_workload
        """Per proxy: its replica's cache entry for its workload (an index into :attr:`warm`)."""
        self.proxy_class = model.workload_class[proxy_workload]
        """Per proxy: its workload's proxy family class (a row of the config model's class arrays)."""
        # The last cost table committed and its rows over the gRPC limit.
        self._over_limit: tuple[Variants | None, np.ndarray] = (None, np.zeros(0, bool))

    def cool_caches(self) -> None:
        """istiod restarted: every cache is empty."""
        self.warm[:] = False

    def work(self, proxies: np.ndarray) -> Work:
        """What the proxy pushes to ``proxies`` (queued, distinct) cost, carrying what they carry now."""
        t = self.table
        if not self.pricer.by_class:
            return self._proxy_by_proxy(proxies)
        # Every proxy sees every service: incremental pushes are priced by merge and class, the
        # others (new connections, merges with a full push) proxy by proxy.
        other, merges, variant = self._hot.incremental_merges(
            proxies, t.first_push, t.latest_push, t.connecting, self.log.full_prefix, self.proxy_class,
            self.pricer.classes,
        )  # fmt: skip
        if not other.any():
            return Work(variants=self.pricer.incremental(merges), variant=variant)
        rest = self._proxy_by_proxy(proxies[other])
        if len(merges) == 0:
            return rest
        return self.pricer.joined(self.pricer.incremental(merges), variant, other, rest)

    def _proxy_by_proxy(self, proxies: np.ndarray) -> Work:
        t = self.table
        return self.pricer.price(
            self.proxy_workload[proxies],
            t.first_push[proxies],
            t.latest_push[proxies],
            t.connecting[proxies],
            self.cache_of[proxies],
            self.warm,
        )

    def dispatch_and_commit(
        self,
        lanes: LaneState,
        rate: np.ndarray,
        which: np.ndarray,
        offsets: np.ndarray,
        until: float,
        proxies: np.ndarray,
        ready: np.ndarray,
        work: Work,
    ) -> np.ndarray:
        """Schedule the replicas' batches (``which``, batch ``j`` the rows ``offsets[j]:offsets[j +
        1]`` of ``proxies``, ready at ``ready``, costing ``work``) on ``lanes`` up to ``until`` and
        commit the dispatched prefix of each, in one compiled pass
        (:func:`dsim.pushsim.kernels.dispatch_commit`; it also sets each replica's ``rate``);
        returns how many of each batch were dispatched."""
        t = self.table
        variants = work.variants
        assert isinstance(lanes.dispatched, np.ndarray)  # one row per replica
        assert isinstance(lanes.link, np.ndarray)
        if variants is not self._over_limit[0]:  # a table is often the last batch's again
            over = (variants.kind != INCREMENTAL) & (variants.type_bytes > self.max_message_bytes).any(axis=1)
            self._over_limit = (variants, over)
        cpu, fill = self.recorder.cpu_buffer(len(proxies))
        counts, filled = self._hot.dispatch_commit(
            lanes.slots, lanes.cores, lanes.dispatched, lanes.link, rate, which, offsets, until,
            proxies, ready, work.variant, variants.kind, variants.cpu, variants.send, variants.apply,
            variants.type_bytes, variants.type_seconds, self._over_limit[1],
            self.cache_of, t.envoy_free_s, t.busy_until_s, t.queued, t.connecting, self.warm,
            t.first_push, t.latest_push, t.enqueued_s, t.change_s, t.joining,
            self.recorder.tallies(len(self.log)), UPPER_EDGES, BIN_LOOKUP, cpu, fill,
        )  # fmt: skip
        if filled > fill:
            self.recorder.committed(filled)
        return counts
