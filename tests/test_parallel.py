"""Designs' push simulations on Dask: the same tables as in process, and clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from dsim import build_cluster, load_calibration
from dsim.errors import DsimError
from dsim.parallel import Compute, map_in_order
from dsim.pushsim.runner import push_tables

MESH = {
    "name": "parallel",
    "seed": 5,
    "synthetic": {"namespaces": 3, "services": 24, "replicas": {"distribution": "fixed", "mean": 2}},
    "churn": {
        "duration_s": 300,
        "pod_replacements_per_s": 0.5,
        "rollouts_per_hour": 30,
        "virtual_service_changes_per_hour": 60,
        "istiod_restarts_s": [200],
    },
    "istiod": {"replicas": 2},
}


@pytest.mark.slow
def test_designs_on_a_local_dask_cluster_give_the_in_process_tables(write_scenario: Callable[..., Path]) -> None:
    cluster = build_cluster(write_scenario(MESH))
    designs = list(cluster.scenario.designs)
    calibration = load_calibration()
    here = push_tables(cluster, designs, calibration)
    told: list[tuple[str, float]] = []
    there = push_tables(
        cluster, designs, calibration, compute=Compute(workers=2), on_time=lambda d, t: told.append((d, t))
    )
    assert here.keys() == there.keys()
    for name in here:
        pd.testing.assert_frame_equal(here[name], there[name], check_exact=True)
    assert sorted(told) == sorted((d, 300.0) for d in designs), "each design reported once, when done"
    assert len(here["push_records"]) > 0


def test_in_process_keeps_the_order_and_reports_each_item() -> None:
    done: list[int] = []
    out = map_in_order(
        lambda x, add: x + add, [3, 1, 2], compute=Compute(), shared={"add": 10}, on_done=lambda i, r: done.append(r)
    )
    assert out == [13, 11, 12]
    assert done == [13, 11, 12]


def test_no_workers_is_refused() -> None:
    with pytest.raises(DsimError, match=r"workers: must be at least 1 \(got 0\)"):
        Compute(workers=0)


def test_an_unreachable_scheduler_is_named_in_the_error() -> None:
    compute = Compute(scheduler="tcp://127.0.0.1:9", connect_timeout_s=1)
    with pytest.raises(DsimError, match=r"cannot reach a Dask scheduler at 'tcp://127.0.0.1:9' within 1 s"):
        map_in_order(abs, [-1], compute=compute, shared={})
