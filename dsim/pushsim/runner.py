"""The push model for a cluster and its designs: one churn stream, one simulation per design,
its results as tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from dsim.accounting.columns import ClusterColumns, cluster_columns
from dsim.accounting.proxies import DesignAccounting, design_accounting
from dsim.calibration.model import Calibration
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.parallel import Compute, map_in_order
from dsim.pushsim import tables
from dsim.pushsim.churn import ChurnStream, churn_stream
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
    compute: Compute | None = None,
    accounting: Mapping[str, DesignAccounting] | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate the scenario's churn under each design; tables named as :data:`PUSH_TABLES`.

    Designs are simulated where ``compute`` says (default: one after another in this process);
    ``on_time(design, t)`` is told the simulated time (seconds) a design's churn reaches — as it
    goes in this process, at its end when computed elsewhere. ``accounting``: each design's
    accounting of ``cluster``, if the caller has it (in this process; elsewhere each design's is
    computed where it is simulated, rather than sent).
    """
    compute = compute or Compute()
    stream = churn_stream(cluster)
    duration = cluster.scenario.churn.duration_s

    def finished(design: str, _: dict[str, pd.DataFrame]) -> None:
        if on_time is not None and not compute.in_process:
            on_time(design, duration)

    shared = {"cluster": cluster, "stream": stream, "calibration": calibration}
    if compute.in_process:  # progress as each design goes; the derived columns computed once
        shared |= {
            "cols": cluster_columns(cluster),
            "seers": Seers(cluster),
            "on_time": on_time,
            "accounting": accounting,
        }
    per_design = map_in_order(design_tables, list(designs), compute=compute, shared=shared, on_done=finished)
    out = {"churn_events": stream.events}
    for name in PUSH_TABLES[1:-1]:
        out[name] = pd.concat([part[name] for part in per_design], ignore_index=True)
    out["push_summary"] = tables.summary(out["push_metrics"])
    return out


def design_tables(
    design: str,
    *,
    cluster: Cluster,
    stream: ChurnStream,
    calibration: Calibration,
    cols: ClusterColumns | None = None,
    seers: Seers | None = None,
    on_time: Callable[[str, float], None] | None = None,
    accounting: Mapping[str, DesignAccounting] | None = None,
) -> dict[str, pd.DataFrame]:
    """One design's push simulation over ``stream``, as its rows of the push tables (from its
    entry in ``accounting``, else from the design's accounting computed here)."""
    tell = None if on_time is None else functools.partial(on_time, design)
    cols = cluster_columns(cluster) if cols is None else cols
    seers = Seers(cluster) if seers is None else seers
    known = None if accounting is None else accounting.get(design)
    mine = design_accounting(cluster, get_design(design), cols) if known is None else known
    run = simulate_design(cluster, cols, stream, seers, mine, calibration, on_time=tell)
    istiod = cluster.scenario.istiod
    records = tables.push_records(run)
    cpu = tables.cpu_timeline(run, istiod.gomaxprocs * istiod.replicas)
    return {
        "push_records": records,
        "push_proxies": tables.proxy_records(run),
        "push_cpu": cpu,
        "push_metrics": tables.metrics(run, records, cpu),
        "push_convergence": tables.convergence_histogram(run),
    }
