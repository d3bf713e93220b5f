"""What a sweep keeps of each run: per design, the headline figures (under the names the run's
own tables give them) and the mesh's sizes, the terms capacity formulas are written in.

:func:`point_rows` turns a :class:`~dsim.results.RunResult` into those rows; the sweep runs it on
its workers, and anyone can run it on ``dsim.run``'s result to get the same rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.results import RunResult

METRICS_VERSION = 1
"""Bumped when the rows change meaning: a point computed under another version is computed again."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Metric:
    label: str
    """In words, for plots and the report."""
    unit: str
    """Unit of the values (as dsim's number formatting knows them: bytes, MiB, GiB, s, ms, ...)."""
    push: bool = False
    """Whether it comes from the push model (NaN when the sweep leaves it off)."""
    formula: bool = False
    """Whether the report gives it a linear capacity formula (memory and bytes)."""
    plotted: bool = True
    """Whether it gets growth curves and exponents."""


METRICS: dict[str, Metric] = {
    "config_bytes_per_proxy": Metric(label="config bytes per proxy, mean", unit="bytes", formula=True),
    "config_bytes_fleet": Metric(label="config bytes, fleet", unit="bytes", formula=True, plotted=False),
    "largest_response_bytes": Metric(label="largest xDS response (one type, one proxy)", unit="bytes"),
    "proxies_over_grpc_limit": Metric(
        label="proxies whose full push of a type exceeds the gRPC limit", unit="proxies", plotted=False
    ),
    "envoy_memory_mean_mib": Metric(label="Envoy memory per proxy, mean", unit="MiB", formula=True),
    "envoy_memory_p99_mib": Metric(label="Envoy memory per proxy, p99", unit="MiB", formula=True),
    "envoy_memory_fleet_gib": Metric(label="Envoy memory, fleet", unit="GiB", formula=True, plotted=False),
    "envoy_apply_cpu_mean_ms": Metric(label="Envoy config apply CPU, mean", unit="ms", plotted=False),
    "istiod_full_push_cpu_s": Metric(label="istiod CPU per full push", unit="s"),
    "convergence_p50_s": Metric(label="convergence p50", unit="s", push=True, plotted=False),
    "convergence_p99_s": Metric(label="convergence p99", unit="s", push=True),
    "convergence_max_s": Metric(label="convergence max", unit="s", push=True, plotted=False),
    "queue_time_p99_s": Metric(label="push queue time p99", unit="s", push=True, plotted=False),
    "istiod_cpu_s": Metric(label="istiod CPU under churn", unit="s", push=True, plotted=False),
    "istiod_utilization_mean": Metric(label="istiod utilization, mean", unit="share", push=True),
    "bytes_sent_per_s": Metric(label="bytes pushed per second", unit="bytes/s", push=True),
    "push_proxies_over_grpc_limit": Metric(
        label="proxies pushed over the gRPC limit (push model)", unit="proxies", push=True, plotted=False
    ),
}
"""Every figure a sweep keeps per point and design, by column name."""

_CLUSTER_COVARIATES = (
    "namespaces",
    "services",
    "dual_stack_services",
    "service_ports",
    "workloads",
    "pods",
    "sidecars",
    "dual_stack_sidecars",
    "call_graph_edges",
)
_PER_PROXY = ("listeners", "clusters", "endpoints")
COVARIATES: tuple[str, ...] = (*_CLUSTER_COVARIATES, *(f"{kind}_per_proxy" for kind in _PER_PROXY), "churn_events")
"""The mesh's sizes kept per point (and per design for the per-proxy object counts): what a
capacity formula may be written in."""

_PUSH_COLUMNS = {
    "convergence_p50_s": "convergence_p50_s",
    "convergence_p99_s": "convergence_p99_s",
    "convergence_max_s": "convergence_max_s",
    "queue_time_p99_s": "queue_time_p99_s",
    "istiod_cpu_s": "istiod_cpu_s",
    "istiod_utilization_mean": "istiod_utilization_mean",
    "bytes_sent_per_s": "bytes_sent_per_s",
    "push_proxies_over_grpc_limit": "proxies_over_grpc_limit",
}
_COST_COLUMNS = (
    "envoy_memory_mean_mib",
    "envoy_memory_p99_mib",
    "envoy_memory_fleet_gib",
    "envoy_apply_cpu_mean_ms",
    "istiod_full_push_cpu_s",
)


def point_rows(result: RunResult) -> pd.DataFrame:
    """One row per design of ``result``: ``design``, every :data:`METRICS` column and every
    :data:`COVARIATES` column, as float64 (NaN where the run has no such figure)."""
    from dsim.headline import pushed_anything

    designs = list(result.scenario.designs)
    t = result.tables
    out = pd.DataFrame({"design": designs})
    totals = (
        t["config_size_totals"].groupby("design", sort=False).agg(proxies=("proxies", "max"), bytes=("bytes", "sum"))
    )
    totals = totals.reindex(designs)
    out["config_bytes_per_proxy"] = (totals["bytes"] / totals["proxies"]).to_numpy(np.float64)
    out["config_bytes_fleet"] = totals["bytes"].to_numpy(np.float64)
    sizes = t["config_sizes"]
    largest = sizes.groupby("design", sort=False)["bytes"].max().reindex(designs)
    out["largest_response_bytes"] = largest.to_numpy(np.float64)
    limit = result.scenario.istiod.max_grpc_message_bytes
    over = sizes[sizes["bytes"] > limit].groupby("design", sort=False)["proxy"].nunique()
    out["proxies_over_grpc_limit"] = over.reindex(designs).fillna(0).to_numpy(np.float64)
    costs = t["proxy_cost_totals"].set_index("design").reindex(designs)
    for column in _COST_COLUMNS:
        out[column] = costs[column].to_numpy(np.float64)
    pushed = "push_summary" in t and pushed_anything(t)
    summary = t["push_summary"].set_index("design").reindex(designs) if pushed else None
    for column, source in _PUSH_COLUMNS.items():
        out[column] = summary[source].to_numpy(np.float64) if summary is not None else np.nan
    cluster = t["cluster_totals"].iloc[0]
    for column in _CLUSTER_COVARIATES:
        out[column] = float(cluster[column])
    counts = t["config_counts"].groupby("design", sort=False)[list(_PER_PROXY)].mean().reindex(designs)
    for kind in _PER_PROXY:
        out[f"{kind}_per_proxy"] = counts[kind].to_numpy(np.float64)
    out["churn_events"] = float(len(t["churn_events"])) if "churn_events" in t else np.nan
    return out[["design", *METRICS, *COVARIATES]]
