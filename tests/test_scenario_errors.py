"""Every kind of bad scenario input gets one exact message: file, field path, bad value, what is allowed."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dsim import ScenarioError, load_scenario
from dsim.designs import design_names

BASE: dict[str, Any] = {
    "namespaces": [{"name": "default"}, {"name": "dual-stack"}],
    "services": [
        {
            "name": "web",
            "namespace": "default",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"name": "http", "port": 80}],
        },
        {"name": "db", "namespace": "dual-stack", "ports": [{"name": "tcp", "port": 5432}]},
    ],
    "workloads": [{"name": "web", "namespace": "default", "replicas": 2}],
}


def variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def message_for(path: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value).removeprefix(f"{path}: ")


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "service port name Kubernetes refuses",
        lambda d: d["services"][0]["ports"][0].update(name="HTTP_Weird!"),
        "services[0].ports[0].name: 'HTTP_Weird!' is not a valid name (lowercase letters, digits and '-', "
        "starting with a letter or digit and ending with a letter or digit, at most 63 characters)",
    ),
    (
        "service name starting with a digit",
        lambda d: d["services"][1].update(name="12"),
        "services[1].name: '12' is not a valid name (lowercase letters, digits and '-', starting with a "
        "letter and ending with a letter or digit, at most 63 characters)",
    ),
    (
        "empty service selector",
        lambda d: d["services"][0].update(selector={}),
        "services[0].selector: {} is no selector in Kubernetes (the Service's endpoints are then written by "
        "hand: list them under endpoints), not one selecting every pod; give the labels it selects, or leave "
        "selector out for {app: <name>}",
    ),
    (
        "bad family",
        lambda d: d["services"][0].update(ip_families=["IPv5"]),
        "services[0].ip_families[0]: 'IPv5' is not one of IPv4, IPv6",
    ),
    (
        "unknown top-level key, did you mean",
        lambda d: d.update(sed=3),
        "sed: unknown key; did you mean 'seed'? (allowed: name, description, seed, designs, visibility, "
        "mesh, network, ... (21 keys))",
    ),
    (
        "unknown nested key, did you mean",
        lambda d: d.update(mesh={"mtsl": "STRICT"}),
        "mesh.mtsl: unknown key; did you mean 'mtls'? (allowed: mtls, outbound_traffic_policy, "
        "cluster_domain, trust_domain, ... (18 keys))",
    ),
    (
        "wrong type: string for a count",
        lambda d: d["workloads"][0].update(replicas="three"),
        "workloads[0].replicas: expected a whole number (got 'three')",
    ),
    (
        "wrong type: float for a count",
        lambda d: d["workloads"][0].update(replicas=2.5),
        "workloads[0].replicas: expected a whole number (got 2.5)",
    ),
    (
        "wrong type: mapping for a list",
        lambda d: d["services"][0].update(ports={"port": 80}),
        "services[0].ports: expected a list (got a mapping)",
    ),
    (
        "wrong type: bool",
        lambda d: d["namespaces"][0].update(sidecar_injection="yes please"),
        "namespaces[0].sidecar_injection: expected true or false (got 'yes please')",
    ),
    (
        "negative count",
        lambda d: d["workloads"][0].update(replicas=-1),
        "workloads[0].replicas: must be >= 0 (got -1)",
    ),
    (
        "negative synthetic count",
        lambda d: d.update(synthetic={"services": -5}),
        "synthetic.services: must be >= 0 (got -5)",
    ),
    (
        "port out of range",
        lambda d: d["services"][0]["ports"][0].update(port=70000),
        "services[0].ports[0].port: must be <= 65535 (got 70000)",
    ),
    (
        "missing required field",
        lambda d: d["services"][0].pop("name"),
        "services[0].name: missing (this field is required)",
    ),
    (
        "invalid name",
        lambda d: d["services"][0].update(name="Web_Server"),
        "services[0].name: 'Web_Server' is not a valid name (lowercase letters, digits and '-', "
        "starting with a letter and ending with a letter or digit, at most 63 characters)",
    ),
    (
        "unknown design",
        lambda d: d.update(designs=["duplicate", "envoy-v2"]),
        "designs[1]: 'envoy-v2' is not a known design (valid designs: single-stack, duplicate, "
        "additional-addresses, additional-addresses-1.24)",
    ),
    (
        "unknown design, close to a known one",
        lambda d: d.update(designs=["additional-adresses"]),
        "designs[0]: 'additional-adresses' is not a known design; did you mean 'additional-addresses'? "
        "(valid designs: single-stack, duplicate, additional-addresses, additional-addresses-1.24)",
    ),
    (
        "design listed twice",
        lambda d: d.update(designs=["duplicate", "duplicate"]),
        "designs[1]: 'duplicate' is listed twice",
    ),
    (
        "cluster IP outside its CIDR",
        lambda d: d["services"][0].update(cluster_ips=["10.97.0.5", "fd00:10:96::5"]),
        "services[0].cluster_ips[0]: '10.97.0.5' is outside the usable service CIDR 10.96.0.0/16 (IPv4)",
    ),
    (
        "cluster IP of the wrong family",
        lambda d: d["services"][0].update(cluster_ips=["fd00:10:96::5", "10.96.0.5"]),
        "services[0].cluster_ips[0]: 'fd00:10:96::5' is an IPv6 address, expected IPv4",
    ),
    (
        "cluster IP that is the network address",
        lambda d: d["services"][0].update(cluster_ips=["10.96.0.0", "fd00:10:96::5"]),
        "services[0].cluster_ips[0]: '10.96.0.0' is outside the usable service CIDR 10.96.0.0/16 (IPv4)",
    ),
    (
        "cluster IP not an address",
        lambda d: d["services"][0].update(cluster_ips=["10.96.0.300", "fd00:10:96::5"]),
        "services[0].cluster_ips[0]: '10.96.0.300' is not an IP address",
    ),
    (
        "cluster IPs and families differ in number",
        lambda d: d["services"][0].update(cluster_ips=["10.96.0.5"]),
        "services[0].cluster_ips: has 1 address(es) but ip_families has 2; give one per family, in the same order",
    ),
    (
        "same cluster IP twice",
        lambda d: (
            d["services"][0].update(cluster_ips=["10.96.0.5", "fd00:10:96::5"]),
            d["services"][1].update(cluster_ips=["10.96.0.5"]),
        ),
        "services[1].cluster_ips[0]: '10.96.0.5' is already the ClusterIP of services[0]",
    ),
    (
        "pod IP outside the pod CIDR",
        lambda d: d["workloads"][0].update(pod_ips=[["10.245.0.7"]]),
        "workloads[0].pod_ips[0][0]: '10.245.0.7' is outside the usable pod CIDR 10.244.0.0/16 (IPv4)",
    ),
    (
        "pod IP of a family the pod does not have",
        lambda d: d["workloads"][0].update(ip_families=["IPv4"], pod_ips=[["fd00:10:244::7"]]),
        "workloads[0].pod_ips[0][0]: 'fd00:10:244::7' is IPv6, but the workload's pods are IPv4",
    ),
    (
        "two addresses of one family for a pod",
        lambda d: d["workloads"][0].update(pod_ips=[["10.244.0.7", "10.244.0.8"]]),
        "workloads[0].pod_ips[0][1]: a second IPv4 address for the same pod ('10.244.0.8')",
    ),
    (
        "more fixed pods than replicas",
        lambda d: d["workloads"][0].update(pod_ips=[["10.244.0.7"], ["10.244.0.8"], ["10.244.0.9"]]),
        "workloads[0].pod_ips: lists 3 pods but replicas is 2",
    ),
    (
        "same pod IP twice",
        lambda d: d["workloads"][0].update(pod_ips=[["10.244.0.7"], ["10.244.0.7"]]),
        "workloads[0].pod_ips[1][0]: '10.244.0.7' is already a pod IP of default/web",
    ),
    (
        "duplicate service",
        lambda d: d["services"].append(copy.deepcopy(d["services"][0])),
        "services[2].name: duplicate service 'web' in namespace 'default' (first at services[0])",
    ),
    (
        "duplicate namespace",
        lambda d: d["namespaces"].append({"name": "default"}),
        "namespaces[2].name: duplicate namespace 'default' (first at namespaces[0])",
    ),
    (
        "duplicate workload",
        lambda d: d["workloads"].append({"name": "web", "namespace": "default"}),
        "workloads[1].name: duplicate workload 'web' in namespace 'default' (first at workloads[0])",
    ),
    (
        "duplicate port",
        lambda d: d["services"][0]["ports"].append({"name": "http-alt", "port": 80}),
        "services[0].ports[1].port: duplicate port 80 (first at services[0].ports[0])",
    ),
    (
        "undeclared namespace",
        lambda d: d["services"][1].update(namespace="dual-stak"),
        "services[1].namespace: 'dual-stak' is not a declared namespace; did you mean 'dual-stack'? "
        "(declared: default, dual-stack)",
    ),
    (
        "call to an undeclared service",
        lambda d: d["workloads"][0].update(calls=["dual-stack/dbb"]),
        "workloads[0].calls[0]: 'dual-stack/dbb' is not a declared service; did you mean 'dual-stack/db'? "
        "(write <namespace>/<name>)",
    ),
    (
        "malformed CIDR",
        lambda d: d.update(network={"pod_cidrs": {"ipv4": "10.244.0.0/33"}}),
        "network.pod_cidrs.ipv4: '10.244.0.0/33' is not a valid IPv4 CIDR "
        "(the prefix length must be a whole number from 0 to 32)",
    ),
    (
        "CIDR without a prefix length",
        lambda d: d.update(network={"pod_cidrs": {"ipv4": "10.244.0.0", "ipv6": "fd00:10:244::/56"}}),
        "network.pod_cidrs.ipv4: '10.244.0.0' is not a valid IPv4 CIDR (expected <address>/<prefix length>)",
    ),
    (
        "CIDR with host bits set",
        lambda d: d.update(network={"pod_cidrs": {"ipv4": "10.244.0.1/16", "ipv6": "fd00:10:244::/56"}}),
        "network.pod_cidrs.ipv4: '10.244.0.1/16' is not a valid IPv4 CIDR (10.244.0.1/16 has host bits set)",
    ),
    (
        "CIDR of the wrong family",
        lambda d: d.update(network={"service_cidrs": {"ipv4": "fd00:10:96::/112", "ipv6": "fd00:10:96::/112"}}),
        "network.service_cidrs.ipv4: 'fd00:10:96::/112' is an IPv6 CIDR, expected IPv4",
    ),
    (
        "service family without a CIDR",
        lambda d: d.update(network={"service_cidrs": {"ipv4": "10.96.0.0/16", "ipv6": None}}),
        "services[0].ip_families[1]: IPv6 needs a service CIDR, but network.service_cidrs.ipv6 is not set",
    ),
    (
        "service CIDR too small",
        lambda d: d.update(
            network={"service_cidrs": {"ipv4": "10.96.0.0/24", "ipv6": "fd00:10:96::/112"}},
            synthetic={"services": 300},
        ),
        "network.service_cidrs.ipv4: 10.96.0.0/24 has room for 253 ClusterIPs but the scenario may need 302; "
        "use a larger range",
    ),
    (
        "pool too small for the widest service",
        lambda d: d.update(synthetic={"services": 10, "port_pools": {"grpc": [9090]}}),
        "synthetic.port_pools.grpc: holds 1 port(s), but synthetic.ports_per_service allows services with "
        "3 ports, which may all be grpc; list at least 3",
    ),
    (
        "a detected protocol on a port Istio never sniffs",
        lambda d: d["services"][1]["ports"].append({"port": 3306, "name": "db", "protocol": "auto"}),
        "services[1].ports[1].protocol: 'auto' (detected) is not possible on port 3306: Istio never sniffs "
        "ports 25, 53, 3306, 27017, and reads a Kubernetes port there whose name names no protocol as TCP; "
        "expected another protocol (TCP is what Istio makes of it)",
    ),
    (
        "a port Istio never sniffs in the detected pool",
        lambda d: d.update(synthetic={"services": 10, "port_pools": {"auto": [8443, 53, 7070]}}),
        "synthetic.port_pools.auto[1]: port 53 cannot be detected (sniffed): Istio never sniffs ports 25, 53, "
        "3306, 27017, and reads a Kubernetes port there whose name names no protocol as TCP; expected it in "
        "synthetic.port_pools.tcp",
    ),
    (
        "debounce after longer than max",
        lambda d: d.update(istiod={"debounce_after_s": 20}),
        "istiod.debounce_after_s: must be <= istiod.debounce_max_s (10.0) (got 20.0)",
    ),
    (
        "a whole number beyond 64 bits",
        lambda d: d.update(seed=2**64),
        "seed: must be <= 9,223,372,036,854,775,807, the 64-bit limit (got 18446744073709551616)",
    ),
    (
        "a negative whole number beyond 64 bits",
        lambda d: d["workloads"][0].update(replicas=-(2**63) - 1),
        "workloads[0].replicas: must be >= -9,223,372,036,854,775,808, the 64-bit limit (got -9223372036854775809)",
    ),
    (
        "a number too large for a float",
        lambda d: d.update(churn={"duration_s": 10**400}),
        "churn.duration_s: expected a finite number, at most about 1.8e308 "
        "(got 10000000000000000000000000000000000000...000000000000000000000000000000000000000)",
    ),
    (
        "infinity",
        lambda d: d.update(synthetic={"services": 3, "families": {"ipv4": float("inf")}}),
        "synthetic.families.ipv4: expected a finite number (got inf)",
    ),
    (
        "not a number",
        lambda d: d.update(synthetic={"services": 3, "replicas": {"mean": float("nan")}}),
        "synthetic.replicas.mean: expected a finite number (got nan)",
    ),
    (
        "weights whose sum is no number",
        lambda d: d.update(synthetic={"services": 3, "protocols": {"http": 1e308, "tcp": 1e308}}),
        "synthetic.protocols: the weights add up to more than the largest number (about 1.8e308); use smaller ones",
    ),
    (
        "locality weights adding up to 0",
        lambda d: d.update(synthetic={"services": 3, "localities": [{"zone": "a", "weight": 0}]}),
        "synthetic.localities: the weights add up to 0; give at least one a positive weight",
    ),
    (
        "a long value is quoted, not echoed",
        lambda d: d.update(designs=["x" * 2_000_000]),
        "designs[0]: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' "
        "(2,000,000 characters) is not a known design (valid designs: single-stack, duplicate, "
        "additional-addresses, additional-addresses-1.24)",
    ),
    (
        "a long name",
        lambda d: d["services"][0].update(name="a" * 100),
        "services[0].name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
        "(100 characters) is not a valid name: at most 63 characters",
    ),
    (
        "a label value longer than Kubernetes allows",
        lambda d: d["workloads"][0].update(labels={"app": "v" * 64}),
        f"workloads[0].labels.app: must be at most 63 characters (got 64: '{'v' * 64}')",
    ),
    (
        "a default exportTo entry that could name no namespace",
        lambda d: d.update(mesh={"default_service_export_to": ["*", "b_c"]}),
        "mesh.default_service_export_to[1]: 'b_c' is not '.', '*', '~' or a namespace name",
    ),
    (
        "a cluster domain Kubernetes would refuse",
        lambda d: d.update(mesh={"cluster_domain": "Cluster Local"}),
        "mesh.cluster_domain: 'Cluster Local' is not a cluster domain (a lowercase DNS name: letters, digits, "
        "'-' and '.', each label starting and ending with a letter or digit, such as cluster.local)",
    ),
    (
        "an odd key is quoted in the path",
        lambda d: d.update(mesh={"mtls\n" + "k" * 5000: 1}),
        "mesh['mtls\\nkkkkkkkkkkk...kkkkkkkkkkkkkkkkkk' (5,005 characters)]: unknown key "
        "(allowed: mtls, outbound_traffic_policy, cluster_domain, trust_domain, revision, "
        "h2_upgrade_policy, default_service_export_to, ... (18 keys))",
    ),
    (
        "a CIDR whose prefix length has thousands of digits",
        lambda d: d.update(network={"pod_cidrs": {"ipv4": "10.0.0.0/" + "1" * 5000}}),
        "network.pod_cidrs.ipv4: '10.0.0.0/1111111111111111111111111111...11111111111111111111111111111111111111' "
        "(5,009 characters) is not a valid IPv4 CIDR (the prefix length must be a whole number from 0 to 32)",
    ),
    (
        "an access log format that is no JSON object",
        lambda d: d.update(
            mesh={"access_log_file": "/dev/stdout", "access_log_encoding": "JSON", "access_log_format": "[]"}
        ),
        "mesh.access_log_format: '[]' is a JSON array, not an object; expected a JSON object of command operators",
    ),
    (
        "an access log format that is not JSON",
        lambda d: d.update(
            mesh={"access_log_file": "/dev/stdout", "access_log_encoding": "JSON", "access_log_format": "{a"}
        ),
        "mesh.access_log_format: '{a' is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
        '(char 1)); expected a JSON object, such as {"path": "%REQ(:PATH)%"}',
    ),
    (
        "a JSON access log format nested past the limit",
        lambda d: d.update(mesh={"access_log_encoding": "JSON", "access_log_format": '{"a":' * 40 + "1" + "}" * 40}),
        'mesh.access_log_format: \'{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"...}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}\' '
        "(241 characters) nests 40 levels deep; at most 32",
    ),
    (
        "an access log path holding a NUL",
        lambda d: d.update(mesh={"access_log_file": "/dev/std\x00out"}),
        "mesh.access_log_file: '/dev/std\\x00out' holds a NUL character; expected a file path",
    ),
    (
        "a JSON access log format holding NaN",
        lambda d: d.update(mesh={"access_log_encoding": "JSON", "access_log_format": '{"a": NaN}'}),
        "mesh.access_log_format: '{\"a\": NaN}' is not JSON (NaN is not a JSON number); expected a JSON object, "
        'such as {"path": "%REQ(:PATH)%"}',
    ),
    (
        "a JSON access log format holding a number beyond range",
        lambda d: d.update(mesh={"access_log_encoding": "JSON", "access_log_format": '{"a": 1e400}'}),
        "mesh.access_log_format: '{\"a\": 1e400}' is not JSON (1e400 is beyond a JSON number's range); "
        'expected a JSON object, such as {"path": "%REQ(:PATH)%"}',
    ),
    (
        "an access log path holding a lone surrogate",
        lambda d: d.update(mesh={"access_log_file": "/tmp/\ud800"}),
        "mesh.access_log_file: '/tmp/\\ud800' holds a character UTF-8 cannot encode (a lone surrogate); "
        "expected a file path",
    ),
    (
        "an access log format longer than the limit",
        lambda d: d.update(mesh={"access_log_file": "/dev/stdout", "access_log_format": "%START_TIME% " * 1000}),
        "mesh.access_log_format: must be at most 8192 characters (got 13,000: '%START_TIME% %START_TIME% "
        "%START_TIME...START_TIME% %START_TIME% %START_TIME% ' (13,000 characters))",
    ),
    (
        "a mesh connect timeout beyond the hour istiod accepts",
        lambda d: d.update(mesh={"connect_timeout": "90m"}),
        "mesh.connect_timeout: '5400s' is outside the 1ms to 1h istiod accepts",
    ),
    (
        "a mesh connect timeout as a number",
        lambda d: d.update(mesh={"connect_timeout": 10}),
        "mesh.connect_timeout: expected a duration such as '1s', '0.5s', '100ms', '1m' or '1h', as a string (got 10)",
    ),
    (
        "a mesh retry policy written with the scenario's snake_case, not MeshConfig's",
        lambda d: d.update(mesh={"default_http_retry_policy": {"attempts": 3, "per_try_timeout": "2s"}}),
        "mesh.default_http_retry_policy.per_try_timeout: unknown key; did you mean 'perTryTimeout'? (allowed: "
        "attempts, perTryTimeout, retryOn, retryRemoteLocalities, ... (6 keys))",
    ),
    (
        "a mesh keepalive with a count where a duration goes",
        lambda d: d.update(mesh={"tcp_keepalive": {"probes": 3, "time": 300}}),
        "mesh.tcp_keepalive.time: expected a duration such as '1s', '0.5s', '100ms', '1m' or '1h', as a string "
        "(got 300)",
    ),
    (
        "a mesh retry policy retrying on what Envoy does not know",
        lambda d: d.update(mesh={"default_http_retry_policy": {"attempts": 3, "retryOn": "5xx,oops"}}),
        "mesh.default_http_retry_policy.retryOn: 'oops' is not a valid retryOn policy (an HTTP status code, or one "
        "of 5xx, cancelled, connect-failure, deadline-exceeded, envoy-ratelimited, gateway-error, "
        "http3-post-connect-failure, internal, refused-stream, reset, reset-before-request, resource-exhausted, "
        "retriable-4xx, retriable-headers, retriable-status-codes, unavailable)",
    ),
    (
        "a lognormal shape whose square overflows",
        lambda d: d.update(synthetic={"services": 3, "replicas": {"distribution": "lognormal", "sigma": 1e300}}),
        "synthetic.replicas.sigma: must be <= 10 (got 1e+300)",
    ),
    (
        "istiod replicas beyond what any mesh runs",
        lambda d: d.update(istiod={"replicas": 5000}),
        "istiod.replicas: must be <= 1000 (got 5000)",
    ),
    (
        "a synthetic namespace name written explicitly",
        lambda d: d.update(
            namespaces=[*d["namespaces"], {"name": "ns-0002"}], synthetic={"services": 3, "namespaces": 10**12}
        ),
        "synthetic.namespaces: synthetic namespace 'ns-0002' clashes with an explicit one",
    ),
    (
        "edge outside the synthetic services",
        lambda d: d.update(synthetic={"services": 3, "call_graph": {"model": "edge-list", "edges": [[0, 5]]}}),
        "synthetic.call_graph.edges[0]: service index 5 is out of range (0 to 2)",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_names_file_field_value_and_fix(
    write_scenario: Callable[..., Path], change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    assert message_for(write_scenario(variant(change))) == expected


def test_base_scenario_of_these_cases_is_valid(write_scenario: Callable[..., Path]) -> None:
    assert load_scenario(write_scenario(BASE)).name == "scenario"


def test_pod_cidr_too_small_is_reported_when_the_cluster_is_built(write_scenario: Callable[..., Path]) -> None:
    from dsim import build_cluster

    data = variant(lambda d: d.update(network={"pod_cidrs": {"ipv4": "10.244.0.0/28", "ipv6": "fd00:10:244::/56"}}))
    data["synthetic"] = {"services": 10, "replicas": {"distribution": "fixed", "mean": 3}}
    path = write_scenario(data)
    with pytest.raises(ScenarioError) as caught:
        build_cluster(path)
    assert str(caught.value) == (
        f"{path}: network.pod_cidrs.ipv4: 10.244.0.0/28 has room for 13 pod IPs but the cluster needs 32; "
        "use a larger range or fewer objects"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: no such file"


def test_unparsable_yaml_names_line_and_column(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario("seed: 1\nmesh:\n  mtls: STRICT\n   bad: [\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:4:7: invalid YAML: mapping values are not allowed here"


def test_repeated_key_is_an_error_not_silently_dropped(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario("seed: 1\nseed: 2\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:2:1: invalid YAML: key 'seed' appears twice in one mapping"


def test_top_level_must_be_a_mapping(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario("- a\n- b\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: expected a mapping of scenario settings at the top level"


def test_a_directory_is_not_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, expected a scenario YAML file"


# YAML that PyYAML reads into Python errors, or into a structure bigger than its text: each is
# one line naming the place where the parser has one.
YAML_CASES = [
    (
        "unhashable key",
        "mesh: {? [a, b] : 1}\n",
        ":1:10: invalid YAML: a mapping key must be a plain value, not a list",
    ),
    (
        "set as a key",
        "mesh: {? !!set {a} : 1}\n",
        ":1:10: invalid YAML: a mapping key must be a plain value, not a set",
    ),
    ("unreadable float", "seed: !!float x\n", ":1:7: invalid YAML: 'x' cannot be read as a number"),
    ("unreadable bool", "seed: !!bool maybe\n", ":1:7: invalid YAML: 'maybe' cannot be read as true or false"),
    ("unreadable date", "seed: !!timestamp x\n", ":1:7: invalid YAML: 'x' cannot be read as a date"),
    (
        "a Python object",
        "seed: !!python/object/apply:os.system [ls]\n",
        ":1:7: invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    (
        "an integer of 5,000 digits",
        "seed: " + "9" * 5000 + "\n",
        ":1:7: invalid YAML: '9999999999999999999999999999999999999...99999999999999999999999999999999999999' "
        "(5,000 characters) cannot be read as a whole number (a number longer than the 4,300 digits Python reads)",
    ),
    (
        "a hexadecimal number past Python's digit cap (read, but never printable)",
        "seed: 0x" + "f" * 5000 + "\n",
        ":1:7: invalid YAML: '0x" + "f" * 35 + "..." + "f" * 38 + "' "
        "(5,002 characters) cannot be read as a whole number (a number longer than the 4,300 digits Python reads)",
    ),
    (
        "a node containing itself",
        "designs: &d [*d]\n",
        ":1:10: invalid YAML: an alias refers to a node that contains it (a recursive structure)",
    ),
    (
        "billion laughs",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)),
        ": invalid YAML: its aliases repeat 1,234,567,880 values (at most 1,000,000); write fewer repetitions",
    ),
    (
        "billion laughs by merge keys",  # merging copies the merged pairs: counted as any alias is
        "a: &a {x0: 0, x1: 1, x2: 2, x3: 3, x4: 4, x5: 5, x6: 6, x7: 7, x8: 8, x9: 9}\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} {{<<: [{', '.join([f'*{chr(97 + i)}'] * 10)}]}}\n" for i in range(6)),
        ": invalid YAML: its aliases repeat 23,703,660 values (at most 1,000,000); write fewer repetitions",
    ),
    (
        "a key written twice beside a merge key",
        "a: &a {seed: 1}\nb: {<<: *a, seed: 2, seed: 3}\n",
        ":2:22: invalid YAML: key 'seed' appears twice in one mapping",
    ),
    (
        "deep flow nesting",
        "mesh: " + "[" * 10_000 + "]" * 10_000 + "\n",
        ":1:107: invalid YAML: nested too deeply (a scenario needs a few levels)",
    ),
    (
        "deep block nesting",
        "".join(" " * i + f"k{i}:\n" for i in range(2000)),
        ": invalid YAML: nested too deeply (a scenario needs a few levels)",
    ),
    (
        "a bare control character",
        "seed: 1\ndescription: a\x07b\n",
        ":2:15: invalid YAML: character U+0007 is not allowed (special characters are not allowed); "
        "write it as an escape in a double-quoted string",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_hostile_yaml_is_one_line(write_scenario: Callable[..., Path], text: str, expected: str) -> None:
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}{expected}"


def test_aliases_that_repeat_a_little_are_fine(write_scenario: Callable[..., Path]) -> None:
    """The shipped blog scenario shares one port list among three services."""
    path = write_scenario(
        "namespaces: [{name: a}, {name: b}]\n"
        "services:\n"
        "  - {name: s, namespace: a, ports: &ports [{name: http, port: 80}, {name: tcp, port: 81}]}\n"
        "  - {name: s, namespace: b, ports: *ports}\n"
    )
    scenario = load_scenario(path)
    assert scenario.services[0].ports == scenario.services[1].ports


def test_merge_keys_read_as_pyyaml_reads_them(write_scenario: Callable[..., Path]) -> None:
    """``<<: *anchor`` copies a mapping's keys; keys written beside it override them."""
    merged = write_scenario(
        "namespaces: [{name: a}, {name: b}]\n"
        "services:\n"
        "  - &s {name: s, namespace: a, ports: [{name: http, port: 80}]}\n"
        "  - {<<: *s, namespace: b}\n",
        name="merged",
    )
    spelled_out = write_scenario(
        "namespaces: [{name: a}, {name: b}]\n"
        "services:\n"
        "  - {name: s, namespace: a, ports: [{name: http, port: 80}]}\n"
        "  - {name: s, namespace: b, ports: [{name: http, port: 80}]}\n",
        name="spelled-out",
    )
    assert dataclasses.replace(load_scenario(merged), name="x") == dataclasses.replace(
        load_scenario(spelled_out), name="x"
    )


def test_an_empty_designs_list_is_refused_but_leaving_it_out_means_all(write_scenario: Callable[..., Path]) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario("designs: []\n"))
    assert ": designs: must name at least one design (valid designs: single-stack, " in str(caught.value)
    assert str(caught.value).endswith("; leave it out to compare them all")
    assert load_scenario(write_scenario("seed: 1\n")).designs == design_names()
