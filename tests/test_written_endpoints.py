"""Services without a selector, their endpoints written by hand (``docs/istio-objects.md`` 3.12):
Kubernetes' own ``kubernetes`` Service in ``default`` is one. istiod finds no pod behind such an
endpoint (``getPod`` in Istio 1.30's ``endpointslice.go``, no ``targetRef`` and no pod at the
address), so it sends each address as an endpoint of its own, never merged with another family's
(only a pod's addresses are), with no ``tlsMode`` metadata, no locality, and the workload metadata
``;;;;Kubernetes``. An unready one goes only to a Service with a ``trafficDistribution``, as an
unhealthy endpoint. Both paths agree byte for byte under every design, and the real Envoy accepts
the configs."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import health_check_pb2

import dsim
from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.errors import ScenarioError
from dsim.xds.generate import ProxyConfig
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design, assert_live_over_ads
from tests.config_helpers import config_of

API = "kubernetes.default.svc.cluster.local"
DUAL = "external-db.b.svc.cluster.local"

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "b"}],
    "services": [
        {
            "name": "kubernetes",
            "namespace": "default",
            "cluster_ips": ["10.96.0.1"],
            "ports": [{"port": 443, "name": "https", "target_port": 6443}],
            "endpoints": [{"address": "172.18.0.2"}, {"address": "172.18.0.3"}],
            "subsets": [{"name": "all"}],  # no labels: every endpoint, written ones too
        },
        {
            # Dual-stack, one endpoint of each family and an unready one: sent as unhealthy under the
            # distribution.
            "name": "external-db",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 5432, "name": "tcp-postgres"}, {"port": 8080, "name": "http-admin"}],
            "endpoints": [
                {"address": "192.0.2.10"},
                {"address": "2001:db8::10"},
                {"address": "192.0.2.11", "ready": False},
            ],
            "traffic_distribution": "PreferClose",
        },
        # No endpoint at all yet; an unready one it is not sent.
        {"name": "empty", "namespace": "b", "ports": [{"port": 80, "name": "http"}], "endpoints": []},
        {
            "name": "waiting",
            "namespace": "b",
            "ports": [{"port": 81, "name": "http"}],
            "endpoints": [{"address": "192.0.2.20", "ready": False}],
        },
        # A Service with a selector beside them: its pods in their locality.
        {
            "name": "app",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 80, "name": "http"}],
            "subsets": [{"name": "mine", "labels": {"topology.istio.io/cluster": "Kubernetes"}}],
        },
    ],
    "workloads": [
        {
            "name": "app",
            "namespace": "b",
            "replicas": 2,
            "ip_families": ["IPv4", "IPv6"],
            "locality": {"region": "r1", "zone": "z1"},
        },
        {
            "name": "client",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "locality": {"region": "r1", "zone": "z1"},
        },
    ],
    "network": {"pod_ip_families": ["IPv4", "IPv6"]},
    "destination_rules": [
        {
            "name": "external-db",
            "namespace": "b",
            "spec": {
                "host": "external-db",
                "subsets": [
                    # Istio's own labels on a pod-less endpoint: it holds the written ones; a pod label does not.
                    {"name": "istio", "labels": {"topology.istio.io/cluster": "Kubernetes"}},
                    {"name": "v1", "labels": {"version": "v1"}},
                ],
            },
        },
        {  # Istio gives a pod's endpoints its labels too
            "name": "app",
            "namespace": "b",
            "spec": {"host": "app", "subsets": [{"name": "own", "labels": {"topology.istio.io/network": ""}}]},
        },
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _endpoints(config: ProxyConfig, cluster: str) -> list[Any]:
    """The LbEndpoints of ``cluster``'s load assignment, with their locality."""
    for assignment in config.endpoints:
        if assignment.cluster_name == cluster:
            return [(group.locality, lb) for group in assignment.endpoints for lb in group.lb_endpoints]
    raise AssertionError(f"no load assignment {cluster}")


def _address(lb: Any) -> list[str]:
    endpoint = lb.endpoint
    return [endpoint.address.socket_address.address] + [
        a.address.socket_address.address for a in endpoint.additional_addresses
    ]


@pytest.mark.parametrize("design", design_names())
def test_each_written_address_is_an_endpoint_of_its_own(mesh: Cluster, design: str) -> None:
    client = config_of(mesh, "b/client", design)
    names = {a.cluster_name for a in client.endpoints}
    api = next(n for n in names if n.endswith(f"|443||{API}"))
    found = _endpoints(client, api)
    assert sorted(_address(lb)[0] for _, lb in found) == ["172.18.0.2", "172.18.0.3"]
    for locality, lb in found:
        assert (locality.region, locality.zone) == ("", "")
        assert lb.endpoint.address.socket_address.port_value == 6443
        assert "envoy.transport_socket_match" not in lb.metadata.filter_metadata  # no tlsMode
        assert lb.metadata.filter_metadata["istio"].fields["workload"].string_value == ";;;;Kubernetes"
        assert lb.health_status == health_check_pb2.HEALTHY
    # The dual-stack one: never one endpoint with an additional address.
    dual = [n for n in names if n.endswith(f"|5432||{DUAL}")]
    addresses = sorted(a for n in dual for _, lb in _endpoints(client, n) for a in [tuple(_address(lb))])
    assert all(len(a) == 1 for a in addresses)
    expected = {"single-stack": 2, "duplicate": 3, "additional-addresses": 3, "additional-addresses-1.24": 3}
    assert len(addresses) == expected[design]
    unhealthy = [lb for n in dual for _, lb in _endpoints(client, n) if lb.health_status == health_check_pb2.UNHEALTHY]
    assert [_address(lb) for lb in unhealthy] == [["192.0.2.11"]]


@pytest.mark.parametrize("design", design_names())
def test_a_subset_holds_them_where_its_labels_are_istios_own_or_none(mesh: Cluster, design: str) -> None:
    client = config_of(mesh, "b/client", design)

    def held(subset: str, host: str) -> set[str]:
        return {
            _address(lb)[0]
            for a in client.endpoints
            if a.cluster_name.endswith(f"|{subset}|{host}")
            for _, lb in _endpoints(client, a.cluster_name)
        }

    assert held("all", API) == {"172.18.0.2", "172.18.0.3"}
    assert "192.0.2.10" in held("istio", DUAL)
    assert held("v1", DUAL) == set()
    # the two app pods, by Istio's labels on them
    for subset in ("own", "mine"):  # a DestinationRule's, the Service's own
        assert {a for a in held(subset, "app.b.svc.cluster.local") if ":" not in a} == {"10.244.0.2", "10.244.0.3"}


@pytest.mark.parametrize("design", design_names())
def test_no_pod_is_selected_and_unready_ones_are_not_sent(mesh: Cluster, design: str) -> None:
    client = config_of(mesh, "b/client", design)
    for host in ("empty.b.svc.cluster.local", "waiting.b.svc.cluster.local"):
        assigned = [a for a in client.endpoints if a.cluster_name.endswith(f"||{host}")]
        assert assigned
        assert all(not a.endpoints for a in assigned)
    # No proxy serves them: the client's own inbound side holds only its own ports (none).
    assert len(mesh.service_workloads) == 1  # app alone selects pods


def test_accounting_is_exact_and_envoy_accepts(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    assert_envoy_accepts_every_proxy(mesh)


@pytest.mark.slow
def test_envoy_takes_written_endpoints_over_ads(mesh: Cluster) -> None:
    assert_live_over_ads(config_of(mesh, "b/client", "additional-addresses"))


def test_an_endpoint_at_a_pods_address_of_its_namespace_is_refused() -> None:
    """istiod would give it that pod's metadata (``getPod`` by address); another namespace's pod is
    not found so, and no allocated pod lands on a written address."""
    pinned = {"name": "pinned", "namespace": "b", "pod_ips": [["10.244.0.9"]], "ip_families": ["IPv4"]}
    scenario = {**SCENARIO, "workloads": [*SCENARIO["workloads"], pinned]}
    at_pod = {**BASE, "endpoints": [{"address": "10.244.0.9"}]}
    with pytest.raises(ScenarioError) as caught:
        build_cluster(scenario_from_dict({**scenario, "services": [at_pod]}))
    assert "services[0].endpoints[0].address" in str(caught.value)
    assert "workloads[2].pod_ips[0]" in str(caught.value)
    elsewhere = {**at_pod, "namespace": "default"}
    build_cluster(scenario_from_dict({**scenario, "services": [elsewhere]}))
    # One the allocator would never hand out takes no room from it: 5 pods fill a /29 beside it.
    small = {**SCENARIO, "network": {"pod_ip_families": ["IPv4"], "pod_cidrs": {"ipv4": "10.9.0.0/29"}}}
    small["workloads"] = [{"name": "app", "namespace": "b", "replicas": 5, "ip_families": ["IPv4"]}]
    gateway = {**BASE, "endpoints": [{"address": "10.9.0.1"}]}
    assert len(build_cluster(scenario_from_dict({**small, "services": [gateway]})).pods) == 5
    # The first pod IPs the allocator hands out, written by hand: the pods go around them.
    first = {**BASE, "endpoints": [{"address": f"10.244.0.{k}"} for k in range(1, 4)]}
    cluster = build_cluster(scenario_from_dict({**SCENARIO, "services": [first]}))
    pods = set(cluster.pod_ip_text()["ipv4"])
    assert not pods & {"10.244.0.1", "10.244.0.2", "10.244.0.3"}
    assert len(pods) == len(cluster.pods)


def _refused(service: dict[str, Any]) -> str:
    scenario = {**SCENARIO, "services": [service]}
    with pytest.raises(ScenarioError) as caught:
        build_cluster(scenario_from_dict(scenario))
    return str(caught.value)


BASE = {"name": "x", "namespace": "b", "ports": [{"port": 80, "name": "http"}]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"selector": {"app": "x"}, "endpoints": []}, "services[0].selector", "has no selector"),
        ({"headless": True, "endpoints": []}, "services[0].endpoints", "headless"),
        ({"endpoints": [{"address": "2001:db8::1"}]}, "services[0].endpoints[0].address", "is IPv6"),
        ({"endpoints": [{"address": "nope"}]}, "services[0].endpoints[0].address", "not an IP address"),
        ({"endpoints": [{"address": "127.0.0.1"}]}, "services[0].endpoints[0].address", "loopback"),
        ({"endpoints": [{"address": "169.254.1.1"}]}, "services[0].endpoints[0].address", "link-local"),
        ({"endpoints": [{"address": "224.0.0.5"}]}, "services[0].endpoints[0].address", "link-local multicast"),
        ({"endpoints": [{"address": "0.0.0.0"}]}, "services[0].endpoints[0].address", "unspecified"),
        ({"endpoints": [{"address": "::1"}], "ip_families": ["IPv6"]}, "services[0].endpoints[0].address", "loopback"),
        (
            {"endpoints": [{"address": "::"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "unspecified",
        ),
        (
            {"endpoints": [{"address": "fe80::1"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "link-local",
        ),
        (
            {"endpoints": [{"address": "ff02::1"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "link-local multicast",
        ),
        (
            {"endpoints": [{"address": "ff12::1"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "link-local multicast",
        ),
        (
            {"endpoints": [{"address": "::ffff:192.0.2.1"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "IPv4-mapped",
        ),
        (
            {"endpoints": [{"address": "2001:db8::1%eth0"}], "ip_families": ["IPv6"]},
            "services[0].endpoints[0].address",
            "a zone",
        ),
        (  # one family's address is not the other's, though their numbers are equal
            {"endpoints": [{"address": "192.0.2.1"}, {"address": "::c000:201"}], "ip_families": ["IPv4", "IPv6"]},
            "",
            "",
        ),
        (
            {"endpoints": [{"address": "192.0.2.1"}, {"address": "192.0.2.1"}]},
            "services[0].endpoints[1].address",
            "duplicate",
        ),
    ],
)
def test_bad_written_endpoints_are_refused(change: dict[str, Any], field: str, words: str) -> None:
    if not field:
        build_cluster(scenario_from_dict({**SCENARIO, "services": [{**BASE, **change}]}))
        return
    message = _refused({**BASE, **change})
    assert field in message, message
    assert words in message, message


def test_beside_synthetic_services_undiscovered_namespaces_and_sidecars() -> None:
    """Endpoints written by hand keep their Service when the tables around them move: synthetic
    services after them, a Service of an undiscovered namespace dropped before them, a Sidecar's
    scope; both paths still agree, and the push model runs over their endpoint sets."""
    hidden = {"name": "hidden", "labels": {"team": "none"}}
    data = {
        **SCENARIO,
        "namespaces": [hidden, *({**ns, "labels": {"team": "mesh"}} for ns in SCENARIO["namespaces"])],
        "services": [
            {
                "name": "gone",
                "namespace": "hidden",
                "ports": [{"port": 80, "name": "http"}],
                "subsets": [{"name": "x"}],
            },
            *SCENARIO["services"],
        ],
        "mesh": {"discovery_selectors": [{"match_labels": {"team": "mesh"}}]},
        "synthetic": {"namespaces": 2, "services": 6},
        "sidecars": [
            {
                "name": "default",
                "namespace": "b",
                "spec": {"egress": [{"hosts": ["./*", "default/kubernetes.default.svc.cluster.local"]}]},
            }
        ],
        "churn": {"duration_s": 60, "pod_replacements_per_s": 1, "rollouts_per_hour": 600},
    }
    cluster = build_cluster(scenario_from_dict(data))
    hosts = cluster.service_hosts().to_numpy()
    assert sorted(hosts[cluster.written_endpoints["service"].to_numpy()]) == [
        *[DUAL] * 3,
        API,
        API,
        "waiting.b.svc.cluster.local",
    ]
    assert_exact_every_design(cluster)
    tables = dsim.push_simulation(cluster, designs=["additional-addresses"])
    assert "pod_replacement" in set(tables["churn_events"]["cause"])
