"""What applying only the imported VirtualServices changes, and costs (``docs/istio-objects.md``
1.4, "A proxy applies only the VSs its scope imports"): a VirtualService of another namespace than
its host, a client-side one, shapes the host only for proxies whose Sidecar (or the Sidecar their
``visibility`` stands for) imports it.

Prints, in one run, for ``bench/accounting.py``'s part 3 mesh (10,000 services and
VirtualServices, 100 namespaces) with one client-side VirtualService per namespace, for a service
of another namespace:

- public ones under a ``./*`` Sidecar per namespace (the host's namespace sees the host and does
  not import them);
- private ones (``exportTo: .``) under ``visibility: dependencies`` (a Barabási–Albert call graph;
  each for a host the namespace's workloads call);
- public ones with no scoping (the default scope imports everything: nothing changes, the cost of
  looking);

each built with the import filter and with it replaced by nothing (the rule before: every
VirtualService exported to the namespace applies), the baseline, in the same run:

- wall time to build the cluster, and of the single-stack vectorized accounting, with the ratio
  (each side run twice, alternately; the shorter time);
- viewers past the namespaces, and (workload, VirtualService) pairs left out;
- mean route and listener bytes per proxy, single-stack;
- sidecars that apply a VirtualService whose edits do not push them (its importers, 5.2, do not
  include their scope): the inconsistency the filter removes.

Run: ``python bench/vs_import.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import dsim.cluster.istio as istio_module
from dsim import build_cluster
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.cluster.import_scopes import import_scopes, services_seen
from dsim.designs import get_design
from dsim.pushsim.reach import virtual_service_reach
from dsim.scenario import scenario_from_dict
from dsim.xds.mesh_objects import mesh_objects

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accounting import ISTIO_OBJECTS, namespace_sidecars
from alternated import alternated, timing_line


@contextmanager
def without_filter() -> Iterator[None]:
    """The baseline: no workload leaves a VirtualService out."""
    real = istio_module.unimported_by_workload
    istio_module.unimported_by_workload = lambda tables, *_: [frozenset()] * len(tables["workloads"])
    try:
        yield
    finally:
        istio_module.unimported_by_workload = real


def _client_side(cluster: Cluster, public: bool, called: bool) -> list[dict[str, Any]]:
    """Per namespace, a VirtualService for a service of another namespace: one its workloads call
    (``called``), else one drawn by a fixed stride."""
    names = cluster.services["name"].tolist()
    service_ns = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()].tolist()
    workload_ns = cluster.namespaces["name"].to_numpy()[cluster.workloads["namespace"].to_numpy()].tolist()
    targets: dict[str, int] = {}
    if called:
        deps = cluster.dependencies
        for w, s in sorted(zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True)):
            if service_ns[s] != workload_ns[w]:
                targets.setdefault(workload_ns[w], s)
    else:
        for i, space in enumerate(sorted(set(service_ns))):
            targets[space] = (i * 97 + 13) % len(names)
    out = []
    for i, (space, s) in enumerate(sorted(targets.items())):
        host = f"{names[s]}.{service_ns[s]}.svc.cluster.local"
        spec: dict[str, Any] = {
            "hosts": [host],
            "http": [{"route": [{"destination": {"host": host}}], "timeout": "2s"}],
        }
        if not public:
            spec["exportTo"] = ["."]
        out.append({"name": f"client-{i}", "namespace": space, "spec": spec})
    return out


def _unpushed(cluster: Cluster) -> int:
    """Sidecars applying some VirtualService whose edits do not push them (weighted by proxies)."""
    objects = mesh_objects(cluster)
    scopes = import_scopes(cluster).of_workload
    reach = virtual_service_reach(cluster)
    proxies = np.bincount(cluster.proxies["workload"].to_numpy(), minlength=len(cluster.workloads))
    viewers = cluster.workload_viewers()
    every_workload = np.arange(len(cluster.workloads))
    seen = services_seen(cluster.tables(), cluster.scenario.visibility, cluster.istio.scoped, every_workload)
    count = 0
    sees_all = not cluster.istio.scoped and cluster.scenario.visibility == "all"
    every: dict[int, set[int]] = {}  # per viewer, where every proxy sees every service
    for w in range(len(viewers)):
        viewer = int(viewers[w])
        chains = objects.view(viewer).vs_of_service
        if sees_all:
            if viewer not in every:
                every[viewer] = {v for chain in chains.values() for v in chain}
            applied = every[viewer]
        else:
            applied = {v for service in seen[w].tolist() for v in chains.get(service, ())}
        if any(
            (found := reach[v]) is not None and found.importers is not None and scopes[w] not in found.importers
            for v in applied
        ):
            count += int(proxies[w])
    return count


def measure(spec: dict[str, Any]) -> dict[str, float]:
    start = time.perf_counter()
    cluster = build_cluster(scenario_from_dict(spec))
    built = time.perf_counter() - start
    start = time.perf_counter()
    sizes = vectorized_sizes(cluster, get_design("single-stack"))[0]
    accounted = time.perf_counter() - start
    proxies = len(cluster.proxies)
    by_type = sizes.groupby("xds_type")["bytes"].sum()
    return {
        "build": built,
        "accounting": accounted,
        "viewers": len(np.unique(cluster.rule_viewers["viewer"].to_numpy())),
        "left_out": len(cluster.viewer_unimported),
        "workloads_left_out": int(np.isin(cluster.workload_viewers(), cluster.viewer_unimported["viewer"]).sum()),
        "routes": float(by_type.get("routes", 0)) / proxies,
        "listeners": float(by_type.get("listeners", 0)) / proxies,
        "unpushed": _unpushed(cluster),
    }


def compare(label: str, spec: dict[str, Any]) -> None:
    new, old = alternated(measure, spec, without_filter)
    print(f"{label}:")
    print(timing_line(new, old, "without the filter"))
    print(
        f"  viewers past the namespaces {new['viewers']:,} (without {old['viewers']:,}); "
        f"(viewer, VirtualService) pairs left out {new['left_out']:,}, workloads leaving one out "
        f"{new['workloads_left_out']:,}"
    )
    print(
        f"  per proxy: route bytes {new['routes']:,.0f} (without {old['routes']:,.0f}, "
        f"{100 * (new['routes'] / old['routes'] - 1):+.2f}%), listener bytes {new['listeners']:,.0f} "
        f"(without {old['listeners']:,.0f}); sidecars applying a VirtualService whose edits do not push them "
        f"{new['unpushed']:,} (without {old['unpushed']:,})"
    )


def main() -> None:
    base = build_cluster(scenario_from_dict(ISTIO_OBJECTS))
    namespaces = sorted(set(base.namespaces["name"].tolist()))
    sidecars = namespace_sidecars(namespaces)
    public = _client_side(base, public=True, called=False)
    calls = {**ISTIO_OBJECTS["synthetic"], "call_graph": {"model": "barabasi-albert"}}
    called_base = build_cluster(scenario_from_dict({**ISTIO_OBJECTS, "visibility": "dependencies", "synthetic": calls}))
    private = _client_side(called_base, public=False, called=True)
    compare(
        "a ./* Sidecar per namespace, a public client-side VirtualService per namespace",
        {**ISTIO_OBJECTS, "sidecars": sidecars, "virtual_services": public},
    )
    compare(
        "visibility: dependencies, a private client-side VirtualService per namespace for a host it calls",
        {**ISTIO_OBJECTS, "visibility": "dependencies", "synthetic": calls, "virtual_services": private},
    )
    compare(
        "no scoping, a public client-side VirtualService per namespace", {**ISTIO_OBJECTS, "virtual_services": public}
    )


if __name__ == "__main__":
    main()
