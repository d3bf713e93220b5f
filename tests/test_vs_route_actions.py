"""An HTTP route's actions beside its destinations (issue 16, ``docs/istio-objects.md`` 1.6 "Route
actions"): header operations, rewrites, mirrors, redirects and direct responses become the Envoy
route fields Istio's ``TranslateRoute`` writes (expected values below are read from Istio's
``pilot/pkg/networking/core/route/route.go``); a Sidecar scope imports what a route mirrors to;
a delegate takes them from its root; both paths agree byte for byte under every design, and the
real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.sizes import config_count_row
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SVC = "svc.cluster.local"
OVERWRITE = "OVERWRITE_IF_EXISTS_OR_ADD"  # a header `set`; an `add` is Envoy's default, APPEND_IF_EXISTS_OR_ADD


def _vs(name: str, namespace: str, hosts: list[str], http: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": hosts, "http": http},
    }


def _port(number: int) -> dict[str, Any]:
    return {"name": "http", "port": number}


WEB_ROUTES: list[dict[str, Any]] = [
    {
        "match": [{"uri": {"prefix": "/v1"}}],
        "headers": {
            "request": {"set": {"x-env": "prod", ":authority": "api.internal"}, "add": {"x-b": "2", "x-a": "1"}},
            "response": {"remove": ["server"]},
        },
        "rewrite": {"uri": "/v2"},
        "mirror": {"host": "shadow.b.svc.cluster.local"},
        "mirrorPercentage": {"value": 0.57},
        "route": [{"destination": {"host": "api"}, "headers": {"request": {"set": {"host": "ignored.internal"}}}}],
        "fault": {
            "delay": {"fixedDelay": "1.5s", "percent": 5},
            "abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 0.57}},
        },
        "corsPolicy": {
            "allowOrigins": [{"exact": "https://shop.example"}, {"regex": "https://.*[.]shop[.]example"}],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["x-a", "x-b"],
            "maxAge": "24h",
            "allowCredentials": False,
            "unmatchedPreflights": "IGNORE",
        },
    },
    {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new", "derivePort": "FROM_REQUEST_PORT"}},
    {
        "match": [{"uri": {"prefix": "/moved"}}],
        "redirect": {"authority": "web.example", "port": 80, "redirectCode": 302},
    },
    {
        "match": [{"uri": {"exact": "/gone"}}],
        "directResponse": {"status": 410, "body": {"string": "gone"}},
        "headers": {"response": {"set": {"cache-control": "no-store"}}},
        "corsPolicy": {"allowOrigin": ["https://legacy.example"]},
    },
    # Above Envoy's default 4 KiB body limit: the route configuration's 1 MiB (Istio's) lets it load.
    {"match": [{"uri": {"exact": "/big"}}], "directResponse": {"status": 200, "body": {"string": "x" * 8192}}},
    {
        "match": [{"uri": {"regex": "/v3/.*"}}],
        "rewrite": {"uriRegexRewrite": {"match": "^/v3/(.*)", "rewrite": "/\\1"}},
        "route": [
            {"destination": {"host": "web"}, "weight": 90, "headers": {"request": {"add": {"host": "web.canary"}}}},
            {"destination": {"host": "api"}, "weight": 10, "headers": {"response": {"set": {"x-canary": "api"}}}},
        ],
    },
    {
        "mirrors": [
            {"destination": {"host": "shadow.b.svc.cluster.local"}, "percentage": {"value": 12.5}},
            {"destination": {"host": "shadow6.b.svc.cluster.local"}},
            {"destination": {"host": "web"}, "percentage": {"value": 0}},
        ],
        "mirror_percent": 7,  # read, but only `mirror` takes it
        "route": [{"destination": {"host": "web"}}],
        "fault": {"abort": {"percentage": {"value": 1}}},  # an abort of no kind: Istio warns, writes none
    },
]

MESH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [_port(8080)]},
        {"name": "api", "namespace": "a", "ports": [_port(8080)]},
        {"name": "shadow", "namespace": "b", "ports": [_port(8080)]},
        {"name": "shadow6", "namespace": "b", "ip_families": ["IPv6"], "ports": [_port(8080)]},
    ],
    "workloads": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "calls": ["a/api"]},
        {"name": "api", "namespace": "a"},
        {"name": "shadow", "namespace": "b"},
        {"name": "shadow6", "namespace": "b", "ip_families": ["IPv6"]},
    ],
    "virtual_services": [
        _vs("web", "a", ["web"], WEB_ROUTES),
        _vs(
            "api",
            "a",
            ["api"],
            [
                {
                    "match": [
                        {
                            "uri": {"regex": ".*"},
                            "headers": {"x-b": {"exact": "1"}},
                            "withoutHeaders": {"x-debug": {}, "x-a": {"regex": "v[0-9]"}},
                            "authority": {"prefix": "api"},
                            "scheme": {"exact": "https"},
                            "statPrefix": "api_no_debug",
                        }
                    ],
                    "route": [{"destination": {"host": "api"}}],
                    "retries": {
                        "attempts": 4,
                        "retryIgnorePreviousHosts": False,
                        "retryRemoteLocalities": True,
                        "backoff": "100ms",
                    },
                },
                {
                    "match": [{"uri": {"regex": ".*"}}],
                    "route": [{"destination": {"host": "api"}}],
                    "retries": {"attempts": 1, "retryIgnorePreviousHosts": True},
                },
                {"route": [{"destination": {"host": "web"}}]},  # after a catch-all: never built
            ],
        ),
    ],
    "synthetic": {"services": 4, "namespaces": 2},
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _routes(cluster: Cluster, proxy: str, design: str, config: str = "8080", host: str = "web") -> list[dict[str, Any]]:
    """The routes of ``host``'s virtual host in route configuration ``config``, as Envoy's JSON."""
    index = index_for(cluster)
    found = proxy_config(index, index.find_proxy(proxy), get_design(design))
    (routes,) = [r for r in found.routes if r.name == config]
    (vhost,) = [v for v in routes.virtual_hosts if v.name.startswith(f"{host}.a.{SVC}:")]
    return [MessageToDict(r, preserving_proto_field_name=True) for r in vhost.routes]


def _header(key: str, value: str, action: str | None = None) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, **({"append_action": action} if action else {})}


def test_headers_rewrite_and_mirror_of_one_destination(mesh: Cluster) -> None:
    """Route 0: the route's ``set`` headers (sorted, overwrite) before its ``add`` ones (sorted,
    append), the authority dropped from them and written as the host rewrite, which the
    destination's own ``host`` does not replace; the
    prefix rewrite; the mirror at 0.57% in millionths, 5,699 as Go truncates ``0.57 * 10000`` (5699.99...)."""
    route = _routes(mesh, "a/web", "single-stack")[0]
    assert route["request_headers_to_add"] == [
        _header("x-env", "prod", OVERWRITE),
        _header("x-a", "1"),
        _header("x-b", "2"),
    ]
    assert route["response_headers_to_remove"] == ["server"]
    assert "request_headers_to_remove" not in route
    action = route["route"]
    assert action["cluster"] == f"outbound|8080||api.a.{SVC}"
    assert action["prefix_rewrite"] == "/v2"
    assert action["host_rewrite_literal"] == "api.internal"
    assert action["request_mirror_policies"] == [
        {
            "cluster": f"outbound|8080||shadow.b.{SVC}",
            "runtime_fraction": {"default_value": {"numerator": 5699, "denominator": "MILLION"}},
            "trace_sampled": False,
            "disable_shadow_host_suffix_append": True,
        }
    ]
    assert route["decorator"] == {"operation": f"api.a.{SVC}:8080/v1*"}
    assert action["retry_policy"]["num_retries"] == 2  # the default policy still applies


def test_redirects_and_direct_responses_answer_in_place_of_a_cluster(mesh: Cluster) -> None:
    """Routes 1 to 3: no route action, so no timeout, retries or hash; the decorator names the
    VirtualService. ``FROM_REQUEST_PORT`` is the listener's port; an explicit 80 under http is
    dropped; ``path_redirect`` is written even when empty (Istio always sets the oneof)."""
    routes = _routes(mesh, "a/web", "single-stack")
    assert routes[1]["redirect"] == {"path_redirect": "/new", "port_redirect": 8080}
    assert routes[1]["decorator"] == {"operation": "web:8080/old"}
    assert routes[2]["redirect"] == {"host_redirect": "web.example", "path_redirect": "", "response_code": "FOUND"}
    assert routes[3]["direct_response"] == {"status": 410, "body": {"inline_string": "gone"}}
    assert routes[3]["response_headers_to_add"] == [_header("cache-control", "no-store", OVERWRITE)]
    assert all("route" not in r for r in routes[1:4])


def test_weighted_destinations_carry_their_own_headers(mesh: Cluster) -> None:
    """Route 5: each weighted cluster takes its destination's operations and authority; the route's
    regex rewrite. Route 6: ``mirrors`` in order, the default share 100%, a share of 0 none, and
    ``mirror_percent`` unused without ``mirror``."""
    routes = _routes(mesh, "a/web", "single-stack")
    action = routes[5]["route"]
    assert action["regex_rewrite"] == {"pattern": {"regex": "^/v3/(.*)"}, "substitution": "/\\1"}
    assert action["weighted_clusters"]["clusters"] == [
        {"name": f"outbound|8080||web.a.{SVC}", "weight": 90, "host_rewrite_literal": "web.canary"},
        {
            "name": f"outbound|8080||api.a.{SVC}",
            "weight": 10,
            "response_headers_to_add": [_header("x-canary", "api", OVERWRITE)],
        },
    ]
    assert "host_rewrite_literal" not in action
    mirrors = routes[6]["route"]["request_mirror_policies"]
    assert [(m["cluster"], m["runtime_fraction"]["default_value"]) for m in mirrors] == [
        (f"outbound|8080||shadow.b.{SVC}", {"numerator": 125000, "denominator": "MILLION"}),
        (f"outbound|8080||shadow6.b.{SVC}", {"numerator": 100}),
    ]


def test_duplicate_leaves_a_mirror_out_of_the_copy_without_its_family(mesh: Cluster) -> None:
    """Under ``duplicate`` the IPv6 copy mirrors to shadow6's ``outbound6`` cluster only (shadow has
    no IPv6), the IPv4 copy to shadow only, as the branch treats destinations (docs 1.11)."""
    v4 = _routes(mesh, "a/web", "duplicate")[-1]["route"]["request_mirror_policies"]
    v6 = _routes(mesh, "a/web", "duplicate", "8080.ipv6")[-1]["route"]["request_mirror_policies"]
    assert [m["cluster"] for m in v4] == [f"outbound|8080||shadow.b.{SVC}"]
    assert [m["cluster"] for m in v6] == [f"outbound6|8080||shadow6.b.{SVC}"]


def _clusters(cluster: Cluster, proxy: str) -> set[str]:
    index = index_for(cluster)
    return {c.name for c in proxy_config(index, index.find_proxy(proxy), get_design("single-stack")).clusters}


def test_a_sidecar_imports_what_a_route_mirrors_to() -> None:
    """Under a Sidecar importing only its own namespace, a's proxies get the cluster of b's services
    the VirtualService mirrors to (``virtualServiceDestinations`` adds mirrors), and without the
    mirrors they do not."""
    sidecar = {"name": "default", "namespace": "a", "spec": {"egress": [{"hosts": ["./*"]}]}}
    with_mirrors = build_cluster(scenario_from_dict({**MESH, "sidecars": [sidecar]}))
    plain_routes = [{k: v for k, v in r.items() if not k.startswith("mirror")} for r in WEB_ROUTES]
    without = {**MESH, "sidecars": [sidecar], "virtual_services": [_vs("web", "a", ["web"], plain_routes)]}
    shadows = {f"outbound|8080||shadow.b.{SVC}", f"outbound|8080||shadow6.b.{SVC}"}
    assert shadows <= _clusters(with_mirrors, "a/api")
    assert not shadows & _clusters(build_cluster(scenario_from_dict(without)), "a/api")


def test_a_delegate_takes_its_roots_actions() -> None:
    """``mergeHTTPRoute``: a delegate route without headers, rewrite, mirror or fault takes its root route's;
    its own mirror host is resolved in its namespace (b), the root's in the root's (a)."""
    root = _vs("web", "a", ["web"], [])
    root["spec"]["http"] = [
        {
            "delegate": {"name": "web-routes", "namespace": "b"},
            "headers": {"request": {"set": {"x-root": "1"}}},
            "rewrite": {"uri": "/root"},
            "mirror": {"host": "api"},
            "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 10}}},
        }
    ]
    leaf = _vs("web-routes", "b", [], [])
    del leaf["spec"]["hosts"]
    leaf["spec"]["http"] = [
        {"route": [{"destination": {"host": "web.a.svc.cluster.local"}}]},
        {
            "match": [{"uri": {"prefix": "/own"}}],
            "mirror": {"host": "shadow"},
            "rewrite": {"authority": "own"},
            "route": [{"destination": {"host": "web.a.svc.cluster.local"}}],
        },
    ]
    leaf["spec"]["http"].reverse()  # the catch-all last
    cluster = build_cluster(scenario_from_dict({**MESH, "virtual_services": [root, leaf]}))
    own, inherited = _routes(cluster, "a/web", "single-stack")
    assert inherited["request_headers_to_add"] == [_header("x-root", "1", OVERWRITE)]
    assert inherited["route"]["prefix_rewrite"] == "/root"
    assert inherited["route"]["request_mirror_policies"][0]["cluster"] == f"outbound|8080||api.a.{SVC}"
    assert inherited["typed_per_filter_config"]["envoy.filters.http.fault"]["abort"]["http_status"] == 503
    assert own["request_headers_to_add"] == inherited["request_headers_to_add"]
    assert own["route"]["host_rewrite_literal"] == "own"
    assert "prefix_rewrite" not in own["route"]
    assert own["route"]["request_mirror_policies"][0]["cluster"] == f"outbound|8080||shadow.b.{SVC}"


def test_a_regex_rewrite_is_counted_as_a_compiled_regex() -> None:
    from envoy.config.route.v3 import route_components_pb2 as rc

    from dsim.xds.routes import route_objects

    route = rc.Route(match=rc.RouteMatch(prefix="/"))
    route.route.regex_rewrite.pattern.regex = "^/a"
    assert route_objects(route) == (0, 0, 1, 0, 0, 0, 0, 0, 0, 0)  # no retry policy on this bare route


def test_route_actions_are_counted_on_the_route_and_its_weighted_destinations() -> None:
    """Headers added or set and removed count on the route and on each weighted destination,
    request and response; a fault and a CORS policy count once each (per-route filter configs; any
    other filter's config is not one of them); every mirror policy counts."""
    from envoy.config.core.v3 import base_pb2
    from envoy.config.route.v3 import route_components_pb2 as rc
    from google.protobuf import any_pb2

    from dsim.xds.routes import ROUTE_COUNTS, route_objects

    def added(*names: str) -> list[base_pb2.HeaderValueOption]:
        return [base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=n, value="v")) for n in names]

    route = rc.Route(match=rc.RouteMatch(prefix="/"))
    route.request_headers_to_add.extend(added("a", "b"))
    route.response_headers_to_add.extend(added("c"))
    route.request_headers_to_remove.extend(["d"])
    route.response_headers_to_remove.extend(["e", "f"])
    split = route.route.weighted_clusters.clusters
    split.add(name="one", request_headers_to_add=added("g"), response_headers_to_remove=["h"])
    split.add(name="two", response_headers_to_add=added("i", "j"), request_headers_to_remove=["k", "l", "m"])
    route.route.request_mirror_policies.add(cluster="x")
    route.route.request_mirror_policies.add(cluster="y")
    for name in ("envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.other"):
        route.typed_per_filter_config[name].CopyFrom(any_pb2.Any())
    counts = dict(zip(ROUTE_COUNTS[1:], route_objects(route), strict=True))
    assert counts == {
        "weighted_clusters": 2,
        "header_matchers": 0,
        "regex_matchers": 0,
        "header_additions": 6,
        "header_removals": 7,
        "faults": 1,
        "cors_policies": 1,
        "mirror_policies": 2,
        "retry_policies": 0,
        "retry_priorities": 0,
    }
    route.route.retry_policy.num_retries.value = 2
    counted = dict(zip(ROUTE_COUNTS[1:], route_objects(route), strict=True))
    assert (counted["retry_policies"], counted["retry_priorities"]) == (1, 0)
    route.route.retry_policy.retry_priority.name = "envoy.retry_priorities.previous_priorities"
    counted = dict(zip(ROUTE_COUNTS[1:], route_objects(route), strict=True))
    assert (counted["retry_policies"], counted["retry_priorities"]) == (1, 1)
    direct = rc.Route(match=rc.RouteMatch(prefix="/"), direct_response=rc.DirectResponseAction(status=503))
    direct.request_headers_to_add.extend(added("a"))
    assert route_objects(direct) == (0, 0, 0, 1, 0, 0, 0, 0, 0, 0)


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
CORS = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"


def test_fault_and_cors_are_per_route_filter_configs(mesh: Cluster) -> None:
    """``TranslateFault`` and ``TranslateCORSPolicy`` (HEAD), packed for the fault and CORS filters:
    the legacy whole ``percent`` in hundredths, a ``percentage`` in millionths, a gRPC status by its
    code; origins by match, the lists joined, the max age in seconds, preflights that match no
    origin not forwarded under ``IGNORE``, the filter on for every request. A CORS policy stays on a
    direct response (the legacy exact origins, preflights forwarded); a fault left with neither a
    delay nor an abort is an empty one."""
    routes = _routes(mesh, "a/web", "single-stack")
    configs = routes[0]["typed_per_filter_config"]
    assert configs["envoy.filters.http.fault"] == {
        "@type": FAULT,
        "delay": {"fixed_delay": "1.500s", "percentage": {"numerator": 5}},
        "abort": {"grpc_status": 14, "percentage": {"numerator": 5699, "denominator": "MILLION"}},
    }
    assert configs["envoy.filters.http.cors"] == {
        "@type": CORS,
        "allow_origin_string_match": [
            {"exact": "https://shop.example"},
            {"safe_regex": {"regex": "https://.*[.]shop[.]example"}},
        ],
        "allow_methods": "GET,POST",
        "allow_headers": "x-a,x-b",
        "max_age": "86400",
        "allow_credentials": False,
        "filter_enabled": {"default_value": {"numerator": 100}},
        "forward_not_matching_preflights": False,
    }
    assert routes[3]["typed_per_filter_config"] == {
        "envoy.filters.http.cors": {
            "@type": CORS,
            "allow_origin_string_match": [{"exact": "https://legacy.example"}],
            "filter_enabled": {"default_value": {"numerator": 100}},
            "forward_not_matching_preflights": True,
        }
    }
    assert routes[6]["typed_per_filter_config"] == {"envoy.filters.http.fault": {"@type": FAULT}}
    assert "typed_per_filter_config" not in routes[5]


def test_authority_scheme_and_absent_headers_are_matched(mesh: Cluster) -> None:
    """``TranslateRouteMatch``: ``withoutHeaders`` inverted among the headers, sorted by name, a
    missing header read as empty unless it is a presence match; ``:authority`` and ``:scheme``
    after them; the match's stats prefix on its route. ``IsCatchAllRoute``: a regex ``.*`` with
    conditions is not a catch-all, without them it is, and ends the walk."""
    first, catch_all = _routes(mesh, "a/web", "single-stack", host="api")
    assert first["stat_prefix"] == "api_no_debug"
    assert first["match"] == {
        "safe_regex": {"regex": ".*"},
        "case_sensitive": True,
        "headers": [
            {
                "name": "x-a",
                "string_match": {"safe_regex": {"regex": "v[0-9]"}},
                "invert_match": True,
                "treat_missing_header_as_empty": True,
            },
            {"name": "x-b", "string_match": {"exact": "1"}},
            {"name": "x-debug", "present_match": True, "invert_match": True},
            {"name": ":authority", "string_match": {"prefix": "api"}},
            {"name": ":scheme", "string_match": {"exact": "https"}},
        ],
    }
    assert catch_all["match"] == {"safe_regex": {"regex": ".*"}, "case_sensitive": True}


def test_retry_options_are_istios(mesh: Cluster) -> None:
    """``ConvertPolicy``: ``retryIgnorePreviousHosts: false`` drops the previous-hosts predicate,
    ``true`` keeps it; ``retryRemoteLocalities`` is Envoy's previous-priorities retry priority,
    updated every 2 attempts; ``backoff`` the base interval."""
    first, catch_all = _routes(mesh, "a/web", "single-stack", host="api")
    policy = first["route"]["retry_policy"]
    assert "retry_host_predicate" not in policy
    assert policy["num_retries"] == 4
    assert policy["retry_priority"] == {
        "name": "envoy.retry_priorities.previous_priorities",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3."
            "PreviousPrioritiesConfig",
            "update_frequency": 2,
        },
    }
    assert policy["retry_back_off"] == {"base_interval": "0.100s"}
    kept = catch_all["route"]["retry_policy"]
    assert [p["name"] for p in kept["retry_host_predicate"]] == ["envoy.retry_host_predicates.previous_hosts"]
    assert "retry_priority" not in kept
    # The memory model counts the VirtualService's own retry priority as it counts the mesh policy's.
    index = index_for(mesh)
    config = proxy_config(index, index.find_proxy("a/web"), get_design("single-stack"))
    carried = sum(
        route.route.retry_policy.HasField("retry_priority")
        for routes in config.routes
        for vhost in routes.virtual_hosts
        for route in vhost.routes
    )
    assert config_count_row(config)["retry_priorities"] == carried > 0


def _without(cluster: Cluster, **cleared: None) -> tuple[Any, ...]:
    """The cluster's VirtualServices with ``cleared`` fields of every HTTP route unset."""
    import dataclasses

    return tuple(
        dataclasses.replace(
            vs, spec=dataclasses.replace(vs.spec, http=tuple(dataclasses.replace(r, **cleared) for r in vs.spec.http))
        )
        for vs in cluster.istio.virtual_services
    )


def test_generated_virtual_services_can_set_request_headers() -> None:
    """``istio_objects.virtual_services.request_headers``: every generated route sets that many
    request headers; both paths agree, and without it the seed's objects are the same but for them."""

    objects: dict[str, Any] = {"virtual_services": {"share": 0.5, "routes": 2, "request_headers": 3}}
    scenario = {"name": "headers", "seed": 3, "synthetic": {"services": 12, "namespaces": 2}, "istio_objects": objects}
    cluster = build_cluster(scenario_from_dict(scenario))
    routes = [route for vs in cluster.istio.virtual_services for route in vs.spec.http]
    assert routes
    for route in routes:
        assert route.headers is not None
        assert route.headers.request is not None
        assert route.headers.request.set == {f"x-dsim-{k}": route.name for k in range(3)}
    assert_exact_every_design(cluster)
    plain = {"virtual_services": {"share": 0.5, "routes": 2}}
    again = build_cluster(scenario_from_dict({**scenario, "istio_objects": plain}))
    assert _without(cluster, headers=None) == again.istio.virtual_services


ACTION_KNOBS = {"removed_headers": 2, "fault": True, "cors": True, "mirror": True}


def test_generated_virtual_services_can_carry_every_route_action() -> None:
    """``removed_headers``, ``fault``, ``cors`` and ``mirror``: every generated route removes that
    many request headers, injects the fault, answers CORS and mirrors to its own host; the counts
    (``dsim.xds.routes.ROUTE_ACTIONS``) follow route by route, both paths agree, Envoy accepts the
    configs, and without them the seed's objects are the same but for them."""

    from dsim import config_counts

    objects: dict[str, Any] = {"virtual_services": {"share": 0.5, "routes": 3, "request_headers": 1, **ACTION_KNOBS}}
    scenario = {"name": "actions", "seed": 3, "synthetic": {"services": 12, "namespaces": 2}, "istio_objects": objects}
    cluster = build_cluster(scenario_from_dict(scenario))
    routes = [route for vs in cluster.istio.virtual_services for route in vs.spec.http]
    assert len(routes) == 3 * len(cluster.istio.virtual_services) > 0
    hosts = {vs.name: vs.spec.hosts[0] for vs in cluster.istio.virtual_services}
    for vs in cluster.istio.virtual_services:
        for route in vs.spec.http:
            assert route.headers is not None
            assert route.headers.request is not None
            assert route.headers.request.remove == ("x-dsim-drop-0", "x-dsim-drop-1")
            assert route.fault is not None
            assert route.cors_policy is not None
            assert route.mirror is not None
            assert route.mirror.host == hosts[vs.name]
    counts = config_counts(cluster, "single-stack")
    # Each proxy sees every generated route at least once (visibility all; a route appears again in
    # each other HTTP port's and port 80's route configuration), each with one set header, two
    # removed, a fault, a CORS policy and a mirror.
    seen = counts["header_additions"]
    assert (seen >= len(routes)).all()
    assert (counts["header_removals"] == 2 * seen).all()
    for column in ("faults", "cors_policies", "mirror_policies"):
        assert (counts[column] == seen).all(), column
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)
    plain = {"virtual_services": {"share": 0.5, "routes": 3}}
    again = build_cluster(scenario_from_dict({**scenario, "istio_objects": plain}))
    cleared = dict.fromkeys(("headers", "fault", "cors_policy", "mirror", "mirror_percentage"))
    assert _without(cluster, **cleared) == again.istio.virtual_services
