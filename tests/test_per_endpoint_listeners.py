"""A ``NONE`` ServiceEntry that selects workloads and has no address listens per endpoint (issue 16,
``docs/istio-objects.md`` 3.4, "Per-endpoint listeners"): each TCP, TLS or sniffed port gets a
listener on every endpoint's addresses, as Istio 1.30's ``buildSidecarOutboundListeners`` builds
them for a passthrough host at ``0.0.0.0``, but none on the proxy's own pod and none without an
endpoint; HTTP ports keep the shared listener. Each design's endpoints decide the binds. Both paths
agree byte for byte (a VirtualService that only some viewers apply routes the listeners; a Sidecar
with a port listener prices its proxies from messages), and the real Envoy accepts every config."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from dsim import build_cluster, scenario_from_dict
from dsim.accounting.columns import cluster_columns
from dsim.accounting.entries import entry_prices
from dsim.accounting.outbound import ENDPOINT_METRICS
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.designs.base import ProxyFacts
from dsim.pushsim.membership import membership, state_endpoint_prices
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.mesh_objects import mesh_objects
from dsim.xds.service_entries import entry_index
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "ext"}],
    "services": [
        {
            "name": "web",
            "namespace": "default",
            "ip_families": ["IPv4", "IPv6"],
            # an HTTP port on a number the entry sniffs: its virtual host rides in "7000"
            "ports": [{"port": 80, "name": "http"}, {"port": 7000, "name": "http-seven"}],
        },
    ],
    "workloads": [
        {"name": "web", "namespace": "default", "labels": {"app": "web"}, "replicas": 2},
        {
            "name": "db",
            "namespace": "ext",
            "labels": {"app": "db"},
            "replicas": 3,
            "ip_families": ["IPv4", "IPv6"],
            # addresses of different lengths: each pod's own listener differs from the others'
            "pod_ips": [
                ["10.244.1.4", "fd00:10:244:1::4"],
                ["10.244.1.45", "fd00:10:244:1::45"],
                ["10.244.1.123", "fd00:10:244:1::123"],
            ],
        },
        {"name": "solo", "namespace": "ext", "labels": {"app": "solo"}, "ip_families": ["IPv4"]},
        {"name": "v6", "namespace": "ext", "ip_families": ["IPv6"]},
        {"name": "x", "namespace": "ext", "labels": {"app": "x", "tier": "t"}, "ip_families": ["IPv4"]},
        {"name": "y", "namespace": "ext", "labels": {"app": "y", "tier": "t"}, "ip_families": ["IPv4"]},
    ],
    "service_entries": [
        {  # two hosts on the same pods: the first one's listeners stand
            "name": "db",
            "namespace": "ext",
            "spec": {
                "hosts": ["db.internal", "db2.internal"],
                "ports": [
                    {"number": 5000, "name": "tcp", "protocol": "TCP"},
                    {"number": 7000, "name": "sniffed"},
                    {"number": 8443, "name": "tls", "protocol": "TLS"},
                    {"number": 8080, "name": "http", "protocol": "HTTP"},
                ],
                "resolution": "NONE",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "db"}},
            },
        },
        {  # another entry on the same pods and port 5000: db.internal's listener stands there
            "name": "again",
            "namespace": "ext",
            "spec": {
                "hosts": ["again.internal"],
                "ports": [{"number": 5000, "name": "tcp", "protocol": "TCP"}, {"number": 7001, "name": "other"}],
                "resolution": "NONE",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "db"}},
            },
        },
        {  # one pod: its own proxy gets neither its listeners nor "solo.internal:6000"
            "name": "solo",
            "namespace": "ext",
            "spec": {
                "hosts": ["solo.internal"],
                "ports": [{"number": 6000, "name": "sniffed"}, {"number": 6001, "name": "mongo", "protocol": "MONGO"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "solo"}},
            },
        },
        {  # a selector that selects nothing: no listener at all, not the wildcard one
            "name": "nobody",
            "namespace": "ext",
            "spec": {
                "hosts": ["nobody.internal"],
                "ports": [{"number": 6500, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "nothing"}},
            },
        },
        {  # exported to default alone: db's own proxies do not see it, so keep nothing off for it
            "name": "hidden",
            "namespace": "ext",
            "spec": {
                "hosts": ["hidden.internal"],
                "ports": [{"number": 5100, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "db"}},
                "exportTo": ["default"],
            },
        },
        {  # y's pod alone, before the next entry: y's listener on 7500 is this host's
            "name": "just-y",
            "namespace": "ext",
            "spec": {
                "hosts": ["y.internal"],
                "ports": [{"number": 7500, "name": "sniffed"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "y"}},
            },
        },
        {  # x's and y's pods: of its listeners x's proxy keeps only its own, so its route goes too
            "name": "tier",
            "namespace": "ext",
            "spec": {
                "hosts": ["tier.internal"],
                "ports": [{"number": 7500, "name": "sniffed"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"tier": "t"}},
            },
        },
        {  # an address: the entry's own listener, as before
            "name": "addressed",
            "namespace": "ext",
            "spec": {
                "hosts": ["addressed.internal"],
                "addresses": ["198.51.100.7"],
                "ports": [{"number": 6600, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
                "workloadSelector": {"labels": {"app": "db"}},
            },
        },
    ],
}

WITH_OBJECTS = copy.deepcopy(SCENARIO)
WITH_OBJECTS["virtual_services"] = [
    {  # applied in ext alone: its proxies' per-endpoint listeners on 5000 split the traffic
        "name": "db-tcp",
        "namespace": "ext",
        "spec": {
            "hosts": ["db.internal"],
            "exportTo": ["."],
            "tcp": [
                {
                    "match": [{"port": 5000}],
                    "route": [
                        {"destination": {"host": "db.internal", "port": {"number": 5000}}, "weight": 50},
                        {"destination": {"host": "again.internal", "port": {"number": 5000}}, "weight": 50},
                    ],
                }
            ],
        },
    },
]
WITH_SIDECAR = copy.deepcopy(WITH_OBJECTS)
WITH_SIDECAR["sidecars"] = [
    {  # db's Sidecar builds port 5000 by port: its proxies are priced from messages, one config each
        "name": "ext",
        "namespace": "ext",
        "spec": {
            "workloadSelector": {"labels": {"app": "db"}},
            "egress": [
                {"port": {"number": 5000, "protocol": "TCP", "name": "tcp"}, "hosts": ["./*"]},
                {"hosts": ["*/*"]},
            ],
        },
    },
]


WITH_POLICY = copy.deepcopy(WITH_OBJECTS)
WITH_POLICY["virtual_services"].append(
    {  # TLS routes: the per-endpoint listeners on 8443 fall through by the proxy's outbound policy
        "name": "db-tls",
        "namespace": "ext",
        "spec": {
            "hosts": ["db.internal"],
            "tls": [
                {
                    "match": [{"port": 8443, "sniHosts": ["db.internal"]}],
                    "route": [{"destination": {"host": "db.internal", "port": {"number": 8443}}}],
                }
            ],
        },
    }
)
WITH_POLICY["sidecars"] = [
    {  # db's proxies fall through to the black hole; the mesh's to the passthrough cluster
        "name": "closed",
        "namespace": "ext",
        "spec": {
            "workloadSelector": {"labels": {"app": "db"}},
            "egress": [{"hosts": ["*/*"]}],
            "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
        },
    },
]


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _config(cluster: Cluster, proxy: str, design: str) -> ProxyConfig:
    index = index_for(cluster)
    return proxy_config(index, index.find_proxy(proxy), get_design(design))


def _listeners(config: ProxyConfig) -> dict[str, listener_pb2.Listener]:
    return {listener.name: listener for listener in config.listeners}


def _pods(cluster: Cluster, workload: str) -> list[tuple[str, str]]:
    """(IPv4, IPv6) of the workload's pods, in pod order."""
    index = index_for(cluster)
    w = cluster.workloads.index[cluster.workloads["name"] == workload][0]
    return [(str(index.pod_ipv4[p]), str(index.pod_ipv6[p])) for p in index.pods_of_workload[w]]


def test_every_endpoint_of_a_tcp_tls_or_sniffed_port_gets_a_listener_but_the_proxys_own(mesh: Cluster) -> None:
    db = [v4 for v4, _ in _pods(mesh, "db")]
    (solo,) = [v4 for v4, _ in _pods(mesh, "solo")]
    web = _listeners(_config(mesh, "default/web", "single-stack"))
    per_endpoint = {name for name in web if name.split("_")[0] in (*db, solo)}
    expected = {f"{pod}_{port}" for pod in db for port in (5000, 7000, 8443, 7001, 5100)}
    assert per_endpoint == expected | {f"{solo}_6000", f"{solo}_6001"}
    assert "0.0.0.0_8080" in web  # the HTTP port keeps the shared listener
    assert not any(name.endswith("_6500") for name in web)  # no endpoint: nothing, not the wildcard
    assert "198.51.100.7_6600" in web
    assert not any(f"{pod}_6600" in web for pod in db)

    own = _config(mesh, "ext/db-0", "single-stack")
    names = set(_listeners(own))
    assert not any(name.startswith(f"{db[0]}_") for name in names)
    assert {f"{pod}_5000" for pod in db[1:]} <= names
    # db2.internal's listeners share db.internal's names: dropped, and so is the route only they name.
    routes = {r.name for r in own.routes}
    assert "db.internal:7000" in routes
    assert "db2.internal:7000" not in routes

    alone = _config(mesh, "ext/solo", "single-stack")
    assert not any(name.startswith(f"{solo}_") for name in _listeners(alone))
    assert "solo.internal:6000" not in {r.name for r in alone.routes}  # its only listener was the pod's own
    assert "solo.internal:6000" in {r.name for r in _config(mesh, "default/web", "single-stack").routes}

    (y,) = [v4 for v4, _ in _pods(mesh, "y")]
    seen_by_x = _config(mesh, "ext/x", "single-stack")
    assert f"{y}_7500" in _listeners(seen_by_x)  # y.internal's, the first host building that name
    assert "tier.internal:7500" not in {r.name for r in seen_by_x.routes}  # its one kept listener was x's own
    assert {"tier.internal:7500", "y.internal:7500"} <= {
        r.name for r in _config(mesh, "ext/solo", "single-stack").routes
    }
    assert f"{db[0]}_5100" in web
    assert not any(name.endswith("_5100") for name in _listeners(own))  # not exported to ext


def _filters(listener: listener_pb2.Listener) -> list[str]:
    return [f.name for chain in listener.filter_chains for f in chain.filters]


def test_each_listener_is_the_one_an_entry_address_gets(mesh: Cluster) -> None:
    """The TCP chain to the ``ORIGINAL_DST`` cluster, no SNI match or TLS inspector on a TLS port
    (the bind is not the wildcard), a sniffed port's HTTP chain asking for ``"<host>:P"``, a Mongo
    port's ``mongo_proxy``; not bound, outbound."""
    pod = _pods(mesh, "db")[1][0]
    (solo,) = [v4 for v4, _ in _pods(mesh, "solo")]
    listeners = _listeners(_config(mesh, "default/web", "single-stack"))
    tcp = listeners[f"{pod}_5000"]
    assert tcp.address.socket_address.address == pod
    assert tcp.address.socket_address.port_value == 5000
    assert not tcp.bind_to_port.value
    assert tcp.traffic_direction == 2
    proxy = tcp_proxy_pb2.TcpProxy()
    tcp.filter_chains[0].filters[-1].typed_config.Unpack(proxy)
    assert proxy.cluster == "outbound|5000||db.internal"
    tls = listeners[f"{pod}_8443"]
    assert not [c for c in tls.filter_chains if c.filter_chain_match.server_names]
    assert "envoy.filters.listener.tls_inspector" not in [f.name for f in tls.listener_filters]
    sniffed = listeners[f"{pod}_7000"]
    managers = [
        f for chain in sniffed.filter_chains for f in chain.filters if f.name.endswith("http_connection_manager")
    ]
    manager = hcm.HttpConnectionManager()
    managers[0].typed_config.Unpack(manager)
    assert manager.rds.route_config_name == "db.internal:7000"
    assert "envoy.filters.network.mongo_proxy" in _filters(listeners[f"{solo}_6001"])
    # The sniffed port rides in the shared "7000" the Service's HTTP port opens; it opens none itself.
    routes = {r.name: r for r in _config(mesh, "default/web", "single-stack").routes}
    assert "db.internal:7000" in [v.name for v in routes["7000"].virtual_hosts]


def test_each_design_binds_the_endpoints_it_sends(mesh: Cluster) -> None:
    """1.24: a listener per pod, its IPv6 address additional; 1.17 to 1.23: a listener per address,
    the own pod's IPv6 one kept (its first address is the IPv4 one); duplicate: per family copy."""
    (first, first6), (second, second6), _ = _pods(mesh, "db")
    newer = _listeners(_config(mesh, "ext/db-0", "additional-addresses-1.24"))
    held = newer[f"{second}_5000"]
    assert [a.address.socket_address.address for a in held.additional_addresses] == [second6]
    assert f"{second6}_5000" not in newer
    assert f"{first}_5000" not in newer
    assert f"{first6}_5000" not in newer

    older = _listeners(_config(mesh, "ext/db-0", "additional-addresses"))
    assert {f"{second}_5000", f"{second6}_5000", f"{first6}_5000"} <= set(older)
    assert f"{first}_5000" not in older
    assert not older[f"{second}_5000"].additional_addresses

    duplicate = _config(mesh, "ext/db-0", "duplicate")
    names = set(_listeners(duplicate))
    assert {f"{second}_5000", f"{second6}_5000", f"{first6}_5000"} <= names
    assert f"{first}_5000" not in names
    proxy = tcp_proxy_pb2.TcpProxy()
    _listeners(duplicate)[f"{second6}_5000"].filter_chains[0].filters[-1].typed_config.Unpack(proxy)
    assert proxy.cluster == "outbound6|5000||db.internal"
    assert {"db.internal:7000", "db.internal:7000.ipv6"} <= {r.name for r in duplicate.routes}


def test_a_viewers_virtual_service_routes_its_proxies_listeners() -> None:
    """The rows the accounting takes off a proxy are priced in its viewer's view: here the
    VirtualService of ``ext`` alone splits the per-endpoint chain, so the pricing must see it."""
    cluster = build_cluster(scenario_from_dict(WITH_OBJECTS))
    pod = _pods(cluster, "db")[1][0]

    def cluster_of(proxy: str) -> str:
        chosen = tcp_proxy_pb2.TcpProxy()
        _listeners(_config(cluster, proxy, "single-stack"))[f"{pod}_5000"].filter_chains[0].filters[
            -1
        ].typed_config.Unpack(chosen)
        return chosen.cluster or ",".join(c.name for c in chosen.weighted_clusters.clusters)

    assert cluster_of("default/web") == "outbound|5000||db.internal"
    assert cluster_of("ext/solo") == "outbound|5000||db.internal,outbound|5000||again.internal"


def test_only_the_catch_all_expands_endpoints() -> None:
    """Istio expands endpoints in the catch-all egress listener alone: a host only a port listener
    imports gets the ordinary listener of an address-less entry there, the wildcard one; a host the
    catch-all imports too keeps its per-endpoint listeners, which no lock covers."""
    port_only = copy.deepcopy(WITH_SIDECAR)
    port_only["sidecars"][0]["spec"]["egress"][1]["hosts"] = ["default/*"]
    for scenario, expanded in ((port_only, False), (WITH_SIDECAR, True)):
        cluster = build_cluster(scenario_from_dict(scenario))
        pods = [v4 for v4, _ in _pods(cluster, "db")]
        behind = set(_listeners(_config(cluster, "ext/db-0", "single-stack")))
        assert ({f"{pod}_5000" for pod in pods[1:]} <= behind) == expanded
        assert ("0.0.0.0_5000" in behind) != expanded
        assert not {f"{pods[0]}_5000"} & behind
        assert {f"{pod}_5000" for pod in pods} <= set(_listeners(_config(cluster, "ext/solo", "single-stack")))
        assert_exact_every_design(cluster)


def test_a_membership_state_prices_no_endpoint_set_for_a_host_listening_per_endpoint(mesh: Cluster) -> None:
    """The push model reprices endpoint sets when a workload's pods change: a host listening per
    endpoint has none (its clusters are ORIGINAL_DST), so it adds nothing whatever the pods, as
    the generator's own messages say; its listeners wait for a full push, as in Istio."""
    cols = cluster_columns(mesh)
    index = index_for(mesh)
    hosts = entry_index(index).per_endpoint
    db = int(mesh.workloads.index[mesh.workloads["name"] == "db"][0])
    pods = index.pods_of_workload[db]
    state = membership(mesh, cols, [(db, (pods[0], pods[0], pods[1]))])
    services = np.arange(len(mesh.services))
    for design in ("additional-addresses", "duplicate"):
        facts = ProxyFacts(families=("IPv4", "IPv6"))
        priced = state_endpoint_prices(state, state.cols, get_design(design), facts, services)
        assert len(hosts) == 8
        for metric in ENDPOINT_METRICS:
            assert not priced[metric].to_numpy()[hosts].any()
        built = entry_prices(
            index.with_pods(state.pods_of_workload),
            get_design(design),
            facts,
            [],
            mesh_objects(mesh).base,
            np.asarray(hosts),
            listener_policy=True,
        )
        for metric in ENDPOINT_METRICS:
            assert not built.per_service[metric][hosts].any()


@pytest.mark.parametrize("scope", ["all", "namespace", "sidecar", "policy", "logged"])
def test_accounting_is_byte_exact_every_design(scope: str) -> None:
    # "logged": every chain carries the mesh's access log, the own pod's chains' too
    logged = {**WITH_POLICY, "mesh": {"access_log_file": "/dev/stdout"}}
    variants = {"sidecar": WITH_SIDECAR, "policy": WITH_POLICY, "logged": logged}
    scenario = variants.get(scope) or {**WITH_OBJECTS, "visibility": scope}
    assert_exact_every_design(build_cluster(scenario_from_dict(scenario)))


@pytest.mark.slow
def test_real_envoy_accepts_every_design() -> None:
    assert_envoy_accepts_every_proxy(build_cluster(scenario_from_dict(WITH_SIDECAR)))
