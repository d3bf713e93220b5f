"""The dispatcher in both its forms, for the tests that hold it to theory and to Istio's semaphore:
the max-plus closed forms (:func:`dsim.pushsim.lanes.schedule`) and the compiled push-by-push
scan (:func:`dsim.pushsim.kernels.scan`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dsim.pushsim import kernels
from dsim.pushsim.lanes import LaneState, schedule

Dispatcher = Callable[[LaneState, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(state, ready, cpu, send) -> (dispatch, done)`` of one istiod's pushes, all dispatched."""


def _closed_forms(
    state: LaneState, ready: np.ndarray, cpu: np.ndarray, send: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    plan = schedule(state, ready, cpu, send)
    return plan.dispatch, plan.done


def _scan(state: LaneState, ready: np.ndarray, cpu: np.ndarray, send: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(ready)
    dispatch, cpu_start, done = np.empty(n), np.empty(n), np.empty(n)
    counts = kernels.scan(
        state.slots[None, :].copy(), state.cores[None, :].copy(), np.array([state.dispatched], float),
        np.array([state.link], float), np.array([0]), np.array([0, n]), ready, cpu, send, np.inf,
        dispatch, cpu_start, done,
    )  # fmt: skip
    assert counts.tolist() == [n]
    return dispatch, done


@pytest.fixture(params=[_closed_forms, _scan], ids=["closed-forms", "kernel"])
def dispatcher(request: pytest.FixtureRequest) -> Dispatcher:
    return request.param
