"""Headless Kubernetes Services (``clusterIP: None``) as istiod builds them for sidecars (issue 16,
``docs/istio-objects.md`` 3.11, Istio 1.30): a passthrough host at ``0.0.0.0`` whose TCP, TLS and
sniffed ports get a listener per endpoint of its slices, ready or not, one per family (a headless
Service never has the two cluster IPs that merge a pod's addresses); an ``ORIGINAL_DST`` cluster
without port override, endpoint set or TLS matches, Istio mTLS only where every endpoint has a
sidecar; virtual hosts with the Service's short names and their ``*.`` forms; the Service's name in
the metadata. The accounting agrees byte for byte and the real Envoy accepts every config."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf.json_format import MessageToDict

from dsim import build_cluster, load_calibration, scenario_from_dict
from dsim.accounting.columns import cluster_columns
from dsim.accounting.proxies import design_accounting
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.errors import ScenarioError
from dsim.pushsim.churn import ChurnStream
from dsim.pushsim.simulate import simulate_design
from dsim.pushsim.visibility import Seers
from dsim.sizing.estimate import estimate_counts
from dsim.xds.generate import ProxyConfig
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "data"}],
    "services": [
        {"name": "web", "namespace": "default", "ports": [{"port": 80, "name": "http"}]},
        {
            "name": "db",
            "namespace": "data",
            "headless": True,
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"port": 5432, "name": "tcp-pg", "target_port": 15432},  # no override: Istio keeps no targetPort
                {"port": 8080, "name": "http"},
                {"port": 9000, "name": "metrics"},  # sniffed
            ],
        },
        {  # single-stack slices over dual pods; a pod without a sidecar: plain, all or nothing
            "name": "legacy",
            "namespace": "data",
            "headless": True,
            "ports": [{"port": 6379, "name": "tcp-redis"}],
        },
        {"name": "parked", "namespace": "data", "headless": True, "ports": [{"port": 6500, "name": "tcp"}]},
    ],
    "workloads": [
        {"name": "web", "namespace": "default", "calls": ["data/db"], "ip_families": ["IPv4", "IPv6"]},
        {
            "name": "db",
            "namespace": "data",
            "replicas": 2,
            "ip_families": ["IPv4", "IPv6"],
            "pod_ips": [["10.244.1.4", "fd00:10:244:1::4"], ["10.244.1.45", "fd00:10:244:1::45"]],
        },
        {  # unready: still an endpoint of the slices, so still a listener
            "name": "db-warming",
            "namespace": "data",
            "labels": {"app": "db"},
            "ready": False,
            "ip_families": ["IPv4", "IPv6"],
            "pod_ips": [["10.244.1.7", "fd00:10:244:1::7"]],
        },
        {
            "name": "legacy",
            "namespace": "data",
            "sidecar": False,
            "ip_families": ["IPv4", "IPv6"],
            "pod_ips": [["10.244.1.9", "fd00:10:244:1::9"]],
        },
        {"name": "parked", "namespace": "data", "replicas": 0},  # selected, no pod: no endpoint
    ],
}
DB = ["10.244.1.4", "10.244.1.45", "10.244.1.7"]
DB6 = ["fd00:10:244:1::4", "fd00:10:244:1::45", "fd00:10:244:1::7"]
HOST = "db.data.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _listeners(config: ProxyConfig) -> dict[str, listener_pb2.Listener]:
    return {listener.name: listener for listener in config.listeners}


def _clusters(config: ProxyConfig) -> dict[str, cluster_pb2.Cluster]:
    return {c.name: c for c in config.clusters}


def _listed(cluster: cluster_pb2.Cluster) -> list[dict[str, str]]:
    """The services a cluster's ``istio`` metadata lists."""
    return list(MessageToDict(cluster.metadata)["filterMetadata"]["istio"]["services"])


@pytest.mark.parametrize("design", ["additional-addresses-1.24", "additional-addresses"])
def test_every_endpoint_ready_or_not_gets_a_listener_per_family(mesh: Cluster, design: str) -> None:
    """1.24 and later too: two listeners per dual pod, none with additional addresses; the unready
    pod's too; a single-stack Service's slices give its dual pod one; HTTP ports stay shared."""
    web = _listeners(config_of(mesh, "default/web", design))
    per_endpoint = {name for name in web if not name.startswith(("0.0.0.0_", "virtual"))}
    expected = {f"{a}_{port}" for a in (*DB, *DB6) for port in (5432, 9000)}
    assert per_endpoint == expected | {"10.244.1.9_6379"}
    assert not any(listener.additional_addresses for listener in web.values() if listener.name in expected)
    assert "0.0.0.0_8080" in web


def test_a_pod_keeps_the_listener_of_its_own_second_address(mesh: Cluster) -> None:
    """Istio skips the endpoint whose first address is the proxy's first: the IPv4 one, not the
    IPv6 one, which is an endpoint of its own."""
    own = set(_listeners(config_of(mesh, "data/db-0", "additional-addresses-1.24")))
    assert not {f"{DB[0]}_5432", f"{DB[0]}_9000"} & own
    assert {f"{DB6[0]}_5432", f"{DB[1]}_5432", f"{DB6[1]}_5432"} <= own


def test_the_cluster_is_original_dst_with_all_or_nothing_mtls(mesh: Cluster) -> None:
    clusters = _clusters(config_of(mesh, "default/web", "additional-addresses-1.24"))
    db = clusters[f"outbound|5432||{HOST}"]
    assert db.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert db.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED
    assert not db.HasField("eds_cluster_config")
    assert not db.HasField("original_dst_lb_config")  # targetPort 15432: no override for a Service
    assert not db.transport_socket_matches
    assert db.transport_socket.name == "envoy.transport_sockets.tls"  # every endpoint runs a sidecar
    assert _listed(db) == [{"host": HOST, "name": "db", "namespace": "data"}]
    legacy = clusters["outbound|6379||legacy.data.svc.cluster.local"]
    assert not legacy.HasField("transport_socket")  # its one endpoint has no sidecar
    assert not legacy.transport_socket_matches
    assert not clusters["outbound|6500||parked.data.svc.cluster.local"].HasField("transport_socket")  # none
    assert f"outbound|5432||{HOST}" not in {
        a.cluster_name for a in config_of(mesh, "default/web", "single-stack").endpoints
    }


def test_a_selecting_entry_without_address_gets_mtls_only_over_sidecars() -> None:
    """The same inference holds for a ``NONE`` ServiceEntry that selects pods (dsim gave it plain
    clusters before): mTLS where every selected pod runs a sidecar, plain where one does not."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["service_entries"] = [
        {
            "name": name,
            "namespace": "data",
            "spec": {
                "hosts": [f"{name}.internal"],
                "ports": [{"number": 7000, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": app}},
            },
        }
        for name, app in (("meshed", "db"), ("mixed", "legacy"))
    ]
    clusters = _clusters(config_of(build_cluster(scenario_from_dict(scenario)), "default/web", "single-stack"))
    assert clusters["outbound|7000||meshed.internal"].transport_socket.name == "envoy.transport_sockets.tls"
    assert not clusters["outbound|7000||mixed.internal"].HasField("transport_socket")


def _domains(cluster: Cluster, proxy: str) -> list[str]:
    routes = {r.name: r for r in config_of(cluster, proxy, "single-stack").routes}
    (vhost,) = [v for v in routes["8080"].virtual_hosts if v.name == f"{HOST}:8080"]
    return list(vhost.domains)


def test_virtual_hosts_hold_the_short_names_and_their_wildcards(mesh: Cluster) -> None:
    names = [HOST, f"{HOST}.", "db.data", "db.data.svc"]
    assert _domains(mesh, "default/web") == [*names, *(f"*.{n}" for n in names)]
    own = [HOST, f"{HOST}.", "db", "db.data.svc", "db.data"]
    assert _domains(mesh, "data/db-0") == [*own, *(f"*.{n}" for n in own)]


def test_its_pods_serve_it_on_the_target_port_unready_ones_too(mesh: Cluster) -> None:
    for proxy in ("data/db-0", "data/db-warming"):
        inbound = _clusters(config_of(mesh, proxy, "single-stack"))["inbound|15432||"]
        assert not inbound.HasField("original_dst_lb_config")
        assert _listed(inbound) == [{"host": HOST, "name": "db", "namespace": "data"}]


def test_a_call_to_it_is_a_dependency() -> None:
    cluster = build_cluster(scenario_from_dict({**SCENARIO, "visibility": "dependencies"}))
    seen = set(_listeners(config_of(cluster, "default/web", "single-stack")))
    assert f"{DB[0]}_5432" in seen
    assert "10.244.1.9_6379" not in seen  # web does not call legacy


WITH_ROUTES = copy.deepcopy(SCENARIO)
WITH_ROUTES["virtual_services"] = [
    {  # its other domains as hosts: left out and counted, never a domain listed twice
        "name": "db",
        "namespace": "data",
        "spec": {
            "hosts": ["db", "db.data", f"*.{HOST}", "*.db"],
            "http": [{"route": [{"destination": {"host": "db", "port": {"number": 8080}}}], "timeout": "3s"}],
        },
    }
]


def test_a_virtual_service_host_that_is_its_other_domain_is_left_out() -> None:
    cluster = build_cluster(scenario_from_dict(WITH_ROUTES))
    for proxy in ("default/web", "data/db-0"):
        routes = {r.name: r for r in config_of(cluster, proxy).routes}
        domains = [d for v in routes["8080"].virtual_hosts for d in v.domains]
        assert len(domains) == len(set(domains))
        (vhost,) = [v for v in routes["8080"].virtual_hosts if v.name == f"{HOST}:8080"]
        assert vhost.routes[0].route.timeout.seconds == 3  # the VirtualService routes the Service itself
    assert any("another domain" in note for note, _ in cluster.istio.notes)
    assert_exact_every_design(cluster)


def test_it_is_a_pods_target_where_the_scenario_lists_it() -> None:
    """A pod's targets come oldest Service first (``SetServiceTargets``), and the scenario's order
    stands for creation: a headless Service listed before a ClusterIP one on the same target port
    builds the inbound chain and is listed first, as an import sorted by name lists them."""
    port = [{"port": 9042, "name": "tcp-cql"}]
    data = {
        "namespaces": [{"name": "db"}],
        "services": [
            {"name": "cassandra", "namespace": "db", "headless": True, "ports": port},
            {"name": "cassandra-client", "namespace": "db", "selector": {"app": "cassandra"}, "ports": port},
        ],
        "workloads": [{"name": "cassandra", "namespace": "db", "replicas": 2}],
    }
    cluster = build_cluster(scenario_from_dict(data))
    inbound = {c.name: c for c in config_of(cluster, "db/cassandra-0").clusters}["inbound|9042||"]
    assert [s["name"] for s in _listed(inbound)] == ["cassandra", "cassandra-client"]
    data["services"].reverse()
    cluster = build_cluster(scenario_from_dict(data))
    inbound = {c.name: c for c in config_of(cluster, "db/cassandra-0").clusters}["inbound|9042||"]
    assert [s["name"] for s in _listed(inbound)] == ["cassandra-client", "cassandra"]
    assert_exact_every_design(cluster)


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    assert_exact_every_design(build_cluster(scenario_from_dict({**SCENARIO, "visibility": visibility})))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "cluster_ips",
            ["10.96.0.20"],
            "services[1].cluster_ips: a headless Service (headless: true) has no cluster IP",
        ),
        ("subsets", [{"name": "v1", "labels": {"v": "1"}}], "services[1].subsets: a headless Service's subsets"),
    ],
)
def test_what_a_headless_service_cannot_have_is_refused_by_field(field: str, value: Any, message: str) -> None:
    scenario = copy.deepcopy(SCENARIO)
    scenario["services"][1][field] = value
    if field == "cluster_ips":
        scenario["services"][1]["ip_families"] = ["IPv4"]
    with pytest.raises(ScenarioError) as caught:
        build_cluster(scenario_from_dict(scenario))
    assert message in str(caught.value)


def test_service_entry_churn_needs_a_service_entry_not_a_headless_service() -> None:
    with pytest.raises(ScenarioError, match="no ServiceEntry host for them to edit"):
        build_cluster(scenario_from_dict({**SCENARIO, "churn": {"service_entry_changes_per_hour": 10}}))


def test_the_size_guard_counts_its_per_endpoint_listeners() -> None:
    counts = estimate_counts(scenario_from_dict(SCENARIO))
    # db: 3 pods x 2 non-HTTP ports x at most 2 addresses; legacy: 1 pod x 1 port x 2
    assert counts.endpoint_listeners.value == 3 * 2 * 2 + 1 * 1 * 2
    assert counts.endpoint_listeners.field == "services[1].selector"


@pytest.mark.parametrize(("workload", "full"), [("db", True), ("web", False)])
def test_an_endpoint_change_of_its_pods_is_a_full_push(mesh: Cluster, workload: str, full: bool) -> None:
    """Istio follows a headless Service's endpoint update with a full push (``HeadlessEndpointUpdate``):
    its listeners are its endpoints. A Service's endpoints stay an incremental (EDS) push."""
    w = int(mesh.workloads.index[mesh.workloads["name"] == workload][0])
    pods = tuple(index_for(mesh).pods_of_workload[w])
    events = pd.DataFrame(
        {
            "time": [1.0],
            "seq": [0],
            "kind": ["endpoints"],
            "cause": ["pod_replacement"],
            "workload": [w],
            "service": [-1],
            "namespace": [0],
            "proxy": [-1],
            "state": [0],
        }
    )
    stream = ChurnStream(
        events=events,
        states=[(w, pods)],
        proxy_workload=mesh.proxies["workload"].to_numpy(),
        initial_proxies=len(mesh.proxies),
        service_source=np.arange(len(mesh.services)),
        service_namespace=mesh.services["namespace"].to_numpy(),
        duration_s=2.0,
    )
    cols = cluster_columns(mesh)
    accounting = design_accounting(mesh, get_design("single-stack"), cols)
    run = simulate_design(mesh, cols, stream, Seers(mesh), accounting, load_calibration())
    assert [p.full for p in run.pushes] == [full]
    assert run.pushes[0].causes == ("endpoints,service_entry" if full else "endpoints")


@pytest.mark.slow
def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
