"""The VirtualService import index (``dsim/cluster/vs_imports.py``) against the readable rule it
speeds up (:func:`imported_virtual_services` here, Istio's ``SelectVirtualServices``)
and the walk order of ``vs_chain``: for every namespace of two meshes, under every egress host list
a Sidecar or a ``visibility`` stand-in may give, the same VirtualServices in the same order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from dsim import build_cluster, load_scenario, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.hostnames import either_matches, resolve_host
from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.object_views import vs_chain
from dsim.cluster.port80_hosts import bound_to_mesh
from dsim.cluster.sidecars import egress_hosts
from dsim.cluster.vs_imports import Egress, VirtualServiceImports
from dsim.pushsim.reach import virtual_service_reach
from dsim.scenario.istio import VirtualService
from dsim.xds.mesh_objects import mesh_objects
from tests.config_helpers import config_of
from tests.test_port80_vhosts import mesh_spec

ROOT = Path(__file__).resolve().parent.parent


def _meshes() -> list[Cluster]:
    return [
        build_cluster(load_scenario(ROOT / "scenarios" / "istio-objects.yaml")),
        build_cluster(scenario_from_dict(mesh_spec(sidecar=True))),
    ]


def imported_virtual_services(
    virtual_services: Sequence[VirtualService],
    candidates: Sequence[int],
    egress: Sequence[tuple[str | None, str]],
    cluster_domain: str,
) -> list[int]:
    """The readable rule: of ``candidates`` (``virtual_services`` rows bound to the mesh and
    exported to the proxy's namespace, in its walk order), those the egress hosts import, one
    VirtualService at a time: a host matching an egress host of the VirtualService's namespace or
    ``*``, either way (``SelectVirtualServices``)."""
    found = []
    for v in candidates:
        vs = virtual_services[v]
        patterns = [dns for ns, dns in egress if ns is None or ns == vs.namespace]
        hosts = [resolve_host(h, vs.namespace, cluster_domain) for h in vs.spec.hosts]
        if any(either_matches(dns, h) for dns in patterns for h in hosts):
            found.append(v)
    return found


def _egress_lists(cluster: Cluster, namespace: str) -> list[Egress | None]:
    """The default scope, each Sidecar's hosts read for ``namespace``, ``./*`` of every namespace,
    ``*/*`` and wildcards, and each service's ``<namespace>/<host>`` alone and all together."""
    names = cluster.namespaces["name"].tolist()
    hosts = cluster.service_hosts().tolist()
    service_ns = [names[n] for n in cluster.services["namespace"].tolist()]
    every_service = tuple(zip(service_ns, hosts, strict=True))
    found: list[Egress | None] = [None, ((None, "*"),), ((None, "*.example.com"),), every_service]
    found += [tuple(egress_hosts(sidecar, namespace)) for sidecar in cluster.istio.sidecars]
    found += [((n, "*"),) for n in names]
    found += [(pair,) for pair in every_service]
    found += [((ns, "*." + host.split(".", 1)[1]),) for ns, host in every_service if "." in host]
    return found


@pytest.mark.parametrize("which", [0, 1])
def test_the_index_imports_what_the_rule_imports_in_walk_order(which: int) -> None:
    cluster = _meshes()[which]
    virtual_services = cluster.istio.virtual_services
    domain = cluster.scenario.mesh.cluster_domain
    index = VirtualServiceImports(virtual_services, domain)
    facts = mesh_objects(cluster).vs_facts
    bound = [v for v, vs in enumerate(virtual_services) if bound_to_mesh(vs)]
    checked = 0
    for namespace in cluster.namespaces["name"].tolist():
        walk = vs_chain(facts, bound, namespace)  # every VirtualService exported to it, in walk order
        assert index.candidates(namespace) == walk
        for egress in _egress_lists(cluster, namespace):
            expected = (
                walk if egress is None else tuple(imported_virtual_services(virtual_services, walk, egress, domain))
            )
            assert index.imported(namespace, egress) == expected, (namespace, egress)
            if egress is not None:
                assert tuple(v for v in walk if index.imports(v, egress)) == expected, (namespace, egress)
            checked += bool(expected)
    assert checked > 20  # the lists import something often enough to mean something


def test_a_partial_wildcard_host_is_imported_by_the_host_it_covers() -> None:
    """``*-api.shop.svc.cluster.local`` (a valid VirtualService host: Istio allows ``*-api`` as a
    first label) covers ``orders-api.shop.svc.cluster.local``, as ``host.Name.Matches`` reads it by
    suffix: a Sidecar or stand-in importing that host imports the VirtualService."""
    spec = {
        "visibility": "dependencies",
        "namespaces": [{"name": "shop"}, {"name": "pay"}],
        "services": [{"name": "orders-api", "namespace": "shop", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            {"name": "orders", "namespace": "shop", "labels": {"app": "orders-api"}},
            {"name": "billing", "namespace": "pay", "labels": {"app": "billing"}, "calls": ["shop/orders-api"]},
        ],
        "virtual_services": [
            {
                "name": "apis",
                "namespace": "shop",
                "spec": {
                    "hosts": ["*-api.shop.svc.cluster.local"],
                    "http": [{"route": [{"destination": {"host": "orders-api"}}], "timeout": "2s"}],
                },
            }
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    egress: Egress = (("shop", "orders-api.shop.svc.cluster.local"),)
    domain = cluster.scenario.mesh.cluster_domain
    assert imported_virtual_services(cluster.istio.virtual_services, [0], egress, domain) == [0]
    assert VirtualServiceImports(cluster.istio.virtual_services, domain).imported("pay", egress) == (0,)
    reach = virtual_service_reach(cluster)[0]
    assert reach is not None
    assert reach.importers is not None
    billing = int(import_scopes(cluster).of_workload[cluster.workloads["name"].tolist().index("billing")])
    assert reach.importers.tolist() == [billing]


def test_a_client_side_virtual_service_under_a_stand_in_is_neither_applied_nor_pushed() -> None:
    """A VirtualService in the caller's namespace for a host of another: the ``dependencies``
    stand-in (importing ``b/<host>`` only) does not import it, as a real Sidecar importing the
    host alone would not, so its edits push no one and no proxy applies it."""
    spec = {
        "visibility": "dependencies",
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [{"name": "b", "namespace": "b", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            {"name": "a", "namespace": "a", "labels": {"app": "a"}, "calls": ["b/b"]},
            {"name": "b", "namespace": "b", "labels": {"app": "b"}},
        ],
        "virtual_services": [
            {
                "name": "client",
                "namespace": "a",
                "spec": {
                    "hosts": ["b.b.svc.cluster.local"],
                    "exportTo": ["."],
                    "http": [{"route": [{"destination": {"host": "b.b.svc.cluster.local"}}], "timeout": "3s"}],
                },
            }
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    reach = virtual_service_reach(cluster)[0]
    assert reach is not None
    assert reach.importers is not None
    assert reach.importers.tolist() == []
    route = next(r for r in config_of(cluster, "a/a").routes if r.name == "80")
    vhost = next(v for v in route.virtual_hosts if v.name == "b.b.svc.cluster.local:80")
    route = vhost.routes[0]
    config = route.metadata.filter_metadata["istio"]["config"] if route.HasField("metadata") else ""
    assert not config.endswith("/client")  # the default route: no VirtualService built it
