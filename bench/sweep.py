"""`dsim sweep` on Dask: points per minute in this process and on local clusters, and the overhead per task.

Prints, in one run, for a small sweep derived from ``scenarios/sweeps/dual-stack-share.yaml`` (its
10 points: dual-stack share 0-100% x 2 seeds, push model on, each point given twenty minutes of the
quickstart's churn, ``--churn-s``, so that it computes for a few seconds):
1. the points' compute time, each point's ``dsim.run`` (its sweep rows included) timed one by one
   in this process after a warm-up point (imports, kernels' compile cache) — the baseline every
   mode is set against;
2. the sweep run by ``dsim.sweep.run_sweep`` in this process (``--workers 1``), then on a local Dask
   cluster of 1 worker (started here as dsim starts one and given to the sweep as a scheduler:
   dsim's ``--workers 1`` is this process) and of 2 workers (``--workers 2``, dsim's own; 1 thread
   per worker), each into a fresh temporary folder so nothing is reused: wall time, points per
   minute, wall time per point against the compute time per point (the ratio: 1.00 is no
   overhead in process; on N workers the ideal is 1/N), the
   overhead per task (worker-seconds per point not spent computing: wall x workers - compute,
   over the points; cluster start-up included, then without the start-up and close of an empty
   cluster of that size, measured apart), points per minute as a ratio to this process, and whether the table
   equals this process's;
3. the cost of a resumed sweep with nothing to compute (the finished 2-worker folder, run again
   with ``--workers 2``: no cluster starts): tables only, then tables, plots and report as
   ``dsim sweep`` writes them, against the full run.
The report is left out of every timed run but the last (it costs the same whatever computed the
points). Run: ``python bench/sweep.py [--sweep PATH] [--points N] [--churn-s S] [--max-workers N]``.
The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pandas as pd

from dsim.parallel import Compute
from dsim.scenario.yaml_reader import parse_yaml
from dsim.sweep import Sweep, SweepResult, run_sweep, sweep_from_dict
from dsim.sweep.execute import evaluate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "sweeps" / "dual-stack-share.yaml"

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def derived_sweep(path: Path, churn_s: float | None, points: int | None) -> Sweep:
    """The sweep file at ``path`` with ``churn.duration_s`` set (when given), its first ``points``."""
    data = dict(parse_yaml(path.read_text(encoding="utf-8"), str(path)))
    if churn_s is not None:
        data["set"] = {**(data.get("set") or {}), "churn.duration_s": churn_s}
    # Not the file's path: the sweep's folder then records no sweep file it would misdescribe.
    source = f"bench/sweep.py: {path.name}" + (f" with churn.duration_s {churn_s:g}" if churn_s is not None else "")
    sweep = sweep_from_dict(data, source=source, folder=path.parent, default_name=path.stem)
    if points is not None:
        sweep = dataclasses.replace(sweep, points=sweep.points[:points])
    return sweep


def compute_times(sweep: Sweep) -> list[float]:
    """Each point's own compute, one by one in this process, after one warm-up point."""
    first = sweep.points[0]
    evaluate((first.key, first.scenario), pushsim=sweep.pushsim)  # imports, kernels' cache, calibration
    seconds = []
    for point in sweep.points:
        outcome, elapsed = timed(functools.partial(evaluate, (point.key, point.scenario), pushsim=sweep.pushsim))
        assert outcome.rows is not None, f"{point.label()}: {outcome.error}"
        seconds.append(elapsed)
    return seconds


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[str]:
    """A local Dask cluster started as ``dsim.parallel`` starts one (processes of 1 thread each on
    127.0.0.1, no dashboard, its own scratch folder), yielding its scheduler's address; closed after.
    Needed for 1 worker: ``Compute(workers=1)`` means this process, without Dask."""
    import dask
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-dask-"))
        stack.enter_context(dask.config.set({"temporary-directory": scratch}))
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.CRITICAL,
            )
        )  # fmt: skip
        with Client(cluster) as client:
            client.wait_for_workers(workers)
        yield cluster.scheduler_address


def cluster_start_s(workers: int) -> float:
    """Start and close of a local cluster of ``workers`` with no work."""

    def start_and_close() -> None:
        with local_cluster(workers):
            pass

    return timed(start_and_close)[1]


def on_own_cluster(sweep: Sweep, folder: Path, workers: int) -> SweepResult:
    """The sweep on a local cluster this script starts (and closes), given to it as a scheduler."""
    with local_cluster(workers) as address:
        return run_sweep(sweep, folder, compute=Compute(scheduler=address), progress=False, report=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=DEFAULT, help="sweep file (default: dual-stack-share.yaml)")
    parser.add_argument("--points", type=int, help="run only its first N points (default: all)")
    parser.add_argument(
        "--churn-s", type=float, default=1200.0,
        help="churn.duration_s set for every point (default: 1200); 0 keeps the sweep file's",
    )  # fmt: skip
    parser.add_argument("--max-workers", type=int, default=2, help="largest local cluster (default: 2)")
    args = parser.parse_args()
    sweep = derived_sweep(args.sweep, args.churn_s or None, args.points)
    n = len(sweep.points)
    print(
        f"{sweep.source}: {n} points ({', '.join(sorted({a.path for a in sweep.axes}))}; seeds "
        f"{', '.join(map(str, sweep.seeds))}), {len(sweep.designs)} designs each, push model "
        f"{'on' if sweep.pushsim else 'off'}, {sweep.base.churn.duration_s:g} s of churn per point"
    )

    load = os.getloadavg()
    seconds = compute_times(sweep)
    compute = sum(seconds)
    print(
        f"\ncompute, each point's dsim.run timed one by one in this process (after a warm-up point): "
        f"{compute:.1f} s in all, {compute / n:.2f} s per point (min {min(seconds):.2f} s, max {max(seconds):.2f} s)"
    )

    # (label, worker processes, how the sweep is run into a folder)
    modes: list[tuple[str, int, Callable[[Path], SweepResult]]] = [
        ("this process (--workers 1)", 1, lambda f: run_sweep(sweep, f, progress=False, report=False))
    ]
    for w in range(1, args.max_workers + 1):
        run: Callable[[Path], SweepResult]
        if w == 1:  # dsim's --workers 1 is this process: a cluster of one is started here and named as a scheduler
            run = functools.partial(on_own_cluster, sweep, workers=1)
        else:  # dsim's own local cluster, as `dsim sweep --workers N` starts it
            run = functools.partial(run_sweep, sweep, compute=Compute(workers=w), progress=False, report=False)
        modes.append((f"local Dask cluster, {w} worker{'s' if w > 1 else ''}", w, run))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        rows, tables = [], []
        for i, (label, workers, run) in enumerate(modes):
            start_s = 0.0 if i == 0 else cluster_start_s(workers)
            folder = Path(tmp) / f"run-{i}" / sweep.name  # fresh: nothing to reuse
            result, wall = timed(functools.partial(run, folder))
            assert result.progress.computed == n, result.progress
            assert result.progress.failed == 0, result.progress
            tables.append(result.tables["points"])
            rows.append(
                {
                    "mode": label,
                    "wall s": wall,
                    "points/min": 60 * n / wall,
                    "wall/point s": wall / n,
                    "compute/point s": compute / n,
                    "wall/compute": wall / compute,
                    "overhead/task s": (wall * workers - compute) / n,
                    "excl. start-up s": ((wall - start_s) * workers - compute) / n,
                    "cluster start+close s": start_s,
                }
            )
            print(f"  {label}: {wall:.1f} s", flush=True)
        after = os.getloadavg()
        frame = pd.DataFrame(rows).set_index("mode")
        frame["points/min vs this process"] = frame["points/min"] / frame["points/min"].iloc[0]
        frame["same table"] = [t.equals(tables[0]) for t in tables]
        print(
            f"\n{n} points, each mode into a fresh folder (wall: run_sweep end to end, cluster start-up included; "
            f"overhead/task: (wall x workers - compute) / points)"
        )
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(frame.round(3).to_string())
        print(
            f"this machine: {os.cpu_count()} cores; 1-minute load average {load[0]:.2f} before the runs and "
            f"{after[0]:.2f} after them (above the cores, other processes share them and 2 workers cannot double)"
        )
        resume(sweep, folder, Compute(workers=args.max_workers), full=frame["wall s"].iloc[-1])


def resume(sweep: Sweep, folder: Path, compute: Compute, *, full: float) -> None:
    """A finished sweep run again into its folder: tables only, then with plots and report."""
    n = len(sweep.points)
    resumed, tables_only = timed(lambda: run_sweep(sweep, folder, compute=compute, progress=False, report=False))
    assert resumed.progress.computed == 0, resumed.progress
    assert resumed.progress.reused == n, resumed.progress
    again, with_report = timed(lambda: run_sweep(sweep, folder, compute=compute, progress=False, report=True))
    assert again.progress.computed == 0, again.progress
    print(
        f"\nresumed with nothing to compute ({n} of {n} points found in the folder, no cluster started): "
        f"{tables_only:.2f} s writing the tables ({tables_only / full:.3f}x the {compute.workers}-worker run's "
        f"{full:.1f} s), {with_report:.2f} s writing tables, plots and report as `dsim sweep` does"
    )


if __name__ == "__main__":
    main()
