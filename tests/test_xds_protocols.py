"""Per-protocol details Istio gives outbound clusters and a sidecar's own side, the same in every design."""

from __future__ import annotations

import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dsim import build_cluster, design_names, generate, scenario_from_dict
from dsim.xds.common import HTTP_PROTOCOL_OPTIONS
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SCENARIO = {
    "namespaces": [{"name": "app"}],
    "services": [
        {
            "name": "api",
            "namespace": "app",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"name": "grpc", "port": 9090},
                {"name": "http2-x", "port": 8081},
                {"name": "http", "port": 80},
                {"name": "web", "port": 8443},
                {"name": "tcp", "port": 5432},
            ],
        },
    ],
    "workloads": [{"name": "api", "namespace": "app"}],
}


@pytest.mark.parametrize("design", design_names())
def test_upstream_http_options_follow_the_port_protocol(design: str) -> None:
    config = generate(build_cluster(scenario_from_dict(SCENARIO)), "app/api", design)
    options = {}
    for cluster in config.clusters:
        if cluster.name.startswith("outbound") and HTTP_PROTOCOL_OPTIONS in cluster.typed_extension_protocol_options:
            parsed = http_protocol_options_pb2.HttpProtocolOptions()
            cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(parsed)
            options[int(cluster.name.split("|")[1])] = parsed.WhichOneof("upstream_protocol_options")
    assert options == {
        9090: "explicit_http_config",
        8081: "explicit_http_config",
        8443: "use_downstream_protocol_config",
    }


def _options(cluster: object) -> str | None:
    packed = cluster.typed_extension_protocol_options  # type: ignore[attr-defined]
    if HTTP_PROTOCOL_OPTIONS not in packed:
        return None
    parsed = http_protocol_options_pb2.HttpProtocolOptions()
    packed[HTTP_PROTOCOL_OPTIONS].Unpack(parsed)
    return parsed.WhichOneof("upstream_protocol_options")


@pytest.mark.parametrize("design", design_names())
def test_the_own_side_speaks_each_ports_protocol(design: str) -> None:
    """Inbound clusters as ``setUpstreamProtocol`` shapes them (HTTP/2 ports, sniffed ports), and the
    HTTP/2 ports' inbound connection managers (``buildSidecarInboundHTTPOpts``: ``IsHTTP2``)."""
    config = generate(build_cluster(scenario_from_dict(SCENARIO)), "app/api", design)
    inbound = {int(c.name.split("|")[1]): _options(c) for c in config.clusters if c.name.startswith("inbound")}
    assert inbound == {
        9090: "explicit_http_config",
        8081: "explicit_http_config",
        80: None,
        8443: "use_downstream_protocol_config",
        5432: None,
    }
    h2: dict[int, bool] = {}
    for listener in config.listeners:
        for chain in listener.filter_chains:
            if chain.name.startswith("virtualInbound") or not chain.filter_chain_match.destination_port.value:
                continue
            for f in chain.filters:
                if f.name == "envoy.filters.network.http_connection_manager":
                    manager = hcm_pb2.HttpConnectionManager()
                    f.typed_config.Unpack(manager)
                    h2[chain.filter_chain_match.destination_port.value] = manager.HasField("http2_protocol_options")
    assert h2 == {9090: True, 8081: True, 80: False, 8443: False}


def test_own_side_protocols_are_priced_exactly() -> None:
    """The same scenario, with a Sidecar whose ingress listeners are gRPC, HTTP and sniffed."""
    ingress = [
        {"port": {"number": 9090, "protocol": "GRPC", "name": "g"}},
        {"port": {"number": 80, "protocol": "HTTP", "name": "h"}},
        {"port": {"number": 7070, "name": "s"}},
    ]
    sidecar = {"name": "api", "namespace": "app", "spec": {"ingress": ingress}}
    for scenario in (SCENARIO, {**SCENARIO, "sidecars": [sidecar]}):
        cluster = build_cluster(scenario_from_dict(scenario))
        assert_exact_every_design(cluster)
        assert_envoy_accepts_every_proxy(cluster)


def test_a_service_entrys_grpc_web_port_speaks_http2_upstream() -> None:
    entry = {
        "name": "web",
        "namespace": "app",
        "spec": {
            "hosts": ["grpc.example.com"],
            "ports": [{"number": 8080, "name": "gw", "protocol": "GRPC-Web"}],
            "resolution": "DNS",
        },
    }
    config = generate(
        build_cluster(scenario_from_dict({**SCENARIO, "service_entries": [entry]})), "app/api", "single-stack"
    )
    (found,) = [c for c in config.clusters if c.name == "outbound|8080||grpc.example.com"]
    assert _options(found) == "explicit_http_config"


@pytest.mark.parametrize("design", design_names())
def test_passthrough_black_hole_and_service_clusters_as_istio_builds_them(design: str) -> None:
    """``buildDefaultPassthroughCluster`` (the downstream's protocol upstream, idle timeout 5 min),
    ``buildInboundPassthroughCluster`` (the passthrough cluster renamed: its stats name stays),
    ``buildBlackHoleCluster`` (a stats name) and ``buildCluster`` (an empty ``common_lb_config``)."""
    config = generate(build_cluster(scenario_from_dict(SCENARIO)), "app/api", design)
    by_name = {c.name: c for c in config.clusters}
    assert by_name["BlackHoleCluster"].alt_stat_name == "BlackHoleCluster;"
    passthroughs = [c for name, c in by_name.items() if "PassthroughCluster" in name]
    assert len(passthroughs) >= 2  # the outbound one and at least one inbound one
    for cluster in passthroughs:
        assert cluster.alt_stat_name == "PassthroughCluster;"
        assert _options(cluster) == "use_downstream_protocol_config"
        parsed = http_protocol_options_pb2.HttpProtocolOptions()
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(parsed)
        assert parsed.common_http_protocol_options.idle_timeout.seconds == 300
        assert not cluster.HasField("common_lb_config")
    services = [c for name, c in by_name.items() if name.startswith(("outbound", "inbound"))]
    assert services
    assert all(c.HasField("common_lb_config") and c.alt_stat_name == f"{c.name};" for c in services)
