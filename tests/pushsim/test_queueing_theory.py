"""The dispatcher under Poisson load against the exact M/D/c queue
(:func:`dsim.pushsim.reference.md_c`)."""

from __future__ import annotations

import numpy as np
import pytest

from dsim.pushsim.lanes import LaneState
from dsim.pushsim.reference import md_c
from tests.pushsim.conftest import Dispatcher

SERVERS = 4
SERVICE_S = 0.01
LOAD = 0.8  # per server
ARRIVALS = 200_000
BATCHES = 40


@pytest.mark.slow
def test_poisson_load_matches_md_c(dispatcher: Dispatcher) -> None:
    rate = LOAD * SERVERS / SERVICE_S
    rng = np.random.default_rng(2026)
    arrival = np.cumsum(rng.exponential(1 / rate, ARRIVALS))
    # c slots, as many cores, nothing to send: an M/D/c queue of proxy pushes.
    dispatch, _ = dispatcher(
        LaneState.idle(SERVERS, SERVERS), arrival, np.full(ARRIVALS, SERVICE_S), np.zeros(ARRIVALS)
    )
    wait = dispatch - arrival
    warm = ARRIVALS // 20
    batches = wait[warm:].reshape(BATCHES, -1)  # batch means: nearly independent at this length
    means = batches.mean(axis=1)
    error = means.std(ddof=1) / np.sqrt(BATCHES)
    waited = (batches > 1e-12).mean(axis=1)
    waited_error = waited.std(ddof=1) / np.sqrt(BATCHES)
    mean_wait, p_wait = md_c(rate, SERVICE_S, SERVERS)
    assert means.mean() == pytest.approx(mean_wait, abs=4 * error)
    assert waited.mean() == pytest.approx(p_wait, abs=4 * waited_error)
    # and the sampling error is small enough for the check to mean something
    assert error < 0.05 * mean_wait
