"""The review's plots: each function takes a run's tables and returns a matplotlib Figure.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot, so making
them touches no global state or GUI backend (a batch run, a test, a notebook all behave alike).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dsim.headline import pushed_anything
from dsim.report.images import image_bytes
from dsim.report.labels import object_label
from dsim.report.numbers import significant
from dsim.report.series import CPU_WINDOW_S, Line, convergence_lines, cpu_lines, designs, memory_lines
from dsim.xds.vocabulary import COUNT_COLUMNS, XDS_TYPES

_SIZE = (7.5, 4.2)
_TYPE_COLORS = {"listeners": "#4C72B0", "clusters": "#DD8452", "routes": "#55A868", "endpoints": "#C44E52"}
_DESIGN_STYLES = ("-", "--", "-.", ":")


class ReviewFigure(Figure):
    """A Figure that shows itself in a notebook without pyplot or an inline backend."""

    def _repr_png_(self) -> bytes:
        return image_bytes(self, "png")


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = ReviewFigure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    axes.grid(True, alpha=0.3)
    axes.set_axisbelow(True)
    return figure, axes


def _legend(figure: Figure, axes: Axes) -> None:
    # Below the plot, not on it: with four designs an inside legend hides data.
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8, frameon=False)


def _design_lines(design: str, index: int) -> dict[str, Any]:
    return {"label": design, "linestyle": _DESIGN_STYLES[index % len(_DESIGN_STYLES)], "color": f"C{index}"}


def bytes_per_proxy(totals: pd.DataFrame) -> Figure:
    """Mean serialized config per proxy (kB), stacked by xDS type, one bar per design."""
    figure, axes = _figure("Config pushed to each sidecar, by xDS type")
    names = designs(totals)
    wide = totals.pivot(index="design", columns="xds_type", values="bytes_per_proxy").loc[names] / 1e3
    left = np.zeros(len(names))
    rows = np.arange(len(names))
    for xds_type in XDS_TYPES:
        widths = wide[xds_type].to_numpy()
        axes.barh(rows, widths, left=left, color=_TYPE_COLORS[xds_type], label=xds_type)
        left += widths
    for row, total in zip(rows, left, strict=True):
        axes.annotate(f"{significant(total)} kB", (total, row), xytext=(4, 0), textcoords="offset points", va="center")
    axes.set_yticks(rows, names)
    axes.invert_yaxis()
    axes.set_xlim(0, left.max() * 1.18)
    axes.set_xlabel("kB per proxy (serialized resources / 1000, Istio's kb/msg)")
    _legend(figure, axes)
    return figure


def _steps(axes: Axes, lines: dict[str, Line]) -> None:
    for index, (design, (x, y)) in enumerate(lines.items()):
        axes.step(x, y, where="post", **_design_lines(design, index))


def memory_cdf(costs: pd.DataFrame) -> Figure:
    """Distribution (CDF) of predicted Envoy memory per proxy, one line per design."""
    figure, axes = _figure("Envoy memory per sidecar (calibrated model)")
    _steps(axes, memory_lines(costs))
    axes.set_xlabel("Envoy memory per proxy, MiB (tcmalloc allocated)")
    axes.set_ylabel("share of proxies")
    axes.set_ylim(0, 1.02)
    _legend(figure, axes)
    return figure


def convergence_cdf(histogram: pd.DataFrame) -> Figure:
    """CDF of every proxy push's convergence time (enqueue → Envoy applied), one line per design."""
    figure, axes = _figure("Push convergence under churn (pilot_proxy_convergence_time)")
    _steps(axes, convergence_lines(histogram))
    axes.set_xscale("log")
    axes.set_xlabel("seconds from enqueue to Envoy applied (log scale)")
    axes.set_ylabel("share of proxy pushes")
    axes.set_ylim(0, 1.02)
    _legend(figure, axes)
    return figure


def istiod_cpu(cpu: pd.DataFrame, *, window_s: int = CPU_WINDOW_S) -> Figure:
    """istiod CPU utilization over the churn (mean over ``window_s``-second windows), per design."""
    figure, axes = _figure(f"istiod CPU under churn ({window_s} s means, all replicas' cores)")
    for index, (design, (minutes, percent)) in enumerate(cpu_lines(cpu, window_s).items()):
        axes.plot(minutes, percent, **_design_lines(design, index))
    axes.set_xlabel("minutes of churn")
    axes.set_ylabel("CPU utilization, %")
    axes.set_ylim(bottom=0)
    _legend(figure, axes)
    return figure


def resource_counts(counts: pd.DataFrame) -> Figure:
    """Mean Envoy objects per proxy (what its memory is priced on), grouped by object, per design."""
    figure, axes = _figure("Envoy objects per sidecar")
    names = designs(counts)
    columns = [c for c in COUNT_COLUMNS if c in counts.columns]
    means = counts.groupby("design", sort=False)[columns].mean().loc[names]
    rows = np.arange(len(columns))
    height = 0.8 / len(names)
    for index, design in enumerate(names):
        values = means.loc[design].to_numpy()
        axes.barh(rows + index * height, np.where(values > 0, values, np.nan), height, label=design, color=f"C{index}")
    axes.set_yticks(rows + height * (len(names) - 1) / 2, [object_label(c) for c in columns])
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("objects per proxy, mean (log scale; absent = none)")
    _legend(figure, axes)
    return figure


PLOTS = {
    "bytes_per_proxy": (("config_size_totals",), bytes_per_proxy),
    "envoy_memory_cdf": (("proxy_costs",), memory_cdf),
    "convergence_cdf": (("push_convergence",), convergence_cdf),
    "istiod_cpu": (("push_cpu",), istiod_cpu),
    "resource_counts": (("config_counts",), resource_counts),
}
"""Each plot's name, the tables it is drawn from, and the function drawing it."""
PUSH_PLOTS = ("convergence_cdf", "istiod_cpu")
"""The plots of the push model: empty, so left out, when it pushed nothing."""


def figures(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """Every plot whose tables the run has (the push plots need the push model to have pushed)."""
    pushed = pushed_anything(tables)
    return {
        name: draw(*(tables[t] for t in needs))
        for name, (needs, draw) in PLOTS.items()
        if all(t in tables for t in needs) and (pushed or name not in PUSH_PLOTS)
    }
