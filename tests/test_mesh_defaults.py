"""The mesh config's defaults for every cluster and route (``meshConfig.connectTimeout``,
``tcpKeepalive``, ``defaultHttpRetryPolicy``; docs/istio-objects.md 4.11): where istiod applies them
and what a DestinationRule or a VirtualService overrides (``applyConnectionPool``,
``applyTCPKeepalive``, ``BuildDefaultHTTPOutboundRoute``, ``TranslateRoute``), built and sized alike by
both paths, read and written in MeshConfig's own form, accepted by the real Envoy."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2 as rc

from dsim import ScenarioError, build_cluster, load_scenario, scenario_from_dict
from dsim.calibration.model import load_calibration, memory_terms
from dsim.cluster import Cluster
from dsim.designs import design_names, get_design
from dsim.scenario.checks import check
from dsim.scenario.istio.virtual_service import HTTPRetry
from dsim.scenario.load import scenario_to_plain, scenario_to_yaml
from dsim.scenario.model import Scenario
from dsim.sweep.spec import field_kind
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.listeners import BLACKHOLE
from dsim.xds.retries import retry_policy
from dsim.xds.sizes import config_count_row
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.conftest import SCENARIOS

SETTINGS = {
    "connect_timeout": "1.5s",
    "tcp_keepalive": {"probes": 3, "time": "600s", "interval": "30s"},
    "default_http_retry_policy": {
        "attempts": 4,
        "retryOn": "5xx,504",
        "perTryTimeout": "2s",
        "retryRemoteLocalities": True,
    },
}
"""Every setting away from Istio's default, as a platform team pastes them from its MeshConfig."""
SHIPPED_MEASUREMENTS = Path(__file__).parents[1] / "dsim" / "calibration" / "data" / "envoy-1.40-measurements.csv"


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop"},
        "spec": spec,
    }


SHOP: dict[str, Any] = {
    "name": "mesh-defaults",
    "seed": 1,
    "visibility": "all",
    "namespaces": [{"name": "shop"}],
    "services": [
        {"name": name, "namespace": "shop", "ports": [{"port": port, "name": kind}]}
        for name, port, kind in (("a", 80, "http"), ("b", 80, "http"), ("db", 5432, "tcp"))
    ],
    "workloads": [{"name": name, "namespace": "shop", "replicas": 1} for name in ("a", "b", "db")],
    "destination_rules": [
        # a's own connect timeout and keepalive probes, over the mesh's (its time and interval stay).
        _object(
            "DestinationRule",
            "a",
            {
                "host": "a",
                "trafficPolicy": {"connectionPool": {"tcp": {"connectTimeout": "3s", "tcpKeepalive": {"probes": 7}}}},
            },
        ),
        _object(
            "DestinationRule",
            "b",
            {"host": "b", "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}},
        ),
    ],
    "virtual_services": [
        _object(
            "VirtualService",
            "a",
            {
                "hosts": ["a"],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/own"}}],
                        "retries": {"attempts": 1},
                        "route": [{"destination": {"host": "a"}}],
                    },
                    {"route": [{"destination": {"host": "a"}}]},
                ],
            },
        )
    ],
}


def _shop(**mesh: Any) -> Cluster:
    return build_cluster(scenario_from_dict({**copy.deepcopy(SHOP), "mesh": mesh}))


def _config(cluster: Cluster, design: str = "single-stack") -> ProxyConfig:
    return proxy_config(index_for(cluster), 0, get_design(design))


def _keepalive(cluster: cluster_pb2.Cluster) -> tuple[int, int, int] | None:
    if not cluster.upstream_connection_options.HasField("tcp_keepalive"):
        return None
    found = cluster.upstream_connection_options.tcp_keepalive
    return found.keepalive_probes.value, found.keepalive_time.value, found.keepalive_interval.value


@pytest.mark.parametrize("design", design_names())
def test_every_cluster_takes_the_mesh_connect_timeout_and_keepalive_under_its_rule(design: str) -> None:
    """The black hole takes the connect timeout only (no connection pool); a's DestinationRule sets its
    own timeout and probes over the mesh's keepalive, whose time and interval stay, on a's outbound
    clusters and on the inbound cluster of a's pod (the first proxy: an inbound cluster takes its
    service's rule's connection pool); every other cluster, passthrough ones included, the mesh's."""
    config = _config(_shop(**SETTINGS), design)
    assert config.proxy.canonical_service == "a"
    seen = set()
    for cluster in config.clusters:
        timeout = (cluster.connect_timeout.seconds, cluster.connect_timeout.nanos)
        if cluster.name == BLACKHOLE:
            assert (timeout, _keepalive(cluster)) == ((1, 500_000_000), None)
        elif "|a.shop.svc" in cluster.name or cluster.name.split("|")[0] in ("inbound", "inbound6"):
            assert (timeout, _keepalive(cluster)) == ((3, 0), (7, 600, 30)), cluster.name
        else:
            assert (timeout, _keepalive(cluster)) == ((1, 500_000_000), (3, 600, 30)), cluster.name
        seen.add(cluster.name.split("|")[0].removesuffix("Ipv4").removesuffix("Ipv6"))
    assert {"outbound", "inbound", "PassthroughCluster", "InboundPassthroughCluster", BLACKHOLE} <= seen


def test_istio_defaults_leave_clusters_as_they_were() -> None:
    """Istio's 10 s connect timeout and no keepalive where the mesh sets neither; a's rule its own."""
    for cluster in _config(_shop()).clusters:
        ruled = "|a.shop.svc" in cluster.name or cluster.name.startswith("inbound|")
        expected = (3, (7, 0, 0)) if ruled else (10, None)
        assert (cluster.connect_timeout.seconds, _keepalive(cluster)) == expected, cluster.name


@pytest.mark.parametrize(
    ("mesh", "ruled", "other"),
    [({}, 2, 0), ({"tcp_keepalive": {}}, 2, 1), ({"tcp_keepalive": {"time": "600s"}}, 3, 2), (SETTINGS, 4, 4)],
)
def test_keepalive_socket_options_are_counted_one_per_field_given(mesh: dict[str, Any], ruled: int, other: int) -> None:
    """``keepalive_options`` (a cluster object the memory model prices): ``SO_KEEPALIVE`` and one per
    field the keepalive that applies sets; a's clusters (outbound and inbound) take its rule's
    ``probes`` over the mesh's keepalive, every other cluster but the black hole the mesh's alone."""
    config = _config(_shop(**mesh))
    names = [c.name for c in config.clusters]
    by_rule = sum("|a.shop.svc" in name or name.startswith("inbound|") for name in names)
    expected = ruled * by_rule + other * (len(names) - by_rule - 1)  # the black hole has none
    assert by_rule > 0
    assert BLACKHOLE in names
    assert config_count_row(config)["keepalive_options"] == expected


def _routes(config: ProxyConfig) -> dict[str, rc.Route]:
    """The routes of route configuration ``80`` by ``<service>:<prefix>``."""
    (found,) = [r for r in config.routes if r.name == "80"]
    return {
        f"{v.name.split('.')[0]}:{route.match.prefix}": route
        for v in found.virtual_hosts
        if v.name != "allow_any"
        for route in v.routes
    }


def _retries(route: rc.Route) -> tuple[int, str, int, int] | None:
    if not route.route.HasField("retry_policy"):
        return None
    policy = route.route.retry_policy
    return (
        policy.num_retries.value,
        policy.retry_on,
        policy.per_try_timeout.seconds,
        len(policy.retry_host_predicate),
    )


def test_routes_without_retries_take_the_mesh_policy() -> None:
    """A VirtualService route's own retries stand; its route without any, and a service's default
    route, take the mesh's, converted as a route's (``ConvertPolicy``): status codes as
    ``retriable-status-codes``, the previous-hosts predicate kept on b's default route though its
    rule hashes (Istio converts the mesh policy for it without the hash)."""
    found = {name: _retries(route) for name, route in _routes(_config(_shop(**SETTINGS))).items()}
    mesh = (4, "5xx,retriable-status-codes", 2, 1)
    assert found == {
        "a:/own": (1, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", 0, 1),
        "a:/": mesh,
        "b:/": mesh,
    }


def test_a_route_to_one_hashed_destination_drops_the_predicate_of_the_mesh_policy_too() -> None:
    """``ConvertPolicy(policy, consistentHash)`` takes the mesh's policy as a route's own: b's rule hashes,
    so b's VirtualService route to b alone retries as the mesh says without the previous-hosts
    predicate (b's default route, in the tests above, keeps it)."""
    data = copy.deepcopy(SHOP)
    data["virtual_services"].append(
        _object("VirtualService", "b", {"hosts": ["b"], "http": [{"route": [{"destination": {"host": "b"}}]}]})
    )
    cluster = build_cluster(scenario_from_dict({**data, "mesh": SETTINGS}))
    assert _retries(_routes(_config(cluster))["b:/"]) == (4, "5xx,retriable-status-codes", 2, 0)


def test_status_codes_parse_as_istio_reads_them() -> None:
    """Istio's ``parseRetryOn`` reads a code with Go's ``strconv.Atoi``: ``+503`` is the code 503."""
    policy = retry_policy(HTTPRetry(attempts=2, retry_on="+503,5xx"))
    assert policy is not None
    assert (policy.retry_on, list(policy.retriable_status_codes)) == ("5xx,retriable-status-codes", [503])


def test_attempts_zero_turns_retries_off_where_the_route_sets_none() -> None:
    settings = {"default_http_retry_policy": {"attempts": 0}}
    found = {name: _retries(route) for name, route in _routes(_config(_shop(**settings))).items()}
    assert found == {
        "a:/own": (1, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", 0, 1),
        "a:/": None,
        "b:/": None,
    }


@pytest.mark.parametrize(
    ("settings", "expected"),
    [({}, 3), (SETTINGS, 3), ({"default_http_retry_policy": {"attempts": 0}}, 1)],
)
def test_retry_policies_are_counted_where_routes_carry_them(settings: dict[str, Any], expected: int) -> None:
    """``retry_policies`` (a route action the memory model prices): a's two routes and b's default
    route carry one each, but where the mesh's policy turns retries off (a's own stays); the catch-all
    routes carry none."""
    config = _config(_shop(**settings))
    assert config_count_row(config)["retry_policies"] == expected


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, 0),
        (SETTINGS, 2),
        ({"default_http_retry_policy": {"attempts": 2, "retryRemoteLocalities": False}}, 0),
        ({"default_http_retry_policy": {"attempts": 0, "retryRemoteLocalities": True}}, 0),
    ],
)
def test_retry_priorities_are_counted_where_retry_policies_carry_one(settings: dict[str, Any], expected: int) -> None:
    """``retry_priorities`` (a route action the memory model prices): the mesh policy's
    ``retryRemoteLocalities`` gives a retry priority to a's VirtualService route without retries of its
    own and to b's default route; a's route with its own retries asks for none; retries off leave
    nothing to carry one."""
    config = _config(_shop(**settings))
    assert config_count_row(config)["retry_priorities"] == expected
    carried = sum(route.route.retry_policy.HasField("retry_priority") for route in _routes(config).values())
    assert carried == expected


def test_without_a_mesh_policy_routes_keep_istios_default() -> None:
    found = {name: _retries(route) for name, route in _routes(_config(_shop())).items()}
    istio = (2, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", 0, 1)
    assert found == {"a:/own": (1, istio[1], 0, 1), "a:/": istio, "b:/": istio}


def _with(scenario: Scenario, settings: dict[str, Any]) -> Scenario:
    """``scenario`` with ``settings`` read as a scenario file's ``mesh`` reads them."""
    plain = scenario_to_plain(scenario)
    return scenario_from_dict({**plain, "mesh": {**plain["mesh"], **settings}})


@pytest.mark.parametrize(
    ("path", "settings"),
    [
        ("quickstart.yaml", SETTINGS),
        ("istio-objects.yaml", SETTINGS),
        ("istio-objects.yaml", {"connect_timeout": "250ms", "default_http_retry_policy": {"attempts": 0}}),
    ],
)
def test_both_paths_agree_byte_for_byte(path: str, settings: dict[str, Any]) -> None:
    """Sizes and counts of the vectorized accounting against real messages, under every design:
    every cluster and route kind of quickstart and istio-objects.yaml (subsets, ServiceEntries,
    rules' connection pools, VirtualService routes with and without retries)."""
    cluster = build_cluster(_with(load_scenario(SCENARIOS / path), settings))
    step = max(1, len(cluster.proxies) // 12)
    for design in design_names():
        assert assert_methods_agree(cluster, design, range(0, len(cluster.proxies), step)) > 0


@pytest.mark.parametrize("mesh", [SETTINGS, {"tcp_keepalive": {"time": "600s"}}])
def test_the_small_mesh_agrees_byte_for_byte_on_every_proxy(mesh: dict[str, Any]) -> None:
    cluster = _shop(**mesh)
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_settings_are_written_in_meshconfigs_form_and_read_back_equal() -> None:
    scenario = scenario_from_dict({**copy.deepcopy(SHOP), "mesh": SETTINGS})
    written = yaml.safe_load(scenario_to_yaml(scenario))["mesh"]
    assert {k: written[k] for k in SETTINGS} == {
        "connect_timeout": "1500ms",
        "tcp_keepalive": {"probes": 3, "time": "600s", "interval": "30s"},
        "default_http_retry_policy": {
            "attempts": 4,
            "perTryTimeout": "2s",
            "retryOn": "5xx,504",
            "retryRemoteLocalities": True,
        },
    }
    assert scenario_from_dict(yaml.safe_load(scenario_to_yaml(scenario))) == scenario


def test_settings_at_istios_defaults_are_left_out_so_hashes_stay() -> None:
    """A scenario that sets none writes none of them (its hash is the one it had before they existed);
    written out at the default, the connect timeout loads equal."""
    plain = scenario_to_plain(scenario_from_dict(copy.deepcopy(SHOP)))
    assert not set(SETTINGS) & set(plain["mesh"])
    assert scenario_from_dict({**copy.deepcopy(SHOP), "mesh": {"connect_timeout": "10s"}}) == scenario_from_dict(
        copy.deepcopy(SHOP)
    )


@pytest.mark.parametrize(
    ("mesh", "expected"),
    [
        ({"connect_timeout": 0}, "mesh.connect_timeout: '0ms' is outside the 1ms to 1h istiod accepts"),
        ({"connect_timeout": 3_600_001}, "mesh.connect_timeout: '3600001ms' is outside the 1ms to 1h istiod accepts"),
        (
            {"default_http_retry_policy": HTTPRetry(attempts=2, retry_on="5xx,nope")},
            "mesh.default_http_retry_policy.retryOn: 'nope' is not a valid retryOn policy",
        ),
        ({"connect_timeout": "10s"}, "mesh.connect_timeout: expected whole milliseconds, an int"),
        ({"connect_timeout": None}, "mesh.connect_timeout: expected whole milliseconds, an int"),
        ({"tcp_keepalive": {"time": 1000}}, "mesh.tcp_keepalive: expected a TcpKeepalive or None (got dict"),
        ({"default_http_retry_policy": {"attempts": 0}}, "mesh.default_http_retry_policy: expected an HTTPRetry"),
    ],
)
def test_settings_built_in_python_are_checked_as_a_files_are(mesh: dict[str, Any], expected: str) -> None:
    scenario = scenario_from_dict(copy.deepcopy(SHOP))
    bad = dataclasses.replace(scenario, mesh=dataclasses.replace(scenario.mesh, **mesh))
    with pytest.raises(ScenarioError) as raised:
        check(bad, "<scenario>", design_names())
    assert str(raised.value).startswith(f"<scenario>: {expected}")


def test_a_sweep_reaches_the_settings_by_meshconfigs_names() -> None:
    """Below a setting, a sweep's field path takes MeshConfig's names, as the scenario does."""
    assert field_kind("mesh.default_http_retry_policy.attempts", source="s", where="w") == "integer"
    assert field_kind("mesh.default_http_retry_policy.retryOn", source="s", where="w") == "choice"
    with pytest.raises(ScenarioError, match="did you mean 'perTryTimeout'"):
        field_kind("mesh.default_http_retry_policy.per_try_timeout", source="s", where="w")


def test_retry_policies_are_priced_only_where_a_measured_mesh_had_retries_off() -> None:
    """Without a mesh whose routes went without retry policies, the count moves with the routes and
    route configurations (a quick plan, the measurements before 2026-12-06): no price of its own."""
    measured = pd.read_csv(SHIPPED_MEASUREMENTS)
    assert "retry_policies" in memory_terms(measured)
    assert "retry_policies" not in memory_terms(measured[~measured["point"].str.contains("-retryoff")])


def test_retry_priorities_are_priced_only_where_a_measured_mesh_had_them() -> None:
    """Every other measured route's retry policy has none: a fit without those meshes has no price for them."""
    measured = pd.read_csv(SHIPPED_MEASUREMENTS)
    assert "retry_priorities" in memory_terms(measured)
    assert "retry_priorities" not in memory_terms(measured[~measured["point"].str.endswith("-retryremote")])


def test_keepalive_options_are_priced_only_where_a_measured_mesh_had_a_keepalive() -> None:
    """Every other measured cluster has none: a fit without those meshes has no price for them."""
    measured = pd.read_csv(SHIPPED_MEASUREMENTS)
    assert "keepalive_options" in memory_terms(measured)
    assert "keepalive_options" not in memory_terms(measured[~measured["point"].str.contains(r"-ka\w+$")])


def test_the_calibrations_line_tells_a_refit_from_the_first_fit() -> None:
    """A sweep keys its cached points on it: a completion, which refits the model, shows."""
    assert "completed 2026-12-06T13:25:41Z" in load_calibration().describe()


@pytest.mark.slow
def test_envoy_accepts_every_config_with_the_mesh_settings() -> None:
    assert_envoy_accepts_every_proxy(build_cluster(_with(load_scenario(SCENARIOS / "istio-objects.yaml"), SETTINGS)))
