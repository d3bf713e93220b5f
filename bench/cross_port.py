"""What the virtual hosts of a VirtualService's other hosts on its services' ports other than 80
add, and cost (``docs/istio-objects.md`` 1.4, "Hosts on another host's port"): a VirtualService
for a service with an HTTP port P that also lists an external host (as one shared with an ingress
gateway does) gives that host a virtual host ``<host>:P`` in the ``"P"`` of every proxy that sees
the service.

Prints, in one run, for ``bench/accounting.py``'s part 3 mesh (10,000 services and generated
VirtualServices, 100 namespaces) with, for every service, a pasted VirtualService bound to the mesh
and a gateway whose hosts are the service and ``<name>.<namespace>.example.com``:

- with no scoping (every proxy sees every service);
- under a ``./*`` Sidecar per namespace;
- under ``visibility: dependencies`` (a Barabási–Albert call graph);

each built with these virtual hosts and without them (the rule before: not built, counted), the
baseline, in the same run:

- wall time to build the cluster, and of the single-stack vectorized accounting, with the ratio
  (each side run twice, alternately; the shorter time);
- mean route bytes and virtual hosts per proxy, single-stack.

Run: ``python bench/cross_port.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dsim.cluster.istio as istio_module
from dsim import build_cluster
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.cluster.cross_port_hosts import CrossPorts
from dsim.designs import get_design
from dsim.scenario import scenario_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accounting import ISTIO_OBJECTS, namespace_sidecars
from alternated import alternated, timing_line


class _NoCrossPorts(CrossPorts):
    """The baseline: no VirtualService has other hosts' virtual hosts on a port other than 80."""

    def __init__(self, virtual_services: Any, *_: Any) -> None:
        self.clashes = 0
        self.by_vs = [{} for _ in virtual_services]


@contextmanager
def without_cross_ports() -> Iterator[None]:
    real = istio_module.CrossPorts
    istio_module.CrossPorts = _NoCrossPorts  # type: ignore[misc]
    try:
        yield
    finally:
        istio_module.CrossPorts = real  # type: ignore[misc]


def _shared_with_ingress(cluster: Cluster) -> list[dict[str, Any]]:
    """Per service, a VirtualService for it and an external host, bound to the mesh and a gateway."""
    names = cluster.services["name"].tolist()
    spaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()].tolist()
    out = []
    for i, (name, space) in enumerate(zip(names, spaces, strict=True)):
        host = f"{name}.{space}.svc.cluster.local"
        spec = {
            "hosts": [host, f"{name}.{space}.example.com"],
            "gateways": ["istio-system/ingress", "mesh"],
            "http": [{"route": [{"destination": {"host": host}}], "timeout": "2s"}],
        }
        out.append({"name": f"shared-{i}", "namespace": space, "spec": spec})
    return out


def measure(spec: dict[str, Any]) -> dict[str, float]:
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


def compare(label: str, spec: dict[str, Any]) -> None:
    new, old = alternated(measure, spec, without_cross_ports)
    print(f"{label}:")
    print(timing_line(new, old, "without"))
    print(
        f"  per proxy: route bytes {new['routes']:,.0f} (without {old['routes']:,.0f}, "
        f"{100 * (new['routes'] / old['routes'] - 1):+.2f}%), virtual hosts {new['vhosts']:,.1f} "
        f"(without {old['vhosts']:,.1f})"
    )


def main() -> None:
    base = build_cluster(scenario_from_dict(ISTIO_OBJECTS))
    shared = _shared_with_ingress(base)
    namespaces = sorted(set(base.namespaces["name"].tolist()))
    calls = {**ISTIO_OBJECTS["synthetic"], "call_graph": {"model": "barabasi-albert"}}
    compare("no scoping", {**ISTIO_OBJECTS, "virtual_services": shared})
    compare(
        "a ./* Sidecar per namespace",
        {**ISTIO_OBJECTS, "virtual_services": shared, "sidecars": namespace_sidecars(namespaces)},
    )
    compare(
        "visibility: dependencies",
        {**ISTIO_OBJECTS, "visibility": "dependencies", "synthetic": calls, "virtual_services": shared},
    )


if __name__ == "__main__":
    main()
