"""A Sidecar's inbound connection pool (issue 16; ``docs/istio-objects.md`` 4.7, "Inbound connection
pools"): ``inboundConnectionPool``, or an ingress listener's ``connectionPool`` for its port, replaces
the pool a DestinationRule gives the proxies' inbound clusters, whose ``istio.config`` path stays
the rule's (Istio 1.21 and later: ``InboundConnectionPoolForPort`` in ``buildInboundCluster``). A pod whose
Sidecar scope leaves its own service out takes no rule inbound at all.
Byte-exact between the protobuf path and the accounting under every design; the real Envoy accepts
every config."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.xds.common import HTTP_PROTOCOL_OPTIONS
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.rule_helpers import clusters_of, dr, pool, pool_of, rule_of


def _sidecar(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "shop", "spec": {"workloadSelector": {"labels": {"app": app}}, **spec}}


MESH: dict[str, Any] = {
    "name": "sidecar-inbound-pool",
    "namespaces": [{"name": "shop"}],
    "services": [
        {"name": "reviews", "namespace": "shop", "ports": [{"port": 9080, "name": "http"}]},
        {"name": "ratings", "namespace": "shop", "ports": [{"port": 8080, "name": "http", "target_port": 9090}]},
        {"name": "cart", "namespace": "shop", "ports": [{"port": 7070, "name": "tcp"}]},
        {"name": "orders", "namespace": "shop", "ports": [{"port": 6060, "name": "http"}]},
    ],
    "workloads": [
        {"name": "reviews", "namespace": "shop", "labels": {"app": "reviews"}, "replicas": 2},
        {"name": "ratings", "namespace": "shop", "labels": {"app": "ratings"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "cart", "namespace": "shop", "labels": {"app": "cart"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "orders", "namespace": "shop", "labels": {"app": "orders"}},
    ],
    "destination_rules": [
        dr("reviews", "shop", "reviews", trafficPolicy=pool(5)),
        dr("cart", "shop", "cart", trafficPolicy=pool(6)),
        dr("orders", "shop", "orders", trafficPolicy=pool(7)),
    ],
    "sidecars": [
        # only a pool: every inbound cluster of reviews' pods takes it, over the rule's
        _sidecar("reviews-pool", "reviews", inboundConnectionPool={"tcp": {"maxConnections": 21}}),
        # ratings has no rule: the Sidecar's pool still applies; an ingress port's own pool wins there
        _sidecar(
            "ratings-pool",
            "ratings",
            inboundConnectionPool={
                "http": {"http1MaxPendingRequests": 41, "useClientProtocol": True, "idleTimeout": "30s"},
                "tcp": {"tcpKeepalive": {"probes": 2}},
            },
            ingress=[
                {"port": {"number": 9090, "protocol": "HTTP", "name": "web"}, **pool(31)},
                {"port": {"number": 9091, "protocol": "TCP", "name": "admin"}},
            ],
        ),
        # orders' proxies see reviews only: Istio looks rules up for the scope's services alone
        _sidecar("orders-narrow", "orders", egress=[{"hosts": ["./reviews.shop.svc.cluster.local"]}]),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _inbound(cluster: Cluster, proxy: str, port: int) -> Any:
    (found,) = [c for name, c in clusters_of(cluster, proxy).items() if name.startswith(f"inbound|{port}|")]
    return found


def _pending(found: Any) -> int | None:
    thresholds = found.circuit_breakers.thresholds
    return thresholds[0].max_pending_requests.value if thresholds else None


def test_the_sidecar_pool_replaces_the_rule_pool_and_keeps_its_path(mesh: Cluster) -> None:
    reviews = _inbound(mesh, "shop/reviews", 9080)
    assert (rule_of(reviews), pool_of(reviews)) == ("reviews", 21)
    # without a Sidecar pool, the rule's
    cart = _inbound(mesh, "shop/cart", 7070)
    assert (rule_of(cart), pool_of(cart)) == ("cart", 6)
    # outbound clusters keep the rule's pool
    outbound = clusters_of(mesh, "shop/cart")["outbound|9080||reviews.shop.svc.cluster.local"]
    assert pool_of(outbound) == 5


def test_an_ingress_port_pool_wins_over_the_sidecar_pool(mesh: Cluster) -> None:
    web, admin = _inbound(mesh, "shop/ratings", 9090), _inbound(mesh, "shop/ratings", 9091)
    assert (rule_of(web), pool_of(web)) == ("", 31)
    assert _pending(admin) == 41
    assert pool_of(admin) != 31
    # the pool's TCP keepalive and HTTP options reach inbound clusters too (applyConnectionPool)
    assert admin.upstream_connection_options.tcp_keepalive.keepalive_probes.value == 2
    options = http_protocol_options_pb2.HttpProtocolOptions()
    admin.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    assert options.HasField("use_downstream_protocol_config")
    assert options.common_http_protocol_options.idle_timeout.seconds == 30


@pytest.mark.parametrize("design", design_names())
def test_the_accounting_is_byte_exact(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_config(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_a_pod_whose_scope_leaves_its_own_service_out_takes_no_rule_inbound(mesh: Cluster) -> None:
    """``selectDestinationRules`` looks rules up for the Sidecar scope's services only, and
    ``buildInboundCluster`` asks the scope: orders' own rule is not in its scope."""
    inbound = _inbound(mesh, "shop/orders", 6060)
    assert rule_of(inbound) == ""
    assert pool_of(inbound) != 7
    assert pool_of(clusters_of(mesh, "shop/cart")["outbound|6060||orders.shop.svc.cluster.local"]) == 7
