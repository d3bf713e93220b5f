"""The calibrated Envoy model: its coefficients, and how well it predicts configs it never saw.

Prints, in one run:
1. per design and stats profile, the fitted cost of one more object (memory bytes and
   config-apply CPU ms) with 95% confidence intervals and R², from the calibration in use
   (the shipped one, or ``$DSIM_CALIBRATION``);
2. istiod's generation-cost fit and its Go scale;
3. held-out errors: a fresh real-Envoy measurement of configs no fit used (the quickstart
   scenario's first sidecar, and the meshes of ``HELD_OUT_POINTS``) against the prediction,
   for memory and apply CPU; and each design's measured and predicted memory as a ratio to
   ``single-stack`` on the same sidecar (the baseline, measured in this run).
Run: ``python bench/calibration_report.py [--profiles istio,envoy-default]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import dsim
from dsim.calibration.campaign import config_facts
from dsim.calibration.measure import measure
from dsim.calibration.model import load_calibration
from dsim.calibration.plan import HELD_OUT_POINTS
from dsim.calibration.tables import coefficient_table
from dsim.xds.envoy import envoy_binary

ROOT = Path(__file__).resolve().parent.parent


def coefficients(calibration: dsim.Calibration) -> None:
    table = coefficient_table(calibration)
    for target, unit, scale in (("allocated_bytes", "KiB", 1 / 1024), ("apply_cpu_ms", "ms", 1.0)):
        rows = table[table["target"] == target].copy()
        rows["value"] = [
            f"{e * scale:9.2f} [{lo * scale:8.2f}, {hi * scale:8.2f}]"
            for e, lo, hi in zip(rows["estimate"], rows["ci_low"], rows["ci_high"], strict=True)
        ]
        wide = rows.pivot(index=["design", "stats_profile"], columns="term", values="value")
        r2 = rows.groupby(["design", "stats_profile"])["r_squared"].first().round(4)
        print(f"\n{target} per object, {unit} (estimate [95% CI]); R² per fit")
        print(wide.assign(r_squared=r2).to_string())


def held_out(calibration: dsim.Calibration, profiles: list[str]) -> None:
    binary = envoy_binary()
    targets = [("quickstart sidecar 0", dsim.build_cluster(ROOT / "scenarios" / "quickstart.yaml"))]
    targets += [(point.name, point.cluster()) for point in HELD_OUT_POINTS]
    rows = []
    for label, cluster in targets:
        for design in dsim.design_names():
            config = dsim.generate(cluster, 0, design)
            counts = pd.DataFrame([config_facts(config)])
            for profile in profiles:
                predicted = calibration.predict_envoy(counts, design, profile).iloc[0]
                taken = measure(config, profile=profile, concurrency=2, binary=binary)
                rows.append(
                    {
                        "config": label,
                        "design": design,
                        "profile": profile,
                        "measured_mib": taken.allocated_bytes / 2**20,
                        "predicted_mib": predicted["envoy_memory_bytes"] / 2**20,
                        "memory_error_pct": 100 * (predicted["envoy_memory_bytes"] / taken.allocated_bytes - 1),
                        "measured_cpu_ms": taken.apply_cpu_ms,
                        "predicted_cpu_ms": predicted["envoy_apply_cpu_ms"],
                        "cpu_error_pct": 100 * (predicted["envoy_apply_cpu_ms"] / taken.apply_cpu_ms - 1),
                    }
                )
    frame = pd.DataFrame(rows)
    print("\nheld-out configs: fresh real-Envoy measurement vs the model")
    print(frame.round(2).to_string(index=False))
    worst = frame["memory_error_pct"].abs().max()
    cpu = frame["cpu_error_pct"].abs().max()
    print(f"largest memory error {worst:.2f}% (goal: under 10%); largest apply-CPU error {cpu:.1f}%")
    keys = ["config", "profile"]
    base = frame[frame["design"] == "single-stack"].set_index(keys)[["measured_mib", "predicted_mib"]]
    ratio = frame.merge(base.reset_index(), on=keys, suffixes=("", "_baseline"))
    ratio["measured_vs_single_stack"] = ratio["measured_mib"] / ratio["measured_mib_baseline"]
    ratio["predicted_vs_single_stack"] = ratio["predicted_mib"] / ratio["predicted_mib_baseline"]
    print("\nmemory relative to single-stack on the same sidecar (baseline measured in this run)")
    print(
        ratio[[*keys, "design", "measured_vs_single_stack", "predicted_vs_single_stack"]]
        .round(3)
        .to_string(index=False)
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--profiles", default="istio,envoy-default")
    args = options.parse_args()
    calibration = load_calibration()
    print(f"calibration: {calibration.describe()}")
    coefficients(calibration)
    generator = calibration.istiod.fit
    slope = generator.slopes[0]
    print(
        f"\nistiod: dsim generator {slope.estimate:.1f} ns per config byte [{slope.ci_low:.1f}, {slope.ci_high:.1f}], "
        f"fixed {generator.intercept.estimate / 1e6:.2f} ms per proxy, R² {generator.r_squared:.3f}; "
        f"go_cost_scale {calibration.istiod.go_cost_scale} → {slope.estimate * calibration.istiod.go_cost_scale:.1f} "
        "ns per byte in istiod"
    )
    held_out(calibration, args.profiles.split(","))


if __name__ == "__main__":
    main()
