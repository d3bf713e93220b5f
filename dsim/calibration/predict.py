"""Per-proxy costs from the calibrated model: Envoy memory, stats and config-apply CPU from the
object counts; istiod's CPU to generate and send each xDS type from the config bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.calibration.istiod_push import istiod_push_cpu
from dsim.calibration.model import Calibration
from dsim.errors import CalibrationError
from dsim.scenario import Scenario
from dsim.xds.vocabulary import XDS_TYPES

ISTIOD_COLUMNS = [f"istiod_{t}_ms" for t in XDS_TYPES]
COST_COLUMNS = [
    "design",
    "proxy",
    "envoy_memory_bytes",
    "envoy_heap_bytes",
    "envoy_stats",
    "envoy_apply_cpu_ms",
    *ISTIOD_COLUMNS,
    "istiod_cpu_ms",
]


def check_applies(calibration: Calibration, scenario: Scenario) -> None:
    """Refuse a scenario whose sidecars run differently from the measured Envoy."""
    measured = calibration.provenance.get("envoy_concurrency")
    if measured is not None and int(measured) != scenario.envoy.concurrency:
        raise CalibrationError(
            f"envoy.concurrency is {scenario.envoy.concurrency} but the calibration {calibration.source} "
            f"measured Envoy with {measured} workers (per-worker state scales memory); run "
            f"`dsim calibrate --concurrency {scenario.envoy.concurrency} --out DIR` and set DSIM_CALIBRATION "
            "to the JSON file it writes"
        )


def proxy_costs(
    sizes: pd.DataFrame, counts: pd.DataFrame, *, design: str, scenario: Scenario, calibration: Calibration
) -> pd.DataFrame:
    """One row per proxy of ``counts``: predicted Envoy costs, and istiod's CPU for a full push
    to it per xDS type (cold: no cross-proxy cache), with the scenario's stats profile and scale.
    ``istiod_cpu_ms`` adds the fixed cost per pushed proxy to the per-type costs (the push model's
    formula: :func:`dsim.calibration.istiod_push.istiod_push_cpu`)."""
    check_applies(calibration, scenario)
    ordered = counts.sort_values("proxy").reset_index(drop=True)
    out = pd.concat(
        [
            ordered[["design", "proxy"]],
            calibration.predict_envoy(
                ordered, design, scenario.envoy.stats_profile, scenario.envoy.workload_certificate
            ),
        ],
        axis=1,
    )
    by_type = sizes.pivot(index="proxy", columns="xds_type", values="bytes").reindex(ordered["proxy"])
    cpu = istiod_push_cpu(calibration, scenario.istiod)
    for xds_type, column in zip(XDS_TYPES, ISTIOD_COLUMNS, strict=True):
        # A cold full push generates every byte it sends.
        per_byte_ns = cpu.per_byte_ns + cpu.send_per_byte_ns
        out[column] = (per_byte_ns * by_type[xds_type].to_numpy(dtype=np.float64) / 1e6).round(4)
    # The fixed costs (generator's and send's) are per push to a proxy, not per type: in the total only.
    out["istiod_cpu_ms"] = (out[ISTIOD_COLUMNS].sum(axis=1) + cpu.per_proxy_ms + cpu.send_per_proxy_ms).round(4)
    return out[COST_COLUMNS]


def cost_totals(costs: pd.DataFrame) -> pd.DataFrame:
    """Per design: Envoy memory per proxy (mean and percentiles) and over the fleet, apply CPU,
    and istiod CPU for one full push to every proxy."""
    grouped = costs.groupby("design", sort=False)
    memory = grouped["envoy_memory_bytes"]
    totals = pd.DataFrame(
        {
            "proxies": grouped["proxy"].count(),
            "envoy_memory_mean_mib": memory.mean() / 2**20,
            "envoy_memory_p50_mib": memory.quantile(0.5) / 2**20,
            "envoy_memory_p99_mib": memory.quantile(0.99) / 2**20,
            "envoy_memory_max_mib": memory.max() / 2**20,
            "envoy_memory_fleet_gib": memory.sum() / 2**30,
            "envoy_apply_cpu_mean_ms": grouped["envoy_apply_cpu_ms"].mean(),
            "istiod_full_push_cpu_s": grouped["istiod_cpu_ms"].sum() / 1e3,
        }
    )
    # Six significant digits, not three decimals: a small mesh's fleet memory or push CPU
    # (0.0043 s) is a figure, not 0.004 or 0.
    floats = totals.columns[totals.dtypes == np.float64]
    totals[floats] = totals[floats].map(lambda value: float(f"{value:.6g}"))
    return totals.reset_index()


REFERENCE_PRICES = "single-stack"
"""The design whose fitted per-object memory prices every design's objects in
:func:`memory_by_object` (one price list, so differences are differences in objects)."""


def memory_by_object(counts: pd.DataFrame, *, scenario: Scenario, calibration: Calibration) -> pd.DataFrame:
    """Where Envoy's memory sits: per design and object kind, mean objects per proxy and the MiB
    they take at the reference design's fitted price per object, and the idle sidecar; objects
    the reference has no price for (additional addresses) at the design's own fitted price; and
    ``object == "fit_difference"``: what the design's own fit gives its objects beyond the
    reference's prices (its measured memory per object differs; it may be negative), so each
    design's rows sum to its predicted mean memory per proxy."""
    profile, certificate = scenario.envoy.stats_profile, scenario.envoy.workload_certificate
    fit = calibration.envoy_fit(REFERENCE_PRICES, profile, "allocated_bytes", certificate)
    priced = {s.name for s in fit.slopes}
    rows = []
    for design, own_counts in counts.groupby("design", sort=False):
        own_fit = calibration.envoy_fit(str(design), profile, "allocated_bytes", certificate)
        means = own_counts[list(dict.fromkeys(s.name for s in (*fit.slopes, *own_fit.slopes)))].mean()
        parts = [(s.name, float(means[s.name]), s.estimate * float(means[s.name])) for s in fit.slopes]
        parts.append(("idle sidecar", 1.0, fit.intercept.estimate))
        parts += [
            (s.name, float(means[s.name]), s.estimate * float(means[s.name]))
            for s in own_fit.slopes
            if s.name not in priced
        ]
        predicted = float(own_fit.predict(own_counts).mean())
        parts.append(("fit_difference", np.nan, predicted - sum(p[2] for p in parts)))
        rows += [(design, name, count, value / 2**20) for name, count, value in parts]
    frame = pd.DataFrame(rows, columns=["design", "object", "per_proxy", "mib_per_proxy"]).round(4)
    frame["mib_per_proxy"] += 0.0  # no "-0.0" where the design's own fit is the reference's
    return frame
