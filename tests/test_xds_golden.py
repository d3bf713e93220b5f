"""dsim's single-stack shapes against Istio's own sidecar dumps (``tests/data/istio-golden``).

A scenario shaped like the golden's cluster (IPv4 only, PERMISSIVE mTLS, httpbin serving HTTP
on 8000 → 80, productpage with a v1 subset, a TCP service on 443) gives listeners, clusters and
endpoint sets whose structure is compared field by field, Istio's own filters (stats, metadata
exchange, ALPN, authn) included by name and place. What the golden has and dsim does not model:
the RBAC and ext_authz filters of the golden mesh's AuthorizationPolicies (:data:`AUTHZ`).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import json_format
from udpa.type.v1 import typed_struct_pb2

from dsim import build_cluster, generate, scenario_from_dict
from dsim.xds.generate import ProxyConfig
from tests.golden_istio import golden_assignments, golden_clusters, golden_listeners

AUTHZ = {"envoy.filters.network.rbac", "envoy.filters.http.rbac", "envoy.filters.http.ext_authz"}
"""Filters the golden mesh's AuthorizationPolicies add; dsim's scenarios have none."""

GOLDEN_LIKE = {
    "network": {"pod_ip_families": ["IPv4"]},
    "namespaces": [{"name": "default"}],
    "services": [
        {"name": "httpbin", "namespace": "default", "ports": [{"name": "http", "port": 8000, "target_port": 80}]},
        {
            "name": "productpage",
            "namespace": "default",
            "ports": [{"name": "http", "port": 9080}],
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
        },
        {  # no selector: the API server writes its endpoint, at the node's address (docs 3.12)
            "name": "kubernetes",
            "namespace": "default",
            "cluster_ips": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "target_port": 6443}],
            "endpoints": [{"address": "172.18.0.2"}],
        },
    ],
    "workloads": [
        {"name": "httpbin", "namespace": "default", "labels": {"app": "httpbin", "version": "v1"}},
        {
            "name": "productpage-v1",
            "namespace": "default",
            "labels": {"app": "productpage", "version": "v1"},
            "service_account": "bookinfo-productpage",
        },
    ],
}


@pytest.fixture(scope="module")
def ours() -> ProxyConfig:
    return generate(build_cluster(scenario_from_dict(GOLDEN_LIKE)), "default/httpbin", "single-stack")


@pytest.fixture(scope="module")
def golden() -> dict[str, listener_pb2.Listener]:
    return golden_listeners()


def listener(config: ProxyConfig, name: str) -> listener_pb2.Listener:
    (found,) = [x for x in config.listeners if x.name == name]
    return found


def terminal(chain: lc.FilterChain) -> lc.Filter:
    """The chain's last filter (HCM or tcp_proxy)."""
    return chain.filters[-1]


def chain_signature(chain: lc.FilterChain) -> tuple[Any, ...]:
    match = chain.filter_chain_match
    return (
        chain.name,
        match.destination_port.value if match.HasField("destination_port") else None,
        tuple((p.address_prefix, p.prefix_len.value) for p in match.prefix_ranges),
        match.transport_protocol,
        tuple(match.application_protocols),
        chain.HasField("transport_socket"),
        tuple(f.name for f in chain.filters if f.name not in AUTHZ),
    )


def hcm_of(chain: lc.FilterChain) -> hcm_pb2.HttpConnectionManager:
    manager = hcm_pb2.HttpConnectionManager()
    assert terminal(chain).typed_config.Unpack(manager)
    return manager


def test_virtual_inbound_chains_match_istio(ours: ProxyConfig, golden: dict[str, listener_pb2.Listener]) -> None:
    mine, theirs = listener(ours, "virtualInbound"), golden["virtualInbound"]
    assert [chain_signature(c) for c in mine.filter_chains] == [chain_signature(c) for c in theirs.filter_chains]
    assert [f.name for f in mine.listener_filters] == [f.name for f in theirs.listener_filters]
    assert mine.traffic_direction == theirs.traffic_direction
    assert mine.address == theirs.address
    for a, b in zip(mine.filter_chains, theirs.filter_chains, strict=True):
        if terminal(a).name.endswith("http_connection_manager"):
            ma, mb = hcm_of(a), hcm_of(b)
            assert ma.stat_prefix == mb.stat_prefix
            assert [f.name for f in ma.http_filters] == [f.name for f in mb.http_filters if f.name not in AUTHZ]
            assert ma.route_config.name == mb.route_config.name
            assert [v.name for v in ma.route_config.virtual_hosts] == [v.name for v in mb.route_config.virtual_hosts]
            assert ma.route_config.virtual_hosts[0].routes[0] == mb.route_config.virtual_hosts[0].routes[0]
            assert (ma.server_name, ma.forward_client_cert_details) == (mb.server_name, mb.forward_client_cert_details)
            assert ma.set_current_client_cert_details == mb.set_current_client_cert_details


def test_inbound_mtls_contexts_match_istio(ours: ProxyConfig, golden: dict[str, listener_pb2.Listener]) -> None:
    """Every chain that terminates mTLS holds the TLS context Istio's dump holds for it, matchers
    included (untyped, a prefix on the trust domain: ``ApplyToCommonTLSContext``)."""

    def contexts(found: listener_pb2.Listener) -> list[tls_pb2.DownstreamTlsContext]:
        out = []
        for chain in found.filter_chains:
            if chain.HasField("transport_socket"):
                context = tls_pb2.DownstreamTlsContext()
                assert chain.transport_socket.typed_config.Unpack(context)
                out.append(context)
        return out

    mine, theirs = contexts(listener(ours, "virtualInbound")), contexts(golden["virtualInbound"])
    assert mine
    assert mine == theirs


def test_virtual_outbound_matches_istio(ours: ProxyConfig, golden: dict[str, listener_pb2.Listener]) -> None:
    mine, theirs = listener(ours, "virtualOutbound"), golden["virtualOutbound"]
    assert [chain_signature(c) for c in mine.filter_chains] == [chain_signature(c) for c in theirs.filter_chains]
    assert (mine.address, mine.use_original_dst, mine.traffic_direction) == (
        theirs.address,
        theirs.use_original_dst,
        theirs.traffic_direction,
    )


def test_outbound_http_listener_matches_istio(ours: ProxyConfig, golden: dict[str, listener_pb2.Listener]) -> None:
    mine, theirs = listener(ours, "0.0.0.0_9080"), golden["0.0.0.0_9080"]
    assert [chain_signature(c) for c in mine.filter_chains] == [chain_signature(c) for c in theirs.filter_chains]
    assert [f.name for f in mine.listener_filters] == [f.name for f in theirs.listener_filters]
    assert chain_signature(mine.default_filter_chain) == chain_signature(theirs.default_filter_chain)
    for field in (
        "bind_to_port",
        "traffic_direction",
        "listener_filters_timeout",
        "continue_on_listener_filters_timeout",
    ):
        assert getattr(mine, field) == getattr(theirs, field), field
    ma, mb = hcm_of(mine.filter_chains[0]), hcm_of(theirs.filter_chains[0])
    assert ma.rds == mb.rds
    assert ma.stat_prefix == mb.stat_prefix
    assert [f.name for f in ma.http_filters] == [f.name for f in mb.http_filters]
    for field in (
        "use_remote_address",
        "upgrade_configs",
        "stream_idle_timeout",
        "normalize_path",
        "request_id_extension",
        "path_with_escaped_slashes_action",
    ):
        assert getattr(ma, field) == getattr(mb, field), field
    assert (ma.tracing.client_sampling, ma.tracing.random_sampling, ma.tracing.overall_sampling) == (
        mb.tracing.client_sampling,
        mb.tracing.random_sampling,
        mb.tracing.overall_sampling,
    )


def test_outbound_tcp_listener_matches_istio(ours: ProxyConfig, golden: dict[str, listener_pb2.Listener]) -> None:
    mine, theirs = listener(ours, "10.96.0.1_443"), golden["10.96.0.1_443"]
    assert (mine.address, mine.bind_to_port, mine.traffic_direction) == (
        theirs.address,
        theirs.bind_to_port,
        theirs.traffic_direction,
    )
    proxies = []
    for x in (mine, theirs):
        proxy = tcp_proxy_pb2.TcpProxy()
        terminal(x.filter_chains[0]).typed_config.Unpack(proxy)
        proxies.append(proxy)
    assert proxies[0] == proxies[1]


def fields(message: Any) -> set[str]:
    return {f.name for f, _ in message.ListFields()}


def test_outbound_mtls_cluster_matches_istio(ours: ProxyConfig) -> None:
    (theirs,) = golden_clusters()
    (mine,) = [c for c in ours.clusters if c.name == theirs.name]
    # Istio 1.23 (istio/istio#52416) names every service cluster's stats <name>;, and since 1.15
    # (istio/istio#39877, 2022-07) every cluster it builds has an empty common_lb_config: the dump,
    # captured 2022-03 (tests/data/istio-golden/README.md), predates both.
    assert mine.alt_stat_name == f"{theirs.name};"
    assert not theirs.alt_stat_name
    assert mine.HasField("common_lb_config")
    assert mine.common_lb_config.ByteSize() == 0
    assert fields(mine) - {"alt_stat_name", "common_lb_config"} == fields(theirs)
    assert [f.name for f in mine.filters] == [f.name for f in theirs.filters] == ["istio.metadata_exchange"]
    for field in ("type", "eds_cluster_config", "connect_timeout", "lb_policy", "circuit_breakers"):
        assert getattr(mine, field) == getattr(theirs, field), field
    istio_a, istio_b = mine.metadata.filter_metadata["istio"], theirs.metadata.filter_metadata["istio"]
    assert istio_a == istio_b
    assert [(m.name, m.match) for m in mine.transport_socket_matches] == [
        (m.name, m.match) for m in theirs.transport_socket_matches
    ]
    tls_a, tls_b = tls_pb2.UpstreamTlsContext(), tls_pb2.UpstreamTlsContext()
    mine.transport_socket_matches[0].transport_socket.typed_config.Unpack(tls_a)
    theirs.transport_socket_matches[0].transport_socket.typed_config.Unpack(tls_b)
    assert tls_a.sni == tls_b.sni
    ca, cb = tls_a.common_tls_context, tls_b.common_tls_context
    for field in ("tls_params", "alpn_protocols", "tls_certificate_sds_secret_configs"):
        assert getattr(ca, field) == getattr(cb, field), field
    ours_vc, theirs_vc = ca.combined_validation_context, cb.combined_validation_context
    assert ours_vc.validation_context_sds_secret_config == theirs_vc.validation_context_sds_secret_config
    # Both write the untyped matchers (StringToExactMatch, 1.17 to HEAD); the dump's service has more
    # service accounts than this scenario gives it.
    assert fields(ours_vc.default_validation_context) == fields(theirs_vc.default_validation_context)
    ours_sans = [m.exact for m in ours_vc.default_validation_context.match_subject_alt_names]
    theirs_sans = [m.exact for m in theirs_vc.default_validation_context.match_subject_alt_names]
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-productpage" in ours_sans
    assert set(ours_sans) <= set(theirs_sans)


WORKLOAD = re.compile(r"^([a-z0-9-]+;[a-z0-9-]+;[a-z0-9-]+;[a-z0-9.-]+|;;;);Kubernetes$")


def lb_shape(assignment: Any) -> list[tuple[Any, ...]]:
    return [
        (
            fields(lb) - {"metadata"},
            lb.health_status,
            lb.load_balancing_weight.value,
            sorted(lb.metadata.filter_metadata),
            bool(WORKLOAD.match(lb.metadata.filter_metadata["istio"]["workload"])),
        )
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    ]


def test_endpoints_match_istio(ours: ProxyConfig) -> None:
    theirs = [a for a in golden_assignments() if a.cluster_name.startswith("outbound|") and a.endpoints]
    mine = [a for a in ours.endpoints if a.endpoints]
    assert mine
    # Envoy's dump adds an empty health_check_config to every endpoint; istiod does not send it.
    expected = {
        (frozenset(s[0] - {"health_check_config"}), *s[1:3], tuple(s[3]), s[4]) for a in theirs for s in lb_shape(a)
    }
    got = {(frozenset(s[0]), *s[1:3], tuple(s[3]), s[4]) for a in mine for s in lb_shape(a)}
    assert got <= expected
    for assignment in (*mine, *theirs):
        for group in assignment.endpoints:
            assert group.HasField("locality")
            assert group.load_balancing_weight.value == sum(lb.load_balancing_weight.value for lb in group.lb_endpoints)


def test_the_api_servers_endpoint_is_istios_to_the_field(ours: ProxyConfig) -> None:
    """``kubernetes`` in ``default``, a Service without a selector: istiod's endpoint of no pod (no
    tlsMode, ``;;;;Kubernetes``, the empty locality) as the golden dump holds it."""
    name = "outbound|443||kubernetes.default.svc.cluster.local"
    (theirs,) = [a for a in golden_assignments() if a.cluster_name == name]
    (mine,) = [a for a in ours.endpoints if a.cluster_name == name]
    expected = json_format.MessageToDict(theirs, preserving_proto_field_name=True)["endpoints"]
    for group in expected:
        for lb in group["lb_endpoints"]:
            lb["endpoint"].pop("health_check_config")  # Envoy's dump adds it; istiod does not send it
    assert json_format.MessageToDict(mine, preserving_proto_field_name=True)["endpoints"] == expected


def istio_filter_configs(listener: listener_pb2.Listener, name: str) -> list[Any]:
    """The ``typed_config`` of every filter named ``name`` in ``listener`` (network and HTTP)."""
    found = []
    chains = [*listener.filter_chains, *([listener.default_filter_chain] * listener.HasField("default_filter_chain"))]
    for chain in chains:
        for network in chain.filters:
            if network.name == name:
                found.append(network.typed_config)
            manager = hcm_pb2.HttpConnectionManager()
            if network.typed_config.Unpack(manager):
                found.extend(f.typed_config for f in manager.http_filters if f.name == name)
    return found


def exchange_protocols(configs: list[Any]) -> list[str]:
    """The protocol each TCP metadata-exchange config names, however it is encoded."""
    protocols = []
    for config in configs:
        typed = typed_struct_pb2.TypedStruct()
        if config.Unpack(typed):
            if typed.type_url.endswith(".MetadataExchange"):
                protocols.append(typed.value["protocol"])
        elif config.type_url.endswith(".MetadataExchange"):
            protocols.append(json_format.MessageToDict(config)["protocol"])
    return protocols


@pytest.mark.parametrize("name", ["virtualInbound", "virtualOutbound", "0.0.0.0_9080", "10.96.0.1_443"])
def test_istio_filter_configs_match_istio(
    ours: ProxyConfig, golden: dict[str, listener_pb2.Listener], name: str
) -> None:
    """Stats, ALPN and authn configs are Istio's to the byte; TCP metadata exchange names the same
    protocol in the same places (Istio 1.18's dump sends it as a message, istiod 1.2x as a
    TypedStruct; HTTP peer metadata differs in kind between the two and is compared by place only)."""
    mine, theirs = listener(ours, name), golden[name]
    for filter_name in ("istio.stats", "istio.alpn", "istio_authn"):
        assert istio_filter_configs(mine, filter_name) == istio_filter_configs(theirs, filter_name), filter_name
    ours_mx, theirs_mx = (istio_filter_configs(x, "istio.metadata_exchange") for x in (mine, theirs))
    assert len(ours_mx) == len(theirs_mx)
    assert exchange_protocols(ours_mx) == exchange_protocols(theirs_mx)
