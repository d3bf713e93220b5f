"""Pricing the proxy pushes a dispatch pass schedules, and committing the ones it dispatched.

A dispatch pass (:class:`dsim.pushsim.dispatch.Dispatcher`) asks what each proxy push of its batch
costs (:meth:`Committer.work`, by :class:`dsim.pushsim.work.Pricer`), schedules them, and hands
back the dispatched prefix of each replica's batch: :meth:`Committer.commit` applies it to the
proxy table (no longer queued, Envoy busy applying, a new connection's caches warm) and writes it
to the :class:`dsim.pushsim.metrics.Recorder`.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.costs import PushCosts
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
        split = None
        if self.pricer.by_class:
            split = self._hot.incremental_merges(
                proxies, t.first_push, t.latest_push, t.connecting, self.log.full_prefix, self.proxy_class,
                self.pricer.classes,
            )  # fmt: skip
            if not split[0].any():  # only endpoint updates: one lookup table
                return Work(variants=self.pricer.incremental(split[1]), variant=split[2])
        return self.pricer.price(
            self.proxy_workload[proxies],
            t.first_push[proxies],
            t.latest_push[proxies],
            t.connecting[proxies],
            self.cache_of[proxies],
            self.warm,
            by_class=split,
        )

    def commit(
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
        t = self.table
        variants = work.variants
        ints, floats, fill, base = self.recorder.buffer(int(counts.sum()))
        fill = self._hot.commit(
            proxies, offsets, counts, work.variant, dispatch, cpu_start, done, variants.cpu, variants.apply, base,
            self.cache_of, t.envoy_free_s, t.busy_until_s, t.queued, t.connecting, self.warm,
            t.first_push, t.latest_push, t.enqueued_s, t.change_s, ints, floats, fill,
        )  # fmt: skip
        if variants is not self._over_limit[0]:  # a table is often the last batch's again
            over = (variants.kind != INCREMENTAL) & (variants.type_bytes > self.max_message_bytes).any(axis=1)
            self._over_limit = (variants, over)
        self.recorder.committed(fill, variants, self._over_limit[1])
