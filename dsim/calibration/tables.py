"""A calibration as tables: its coefficients, and how two calibrations' coefficients compare."""

from __future__ import annotations

import pandas as pd

from dsim.calibration.model import Calibration
from dsim.errors import CalibrationError

COEFFICIENT_COLUMNS = [
    "design",
    "stats_profile",
    "certificate_profile",
    "target",
    "term",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "vif",
    "r_squared",
    "observations",
]


EVERY_DESIGN = "(every design)"
"""The ``design`` of a :func:`coefficient_table` row whose fit serves every design (``shared``)."""


def coefficient_table(calibration: Calibration, *, shared: bool = False) -> pd.DataFrame:
    """One row per (design, stats profile, certificate profile, measured quantity, term), with
    the term's variance inflation factor (empty for the intercept). ``shared``: a fit that serves
    every design is listed once, as :data:`EVERY_DESIGN` (what a reader needs; one fit per design
    and profile is what the model looks up)."""
    rows = []
    listed = set()
    for (design, profile, certificate, target), fit in sorted(calibration.envoy.items()):
        if shared:
            if len(calibration.fitted_designs(design, profile, target, certificate)) == len(calibration.designs):
                design = EVERY_DESIGN
            if (design, profile, certificate, target) in listed:
                continue
            listed.add((design, profile, certificate, target))
        for term in (fit.intercept, *fit.slopes):
            rows.append(
                {
                    "design": design,
                    "stats_profile": profile,
                    "certificate_profile": certificate,
                    "target": target,
                    "term": term.name,
                    "estimate": term.estimate,
                    "std_error": term.std_error,
                    "ci_low": term.ci_low,
                    "ci_high": term.ci_high,
                    "vif": term.vif,
                    "r_squared": fit.r_squared,
                    "observations": fit.observations,
                }
            )
    return pd.DataFrame(rows, columns=COEFFICIENT_COLUMNS)


def agreement(new: Calibration, reference: Calibration) -> pd.DataFrame:
    """Each coefficient both calibrations have, side by side; ``agrees`` when their confidence
    intervals overlap (the difference is within the sum of the half-widths). A stricter test per
    coefficient would flag about 5% of dozens of comparisons by chance alone.

    Each of ``new``'s certificate profiles is compared with the reference's coefficients for it,
    or for the profile the reference would price it with (``certificate_profile_reference`` says
    which: a different profile's prices may differ for real)."""
    left = coefficient_table(new)
    right = coefficient_table(reference).rename(columns={"certificate_profile": "certificate_profile_reference"})
    left["certificate_profile_reference"] = [reference.certificate_for(c) for c in left["certificate_profile"]]
    keys = ["design", "stats_profile", "target", "term"]
    both = left.merge(right, on=[*keys, "certificate_profile_reference"], suffixes=("", "_reference"))
    half = (both["ci_high"] - both["ci_low"]) / 2
    half_reference = (both["ci_high_reference"] - both["ci_low_reference"]) / 2
    both["difference"] = both["estimate"] - both["estimate_reference"]
    both["tolerance"] = half + half_reference
    both["agrees"] = both["difference"].abs() <= both["tolerance"]
    return both[
        [
            *keys,
            "certificate_profile",
            "certificate_profile_reference",
            "estimate",
            "estimate_reference",
            "difference",
            "tolerance",
            "agrees",
        ]
    ]


SIZE_BANDS = ((1, 59, "6-59 services"), (60, 300, "60-300 services"), (301, 100_000, "1,000+ services"))
"""Mesh-size bands the per-object prices are compared across (:func:`price_by_band`)."""
DRIFT_TERMS = ("clusters", "endpoints")
"""The objects whose price :func:`price_by_band` frees per band: the two that carry most of a
large sidecar's memory."""


def price_by_band(
    calibration: Calibration, measurements: pd.DataFrame, target: str = "allocated_bytes"
) -> pd.DataFrame:
    """Whether the per-object prices drift with mesh size: per fit and size band (by the measured
    mesh's service count), the band's own price of :data:`DRIFT_TERMS` and fixed part, with the
    fit's other terms held at their all-sizes prices (a band of a few meshes cannot price every
    term), beside the all-sizes price; and the band's mean measured / predicted ratio."""
    from dsim.calibration.fit import fit_linear  # fitting needs scipy; the model's tables do not
    from dsim.calibration.model import with_plan_columns

    frame = with_plan_columns(measurements)
    rows = []
    for (design, profile, certificate, fitted), fit in sorted(calibration.envoy.items()):
        if fitted != target:
            continue
        own = frame[
            (frame["design"] == design)
            & (frame["stats_profile"] == profile)
            & (frame["certificate_profile"] == certificate)
        ]
        for low, high, band in SIZE_BANDS:
            rows_in = own[(own["services"] >= low) & (own["services"] <= high)]
            if rows_in.empty:
                continue
            fixed = [s for s in fit.slopes if s.name not in DRIFT_TERMS]
            offset = rows_in[target].to_numpy(dtype=float) - sum(
                s.estimate * rows_in[s.name].to_numpy(dtype=float) for s in fixed
            )
            free = [t for t in DRIFT_TERMS if fit.slope(t) is not None]
            ratio = float((rows_in[target] / fit.predict(rows_in)).mean())
            try:
                banded = fit_linear(rows_in.assign(_offset=offset), "_offset", free)
            except CalibrationError:  # too few distinct meshes in the band to price the terms
                banded = None
            for term in ("intercept", *free):
                overall = fit.intercept if term == "intercept" else fit.slope(term)
                mine = None if banded is None else (banded.intercept if term == "intercept" else banded.slope(term))
                rows.append(
                    {
                        "design": design,
                        "stats_profile": profile,
                        "certificate_profile": certificate,
                        "band": band,
                        "meshes": int(rows_in["point"].nunique()) if "point" in rows_in else len(rows_in),
                        "term": term,
                        "band_estimate": float("nan") if mine is None else mine.estimate,
                        "band_ci_low": float("nan") if mine is None else mine.ci_low,
                        "band_ci_high": float("nan") if mine is None else mine.ci_high,
                        "all_sizes_estimate": float("nan") if overall is None else overall.estimate,
                        "measured_over_predicted": ratio,
                    }
                )
    return pd.DataFrame(rows)
