"""The push model at fleet scale: wall time to simulate an hour of churn, and what it says.

Prints, in one run:
1. the wall time of one fan-out (one push to every proxy of ``large.yaml``'s istiod replica
   through its throttle) computed by the vectorized dispatcher and push by push in simpy (the
   baseline), with their agreement and the ratio;
2. the dispatcher against theory and Istio's semaphore: waits under Poisson load against the exact
   M/D/c queue, and the makespan of a fan-out whose costs spread ±10% against push by push;
3. for ``scenarios/large.yaml`` (30,000 sidecars; its churn: 5 pod replacements per second and a
   rollout a minute; one hour, whatever the scenario's own window), per design: wall time to
   simulate, proxy pushes, convergence p50/p99/max, istiod CPU utilization, bytes sent per
   second, with ratios to single-stack; and the total wall time against the goal of 60 s for all
   designs: first one process simulating them one after another (the baseline), then the same
   designs side by side on a local Dask cluster (``--workers``, default one process per core;
   ``--workers 1`` skips it), with the ratio and a check that both give the same figures.
Run: ``python bench/pushsim.py [--minutes M] [--designs a,b] [--workers N]`` (default: 60 minutes,
the issue's hour; ``large.yaml`` itself simulates 5 minutes so that ``dsim run`` on it takes minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dsim import build_cluster, load_calibration, load_scenario
from dsim.calibration.model import Calibration
from dsim.cluster import Cluster
from dsim.parallel import Compute, map_in_order
from dsim.pushsim import tables
from dsim.pushsim.churn import ChurnStream, churn_stream
from dsim.pushsim.costs import push_costs
from dsim.pushsim.lanes import LaneState, schedule
from dsim.pushsim.reference import dispatch_one_by_one, md_c
from dsim.pushsim.runner import design_tables

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0


def fan_out_speedup(scenario_path: Path) -> None:
    scenario = load_scenario(scenario_path)
    cluster = build_cluster(scenario)
    istiod = scenario.istiod
    assert istiod.push_throttle is not None
    proxies = len(cluster.proxies) // istiod.replicas
    costs = push_costs(load_calibration(), scenario, "single-stack")
    cpu = np.full(proxies, costs.per_proxy_s)
    send = np.full(proxies, 2000 / costs.bytes_per_s)  # a ~2 kB endpoint update each
    start = time.perf_counter()
    plan = schedule(LaneState.idle(istiod.push_throttle, istiod.gomaxprocs), np.zeros(proxies), cpu, send)
    vectorized = time.perf_counter() - start
    start = time.perf_counter()
    _, done = dispatch_one_by_one(np.zeros(proxies), cpu, send, throttle=istiod.push_throttle, cores=istiod.gomaxprocs)
    one_by_one = time.perf_counter() - start
    print(
        f"one fan-out to {proxies:,} proxies (throttle {istiod.push_throttle}, {istiod.gomaxprocs} cores): "
        f"vectorized {vectorized * 1e3:.1f} ms, push by push (simpy) {one_by_one:.2f} s, "
        f"{one_by_one / vectorized:.0f}x; largest difference {np.abs(plan.done - done).max():.2e} s, "
        f"last proxy done at {plan.done.max():.3f} s"
    )


def against_references() -> None:
    servers, service, load, arrivals = 4, 0.01, 0.8, 200_000
    rate = load * servers / service
    arrival = np.cumsum(np.random.default_rng(2026).exponential(1 / rate, arrivals))
    plan = schedule(LaneState.idle(servers, servers), arrival, np.full(arrivals, service), np.zeros(arrivals))
    wait = (plan.dispatch - arrival)[arrivals // 20 :]
    mean_wait, p_wait = md_c(rate, service, servers)
    print(
        f"M/D/{servers} at load {load}: mean wait {wait.mean() * 1e3:.3f} ms simulated, "
        f"{mean_wait * 1e3:.3f} ms exact "
        f"({wait.mean() / mean_wait:.3f}x); P(wait > 0) {(wait > 1e-12).mean():.3f} vs {p_wait:.3f}"
    )
    n, slots = 300, 6
    cpu = np.random.default_rng(5).uniform(0.09, 0.11, n)
    strided = schedule(LaneState.idle(slots, slots), np.zeros(n), cpu, np.zeros(n)).done.max()
    _, done = dispatch_one_by_one(np.zeros(n), cpu, np.zeros(n), throttle=slots, cores=slots)
    print(
        f"fan-out of {n} pushes costing 0.1 s ±10% through {slots} slots: makespan {strided:.3f} s (stride rule) "
        f"vs {done.max():.3f} s (push by push, earliest-free slot), {strided / done.max():.4f}x"
    )


def simulate_one(design: str, *, cluster: Cluster, stream: ChurnStream, calibration: Calibration) -> dict:
    """One design's hour, timed where it runs (its result tables included); its summary row."""
    start = time.perf_counter()
    parts = design_tables(design, cluster=cluster, stream=stream, calibration=calibration)
    elapsed = time.perf_counter() - start
    summary = tables.summary(parts["push_metrics"]).iloc[0]
    return {
        "design": design,
        "wall s": elapsed,
        "pushes": len(parts["push_records"]),
        "proxy pushes": int(parts["push_convergence"]["proxy_pushes"].sum()),
        "converge p50 s": summary["convergence_p50_s"],
        "converge p99 s": summary["convergence_p99_s"],
        "converge max s": summary["convergence_max_s"],
        "istiod util": summary["istiod_utilization_mean"],
        "MB sent/s": summary["bytes_sent_per_s"] / 1e6,
    }


def hour_of_churn(scenario_path: Path, minutes: float, designs: list[str] | None, workers: int) -> None:
    scenario = load_scenario(scenario_path)
    scenario = dataclasses.replace(scenario, churn=dataclasses.replace(scenario.churn, duration_s=minutes * 60))
    cluster = build_cluster(scenario)
    start = time.perf_counter()
    stream = churn_stream(cluster)
    setup = time.perf_counter() - start
    counts = stream.events["kind"].value_counts().to_dict()
    print(
        f"\n{scenario_path.name}: {len(cluster.proxies):,} sidecars, {scenario.churn.duration_s:g} s of churn "
        f"({stream.count('pod_replacement'):,} pod replacements, {stream.count('rollout')} rollouts; events {counts}); "
        f"stream drawn in {setup:.2f} s"
    )
    chosen = designs or list(scenario.designs)
    shared = {"cluster": cluster, "stream": stream, "calibration": load_calibration()}
    # The baseline: this process simulates the designs one after another.
    start = time.perf_counter()
    rows = map_in_order(simulate_one, chosen, compute=Compute(), shared=shared, on_done=_said("in this process"))
    one_process = time.perf_counter() - start
    frame = pd.DataFrame(rows).set_index("design")
    base = frame.iloc[0]
    for column in ("converge p99 s", "MB sent/s"):
        frame[f"{column} / {frame.index[0]}"] = frame[column] / base[column]
    print(frame.round(3).to_string())
    print(f"total wall time for {len(rows)} designs in one process, one after another: {one_process:.1f} s")
    best = one_process
    if workers > 1:
        compute = Compute(workers=workers)
        start = time.perf_counter()
        side_by_side = map_in_order(simulate_one, chosen, compute=compute, shared=shared, on_done=_said("on a worker"))
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        same = all(a[k] == b[k] for a, b in zip(rows, side_by_side, strict=True) for k in a if k != "wall s")
        print(
            f"total wall time for {len(rows)} designs side by side on a {compute.describe()}: {best:.1f} s, start-up "
            f"included ({one_process / elapsed:.2f}x the one-process run; same figures: {same})"
        )
    verdict = "met" if best < GOAL_S else "NOT met"
    print(f"best total wall time of the two: {best:.1f} s (goal {GOAL_S:.0f} s: {verdict})")


def _said(where: str) -> Callable[[str, dict], None]:
    def say(design: str, row: dict) -> None:
        print(f"  {design}: simulated {where} in {row['wall s']:.1f} s", flush=True)

    return say


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes of churn to simulate (default: 60)")
    parser.add_argument("--designs", help="comma-separated designs (default: the scenario's)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="Dask worker processes (default: this machine's cores)"
    )
    args = parser.parse_args()
    large = ROOT / "scenarios" / "large.yaml"
    fan_out_speedup(large)
    against_references()
    hour_of_churn(large, args.minutes, args.designs.split(",") if args.designs else None, args.workers)


if __name__ == "__main__":
    main()
