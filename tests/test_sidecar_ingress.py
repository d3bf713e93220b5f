"""A Sidecar's ``ingress`` listeners (issue 16, ``docs/istio-objects.md`` section 4.7): the proxies it
selects get their inbound chains and clusters from its listeners alone, named after the pod's address
or the listener's bind, each ``defaultEndpoint`` shaping its cluster; byte-exact between the protobuf
path and the vectorized accounting under every design, and accepted by the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_methods_agree


def _ingress(number: int, protocol: str = "", endpoint: str = "", bind: str = "") -> dict[str, Any]:
    listener: dict[str, Any] = {"port": {"number": number, "name": f"p{number}"}}
    if protocol:
        listener["port"]["protocol"] = protocol
    if endpoint:
        listener["defaultEndpoint"] = endpoint
    if bind:
        listener["bind"] = bind
    return listener


def _sidecar(
    name: str, namespace: str, ingress: list[dict[str, Any]], selector: dict[str, str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"ingress": ingress, "egress": [{"hosts": ["*/*"]}]}
    if selector is not None:
        spec["workloadSelector"] = {"labels": selector}
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": meta, "spec": spec}


MESH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "api", "namespace": "a", "ports": [{"port": 8080, "name": "http"}, {"port": 9090, "name": "tcp"}]},
        {"name": "db", "namespace": "b", "ip_families": ["IPv6"], "ports": [{"port": 5432, "name": "tcp"}]},
        {"name": "cache", "namespace": "b", "ports": [{"port": 6379, "name": "redis"}]},
    ],
    "workloads": [
        {"name": "web", "namespace": "a", "replicas": 3, "ip_families": ["IPv4", "IPv6"], "labels": {"app": "web"}},
        {"name": "api", "namespace": "a", "replicas": 2, "labels": {"app": "api"}},
        {"name": "db", "namespace": "b", "replicas": 2, "ip_families": ["IPv6"]},
        {"name": "cache", "namespace": "b", "ip_families": ["IPv4", "IPv6"]},
        {"name": "idle", "namespace": "a", "replicas": 0, "labels": {"app": "web"}},  # selected, no proxy
        {"name": "status", "namespace": "a", "labels": {"app": "status"}},
    ],
    "sidecars": [
        # Every defaultEndpoint form, a bind, a port a Service also targets, and the status port (skipped).
        _sidecar(
            "web-in",
            "a",
            [
                _ingress(80, "HTTP", "127.0.0.1:8080"),
                _ingress(81, "TCP", "0.0.0.0:81"),
                _ingress(82, "", "[::]:82"),
                _ingress(83, "GRPC", "[::1]:83", bind="10.1.2.3"),
                _ingress(84, "HTTP", "unix:///var/run/app.sock"),
                _ingress(85, "Mongo", ":85"),
                _ingress(15021, "HTTP"),
            ],
            selector={"app": "web"},
        ),
        _sidecar("default", "b", [_ingress(5432, "TCP", "0.0.0.0:5432"), _ingress(9000, "HTTP2")]),
        # Only the Prometheus port: a cluster, no chains, and none of the workload's Service ports.
        _sidecar("status-only", "a", [_ingress(15090, "HTTP")], selector={"app": "status"}),
    ],
    "synthetic": {"services": 4, "namespaces": 2},
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _inbound(cluster: Cluster, proxy: str, design: str) -> tuple[dict[str, Any], list[str]]:
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design(design))
    clusters = {c.name: c for c in config.clusters if c.name.startswith("inbound")}
    chains = [
        chain.name
        for listener in config.listeners
        if listener.name.startswith("virtualInbound")
        for chain in listener.filter_chains
        if chain.filter_chain_match.destination_port.value not in (0, 15006)
    ]
    return clusters, chains


def _endpoint(cluster: Any) -> Any:
    return cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address


def test_ingress_listeners_replace_the_service_ports(mesh: Cluster) -> None:
    clusters, chains = _inbound(mesh, "a/web", "single-stack")
    # 15021, the status port, gets no chains but keeps its cluster (buildInboundClustersFromSidecar).
    assert set(clusters) == {f"inbound|{p}||" for p in (80, 81, 82, 83, 84, 85, 15021)}
    assert not [c for c in chains if c.endswith("_15021")]
    pod = index_for(mesh)
    view = pod.proxy(pod.find_proxy("a/web"))
    ip4 = {p.target_port: p.chain_address for p in view.inbound}[80][0]  # type: ignore[index]
    assert {c.split("_")[0] for c in chains} == {ip4, "10.1.2.3"}
    assert clusters["inbound|85||"].type == clusters["inbound|85||"].ORIGINAL_DST  # ":85" is as good as unset
    loopback = _endpoint(clusters["inbound|80||"]).socket_address
    assert (loopback.address, loopback.port_value) == ("127.0.0.1", 8080)
    assert not clusters["inbound|80||"].HasField("upstream_bind_config")  # a loopback endpoint: no bind
    assert _endpoint(clusters["inbound|81||"]).socket_address.address == ip4  # 0.0.0.0: the pod's address
    assert clusters["inbound|81||"].upstream_bind_config.source_address.address == "127.0.0.6"
    assert _endpoint(clusters["inbound|84||"]).pipe.path == "/var/run/app.sock"
    # A proxy without an ingress Sidecar keeps its Service's target ports.
    assert sorted(_inbound(mesh, "a/api", "single-stack")[0]) == ["inbound|8080||", "inbound|9090||"]


def test_a_sidecar_whose_every_ingress_port_is_skipped_leaves_no_port_chains(mesh: Cluster) -> None:
    clusters, chains = _inbound(mesh, "a/status", "single-stack")
    assert sorted(clusters) == ["inbound|15090||"]
    assert chains == []


def test_ingress_on_an_ipv6_pod_falls_back_to_its_family(mesh: Cluster) -> None:
    clusters, chains = _inbound(mesh, "b/db", "single-stack")
    assert sorted(clusters) == ["inbound|5432||", "inbound|9000||"]
    # 0.0.0.0 on a pod without IPv4: Istio writes 127.0.0.1, unbound.
    assert _endpoint(clusters["inbound|5432||"]).socket_address.address == "127.0.0.1"
    assert not clusters["inbound|5432||"].HasField("upstream_bind_config")
    assert all(":" in c.split("_")[0] for c in chains)  # named after the pod's IPv6 address


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert "Sidecar ingress" not in " ".join(istio_record(mesh)["notes"])
    for design in design_names():
        assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    verdicts = validate_configs(mesh, sample=len(mesh.proxies))
    assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()
    assert set(verdicts["design"]) == set(design_names())
