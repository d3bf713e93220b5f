"""istiod's generation CPU, measured on dsim's own generator and carried to Go by one factor.

dsim builds the same messages istiod builds; its build + serialize time per proxy, fitted on the
bytes it produces, is the measured reference. One cost per byte for every xDS type: fitted per
type, the four slopes are not separable (LDS came out negative with an interval of ±700 ns/B,
as the types' bytes grow together in sidecar configs), so a proxy's cost is split across types
by their bytes. Its absolute speed is Python's; the factor to istiod's Go comes from a
published Go benchmark of the same work (see GO_REFERENCE).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd

from dsim.calibration.fit import LinearFit, fit_linear
from dsim.calibration.plan import Plan
from dsim.designs import get_design
from dsim.errors import CalibrationError
from dsim.xds.generate import XDS_TYPES, clear_caches, proxy_config
from dsim.xds.view import index_for

BYTE_COLUMNS = [f"{t}_bytes" for t in XDS_TYPES]
TIMING_REPEATS = 3

# istio/istio#25116 (2020, Istio 1.7 development, Go, a 6-thread benchmark machine):
# BenchmarkClusterGeneration/empty built and marshalled 410 clusters, 76.0 kb per message, in
# 1,495,860 ns per operation (the median of the ten runs listed there is about 1.51 ms).
GO_REFERENCE = {
    "source": "https://github.com/istio/istio/issues/25116",
    "benchmark": "BenchmarkClusterGeneration/empty (pilot/pkg/xds bench_test.go)",
    "ns_per_op": 1495860,
    "resources_per_op": 410,
    "bytes_per_op": 76000,
    "xds_type": "clusters",
    "reasoning": (
        "istiod's cost to build and marshal a push is Go work proportional to what it produces. "
        "Istio's own benchmark gives that cost per byte of CDS (19.7 ns/byte); dsim measures its "
        "Python generator's cost per byte of sidecar config on the same kind of work. The scale is "
        "Go ns/byte over dsim ns/byte, so a pushed byte costs what Istio measured for CDS. It "
        "assumes every xDS type costs Go about the same per byte (Istio's benchmarks found LDS "
        "generation-heavy and EDS marshalling-heavy, which this does not model), and it inherits "
        "the benchmark machine's speed: override it per scenario (istiod.go_cost_scale) with a "
        "figure from your own istiod (pilot_xds_push_time over bytes pushed) when you have one."
    ),
}


def generator_timings(plan: Plan, designs: Sequence[str]) -> pd.DataFrame:
    """Per point and design: bytes per xDS type of the measured sidecar, and the least time of
    ``TIMING_REPEATS`` cold builds (caches cleared) plus serialization of all its resources."""
    rows = []
    for point in plan.points:
        index = index_for(point.cluster())
        for name in designs:
            design = get_design(name)
            best = None
            for _ in range(TIMING_REPEATS):
                clear_caches()
                start = time.perf_counter_ns()
                config = proxy_config(index, 0, design)
                sizes = {t: sum(len(m.SerializeToString()) for m in config.resources(t)) for t in XDS_TYPES}
                elapsed = time.perf_counter_ns() - start
                best = elapsed if best is None else min(best, elapsed)
            rows.append(
                {
                    "point": point.name,
                    "design": name,
                    **{f"{t}_bytes": sizes[t] for t in XDS_TYPES},
                    "generate_ns": best,
                }
            )
    clear_caches()
    return pd.DataFrame(rows)


# dsim's Python generator is not linear in bytes across the plan's sizes: about 70-90 ns per byte
# on configs of 20-80 kB and 200-320 ns on configs of 0.25-7 MB in the campaign's timings (the
# plan has no config between 81 and 250 kB), though part of that is the timing process's state,
# not the config: bench/generator_retime.py measured the same configs 3.45 times slower once the
# full plan had been computed in the process (a larger heap; not only the garbage collector).
# One line over both comes out with a fixed part no measured config has (−8.2 ms per proxy over
# every timing of the shipped plan, +38 ms over the plan before its VirtualService meshes, where a
# 20 kB config takes 1.5 ms in all: bench/calibration_report.py prints it), and that fixed part, scaled to Go, is what
# every small incremental push pays in the push model. The scale to Go compares costs per byte on
# the same work, so it is measured on configs of up to twice the Go benchmark's bytes per
# operation: the smallest ones fix the fixed part, those near the benchmark's size the cost per
# byte, all of them below the generator's slow regime.
REFERENCE_SIZE_FACTOR = 2.0
MIN_REFERENCE_SIZED = 10
"""Fewer timings than this near the benchmark's size (an older plan): every timing is used."""


def reference_sized(timings: pd.DataFrame) -> pd.DataFrame:
    """The ``timings`` rows whose config bytes are at most :data:`REFERENCE_SIZE_FACTOR` times the
    Go benchmark's bytes per operation, with a ``config_bytes`` column; all rows when fewer than
    :data:`MIN_REFERENCE_SIZED` are."""
    frame = timings.assign(config_bytes=timings[BYTE_COLUMNS].sum(axis=1))
    size = float(GO_REFERENCE["bytes_per_op"])  # type: ignore[arg-type]
    near = frame[frame["config_bytes"] <= size * REFERENCE_SIZE_FACTOR]
    return near if len(near) >= MIN_REFERENCE_SIZED else frame


def fit_generator_cost(timings: pd.DataFrame) -> LinearFit:
    """dsim's build + serialize nanoseconds per proxy on its config bytes (all types), fitted on
    the configs of about the Go benchmark's size (:func:`reference_sized`)."""
    return fit_linear(reference_sized(timings), "generate_ns", ["config_bytes"])


def go_cost_scale(fit: LinearFit) -> float:
    """Istio's Go ns/byte (of CDS) over dsim's, rounded to 3 significant digits."""
    go_ns_per_byte = GO_REFERENCE["ns_per_op"] / GO_REFERENCE["bytes_per_op"]  # type: ignore[operator]
    slope = fit.slope("config_bytes")
    if slope is None or slope.estimate <= 0:
        raise CalibrationError("the generator timings give no positive cost per config byte; cannot scale it to Go")
    return float(f"{go_ns_per_byte / slope.estimate:.3g}")
