"""What the virtual hosts of a VirtualService's other hosts on its services' ports other than 80
add, and cost (``docs/istio-objects.md`` 1.4, "Hosts on another host's port"): a VirtualService
for a service with an HTTP port P that also lists an external host (as one shared with an ingress
gateway does) gives that host a virtual host ``<host>:P`` in the ``"P"`` of every proxy that sees
the service.

Prints, in one run, for ``bench/accounting.py``'s part 3 mesh (10,000 services and generated
VirtualServices, 100 namespaces) with, for every service, a pasted VirtualService bound to the mesh
and a gateway whose hosts are the service and ``<name>.<namespace>.example.com``:

with no scoping, under a ``./*`` Sidecar per namespace and under ``visibility: dependencies``,
each built with these virtual hosts and without them (the rule before: not built, counted), the
baseline, in the same run (``bench/alternated.py``, ``compare_scopings``): wall time to build the
cluster and of the single-stack vectorized accounting, with the ratio (each side run twice,
alternately; the shorter time), and the mean route bytes and virtual hosts per proxy.

Run: ``python bench/cross_port.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dsim.cluster.istio as istio_module
from dsim import build_cluster
from dsim.cluster import Cluster
from dsim.cluster.cross_port_hosts import CrossPorts
from dsim.scenario import scenario_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accounting import ISTIO_OBJECTS
from alternated import compare_scopings, replaced


class _NoCrossPorts(CrossPorts):
    """The baseline: no VirtualService has other hosts' virtual hosts on a port other than 80."""

    def __init__(self, virtual_services: Any, *_: Any) -> None:
        self.clashes = 0
        self.by_vs = [{} for _ in virtual_services]


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


def main() -> None:
    shared = _shared_with_ingress(build_cluster(scenario_from_dict(ISTIO_OBJECTS)))
    compare_scopings(
        {**ISTIO_OBJECTS, "virtual_services": shared}, lambda: replaced(istio_module, "CrossPorts", _NoCrossPorts)
    )


if __name__ == "__main__":
    main()
