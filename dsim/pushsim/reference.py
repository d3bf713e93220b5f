"""The dispatcher push by push, with simpy resources: the reference the vectorized
:mod:`dsim.pushsim.lanes` is checked and timed against.

A semaphore of ``throttle`` slots taken in order by one dispatcher (Istio's ``doSendPushes``; a
slot goes to whoever asks first once any frees), ``cores`` FIFO cores for generation, one FIFO
link for sends; a slot is held until its push is sent.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy


def dispatch_one_by_one(
    ready: np.ndarray, cpu: np.ndarray, send: np.ndarray, *, throttle: int, cores: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch and done times of each push (in queue order), one simpy process per push."""
    env = simpy.Environment()
    slots = simpy.Resource(env, throttle)
    cpus = simpy.Resource(env, cores)
    link = simpy.Resource(env, 1)
    dispatch = np.zeros(len(ready))
    done = np.zeros(len(ready))

    def push(i: int, slot: simpy.resources.resource.Request) -> Generator[simpy.Event, Any, None]:
        with cpus.request() as core:
            yield core
            yield env.timeout(cpu[i])
        with link.request() as wire:
            yield wire
            yield env.timeout(send[i])
        done[i] = env.now
        slots.release(slot)

    def dispatcher() -> Generator[simpy.Event, Any, None]:
        for i in range(len(ready)):
            if ready[i] > env.now:
                yield env.timeout(ready[i] - env.now)
            slot = slots.request()
            yield slot
            dispatch[i] = env.now
            env.process(push(i, slot))

    env.process(dispatcher())
    env.run()
    return dispatch, done
