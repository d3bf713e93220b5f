"""HTTP/2 upgrade and the protocol options of a DestinationRule's connection pool
(``docs/istio-objects.md`` 2.4), as Istio's ``applyH2Upgrade``/``shouldH2Upgrade``,
``applyConnectionPool`` (``cluster_traffic_policy.go``) and ``setKeepAliveSettings``
(``cluster.go``) build them: the mesh's ``h2UpgradePolicy`` upgrades clusters of HTTP ports only; a
rule's ``UPGRADE`` upgrades any port's, its ``DO_NOT_UPGRADE`` and ``useClientProtocol`` none;
``maxConcurrentStreams`` and ``http2KeepAlive`` land on HTTP/2 clusters (an empty common block
elsewhere); ``useClientProtocol`` speaks the client's protocol; an upgraded cluster's mTLS offers
``h2``; TCP keepalive, connection duration and idle timeout as given. Checked on the protobuf path,
byte-exact in the accounting under every design, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.errors import ScenarioError
from dsim.xds.common import HTTP_PROTOCOL_OPTIONS
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.rule_helpers import clusters_of, dr

PORTS = {"web": ("http", 80), "db": ("tcp", 5432), "sniffed": ("", 8080), "rpc": ("grpc-web", 9000)}


def _http(**settings: Any) -> dict[str, Any]:
    return {"trafficPolicy": {"connectionPool": {"http": settings}}}


RULES = [
    dr(
        "web",
        "shop",
        "web",
        subsets=[{"name": "v1", "labels": {"app": "web"}, **_http(h2UpgradePolicy="DO_NOT_UPGRADE")}],
    ),
    dr(
        "db",
        "shop",
        "db",
        **_http(
            h2UpgradePolicy="UPGRADE", maxConcurrentStreams=50, http2KeepAlive={"interval": "10s", "timeout": "3s"}
        ),
    ),
    dr("rpc", "shop", "rpc", **_http(useClientProtocol=True, maxConcurrentStreams=7)),
    dr(
        "sniffed",
        "shop",
        "sniffed",
        trafficPolicy={
            "connectionPool": {
                "tcp": {
                    "idleTimeout": "0s",
                    "maxConnectionDuration": "1h",
                    "tcpKeepalive": {"probes": 3, "time": "7200500ms", "interval": "75s"},
                }
            }
        },
    ),
]


def _spec(mesh_upgrade: bool) -> dict[str, Any]:
    return {
        "mesh": {"h2_upgrade_policy": "UPGRADE" if mesh_upgrade else "DO_NOT_UPGRADE"},
        "namespaces": [{"name": "shop"}],
        "services": [
            {"name": name, "namespace": "shop", "ports": [{"name": port_name, "port": number}]}
            for name, (port_name, number) in PORTS.items()
        ],
        "workloads": [
            {"name": name, "namespace": "shop", "labels": {"app": name}, "calls": ["shop/web"]} for name in PORTS
        ],
        "destination_rules": RULES,
    }


@pytest.fixture(scope="module", params=[False, True], ids=["mesh-default", "mesh-upgrade"])
def mesh(request: pytest.FixtureRequest) -> Cluster:
    return build_cluster(scenario_from_dict(_spec(request.param)))


def _options(found: cluster_pb2.Cluster) -> http_protocol_options_pb2.HttpProtocolOptions | None:
    if HTTP_PROTOCOL_OPTIONS not in found.typed_extension_protocol_options:
        return None
    options = http_protocol_options_pb2.HttpProtocolOptions()
    found.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    return options


def _protocol(found: cluster_pb2.Cluster) -> str:
    """``h2``, ``h1`` (explicit), ``client`` (the downstream's) or ``-`` (Envoy's default)."""
    options = _options(found)
    if options is None:
        return "-"
    if options.HasField("use_downstream_protocol_config"):
        return "client"
    return "h2" if options.explicit_http_config.HasField("http2_protocol_options") else "h1"


def _alpn(found: cluster_pb2.Cluster) -> list[str]:
    context = tls_pb2.UpstreamTlsContext()
    found.transport_socket_matches[0].transport_socket.typed_config.Unpack(context)
    return list(context.common_tls_context.alpn_protocols)


def _host(name: str) -> str:
    return f"{name}.shop.svc.cluster.local"


def test_each_cluster_speaks_what_istio_chooses(mesh: Cluster) -> None:
    upgrade = mesh.scenario.mesh.h2_upgrade_policy == "UPGRADE"
    found = clusters_of(mesh, "shop/web")
    protocols = {name: _protocol(found[f"outbound|{number}||{_host(name)}"]) for name, (_, number) in PORTS.items()}
    assert protocols == {
        "web": "h2" if upgrade else "-",  # an HTTP port: as the mesh says
        "db": "h2",  # the rule's UPGRADE, on a TCP port too
        "sniffed": "client",  # a sniffed port keeps the client's protocol
        "rpc": "client",  # HTTP/2 by its port, the client's by the rule
    }
    assert _protocol(found[f"outbound|80|v1|{_host('web')}"]) == "-"  # the subset's DO_NOT_UPGRADE
    for name, protocol in protocols.items():
        cluster = found[f"outbound|{PORTS[name][1]}||{_host(name)}"]
        assert ("h2" in _alpn(cluster)) == (protocol == "h2"), name


def test_stream_limits_land_on_http2_clusters_only(mesh: Cluster) -> None:
    found = clusters_of(mesh, "shop/web")
    db = _options(found[f"outbound|5432||{_host('db')}"])
    assert db is not None
    assert db.explicit_http_config.http2_protocol_options.max_concurrent_streams.value == 50
    assert db.HasField("common_http_protocol_options")  # entered, though empty
    assert db.common_http_protocol_options.ByteSize() == 0
    keepalive = db.explicit_http_config.http2_protocol_options.connection_keepalive
    assert (keepalive.interval.seconds, keepalive.timeout.seconds) == (10, 3)
    rpc = _options(found[f"outbound|9000||{_host('rpc')}"])
    assert rpc is not None  # the client's protocol: no HTTP/2 block to hold the limit
    assert not rpc.use_downstream_protocol_config.http2_protocol_options.HasField("max_concurrent_streams")


def test_tcp_settings_land_on_any_cluster(mesh: Cluster) -> None:
    sniffed = clusters_of(mesh, "shop/web")[f"outbound|8080||{_host('sniffed')}"]
    keepalive = sniffed.upstream_connection_options.tcp_keepalive
    # whole seconds, as Go's Duration.Seconds gives them
    assert (keepalive.keepalive_probes.value, keepalive.keepalive_time.value, keepalive.keepalive_interval.value) == (
        3,
        7200,
        75,
    )
    options = _options(sniffed)
    assert options is not None
    common = options.common_http_protocol_options
    assert common.HasField("idle_timeout")  # 0s: never, written as such
    assert common.idle_timeout.ByteSize() == 0
    assert common.max_connection_duration.seconds == 3600
    assert options.HasField("use_downstream_protocol_config")  # the sniffed port's own protocol kept


def test_bad_pool_settings_are_refused() -> None:
    spec = _spec(False)
    spec["destination_rules"] = [dr("db", "shop", "db", **_http(h2UpgradePolicy="UPGRADE", useClientProtocol=True))]
    with pytest.raises(ScenarioError, match=r"destination_rules\[0\].*connectionPool.*useClientProtocol"):
        scenario_from_dict(spec)
    spec["destination_rules"] = [dr("db", "shop", "db", **_http(http2KeepAlive={"interval": "10s"}))]
    with pytest.raises(ScenarioError, match=r"destination_rules\[0\].*connectionPool.*http2KeepAlive"):
        scenario_from_dict(spec)


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
