"""How much dsim's generator timings depend on the process they are taken in.

The istiod cost model scales dsim's generator cost per config byte to Go
(``dsim/calibration/istiod_cost.py``) from the timings a calibration campaign records. This script
times some plan points as the campaign does (:func:`dsim.calibration.istiod_cost.generator_timings`,
the best of three cold builds), first in a fresh process, then again once the full plan has been
computed in it (as ``dsim calibrate`` does before it measures anything), and prints each config's
nanoseconds per byte beside the bundle's recorded ones, with the medians and their ratio. The same
config costs several times more per byte in the second state (a larger heap: the cyclic garbage
collector is not all of it, ``--no-gc`` shows), so timings recorded by different commands are
not comparable.

Run: ``python bench/generator_retime.py BUNDLE.json [--points NAME,...] [--no-gc]`` (points laid out
by hand: :data:`SCALE_POINTS`, :data:`ROUTE_POINTS`, :data:`POLICY_POINTS`, the default).
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import pandas as pd

from dsim.calibration.istiod_cost import BYTE_COLUMNS, generator_timings
from dsim.calibration.model import load_calibration
from dsim.calibration.plan import POLICY_POINTS, ROUTE_POINTS, SCALE_POINTS, Plan, PlanPoint, full_plan
from dsim.designs import design_names


def _ns_per_byte(points: tuple[PlanPoint, ...], collect: bool) -> pd.Series:
    if not collect:
        gc.disable()
    try:
        timed = generator_timings(Plan(name="retime", points=points, repeats=1), design_names())
    finally:
        gc.enable()
    return (timed["generate_ns"] / timed[BYTE_COLUMNS].sum(axis=1)).set_axis(
        pd.MultiIndex.from_frame(timed[["point", "design"]])
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("bundle", type=Path)
    options.add_argument("--points", help="plan point names, comma-separated")
    options.add_argument("--no-gc", action="store_true", help="time with Python's cyclic garbage collector off")
    args = options.parse_args()
    calibration = load_calibration(args.bundle)
    recorded = pd.read_csv(args.bundle.parent / calibration.provenance["files"]["timings"])
    # Points laid out by hand only: naming a D-optimal one means computing the full plan first,
    # which is the very state compared against.
    by_name = {p.name: p for p in (*SCALE_POINTS, *ROUTE_POINTS, *POLICY_POINTS)}
    names = args.points.split(",") if args.points else [p.name for p in POLICY_POINTS]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        options.error(f"not a hand-laid plan point: {', '.join(unknown)}")
    points = tuple(by_name[n] for n in names)
    fresh = _ns_per_byte(points, collect=not args.no_gc)
    full_plan()  # what `dsim calibrate` holds in memory while it times the generator
    loaded = _ns_per_byte(points, collect=not args.no_gc)
    mine = recorded[recorded["point"].isin(names)].set_index(["point", "design"])
    table = pd.DataFrame({"fresh_process": fresh, "after_full_plan": loaded})
    table["recorded"] = mine["generate_ns"] / mine[BYTE_COLUMNS].sum(axis=1)  # NaN: not in the bundle
    print("generator ns per config byte" + (" (garbage collector off)" if args.no_gc else ""))
    print(table.round(1).to_string())
    medians = table.median()
    print(
        f"\nmedians: fresh process {medians['fresh_process']:.1f}, after the full plan "
        f"{medians['after_full_plan']:.1f} ({medians['after_full_plan'] / medians['fresh_process']:.2f}× the fresh "
        f"process); recorded in the bundle {medians['recorded']:.1f} ({table['recorded'].notna().sum()} configs)"
    )


if __name__ == "__main__":
    main()
