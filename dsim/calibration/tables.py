"""A calibration as tables: its coefficients, and how two calibrations' coefficients compare."""

from __future__ import annotations

import pandas as pd

from dsim.calibration.model import Calibration

COEFFICIENT_COLUMNS = [
    "design",
    "stats_profile",
    "target",
    "term",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "r_squared",
    "observations",
]


def coefficient_table(calibration: Calibration) -> pd.DataFrame:
    """One row per (design, stats profile, measured quantity, term)."""
    rows = []
    for (design, profile, target), fit in sorted(calibration.envoy.items()):
        for term in (fit.intercept, *fit.slopes):
            rows.append(
                {
                    "design": design,
                    "stats_profile": profile,
                    "target": target,
                    "term": term.name,
                    "estimate": term.estimate,
                    "std_error": term.std_error,
                    "ci_low": term.ci_low,
                    "ci_high": term.ci_high,
                    "r_squared": fit.r_squared,
                    "observations": fit.observations,
                }
            )
    return pd.DataFrame(rows, columns=COEFFICIENT_COLUMNS)


def agreement(new: Calibration, reference: Calibration) -> pd.DataFrame:
    """Each coefficient both calibrations have, side by side; ``agrees`` when their confidence
    intervals overlap (the difference is within the sum of the half-widths). A stricter test per
    coefficient would flag about 5% of dozens of comparisons by chance alone."""
    left = coefficient_table(new)
    right = coefficient_table(reference)
    keys = ["design", "stats_profile", "target", "term"]
    both = left.merge(right, on=keys, suffixes=("", "_reference"))
    half = (both["ci_high"] - both["ci_low"]) / 2
    half_reference = (both["ci_high_reference"] - both["ci_low_reference"]) / 2
    both["difference"] = both["estimate"] - both["estimate_reference"]
    both["tolerance"] = half + half_reference
    both["agrees"] = both["difference"].abs() <= both["tolerance"]
    return both[[*keys, "estimate", "estimate_reference", "difference", "tolerance", "agrees"]]
