"""Who a VirtualService edit pushes: the proxies whose scope imports it (Istio's
``DependsOnConfig``, :func:`dsim.pushsim.reach.virtual_service_reach`), against the rule dsim
followed before (the proxies that see a service it names, in the namespaces it is exported to).

Prints, in one run, for ``bench/accounting.py``'s part 3 mesh (10,000 services and
VirtualServices, 100 namespaces), then under ``visibility: namespace`` and ``dependencies`` (a
Barabási–Albert call graph; the Sidecars they stand for import, ``dsim/cluster/import_scopes.py``),
then under a Sidecar per namespace importing ``./*``, then with each namespace's own
VirtualService for a service of another namespace and 100 VirtualServices for external hosts
(naming no service) added:

- the wall time to find every VirtualService's importers when the churn stream is drawn, and the
  time the old rule took there (its services and namespaces: the baseline), with the ratio;
- per VirtualService edit, on average over the VirtualServices bound to the mesh: sidecars pushed
  under each rule, and how many VirtualServices each rule pushes no sidecar for;
- the push model's figures for ten simulated minutes of VirtualService edits (one a second) under
  the new rule: proxy pushes, and per push the sidecars reached.

Run: ``python bench/vs_reach.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dsim import build_cluster, load_calibration
from dsim.cluster import Cluster
from dsim.cluster.grouping import grouped
from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.object_views import export_set
from dsim.pushsim.reach import virtual_service_reach
from dsim.pushsim.runner import push_tables
from dsim.pushsim.visibility import Seers
from dsim.scenario import scenario_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accounting import ISTIO_OBJECTS, _own_objects, namespace_sidecars


def _old_reach(cluster: Cluster) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The old rule as the churn stream found it (the baseline's timing): per VirtualService, the
    services it names and the namespace rows it is exported to (``None``: all)."""
    claims = cluster.virtual_service_hosts
    by_object = grouped(
        claims["virtual_service"].to_numpy(), claims["service"].to_numpy(), len(cluster.virtual_services)
    )
    rows = {name: i for i, name in enumerate(cluster.namespaces["name"].tolist())}
    out = []
    for services, vs in zip(by_object, cluster.istio.virtual_services, strict=True):
        exports = export_set(vs.spec.export_to, vs.namespace)
        out.append((services, None if exports is None else np.array(sorted(rows[n] for n in exports if n in rows))))
    return out


def _old_pushed(cluster: Cluster, old: list[tuple[np.ndarray, np.ndarray | None]], proxies: np.ndarray) -> list[int]:
    """Per VirtualService: the sidecars the old rule pushed (those that see a service it names, in
    the namespaces it is exported to), as the simulation found them at each push."""
    seers = Seers(cluster)
    workload_ns = cluster.workloads["namespace"].to_numpy()
    counts = []
    for services, namespaces in old:
        seen = np.zeros(len(workload_ns), bool)
        for s in services.tolist():
            seen[seers.of(s)] = True
        if namespaces is not None:
            seen &= np.isin(workload_ns, namespaces)
        counts.append(int(proxies[seen].sum()))
    return counts


def _proxies_per_workload(cluster: Cluster) -> np.ndarray:
    return np.bincount(cluster.proxies["workload"].to_numpy(), minlength=len(cluster.workloads))


def compare(label: str, spec: dict[str, Any]) -> None:
    cluster = build_cluster(scenario_from_dict(spec))
    start = time.perf_counter()
    reach = virtual_service_reach(cluster)
    new_s = time.perf_counter() - start
    start = time.perf_counter()
    old = _old_reach(cluster)
    old_s = time.perf_counter() - start
    proxies = _proxies_per_workload(cluster)
    group = import_scopes(cluster).of_workload
    new_counts, old_counts = [], []
    for r, before in zip(reach, _old_pushed(cluster, old, proxies), strict=True):
        if r is None:
            continue
        reached = proxies if r.importers is None else proxies[np.isin(group, r.importers)]
        new_counts.append(int(reached.sum()))
        old_counts.append(before)
    new, before = np.array(new_counts), np.array(old_counts)
    print(
        f"{label}: {len(new):,} VirtualServices bound to the mesh, {int(proxies.sum()):,} sidecars; "
        f"importers found in {new_s:.3f} s, the old rule's namespaces {old_s:.3f} s ({new_s / old_s:.1f}x)"
    )
    print(
        f"  sidecars pushed per edit, mean: importers {new.mean():,.1f}, old rule {before.mean():,.1f}; "
        f"VirtualServices pushing no sidecar: importers {int((new == 0).sum())}, old rule {int((before == 0).sum())}; "
        f"pushing other sidecars than before: {int((new != before).sum())}"
    )


def simulate(label: str, spec: dict[str, Any]) -> None:
    churn = {"duration_s": 600, "virtual_service_changes_per_hour": 3600}
    scenario = scenario_from_dict({**spec, "churn": churn})
    cluster = build_cluster(scenario)
    start = time.perf_counter()
    records = push_tables(cluster, ["single-stack"], load_calibration())["push_records"]
    took = time.perf_counter() - start
    pushed = records["proxies_pushed"].to_numpy()
    print(
        f"{label}, ten minutes of VirtualService edits (single-stack): {len(records):,} pushes, "
        f"{int(pushed.sum()):,} proxy pushes, sidecars per push mean {pushed.mean():,.1f}, "
        f"max {int(pushed.max()) if len(pushed) else 0:,}; simulated in {took:.1f} s"
    )


def main() -> None:
    base = build_cluster(scenario_from_dict(ISTIO_OBJECTS))
    namespaces = sorted(set(base.namespaces["name"].tolist()))
    sidecars = namespace_sidecars(namespaces)
    own = _own_objects(base, len(namespaces))["virtual_services"]
    target = own[0]["spec"]["hosts"][0]
    external = [
        {
            "name": f"external-{i}",
            "namespace": namespaces[i % len(namespaces)],
            "spec": {"hosts": [f"api-{i}.example.com"], "http": [{"route": [{"destination": {"host": target}}]}]},
        }
        for i in range(100)
    ]
    called = {**ISTIO_OBJECTS["synthetic"], "call_graph": {"model": "barabasi-albert"}}
    meshes = (
        ("part 3's mesh", ISTIO_OBJECTS),
        ("under visibility: namespace", {**ISTIO_OBJECTS, "visibility": "namespace"}),
        ("under visibility: dependencies", {**ISTIO_OBJECTS, "visibility": "dependencies", "synthetic": called}),
        ("under a Sidecar per namespace (./*)", {**ISTIO_OBJECTS, "sidecars": sidecars}),
        (
            "  + own and external VirtualServices",
            {**ISTIO_OBJECTS, "sidecars": sidecars, "virtual_services": [*own, *external]},
        ),
    )
    for label, spec in meshes:
        compare(label, spec)
    for label, spec in meshes[3:]:
        simulate(label, spec)


if __name__ == "__main__":
    main()
