"""Does a change to the push model leave its results as they were? Save, then compare.

Runs the push model on the equivalence meshes and saves every push table and every array of each
design's recorder (per-proxy and per-push tallies, every histogram) to one ``.npz`` per mesh:

- ``scenarios/quickstart.yaml`` under every design;
- ``scenarios/large.yaml`` under two designs, its churn cut to ``--large-seconds`` (default 30);
- three small synthetic meshes with every kind of churn (pod replacements, rollouts, scale
  events, services created and deleted, VirtualService / DestinationRule / Sidecar edits, an
  istiod restart), one per ``visibility``, with two istiod replicas, delta xDS on and off and EDS
  debounce on and off between them.

None sets ``istiod.push_overhead_ms`` (it would make the result depend on how the fixed cost per
proxy push is derived, which the calibration fixes on its own).

Run ``python bench/pushsim_equivalence.py save DIR`` before a change and
``python bench/pushsim_equivalence.py compare DIR`` after it: integer arrays must be equal,
float arrays equal within 1e-9 (relative and absolute), strings equal. Prints one line per mesh
and a final PASS or FAIL (exit code 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

import dsim.pushsim.runner as runner
from dsim import build_cluster, get_design, load_calibration, load_scenario
from dsim.accounting.proxies import design_accounting
from dsim.cluster import Cluster
from dsim.pushsim.metrics import Histogram
from dsim.pushsim.runner import push_tables
from dsim.scenario.load import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-9

EVERY_CHURN = {
    "duration_s": 240,
    "pod_replacements_per_s": 0.4,
    "rollouts_per_hour": 40,
    "scale_events_per_hour": 60,
    "scale_step": 2,
    "service_creations_per_hour": 40,
    "service_deletions_per_hour": 30,
    "virtual_service_changes_per_hour": 60,
    "destination_rule_changes_per_hour": 60,
    "sidecar_changes_per_hour": 60,
    "istiod_restarts_s": [150],
}


def _synthetic(name: str, visibility: str, istiod: dict[str, Any]) -> Cluster:
    data = {
        "name": name,
        "seed": 5,
        "visibility": visibility,
        "synthetic": {
            "namespaces": 4,
            "services": 40,
            "families": {"ipv4": 0.3, "ipv6": 0.2, "dual_ipv4_primary": 0.3, "dual_ipv6_primary": 0.2},
            "protocols": {"http": 0.5, "grpc": 0.2, "tcp": 0.2, "auto": 0.1},
            "replicas": {"distribution": "uniform", "min": 1, "max": 4},
            "localities": [{"zone": "a"}, {"zone": "b"}],
            "subsets": {"fraction": 0.3, "versions": 2},
            "call_graph": {"model": "barabasi-albert", "m": 2},
        },
        "churn": EVERY_CHURN,
        "istiod": {"replicas": 2, "push_throttle": 3, "gomaxprocs": 2, **istiod},
    }
    return build_cluster(scenario_from_dict(data, source=f"<{name}>", default_name=name))


def meshes(large_seconds: float | None) -> Iterator[tuple[str, Cluster, list[str]]]:
    """(name, cluster, designs) of every equivalence mesh (``large.yaml`` unless ``large_seconds`` is None)."""
    quickstart = build_cluster(ROOT / "scenarios" / "quickstart.yaml")
    yield "quickstart", quickstart, list(quickstart.scenario.designs)
    yield "busy-all", _synthetic("busy-all", "all", {"delta_xds": False}), ["single-stack", "duplicate"]
    yield (
        "busy-namespace",
        _synthetic("busy-namespace", "namespace", {"eds_debounce": False}),
        ["single-stack", "additional-addresses"],
    )
    yield (
        "busy-dependencies",
        _synthetic("busy-dependencies", "dependencies", {}),
        ["duplicate", "additional-addresses"],
    )
    if large_seconds is None:
        return
    scenario = load_scenario(ROOT / "scenarios" / "large.yaml")
    scenario = dataclasses.replace(scenario, churn=dataclasses.replace(scenario.churn, duration_s=large_seconds))
    yield "large", build_cluster(scenario), ["single-stack", "additional-addresses"]


def _recorder_arrays(recorder: Any) -> dict[str, np.ndarray]:
    """Every array of a flushed recorder, histograms as their counts, maximum and total (its
    private buffers, ``_``-prefixed, are no result)."""
    out: dict[str, np.ndarray] = {}
    for name, value in vars(recorder).items():
        if name.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            out[name] = value
        elif isinstance(value, Histogram):
            out |= _histogram(name, value)
        elif isinstance(value, dict) and all(isinstance(h, Histogram) for h in value.values()):
            for key, histogram in value.items():
                out |= _histogram(f"{name}[{key}]", histogram)
    return out


def _histogram(name: str, histogram: Histogram) -> dict[str, np.ndarray]:
    return {
        f"{name}.counts": histogram.counts,
        f"{name}.maximum": np.array(histogram.maximum),
        f"{name}.total": np.array(histogram.total),
    }


def run_mesh(cluster: Cluster, designs: list[str]) -> dict[str, np.ndarray]:
    """Every push table column and every recorder array of ``designs`` on ``cluster``."""
    assert cluster.scenario.istiod.push_overhead_ms is None, "the equivalence meshes leave push_overhead_ms unset"
    recorded: dict[str, np.ndarray] = {}
    simulate = runner.simulate_design

    def recording(*args: Any, **kwargs: Any) -> Any:
        run = simulate(*args, **kwargs)
        for name, array in _recorder_arrays(run.recorder).items():
            recorded[f"recorder/{run.design}/{name}"] = array
        return run

    runner.simulate_design = recording  # the one seam that sees each run
    try:
        # As `dsim run` does: each design's accounting computed once, handed to the push model.
        accounting = {name: design_accounting(cluster, get_design(name)) for name in designs}
        tables = push_tables(cluster, designs, load_calibration(), accounting=accounting)
    finally:
        runner.simulate_design = simulate
    for table, frame in tables.items():
        for column in frame.columns:
            recorded[f"table/{table}/{column}"] = _array(frame[column])
    return recorded


def _array(column: pd.Series) -> np.ndarray:
    values = column.to_numpy()
    return values.astype(str) if values.dtype == object else values


def differences(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> list[str]:
    """What differs between two saved runs of one mesh (empty: equivalent)."""
    found = [f"{key}: only before" for key in sorted(before.keys() - after.keys())]
    found += [f"{key}: only after" for key in sorted(after.keys() - before.keys())]
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        if old.shape != new.shape:
            found.append(f"{key}: shape {old.shape} -> {new.shape}")
        elif old.dtype.kind in "fc":
            if not np.allclose(old, new, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True):
                worst = np.nanmax(np.abs(old.astype(float) - new.astype(float)))
                found.append(f"{key}: floats differ by up to {worst:.3g}")
        elif not np.array_equal(old, new):
            found.append(f"{key}: {int(np.count_nonzero(old != new))} values differ")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--large-seconds", type=float, default=30.0, help="simulated seconds of large.yaml")
    parser.add_argument("--skip-large", action="store_true", help="leave out large.yaml (quick checks)")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, cluster, designs in meshes(None if args.skip_large else args.large_seconds):
        arrays = run_mesh(cluster, designs)
        path = args.folder / f"{name}.npz"
        if args.action == "save":
            np.savez_compressed(path, **cast(dict[str, Any], arrays))  # numpy's stubs take a name for a flag
            print(f"{name}: saved {len(arrays)} arrays to {path}", flush=True)
            continue
        with np.load(path) as saved:
            found = differences(dict(saved), arrays)
        failed |= bool(found)
        print(f"{name}: {'FAIL' if found else 'equal'} ({len(arrays)} arrays)", flush=True)
        for line in found[:40]:
            print(f"  {line}")
    if args.action == "compare":
        print("FAIL" if failed else "PASS")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
