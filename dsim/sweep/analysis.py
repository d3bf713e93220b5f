"""What a sweep's table says: how each figure grows along each axis (a fitted exponent, or a
slope, with its interval), linear capacity formulas per design for memory and bytes, where one
design overtakes another, and the headroom searches' outcome.

Every fit is :func:`dsim.calibration.fit.fit_linear`, the least squares with HC3-robust Student-t
intervals that dsim's Envoy calibration uses. Pandas only: no plotting here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsim.calibration.fit import CONFIDENCE, LinearFit, fit_linear
from dsim.errors import CalibrationError
from dsim.sweep.execute import OK
from dsim.sweep.metrics import METRICS
from dsim.sweep.spec import Axis, Sweep

MAX_CURVE_POINTS = 12
"""A random sweep's axis with more distinct values than this is binned (by quantile) for its curves."""
CURVE_BINS = 8
FLAT = 1e-9
"""A figure whose spread over a design's points is below this share of its size does not vary."""
CROSSING = 0.01
"""Two designs' curves cross only where they differ by at least this share on both sides (near-equal
designs would otherwise "cross" at every wobble)."""
POWER_SPAN = 2.0
"""An axis whose values are all positive and span at least this ratio is fitted as a power law."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Term:
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    r_squared: float
    observations: int


def ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == OK]


def numeric_axes(sweep: Sweep, table: pd.DataFrame) -> list[Axis]:
    """The numeric axes that take more than one value among the computed points."""
    ok = ok_rows(table)
    return [a for a in sweep.axes if a.numeric and a.path in ok and ok[a.path].nunique() > 1]


def power_axis(values: pd.Series) -> bool:
    """Whether an axis' values suit a power law (and a log scale): all positive, spread enough."""
    x = values.to_numpy(dtype=np.float64)
    return bool(len(x)) and bool((x > 0).all()) and x.max() / x.min() >= POWER_SPAN


def _safe_fit(frame: pd.DataFrame, target: str, regressors: Sequence[str]) -> LinearFit | None:
    """``fit_linear``, dropping the last regressors until the points separate the rest; None when
    not even the first can be fitted."""
    used = list(regressors)
    while used:
        try:
            return fit_linear(frame, target, used)
        except CalibrationError:
            used = used[:-1]
    return None


def _term(fit: LinearFit | None, name: str) -> Term | None:
    if fit is None:
        return None
    slope = fit.slope(name)
    if slope is None:
        return None
    return Term(
        estimate=slope.estimate,
        std_error=slope.std_error,
        ci_low=slope.ci_low,
        ci_high=slope.ci_high,
        r_squared=fit.r_squared,
        observations=fit.observations,
    )


def _point_estimate(frame: pd.DataFrame, target: str, name: str) -> Term | None:
    """The slope of a line through too few points for an interval (two values, one replicate)."""
    x, y = frame[name].to_numpy(np.float64), frame[target].to_numpy(np.float64)
    if np.ptp(x) == 0:
        return None
    slope = float(np.polyfit(x, y, 1)[0])
    return Term(estimate=slope, std_error=np.nan, ci_low=np.nan, ci_high=np.nan, r_squared=np.nan, observations=len(x))


def growth(table: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Per plotted metric, numeric axis and design: the growth exponent (``form`` power:
    metric ∝ axis^exponent, a log-log fit) or, where a power law cannot be fitted (zeros), the
    slope per unit of the axis, with its 95% interval; other axes held by fixed effects (a grid)
    or as regressors (random samples)."""
    rows = []
    ok = ok_rows(table)
    axes = numeric_axes(sweep, table)
    others_all = [a for a in sweep.axes if a.path in ok and ok[a.path].nunique() > 1]
    for metric, info in METRICS.items():
        if not info.plotted and not info.formula:
            continue
        for axis in axes:
            others = [a for a in others_all if a.path != axis.path]
            for design in sweep.designs:
                frame = ok[(ok["design"] == design) & ok[metric].notna()]
                if frame[axis.path].nunique() < 2:
                    continue
                y = frame[metric].to_numpy(np.float64)
                power = power_axis(frame[axis.path]) and bool((y > 0).all())
                if np.ptp(y) <= FLAT * np.abs(y).max():
                    rows.append(_flat_row(metric, info.unit, axis.path, design, frame))
                    continue
                data = pd.DataFrame({"y": np.log(y) if power else y}, index=frame.index)
                data["x"] = (
                    np.log(frame[axis.path].astype(np.float64)) if power else frame[axis.path].astype(np.float64)
                )
                controls = _controls(frame, others, sweep.sampling == "grid", power)
                data = pd.concat([data, controls], axis=1)
                term = _term(_safe_fit(data, "y", ["x", *controls.columns]), "x") or _point_estimate(data, "y", "x")
                if term is None:
                    continue
                rows.append(
                    {
                        "metric": metric,
                        "unit": info.unit,
                        "axis": axis.path,
                        "design": design,
                        "form": "power" if power else "linear",
                        **dataclasses.asdict(term),
                        "x_min": float(frame[axis.path].min()),
                        "x_max": float(frame[axis.path].max()),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "metric", "unit", "axis", "design", "form", "estimate", "std_error", "ci_low", "ci_high",
            "r_squared", "observations", "x_min", "x_max",
        ],
    )  # fmt: skip


def _flat_row(metric: str, unit: str, axis: str, design: str, frame: pd.DataFrame) -> dict[str, object]:
    return {
        "metric": metric,
        "unit": unit,
        "axis": axis,
        "design": design,
        "form": "flat",
        "estimate": 0.0,
        "std_error": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "r_squared": np.nan,
        "observations": len(frame),
        "x_min": float(frame[axis].min()),
        "x_max": float(frame[axis].max()),
    }


def _controls(frame: pd.DataFrame, others: Sequence[Axis], grid: bool, power: bool) -> pd.DataFrame:
    """Regressors holding the other axes: one indicator per combination of their values (grid),
    or the numeric ones as they are (log when ``power`` and positive) and indicators for the rest."""
    out = pd.DataFrame(index=frame.index)
    if not others:
        return out
    if grid:
        combo = frame[[a.path for a in others]].astype(str).agg("|".join, axis=1)
        levels = sorted(combo.unique())
        for i, level in enumerate(levels[1:], start=1):
            out[f"held_{i}"] = (combo == level).astype(np.float64)
        return out
    for j, axis in enumerate(others):
        values = frame[axis.path]
        if axis.numeric:
            numbers = values.astype(np.float64)
            out[f"other_{j}"] = np.log(numbers) if power and (numbers > 0).all() else numbers
        else:
            levels = sorted(values.astype(str).unique())
            for i, level in enumerate(levels[1:], start=1):
                out[f"other_{j}_{i}"] = (values.astype(str) == level).astype(np.float64)
    return out


def formulas(table: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Per design and memory/bytes metric, ``metric ≈ intercept + Σ slope·term`` over the sweep's
    formula terms (those the points vary), one row per coefficient, with HC3 95% intervals."""
    ok = ok_rows(table)
    rows = []
    for metric, info in METRICS.items():
        if not info.formula:
            continue
        for design in sweep.designs:
            frame = ok[(ok["design"] == design) & ok[metric].notna()]
            if len(frame) < 2 or np.ptp(frame[metric]) <= FLAT * frame[metric].abs().max():
                continue  # too few points, or a figure the sweep does not change
            varied = [term for term in sweep.formula if term in frame and np.ptp(frame[term].to_numpy()) > 0]
            fit = _safe_fit(frame, metric, varied) if varied else None
            if fit is None:
                continue  # the points vary none of the terms: no formula to read off them
            for c in (fit.intercept, *fit.slopes):
                rows.append(
                    {
                        "design": design,
                        "metric": metric,
                        "unit": info.unit,
                        "term": c.name,
                        "estimate": c.estimate,
                        "std_error": c.std_error,
                        "ci_low": c.ci_low,
                        "ci_high": c.ci_high,
                        "r_squared": fit.r_squared,
                        "residual_sd": fit.residual_sd,
                        "observations": fit.observations,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "design", "metric", "unit", "term", "estimate", "std_error", "ci_low", "ci_high",
            "r_squared", "residual_sd", "observations",
        ],
    )  # fmt: skip


def curve(frame: pd.DataFrame, axis: str, metric: str, *, binned: bool) -> pd.DataFrame:
    """The metric's mean per axis value (per quantile bin when ``binned`` and the axis has many
    values), over replicates and the other axes: columns ``x`` and ``y``, sorted by x."""
    data = frame[[axis, metric]].dropna().astype(np.float64)
    if binned and data[axis].nunique() > MAX_CURVE_POINTS:
        bins = pd.qcut(data[axis].rank(method="first"), CURVE_BINS, labels=False)
        grouped = data.groupby(bins)
        return (
            pd.DataFrame({"x": grouped[axis].mean(), "y": grouped[metric].mean()})
            .sort_values("x")
            .reset_index(drop=True)
        )
    means = data.groupby(axis)[metric].mean()
    return pd.DataFrame({"x": means.index.to_numpy(np.float64), "y": means.to_numpy(np.float64)})


def crossovers(table: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Where one design's curve crosses another's along an axis: the axis value (interpolated
    between the two swept values around it, on a log axis when it is one), and which design is
    above after it; only where they differ by :data:`CROSSING` or more on both sides."""
    ok = ok_rows(table)
    rows = []
    binned = sweep.sampling == "random"
    for metric, info in METRICS.items():
        if not (info.plotted or info.formula):
            continue
        for axis in numeric_axes(sweep, table):
            curves = {
                d: curve(ok[ok["design"] == d], axis.path, metric, binned=binned).set_index("x")["y"]
                for d in sweep.designs
            }
            log_x = power_axis(ok[axis.path])
            for i, a in enumerate(sweep.designs):
                for b in sweep.designs[i + 1 :]:
                    both = pd.concat([curves[a], curves[b]], axis=1, keys=["a", "b"]).dropna().sort_index()
                    if len(both) < 2:
                        continue
                    diff = (both["a"] - both["b"]).to_numpy()
                    x = both.index.to_numpy(np.float64)
                    level = np.maximum(np.abs(both["a"].to_numpy()), np.abs(both["b"].to_numpy()))
                    clear = np.abs(diff) >= CROSSING * level
                    for k in range(len(diff) - 1):
                        if diff[k] * diff[k + 1] < 0 and clear[k] and clear[k + 1]:
                            share = diff[k] / (diff[k] - diff[k + 1])
                            if log_x:
                                at = math.exp(math.log(x[k]) + share * (math.log(x[k + 1]) - math.log(x[k])))
                            else:
                                at = x[k] + share * (x[k + 1] - x[k])
                            above = a if diff[k + 1] > 0 else b
                            rows.append(
                                {
                                    "metric": metric,
                                    "axis": axis.path,
                                    "design": above,
                                    "overtakes": b if above == a else a,
                                    "at": at,
                                    "between_low": x[k],
                                    "between_high": x[k + 1],
                                }
                            )
    return pd.DataFrame(rows, columns=["metric", "axis", "design", "overtakes", "at", "between_low", "between_high"])


def headroom_summary(searches: pd.DataFrame, sweep: Sweep) -> pd.DataFrame:
    """Per design: the boundary of the targets along the headroom axis over the replicates that
    found one (the mean of each search's last bracket midpoint; geometric on a log scale), its
    95% interval (Student t over replicates, widened by half the bisection's last bracket; one
    replicate: the bracket itself), and the largest value at which the targets held in every
    replicate."""
    h = sweep.headroom
    assert h is not None
    from scipy import stats

    rows = []
    log = h.scale == "log"
    for design in sweep.designs:
        mine = searches[searches["design"] == design]
        settled = mine[mine["outcome"] == "settled"]
        row: dict[str, object] = {
            "design": design,
            "axis": h.axis.path,
            "targets": " and ".join(str(t) for t in h.targets),
            "replicates": len(mine),
            "found": len(settled),
            "direction": "",
            "estimate": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "holds_in_every_replicate_at": np.nan,
            "outcome": "",
        }
        if len(settled):
            good, bad = settled["holds_at"].to_numpy(), settled["fails_at"].to_numpy()
            row["direction"] = "up to" if (good < bad).all() else "from" if (good > bad).all() else "mixed"
            mids = np.sqrt(good * bad) if log else (good + bad) / 2
            centre = np.log(mids) if log else mids
            half = np.mean(np.abs(np.log(bad) - np.log(good)) if log else np.abs(bad - good)) / 2
            mean = float(centre.mean())
            if len(centre) > 1:
                spread = float(
                    stats.t.ppf(0.5 + CONFIDENCE / 2, len(centre) - 1) * centre.std(ddof=1) / math.sqrt(len(centre))
                )
            else:
                spread = 0.0
            low, high = mean - spread - half, mean + spread + half
            back = (lambda v: math.exp(v)) if log else (lambda v: v)
            row["estimate"], row["ci_low"], row["ci_high"] = back(mean), back(low), back(high)
            row["holds_in_every_replicate_at"] = float(good.min() if row["direction"] == "up to" else good.max())
        outcomes = mine["outcome"].value_counts()
        row["outcome"] = "; ".join(f"{o} ({n} of {len(mine)})" for o, n in outcomes.items())
        rows.append(row)
    return pd.DataFrame(rows)
