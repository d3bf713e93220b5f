"""`dsim run` end to end: wall time per stage for the shipped scenarios, and what the report adds.

Prints, in one run, for ``scenarios/quickstart.yaml`` and ``scenarios/large.yaml``:
1. the run without the push model (cluster, accounting, memory/CPU model, design summary) — the
   baseline;
2. the push model alone (the scenario's churn under every design) and the whole run with it, as
   a ratio to the baseline;
3. saving the result: tables (Parquet and CSV) alone, then tables, plots and report, with ratio;
and the total against the goals (quickstart under 10 s with the kernels' compile cache warm; large.yaml,
an hour of churn, under 2 minutes).
Run: ``python bench/run_review.py [--scenario PATH ...]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dsim
from dsim.api import push_simulation

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "scenarios" / "quickstart.yaml", ROOT / "scenarios" / "large.yaml"]


T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def review(path: Path) -> None:
    scenario = dsim.load_scenario(path)
    cluster = dsim.build_cluster(scenario)
    print(
        f"\n{path.name}: {len(cluster.services):,} services, {len(cluster.proxies):,} sidecars, "
        f"{len(scenario.designs)} designs, {scenario.churn.duration_s:g} s of churn"
    )
    _, base_s = timed(lambda: dsim.run(scenario, pushsim=False, progress=False))
    _, push_s = timed(lambda: push_simulation(cluster))
    result, full_s = timed(lambda: dsim.run(scenario, progress=False))
    with tempfile.TemporaryDirectory() as tmp:
        _, tables_s = timed(lambda: result.save(Path(tmp) / "tables-only", report=False))
        _, save_s = timed(lambda: result.save(Path(tmp) / "full"))
        size = sum(p.stat().st_size for p in (Path(tmp) / "full").rglob("*") if p.is_file())
    print(f"  run without the push model (baseline)  {base_s:8.2f} s")
    print(f"  push model alone                       {push_s:8.2f} s")
    print(f"  run with the push model                {full_s:8.2f} s  ({full_s / base_s:.1f}x the baseline)")
    print(f"  save tables (Parquet + CSV)            {tables_s:8.2f} s")
    print(f"  save tables, plots and report          {save_s:8.2f} s  ({save_s / tables_s:.1f}x tables alone)")
    print(f"  dsim run end to end (run + save)       {full_s + save_s:8.2f} s  ({size / 1e6:,.1f} MB written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, action="append", help="scenario YAML (default: quickstart, large)")
    args = parser.parse_args()
    for path in args.scenario or DEFAULT:
        review(path)
    print("\ngoals: quickstart under 10 s end to end (cache warm); large.yaml (an hour of churn) under 2 minutes")


if __name__ == "__main__":
    main()
