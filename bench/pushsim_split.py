"""Where the push model's time goes: the dispatch passes against the event layer around them.

The issue's goal is an hour of ``large.yaml`` churn, every design, in under 60 s on this machine.
This script measures, for one design over some minutes of that churn (process CPU time, so the
other core's load matters less):

1. the config model's set-up (built alone, once);
2. the dispatch passes (:meth:`dsim.pushsim.dispatch.Dispatcher._dispatch`, timed by wrapping it for
   this run): scheduling, pricing, committing and recording proxy pushes; with the passes, rows
   scheduled and proxy pushes committed, hence the cost per committed proxy push;
3. everything else of the simulation (the event layer: churn events, debouncer, push enqueue,
   which replicas an endpoint change concerns, endpoint-state updates, simpy; and taking each
   pass's batch off the queues, which is per row);

then scales 2 and 3 to an hour and every design and sets them against the goal's budget: how many
nanoseconds of CPU per proxy push the goal leaves on this machine's cores, and how the event layer
alone compares with the whole 60 s.
Run: ``python bench/pushsim_split.py [--minutes M] [--design D] [--parts]`` (default: 10 minutes,
single-stack; ``--parts`` then runs it again with each part of the event layer timed on its own).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dsim import build_cluster, get_design, load_calibration, load_scenario
from dsim.accounting.columns import cluster_columns
from dsim.accounting.proxies import design_accounting
from dsim.pushsim.churn import churn_stream
from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.dispatch import Dispatcher
from dsim.pushsim.queueline import Batches
from dsim.pushsim.simulate import simulate_design
from dsim.pushsim.visibility import Seers

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0


@dataclasses.dataclass
class DispatchTally:
    seconds: float = 0.0
    passes: int = 0
    rows: int = 0


@contextlib.contextmanager
def timed_dispatch() -> Iterator[DispatchTally]:
    """Process CPU time spent in the fan-out's dispatch passes while the block runs."""
    tally = DispatchTally()
    original = Dispatcher._dispatch

    def wrapped(self: Dispatcher, batches: Batches, until: float) -> Any:
        start = time.process_time()
        try:
            return original(self, batches, until)
        finally:
            tally.seconds += time.process_time() - start
            tally.passes += 1
            tally.rows += len(batches.proxies)

    Dispatcher._dispatch = wrapped  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        Dispatcher._dispatch = original  # type: ignore[method-assign]


# The event layer's parts, each timed exclusive of the parts it calls (dispatch passes included).
PARTS = (
    ("dispatch", "Dispatcher", "_dispatch", "dispatch passes"),
    ("dispatch", "Dispatcher", "advance", "advance: batches off the queues, re-queues"),
    ("fanout", "FanOut", "push", "push enqueue: reach, rotation, enqueue"),
    ("fanout", "FanOut", "set_endpoints", "endpoint changes: concerned replicas, state"),
    ("fanout", "FanOut", "connect", "connections"),
    ("fanout", "FanOut", "disconnect", "disconnections"),
    ("simulate", "_Simulation", "_request", "push requests into the debouncer"),
    ("simulate", "_Simulation", "_event", "churn events, dispatched by kind"),
    ("configs", "ConfigModel", "__init__", "config model set-up (once per run, not per event)"),
)


@contextlib.contextmanager
def timed_parts() -> Iterator[dict[str, list[float]]]:
    """Wall time of each of :data:`PARTS`, exclusive of the others it calls, and its calls."""
    from dsim.pushsim import configs, dispatch, fanout, simulate

    modules = {"dispatch": dispatch, "fanout": fanout, "simulate": simulate, "configs": configs}
    tally: dict[str, list[float]] = {label: [0.0, 0] for *_, label in PARTS}
    inside: list[float] = []
    originals = []

    def timed(original: Any, label: str) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            inside.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                nested = inside.pop()
                tally[label][0] += spent - nested
                tally[label][1] += 1
                if inside:
                    inside[-1] += spent

        return wrapped

    for module, cls_name, name, label in PARTS:
        cls = getattr(modules[module], cls_name)
        originals.append((cls, name, getattr(cls, name)))
        setattr(cls, name, timed(getattr(cls, name), label))
    try:
        yield tally
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def print_parts(simulate_once: Any, events: int) -> None:
    """Run the simulation again with every part timed, and print each part per churn event."""
    with timed_parts() as tally:
        start = time.perf_counter()
        simulate_once()
        total = time.perf_counter() - start
    print(f"the same run again, each part timed (wall, exclusive; the timing itself adds a little): {total:.1f} s")
    for label, (seconds, calls) in sorted(tally.items(), key=lambda item: -item[1][0]):
        if calls:
            print(f"  {label:<48} {seconds / events * 1e6:6.1f} µs per churn event ({calls:,} calls)")
    rest = total - sum(seconds for seconds, _ in tally.values())
    label = "the rest: push contexts, debouncer, simpy"
    print(f"  {label:<48} {rest / events * 1e6:6.1f} µs per churn event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of churn to simulate (default: 10)")
    parser.add_argument("--design", default="single-stack", help="the design to simulate (default: single-stack)")
    parser.add_argument("--parts", action="store_true", help="then run again with each part of the event layer timed")
    args = parser.parse_args()
    scenario = load_scenario(ROOT / "scenarios" / "large.yaml")
    scenario = dataclasses.replace(scenario, churn=dataclasses.replace(scenario.churn, duration_s=args.minutes * 60))
    designs = len(scenario.designs)
    cluster = build_cluster(scenario)
    cols, seers, calibration = cluster_columns(cluster), Seers(cluster), load_calibration()
    stream = churn_stream(cluster)

    start = time.process_time()
    accounting = design_accounting(cluster, get_design(args.design), cols)
    accounted = time.process_time() - start
    start = time.process_time()
    ConfigModel(cluster, cols, accounting, stream, seers)
    set_up = time.process_time() - start
    # The first simulation in a process loads the compiled kernels from numba's cache: a cost per
    # process, not per churn event. It is measured here, and the figures are of the run after it.
    start = time.process_time()
    simulate_design(cluster, cols, stream, seers, accounting, calibration)
    first = time.process_time() - start
    with timed_dispatch() as dispatch:
        start = time.process_time()
        run = simulate_design(cluster, cols, stream, seers, accounting, calibration)
        total = time.process_time() - start
    committed = int(run.recorder.jobs_by_kind.sum())
    events = len(stream.events)
    event_layer = total - set_up - dispatch.seconds

    hours = args.minutes / 60
    cores = os.cpu_count() or 1
    per_hour = {"dispatch": dispatch.seconds / hours, "events": event_layer / hours}
    pushes_per_hour = committed / hours
    budget_ns = GOAL_S * cores / (designs * pushes_per_hour) * 1e9
    print(
        f"large.yaml, {args.design}, {args.minutes:g} simulated minutes ({events:,} churn events): "
        f"{total:.1f} s of CPU in all"
    )
    print(
        f"  (the first run in this process took {first - total:.1f} s more: the compiled kernels load from "
        "numba's cache, once per process; these figures are of the second run)"
    )
    print(f"  the design's accounting (before the push model; `dsim run` shares its own): {accounted:.1f} s")
    print(f"  config model set-up: {set_up:.1f} s")
    print(
        f"  dispatch passes: {dispatch.seconds:.1f} s in {dispatch.passes:,} passes, {dispatch.rows:,} rows "
        f"scheduled, {committed:,} proxy pushes committed: {dispatch.seconds / committed * 1e9:.0f} ns per proxy push, "
        f"{dispatch.seconds / dispatch.passes * 1e3:.2f} ms per pass"
    )
    print(
        f"  event layer (everything else, batches off the queues included): {event_layer:.1f} s, "
        f"{event_layer / events * 1e6:.0f} µs per churn event"
    )
    print(
        f"per simulated hour: {pushes_per_hour / 1e6:.1f} million proxy pushes; dispatch {per_hour['dispatch']:.0f} s, "
        f"event layer {per_hour['events']:.0f} s"
    )
    print(
        f"the goal ({GOAL_S:.0f} s for {designs} designs on {cores} cores) leaves {budget_ns:.0f} ns of CPU per proxy "
        f"push, everything included: the dispatch alone takes "
        f"{dispatch.seconds / committed * 1e9 / budget_ns:.1f}x that"
    )
    if args.parts:
        print_parts(lambda: simulate_design(cluster, cols, stream, seers, accounting, calibration), events)
    events_all, goal_cpu = per_hour["events"] * designs, GOAL_S * cores
    print(
        f"the event layer alone, {designs} designs, one hour: {events_all:.0f} s of CPU, {events_all / goal_cpu:.2f}x "
        f"the goal's {goal_cpu:.0f} CPU-seconds even if dispatching cost nothing"
    )


if __name__ == "__main__":
    main()
