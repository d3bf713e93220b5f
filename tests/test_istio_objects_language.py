"""Istio's own objects in the scenario language: pasted objects accepted with the right values,
every modelled rule of Istio's validation refused at its exact field path, unknown fields refused
with a suggestion, real-but-unmodelled fields accepted and listed, generators deterministic and
within their parameters, and hostile input never anything but a ScenarioError."""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dsim.errors import ScenarioError
from dsim.scenario.istio import (
    PARSERS,
    as_kubernetes_object,
    generate_destination_rules,
    generate_istio_objects,
    generate_service_entries,
    generate_sidecars,
    generate_virtual_services,
    parse_destination_rule,
    parse_duration_ms,
    parse_generator_params,
    parse_istio_object,
    parse_service_entry,
    parse_service_export_to,
    parse_sidecar,
    parse_virtual_service,
)
from dsim.scenario.istio.generator_params import DestinationRuleGen, ServiceEntryGen, SidecarGen, VirtualServiceGen

SOURCE = "mesh.yaml"

# Realistic objects in the shapes of Istio's documentation examples (written here, not copied).
REVIEWS_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
  labels: {app: reviews}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  resourceVersion: "48213"
  uid: 4b1f6d8e-0000-4000-8000-000000000001
spec:
  hosts:
  - reviews
  - reviews.bookinfo.svc.cluster.local
  http:
  - name: jason
    match:
    - headers:
        end-user:
          exact: jason
      uri:
        prefix: /reviews
      ignoreUriCase: true
    - queryParams:
        beta: {regex: "^(on|yes)$"}
      method: {exact: GET}
    route:
    - destination:
        host: reviews
        subset: v2
        port: {number: 9080}
  - name: canary
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: gateway-error,connect-failure,refused-stream,503
    timeout: 0.5s
    route:
    - destination: {host: reviews, subset: v1}
      weight: 75
    - destination: {host: reviews, subset: v3}
      weight: 25
  exportTo: [".", istio-system]
status:
  observedGeneration: 3
"""

REVIEWS_DR = """
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms}
      http: {http1MaxPendingRequests: 64, http2MaxRequests: 1000, maxRequestsPerConnection: 10, maxRetries: 3,
             idleTimeout: 1h}
    outlierDetection:
      consecutive5xxErrors: 7
      consecutiveGatewayErrors: 2
      interval: 5m
      baseEjectionTime: 15m
      maxEjectionPercent: 40
    loadBalancer: {simple: LEAST_REQUEST}
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer:
        consistentHash:
          httpCookie: {name: user, ttl: 0s}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
  - name: v3
    labels: {version: v3, app.kubernetes.io/part-of: bookinfo}
  exportTo: ["*"]
"""

EXTERNAL_SE = """
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: external-svc-https, namespace: egress}
spec:
  hosts: [api.dropboxapi.com, www.googleapis.com]
  location: MESH_EXTERNAL
  ports:
  - {number: 443, name: https, protocol: TLS}
  resolution: DNS
"""

STATIC_SE = """
name: mongo-cluster
namespace: data
spec:
  hosts: [mymongodb.somedomain]
  addresses: [192.192.192.192/24, "2001:db8:1::/64"]
  ports:
  - {number: 27018, name: mongodb, protocol: MONGO, targetPort: 27017}
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
  - {address: 2.2.2.2, labels: {version: v1}, locality: us-east1/us-east1-b, weight: 3}
  - {address: "2001:db8:1::10", ports: {mongodb: 27019}, network: net-2}
  exportTo: ["~"]
  subjectAltNames: ["spiffe://cluster.local/ns/data/sa/mongo"]
"""

ROOT_SIDECAR = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress:
  - hosts: ["./*", "istio-system/*", "~/*", "*/*.googleapis.com", "prod-us1/ratings.prod-us1.svc.cluster.local"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""

SELECTOR_SIDECAR = """
name: ratings
namespace: prod-us1
spec:
  workloadSelector:
    labels: {app: ratings}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: somename}
    defaultEndpoint: unix:///var/run/someuds.sock
  egress:
  - port: {number: 9080, protocol: HTTP, name: egresshttp}
    hosts: ["prod-us1/*"]
  - port: {number: 0, protocol: HTTP}
    bind: unix:///var/run/app.sock
    captureMode: NONE
    hosts: ["*/*"]
  - hosts: ["istio-system/*"]
"""


def load(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


def refusal(parse: Callable[..., Any], raw: Any, path: str = "objects[3]") -> tuple[str, str]:
    """The field path and message a parser refuses ``raw`` with."""
    with pytest.raises(ScenarioError) as caught:
        parse(raw, source=SOURCE, path=path)
    assert str(caught.value) == f"{SOURCE}: {caught.value.path}: {caught.value.message}"
    return caught.value.path, caught.value.message


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def edited(text: str, field: str, value: Any) -> dict[str, Any]:
    """The object in ``text`` with ``field`` (``spec.http[0].route``) set to ``value`` (``DELETE`` removes it)."""
    data = load(text)
    steps = [name if name else int(index) for name, index in _STEP.findall(field)]
    node = data
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return data


DELETE = object()


# --- pasted objects accepted with the right values -------------------------------------------


def test_a_pasted_virtual_service_is_read_with_istios_meaning() -> None:
    parsed = parse_virtual_service(load(REVIEWS_VS), source=SOURCE, path="virtual_services[0]")
    vs = parsed.value
    assert (vs.name, vs.namespace) == ("reviews", "bookinfo")
    assert vs.spec.hosts == ("reviews", "reviews.bookinfo.svc.cluster.local")
    jason, canary = vs.spec.http
    first, second = jason.match
    assert first.headers["end-user"].exact == "jason"
    assert (first.uri is not None and first.uri.prefix, first.ignore_uri_case) == ("/reviews", True)
    assert second.query_params["beta"].regex == "^(on|yes)$"
    assert second.method is not None
    assert second.method.exact == "GET"
    destination = jason.route[0].destination
    assert (destination.host, destination.subset, destination.port and destination.port.number) == (
        "reviews",
        "v2",
        9080,
    )
    assert [(d.destination.subset, d.weight) for d in canary.route] == [("v1", 75), ("v3", 25)]
    assert canary.retries is not None
    assert (canary.retries.attempts, canary.retries.per_try_timeout) == (3, 2000)
    assert canary.retries.retry_on == "gateway-error,connect-failure,refused-stream,503"
    assert canary.timeout == 500
    assert vs.spec.export_to == (".", "istio-system")
    # kubectl's metadata and status are accepted and listed, never silently dropped.
    assert {i.path for i in parsed.ignored} == {
        "virtual_services[0].metadata.labels",
        "virtual_services[0].metadata.annotations",
        "virtual_services[0].metadata.resourceVersion",
        "virtual_services[0].metadata.uid",
        "virtual_services[0].status",
    }


def test_a_pasted_destination_rule_is_read_with_istios_meaning() -> None:
    rule = parse_destination_rule(load(REVIEWS_DR), source=SOURCE).value
    policy = rule.spec.traffic_policy
    assert policy is not None
    assert policy.connection_pool is not None
    assert policy.connection_pool.tcp is not None
    assert policy.connection_pool.http is not None
    assert (policy.connection_pool.tcp.max_connections, policy.connection_pool.tcp.connect_timeout) == (100, 30)
    http = policy.connection_pool.http
    assert (http.http1_max_pending_requests, http.http2_max_requests, http.max_requests_per_connection) == (
        64,
        1000,
        10,
    )
    assert (http.max_retries, http.idle_timeout) == (3, 3_600_000)
    outlier = policy.outlier_detection
    assert outlier is not None
    assert (outlier.consecutive_5xx_errors, outlier.consecutive_gateway_errors) == (7, 2)
    assert (outlier.interval, outlier.base_ejection_time, outlier.max_ejection_percent) == (300_000, 900_000, 40)
    assert policy.load_balancer is not None
    assert policy.load_balancer.simple == "LEAST_REQUEST"
    assert policy.tls is not None
    assert policy.tls.mode == "ISTIO_MUTUAL"
    port_policy = policy.port_level_settings[0]
    assert port_policy.port.number == 9080
    hashing = port_policy.load_balancer and port_policy.load_balancer.consistent_hash
    assert hashing
    assert hashing.http_cookie is not None
    assert (hashing.http_cookie.name, hashing.http_cookie.ttl) == ("user", 0)
    assert [s.name for s in rule.spec.subsets] == ["v1", "v2", "v3"]
    assert rule.spec.subsets[2].labels == {"version": "v3", "app.kubernetes.io/part-of": "bookinfo"}
    v2_policy = rule.spec.subsets[1].traffic_policy
    assert v2_policy is not None
    assert v2_policy.load_balancer is not None
    assert v2_policy.load_balancer.simple == "ROUND_ROBIN"
    assert rule.spec.export_to == ("*",)


def test_pasted_service_entries_are_read_with_istios_meaning() -> None:
    https = parse_service_entry(load(EXTERNAL_SE), source=SOURCE).value
    assert https.spec.hosts == ("api.dropboxapi.com", "www.googleapis.com")
    assert (https.spec.resolution, https.spec.location) == ("DNS", "MESH_EXTERNAL")
    assert [(p.number, p.name, p.protocol) for p in https.spec.ports] == [(443, "https", "TLS")]

    mongo = parse_service_entry(load(STATIC_SE), source=SOURCE).value
    assert (mongo.name, mongo.namespace) == ("mongo-cluster", "data")
    assert mongo.spec.addresses == ("192.192.192.192/24", "2001:db8:1::/64")  # both families, CIDRs
    assert mongo.spec.ports[0].target_port == 27017
    first, second = mongo.spec.endpoints
    assert (first.address, first.labels, first.locality, first.weight) == (
        "2.2.2.2",
        {"version": "v1"},
        "us-east1/us-east1-b",
        3,
    )
    assert (second.address, second.ports, second.network) == ("2001:db8:1::10", {"mongodb": 27019}, "net-2")
    assert mongo.spec.export_to == ("~",)
    assert mongo.spec.subject_alt_names == ("spiffe://cluster.local/ns/data/sa/mongo",)


def test_pasted_sidecars_are_read_with_istios_meaning() -> None:
    root = parse_sidecar(load(ROOT_SIDECAR), source=SOURCE).value
    assert root.namespace == "istio-system"
    assert root.spec.workload_selector is None
    assert root.spec.egress[0].hosts[2:4] == ("~/*", "*/*.googleapis.com")
    assert root.spec.outbound_traffic_policy is not None
    assert root.spec.outbound_traffic_policy.mode == "REGISTRY_ONLY"

    ratings = parse_sidecar(load(SELECTOR_SIDECAR), source=SOURCE).value
    assert ratings.spec.workload_selector is not None
    assert ratings.spec.workload_selector.labels == {"app": "ratings"}
    assert ratings.spec.ingress[0].default_endpoint == "unix:///var/run/someuds.sock"
    uds = ratings.spec.egress[1]
    assert (uds.port and uds.port.number, uds.bind, uds.capture_mode) == (0, "unix:///var/run/app.sock", "NONE")
    assert ratings.spec.egress[2].port is None  # the catch-all, last


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_every_istio_api_version_reads_alike(version: str) -> None:
    data = edited(REVIEWS_VS, "apiVersion", f"networking.istio.io/{version}")
    assert parse_virtual_service(data).value == parse_virtual_service(load(REVIEWS_VS)).value


def test_the_short_form_and_the_kubernetes_object_read_alike() -> None:
    full = load(REVIEWS_DR)
    short = {"name": "reviews", "namespace": "bookinfo", "spec": full["spec"]}
    assert parse_destination_rule(short).value == parse_destination_rule(full).value


def test_a_namespace_left_out_is_default_as_kubectl_places_it() -> None:
    assert parse_sidecar({"name": "s", "spec": {"egress": [{"hosts": ["./*"]}]}}).value.namespace == "default"


@pytest.mark.parametrize("text", [REVIEWS_VS, REVIEWS_DR, EXTERNAL_SE, STATIC_SE, ROOT_SIDECAR, SELECTOR_SIDECAR])
def test_objects_written_back_read_the_same(text: str) -> None:
    data = load(text)
    kind = data.get("kind") or ("ServiceEntry" if "endpoints" in data["spec"] else "Sidecar")
    parsed = PARSERS[kind](data).value
    assert parse_istio_object(as_kubernetes_object(parsed)).value == parsed


# --- every modelled rule refused at its exact path ---------------------------------------------

P = "objects[3].spec"
VS_REFUSALS = [
    ("spec.hosts[1]", "reviews_v2!", f"{P}.hosts[1]", "is not a valid host (label 'reviews_v2!' is invalid)"),
    ("spec.hosts[1]", "*", f"{P}.hosts[1]", "the wildcard host '*' is not allowed"),
    ("spec.hosts", ["a.example.com", "*.example.com"], f"{P}.hosts[1]", "duplicates hosts[0] ('a.example.com')"),
    ("spec.hosts", ["x.com", "x.com"], f"{P}.hosts[1]", "duplicates hosts[0]"),
    ("spec.hosts[0]", "a" * 300, f"{P}.hosts[0]", "too long for a host (300 characters, at most 255)"),
    ("spec.hosts[0]", "foo.123", f"{P}.hosts[0]", "top-level domain '123' is all digits"),
    ("spec.gateways", ["istio-system/gw/x"], f"{P}.gateways[0]", "'gw/x' is not a valid gateway name"),
    ("spec.http", [], P, "needs http, tcp or tls routes"),
    ("spec.http[1].route[0].weight", -1, f"{P}.http[1].route[0].weight", "must be >= 0 (got -1)"),
    ("spec.http[1].route[0].weight", 2**31, f"{P}.http[1].route[0].weight", "must be <= 2147483647"),
    ("spec.http[1].route[0].weight", 0.5, f"{P}.http[1].route[0].weight", "expected a whole number (got 0.5)"),
    ("spec.http[1].route[0].weight", "75", f"{P}.http[1].route[0].weight", "expected a whole number (got '75')"),
    ("spec.http[1].route[1].destination.host", "*", f"{P}.http[1].route[1].destination.host", "'*' is not a valid"),
    (
        "spec.http[1].route[1].destination.subset",
        "v_3",
        f"{P}.http[1].route[1].destination.subset",
        "not a valid subset name",
    ),
    (
        "spec.http[0].route[0].destination.port.number",
        0,
        f"{P}.http[0].route[0].destination.port.number",
        "port number 0 must be in the range 1..65535",
    ),
    (
        "spec.http[0].route[0].destination",
        DELETE,
        f"{P}.http[0].route[0].destination",
        "missing (this field is required)",
    ),
    ("spec.http[0].match[0].sourceNamespace", "shop_1", f"{P}.http[0].match[0].sourceNamespace", "not a valid"),
    ("spec.http[0].match[0].gateways", ["a/b/c"], f"{P}.http[0].match[0].gateways[0]", "not a valid gateway"),
    ("spec.http[0].match[0].sourceLabels", {"": "x"}, f"{P}.http[0].match[0].sourceLabels['']", ""),
    ("spec.http[0].route", [], f"{P}.http[0]", "needs a route, redirect or directResponse"),
    ("spec.http[0].redirect", {"uri": "/v1"}, f"{P}.http[0].redirect", "cannot be combined with route"),
    (
        "spec.http[0].delegate",
        {"name": "reviews-routes"},
        f"{P}.http[0].route",
        "a route with a delegate must not have a route",
    ),
    (
        "spec.http[0].match[0].uri",
        {"exact": "/a", "prefix": "/a"},
        f"{P}.http[0].match[0].uri",
        "sets both exact and prefix",
    ),
    ("spec.http[0].match[1].method", {"prefix": ""}, f"{P}.http[0].match[1].method.prefix", "cannot be empty"),
    (
        "spec.http[0].match[1].queryParams.beta",
        {"regex": "(on|yes"},
        f"{P}.http[0].match[1].queryParams.beta.regex",
        "a '(' is not closed",
    ),
    (
        "spec.http[0].match[1].queryParams.beta",
        {"regex": ""},
        f"{P}.http[0].match[1].queryParams.beta.regex",
        "cannot be empty",
    ),
    (
        "spec.http[0].match[1].queryParams.beta",
        {"regex": "a" * 1025},
        f"{P}.http[0].match[1].queryParams.beta.regex",
        "too large (1,025 characters, at most 1,024)",
    ),
    (
        "spec.http[0].match[1].queryParams.beta",
        None,
        f"{P}.http[0].match[1].queryParams.beta",
        "expected a mapping (got nothing)",
    ),
    (
        "spec.http[0].match[0].headers",
        {"end user": {"exact": "x"}},
        f"{P}.http[0].match[0].headers['end user']",
        "is not a valid header name",
    ),
    (
        "spec.http[0].match[0].headers",
        {"@request.auth.claims.group": {"exact": "a"}},
        f"{P}.http[0].match[0].headers['@request.auth.claims.group']",
        "only supported on gateways",
    ),
    ("spec.http[0].match[0].port", 70000, f"{P}.http[0].match[0].port", "port number 70000 must be in the range"),
    ("spec.http[1].retries.attempts", 0, f"{P}.http[1].retries.attempts", "is 0 (retries off), yet"),
    (
        "spec.http[1].retries.retryOn",
        "5xx,sometimes",
        f"{P}.http[1].retries.retryOn",
        "'sometimes' is not a valid retryOn policy",
    ),
    ("spec.http[1].retries.retryOn", "5xx,999", f"{P}.http[1].retries.retryOn", "'999' is not a valid retryOn policy"),
    ("spec.http[1].timeout", "1.5ms", f"{P}.http[1].timeout", "finer than a millisecond"),
    ("spec.http[1].timeout", "0s", f"{P}.http[1].timeout", "too short: a duration must be at least 1ms"),
    ("spec.http[1].timeout", "soon", f"{P}.http[1].timeout", "expected a duration such as '1s'"),
    ("spec.http[1].timeout", 5, f"{P}.http[1].timeout", "as a string (got 5)"),
    ("spec.http[1].route[0].weight", 0, f"{P}.http[1].route", None),  # see below: 0 + 25 is fine
    (
        "spec.exportTo",
        [".", "bookinfo"],
        f"{P}.exportTo[1]",
        "repeats exportTo[0] ('.' means this namespace, 'bookinfo')",
    ),
    ("spec.exportTo", ["*", "team-a"], f"{P}.exportTo[0]", "'*' cannot be combined with other exportTo entries"),
    ("spec.exportTo", ["~"], f"{P}.exportTo[0]", "'~' (no one) is allowed only for services and ServiceEntries"),
    ("spec.exportTo", ["Team_A"], f"{P}.exportTo[0]", "'Team_A' is not '.', '*', '~' or a namespace name"),
    ("spec.tcp", [{"match": [{"port": 27017}]}], f"{P}.tcp[0].route", "a TCP route needs at least one destination"),
    ("spec.tls", [{"route": [{"destination": {"host": "reviews"}}]}], f"{P}.tls[0].match", "needs at least one match"),
    (
        "spec.tls",
        [{"match": [], "route": [{"destination": {"host": "reviews"}}]}],
        f"{P}.tls[0].match",
        "needs at least one match",
    ),
    (
        "spec.tls",
        [{"match": [{"sniHosts": ["login.example.com"]}], "route": [{"destination": {"host": "reviews"}}]}],
        f"{P}.tls[0].match[0].sniHosts[0]",
        "is not within any of the VirtualService's hosts",
    ),
    ("kind", "DestinationRule", "objects[3].kind", "expected VirtualService (got 'DestinationRule')"),
    ("apiVersion", "networking.istio.io/v2", "objects[3].apiVersion", "is not one of networking.istio.io/v1,"),
    ("metadata.name", "Reviews Route", "objects[3].metadata.name", "is not a valid object name"),
    ("metadata.namespace", "Book_Info", "objects[3].metadata.namespace", "is not a valid name"),
    ("metadata", DELETE, "objects[3].metadata", "missing (this field is required)"),
    ("spec", None, "objects[3].spec", "expected a mapping (got nothing)"),
]


@pytest.mark.parametrize(
    ("field", "value", "path", "message"), VS_REFUSALS, ids=[r[2] + ":" + str(r[3])[:20] for r in VS_REFUSALS]
)
def test_virtual_service_rules(field: str, value: Any, path: str, message: str | None) -> None:
    data = edited(REVIEWS_VS, field, value)
    if message is None:  # a weight of 0 beside a positive one is valid (Envoy normalises)
        parse_virtual_service(data)
        return
    got_path, got_message = refusal(parse_virtual_service, data)
    assert got_path == path
    assert message in got_message


def test_weights_of_several_destinations_must_not_all_be_zero() -> None:
    data = edited(REVIEWS_VS, "spec.http[1].route[0].weight", 0)
    data["spec"]["http"][1]["route"][1]["weight"] = 0
    assert refusal(parse_virtual_service, data) == (
        f"{P}.http[1].route",
        "the destinations' weights add up to 0; give at least one a weight",
    )


def test_weights_need_not_add_up_to_100() -> None:
    # Istio's validation asks only for a positive total; Envoy's weighted clusters normalise it.
    data = edited(REVIEWS_VS, "spec.http[1].route[0].weight", 1)
    data["spec"]["http"][1]["route"][1]["weight"] = 2
    assert [d.weight for d in parse_virtual_service(data).value.spec.http[1].route] == [1, 2]


def test_a_delegate_virtual_service_has_no_gateways() -> None:
    data = edited(REVIEWS_VS, "spec.hosts", [])
    data["spec"]["gateways"] = ["istio-system/ingress"]
    assert refusal(parse_virtual_service, data)[0] == f"{P}.gateways"
    del data["spec"]["gateways"]
    assert parse_virtual_service(data).value.spec.hosts == ()  # a delegate is fine by itself


def test_a_gateway_bound_virtual_service_may_route_on_jwt_claims() -> None:
    data = edited(REVIEWS_VS, "spec.http[0].match[0].headers", {"@request.auth.claims.group": {"exact": "admin"}})
    data["spec"]["gateways"] = ["istio-system/ingress"]
    assert parse_virtual_service(data).value.spec.gateways == ("istio-system/ingress",)


def test_a_uri_prefix_may_be_empty() -> None:
    data = edited(REVIEWS_VS, "spec.http[0].match[0].uri", {"prefix": ""})
    assert parse_virtual_service(data).value.spec.http[0].match[0].uri is not None


def test_a_redirect_alone_is_an_action() -> None:
    data = edited(REVIEWS_VS, "spec.http[0].route", DELETE)
    data["spec"]["http"][0]["redirect"] = {"uri": "/v1/reviews"}
    parsed = parse_virtual_service(data, path="vs")
    assert parsed.value.spec.http[0].route == ()
    redirect = parsed.value.spec.http[0].redirect
    assert redirect is not None
    assert redirect.uri == "/v1/reviews"


P_DR = "objects[3].spec"
DR_REFUSALS = [
    ("spec.host", "", f"{P_DR}.host", "an empty host is not allowed"),
    ("spec.host", DELETE, f"{P_DR}.host", "missing (this field is required)"),
    ("spec.trafficPolicy", {}, f"{P_DR}.trafficPolicy", "a traffic policy must set at least one field"),
    ("spec.trafficPolicy.connectionPool", {}, f"{P_DR}.trafficPolicy.connectionPool", "must set tcp or http"),
    (
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
        -1,
        f"{P_DR}.trafficPolicy.connectionPool.tcp.maxConnections",
        "must be >= 0",
    ),
    (
        "spec.trafficPolicy.connectionPool.http.http2MaxRequests",
        2**31,
        f"{P_DR}.trafficPolicy.connectionPool.http.http2MaxRequests",
        "must be <= 2147483647",
    ),
    (
        "spec.trafficPolicy.connectionPool.http.idleTimeout",
        "1h1us",
        f"{P_DR}.trafficPolicy.connectionPool.http.idleTimeout",
        "finer than a millisecond",
    ),
    (
        "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
        101,
        f"{P_DR}.trafficPolicy.outlierDetection.maxEjectionPercent",
        "must be <= 100 (got 101)",
    ),
    (
        "spec.trafficPolicy.outlierDetection.consecutive5xxErrors",
        -1,
        f"{P_DR}.trafficPolicy.outlierDetection.consecutive5xxErrors",
        "must be >= 0",
    ),
    (
        "spec.trafficPolicy.outlierDetection.interval",
        "500us",
        f"{P_DR}.trafficPolicy.outlierDetection.interval",
        "too short",
    ),
    (
        "spec.trafficPolicy.loadBalancer",
        {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}},
        f"{P_DR}.trafficPolicy.loadBalancer",
        "sets both simple and consistentHash",
    ),
    (
        "spec.trafficPolicy.loadBalancer",
        {"simple": "ROUND_ROBN"},
        f"{P_DR}.trafficPolicy.loadBalancer.simple",
        "'ROUND_ROBN' is not one of UNSPECIFIED, LEAST_CONN",
    ),
    (
        "spec.trafficPolicy.loadBalancer",
        {"consistentHash": {"httpHeaderName": "x-user", "useSourceIp": True}},
        f"{P_DR}.trafficPolicy.loadBalancer.consistentHash",
        "sets both httpHeaderName and useSourceIp",
    ),
    (
        "spec.trafficPolicy.loadBalancer",
        {"consistentHash": {"httpCookie": {"name": ""}}},
        f"{P_DR}.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
        "needs a name",
    ),
    (
        "spec.trafficPolicy.loadBalancer",
        {"consistentHash": {"useSourceIp": True, "minimumRingSize": 1024, "maglev": {"tableSize": 65537}}},
        f"{P_DR}.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        "only one of",
    ),
    (
        "spec.trafficPolicy.tls",
        {"mode": "MUTUAL"},
        f"{P_DR}.trafficPolicy.tls.clientCertificate",
        "MUTUAL TLS needs clientCertificate and privateKey",
    ),
    (
        "spec.trafficPolicy.tls",
        {"mode": "SIMPLE", "credentialName": "c", "caCertificates": "/etc/ca.pem"},
        f"{P_DR}.trafficPolicy.tls.caCertificates",
        "cannot be set together with credentialName",
    ),
    (
        "spec.trafficPolicy.tls",
        {"mode": "SIMPLE", "insecureSkipVerify": True, "credentialName": "ca"},
        f"{P_DR}.trafficPolicy.tls.credentialName",
        "cannot be set when insecureSkipVerify is true",
    ),
    (
        "spec.trafficPolicy.tls",
        {"mode": "MUTUAL", "insecureSkipVerify": True, "credentialName": "c", "subjectAltNames": ["a.example"]},
        f"{P_DR}.trafficPolicy.tls.subjectAltNames",
        "cannot be set when insecureSkipVerify is true",
    ),
    (
        "spec.trafficPolicy.tls",
        {"mode": "STRICT"},
        f"{P_DR}.trafficPolicy.tls.mode",
        "'STRICT' is not one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL",
    ),
    (
        "spec.trafficPolicy.portLevelSettings",
        [{"loadBalancer": {"simple": "RANDOM"}}],
        f"{P_DR}.trafficPolicy.portLevelSettings[0].port",
        "missing",
    ),
    (
        "spec.trafficPolicy.portLevelSettings",
        [{"port": {"number": 80}}],
        f"{P_DR}.trafficPolicy.portLevelSettings[0]",
        "at least one field besides port",
    ),
    ("spec.subsets[2].name", "v1", f"{P_DR}.subsets[2].name", "duplicate subset name 'v1' (first at subsets[0])"),
    ("spec.subsets[0].name", "v1.0", f"{P_DR}.subsets[0].name", "'v1.0' is not a valid subset name"),
    ("spec.subsets[0].labels", {"bad key!": "x"}, f"{P_DR}.subsets[0].labels['bad key!']", "is not a valid label key"),
    (
        "spec.subsets[0].labels",
        {"version": "-v1"},
        f"{P_DR}.subsets[0].labels.version",
        "'-v1' is not a valid label value",
    ),
    ("spec.subsets[1].trafficPolicy", {}, f"{P_DR}.subsets[1].trafficPolicy", "must set at least one field"),
    (
        "spec.workloadSelector",
        {"matchLabels": {"app": "reviews"}},
        f"{P_DR}.exportTo",
        "can only be exported to its own namespace",
    ),
    (
        "spec.workloadSelector",
        {"matchLabels": {"app": "rev*"}},
        f"{P_DR}.workloadSelector.matchLabels.app",
        "a wildcard is not supported",
    ),
    (
        "spec.workloadSelector",
        {"matchLabels": {"": "x"}},
        f"{P_DR}.workloadSelector.matchLabels['']",
        "an empty key is not supported",
    ),
]


@pytest.mark.parametrize(
    ("field", "value", "path", "message"), DR_REFUSALS, ids=[r[2] + ":" + r[3][:20] for r in DR_REFUSALS]
)
def test_destination_rule_rules(field: str, value: Any, path: str, message: str) -> None:
    got_path, got_message = refusal(parse_destination_rule, edited(REVIEWS_DR, field, value))
    assert got_path == path
    assert message in got_message


def test_mutual_tls_with_a_credential_and_selector_rules_in_their_namespace_are_fine() -> None:
    data = edited(REVIEWS_DR, "spec.trafficPolicy.tls", {"mode": "MUTUAL", "credentialName": "client-cert"})
    data["spec"]["exportTo"] = ["."]
    data["spec"]["workloadSelector"] = {"matchLabels": {"app": "productpage"}}
    rule = parse_destination_rule(data).value
    assert rule.spec.workload_selector is not None
    assert rule.spec.workload_selector.match_labels == {"app": "productpage"}


P_SE = "objects[3].spec"
SE_REFUSALS = [
    (STATIC_SE, "spec.hosts", [], f"{P_SE}.hosts", "needs at least one host"),
    (STATIC_SE, "spec.hosts", ["*"], f"{P_SE}.hosts[0]", "'*' is not a valid ServiceEntry host"),
    (
        STATIC_SE,
        "spec.hosts",
        [f"h{i}.example.com" for i in range(257)],
        f"{P_SE}.hosts",
        "has 257 entries; at most 256 (the CRD's maxItems)",
    ),
    (STATIC_SE, "spec.addresses[0]", "10.0.0.0/33", f"{P_SE}.addresses[0]", "not a valid CIDR block"),
    (STATIC_SE, "spec.addresses[0]", "10.0.0.0/255.0.0.0", f"{P_SE}.addresses[0]", "not a valid CIDR block"),
    (STATIC_SE, "spec.addresses[1]", "2001:db8::zz", f"{P_SE}.addresses[1]", "is not an IP address or CIDR block"),
    (
        EXTERNAL_SE,
        "spec.addresses",
        ["10.1.0.0/16"],
        f"{P_SE}.addresses[0]",
        "CIDR addresses are allowed only for NONE and STATIC",
    ),
    (STATIC_SE, "spec.ports[0].number", 0, f"{P_SE}.ports[0].number", "port number 0 must be in the range 1..65535"),
    (STATIC_SE, "spec.ports[0].name", DELETE, f"{P_SE}.ports[0].name", "missing (this field is required)"),
    (STATIC_SE, "spec.ports[0].name", "mongo_db", f"{P_SE}.ports[0].name", "'mongo_db' is not a valid port name"),
    (STATIC_SE, "spec.ports[0].protocol", "FTP", f"{P_SE}.ports[0].protocol", "'FTP' is not a protocol Istio knows"),
    (STATIC_SE, "spec.ports[0].targetPort", 0, f"{P_SE}.ports[0].targetPort", "port number 0 must be in the range"),
    (
        STATIC_SE,
        "spec.ports",
        [{"number": 1, "name": "a"}, {"number": 1, "name": "b"}],
        f"{P_SE}.ports[1].number",
        "port 1 is already ports[0]'s",
    ),
    (
        STATIC_SE,
        "spec.resolution",
        "DNS_ROUND",
        f"{P_SE}.resolution",
        "'DNS_ROUND' is not one of NONE, STATIC, DNS, DNS_ROUND_ROBIN",
    ),
    (STATIC_SE, "spec.resolution", "DYNAMIC_DNS", f"{P_SE}.resolution", "dsim does not model yet"),
    (STATIC_SE, "spec.resolution", "NONE", f"{P_SE}.endpoints", "resolution NONE cannot have endpoints"),
    (
        EXTERNAL_SE,
        "spec.hosts",
        ["*.googleapis.com"],
        f"{P_SE}.hosts[0]",
        "with DNS resolution and no endpoints, hosts must be FQDNs",
    ),
    (
        STATIC_SE,
        "spec.endpoints[0].address",
        "mongo.example.com",
        f"{P_SE}.endpoints[0].address",
        "is not an IP address (STATIC resolution)",
    ),
    (STATIC_SE, "spec.endpoints[0].address", DELETE, f"{P_SE}.endpoints[0].address", "an endpoint needs an address"),
    (
        STATIC_SE,
        "spec.endpoints[1].ports",
        {"http": 8080},
        f"{P_SE}.endpoints[1].ports.http",
        "'http' is not a port name of this ServiceEntry (mongodb)",
    ),
    (
        STATIC_SE,
        "spec.endpoints[1].ports",
        {"mongodb": 0},
        f"{P_SE}.endpoints[1].ports.mongodb",
        "port number 0 must be in the range",
    ),
    (
        STATIC_SE,
        "spec.endpoints[0].labels",
        {"version": "v1!"},
        f"{P_SE}.endpoints[0].labels.version",
        "is not a valid label value",
    ),
    (STATIC_SE, "spec.endpoints[0].weight", 2**32, f"{P_SE}.endpoints[0].weight", "must be <= 4294967295"),
    (
        STATIC_SE,
        "spec.workloadSelector",
        {"labels": {"app": "mongo"}},
        f"{P_SE}.endpoints",
        "only one of workloadSelector or endpoints",
    ),
    (
        EXTERNAL_SE,
        "spec.ports[0].protocol",
        "TCP",
        f"{P_SE}.ports[0].protocol",
        "needs HTTP or TLS ports to tell them apart",
    ),
    (
        STATIC_SE,
        "spec.location",
        "EXTERNAL",
        f"{P_SE}.location",
        "'EXTERNAL' is not one of MESH_EXTERNAL, MESH_INTERNAL",
    ),
    (
        STATIC_SE,
        "spec.exportTo",
        ["~", "data"],
        f"{P_SE}.exportTo[0]",
        "'~' cannot be combined with other exportTo entries",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "value", "path", "message"), SE_REFUSALS, ids=[r[3] + ":" + r[4][:20] for r in SE_REFUSALS]
)
def test_service_entry_rules(text: str, field: str, value: Any, path: str, message: str) -> None:
    got_path, got_message = refusal(parse_service_entry, edited(text, field, value))
    assert got_path == path
    assert message in got_message


def test_dns_round_robin_has_at_most_one_endpoint() -> None:
    data = edited(STATIC_SE, "spec.resolution", "DNS_ROUND_ROBIN")
    del data["spec"]["addresses"]  # CIDRs are for NONE and STATIC only
    assert refusal(parse_service_entry, data) == (
        f"{P_SE}.endpoints",
        "DNS_ROUND_ROBIN allows at most 1 endpoint (got 2)",
    )


def test_service_entry_resolutions_istio_allows() -> None:
    # STATIC needs neither endpoints nor a selector, and NONE needs no addresses (Istio only warns).
    for resolution in ("STATIC", "NONE"):
        data = edited(STATIC_SE, "spec.endpoints", DELETE)
        data["spec"]["resolution"] = resolution
        del data["spec"]["addresses"]
        assert parse_service_entry(data).value.spec.endpoints == ()
    # DNS endpoints may be hostnames; a unix socket is a STATIC endpoint of a one-port entry.
    dns = edited(EXTERNAL_SE, "spec.endpoints", [{"address": "us.api.example.com"}])
    assert parse_service_entry(dns).value.spec.endpoints[0].address == "us.api.example.com"
    uds = edited(STATIC_SE, "spec.endpoints", [{"address": "unix:///var/run/mongo.sock"}])
    assert parse_service_entry(uds).value.spec.endpoints[0].address == "unix:///var/run/mongo.sock"
    assert refusal(parse_service_entry, edited(STATIC_SE, "spec.endpoints", [{"address": "unix://run/x.sock"}]))[0] == (
        f"{P_SE}.endpoints[0].address"
    )


P_SC = "objects[3].spec"
SC_REFUSALS = [
    (ROOT_SIDECAR, "spec", {}, P_SC, "an empty Sidecar"),
    (ROOT_SIDECAR, "spec.inboundConnectionPool", {}, f"{P_SC}.inboundConnectionPool", "must set tcp or http"),
    (
        SELECTOR_SIDECAR,
        "spec.ingress[0].connectionPool",
        {"tcp": {"maxConnections": -1}},
        f"{P_SC}.ingress[0].connectionPool.tcp.maxConnections",
        "-1",
    ),
    (SELECTOR_SIDECAR, "spec.ingress[0].connectionPool", {}, f"{P_SC}.ingress[0].connectionPool", "must set tcp"),
    (
        ROOT_SIDECAR,
        "spec.egress[0].hosts[0]",
        "bookinfo",
        f"{P_SC}.egress[0].hosts[0]",
        "must be of the form <namespace>/<dnsName>",
    ),
    (
        ROOT_SIDECAR,
        "spec.egress[0].hosts[0]",
        "book_info/*",
        f"{P_SC}.egress[0].hosts[0]",
        "'book_info' is not a namespace",
    ),
    (ROOT_SIDECAR, "spec.egress[0].hosts[0]", "./reviews", f"{P_SC}.egress[0].hosts[0]", "short names are not allowed"),
    (ROOT_SIDECAR, "spec.egress[0].hosts[0]", "./*reviews.com", f"{P_SC}.egress[0].hosts[0]", "partial wildcard"),
    (ROOT_SIDECAR, "spec.egress[0].hosts[0]", "/*", f"{P_SC}.egress[0].hosts[0]", "cannot be empty"),
    (ROOT_SIDECAR, "spec.egress[0].hosts", [], f"{P_SC}.egress[0].hosts", "needs at least one host"),
    (ROOT_SIDECAR, "spec.egress[0].hosts", DELETE, f"{P_SC}.egress[0].hosts", "needs at least one host"),
    (SELECTOR_SIDECAR, "spec.egress[0].port.number", 0, f"{P_SC}.egress[0].bind", "must bind a unix socket"),
    (
        SELECTOR_SIDECAR,
        "spec.egress[1].bind",
        "unix://relative.sock",
        f"{P_SC}.egress[1].bind",
        "is not an absolute path",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[1].captureMode",
        "IPTABLES",
        f"{P_SC}.egress[1].captureMode",
        "must be DEFAULT or NONE",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[0].bind",
        "localhost",
        f"{P_SC}.egress[0].bind",
        "'localhost' is not an IP address",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[0].port.number",
        70000,
        f"{P_SC}.egress[0].port.number",
        "must be in the range 1..65535",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[0].port.targetPort",
        8080,
        f"{P_SC}.egress[0].port.targetPort",
        "has no effect on Sidecars",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[0].port.protocol",
        "SMTP",
        f"{P_SC}.egress[0].port.protocol",
        "not a protocol Istio knows",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.egress[0].captureMode",
        "TPROXY",
        f"{P_SC}.egress[0].captureMode",
        "'TPROXY' is not one of DEFAULT, IPTABLES, NONE",
    ),
    (SELECTOR_SIDECAR, "spec.ingress[0].port", DELETE, f"{P_SC}.ingress[0].port", "missing (this field is required)"),
    (
        SELECTOR_SIDECAR,
        "spec.ingress[0].defaultEndpoint",
        "10.0.0.1:8080",
        f"{P_SC}.ingress[0].defaultEndpoint",
        "expected 127.0.0.1:<port>",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.ingress[0].defaultEndpoint",
        "127.0.0.1:http",
        f"{P_SC}.ingress[0].defaultEndpoint",
        "the port is not a number",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.ingress[0].port.name",
        "Some_Name",
        f"{P_SC}.ingress[0].port.name",
        "not a valid port name",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.workloadSelector.labels",
        {"app": "rat*"},
        f"{P_SC}.workloadSelector.labels.app",
        "a wildcard is not supported",
    ),
    (
        SELECTOR_SIDECAR,
        "spec.workloadSelector.labels",
        {"": "x"},
        f"{P_SC}.workloadSelector.labels['']",
        "an empty key",
    ),
    (
        ROOT_SIDECAR,
        "spec.outboundTrafficPolicy.mode",
        "ALLOW_ANY_DYNAMIC_DNS",
        f"{P_SC}.outboundTrafficPolicy.mode",
        "is not one of REGISTRY_ONLY, ALLOW_ANY",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "value", "path", "message"), SC_REFUSALS, ids=[r[3] + ":" + str(r[4])[:20] for r in SC_REFUSALS]
)
def test_sidecar_rules(text: str, field: str, value: Any, path: str, message: str | None) -> None:
    got_path, got_message = refusal(parse_sidecar, edited(text, field, value))
    assert got_path == path
    assert message is None or message in got_message


def test_the_catch_all_egress_listener_must_be_last() -> None:
    data = edited(SELECTOR_SIDECAR, "spec.egress[0].port", DELETE)
    assert refusal(parse_sidecar, data) == (
        f"{P_SC}.egress[0]",
        "the egress listener without a port (the catch-all) must be the last one",
    )


def test_egress_ports_are_unique() -> None:
    data = edited(SELECTOR_SIDECAR, "spec.egress[2].port", {"number": 9080})
    assert refusal(parse_sidecar, data)[0] == f"{P_SC}.egress[2].port.number"


@pytest.mark.parametrize("host", ["~/*", "~team-a/*", "*/*", "./*", "team-a/*.svc.cluster.local", "*/api.example.com."])
def test_sidecar_egress_hosts_in_every_form_istio_takes(host: str) -> None:
    data = edited(ROOT_SIDECAR, "spec.egress[0].hosts", [host])
    assert parse_sidecar(data).value.spec.egress[0].hosts == (host,)


# --- unknown fields and unmodelled ones --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parse", "field", "path", "suggestion"),
    [
        (REVIEWS_VS, parse_virtual_service, "spec.http[1].rout", f"{P}.http[1].rout", "route"),
        (
            REVIEWS_VS,
            parse_virtual_service,
            "spec.http[1].retries.perTryTimout",
            f"{P}.http[1].retries.perTryTimout",
            "perTryTimeout",
        ),
        (REVIEWS_VS, parse_virtual_service, "spec.host", f"{P}.host", "hosts"),
        (REVIEWS_VS, parse_virtual_service, "spek", "objects[3].spek", "spec"),
        (
            REVIEWS_DR,
            parse_destination_rule,
            "spec.trafficPolicy.outlierDetection.consecutive5xxError",
            f"{P_DR}.trafficPolicy.outlierDetection.consecutive5xxError",
            "consecutive5xxErrors",
        ),
        (REVIEWS_DR, parse_destination_rule, "spec.subsets[0].label", f"{P_DR}.subsets[0].label", "labels"),
        (EXTERNAL_SE, parse_service_entry, "spec.resolutions", f"{P_SE}.resolutions", "resolution"),
        (ROOT_SIDECAR, parse_sidecar, "spec.egress[0].host", f"{P_SC}.egress[0].host", "hosts"),
        (ROOT_SIDECAR, parse_sidecar, "metadata.nam", "objects[3].metadata.nam", "name"),
    ],
)
def test_unknown_fields_are_refused_with_a_suggestion(
    text: str, parse: Callable[..., Any], field: str, path: str, suggestion: str
) -> None:
    got_path, message = refusal(parse, edited(text, field, 1))
    assert got_path == path
    assert message.startswith(f"unknown key; did you mean {suggestion!r}?")


def test_snake_case_is_not_istios_spelling() -> None:
    data = edited(REVIEWS_VS, "spec.export_to", ["."])
    path, message = refusal(parse_virtual_service, data)
    assert (path, message.split(" (")[0]) == (f"{P}.export_to", "unknown key; did you mean 'exportTo'?")


def test_a_non_string_key_is_refused_by_its_place() -> None:
    data = load(REVIEWS_VS)
    data["spec"][7] = "x"
    assert refusal(parse_virtual_service, data)[0] == f"{P}.7"
    data["spec"] = {None: 1}
    assert refusal(parse_virtual_service, data)[0] == f"{P}[None]"


UNMODELLED_VS = """
name: ratings
namespace: bookinfo
spec:
  hosts: [ratings]
  http:
  - match:
    - uri: {prefix: /ratings}
      sourceLabels: {app: reviews}
      authority: {exact: ratings}
    fault:
      delay: {percentage: {value: 0.1}, fixedDelay: 5s}
      abort: {percentage: {value: 0.1}, httpStatus: 400}
    mirror: {host: ratings-shadow}
    mirrorPercentage: {value: 50.0}
    corsPolicy: {allowOrigins: [{exact: "https://example.com"}], maxAge: 24h}
    retries: {attempts: 2, backoff: 25ms, retryRemoteLocalities: true}
    headers:
      request: {set: {x-env: prod}}
    rewrite: {uri: /v1/ratings}
    route:
    - destination: {host: ratings, subset: v1}
      headers:
        response: {remove: [foo]}
  tcp:
  - match: [{destinationSubnets: [10.0.0.0/8], sourceSubnet: 10.1.0.0/16}]
    route:
    - destination: {host: ratings}
"""


def test_real_fields_dsim_does_not_model_are_accepted_and_listed() -> None:
    parsed = parse_virtual_service(load(UNMODELLED_VS), source=SOURCE, path="virtual_services[9]")
    tcp = "virtual_services[9].spec.tcp[0].match[0]"
    assert {path for path, _ in parsed.ignored} == {f"{tcp}.destinationSubnets", f"{tcp}.sourceSubnet"}
    reasons = dict(parsed.ignored)
    assert reasons[f"{tcp}.sourceSubnet"].startswith("an L4 match on source IPs")
    # What is modelled is still read: the match's source labels, the mirror, the rewrite.
    assert parsed.value.spec.http[0].route[0].destination.subset == "v1"
    assert parsed.value.spec.http[0].mirror is not None
    assert parsed.value.spec.http[0].match[0].source_labels == {"app": "reviews"}


def test_unmodelled_fields_of_each_kind_are_listed() -> None:
    failover = {
        "enabled": False,
        "failover": [{"from": "us-east", "to": "us-west"}],
        "failoverPriority": ["topology.istio.io/network"],
    }
    rule = edited(REVIEWS_DR, "spec.trafficPolicy.loadBalancer.localityLbSetting", failover)
    rule["spec"]["trafficPolicy"]["outlierDetection"]["splitExternalLocalOriginErrors"] = True
    parsed_rule = parse_destination_rule(rule)
    assert {p for p, _ in parsed_rule.ignored} == {
        "spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
    }
    policy = parsed_rule.value.spec.traffic_policy
    assert policy is not None
    assert policy.load_balancer is not None
    setting = policy.load_balancer.locality_lb_setting
    assert setting is not None
    assert setting.enabled is False  # read: it turns failover off
    assert [(f.source, f.target) for f in setting.failover] == [("us-east", "us-west")]  # read too
    entry = parse_service_entry(edited(STATIC_SE, "spec.endpoints[0].serviceAccount", "mongo"))
    assert not entry.ignored  # every ServiceEntry field is read: an endpoint's account is an identity
    assert entry.value.spec.endpoints[0].service_account == "mongo"
    pool = {"tcp": {"maxConnections": 10, "tcpKeepalive": {"probes": 3}}}
    sidecar = edited(SELECTOR_SIDECAR, "spec.inboundConnectionPool", pool)
    sidecar["spec"]["ingress"][0]["tls"] = {"mode": "SIMPLE"}
    parsed = parse_sidecar(sidecar)
    assert {p for p, _ in parsed.ignored} == {"spec.ingress[0].tls"}
    pool = parsed.value.spec.inbound_connection_pool
    assert pool is not None
    assert pool.tcp is not None
    assert pool.tcp.tcp_keepalive is not None  # read, and built
    assert pool.tcp.tcp_keepalive.probes == 3
    # a Sidecar holding only an inbound connection pool is not empty
    only_pool = {
        "name": "pool",
        "namespace": "prod-us1",
        "spec": {"inboundConnectionPool": {"tcp": {"maxConnections": 3}}},
    }
    assert parse_sidecar(only_pool).value.spec.inbound_connection_pool is not None


def test_a_policy_made_only_of_unmodelled_fields_is_not_empty() -> None:
    rule = edited(REVIEWS_DR, "spec.trafficPolicy", {"tunnel": {"targetHost": "proxy", "targetPort": 8080}})
    assert parse_destination_rule(rule).value.spec.traffic_policy is not None


def test_an_unmodelled_field_is_not_read_however_deep() -> None:
    deep: Any = "leaf"
    for _ in range(50_000):
        deep = [deep]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    data = edited(UNMODELLED_VS, "spec.tcp[0].match[0].destinationSubnets", deep)
    data["spec"]["tcp"][0]["match"][0]["sourceSubnet"] = cyclic
    assert len(parse_virtual_service(data).ignored) == 2  # the two subnet matches dsim leaves out


# --- durations, exportTo of services, dispatch -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1s", 1000),
        ("0.5s", 500),
        ("100ms", 100),
        ("1m", 60_000),
        ("1h", 3_600_000),
        ("1h30m", 5_400_000),
        (".25s", 250),
        ("1.s", 1000),
        ("2000us", 2),
        ("1000000ns", 1),
        ("+3s", 3000),
        ("10µs10ms9990us", 20),
    ],
)
def test_durations_in_istios_form(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected a duration"),
        ("1", "expected a duration"),
        ("1d", "expected a duration"),
        ("s", "expected a duration"),
        ("-1s", "too short"),
        ("0", "too short"),
        ("1.0001s", "finer than a millisecond"),
        ("1 s", "expected a duration"),
        ("١s", "expected a duration"),
        ("9" * 30 + "h", "longer than a duration can be"),
        ("1" * 70 + "s", "expected a duration"),
    ],
)
def test_durations_istio_refuses(text: str, problem: str) -> None:
    result = parse_duration_ms(text)
    assert isinstance(result, str)
    assert problem in result


def test_a_zero_ttl_is_a_session_cookie() -> None:
    assert parse_duration_ms("0s", allow_zero=True) == 0


def test_service_export_to_takes_a_list_or_the_annotation_text() -> None:
    assert parse_service_export_to([".", "team-b"], namespace="team-a") == (".", "team-b")
    assert parse_service_export_to(".,team-b", namespace="team-a") == (".", "team-b")
    assert parse_service_export_to(["~"], namespace="team-a") == ("~",)
    for raw, path in [
        ([".", "team-a"], "services[0].export_to[1]"),
        (["*", "~"], "services[0].export_to[0]"),
        ([3], "services[0].export_to[0]"),
        ({"a": 1}, "services[0].export_to"),
    ]:
        with pytest.raises(ScenarioError) as caught:
            parse_service_export_to(raw, namespace="team-a", source=SOURCE, path="services[0].export_to")
        assert caught.value.path == path


def test_parse_istio_object_dispatches_by_kind() -> None:
    assert parse_istio_object(load(REVIEWS_DR)).value.KIND == "DestinationRule"
    with pytest.raises(ScenarioError, match=r"objects\[0\]\.kind: expected one of VirtualService, DestinationRule"):
        parse_istio_object({"kind": "Gateway"}, source=SOURCE, path="objects[0]")


# --- generators --------------------------------------------------------------------------------

NAMES = [f"svc-{i:03d}" for i in range(60)]
NAMESPACES = [f"team-{i % 4}" for i in range(60)]
RICH = {
    "virtual_services": {
        "share": 0.5,
        "routes": 4,
        "matches_per_route": 3,
        "destinations": 3,
        "hosts": 3,
        "match_kinds": {"uri_prefix": 2, "uri_exact": 1, "uri_regex": 1, "header": 1},
        "timeout_s": 2.5,
        "retry_attempts": 2,
    },
    "destination_rules": {
        "share": 0.4,
        "subsets": 3,
        "connection_pool": 0.5,
        "outlier_detection": 0.5,
        "tls_mode": "ISTIO_MUTUAL",
        "load_balancer": "LEAST_REQUEST",
    },
    "service_entries": {
        "count": 40,
        "resolution": {"none": 1, "static": 1, "dns": 1, "dns_round_robin": 1},
        "hosts_per_entry": 3,
        "addresses_per_entry": 2,
        "endpoints_per_entry": 4,
        "families": {"ipv4": 1, "ipv6": 1, "dual": 1},
    },
    "sidecars": {"per_namespace": True, "outbound_traffic_policy": "REGISTRY_ONLY"},
}
CALLS = {
    "team-0": {"team-1", "team-0", "api.example.com"},
    "team-2": {"istio-system/*", "team-3/svc-001.team-3.svc.cluster.local"},
}


def generated(seed: int = 11, raw: dict[str, Any] | None = None) -> Any:
    params = parse_generator_params(copy.deepcopy(raw if raw is not None else RICH))
    return generate_istio_objects(NAMES, NAMESPACES, CALLS, params, seed)


def test_generators_are_deterministic_per_seed() -> None:
    assert generated(11) == generated(11)
    first, other = generated(11), generated(12)
    assert first.virtual_services != other.virtual_services
    assert first.service_entries != other.service_entries


def test_each_kind_draws_from_its_own_stream() -> None:
    changed = copy.deepcopy(RICH)
    changed["service_entries"]["count"] = 3
    assert generated(raw=changed).virtual_services == generated().virtual_services


def test_every_generated_object_passes_istios_validation() -> None:
    objects = generated()
    for kind in objects:
        for obj in kind:
            parsed = parse_istio_object(as_kubernetes_object(obj), source="generated")
            assert parsed.value == obj
            assert parsed.ignored == ()


def test_generated_virtual_services_stay_within_their_parameters() -> None:
    objects = generated()
    assert len(objects.virtual_services) == 30
    with_subsets = {(r.name, r.namespace) for r in objects.destination_rules}
    for vs in objects.virtual_services:
        assert len(vs.spec.hosts) == 3
        assert vs.spec.hosts[0] == f"{vs.name}.{vs.namespace}.svc.cluster.local"
        assert len(vs.spec.http) == 4
        assert [len(r.match) for r in vs.spec.http] == [3, 3, 3, 0]  # the last route is the default
        for route in vs.spec.http:
            assert route.timeout == 2500
            assert route.retries is not None
            assert route.retries.attempts == 2
            assert 1 <= len(route.route) <= 3
            if (vs.name, vs.namespace) in with_subsets:
                assert len(route.route) == 3
                assert sum(d.weight for d in route.route) == 100
                assert all(d.weight >= 1 and d.destination.subset in ("v1", "v2", "v3") for d in route.route)
            else:
                assert len(route.route) == 1
                assert route.route[0].destination.subset is None


def test_generated_destination_rules_stay_within_their_parameters() -> None:
    rules = generated().destination_rules
    assert len(rules) == 24
    assert all([s.name for s in r.spec.subsets] == ["v1", "v2", "v3"] for r in rules)
    policies = [r.spec.traffic_policy for r in rules]
    assert all(p is not None and p.tls is not None and p.tls.mode == "ISTIO_MUTUAL" for p in policies)
    pools = sum(p is not None and p.connection_pool is not None for p in policies)
    assert 0 < pools < len(rules)  # about half, drawn


def test_generated_service_entries_stay_within_their_parameters() -> None:
    entries = generated().service_entries
    assert len(entries) == 40
    assert {e.namespace for e in entries} == set(NAMESPACES)
    assert {e.spec.resolution for e in entries} == {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"}
    families = set()
    for entry in entries:
        spec = entry.spec
        assert len(spec.hosts) == 3
        versions = {4 if ":" not in a else 6 for a in spec.addresses}
        families.add(frozenset(versions))
        assert len(spec.addresses) == 2 * len(versions)
        expected = {"NONE": 0, "DNS_ROUND_ROBIN": 1}.get(spec.resolution, 4)
        assert len(spec.endpoints) == expected
        assert spec.ports[0].protocol in ("HTTP", "TLS")  # several hosts need HTTP or TLS
    assert families == {frozenset({4}), frozenset({6}), frozenset({4, 6})}
    addresses = [a for e in entries for a in e.spec.addresses]
    assert len(addresses) == len(set(addresses))


def test_generated_sidecars_follow_the_call_graph() -> None:
    sidecars = {s.namespace: s for s in generated().sidecars}
    assert sorted(sidecars) == ["team-0", "team-1", "team-2", "team-3"]
    assert sidecars["team-0"].spec.egress[0].hosts == ("*/api.example.com", "./*", "istio-system/*", "team-1/*")
    assert sidecars["team-2"].spec.egress[0].hosts == (
        "./*",
        "istio-system/*",
        "team-3/svc-001.team-3.svc.cluster.local",
    )
    assert sidecars["team-3"].spec.egress[0].hosts == ("./*", "istio-system/*")
    policy = sidecars["team-1"].spec.outbound_traffic_policy
    assert policy is not None
    assert policy.mode == "REGISTRY_ONLY"


def test_a_bad_call_is_refused_with_its_namespace() -> None:
    with pytest.raises(ScenarioError) as caught:
        generate_sidecars(["a"], {"a": {"Not_A_Namespace"}}, SidecarGen(per_namespace=True), source="graph.json")
    assert caught.value.path == "calls.a"


def test_each_generator_stands_alone() -> None:
    rng = np.random.default_rng(3)
    rules = generate_destination_rules(NAMES, NAMESPACES, DestinationRuleGen(share=1.0, subsets=0), rng)
    assert len(rules) == 60
    assert all(r.spec.subsets == () and r.spec.traffic_policy is None for r in rules)
    services = generate_virtual_services(
        NAMES[:5], NAMESPACES[:5], VirtualServiceGen(share=1.0), rng, subsets={0: ("a", "b")}
    )
    assert services[0].spec.http[0].route[0].destination.subset == "a"
    assert generate_service_entries([], ServiceEntryGen(count=5), rng) == ()
    assert generate_sidecars(["a"], {}, SidecarGen()) == ()
    assert generate_virtual_services([], [], VirtualServiceGen(share=1.0), rng) == ()


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"virtual_services": {"share": 1.5}}, "istio_objects.virtual_services.share", "must be <= 1 (got 1.5)"),
        ({"virtual_service": {}}, "istio_objects.virtual_service", "did you mean 'virtual_services'?"),
        (
            {"virtual_services": {"share": 0.1, "routes": 2, "match_kinds": {"uri_prefix": 0}}},
            "istio_objects.virtual_services.match_kinds",
            "the weights add up to 0",
        ),
        ({"virtual_services": {"routes": 0}}, "istio_objects.virtual_services.routes", "must be >= 1"),
        ({"virtual_services": {"destinations": 101}}, "istio_objects.virtual_services.destinations", "must be <= 100"),
        ({"destination_rules": {"tls_mode": "STRICT"}}, "istio_objects.destination_rules.tls_mode", "is not one of"),
        (
            {"service_entries": {"count": 5, "resolution": {"static": 0, "dns": 0}}},
            "istio_objects.service_entries.resolution",
            "add up to 0",
        ),
        (
            {"service_entries": {"count": 5, "hosts_per_entry": 2, "protocols": {"tcp": 1}}},
            "istio_objects.service_entries.protocols.tcp",
            "TCP ports cannot tell 2 hosts apart",
        ),
        (
            {"service_entries": {"count": 1_000_000, "addresses_per_entry": 100}},
            "istio_objects.service_entries.addresses_per_entry",
            "the generated address block holds",
        ),
        (
            {"service_entries": {"count": 10, "families": {"ipv4": math.nan}}},
            "istio_objects.service_entries.families.ipv4",
            "expected a finite number",
        ),
        ({"service_entries": {"count": 10**20}}, "istio_objects.service_entries.count", "the 64-bit limit"),
        (
            {"sidecars": {"extra_hosts": ["istio-system"]}},
            "istio_objects.sidecars.extra_hosts[0]",
            "must be of the form",
        ),
    ],
)
def test_generator_parameters_are_validated(raw: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_generator_params(raw, source=SOURCE)
    assert caught.value.path == path
    assert message in caught.value.message


def test_tcp_entries_with_several_hosts_are_fine_when_resolution_is_none() -> None:
    raw = {
        "service_entries": {
            "count": 5,
            "hosts_per_entry": 2,
            "protocols": {"tcp": 1, "http": 0, "tls": 0},
            "resolution": {"none": 1, "static": 0, "dns": 0},
        }
    }
    entries = generate_service_entries(["a"], parse_generator_params(raw).service_entries, np.random.default_rng(0))
    assert all(e.spec.resolution == "NONE" and e.spec.ports[0].protocol == "TCP" for e in entries)
    for entry in entries:
        parse_istio_object(as_kubernetes_object(entry))


# --- hostile input -----------------------------------------------------------------------------

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "*", ".", "~", "0s", "1s", "a/b", "./*", "1.2.3.4/24", "::1", "unix://", "HTTP", "x" * 3000]),
    st.binary(max_size=5),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=12,
)
BASES = [
    (parse_virtual_service, REVIEWS_VS),
    (parse_virtual_service, UNMODELLED_VS),
    (parse_destination_rule, REVIEWS_DR),
    (parse_service_entry, EXTERNAL_SE),
    (parse_service_entry, STATIC_SE),
    (parse_sidecar, ROOT_SIDECAR),
    (parse_sidecar, SELECTOR_SIDECAR),
]


def scenario_error_of(call: Callable[[], Any]) -> ScenarioError | None:
    """The ScenarioError ``call`` raises, or None; anything else propagates and fails the test."""
    try:
        call()
    except ScenarioError as e:
        return e
    return None


def _places(node: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a parsed object a value sits, as a trail of keys and indices."""
    places = [trail] if trail else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        places += _places(child, (*trail, key))
    return places


def _replace(data: Any, trail: tuple[Any, ...], value: Any) -> None:
    for key in trail[:-1]:
        data = data[key]
    data[trail[-1]] = value


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), where=st.integers(min_value=0), value=VALUES, new_key=st.booleans())
def test_a_value_anywhere_is_accepted_or_a_scenario_error(
    base: tuple[Callable[..., Any], str], where: int, value: Any, new_key: bool
) -> None:
    parse, text = base
    data = load(text)
    places = _places(data)
    trail = places[where % len(places)]
    if new_key:  # a key of a hostile kind beside the existing ones
        parent = data
        for key in trail[:-1]:
            parent = parent[key]
        if isinstance(parent, dict):
            parent[value if isinstance(value, str | int | bool | None | float) else "k"] = value
    else:
        _replace(data, trail, value)
    error = scenario_error_of(lambda: parse(data, source=SOURCE, path="x"))
    if error is not None:  # one short line, whatever the value
        assert "\n" not in str(error)
        assert len(error.message) < 1_000


@settings(max_examples=150, deadline=None, database=None)
@given(raw=VALUES, parse=st.sampled_from([*PARSERS.values(), parse_istio_object, parse_generator_params]))
def test_any_whole_value_is_accepted_or_a_scenario_error(raw: Any, parse: Callable[..., Any]) -> None:
    scenario_error_of(lambda: parse(raw, source=SOURCE))


@settings(max_examples=150, deadline=None, database=None)
@given(
    section=st.sampled_from(list(RICH)),
    key=st.sampled_from(sorted({k for v in RICH.values() for k in v})),
    value=VALUES,
)
def test_hostile_generator_parameters_are_a_scenario_error_or_generate(section: str, key: str, value: Any) -> None:
    raw = copy.deepcopy(RICH)
    raw[section][key] = value
    try:
        params = parse_generator_params(raw)
    except ScenarioError:
        return
    vs, se = params.virtual_services, params.service_entries
    assume(vs.routes * max(vs.matches_per_route, 1) <= 10_000)  # valid but slow sizes prove nothing here
    assume(se.count * (se.hosts_per_entry + se.addresses_per_entry + se.endpoints_per_entry) <= 100_000)
    generate_istio_objects(NAMES[:8], NAMESPACES[:8], CALLS, params, 1)


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("spec.hosts", f"{P}.hosts"),
        ("spec.http", f"{P}.http"),
        ("spec.http[0].match[0].headers", f"{P}.http[0].match[0].headers"),
    ],
)
def test_huge_lists_are_refused_before_they_are_read(field: str, path: str) -> None:
    huge: Any = (
        {f"h{i}": {"exact": "x"} for i in range(200_000)} if "headers" in field else ["a.example.com"] * 3_000_000
    )
    start = time.perf_counter()
    got_path, message = refusal(parse_virtual_service, edited(REVIEWS_VS, field, huge))
    assert got_path == path
    assert "at most 10,000" in message
    assert time.perf_counter() - start < 2


def test_thousands_of_overlapping_hosts_are_checked_quickly() -> None:
    hosts = [f"*.h{i}.example.com" for i in range(9_999)]
    data = edited(REVIEWS_VS, "spec.hosts", hosts)
    start = time.perf_counter()
    parse_virtual_service(data)
    hosts.append("x.h9998.example.com")
    assert refusal(parse_virtual_service, edited(REVIEWS_VS, "spec.hosts", hosts))[0] == f"{P}.hosts[9999]"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spec.http[1].route[0].weight", math.nan, "expected a whole number (got nan)"),
        ("spec.http[1].route[0].weight", 10**40, "the 64-bit limit"),
        ("spec.http[1].route[0].weight", True, "expected a whole number (got True)"),
        ("spec.hosts[0]", b"reviews", "expected a string (got b'reviews')"),
        ("spec.hosts[0]", "r" * 2_000_000, "(2,000,000 characters"),
        ("spec.http[1].timeout", "1" * 1_000_000 + "s", "expected a duration"),
        ("spec.http[0].match[1].queryParams", {3: {"exact": "x"}}, "expected a string (got 3)"),
    ],
)
def test_odd_values_are_named_in_one_short_line(field: str, value: Any, message: str) -> None:
    _path, got = refusal(parse_virtual_service, edited(REVIEWS_VS, field, value))
    assert message in got
    assert len(got) < 400
