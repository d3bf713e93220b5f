"""The design review's headline: per design, what a sidecar's config, Envoy and istiod cost, each
figure with its ratio to the two designs every comparison is about (``single-stack``, the
baseline, and ``additional-addresses``, what Istio shipped).

Built from a run's tables only (pandas, no plotting), so the report, the CLI and a notebook's
``_repr_html_`` all read the same numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.xds.vocabulary import XDS_TYPES

BASELINES = ("single-stack", "additional-addresses")
"""The designs every figure is compared with, in the headline's ratio columns."""
RATIO_COLUMNS = {name: f"vs_{name.replace('-', '_')}" for name in BASELINES}
RESOURCE_NAMES = {
    "listeners": "listeners (Listener resources)",
    "clusters": "clusters (Cluster resources)",
    "routes": "route configurations (RouteConfiguration resources)",
    "endpoints": "endpoint sets (ClusterLoadAssignment resources, one per EDS cluster)",
}
"""What one xDS resource of each type is, exactly: an EDS resource is a cluster's whole set of
endpoints, not an endpoint (the findings count those, Envoy's LbEndpoints, as "endpoints")."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Metric:
    section: str
    """Which part of the review the figure belongs to."""
    metric: str
    """What is measured, in words."""
    unit: str
    """Unit of ``values``."""
    values: pd.Series
    """Value per design (indexed by design)."""


def _size_metrics(totals: pd.DataFrame) -> list[_Metric]:
    metrics = []
    by_type = totals.set_index(["design", "xds_type"])
    for xds_type in XDS_TYPES:
        rows = by_type.xs(xds_type, level="xds_type")
        per_proxy = rows["resources"] / rows["proxies"]
        metrics.append(
            _Metric(
                section="config", metric=f"{RESOURCE_NAMES[xds_type]} per proxy", unit="resources", values=per_proxy
            )
        )
    for xds_type in XDS_TYPES:
        rows = by_type.xs(xds_type, level="xds_type")
        metrics.append(
            _Metric(
                section="config",
                metric=f"{xds_type} bytes per proxy",
                unit="bytes",
                values=rows["bytes"] / rows["proxies"],
            )
        )
    grouped = totals.groupby("design", sort=False)
    proxies = grouped["proxies"].max()
    fleet = grouped["bytes"].sum()
    metrics.append(_Metric(section="config", metric="config bytes per proxy", unit="bytes", values=fleet / proxies))
    metrics.append(_Metric(section="config", metric="config bytes, fleet", unit="bytes", values=fleet))
    return metrics


def _cost_metrics(costs: pd.DataFrame) -> list[_Metric]:
    rows = costs.set_index("design")
    return [
        _Metric(
            section="envoy", metric="Envoy memory per proxy, mean", unit="MiB", values=rows["envoy_memory_mean_mib"]
        ),
        _Metric(section="envoy", metric="Envoy memory per proxy, p99", unit="MiB", values=rows["envoy_memory_p99_mib"]),
        _Metric(section="envoy", metric="Envoy memory, fleet", unit="GiB", values=rows["envoy_memory_fleet_gib"]),
        _Metric(
            section="envoy", metric="Envoy config apply CPU, mean", unit="ms", values=rows["envoy_apply_cpu_mean_ms"]
        ),
        _Metric(section="istiod", metric="istiod CPU per full push", unit="s", values=rows["istiod_full_push_cpu_s"]),
    ]


def _push_metrics(summary: pd.DataFrame) -> list[_Metric]:
    rows = summary.set_index("design")
    return [
        _Metric(section="push", metric="convergence p50", unit="s", values=rows["convergence_p50_s"]),
        _Metric(section="push", metric="convergence p99", unit="s", values=rows["convergence_p99_s"]),
        _Metric(section="push", metric="bytes pushed per second", unit="bytes/s", values=rows["bytes_sent_per_s"]),
        _Metric(section="push", metric="istiod CPU under churn", unit="s", values=rows["istiod_cpu_s"]),
    ]


def pushed_anything(tables: dict[str, pd.DataFrame]) -> bool:
    """Whether the push model ran and pushed to a proxy (a scenario without churn pushes nothing:
    its convergence and push traffic are then undefined, not zero)."""
    convergence = tables.get("push_convergence")
    return convergence is not None and int(convergence["proxy_pushes"].sum()) > 0


def design_summary(tables: dict[str, pd.DataFrame], designs: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """One row per (metric, design): the value and its ratios to each baseline design that ran
    (NaN when that baseline did not run or its value is zero). The push model's figures are
    there only when it pushed something."""
    metrics = _size_metrics(tables["config_size_totals"]) + _cost_metrics(tables["proxy_cost_totals"])
    if pushed_anything(tables):
        metrics += _push_metrics(tables["push_summary"])
    frames = []
    for m in metrics:
        values = m.values.reindex(list(designs)).astype(float)
        frame = pd.DataFrame({"section": m.section, "metric": m.metric, "unit": m.unit, "design": list(designs)})
        frame["value"] = values.to_numpy()
        for baseline, column in RATIO_COLUMNS.items():
            base = float(values.get(baseline, np.nan))
            frame[column] = frame["value"] / base if base and not np.isnan(base) else np.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
