"""The push model for a cluster and its designs: one churn stream, one simulation per design,
its results as tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pandas as pd

from dsim.accounting.columns import cluster_columns
from dsim.calibration.model import Calibration
from dsim.cluster import Cluster
from dsim.pushsim import tables
from dsim.pushsim.churn import churn_stream
from dsim.pushsim.simulate import simulate_design
from dsim.pushsim.visibility import Seers

PUSH_TABLES = (
    "churn_events",
    "push_records",
    "push_proxies",
    "push_cpu",
    "push_metrics",
    "push_convergence",
    "push_summary",
)


def push_tables(
    cluster: Cluster,
    designs: Sequence[str],
    calibration: Calibration,
    *,
    on_time: Callable[[str, float], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate the scenario's churn under each design; tables named as :data:`PUSH_TABLES`.

    ``on_time(design, t)`` is told each simulated time (seconds) a design's churn reaches.
    """
    stream = churn_stream(cluster)
    cols = cluster_columns(cluster)
    seers = Seers(cluster)
    istiod = cluster.scenario.istiod
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in PUSH_TABLES[1:-1]}
    for design in designs:
        tell = None if on_time is None else functools.partial(on_time, design)
        run = simulate_design(cluster, cols, stream, seers, design, calibration, on_time=tell)
        records = tables.push_records(run)
        cpu = tables.cpu_timeline(run, istiod.gomaxprocs * istiod.replicas)
        parts["push_records"].append(records)
        parts["push_proxies"].append(tables.proxy_records(run))
        parts["push_cpu"].append(cpu)
        parts["push_metrics"].append(tables.metrics(run, records, cpu))
        parts["push_convergence"].append(tables.convergence_histogram(run))
    out = {"churn_events": stream.events}
    out |= {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    out["push_summary"] = tables.summary(out["push_metrics"])
    return out
