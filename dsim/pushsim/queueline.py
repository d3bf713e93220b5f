"""One istiod replica's push queue, in arrival order, as arrays (``pushqueue.go``'s list).

A proxy is never queued twice: an entry records the proxy's token (:attr:`ProxyTable.entry_token`)
when it was made, and an entry whose proxy was pushed, dropped or queued again since is stale and
skipped. New connections wait in :attr:`QueueLine.front`, ahead of the line: istiod serves a
connection's first request at once.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from dsim.pushsim.proxytable import ProxyTable


class QueueLine:
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

    def batch(self, size: int, table: ProxyTable) -> tuple[np.ndarray, np.ndarray, int]:
        """The connections waiting, then up to ``size`` raw entries that are still live: their
        proxies, ready times, and how many came from the front. ``spans[i]`` is how many raw entries
        the first ``i + 1`` live ones take; ``raw_end`` where the scan stopped."""
        token, queued = table.entry_token, table.queued
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

    def next_batch(self, size: int, table: ProxyTable) -> tuple[np.ndarray, np.ndarray, int] | None:
        """:meth:`batch`, past any run of stale entries; None when nothing live is left."""
        proxies, ready, front = self.batch(size, table)
        while len(proxies) == 0 and self.raw_end < self.tail:  # only stale entries: skip them
            self.head = self.raw_end
            proxies, ready, front = self.batch(size, table)
        if len(proxies) == 0:
            self.head = self.raw_end
            return None
        return proxies, ready, front

    def join_front(self, proxy: int, token: int, ready_s: float) -> None:
        """A new connection waits ahead of the line (its entry made with ``token``)."""
        self.front.append((proxy, token, ready_s))

    def consume(self, count: int, front: int, whole_batch: bool) -> None:
        """``count`` proxies of the last batch (``front`` of them connections) were dispatched."""
        del self.front[: min(count, front)]
        if whole_batch:
            self.head = self.raw_end
        elif count > front:
            self.head += int(self.spans[count - front - 1])

    def empty(self) -> bool:
        return self.head >= self.tail and not self.front
