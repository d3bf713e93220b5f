"""The lines the review's line plots draw, one per design, as arrays (no matplotlib): the plots
draw them and the captions compare them, so a caption says when two designs' lines coincide
about the very lines on the page."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Line = tuple[np.ndarray, np.ndarray]
"""x and y of one design's line."""

CPU_WINDOW_S = 10
"""istiod CPU is drawn as means over windows of this many seconds."""


def designs(frame: pd.DataFrame) -> list[str]:
    """The designs of a table, in the order they ran."""
    return list(frame["design"].unique())


def cdf(values: np.ndarray, weights: np.ndarray | None = None) -> Line:
    """An empirical CDF: the sorted values and the share of mass at or below each."""
    order = np.argsort(values, kind="stable")
    mass = np.ones(len(values)) if weights is None else weights[order].astype(float)
    return values[order], np.cumsum(mass) / mass.sum()


def memory_lines(costs: pd.DataFrame) -> dict[str, Line]:
    """Per design: the CDF of predicted Envoy memory per proxy, MiB."""
    return {d: cdf(costs.loc[costs["design"] == d, "envoy_memory_bytes"].to_numpy() / 2**20) for d in designs(costs)}


def convergence_lines(histogram: pd.DataFrame) -> dict[str, Line]:
    """Per design: the CDF of proxy-push convergence times (bin upper edges, seconds)."""
    lines = {}
    for d in designs(histogram):
        rows = histogram[histogram["design"] == d]
        lines[d] = cdf(rows["upper_s"].to_numpy(), rows["proxy_pushes"].to_numpy())
    return lines


def cpu_lines(cpu: pd.DataFrame, window_s: int = CPU_WINDOW_S) -> dict[str, Line]:
    """Per design: istiod CPU utilization (%) over minutes of churn, in ``window_s`` means."""
    lines = {}
    for d in designs(cpu):
        rows = cpu[cpu["design"] == d]
        window = (rows["second"].to_numpy() // window_s).astype(np.int64)
        means = rows.groupby(window)["utilization"].mean()
        lines[d] = (means.index.to_numpy() * window_s / 60, means.to_numpy() * 100)
    return lines


def same_distribution(a: Line, b: Line, tolerance: float) -> bool:
    """Whether two CDFs coincide: at every share of the mass (every 0.5%), their values are
    within ``tolerance`` of each other, relatively (one CDF drawn over the other)."""
    shares = np.linspace(0.005, 1.0, 200)
    (xa, ya), (xb, yb) = a, b
    qa = xa[np.minimum(np.searchsorted(ya, shares - 1e-12), len(xa) - 1)]
    qb = xb[np.minimum(np.searchsorted(yb, shares - 1e-12), len(xb) - 1)]
    return bool(np.all(np.abs(qa - qb) <= tolerance * np.maximum(np.abs(qa), np.abs(qb))))


def same_shares(a: Line, b: Line, tolerance: float) -> bool:
    """Whether two CDFs over shared x values (histogram bins) coincide: at every x, the shares
    at or below it differ by at most ``tolerance``."""
    grid = np.union1d(a[0], b[0])

    def share(line: Line) -> np.ndarray:
        index = np.searchsorted(line[0], grid, side="right") - 1
        return np.where(index >= 0, line[1][np.maximum(index, 0)], 0.0)

    return bool(np.abs(share(a) - share(b)).max(initial=0.0) <= tolerance)


def same_series(a: Line, b: Line, tolerance: float) -> bool:
    """Whether two series over the same x coincide: every y within ``tolerance`` of the largest."""
    (xa, ya), (xb, yb) = a, b
    if len(xa) != len(xb) or not np.array_equal(xa, xb):
        return False
    scale = max(float(np.abs(np.concatenate([ya, yb])).max()) if len(ya) else 0.0, 1e-12)
    return bool(np.abs(ya - yb).max(initial=0.0) <= tolerance * scale)


def coinciding(lines: dict[str, Line], same: Callable[[Line, Line], bool]) -> list[list[str]]:
    """Groups of two or more designs whose lines coincide by ``same`` (each compared with the
    first of a group), in the order the designs ran."""
    groups: list[list[str]] = []
    for design, line in lines.items():
        group = next((g for g in groups if same(lines[g[0]], line)), None)
        if group is None:
            groups.append([design])
        else:
            group.append(design)
    return [g for g in groups if len(g) > 1]
