"""VirtualServices and DestinationRules end to end (issue 16): read into the scenario, built into the
cluster, generated on the protobuf path under every design, priced byte-exactly by the vectorized
accounting, accepted by the real Envoy, and shaped like Istio's own dumps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster.istio import istio_record
from dsim.cluster.sources import BASE_SOURCE
from dsim.designs import get_design
from dsim.scenario import scenario_to_yaml
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from dsim.xds.vs_routes import Target, http_routes
from tests.accounting_check import assert_methods_agree
from tests.golden_istio import GOLDEN, golden_clusters, load_dump
from tests.test_xds_golden import GOLDEN_LIKE

REVIEWS_VS = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "reviews", "namespace": "default"},
    "spec": {
        "hosts": ["reviews"],
        "http": [
            {
                "name": "a",
                "match": [
                    {
                        "name": "m",
                        "uri": {"prefix": "/a"},
                        "headers": {"x-b": {"exact": "1"}, "x-a": {}},
                        "method": {"exact": "GET"},
                        "queryParams": {"q": {"regex": "a.*"}},
                        "ignoreUriCase": True,
                        "authority": {"exact": "reviews"},
                    },
                    {"uri": {"regex": "/b/[0-9]+"}, "port": 9999},
                ],
                "route": [
                    {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
                    {"destination": {"host": "ratings"}, "weight": 50},
                    {"destination": {"host": "reviews", "subset": "v9"}, "weight": 0},
                ],
                "timeout": "5s",
                "retries": {"attempts": 3, "retryOn": "5xx,503", "perTryTimeout": "1.5s"},
            },
            {"route": [{"destination": {"host": "reviews"}}]},
            {"route": [{"destination": {"host": "never.example.com"}}]},
        ],
    },
}
RATINGS_VS = {
    "name": "ratings",
    "namespace": "default",
    "spec": {
        "hosts": ["ratings.default.svc.cluster.local", "ext.example.com"],
        "http": [
            {
                "match": [{"uri": {"exact": "/x"}}],
                "route": [{"destination": {"host": "ratings", "port": {"number": 5432}}}],
                "retries": {"attempts": 0},
            }
        ],
    },
}
REVIEWS_DR = {
    "name": "reviews",
    "namespace": "default",
    "spec": {
        "host": "reviews",
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}, "trafficPolicy": {"tls": {"mode": "SIMPLE", "sni": "x.com"}}}
        ],
        "trafficPolicy": {
            "connectionPool": {
                "tcp": {"maxConnections": 10, "connectTimeout": "1.5s"},
                "http": {"idleTimeout": "3s", "maxRequestsPerConnection": 5, "http2MaxRequests": 7},
            },
            "outlierDetection": {
                "consecutive5xxErrors": 3,
                "interval": "10s",
                "maxEjectionPercent": 40,
                "splitExternalLocalOriginErrors": True,  # accepted, not modelled
            },
            "tls": {"mode": "ISTIO_MUTUAL"},
            "loadBalancer": {"consistentHash": {"useSourceIp": True}},
            "portLevelSettings": [{"port": {"number": 9080}, "loadBalancer": {"simple": "ROUND_ROBIN"}}],
        },
    },
}
RATINGS_DR = {
    "name": "ratings",
    "namespace": "default",
    "spec": {
        "host": "ratings",
        "trafficPolicy": {"tls": {"mode": "DISABLE"}},
        "subsets": [{"name": "a", "labels": {"app": "ratings"}}],
    },
}
ORPHAN_DR = {"name": "gone", "namespace": "default", "spec": {"host": "gone", "subsets": [{"name": "v1"}]}}

RICH: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "other"}],
    "services": [
        {
            "name": "reviews",
            "namespace": "default",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 9080, "name": "http"}, {"port": 7070}],
        },
        {
            "name": "ratings",
            "namespace": "default",
            "ip_families": ["IPv6"],
            "ports": [{"port": 5432, "name": "http2"}],
        },
    ],
    "workloads": [
        {"name": "reviews", "namespace": "default", "labels": {"app": "reviews", "version": "v1"}, "replicas": 2},
        {"name": "ratings", "namespace": "default", "labels": {"app": "ratings"}},
        {"name": "client", "namespace": "other", "ip_families": ["IPv4"]},
    ],
    "virtual_services": [REVIEWS_VS, RATINGS_VS],
    "destination_rules": [REVIEWS_DR, RATINGS_DR, ORPHAN_DR],
    "synthetic": {"services": 30, "namespaces": 2, "protocols": {"auto": 0.3}},
    "istio_objects": {
        "virtual_services": {
            "share": 0.6,
            "routes": 3,
            "matches_per_route": 2,
            "destinations": 2,
            "match_kinds": {"uri_exact": 1, "header": 1, "uri_regex": 1},
            "timeout_s": 2.5,
            "retry_attempts": 2,
        },
        "destination_rules": {
            "share": 0.5,
            "connection_pool": 0.5,
            "outlier_detection": 0.5,
            "tls_mode": "ISTIO_MUTUAL",
            "load_balancer": "ROUND_ROBIN",
        },
    },
}


@pytest.fixture(scope="module")
def rich():  # type: ignore[no-untyped-def]
    return build_cluster(scenario_from_dict(RICH))


def test_objects_load_count_and_round_trip() -> None:
    scenario = scenario_from_dict(RICH)
    assert len(scenario.virtual_services) == 2
    assert len(scenario.destination_rules) == 3
    assert [i.path for i in scenario.istio_ignored] == [
        "destination_rules[0].spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors"
    ]
    again = scenario_from_dict(yaml.safe_load(scenario_to_yaml(scenario)))
    assert again == scenario


def test_notes_and_ignored_fields_are_counted(rich) -> None:  # type: ignore[no-untyped-def]
    record = istio_record(rich)
    notes = record["notes"]
    assert isinstance(notes, dict)
    assert any("DestinationRule host names no service" in k and v == 1 for k, v in notes.items())
    assert any("subset that no DestinationRule defines" in k and v == 1 for k, v in notes.items())
    assert any("VirtualService host names no service" in k and v == 1 for k, v in notes.items())
    assert record["fields accepted but not modelled"] == {
        "destination_rules[*].spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors": 1
    }
    assert record["virtual_services"] == len(rich.virtual_services) > 2
    # the rules' subsets join the subsets table, selecting the service's workloads by label
    reviews = rich.services.index[rich.services["name"] == "reviews"][0]
    assert rich.subsets[rich.subsets["service"] == reviews]["name"].tolist() == ["v1"]


def test_generation_follows_the_seed() -> None:
    one, two = build_cluster(scenario_from_dict(RICH)), build_cluster(scenario_from_dict(RICH))
    assert one.istio.virtual_services == two.istio.virtual_services
    other = build_cluster(scenario_from_dict({**RICH, "seed": 7}))
    assert other.istio.virtual_services != one.istio.virtual_services


def test_sidecar_generation_is_accepted() -> None:
    """Sidecars are built into the mesh now (``tests/test_sidecars.py``): their generator is read."""
    scenario = scenario_from_dict({"istio_objects": {"sidecars": {"per_namespace": True}}})
    assert scenario.istio_objects.sidecars.per_namespace


def test_routes_and_clusters_follow_the_objects(rich) -> None:  # type: ignore[no-untyped-def]
    client = index_for(rich).find_proxy("other/client")
    config = proxy_config(index_for(rich), client, get_design("single-stack"))
    (route_config,) = [r for r in config.routes if r.name == "9080"]
    vhost = next(v for v in route_config.virtual_hosts if v.name == "reviews.default.svc.cluster.local:9080")
    first, default = vhost.routes[0], vhost.routes[1]
    assert len(vhost.routes) == 2  # the regex match is for port 9999; the catch-all entry ends the list
    assert first.name == "a.m"
    assert first.match.prefix == "/a"
    assert not first.match.case_sensitive.value
    assert [h.name for h in first.match.headers] == ["x-a", "x-b", ":method", ":authority"]
    assert first.match.headers[0].present_match
    # ratings' destination names no port: the listener's, 9080 (Istio looks ratings up among the
    # services with port 9080, finds none, and takes the listener port: GetDestinationCluster), not
    # ratings' one port 5432, which names a cluster that does not exist, as in Istio.
    assert [c.name for c in first.route.weighted_clusters.clusters] == [
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        "outbound|9080||ratings.default.svc.cluster.local",
    ]
    retry = first.route.retry_policy
    assert retry.retry_on == "5xx,retriable-status-codes"
    assert list(retry.retriable_status_codes) == [503]
    assert retry.num_retries.value == 3
    assert retry.per_try_timeout.ToMilliseconds() == 1500
    assert first.route.timeout.seconds == 5
    assert first.decorator.operation == "reviews:9080/a*"
    assert default.route.cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert default.decorator.operation == "reviews.default.svc.cluster.local:9080/*"
    clusters = {c.name: c for c in config.clusters}
    plain = clusters["outbound|9080||reviews.default.svc.cluster.local"]
    assert plain.lb_policy == plain.ROUND_ROBIN  # the port-level policy replaces the rule's
    assert not plain.circuit_breakers.thresholds[0].HasField("max_connections") or (
        plain.circuit_breakers.thresholds[0].max_connections.value == 4294967295
    )
    other_port = clusters["outbound|7070||reviews.default.svc.cluster.local"]
    assert other_port.lb_policy == other_port.RING_HASH
    assert other_port.ring_hash_lb_config.minimum_ring_size.value
    assert other_port.circuit_breakers.thresholds[0].max_connections.value == 10
    assert other_port.outlier_detection.consecutive_5xx.value == 3
    assert other_port.transport_socket.name == "envoy.transport_sockets.tls"
    assert not other_port.transport_socket_matches
    subset = clusters["outbound|7070|v1|reviews.default.svc.cluster.local"]
    context = tls_pb2.UpstreamTlsContext()
    subset.transport_socket.typed_config.Unpack(context)
    assert context.sni == "x.com"  # the subset's SIMPLE TLS overrides the rule's ISTIO_MUTUAL
    assert subset.metadata.filter_metadata["istio"]["subset"] == "v1"
    assert "destination-rule/reviews" in subset.metadata.filter_metadata["istio"]["config"]
    ratings = clusters["outbound|5432||ratings.default.svc.cluster.local"]
    assert not ratings.transport_socket_matches
    assert not ratings.HasField("transport_socket")  # DISABLE


def test_duplicate_gives_each_family_its_destinations(rich) -> None:  # type: ignore[no-untyped-def]
    reviews_pod = index_for(rich).find_proxy("default/reviews")
    config = proxy_config(index_for(rich), reviews_pod, get_design("duplicate"))
    by_name = {r.name: r for r in config.routes}
    v4 = next(v for v in by_name["9080"].virtual_hosts if v.name.startswith("reviews."))
    v6 = next(v for v in by_name["9080.ipv6"].virtual_hosts if v.name.startswith("reviews."))
    # ratings is IPv6-only: left out of "9080", its outbound6 copy in "9080.ipv6"
    assert v4.routes[0].route.cluster == "outbound|9080|v1|reviews.default.svc.cluster.local"
    assert [c.name for c in v6.routes[0].route.weighted_clusters.clusters] == [
        "outbound6|9080|v1|reviews.default.svc.cluster.local",
        "outbound6|9080||ratings.default.svc.cluster.local",
    ]


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    cluster = build_cluster(scenario_from_dict({**RICH, "visibility": visibility}))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


@pytest.mark.parametrize(("mtls", "policy"), [("DISABLE", "REGISTRY_ONLY"), ("STRICT", "ALLOW_ANY")])
def test_accounting_is_byte_exact_under_mesh_settings(mtls: str, policy: str) -> None:
    scenario = {**RICH, "mesh": {"mtls": mtls, "outbound_traffic_policy": policy}, "seed": 3}
    cluster = build_cluster(scenario_from_dict(scenario))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_real_envoy_accepts_every_design(rich) -> None:  # type: ignore[no-untyped-def]
    verdicts = validate_configs(rich, sample=4)
    rejected = verdicts[~verdicts["accepted"]]
    assert rejected.empty, rejected.to_string()
    assert set(verdicts["design"]) == set(design_names())


def _golden_routes() -> list[Any]:
    from envoy.admin.v3 import config_dump_shared_pb2
    from envoy.config.route.v3 import route_pb2

    dump = load_dump("routes-virtualservice.json")
    routes = config_dump_shared_pb2.RoutesConfigDump()
    dump.configs[0].Unpack(routes)
    config = route_pb2.RouteConfiguration()
    routes.dynamic_route_configs[0].route_config.Unpack(config)
    return list(config.virtual_hosts[0].routes)


def test_route_configuration_fields_are_istios() -> None:
    """Beside its name and virtual hosts, a route configuration carries what Istio's dump of
    ``http.8080`` carries (every sidecar from Istio 1.18; docs 1.1): ``validate_clusters: false``,
    the 1 MiB direct response limit and ``ignore_port_in_host_matching``."""
    from envoy.admin.v3 import config_dump_shared_pb2
    from envoy.config.route.v3 import route_pb2

    from dsim.xds.routes import route_configuration

    routes = config_dump_shared_pb2.RoutesConfigDump()
    load_dump("routes-virtualservice-prefix.json").configs[0].Unpack(routes)
    golden = route_pb2.RouteConfiguration()
    routes.dynamic_route_configs[0].route_config.Unpack(golden)
    del golden.virtual_hosts[:]
    assert route_configuration(golden.name, []) == golden


def test_routes_have_the_shape_of_istios_dump() -> None:
    """The VirtualService ``bookinfo`` through dsim's route translation, against the routes Istio
    built from it. Differences that come from context, not from dsim: the dump belongs to an
    ingress gateway (the VirtualService binds ``bookinfo-gateway``, host ``*``), so dsim translates
    its ``http`` routes for listener port 80 directly, as a sidecar's builder would; and its
    ``PreviousHostsPredicate`` carries no ``typed_config`` (Istio versions before 1.2x wrote only
    the name), which dsim writes as current Istio does. The default retry policy's ``[503]``
    matches: both predate Istio 1.24."""
    (_gateway, raw) = list(yaml.safe_load_all((GOLDEN / "routes-virtualservice.input.yaml").read_text()))
    raw = copy.deepcopy(raw)
    raw["metadata"]["namespace"] = "default"
    from dsim.scenario.istio import parse_virtual_service

    vs = parse_virtual_service(raw).value

    def cluster_of(destination: Any, port: int) -> Target:
        host = f"{destination.host}.default.svc.cluster.local"
        number = destination.port.number if destination.port else port
        return Target(f"outbound|{number}||{host}", f"{host}:{number}")

    ours = http_routes(vs, 80, cluster_of, BASE_SOURCE, mesh_retries=None)  # the golden mesh sets none
    theirs = _golden_routes()
    assert len(ours) == len(theirs) == 5
    for mine, golden in zip(ours, theirs, strict=True):
        assert mine.match == golden.match
        assert mine.metadata == golden.metadata
        assert mine.decorator == golden.decorator
        assert mine.route.cluster == golden.route.cluster
        assert mine.route.timeout == golden.route.timeout
        assert mine.route.max_grpc_timeout == golden.route.max_grpc_timeout
        a, b = mine.route.retry_policy, golden.route.retry_policy
        for field in ("retry_on", "num_retries", "host_selection_retry_max_attempts", "retriable_status_codes"):
            assert getattr(a, field) == getattr(b, field), field
        assert [p.name for p in a.retry_host_predicate] == [p.name for p in b.retry_host_predicate]
        assert mine.name == golden.name == ""


def test_subset_cluster_has_the_shape_of_istios_dump() -> None:
    """The DestinationRule ``productpage`` (subset ``v1``) pasted instead of the Service's own subsets:
    the subset cluster has the fields of Istio's. Differences from the dump's context: its
    ``istio.config`` names the rule as dsim spells every rule (``v1alpha3``, the dump's too) and the
    dump predates ``alt_stat_name`` and ``common_lb_config``; both sides still write
    ``default_original_port`` (Istio 1.17)."""
    raw = yaml.safe_load((GOLDEN / "clusters.input.yaml").read_text())
    scenario = copy.deepcopy(GOLDEN_LIKE)
    for service in scenario["services"]:
        service.pop("subsets", None)
    scenario["destination_rules"] = [raw]
    cluster = build_cluster(scenario_from_dict(scenario))
    config = proxy_config(
        index_for(cluster), index_for(cluster).find_proxy("default/httpbin"), get_design("single-stack")
    )
    (theirs,) = golden_clusters()
    (mine,) = [c for c in config.clusters if c.name == theirs.name]
    assert mine.alt_stat_name == f"{theirs.name};"  # Istio 1.23 (istio/istio#52416)
    newer = {"alt_stat_name", "common_lb_config"}  # the latter: Istio 1.15 (istio/istio#39877), after the dump
    assert {f.name for f, _ in mine.ListFields()} - newer == {f.name for f, _ in theirs.ListFields()}
    for field in ("type", "eds_cluster_config", "connect_timeout", "lb_policy", "circuit_breakers"):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert mine.metadata.filter_metadata["istio"] == theirs.metadata.filter_metadata["istio"]
    assert [(m.name, m.match) for m in mine.transport_socket_matches] == [
        (m.name, m.match) for m in theirs.transport_socket_matches
    ]


def _one_virtual_service(
    name: str, services: list[str], replicas: int, http: list[dict[str, Any]], rules: tuple[dict[str, Any], ...] = ()
) -> Any:
    """A cluster of ``services`` (port 80, a workload of ``replicas`` pods each) in ``default``,
    the first service routed by a VirtualService of ``http`` entries, with DestinationRules ``rules``."""
    port = [{"name": "http", "port": 80}]
    return build_cluster(
        scenario_from_dict(
            {
                "name": name,
                "namespaces": [{"name": "default"}],
                "services": [{"name": n, "namespace": "default", "ports": port} for n in services],
                "workloads": [
                    {"name": n, "namespace": "default", "labels": {"app": n}, "replicas": replicas} for n in services
                ],
                "virtual_services": [
                    {"name": services[0], "namespace": "default", "spec": {"hosts": [services[0]], "http": http}}
                ],
                "destination_rules": list(rules),
            }
        )
    )


def test_routes_and_weighted_clusters_are_counted_alike_in_both_paths() -> None:
    """A VirtualService of two routes, one splitting traffic between two services: its virtual
    host has 2 routes and 2 weighted clusters; the service without one has the default route; the
    route configuration's catch-all adds one more. Every sidecar sees both services."""
    split = [{"destination": {"host": "a"}, "weight": 90}, {"destination": {"host": "b"}, "weight": 10}]
    http = [
        {"match": [{"uri": {"prefix": "/canary"}}], "route": split},
        {"route": [{"destination": {"host": "a"}}]},
    ]
    cluster = _one_virtual_service("counted-routes", ["a", "b"], 1, http)
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    _, counts = vectorized_sizes(cluster, get_design("single-stack"))
    assert counts["routes"].tolist() == [4, 4]
    assert counts["weighted_clusters"].tolist() == [2, 2]
    _, duplicate = vectorized_sizes(cluster, get_design("duplicate"))
    # IPv4-only services: duplicate builds no second family's routes for them.
    assert duplicate["routes"].tolist() == [4, 4]


def test_header_matchers_and_regexes_are_counted_alike_in_both_paths() -> None:
    """A route matching a regex path and two headers, one by regex: 2 header matchers and 2
    regexes (RE2 programs Envoy compiles); the default route and the catch-all hold neither."""
    headers = {"x-user": {"regex": "a.*"}, "x-team": {"exact": "b"}}
    http = [
        {"match": [{"uri": {"regex": "/v[0-9]+/.*"}, "headers": headers}], "route": [{"destination": {"host": "a"}}]},
        {"route": [{"destination": {"host": "a"}}]},
    ]
    cluster = _one_virtual_service("counted-matchers", ["a"], 2, http)
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    _, counts = vectorized_sizes(cluster, get_design("single-stack"))
    assert counts["routes"].tolist() == [3, 3]
    assert counts["header_matchers"].tolist() == [2, 2]
    assert counts["regex_matchers"].tolist() == [2, 2]
    assert counts["weighted_clusters"].tolist() == [0, 0]


def test_cluster_objects_are_counted_alike_in_both_paths() -> None:
    """DestinationRule policies and ServiceEntry resolutions, counted by hand: ``a``'s rule gives
    its three clusters (default, ``v1``, ``v2``) an outlier detector each and a consistent-hash
    ring to the two with a host (no pod is ``v2``: Envoy builds no ring over no host);
    ``b``'s ``tls.mode: DISABLE`` leaves its cluster without a TLS context, as the entry outside the
    mesh leaves its DNS cluster; the entry inside the mesh keeps auto mTLS on its EDS cluster."""
    port = [{"name": "http", "port": 80}]
    entry_port = [{"number": 443, "name": "tls", "protocol": "TLS"}]
    cluster = build_cluster(
        scenario_from_dict(
            {
                "name": "counted-clusters",
                "namespaces": [{"name": "default"}],
                "services": [{"name": n, "namespace": "default", "ports": port} for n in ("a", "b")],
                "workloads": [
                    {"name": n, "namespace": "default", "labels": {"app": n, "version": "v1"}, "replicas": 1}
                    for n in ("a", "b")
                ],
                "destination_rules": [
                    {
                        "name": "a",
                        "namespace": "default",
                        "spec": {
                            "host": "a",
                            "trafficPolicy": {
                                "outlierDetection": {"consecutive5xxErrors": 5},
                                "loadBalancer": {"consistentHash": {"useSourceIp": True}},
                            },
                            "subsets": [
                                {"name": "v1", "labels": {"version": "v1"}},
                                {"name": "v2", "labels": {"version": "v2"}},  # no pod: no host, no ring
                            ],
                        },
                    },
                    {
                        "name": "b",
                        "namespace": "default",
                        "spec": {"host": "b", "trafficPolicy": {"tls": {"mode": "DISABLE"}}},
                    },
                ],
                "service_entries": [
                    {
                        "name": "outside",
                        "namespace": "default",
                        "spec": {"hosts": ["api.example.com"], "ports": entry_port, "resolution": "DNS"},
                    },
                    {
                        "name": "inside",
                        "namespace": "default",
                        "spec": {
                            "hosts": ["db.internal"],
                            "ports": entry_port,
                            "resolution": "STATIC",
                            "location": "MESH_INTERNAL",
                            "endpoints": [{"address": "10.1.0.1"}],
                        },
                    },
                ],
            }
        )
    )
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    _, counts = vectorized_sizes(cluster, get_design("single-stack"))
    assert counts["plaintext_clusters"].tolist() == [2, 2]
    assert counts["dns_clusters"].tolist() == [1, 1]
    assert counts["outlier_detectors"].tolist() == [3, 3]
    assert counts["hash_rings"].tolist() == [2, 2]


def test_consistent_hash_keys_the_routes_as_istio_does() -> None:
    """``HashForHTTPDestination`` and ``buildSidecarVirtualHostForService``: ``a``'s rule hashes on
    a header, its subset ``v1`` on a cookie. A route to ``v1`` alone carries the cookie policy and a
    retry policy without the previous-hosts predicate; a route split over the service and ``v1``
    carries both policies and keeps the predicate; ``b`` (no VirtualService) gets the header
    policy on its default route, predicate kept. Both paths agree on the bytes."""
    rule = {
        "name": "a",
        "namespace": "default",
        "spec": {
            "host": "a",
            "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
            "subsets": [
                {
                    "name": "v1",
                    "labels": {"app": "a"},
                    "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpCookie": {"name": "c", "ttl": "0s"}}}},
                }
            ],
        },
    }
    split = [
        {"destination": {"host": "a"}, "weight": 50},
        {"destination": {"host": "a", "subset": "v1"}, "weight": 50},
    ]
    http = [
        {"match": [{"uri": {"prefix": "/pinned"}}], "route": [{"destination": {"host": "a", "subset": "v1"}}]},
        {"route": split},
    ]
    second = {**rule, "name": "b", "spec": {**rule["spec"], "host": "b", "subsets": []}}
    cluster = _one_virtual_service("hashed-routes", ["a", "b"], 1, http, (rule, second))
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    config = proxy_config(index_for(cluster), 0, get_design("single-stack"))
    (route_config,) = [r for r in config.routes if r.name == "80"]
    vhosts = {v.name: v for v in route_config.virtual_hosts}
    pinned, weighted = vhosts["a.default.svc.cluster.local:80"].routes
    assert [h.cookie.name for h in pinned.route.hash_policy] == ["c"]
    assert pinned.route.hash_policy[0].cookie.HasField("ttl")
    assert not pinned.route.retry_policy.retry_host_predicate
    assert [h.WhichOneof("policy_specifier") for h in weighted.route.hash_policy] == ["header", "cookie"]
    assert len(weighted.route.retry_policy.retry_host_predicate) == 1
    (default,) = vhosts["b.default.svc.cluster.local:80"].routes
    assert default.route.hash_policy[0].header.header_name == "x-user"
    assert len(default.route.retry_policy.retry_host_predicate) == 1


def test_passthrough_load_balancing_makes_an_original_dst_cluster() -> None:
    """``loadBalancer.simple: PASSTHROUGH`` (``applyLoadBalancer``): ``a``'s clusters, default and
    ``v1``, become ORIGINAL_DST with the cluster-provided balancer and no endpoint set, their mesh
    TLS context a transport socket of its own (auto mTLS is never a match on ORIGINAL_DST); ``b``
    keeps its EDS cluster. Both paths agree, and the real Envoy accepts the configs."""
    rule = {
        "name": "a",
        "namespace": "default",
        "spec": {
            "host": "a",
            "trafficPolicy": {"loadBalancer": {"simple": "PASSTHROUGH"}},
            "subsets": [{"name": "v1", "labels": {"app": "a"}}],
        },
    }
    cluster = _one_virtual_service("passthrough", ["a", "b"], 2, [{"route": [{"destination": {"host": "a"}}]}], (rule,))
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    config = proxy_config(index_for(cluster), 0, get_design("single-stack"))
    clusters = {c.name: c for c in config.clusters}
    for name in ("outbound|80||a.default.svc.cluster.local", "outbound|80|v1|a.default.svc.cluster.local"):
        shaped = clusters[name]
        assert shaped.type == shaped.ORIGINAL_DST
        assert shaped.lb_policy == shaped.CLUSTER_PROVIDED
        assert not shaped.HasField("eds_cluster_config")
        assert shaped.transport_socket.name == "envoy.transport_sockets.tls"
        assert not shaped.transport_socket_matches
    assert [a.cluster_name for a in config.endpoints] == ["outbound|80||b.default.svc.cluster.local"]
    verdicts = validate_configs(cluster, sample=2)
    assert verdicts["accepted"].all(), verdicts.to_string()


def test_a_passthrough_cluster_over_a_pod_without_sidecar_is_plain() -> None:
    """Istio decides a passthrough cluster's mTLS for all its endpoints at once
    (``BestEffortInferServiceMTLSMode``), reading the rule's top-level load balancer for the default
    cluster and the subset's own for a subset's, never a port's: one pod of ``a`` without a sidecar
    (even an unready one) leaves its default clusters without TLS, the port-81 one too though its
    port's settings make it EDS; ``a``'s subset without a balancer of its own keeps the mesh context
    (alone: it is ORIGINAL_DST); ``b``, PASSTHROUGH only on its port, keeps it too. Both paths agree."""
    http = [{"name": "http", "port": 80}, {"name": "http-admin", "port": 81}]
    pool = {"port": {"number": 81}, "connectionPool": {"tcp": {"maxConnections": 5}}}
    rules = [
        {
            "name": "a",
            "namespace": "default",
            "spec": {
                "host": "a",
                "trafficPolicy": {"loadBalancer": {"simple": "PASSTHROUGH"}, "portLevelSettings": [pool]},
                "subsets": [{"name": "v1", "labels": {"app": "a"}}],
            },
        },
        {
            "name": "b",
            "namespace": "default",
            "spec": {
                "host": "b",
                "trafficPolicy": {
                    "portLevelSettings": [{"port": {"number": 80}, "loadBalancer": {"simple": "PASSTHROUGH"}}]
                },
            },
        },
    ]
    data = {
        "namespaces": [{"name": "default"}],
        "services": [{"name": n, "namespace": "default", "ports": http} for n in "ab"],
        "workloads": [
            {"name": "a", "namespace": "default", "replicas": 2},
            {"name": "a-legacy", "namespace": "default", "labels": {"app": "a"}, "sidecar": False, "ready": False},
            {"name": "b", "namespace": "default"},
            {"name": "b-legacy", "namespace": "default", "labels": {"app": "b"}, "sidecar": False},
        ],
        "destination_rules": rules,
    }
    cluster = build_cluster(scenario_from_dict(data))
    for name in design_names():
        assert assert_methods_agree(cluster, name) > 0
    clusters = {c.name: c for c in proxy_config(index_for(cluster), 0, get_design("single-stack")).clusters}
    for name in ("outbound|80||a.default.svc.cluster.local", "outbound|81||a.default.svc.cluster.local"):
        assert not clusters[name].HasField("transport_socket")
        assert not clusters[name].transport_socket_matches
    assert clusters["outbound|81||a.default.svc.cluster.local"].type == cluster_pb2.Cluster.EDS
    for name in ("outbound|80|v1|a.default.svc.cluster.local", "outbound|80||b.default.svc.cluster.local"):
        assert clusters[name].type == cluster_pb2.Cluster.ORIGINAL_DST
        assert clusters[name].transport_socket.name == "envoy.transport_sockets.tls"
    assert len(clusters["outbound|81||b.default.svc.cluster.local"].transport_socket_matches) == 2
