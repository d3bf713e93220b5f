"""The push model at fleet scale: wall time to simulate an hour of churn, and what it says.

Prints, in one run:
0. the compiled kernels' first call (:mod:`dsim.pushsim.kernels`): a small busy mesh simulated in a
   fresh process with an empty numba cache (compiling), then again with the cache it left (loading),
   and a check that the kernels' figures equal their NumPy twins' (``DSIM_PUSHSIM_NUMPY=1``) on
   ``--check-minutes`` of ``large.yaml``, with both paths' times;
1. the wall time of one fan-out (one push to every proxy of ``large.yaml``'s istiod replica
   through its throttle) computed by the vectorized dispatcher and push by push in simpy (the
   baseline), with their agreement and the ratio;
2. the dispatcher against theory and Istio's semaphore: waits under Poisson load against the exact
   M/D/c queue, and the makespan of a fan-out whose costs spread ±10% against push by push;
3. for ``scenarios/large.yaml`` (30,000 sidecars; its churn: 5 pod replacements per second and a
   rollout a minute; one hour, whatever the scenario's own window), per design: wall and process
   CPU time to simulate, simulated time as a multiple of real time, proxy pushes, convergence
   p50/p99/max, istiod CPU utilization, bytes sent per second, with ratios to single-stack; and
   the total wall time against the goal of 60 s for all designs: first one process simulating
   them one after another (the baseline), then the same designs side by side on a local Dask
   cluster (``--workers``, default one process per core; ``--workers 1`` skips it), with the
   ratio and a check that both give the same figures; and this process's peak memory.
4. ``bench/fleet-50k.yaml`` (50,000 services, 200,000 sidecars, 27 istiod replicas): its ten
   minutes of churn for one design (``--fleet-design``, default single-stack), the cluster build,
   the churn stream and the simulation timed apart, against the goal of 60 s for the simulation;
5. per design, istiod's CPU under churn split into generation (push contexts and config bytes), the
   fixed cost per proxy push, and sending (per response and per byte sent,
   :mod:`dsim.calibration.istiod_push`), for ``quickstart.yaml`` (its whole churn) and for
   ``large.yaml`` (``--split-minutes``, default 3 simulated minutes).
Run: ``python bench/pushsim.py [--minutes M] [--designs a,b] [--workers N] [--check-minutes C]
[--split-minutes S] [--fleet-design D]``
(default: 60 minutes, ``large.yaml``'s own hour). ``DSIM_PUSHSIM_NUMPY=1`` runs it all on the NumPy twins.
The machine may be shared: wall times move with its load; process CPU times less so.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dsim import build_cluster, get_design, load_calibration, load_scenario
from dsim.accounting.proxies import design_accounting
from dsim.calibration.istiod_push import istiod_push_cpu
from dsim.calibration.model import Calibration
from dsim.cluster import Cluster
from dsim.parallel import Compute, map_in_order
from dsim.pushsim import kernels, tables
from dsim.pushsim.churn import ChurnStream, churn_stream
from dsim.pushsim.costs import push_costs
from dsim.pushsim.hotpath import ENV
from dsim.pushsim.lanes import LaneState, schedule
from dsim.pushsim.reference import dispatch_one_by_one, md_c
from dsim.pushsim.runner import design_tables

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0
FLEET_GOAL_S = 60.0
GOAL_MEMORY_GB = 4.0
TOLERANCE = 1e-9
# A small busy mesh (every kind of churn, every kernel called) simulated in a fresh process.
_FIRST_RUN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pushsim_equivalence import _synthetic
from dsim import load_calibration
from dsim.pushsim.runner import push_tables
cluster, calibration = _synthetic("first-run", "all", {}), load_calibration()
start = time.perf_counter()
push_tables(cluster, ["single-stack"], calibration)
print(time.perf_counter() - start)
"""


def kernels_first_call() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        env.pop(ENV, None)
        runs = [
            float(subprocess.run([sys.executable, "-c", _FIRST_RUN, str(ROOT / "bench")], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()[-1])
            for _ in range(2)
        ]  # fmt: skip
    print(
        f"compiled kernels: a small busy mesh simulated in a fresh process takes {runs[0]:.2f} s with an empty "
        f"numba cache (compiling every kernel) and {runs[1]:.2f} s with the cache that run left: compiling costs "
        f"about {runs[0] - runs[1]:.1f} s once per machine (cached beside dsim/pushsim/kernels.py, or in "
        f"NUMBA_CACHE_DIR)"
    )


def kernels_against_numpy(scenario_path: Path, minutes: float, design: str) -> None:
    """The same simulation on the kernels and on their NumPy twins: every push table equal."""
    scenario = load_scenario(scenario_path)
    scenario = dataclasses.replace(scenario, churn=dataclasses.replace(scenario.churn, duration_s=minutes * 60))
    cluster = build_cluster(scenario)
    shared = {"cluster": cluster, "stream": churn_stream(cluster), "calibration": load_calibration()}
    shared["accounting"] = {design: design_accounting(cluster, get_design(design))}
    seconds, parts = {}, {}
    for path in ("kernels", "numpy"):
        os.environ[ENV] = "1" if path == "numpy" else "0"
        try:
            start = time.process_time()
            parts[path] = design_tables(design, **shared)
            seconds[path] = time.process_time() - start
        finally:
            os.environ.pop(ENV)
    differ = [
        f"{name}.{column}"
        for name, frame in parts["kernels"].items()
        for column in frame.columns
        if not _same(frame[column], parts["numpy"][name][column])
    ]
    print(
        f"kernels against their NumPy twins, {scenario_path.name}, {minutes:g} simulated minutes, {design}: "
        f"{'every push table equal' if not differ else 'DIFFERENT: ' + ', '.join(differ)} (to {TOLERANCE:g}); "
        f"process CPU {seconds['kernels']:.1f} s on the kernels, {seconds['numpy']:.1f} s on NumPy "
        f"({seconds['numpy'] / seconds['kernels']:.1f}x)"
    )


def _same(a: pd.Series, b: pd.Series) -> bool:
    if len(a) != len(b):
        return False
    if a.dtype.kind == "f":
        return bool(np.allclose(a.to_numpy(), b.to_numpy(), rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True))
    return bool(a.equals(b))


def fan_out_speedup(scenario_path: Path) -> None:
    scenario = load_scenario(scenario_path)
    cluster = build_cluster(scenario)
    istiod = scenario.istiod
    assert istiod.push_throttle is not None
    proxies = len(cluster.proxies) // istiod.replicas
    costs = push_costs(load_calibration(), scenario, design_accounting(cluster, get_design("single-stack")))
    cpu = np.full(proxies, costs.per_proxy_s)
    send = np.full(proxies, 2000 / costs.bytes_per_s)  # a ~2 kB endpoint update each
    idle = LaneState.idle(istiod.push_throttle, istiod.gomaxprocs)
    start = time.perf_counter()
    plan = schedule(idle, np.zeros(proxies), cpu, send)
    vectorized = time.perf_counter() - start
    scanned = np.empty((3, proxies))
    lanes = (idle.slots[None, :], idle.cores[None, :], np.zeros(1), np.zeros(1), np.array([0]), np.array([0, proxies]))
    for _ in range(2):  # the first call loads (or compiles) it
        state = [a.copy() for a in lanes]  # the scan advances the lanes in place
        start = time.perf_counter()
        kernels.scan(*state, np.zeros(proxies), cpu, send, np.inf, *scanned)
        compiled = time.perf_counter() - start
    start = time.perf_counter()
    _, done = dispatch_one_by_one(np.zeros(proxies), cpu, send, throttle=istiod.push_throttle, cores=istiod.gomaxprocs)
    one_by_one = time.perf_counter() - start
    print(
        f"one fan-out to {proxies:,} proxies (throttle {istiod.push_throttle}, {istiod.gomaxprocs} cores): "
        f"max-plus closed forms (NumPy) {vectorized * 1e3:.2f} ms, compiled scan {compiled * 1e3:.2f} ms, "
        f"push by push (simpy) {one_by_one:.2f} s, {one_by_one / compiled:.0f}x the scan; largest difference "
        f"{max(np.abs(plan.done - done).max(), np.abs(scanned[2] - done).max()):.2e} s, "
        f"last proxy done at {scanned[2].max():.3f} s"
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
    start, cpu = time.perf_counter(), time.process_time()
    parts = design_tables(design, cluster=cluster, stream=stream, calibration=calibration)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    summary = tables.summary(parts["push_metrics"]).iloc[0]
    return {
        "design": design,
        "wall s": elapsed,
        "CPU s": cpu,
        "x real time": stream.duration_s / elapsed,
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
        timing = ("wall s", "CPU s", "x real time")
        same = all(a[k] == b[k] for a, b in zip(rows, side_by_side, strict=True) for k in a if k not in timing)
        print(
            f"total wall time for {len(rows)} designs side by side on a {compute.describe()}: {best:.1f} s, start-up "
            f"included ({one_process / elapsed:.2f}x the one-process run; same figures: {same})"
        )
    verdict = "met" if best < GOAL_S else "NOT met"
    print(f"best total wall time of the two: {best:.1f} s (goal {GOAL_S:.0f} s: {verdict})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux
    verdict = "met" if peak < GOAL_MEMORY_GB else "NOT met"
    print(f"peak memory of this process: {peak:.2f} GB (goal {GOAL_MEMORY_GB:g} GB: {verdict})")


def fleet(scenario_path: Path, design: str) -> None:
    """One design's churn on the 200,000-sidecar fleet: build, stream and simulation timed apart."""
    start = time.perf_counter()
    scenario = load_scenario(scenario_path)
    cluster = build_cluster(scenario)
    built = time.perf_counter() - start
    start = time.perf_counter()
    stream = churn_stream(cluster)
    drawn = time.perf_counter() - start
    row = simulate_one(design, cluster=cluster, stream=stream, calibration=load_calibration())
    verdict = "met" if row["wall s"] < FLEET_GOAL_S else "NOT met"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"\n{scenario_path.name}: {len(cluster.proxies):,} sidecars, {scenario.istiod.replicas} istiod replicas, "
        f"{scenario.churn.duration_s / 60:g} simulated minutes of churn, {design}: cluster built in {built:.1f} s, "
        f"stream drawn in {drawn:.2f} s, simulated in {row['wall s']:.1f} s ({row['x real time']:.1f}x real time; "
        f"goal {FLEET_GOAL_S:.0f} s: {verdict}); {row['proxy pushes']:,} proxy pushes, convergence p99 "
        f"{row['converge p99 s']:.2f} s; peak memory of this process so far {peak:.2f} GB"
    )


def istiod_cpu_split(scenario_path: Path, minutes: float | None, designs: list[str] | None) -> None:
    """Per design, istiod's CPU under churn split into the fixed cost per proxy push, sending (per
    response and per byte sent), and generation (push contexts and config bytes: the rest), from
    the one formula (:mod:`dsim.calibration.istiod_push`) and the run's proxy pushes and bytes sent.
    (Not by differencing runs with a part priced and not: where istiod saturates, a dearer push
    merges more of the queue, so fewer proxy pushes happen and a difference can even be negative.)"""
    scenario = load_scenario(scenario_path)
    if minutes is not None:
        scenario = dataclasses.replace(scenario, churn=dataclasses.replace(scenario.churn, duration_s=minutes * 60))
    calibration = load_calibration()
    price = istiod_push_cpu(calibration, scenario.istiod)
    cluster = build_cluster(scenario)
    stream = churn_stream(cluster)
    rows = []
    for design in designs or list(scenario.designs):
        parts = design_tables(design, cluster=cluster, stream=stream, calibration=calibration)
        summary = tables.summary(parts["push_metrics"]).iloc[0]
        pushes = int(parts["push_proxies"]["pushes"].sum())
        sent = summary["bytes_sent_per_s"] * scenario.churn.duration_s
        fixed = pushes * price.per_proxy_ms / 1e3
        send = pushes * price.send_per_proxy_ms / 1e3 + sent * price.send_per_byte_ns / 1e9
        total = summary["istiod_cpu_s"]
        rows.append(
            {
                "design": design,
                "istiod CPU s": total,
                "generation s": total - fixed - send,
                "fixed per push s": fixed,
                "send s": send,
                "send per byte s": sent * price.send_per_byte_ns / 1e9,
                "proxy pushes": pushes,
                "GB sent": sent / 1e9,
            }
        )
    frame = pd.DataFrame(rows).set_index("design")
    frame["send share"] = frame["send s"] / frame["istiod CPU s"]
    print(
        f"\n{scenario_path.name}, {scenario.churn.duration_s:g} s of churn: istiod CPU split into generation "
        f"(push contexts + config bytes), fixed per proxy push ({price.per_proxy_ms:.3f} ms), and send "
        f"({1e3 * price.send_per_proxy_ms:.0f} µs per response + {price.send_per_byte_ns:.2f} ns per byte sent)"
    )
    print(frame.round(4).to_string())


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
    parser.add_argument(
        "--check-minutes", type=float, default=2.0, help="minutes of churn to run on kernels and NumPy (default: 2)"
    )
    parser.add_argument("--fleet-design", default="single-stack", help="the design simulated on fleet-50k.yaml")
    parser.add_argument(
        "--split-minutes", type=float, default=3.0,
        help="minutes of large.yaml's churn for the istiod CPU split (default: 3)",
    )  # fmt: skip
    args = parser.parse_args()
    large = ROOT / "scenarios" / "large.yaml"
    kernels_first_call()
    kernels_against_numpy(large, args.check_minutes, "single-stack")
    fan_out_speedup(large)
    against_references()
    designs = args.designs.split(",") if args.designs else None
    hour_of_churn(large, args.minutes, designs, args.workers)
    fleet(ROOT / "bench" / "fleet-50k.yaml", args.fleet_design)
    istiod_cpu_split(ROOT / "scenarios" / "quickstart.yaml", None, designs)
    istiod_cpu_split(large, args.split_minutes, designs)


if __name__ == "__main__":
    main()
