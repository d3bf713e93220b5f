"""The seed's example, reproduced: the blog's listener, virtualInbound and endpoint table, and
what the other designs make of the same cluster."""

from __future__ import annotations

import json

import pytest
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import json_format

from dsim import build_cluster, generate
from dsim.cli import main
from dsim.xds.generate import ProxyConfig
from tests.conftest import DATA, SCENARIOS

BLOG = SCENARIOS / "istio-blog-dual-stack.yaml"
EXPECTED = DATA / "seed-expected"
ADDRESS_FIELDS = ("name", "address", "additionalAddresses")


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    return build_cluster(BLOG)


def listener_json(config: ProxyConfig, name: str) -> dict:  # type: ignore[type-arg]
    (listener,) = [x for x in config.listeners if x.name == name]
    return json_format.MessageToDict(listener)


def address_fields(listener: dict) -> dict:  # type: ignore[type-arg]
    return {k: listener[k] for k in ADDRESS_FIELDS if k in listener}


def endpoints_by_cluster(config: ProxyConfig) -> dict[str, list[str]]:
    return {
        cla.cluster_name: [lb.endpoint.address.socket_address.address for g in cla.endpoints for lb in g.lb_endpoints]
        for cla in config.endpoints
    }


def test_dual_stack_listener_is_the_seeds(cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(
            [
                "dump",
                str(BLOG),
                "--proxy",
                "dual-stack/tcp-echo",
                "--design",
                "additional-addresses",
                "--type",
                "listeners",
                "--port",
                "9000",
            ]
        )
        == 0
    )
    dump = json.loads(capsys.readouterr().out)
    listeners = [d["activeState"]["listener"] for d in dump["configs"][0]["dynamicListeners"]]
    (dual,) = [x for x in listeners if x["name"] == "fd00:10:96::f9fc_9000"]
    assert address_fields(dual) == json.loads((EXPECTED / "tcp-echo-dual-stack-listener-9000.json").read_text())
    # "Other services only listen on a single address."
    assert all("additionalAddresses" not in x for x in listeners if x is not dual)


def test_virtual_inbound_listens_on_both_families(cluster) -> None:  # type: ignore[no-untyped-def]
    config = generate(cluster, "dual-stack/tcp-echo", "additional-addresses")
    expected = json.loads((EXPECTED / "virtual-inbound-addresses.json").read_text())
    assert address_fields(listener_json(config, "virtualInbound")) == expected


def test_sleep_endpoint_table_is_the_seeds(cluster, capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        main(
            [
                "dump",
                str(BLOG),
                "--proxy",
                "default/sleep",
                "--design",
                "additional-addresses",
                "--type",
                "endpoints",
                "--port",
                "9000",
                "--format",
                "table",
            ]
        )
        == 0
    )
    shown = capsys.readouterr().out.splitlines()
    expected = (EXPECTED / "sleep-endpoints-9000.txt").read_text().splitlines()
    assert shown[0] == expected[0]
    # Same rows, same columns. The seed lists them in Envoy's order; istioctl (and dsim) sort by
    # address, which puts fd00:10:244::18 before ::1a.
    assert sorted(shown[1:]) == sorted(expected[1:])


def test_duplicate_splits_listeners_clusters_and_endpoints(cluster) -> None:  # type: ignore[no-untyped-def]
    config = generate(cluster, "default/sleep", "duplicate")
    host = "tcp-echo.dual-stack.svc.cluster.local"
    names = {x.name for x in config.listeners}
    assert {"10.96.106.11_9000", "fd00:10:96::f9fc_9000", "virtualOutbound6", "virtualInbound6"} <= names
    assert all(not x.additional_addresses for x in config.listeners)
    proxy = tcp_proxy_pb2.TcpProxy()
    for listener, cluster_name in (
        ("10.96.106.11_9000", f"outbound|9000||{host}"),
        ("fd00:10:96::f9fc_9000", f"outbound6|9000||{host}"),
    ):
        (found,) = [x for x in config.listeners if x.name == listener]
        found.filter_chains[0].filters[-1].typed_config.Unpack(proxy)  # after istio.stats
        assert proxy.cluster == cluster_name
    clusters = {c.name: c for c in config.clusters}
    v4, v6 = clusters[f"outbound|9000||{host}"], clusters[f"outbound6|9000||{host}"]
    assert v4.transport_socket_matches[0] == v6.transport_socket_matches[0]  # same SNI and identities
    assert "outbound6|9000||tcp-echo.ipv6.svc.cluster.local" in clusters
    assert "outbound|9000||tcp-echo.ipv6.svc.cluster.local" not in clusters
    endpoints = endpoints_by_cluster(config)
    assert endpoints[f"outbound|9000||{host}"] == ["10.244.0.26"]
    assert endpoints[f"outbound6|9000||{host}"] == ["fd00:10:244::1a"]
    assert {"inbound|80||", "inbound6|80||"} <= set(clusters)
    assert (
        clusters["inbound6|80||"].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address
        == "::1"
    )


def test_single_stack_has_no_dual_stack_fields(cluster) -> None:  # type: ignore[no-untyped-def]
    for proxy in ("default/sleep", "dual-stack/tcp-echo"):
        config = generate(cluster, proxy, "single-stack")
        assert all(not x.additional_addresses for x in config.listeners)
        assert all(not c.upstream_bind_config.extra_source_addresses for c in config.clusters)
        assert all(
            not lb.endpoint.additional_addresses for a in config.endpoints for g in a.endpoints for lb in g.lb_endpoints
        )
        assert not [c for c in config.clusters if c.name.startswith(("outbound6", "inbound6"))]
        assert {x.name for x in config.listeners} >= {"virtualOutbound", "virtualInbound"}
        assert not {"virtualOutbound6", "virtualInbound6"} & {x.name for x in config.listeners}
    # The dual-stack service is seen through its primary (IPv6) address only.
    endpoints = endpoints_by_cluster(generate(cluster, "default/sleep", "single-stack"))
    assert endpoints["outbound|9000||tcp-echo.dual-stack.svc.cluster.local"] == ["fd00:10:244::1a"]


def test_additional_addresses_1_24_shapes(cluster) -> None:  # type: ignore[no-untyped-def]
    config = generate(cluster, "dual-stack/tcp-echo", "additional-addresses-1.24")
    (cla,) = [a for a in config.endpoints if a.cluster_name == "outbound|9000||tcp-echo.dual-stack.svc.cluster.local"]
    (lb,) = [lb for g in cla.endpoints for lb in g.lb_endpoints]
    assert lb.endpoint.address.socket_address.address == "fd00:10:244::1a"
    assert [a.address.socket_address.address for a in lb.endpoint.additional_addresses] == ["10.244.0.26"]
    clusters = {c.name: c for c in config.clusters}
    assert "InboundPassthroughCluster" in clusters
    assert not {"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"} & set(clusters)
    extra = clusters["InboundPassthroughCluster"].upstream_bind_config.extra_source_addresses
    assert [e.address.address for e in extra] == ["::6"]


def test_additional_addresses_inbound_cluster_has_extra_source(cluster) -> None:  # type: ignore[no-untyped-def]
    config = generate(cluster, "dual-stack/tcp-echo", "additional-addresses")
    (inbound,) = [c for c in config.clusters if c.name == "inbound|9000||"]
    bind = inbound.upstream_bind_config
    assert bind.source_address.address == "127.0.0.6"
    assert [e.address.address for e in bind.extra_source_addresses] == ["::6"]
