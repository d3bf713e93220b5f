"""The plots' captions: what each shows, and, for the line plots, which designs' lines coincide
(drawn one over another, they would read as missing)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import pandas as pd

from dsim.report.findings import SAME
from dsim.report.series import (
    Line,
    coinciding,
    convergence_lines,
    cpu_lines,
    memory_lines,
    same_distribution,
    same_series,
    same_shares,
)

CAPTIONS = {
    "bytes_per_proxy": "Serialized config per sidecar, by xDS type (mean over the fleet; Istio's kb/msg).",
    "envoy_memory_cdf": "Envoy memory per sidecar, predicted from its exact objects by the calibrated model.",
    "convergence_cdf": "Time from a proxy being queued to Envoy having applied its push, over every proxy push.",
    "istiod_cpu": "istiod CPU utilization over the churn, all replicas' cores.",
    "resource_counts": "Envoy objects per sidecar, by kind (log scale).",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _LinePlot:
    table: str
    """The table the plot is drawn from."""
    lines: Callable[[pd.DataFrame], dict[str, Line]]
    """Its lines, as the plot draws them."""
    same: Callable[[Line, Line], bool]
    """When two of them coincide."""
    within: str
    """How close that is, in words."""


_LINE_PLOTS = {
    "envoy_memory_cdf": _LinePlot(
        table="proxy_costs",
        lines=memory_lines,
        same=functools.partial(same_distribution, tolerance=SAME),
        within="within 0.5%",
    ),
    "convergence_cdf": _LinePlot(
        table="push_convergence",
        lines=convergence_lines,
        same=functools.partial(same_shares, tolerance=SAME),
        within="within 0.5% of the proxy pushes at every time",
    ),
    "istiod_cpu": _LinePlot(
        table="push_cpu", lines=cpu_lines, same=functools.partial(same_series, tolerance=SAME), within="within 0.5%"
    ),
}


def _names(designs: list[str]) -> str:
    quoted = [f"`{d}`" for d in designs]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def caption(plot: str, tables: dict[str, pd.DataFrame]) -> str:
    """The caption of ``plot``, saying which designs' lines coincide."""
    text = CAPTIONS[plot]
    spec = _LINE_PLOTS.get(plot)
    if spec is None:
        return text
    lines = spec.lines(tables[spec.table])
    groups = coinciding(lines, spec.same)
    if len(groups) == 1 and len(groups[0]) == len(lines):
        return (
            f"{text} Every design's line is the same ({spec.within}), drawn one over another: they do not differ here."
        )
    for group in groups:
        text += f" The lines of {_names(group)} coincide ({spec.within}), drawn one over another."
    return text
