"""Does the measured Envoy's stats flush interval change what calibration reads? And what does it save?

Calibration reads memory after Envoy's first stats flush since it went live (``dsim/calibration/measure.py``).
Envoy flushes every 5 s from start by default, as in Istio's sidecars; calibration sets 1 s so a run
waits about a second for that flush instead of up to five. This script measures the same configs
both ways, the two intervals alternating run by run so that drift hits both alike:

- per config (plan mesh × design × stats profile): the mean allocated bytes under each interval,
  their difference, and the spread between repeats of the same interval (run-to-run noise);
- the mean apply CPU under each (a flush falling inside the apply window would add to it);
- the mean wall time of a run under each, and the ratio.

Run: ``python bench/calibration_flush.py [--repeats N] [--scale]`` (default: 2 repeats of a 20- and a
300-service mesh; ``--scale`` adds a 1,000-service mesh of the full plan). Needs the Envoy binary.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from dsim.calibration.campaign import MEASURED_PROXY_ROW
from dsim.calibration.measure import STATS_FLUSH_INTERVAL_S, measure
from dsim.calibration.plan import SCALE_POINTS, PlanPoint
from dsim.designs import get_design
from dsim.xds.envoy import envoy_binary
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for

ENVOY_DEFAULT_S = 5.0  # Envoy's stats_flush_interval when the bootstrap sets none (Istio sets none)
POINTS = (
    PlanPoint(services=20, protocols="mixed", families="dual", replicas=2, ports=2, subsets=0.5, zones=2),
    PlanPoint(services=300, protocols="http", families="mixed", replicas=3, ports=1, subsets=0.0, zones=3),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per config and interval (default: 2)")
    parser.add_argument("--scale", action="store_true", help="add a 1,000-service mesh of the full plan")
    args = parser.parse_args()
    points = (*POINTS, SCALE_POINTS[0]) if args.scale else POINTS
    binary = envoy_binary()
    rows = []
    for point in points:
        index = index_for(point.cluster())
        for design in ("single-stack", "duplicate"):
            config = proxy_config(index, MEASURED_PROXY_ROW, get_design(design))
            for profile in ("istio", "envoy-default"):
                for _ in range(args.repeats):
                    for interval in (ENVOY_DEFAULT_S, STATS_FLUSH_INTERVAL_S):
                        start = time.perf_counter()
                        taken = measure(
                            config,
                            profile=profile,
                            concurrency=2,
                            binary=binary,
                            certificate=point.certificate,
                            stats_flush_interval_s=interval,
                        )
                        rows.append(
                            {
                                "config": f"{point.services} svc, {design}, {profile}",
                                "interval_s": interval,
                                "allocated": taken.allocated_bytes,
                                "apply_cpu_ms": taken.apply_cpu_ms,
                                "run_s": time.perf_counter() - start,
                            }
                        )
    frame = pd.DataFrame(rows)
    by = frame.groupby(["config", "interval_s"], sort=False)
    means = by[["allocated", "apply_cpu_ms", "run_s"]].mean().unstack("interval_s")
    spread = by["allocated"].agg(lambda a: a.max() - a.min()).unstack("interval_s")
    slow, fast = ENVOY_DEFAULT_S, STATS_FLUSH_INTERVAL_S
    table = pd.DataFrame(
        {
            f"MiB at {slow:g} s": means[("allocated", slow)] / 2**20,
            f"MiB at {fast:g} s": means[("allocated", fast)] / 2**20,
            "difference %": (means[("allocated", fast)] / means[("allocated", slow)] - 1) * 100,
            f"repeat spread at {slow:g} s %": spread[slow] / means[("allocated", slow)] * 100,
            f"apply CPU ms at {slow:g} s": means[("apply_cpu_ms", slow)],
            f"apply CPU ms at {fast:g} s": means[("apply_cpu_ms", fast)],
        }
    )
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.precision", 3):
        print(table)
    difference = table["difference %"].abs()
    print(
        f"allocated bytes, {fast:g} s against {slow:g} s: mean |difference| {difference.mean():.2f}%, "
        f"largest {difference.max():.2f}%; repeats of the same interval differ by up to "
        f"{table[f'repeat spread at {slow:g} s %'].max():.2f}%"
    )
    run_s = frame.groupby("interval_s")["run_s"].mean()
    print(
        f"a run takes {run_s[slow]:.2f} s at {slow:g} s and {run_s[fast]:.2f} s at {fast:g} s "
        f"({run_s[slow] / run_s[fast]:.1f}x shorter), {len(frame)} runs"
    )


if __name__ == "__main__":
    main()
