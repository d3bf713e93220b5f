"""Pods a ServiceEntry's ``workloadSelector`` selects are its service targets (``docs/istio-objects.md``
3.10; Istio 1.30's ``serviceentry.Controller.GetProxyServiceTargets``): their
proxies get the entry's inbound side beside their Kubernetes Services', ordered oldest service first,
then by hostname (``SetServiceTargets``), with the first of a target port building its chain and
cluster. Generated on the protobuf path, priced byte-exactly by the accounting under every design,
accepted by the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import json_format

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.cluster import Cluster
from tests.accounting_check import assert_methods_agree
from tests.config_helpers import config_of

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "shop"}],
    "services": [
        {
            "name": "cart",
            "namespace": "shop",
            "selector": {"app": "cart"},
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 80, "target_port": 8080, "name": "http"}],
        },
    ],
    "workloads": [
        {"name": "cart", "namespace": "shop", "labels": {"app": "cart"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "pay", "namespace": "shop", "labels": {"app": "pay"}},
        {"name": "gate", "namespace": "shop", "labels": {"app": "gate"}},
        {"name": "vault", "namespace": "shop", "labels": {"app": "vault"}},
        {"name": "late", "namespace": "shop", "labels": {"app": "pay"}, "ready": False},
    ],
    "service_entries": [
        {  # two hosts, written out of hostname order, on cart's target port and one of their own
            "name": "inside",
            "namespace": "shop",
            "spec": {
                "hosts": ["z.shop.internal", "a.shop.internal"],
                "ports": [
                    {"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080},
                    {"number": 9090, "name": "grpc", "protocol": "GRPC"},
                    # an entry's own protocols: TCP chains, and HTTP ones speaking HTTP/2
                    {"number": 9443, "name": "tls", "protocol": "TLS"},
                    {"number": 9091, "name": "web", "protocol": "GRPC-Web"},
                ],
                "resolution": "STATIC",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "cart"}},
            },
        },
        {  # cart's own host again: listed once (addTelemetryMetadata skips a host it has)
            "name": "alias",
            "namespace": "shop",
            "spec": {
                "hosts": ["cart.shop.svc.cluster.local"],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8080}],
                "resolution": "STATIC",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "cart"}},
            },
        },
        {  # outside the mesh, original destination to another port
            "name": "outside",
            "namespace": "shop",
            "spec": {
                "hosts": ["pay.example.com"],
                "ports": [{"number": 7000, "name": "tcp", "protocol": "TCP", "targetPort": 7001}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "pay"}},
            },
        },
        {  # a Sidecar ingress port's first target
            "name": "gate",
            "namespace": "shop",
            "spec": {
                "hosts": ["gate.internal"],
                "ports": [{"number": 7500, "name": "http", "protocol": "HTTP"}],
                "resolution": "STATIC",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "gate"}},
            },
        },
        {  # NONE behind Sidecar ingress ports: Istio builds their clusters with the listener's port
            "name": "vault",
            "namespace": "shop",
            "spec": {
                "hosts": ["vault.example.com"],
                "ports": [
                    {"number": 80, "name": "tcp", "protocol": "TCP", "targetPort": 8200},
                    {"number": 8300, "name": "tcp-2", "protocol": "TCP", "targetPort": 8300},
                ],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "vault"}},
            },
        },
        {  # a targetPort equal to the number is still an override (PassthroughTargetPorts)
            "name": "same",
            "namespace": "shop",
            "spec": {
                "hosts": ["same.example.com"],
                "addresses": ["192.0.2.10"],
                "ports": [{"number": 6000, "name": "tcp", "protocol": "TCP", "targetPort": 6000}],
                "resolution": "NONE",
            },
        },
    ],
    "destination_rules": [
        {
            "name": "pay",
            "namespace": "shop",
            "spec": {
                "host": "pay.example.com",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 7}}},
            },
        }
    ],
    "sidecars": [
        {
            "name": "gate",
            "namespace": "shop",
            "spec": {
                "workloadSelector": {"labels": {"app": "gate"}},
                "ingress": [{"port": {"number": 7500, "protocol": "HTTP", "name": "http"}}],
            },
        },
        {
            "name": "vault",
            "namespace": "shop",
            "spec": {
                "workloadSelector": {"labels": {"app": "vault"}},
                "ingress": [
                    {"port": {"number": 8200, "protocol": "TCP", "name": "tcp"}},
                    {"port": {"number": 8300, "protocol": "TCP", "name": "tcp-2"}},
                ],
            },
        },
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _clusters(cluster: Cluster, workload: str) -> dict[str, cluster_pb2.Cluster]:
    """The clusters of ``workload``'s (only) pod, by name."""
    return {c.name: c for c in config_of(cluster, f"shop/{workload}-0").clusters}


def _listed(cluster: cluster_pb2.Cluster) -> list[str] | None:
    """The hosts its ``istio.services`` metadata lists (None: no metadata)."""
    if "istio" not in cluster.metadata.filter_metadata:
        return None
    istio = json_format.MessageToDict(cluster.metadata.filter_metadata["istio"])
    return [s["host"] for s in istio["services"]]


def test_a_pods_entries_join_its_inbound_side_after_its_services_and_by_hostname(mesh: Cluster) -> None:
    """cart's Service is older than the entry: it is first on 8080 (its chain, its port), and the
    entry's hosts follow by name, not as written, and a later entry of cart's own host is not listed
    again; the entry's own port gets a cluster of its own."""
    found = _clusters(mesh, "cart")
    assert _listed(found["inbound|8080||"]) == ["cart.shop.svc.cluster.local", "a.shop.internal", "z.shop.internal"]
    assert _listed(found["inbound|9090||"]) == ["a.shop.internal", "z.shop.internal"]
    # a GRPC port speaks HTTP/2 upstream, as a Service's does
    assert found["inbound|9090||"].typed_extension_protocol_options


def test_a_mesh_external_first_target_lists_nothing_but_its_rule_still_shapes_the_cluster(mesh: Cluster) -> None:
    """addTelemetryMetadata returns early for a MESH_EXTERNAL first target; the rule on its host
    still gives the connection pool, and the NONE entry's targetPort is the original destination's port."""
    pay = _clusters(mesh, "pay")["inbound|7001||"]
    assert _listed(pay) is None
    assert pay.circuit_breakers.thresholds[0].max_connections.value == 7
    assert pay.original_dst_lb_config.upstream_port_override.value == 7001


def test_an_unready_pod_is_no_target_of_an_entry(mesh: Cluster) -> None:
    """The Kubernetes controller hands the entry's registry no unready pod."""
    assert not [name for name in _clusters(mesh, "late") if name.startswith("inbound|")]


def test_a_sidecar_ingress_port_lists_the_entry_it_finds_first(mesh: Cluster) -> None:
    assert _listed(_clusters(mesh, "gate")["inbound|7500||"]) == ["gate.internal"]


def test_a_sidecar_ingress_port_overrides_by_its_own_number(mesh: Cluster) -> None:
    """findOrCreateService finds the entry by target port, and the cluster is built with the
    listener's port as the service port: the entry's port 80 (to 8200) gives 8200 no override, its
    port 8300 gives 8300 one."""
    found = _clusters(mesh, "vault")
    assert not found["inbound|8200||"].HasField("original_dst_lb_config")
    assert found["inbound|8300||"].original_dst_lb_config.upstream_port_override.value == 8300
    assert _listed(found["inbound|8300||"]) is None  # MESH_EXTERNAL


def _filters(cluster: Cluster, workload: str, port: int) -> set[str]:
    """The filters of the virtual inbound listener's chains for ``port``."""
    (inbound,) = [li for li in config_of(cluster, f"shop/{workload}-0").listeners if li.name == "virtualInbound"]
    chains = [c for c in inbound.filter_chains if c.filter_chain_match.destination_port.value == port]
    assert chains
    return {f.name for c in chains for f in c.filters}


def test_an_entry_port_gets_the_chains_its_protocol_gives(mesh: Cluster) -> None:
    """ModelProtocolToListenerProtocol: TLS is TCP, gRPC-Web is HTTP (and HTTP/2 upstream, IsHTTP2)."""
    assert "envoy.filters.network.tcp_proxy" in _filters(mesh, "cart", 9443)
    assert "envoy.filters.network.http_connection_manager" not in _filters(mesh, "cart", 9443)
    assert "envoy.filters.network.tcp_proxy" not in _filters(mesh, "cart", 9091)
    assert _clusters(mesh, "cart")["inbound|9091||"].typed_extension_protocol_options


def test_a_target_port_equal_to_the_number_still_overrides(mesh: Cluster) -> None:
    same = _clusters(mesh, "pay")["outbound|6000||same.example.com"]
    assert same.original_dst_lb_config.upstream_port_override.value == 6000


@pytest.mark.parametrize("design", design_names())
def test_the_accounting_is_byte_exact(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    verdicts = validate_configs(mesh, designs=design_names(), sample=len(mesh.proxies))
    rejected = verdicts[~verdicts["accepted"]]
    assert rejected.empty, rejected.to_string()
    assert set(verdicts["design"]) == set(design_names())
