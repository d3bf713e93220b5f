"""istiod's push queue (``pilot/pkg/xds/pushqueue.go``): proxies waiting for a push, in order.

A proxy is never in the queue twice: a request for a proxy already waiting merges into its entry;
a request for a proxy being pushed right now is kept and the proxy re-queued when that push is
marked done. So however long a burst, each proxy is generated at most twice for it.
"""

from __future__ import annotations

from collections import deque

import simpy

from dsim.pushsim.requests import PushRequest


class PushQueue:
    """FIFO of proxy ids with per-proxy merging; :meth:`get` is a simpy event."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._order: deque[int] = deque()
        self._pending: dict[int, PushRequest] = {}
        self._processing: dict[int, PushRequest | None] = {}
        self._waiting: deque[simpy.Event] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def holds(self, proxy: int) -> bool:
        """Whether ``proxy`` is waiting or being pushed (a new request for it would merge)."""
        return proxy in self._pending or proxy in self._processing

    def enqueue(self, proxy: int, request: PushRequest) -> None:
        """Ask for a push of ``request`` to ``proxy``."""
        if proxy in self._processing:
            earlier = self._processing[proxy]
            self._processing[proxy] = request if earlier is None else earlier.merge(request)
        elif proxy in self._pending:
            self._pending[proxy] = self._pending[proxy].merge(request)
        else:
            self._pending[proxy] = request
            self._order.append(proxy)
            self._hand_out()

    def get(self) -> simpy.Event:
        """An event whose value is ``(proxy, request)``, the next proxy to push; it is then being
        processed until :meth:`mark_done`."""
        event = self.env.event()
        self._waiting.append(event)
        self._hand_out()
        return event

    def mark_done(self, proxy: int) -> None:
        """The push to ``proxy`` finished; re-queue it if it was asked for meanwhile."""
        again = self._processing.pop(proxy)
        if again is not None:
            self._pending[proxy] = again
            self._order.append(proxy)
            self._hand_out()

    def _hand_out(self) -> None:
        while self._waiting and self._order:
            proxy = self._order.popleft()
            request = self._pending.pop(proxy)
            self._processing[proxy] = None
            self._waiting.popleft().succeed((proxy, request))
