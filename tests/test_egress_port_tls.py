"""A Sidecar egress listener's own protocol decides between a VirtualService's ``tcp[]`` and ``tls[]``
routes on the listeners it builds (issue 16, ``docs/istio-objects.md`` 1.10 and 4.2): Istio builds
them with the egress port (``listenPort`` in ``buildSidecarOutboundListeners``), and
``buildSidecarOutboundTCPFilterChainOpts`` and ``buildSidecarOutboundTLSFilterChainOpts`` ask that
port's ``IsTLS``, not the service port's. The catch-all keeps the service port's protocol."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import app_sidecar, config_of, tcp_proxy_of

VAULT = "vault.b.svc.cluster.local"


def _to(port: int) -> list[dict[str, Any]]:
    return [{"destination": {"host": VAULT, "port": {"number": port}}}]


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {
            "name": "vault",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 8200, "name": "https"}, {"port": 8201, "name": "tcp"}],
        },
    ],
    "workloads": [
        {"name": "vault", "namespace": "b", "labels": {"app": "vault"}},
        {"name": "client", "namespace": "a", "labels": {"app": "client"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "other", "namespace": "a", "labels": {"app": "other"}},
    ],
    "virtual_services": [
        {
            "name": "vault",
            "namespace": "b",
            "spec": {
                "hosts": [VAULT],
                # Every port: a TCP listener takes the tcp[] route, a TLS one the tls[] route.
                "tcp": [{"route": _to(8201)}],
                "tls": [{"match": [{"sniHosts": [VAULT]}], "route": _to(8200)}],
            },
        }
    ],
    "sidecars": [
        app_sidecar(
            "client",
            "a",
            "client",
            egress=[
                # The service's HTTPS port under a TCP egress port, its TCP port under an HTTPS one.
                {"port": {"number": 8200, "protocol": "TCP", "name": "tcp"}, "hosts": ["b/*"]},
                {"port": {"number": 8201, "protocol": "HTTPS", "name": "https"}, "hosts": ["b/*"]},
            ],
        )
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _vault_listeners(cluster: Cluster, workload: str, design: str) -> dict[int, list[Any]]:
    """Per vault port: its listeners (one per family copy) in ``workload``'s config."""
    index = index_for(cluster)
    config = config_of(cluster, f"a/{workload}", design)
    vips = {str(index.vip4[index.hosts.index(VAULT)]), str(index.vip6[index.hosts.index(VAULT)]).strip("[]")}
    found: dict[int, list[Any]] = {8200: [], 8201: []}
    for listener in config.listeners:
        address, _, port = listener.name.rpartition("_")
        if address.strip("[]") in vips and int(port) in found:
            found[int(port)].append(listener)
    return found


def _routing(listener: Any) -> str:
    """Which of the VirtualService's routes the listener holds: ``tcp[]`` (its one chain to vault's
    8201), ``tls[]`` (the SNI chain to vault's 8200 and the fall-through), or ``neither``."""
    (chain,) = listener.filter_chains
    config = chain.metadata.filter_metadata["istio"]["config"]
    if not config.endswith("/virtual-service/vault"):
        return "neither"
    if not listener.listener_filters and tcp_proxy_of(chain).cluster.endswith(f"|8201||{VAULT}"):
        return "tcp[]"
    tls = (
        [f.name for f in listener.listener_filters] == ["envoy.filters.listener.tls_inspector"]
        and list(chain.filter_chain_match.server_names) == [VAULT]
        and tcp_proxy_of(chain).cluster.endswith(f"|8200||{VAULT}")
        and listener.default_filter_chain.name == "PassthroughFilterChain"
    )
    return "tls[]" if tls else "neither"


def _routings(cluster: Cluster, workload: str, design: str) -> dict[int, set[str]]:
    """Per vault port: what its listeners (one per family copy) hold (an empty set: no listener)."""
    return {port: {_routing(x) for x in found} for port, found in _vault_listeners(cluster, workload, design).items()}


@pytest.mark.parametrize("design", design_names())
def test_the_catch_all_reads_the_service_ports(mesh: Cluster, design: str) -> None:
    assert _routings(mesh, "other", design) == {8200: {"tls[]"}, 8201: {"tcp[]"}}


@pytest.mark.parametrize("design", design_names())
def test_an_egress_port_reads_its_own_protocol(mesh: Cluster, design: str) -> None:
    assert _routings(mesh, "client", design) == {8200: {"tcp[]"}, 8201: {"tls[]"}}


def test_accounting_is_exact_and_envoy_accepts(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    assert_envoy_accepts_every_proxy(mesh)
