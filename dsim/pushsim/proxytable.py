"""Where every proxy stands in the fan-out: one column per fact, over proxy ids ``0..n-1``.

Columns ending in ``_s`` are simulated times in seconds; ``_push`` columns are push ids (indices
into :class:`dsim.pushsim.pushlog.PushLog`); the rest are flags and counters. The compiled kernels
(:mod:`dsim.pushsim.kernels`) take these arrays as they are and update them in place.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(kw_only=True, eq=False)
class ProxyTable:
    """Per proxy id: its connection, its place in the push queue, and what its pushes carry."""

    replicas: int
    """istiod replicas; proxy ``p`` is served by replica ``p % replicas``."""
    connected: np.ndarray
    """Holds an xDS stream to its istiod replica."""
    queued: np.ndarray
    """Waits in its replica's push queue."""
    connecting: np.ndarray
    """Waits for its first, whole config (a new connection)."""
    first_push: np.ndarray
    """The oldest push the queued proxy push carries (pushes merge while the proxy waits)."""
    latest_push: np.ndarray
    """The newest push it carries."""
    enqueued_s: np.ndarray
    """When the proxy joined the queue."""
    change_s: np.ndarray
    """When the oldest change it carries happened."""
    busy_until_s: np.ndarray
    """When istiod finishes sending its last dispatched push (-inf: never pushed)."""
    envoy_free_s: np.ndarray
    """When its Envoy finishes applying what it was sent."""
    again_first_push: np.ndarray
    """Asked for while being pushed: the oldest push it will carry when it re-joins the queue (-1: not asked)."""
    again_latest_push: np.ndarray
    """The newest push it will carry then."""
    again_change_s: np.ndarray
    """When the oldest change it will carry then happened."""
    entry_token: np.ndarray
    """Counts the proxy's queue entries: an entry made with an older token is stale."""
    joining: np.ndarray
    """Per replica: its proxies ``connecting`` (a count kept with the column)."""

    @staticmethod
    def empty(proxies: int, replicas: int) -> ProxyTable:
        """``proxies`` proxies, none connected, none ever pushed."""
        return ProxyTable(
            replicas=replicas,
            connected=np.zeros(proxies, bool),
            queued=np.zeros(proxies, bool),
            connecting=np.zeros(proxies, bool),
            first_push=np.zeros(proxies, np.int64),
            latest_push=np.zeros(proxies, np.int64),
            enqueued_s=np.zeros(proxies),
            change_s=np.zeros(proxies),
            busy_until_s=np.full(proxies, -np.inf),
            envoy_free_s=np.zeros(proxies),
            again_first_push=np.full(proxies, -1, np.int64),
            again_latest_push=np.zeros(proxies, np.int64),
            again_change_s=np.zeros(proxies),
            entry_token=np.zeros(proxies, np.int64),
            joining=np.zeros(replicas, np.int64),
        )

    def __len__(self) -> int:
        return len(self.connected)

    def replica_of(self, proxy: int) -> int:
        return proxy % self.replicas

    def members(self, mask: np.ndarray, replica: int) -> np.ndarray:
        """Ids of the proxies of ``replica`` where ``mask`` (over all proxy ids) holds, ascending."""
        return np.flatnonzero(mask[replica :: self.replicas]) * self.replicas + replica

    def enqueue(self, proxies: np.ndarray | int, t: float, push: int, change_s: float) -> None:
        """``proxies`` (or one proxy) join the queue at ``t`` carrying ``push`` alone (its oldest
        change happened at ``change_s``)."""
        self.queued[proxies] = True
        self.first_push[proxies] = push
        self.latest_push[proxies] = push
        self.enqueued_s[proxies] = t
        self.change_s[proxies] = change_s

    def connect(self, proxy: int) -> None:
        """``proxy`` connected: it waits for its first, whole config."""
        self.connected[proxy] = True
        if not self.connecting[proxy]:
            self.connecting[proxy] = True
            self.joining[proxy % self.replicas] += 1

    def drop(self, proxies: np.ndarray | int) -> None:
        """``proxies`` (or one proxy) went away: nothing waits for them any more."""
        proxies = np.atleast_1d(proxies)
        leaving = proxies[self.connecting[proxies]]
        np.subtract.at(self.joining, leaving % self.replicas, 1)
        self.connected[proxies] = False
        self.queued[proxies] = False
        self.connecting[proxies] = False
        self.again_first_push[proxies] = -1
