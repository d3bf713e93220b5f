"""How far to trust a run's Envoy predictions: per design, how well the calibration's fits
reproduce what they were fitted on (R², residual spread, the apply-CPU fit's fixed part with its
interval), the memory model's error at this run's sidecars, which workload certificate profile
the run asked for and whose coefficients priced it (the calibration's own for it, or a named
fallback when it has no measurements of that profile), and whether this mesh's sidecars lie
inside the range of configs the calibration measured or the prediction extrapolates the straight
line beyond it.

The range comes from the measurements file the calibration names (written beside it by
``dsim calibrate``); without that file the range columns are empty and the report says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dsim.calibration.fit import LinearFit
from dsim.calibration.model import MEMORY_TERMS, Calibration, read_bundle_table, shipped_path, with_plan_columns
from dsim.errors import CalibrationError
from dsim.scenario import Scenario

COVERAGE_COLUMNS = [
    "design",
    "certificate_profile",
    "certificate_coefficients",
    "memory_r_squared",
    "memory_residual_sd_mib",
    "memory_relative_residual_sd",
    "memory_error_mib",
    "memory_observations",
    "apply_cpu_r_squared",
    "apply_cpu_residual_sd_ms",
    "apply_cpu_intercept_ms",
    "apply_cpu_intercept_ci_low_ms",
    "apply_cpu_intercept_ci_high_ms",
    "proxies_outside_share",
    "furthest_term",
    "furthest_count",
    "furthest_calibrated",
]


def measurements(calibration: Calibration) -> pd.DataFrame | None:
    """The raw measurements the calibration was fitted on, or None when its bundle lacks them
    (the coverage then says the measured range is unknown rather than failing the run)."""
    # A loaded calibration knows its file as a bare name when it is the shipped one (see model._load).
    shipped = shipped_path()
    folder = shipped.parent if calibration.source == shipped.name else Path(calibration.source).parent
    try:
        return read_bundle_table(folder, calibration, "measurements", ("design", "stats_profile", *MEMORY_TERMS))
    except CalibrationError:
        return None  # a bundle without readable measurements: the range is unknown, the run goes on


def _furthest(counts: pd.DataFrame, measured: pd.DataFrame, terms: list[str]) -> tuple[float, str, float, float]:
    """Share of proxies with a term outside the measured range, and the term furthest outside:
    (share, term, this mesh's count, the calibrated bound it passes). Above the largest measured
    config counts before below the smallest (a straight line is least sure far out)."""
    low, high = measured[terms].min(), measured[terms].max()
    values = counts[terms]
    outside = float(((values > high) | (values < low)).any(axis=1).mean())
    above = (values.max() / high.replace(0, np.nan)).dropna()
    if len(above) and above.max() > 1:
        term = str(above.idxmax())
        return outside, term, float(values[term].max()), float(high[term])
    below = (values.min() / low.replace(0, np.nan)).dropna()
    if len(below) and below.min() < 1:
        term = str(below.idxmin())
        return outside, term, float(values[term].min()), float(low[term])
    return outside, "", np.nan, np.nan


def _error_here(memory: LinearFit, counts: pd.DataFrame) -> float:
    """The memory model's error at these sidecars, MiB: a fit for relative error spreads in
    proportion to the value, so its relative residual SD times their mean predicted memory; an
    unweighted fit's residual SD (older calibrations)."""
    if memory.weighting != "relative" or memory.relative_residual_sd is None:
        return memory.residual_sd / 2**20
    return memory.relative_residual_sd * float(memory.predict(counts).mean()) / 2**20


def calibration_coverage(counts: pd.DataFrame, *, scenario: Scenario, calibration: Calibration) -> pd.DataFrame:
    """One row per design of ``counts`` (object counts per proxy): the fits' quality and how this
    mesh's sidecars sit against the configs the calibration measured."""
    profile, certificate = scenario.envoy.stats_profile, scenario.envoy.workload_certificate
    used = calibration.certificate_for(certificate)
    raw = measurements(calibration)
    if raw is not None:
        raw = with_plan_columns(raw)
    rows = []
    for design, own in counts.groupby("design", sort=False):
        memory = calibration.envoy_fit(str(design), profile, "allocated_bytes", certificate)
        apply = calibration.envoy_fit(str(design), profile, "apply_cpu_ms", certificate)
        relative = memory.relative_residual_sd if memory.weighting == "relative" else None
        row = {
            "design": design,
            "certificate_profile": certificate,
            "certificate_coefficients": used,
            "memory_r_squared": memory.r_squared,
            "memory_residual_sd_mib": memory.residual_sd / 2**20,
            "memory_relative_residual_sd": np.nan if relative is None else relative,
            "memory_error_mib": _error_here(memory, own),
            "memory_observations": memory.observations,
            "apply_cpu_r_squared": apply.r_squared,
            "apply_cpu_residual_sd_ms": apply.residual_sd,
            "apply_cpu_intercept_ms": apply.intercept.estimate,
            "apply_cpu_intercept_ci_low_ms": apply.intercept.ci_low,
            "apply_cpu_intercept_ci_high_ms": apply.intercept.ci_high,
            "proxies_outside_share": np.nan,
            "furthest_term": "",
            "furthest_count": np.nan,
            "furthest_calibrated": np.nan,
        }
        if raw is not None:
            fitted = calibration.fitted_designs(str(design), profile, "allocated_bytes", certificate)
            measured = raw[
                raw["design"].isin(fitted) & (raw["stats_profile"] == profile) & (raw["certificate_profile"] == used)
            ]
            if len(measured):
                terms = [s.name for s in memory.slopes]
                (
                    row["proxies_outside_share"],
                    row["furthest_term"],
                    row["furthest_count"],
                    row["furthest_calibrated"],
                ) = _furthest(own, measured, terms)
        rows.append(row)
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
