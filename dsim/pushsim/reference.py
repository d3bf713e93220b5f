"""References the vectorized dispatcher (:mod:`dsim.pushsim.lanes`) is checked and timed
against: the same dispatcher push by push with simpy resources, and the exact M/D/c queue.

A semaphore of ``throttle`` slots taken in order by one dispatcher (Istio's ``doSendPushes``; a
slot goes to whoever asks first once any frees), ``cores`` FIFO cores for generation, one FIFO
link for sends; a slot is held until its push is sent.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy
from scipy import stats


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


def md_c(rate: float, service: float, servers: int, states: int = 400) -> tuple[float, float]:
    """Mean wait in queue and P(wait > 0) of M/D/c (Poisson ``rate``, service ``service`` s,
    ``servers``). Sampled every ``service`` seconds the number in system is the Markov chain
    ``N' = max(N - servers, 0) + Poisson(rate·service)`` (all in service leave, all arrivals
    stay); its stationary law is the time-stationary one, Little's law gives the wait and PASTA
    P(wait > 0) = P(N ≥ servers)."""
    arrivals = stats.poisson.pmf(np.arange(states), rate * service)
    step = np.zeros((states, states))
    for n in range(states):
        base = max(n - servers, 0)
        step[n, base:] = arrivals[: states - base]
    pi = np.full(states, 1.0 / states)
    for _ in range(5000):
        pi = pi @ step
        pi /= pi.sum()
    in_system = float(np.arange(states) @ pi)
    waiting = in_system - rate * service  # mean busy servers = offered load
    return waiting / rate, float(pi[servers:].sum())
