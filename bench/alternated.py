"""A change timed against its baseline in the same run, as the change benchmarks do: each side
measured twice, alternately, so that neither pays alone for what the process holds from the other;
wall times the shorter of the two, other figures (the same in every run) the first's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType
from typing import Any

from dsim import build_cluster
from dsim.accounting.proxies import vectorized_sizes
from dsim.designs import get_design
from dsim.scenario import scenario_from_dict

TIMED = ("build", "accounting")
"""The figures that are wall times."""


def alternated(
    measure: Callable[[dict[str, Any]], dict[str, float]],
    spec: dict[str, Any],
    baseline: Callable[[], AbstractContextManager[None]],
) -> tuple[dict[str, float], dict[str, float]]:
    """``measure(spec)`` with the change and inside ``baseline()``: (with, without)."""
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(2):
        runs[True].append(measure(spec))
        with baseline():
            runs[False].append(measure(spec))
    return _best(runs[True]), _best(runs[False])


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {**runs[0], **{k: min(run[k] for run in runs) for k in TIMED}}


def timing_line(new: dict[str, float], old: dict[str, float], without: str = "without") -> str:
    """Build and accounting wall times, with the change and ``without``, and their ratios."""
    return (
        f"  build {new['build']:.2f} s, {without} {old['build']:.2f} s ({new['build'] / old['build']:.2f}x); "
        f"accounting {new['accounting']:.2f} s, without {old['accounting']:.2f} s "
        f"({new['accounting'] / old['accounting']:.2f}x)"
    )


def measure_routes(spec: dict[str, Any]) -> dict[str, float]:
    """Build ``spec``'s cluster and run the single-stack vectorized accounting: both wall times, and
    the mean route bytes and virtual hosts per proxy."""
    start = time.perf_counter()
    cluster = build_cluster(scenario_from_dict(spec))
    built = time.perf_counter() - start
    start = time.perf_counter()
    sizes, counts = vectorized_sizes(cluster, get_design("single-stack"))
    accounted = time.perf_counter() - start
    proxies = len(cluster.proxies)
    routes = sizes[sizes["xds_type"] == "routes"]["bytes"].sum()
    return {
        "build": built,
        "accounting": accounted,
        "routes": float(routes) / proxies,
        "vhosts": float(counts["virtual_hosts"].sum()) / proxies,
    }


def compare_routes(label: str, spec: dict[str, Any], baseline: Callable[[], AbstractContextManager[None]]) -> None:
    """Print :func:`measure_routes` of ``spec`` with the change and inside ``baseline()``."""
    new, old = alternated(measure_routes, spec, baseline)
    print(f"{label}:")
    print(timing_line(new, old, "without"))
    print(
        f"  per proxy: route bytes {new['routes']:,.0f} (without {old['routes']:,.0f}, "
        f"{100 * (new['routes'] / old['routes'] - 1):+.2f}%), virtual hosts {new['vhosts']:,.1f} "
        f"(without {old['vhosts']:,.1f})"
    )


def compare_scopings(spec: dict[str, Any], baseline: Callable[[], AbstractContextManager[None]]) -> None:
    """:func:`compare_routes` of ``spec`` (a mesh of ``bench/accounting.py``'s part 3: its synthetic
    section kept) with no scoping (every proxy sees every service), under a ``./*`` Sidecar per
    namespace, and under ``visibility: dependencies`` (a Barabási–Albert call graph)."""
    from accounting import namespace_sidecars  # a sibling script, on the path its callers set

    namespaces = sorted(set(build_cluster(scenario_from_dict(spec)).namespaces["name"].tolist()))
    calls = {**spec["synthetic"], "call_graph": {"model": "barabasi-albert"}}
    compare_routes("no scoping", spec, baseline)
    compare_routes("a ./* Sidecar per namespace", {**spec, "sidecars": namespace_sidecars(namespaces)}, baseline)
    compare_routes("visibility: dependencies", {**spec, "visibility": "dependencies", "synthetic": calls}, baseline)


@contextmanager
def replaced(module: ModuleType, name: str, stand_in: Any) -> Iterator[None]:
    """``module.name`` is ``stand_in`` inside the block (a change's baseline)."""
    real = getattr(module, name)
    setattr(module, name, stand_in)
    try:
        yield
    finally:
        setattr(module, name, real)
