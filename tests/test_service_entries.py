"""ServiceEntries end to end (issue 16, ``docs/istio-objects.md`` section 3): read into the scenario,
built into the cluster as registry hosts, generated on the protobuf path under every design (clusters
by resolution, endpoints, listeners, both families), priced byte-exactly by the vectorized
accounting, and accepted by the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.scenario import scenario_to_yaml
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_methods_agree

ENTRIES: list[dict[str, Any]] = [
    {  # DNS, two addresses of both families, a TLS port
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "api", "namespace": "ext"},
        "spec": {
            "hosts": ["api.example.com"],
            "addresses": ["198.51.100.1", "2001:db8::1"],
            "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
            "resolution": "DNS",
        },
    },
    {  # DNS, two hosts on an HTTP port, no address: virtual hosts in "80"
        "name": "web",
        "namespace": "ext",
        "spec": {
            "hosts": ["a.example.com", "b.example.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS",
        },
    },
    {  # STATIC, inside the mesh, endpoints of both families with a port override, weights and localities
        "name": "st",
        "namespace": "ext",
        "spec": {
            "hosts": ["st.internal"],
            "addresses": ["198.51.100.2"],
            "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP", "targetPort": 6432}],
            "resolution": "STATIC",
            "location": "MESH_INTERNAL",
            "subjectAltNames": ["zz.example.com"],
            "endpoints": [
                {"address": "10.1.0.1", "locality": "r1/z1", "labels": {"security.istio.io/tlsMode": "istio"}},
                {"address": "2001:db8:1::1", "ports": {"tcp": 7000}, "weight": 3},
                # an identity: tlsMode istio; canonical labels
                {"address": "10.1.0.3", "serviceAccount": "pg", "labels": {"app": "postgres", "version": "v2"}},
                {
                    "address": "10.1.0.4",
                    "serviceAccount": "backup",
                    "labels": {"security.istio.io/tlsMode": "off", "service.istio.io/workload-name": "backup-vm"},
                },
            ],
        },
    },
    {  # STATIC by workloadSelector: the mesh's own pods
        "name": "sel",
        "namespace": "ext",
        "spec": {
            "hosts": ["db.internal"],
            "ports": [{"number": 3306, "name": "mysql", "protocol": "MYSQL"}],
            "resolution": "STATIC",
            "location": "MESH_INTERNAL",
            "workloadSelector": {"labels": {"app": "db"}},
        },
    },
    {  # NONE, no address: wildcard listeners (a TCP chain, an SNI chain)
        "name": "none",
        "namespace": "ext",
        "spec": {
            "hosts": ["*.wild.com"],
            "ports": [
                {"number": 9000, "name": "tcp", "protocol": "TCP", "targetPort": 9001},
                {"number": 443, "name": "https", "protocol": "HTTPS"},
            ],
            "resolution": "NONE",
        },
    },
    {  # a second address-less TCP entry on 9000: the first one's chain wins
        "name": "second",
        "namespace": "ext",
        "spec": {
            "hosts": ["second.example.com"],
            "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
            "resolution": "DNS",
        },
    },
    {  # address-less TCP on an HTTP port of the mesh: its chain joins the HTTP listener
        "name": "clash",
        "namespace": "ext",
        "spec": {
            "hosts": ["clash.example.com"],
            "ports": [{"number": 8080, "name": "tcp", "protocol": "TCP"}],
            "resolution": "DNS",
        },
    },
    {  # DNS_ROUND_ROBIN, IPv6 address, a sniffed port, in a namespace nothing else names
        "name": "rr",
        "namespace": "newns",
        "spec": {
            "hosts": ["rr.example.com"],
            "addresses": ["2001:db8::9"],
            "ports": [{"number": 8081, "name": "p"}],
            "resolution": "DNS_ROUND_ROBIN",
            "endpoints": [{"address": "rr1.example.com"}],
        },
    },
]

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "ext"}],
    "services": [
        {
            "name": "web",
            "namespace": "default",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 80, "name": "http"}, {"port": 8080, "name": "http-alt"}],
        },
        {"name": "db", "namespace": "ext", "ports": [{"port": 3306, "name": "tcp"}]},
    ],
    "workloads": [
        {"name": "web", "namespace": "default", "labels": {"app": "web"}, "replicas": 2},
        {"name": "v4", "namespace": "ext", "ip_families": ["IPv4"]},
        {"name": "v6", "namespace": "ext", "ip_families": ["IPv6"]},
        {"name": "db", "namespace": "ext", "labels": {"app": "db"}, "replicas": 2},
    ],
    "service_entries": ENTRIES,
    "istio_objects": {
        "service_entries": {
            "count": 8,
            "resolution": {"none": 1, "static": 1, "dns": 1, "dns_round_robin": 1},
            "families": {"ipv4": 1, "ipv6": 1, "dual": 1},
            "protocols": {"http": 1, "tls": 1, "tcp": 1},
            "addresses_per_entry": 1,
            "endpoints_per_entry": 2,
        }
    },
    "synthetic": {"services": 12, "namespaces": 2},
}


@pytest.fixture(scope="module")
def mesh():  # type: ignore[no-untyped-def]
    return build_cluster(scenario_from_dict(SCENARIO))


def _config(cluster: Any, proxy: str, design: str) -> ProxyConfig:
    index = index_for(cluster)
    return proxy_config(index, index.find_proxy(proxy), get_design(design))


def test_entries_load_round_trip_and_become_registry_hosts(mesh) -> None:  # type: ignore[no-untyped-def]
    scenario = scenario_from_dict(SCENARIO)
    assert len(scenario.service_entries) == len(ENTRIES)
    assert scenario_from_dict(yaml.safe_load(scenario_to_yaml(scenario))) == scenario
    entries = mesh.services[mesh.services["entry"] >= 0]
    assert entries["name"].tolist()[:3] == ["api.example.com", "a.example.com", "b.example.com"]
    assert len(mesh.service_entries) == len(ENTRIES) + 8
    assert mesh.service_entries["generated"].sum() == 8
    assert "newns" in mesh.namespaces["name"].tolist()
    hosts = mesh.service_hosts()
    assert hosts[entries.index[0]] == "api.example.com"
    assert istio_record(mesh)["service_entries"] == len(ENTRIES) + 8
    # the selector's pods are the entry's endpoints
    db = entries.index[entries["name"] == "db.internal"][0]
    assert len(mesh.service_workloads[mesh.service_workloads["service"] == db]) == 1


def test_clusters_follow_the_resolution(mesh) -> None:  # type: ignore[no-untyped-def]
    config = _config(mesh, "default/web", "single-stack")
    clusters = {c.name: c for c in config.clusters}
    api = clusters["outbound|443||api.example.com"]
    assert api.type == cluster_pb2.Cluster.STRICT_DNS
    assert api.dns_lookup_family == cluster_pb2.Cluster.V4_ONLY
    assert api.respect_dns_ttl
    assert [lb.endpoint.address.socket_address.address for lb in api.load_assignment.endpoints[0].lb_endpoints] == [
        "api.example.com"
    ]
    assert api.metadata.filter_metadata["istio"]["external"]
    assert not api.transport_socket_matches  # MESH_EXTERNAL: no auto mTLS
    st = clusters["outbound|5432||st.internal"]
    assert st.type == cluster_pb2.Cluster.EDS
    assert [m.name for m in st.transport_socket_matches] == ["tlsMode-istio", "tlsMode-disabled"]
    (assignment,) = [e for e in config.endpoints if e.cluster_name == st.name]
    ports = sorted(
        (lb.endpoint.address.socket_address.port_value, lb.load_balancing_weight.value)
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    )
    assert ports == [(6432, 1), (6432, 1), (6432, 1), (7000, 3)]
    # AppendLbEndpointMetadata writes any tlsMode but "disabled"; only "istio" matches tlsMode-istio.
    mtls = {
        lb.endpoint.address.socket_address.address: lb.metadata.filter_metadata["envoy.transport_socket_match"][
            "tlsMode"
        ]
        if "envoy.transport_socket_match" in lb.metadata.filter_metadata
        else None
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    }
    assert mtls == {"10.1.0.1": "istio", "2001:db8:1::1": None, "10.1.0.3": "istio", "10.1.0.4": "off"}
    context = tls_pb2.UpstreamTlsContext()
    st.transport_socket_matches[0].transport_socket.typed_config.Unpack(context)
    validation = context.common_tls_context.combined_validation_context.default_validation_context
    # The sorted union of the entry's names and its endpoints' accounts (addServiceAccounts).
    assert [m.exact for m in validation.match_subject_alt_names] == [
        "spiffe://cluster.local/ns/ext/sa/backup",
        "spiffe://cluster.local/ns/ext/sa/pg",
        "zz.example.com",
    ]
    wild = clusters["outbound|9000||*.wild.com"]
    assert wild.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert wild.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED
    assert wild.original_dst_lb_config.upstream_port_override.value == 9001
    assert clusters["outbound|8081||rr.example.com"].type == cluster_pb2.Cluster.LOGICAL_DNS
    (db,) = [e for e in config.endpoints if e.cluster_name == "outbound|3306||db.internal"]
    assert sum(len(g.lb_endpoints) for g in db.endpoints) == 2  # the selected pods


def _workloads(assignment: Any) -> dict[str, str]:
    return {
        lb.endpoint.address.socket_address.address: lb.metadata.filter_metadata["istio"]["workload"]
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    }


def test_endpoint_workload_metadata_is_what_istio_writes(mesh) -> None:  # type: ignore[no-untyped-def]
    """``istio.workload`` (``AppendLbEndpointMetadata``): workload name, namespace, canonical name and
    revision, cluster. An entry's endpoint is the workload ``<entry>-<index>``, whatever its labels say
    (a ``service.istio.io/workload-name`` label included: ``convertServiceEntryToInstances`` hands
    ``WorkloadNameFromWorkloadEntry`` the name alone), and that name is its canonical name without a
    canonical label; a DNS entry's host is the workload named as the entry; the default revision
    ``latest`` is left out, for the mesh's pods too."""
    config = _config(mesh, "default/web", "single-stack")
    (st,) = [e for e in config.endpoints if e.cluster_name == "outbound|5432||st.internal"]
    assert _workloads(st) == {
        "10.1.0.1": "st-0;ext;st-0;;Kubernetes",
        "2001:db8:1::1": "st-1;ext;st-1;;Kubernetes",
        "10.1.0.3": "st-2;ext;postgres;v2;Kubernetes",
        "10.1.0.4": "st-3;ext;st-3;;Kubernetes",  # its workload-name label renames nothing
    }
    clusters = {c.name: c for c in config.clusters}
    assert _workloads(clusters["outbound|443||api.example.com"].load_assignment) == {
        "api.example.com": "api;ext;api;;Kubernetes"
    }
    assert set(_workloads(clusters["outbound|8081||rr.example.com"].load_assignment).values()) == {
        "rr-0;newns;rr-0;;Kubernetes"
    }
    (db,) = [e for e in config.endpoints if e.cluster_name == "outbound|3306||db.internal"]
    assert set(_workloads(db).values()) == {"db;ext;db;;Kubernetes"}  # the selected pods: no version label


def test_listeners_and_routes(mesh) -> None:  # type: ignore[no-untyped-def]
    config = _config(mesh, "default/web", "single-stack")
    listeners = {x.name: x for x in config.listeners}
    assert "198.51.100.1_443" in listeners
    # A TLS port on an address: no SNI match, no TLS inspector (buildSidecarOutboundTLSFilterChainOpts
    # matches SNI only where no address tells the host apart).
    assert not listeners["198.51.100.1_443"].filter_chains[0].HasField("filter_chain_match")
    assert not listeners["198.51.100.1_443"].listener_filters
    wildcard = listeners["0.0.0.0_9000"]
    assert len(wildcard.filter_chains) == 1  # the first entry's TCP chain wins
    assert "*.wild.com" in wildcard.filter_chains[0].filters[-1].typed_config.value.decode(errors="replace")
    sni = listeners["0.0.0.0_443"]
    assert list(sni.filter_chains[0].filter_chain_match.server_names) == ["*.wild.com"]
    assert sni.default_filter_chain.name == "PassthroughFilterChain"  # SNI chains alone fall through
    # web's HTTP listener takes clash's TCP chain as its default one, in place of the fall-through
    # (TCPOverAuto: mergeTCPFilterChains, then buildListenerFromEntry).
    clash = listeners["0.0.0.0_8080"]
    assert list(clash.filter_chains[0].filter_chain_match.application_protocols)  # the HTTP chain
    assert "outbound|8080||clash.example.com" in clash.default_filter_chain.filters[-1].typed_config.value.decode(
        errors="replace"
    )
    route = next(r for r in config.routes if r.name == "80")
    vhost = next(v for v in route.virtual_hosts if v.name == "a.example.com:80")
    assert list(vhost.domains) == ["a.example.com", "a.example.com."]
    assert any(r.name == "rr.example.com:8081" for r in config.routes)


def test_dual_addresses_per_design(mesh) -> None:  # type: ignore[no-untyped-def]
    """``docs/istio-objects.md`` 3.6 and 3.7 on a dual proxy (``default/web``) and single-family ones."""

    def api(design: str, proxy: str = "default/web") -> tuple[list[tuple[str, list[str]]], list[tuple[str, int]]]:
        config = _config(mesh, proxy, design)
        listeners = [
            (x.name, [a.address.socket_address.address for a in x.additional_addresses])
            for x in config.listeners
            if x.name in ("198.51.100.1_443", "2001:db8::1_443")
        ]
        dns = [(c.name, c.dns_lookup_family) for c in config.clusters if c.name.endswith("|api.example.com")]
        return sorted(listeners), dns

    v4, v6, all_ = cluster_pb2.Cluster.V4_ONLY, cluster_pb2.Cluster.V6_ONLY, cluster_pb2.Cluster.ALL
    assert api("single-stack") == ([("198.51.100.1_443", [])], [("outbound|443||api.example.com", v4)])
    assert api("single-stack", "ext/v6") == ([("2001:db8::1_443", [])], [("outbound|443||api.example.com", v6)])
    assert api("duplicate") == (
        [("198.51.100.1_443", []), ("2001:db8::1_443", [])],
        [("outbound|443||api.example.com", v4), ("outbound6|443||api.example.com", v6)],
    )
    assert api("additional-addresses") == (
        [("198.51.100.1_443", []), ("2001:db8::1_443", [])],
        [("outbound|443||api.example.com", all_)],
    )
    assert api("additional-addresses-1.24") == (
        [("198.51.100.1_443", ["2001:db8::1"])],
        [("outbound|443||api.example.com", all_)],
    )
    # the wildcard listener of an address-less port: [::] added on dual proxies, per family under duplicate
    names = {x.name: x for x in _config(mesh, "default/web", "additional-addresses").listeners}
    assert [a.address.socket_address.address for a in names["0.0.0.0_9000"].additional_addresses] == ["::"]
    duplicate = {x.name for x in _config(mesh, "default/web", "duplicate").listeners}
    assert {"0.0.0.0_9000", "::_9000"} <= duplicate
    assert "::_9000" in {x.name for x in _config(mesh, "ext/v6", "single-stack").listeners}
    # STATIC endpoints split by family under duplicate
    config = _config(mesh, "default/web", "duplicate")
    (st,) = [e for e in config.endpoints if e.cluster_name == "outbound|5432||st.internal"]
    addresses = [lb.endpoint.address.socket_address.address for g in st.endpoints for lb in g.lb_endpoints]
    assert sorted(addresses) == ["10.1.0.1", "10.1.0.3", "10.1.0.4"]


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    cluster = build_cluster(scenario_from_dict({**SCENARIO, "visibility": visibility}))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


@pytest.mark.parametrize(("mtls", "policy"), [("DISABLE", "REGISTRY_ONLY"), ("STRICT", "ALLOW_ANY")])
def test_accounting_is_byte_exact_under_mesh_settings(mtls: str, policy: str) -> None:
    scenario = {**SCENARIO, "mesh": {"mtls": mtls, "outbound_traffic_policy": policy}, "seed": 5}
    cluster = build_cluster(scenario_from_dict(scenario))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_real_envoy_accepts_every_design(mesh) -> None:  # type: ignore[no-untyped-def]
    verdicts = validate_configs(mesh, sample=6)
    rejected = verdicts[~verdicts["accepted"]]
    assert rejected.empty, rejected.to_string()
    assert set(verdicts["design"]) == set(design_names())


def test_minimal_sidecars_follow_the_call_graph() -> None:
    """Each namespace's minimal Sidecar (issue 16 item 6): what its workloads call, plus
    ``istio-system/*`` (applied to a mesh in ``tests/test_sidecars.py``)."""
    from dsim.cluster.scoping import minimal_sidecars
    from dsim.scenario.istio import as_kubernetes_object, parse_sidecar

    scenario = {
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [
            {"name": "x", "namespace": "a", "ports": [{"port": 80, "name": "http"}]},
            {"name": "y", "namespace": "b", "ports": [{"port": 80, "name": "http"}]},
        ],
        "workloads": [
            {"name": "x", "namespace": "a", "calls": ["b/y", "a/x"]},
            {"name": "y", "namespace": "b"},
        ],
    }
    cluster = build_cluster(scenario_from_dict(scenario))
    by_ns = {s.namespace: s for s in minimal_sidecars(cluster)}
    assert by_ns["a"].spec.egress[0].hosts == (
        "a/x.a.svc.cluster.local",
        "b/y.b.svc.cluster.local",
        "istio-system/*",
    )
    assert by_ns["b"].spec.egress[0].hosts == ("istio-system/*",)
    generated = {s.namespace: s for s in minimal_sidecars(cluster, own_namespace=True)}
    assert generated["a"].spec.egress[0].hosts == ("./*", "b/y.b.svc.cluster.local", "istio-system/*")
    for sidecar in by_ns.values():  # what a user would paste: Istio's validation accepts it
        assert parse_sidecar(as_kubernetes_object(sidecar)).value == sidecar


def test_a_workload_selector_takes_ready_pods_only(mesh) -> None:  # type: ignore[no-untyped-def]
    """istiod's Kubernetes controller hands the ServiceEntry controller no unready pod (its pod
    handler checks IsPodReady): an unready workload the selector matches adds no endpoint and no
    account to the entry's SANs, while the Kubernetes Service still selects it (no endpoint, its
    proxy's inbound side)."""
    data = {**SCENARIO, "workloads": [*SCENARIO["workloads"]]}
    data["workloads"].append(
        {"name": "db-late", "namespace": "ext", "labels": {"app": "db"}, "service_account": "late", "ready": False}
    )
    late = build_cluster(scenario_from_dict(data))

    def seen(cluster: Any, design: str) -> list[bytes]:
        """What web's proxy holds of the entry under ``design`` (its families decide the copies)."""
        config = _config(cluster, "default/web", design)
        found = (m.SerializeToString() for m in (*config.listeners, *config.clusters, *config.endpoints))
        return [m for m in found if b"db.internal" in m]

    for design in design_names():
        assert seen(late, design) == seen(mesh, design)
    own = _config(late, "ext/db-late", "single-stack")
    assert any(c.name.startswith("inbound|3306") for c in own.clusters)
    for design in design_names():
        assert assert_methods_agree(late, design) == len(late.proxies)
