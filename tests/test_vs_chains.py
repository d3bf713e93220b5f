"""Several VirtualServices for one host (``docs/istio-objects.md`` 1.4): a namespace walks every one it
sees, in Istio's order (private, exported to it by name, public; each in creation order). Per port,
the first whose HTTP routes take it builds the virtual host (``BuildSidecarVirtualHostWrapper`` drops
a service only once a VirtualService built it); TCP routes are walked across them, the first that
takes the port winning, and TLS routes add a chain per SNI not seen before
(``buildSidecarOutboundTCPListenerOpts``). Both paths agree byte for byte in every view and design,
and the real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

API = "api.a.svc.cluster.local"


def _vs(name: str, exports: list[str] | None = None, **routes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"hosts": [API], **routes, **({"exportTo": exports} if exports else {})}
    return {"name": name, "namespace": "a", "spec": spec}


def _to(port: int) -> list[dict[str, Any]]:
    return [{"destination": {"host": API, "port": {"number": port}}}]


MESH: dict[str, Any] = {
    "namespaces": [{"name": n} for n in ("a", "b", "c", "d")],
    "services": [
        {
            "name": "api",
            "namespace": "a",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"port": 80, "name": "http"},
                {"port": 8080, "name": "http-alt"},
                {"port": 5432, "name": "tcp"},
                {"port": 8443, "name": "https"},
            ],
        }
    ],
    "workloads": [{"name": n, "namespace": n, "ip_families": ["IPv4", "IPv6"]} for n in ("a", "b", "c", "d")]
    + [{"name": "api", "namespace": "a", "labels": {"app": "api"}}],
    "virtual_services": [
        _vs("port-80", http=[{"match": [{"port": 80}], "route": _to(80)}]),  # only port 80
        _vs("rest", http=[{"route": _to(8080)}]),  # 8080 falls through to it
        _vs("tcp", tcp=[{"route": _to(5432)}]),  # only TCP routes: 5432's chain
        # b's own: first in b's walk, for every HTTP port, and its TLS route on 8443.
        _vs(
            "b-own",
            ["b"],
            http=[{"route": _to(80)}],
            tls=[{"match": [{"sniHosts": [API]}], "route": _to(8443)}],
        ),
        # c and d share the first VirtualService of their walk and differ after it.
        _vs("c-and-d", ["c", "d"], http=[{"match": [{"port": 80}], "route": _to(80)}]),
        _vs("c-only", ["c"], http=[{"match": [{"port": 8080}], "route": _to(80)}]),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _built_by(cluster: Cluster, proxy: str) -> dict[str, str]:
    """Which VirtualService built each of api's virtual hosts and listener chains (``istio.config``)."""
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design("single-stack"))
    out: dict[str, str] = {}
    for route in config.routes:
        for vhost in route.virtual_hosts:
            if vhost.name.startswith(API) and vhost.routes and vhost.routes[0].metadata.filter_metadata:
                out[vhost.name] = vhost.routes[0].metadata.filter_metadata["istio"]["config"].rsplit("/", 1)[1]
    for listener in config.listeners:
        for chain in listener.filter_chains:
            if "istio" in chain.metadata.filter_metadata:
                port = listener.name.rsplit("_", 1)[1]
                out[f"chain {port}"] = chain.metadata.filter_metadata["istio"]["config"].rsplit("/", 1)[1]
    return out


def test_each_port_falls_through_to_the_next_virtual_service(mesh: Cluster) -> None:
    assert _built_by(mesh, "a/a") == {f"{API}:80": "port-80", f"{API}:8080": "rest", "chain 5432": "tcp"}


def test_a_namespaces_own_comes_first(mesh: Cluster) -> None:
    assert _built_by(mesh, "b/b") == {
        f"{API}:80": "b-own",
        f"{API}:8080": "b-own",
        "chain 5432": "tcp",
        "chain 8443": "b-own",
    }


def test_namespaces_that_differ_after_the_first_are_apart(mesh: Cluster) -> None:
    assert _built_by(mesh, "c/c") == {f"{API}:80": "c-and-d", f"{API}:8080": "c-only", "chain 5432": "tcp"}
    assert _built_by(mesh, "d/d") == {f"{API}:80": "c-and-d", f"{API}:8080": "rest", "chain 5432": "tcp"}


def test_the_note_says_what_is_built(mesh: Cluster) -> None:
    notes = " ".join(istio_record(mesh)["notes"])
    assert "walked across them" in notes
    assert "dsim does not" not in notes


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
