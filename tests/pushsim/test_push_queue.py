"""The push queue against Istio's pushqueue_test.go behaviours, on a tiny world."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from dsim.pushsim.reference import PushQueue
from dsim.pushsim.requests import ConfigKey, PushRequest

A = PushRequest(full=False, configs=frozenset({ConfigKey(kind="endpoints", target=0)}))
B = PushRequest(full=True, configs=frozenset({ConfigKey(kind="virtual_service", target=1)}))


def _take(env: simpy.Environment, queue: PushQueue) -> tuple[int, PushRequest]:
    event = queue.get()
    env.run(until=env.now + 1)
    assert event.triggered, "nothing to dequeue"
    return event.value  # type: ignore[no-any-return]


def test_proxies_come_out_in_order() -> None:
    env = simpy.Environment()
    queue = PushQueue(env)
    queue.enqueue(1, A)
    queue.enqueue(2, A)
    assert [_take(env, queue)[0], _take(env, queue)[0]] == [1, 2]


def test_a_waiting_proxy_is_never_queued_twice_and_its_requests_merge() -> None:
    env = simpy.Environment()
    queue = PushQueue(env)
    queue.enqueue(1, A)
    queue.enqueue(1, B)
    assert len(queue) == 1
    assert _take(env, queue) == (1, A.merge(B))
    late = queue.get()
    env.run(until=env.now + 1)
    assert not late.triggered


def test_a_proxy_asked_for_while_being_pushed_is_requeued_when_done() -> None:
    env = simpy.Environment()
    queue = PushQueue(env)
    queue.enqueue(1, A)
    assert _take(env, queue) == (1, A)
    queue.enqueue(1, B)
    queue.enqueue(1, A)
    assert len(queue) == 0, "not queued while its push runs"
    queue.mark_done(1)
    assert _take(env, queue) == (1, B.merge(A))
    queue.mark_done(1)
    assert len(queue) == 0


def test_a_waiting_worker_gets_the_next_proxy_the_moment_it_is_queued() -> None:
    env = simpy.Environment()
    queue = PushQueue(env)
    got: list[tuple[float, int]] = []

    def worker() -> Generator[simpy.Event, Any, None]:
        proxy, _ = yield queue.get()
        got.append((env.now, proxy))

    def later() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(0.25)
        queue.enqueue(7, A)

    env.process(worker())
    env.process(later())
    env.run()
    assert got == [(0.25, 7)]
