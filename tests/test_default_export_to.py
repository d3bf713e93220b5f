"""The mesh's default exportTo (``meshConfig.defaultServiceExportTo``, ``defaultVirtualServiceExportTo``,
``defaultDestinationRuleExportTo``) for objects that set none (``docs/istio-objects.md`` 4.4, "Mesh
defaults"; ``dsim/cluster/default_exports.py``). After Istio's ``PushContext.serviceExportTo`` (a
service's default is its exportTo), ``copyDefaultExportToSet`` (a VirtualService's, ``.`` its own
namespace) and ``initDestinationRules`` (a DestinationRule's: only ``.`` is honoured). Checked on
what each proxy gets, byte-exact in the accounting under every design, in the real Envoy, and on the
scenario's checks."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.errors import ScenarioError
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, dual_stack_service

API = "api.b.svc.cluster.local"


def mesh_spec(**defaults: list[str]) -> dict[str, Any]:
    return {
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "mesh": defaults,
        "services": [
            dual_stack_service("web", "a", (80, "http")),
            dual_stack_service("api", "b", (8080, "http")),
            dual_stack_service("open", "b", (9090, "http"), export_to=["*"]),  # its own exportTo wins
        ],
        "workloads": [
            {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"]},
            {"name": "api", "namespace": "b", "ip_families": ["IPv4", "IPv6"]},
        ],
        "virtual_services": [
            {
                "name": "api",
                "namespace": "b",
                "spec": {"hosts": [API], "http": [{"route": [{"destination": {"host": API}}], "timeout": "7s"}]},
            }
        ],
        "destination_rules": [
            {
                "name": "api",
                "namespace": "b",
                "spec": {"host": API, "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 7}}}},
            }
        ],
        "service_entries": [
            {
                "name": "ext",
                "namespace": "b",
                "spec": {
                    "hosts": ["ext.example.com"],
                    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                    "resolution": "DNS",
                },
            }
        ],
    }


def _cluster(**defaults: list[str]) -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec(**defaults)))


def _clusters(cluster: Cluster, proxy: str) -> dict[str, Any]:
    return {c.name: c for c in config_of(cluster, proxy).clusters}


def _api_connections(cluster: Cluster, proxy: str) -> int:
    """api's cluster's connection limit: 7 where the DestinationRule applies."""
    return _clusters(cluster, proxy)[f"outbound|8080||{API}"].circuit_breakers.thresholds[0].max_connections.value


def _api_timeout(cluster: Cluster, proxy: str) -> int | None:
    route = next((r for r in config_of(cluster, proxy).routes if r.name == "8080"), None)
    if route is None:
        return None
    vhost = next(v for v in route.virtual_hosts if v.name == f"{API}:8080")
    return vhost.routes[0].route.timeout.seconds


@pytest.mark.parametrize("defaults", [{}, {"default_service_export_to": [], "default_virtual_service_export_to": []}])
def test_istios_default_exports_everything(defaults: dict[str, list[str]]) -> None:
    """Unset, or an empty list (Istio reads one as unset): every object is public."""
    cluster = _cluster(**defaults)
    assert {f"outbound|8080||{API}", "outbound|443||ext.example.com"} <= set(_clusters(cluster, "a/web"))
    assert _api_timeout(cluster, "a/web") == 7
    assert _api_connections(cluster, "a/web") == 7


def test_a_private_service_default_hides_services_and_entries_without_an_export_to() -> None:
    cluster = _cluster(default_service_export_to=["."])
    seen = set(_clusters(cluster, "a/web"))
    assert f"outbound|8080||{API}" not in seen
    assert "outbound|443||ext.example.com" not in seen
    assert "outbound|9090||open.b.svc.cluster.local" in seen  # exports itself to every namespace
    assert {f"outbound|8080||{API}", "outbound|443||ext.example.com"} <= set(_clusters(cluster, "b/api"))
    # A list names namespaces: exported to a as well.
    assert f"outbound|8080||{API}" in set(_clusters(_cluster(default_service_export_to=[".", "a"]), "a/web"))


def test_a_private_virtual_service_default_keeps_its_routes_home() -> None:
    cluster = _cluster(default_virtual_service_export_to=["."])
    assert _api_timeout(cluster, "a/web") == 0  # the default route: the VirtualService is b's alone
    assert _api_timeout(cluster, "b/api") == 7


def test_a_destination_rule_default_honours_only_its_own_namespace() -> None:
    private = _cluster(default_destination_rule_export_to=["."])
    assert _api_connections(private, "a/web") != 7
    assert _api_connections(private, "b/api") == 7
    # Anything but "." leaves such a rule public, as in Istio (initDestinationRules).
    named = _cluster(default_destination_rule_export_to=["b"])
    assert _api_connections(named, "a/web") == 7


def test_a_private_rule_default_keeps_rules_apart_as_written() -> None:
    """Istio leaves an unset exportTo empty and uses the default only to keep the rule out of the
    exported index (``setDestinationRules``); rules of one host merge by exportTo as written, so a
    plain rule never merges into a workloadSelector rule (whose exportTo is ``.``): api's own
    proxies apply the plain rule, sel's the selector one, other namespaces neither."""
    spec = mesh_spec(default_destination_rule_export_to=["."])
    spec["workloads"].append({"name": "sel", "namespace": "b", "ip_families": ["IPv4"], "labels": {"app": "sel"}})
    spec["destination_rules"].insert(
        0,
        {
            "name": "sel",
            "namespace": "b",
            "spec": {
                "host": API,
                "workloadSelector": {"matchLabels": {"app": "sel"}},
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 9}}},
            },
        },
    )
    cluster = build_cluster(scenario_from_dict(spec))
    assert [_api_connections(cluster, p) for p in ("b/api", "b/sel")] == [7, 9]
    assert _api_connections(cluster, "a/web") not in (7, 9)
    assert_exact_every_design(cluster)


def test_a_default_list_is_read_as_a_set_star_before_tilde_before_names() -> None:
    """Istio does not check the mesh's defaults and reads each as a set
    (``initDefaultExportMaps``): ``*`` anywhere makes the objects public, else ``~`` hides them
    from every namespace, else they go to the namespaces named (``initServiceRegistry``,
    ``initVirtualServices``); a DestinationRule's default is private whenever it holds ``.``."""
    public = _cluster(default_service_export_to=["*", ".", "~"], default_virtual_service_export_to=[".", "*"])
    assert f"outbound|8080||{API}" in _clusters(public, "a/web")
    assert _api_timeout(public, "a/web") == 7
    hidden = _cluster(default_service_export_to=["a", "~", "a"])
    for proxy in ("a/web", "b/api"):
        assert f"outbound|8080||{API}" not in _clusters(hidden, proxy)
        assert "outbound|443||ext.example.com" not in _clusters(hidden, proxy)
    nowhere = _cluster(default_virtual_service_export_to=["b", "~"])
    assert [_api_timeout(nowhere, p) for p in ("a/web", "b/api")] == [0, 0]  # the default route
    assert _api_connections(_cluster(default_destination_rule_export_to=["*", "."]), "a/web") != 7
    assert_exact_every_design(hidden)
    assert_exact_every_design(nowhere)


@pytest.mark.parametrize(
    "defaults",
    [
        {"default_service_export_to": ["."]},
        {"default_virtual_service_export_to": ["."], "default_destination_rule_export_to": ["."]},
    ],
)
def test_accounting_is_byte_exact_every_design(defaults: dict[str, list[str]]) -> None:
    assert_exact_every_design(_cluster(**defaults))


def test_real_envoy_accepts_every_design() -> None:
    assert_envoy_accepts_every_proxy(_cluster(default_service_export_to=["."], default_virtual_service_export_to=["."]))


@pytest.mark.parametrize(
    ("field", "values", "path", "message"),
    [
        ("default_virtual_service_export_to", ["*", "", "."], "mesh.default_virtual_service_export_to[1]", "namespace"),
        ("default_destination_rule_export_to", ["Not_A_Namespace"], "[0]", "not '.', '*', '~' or a namespace"),
        ("default_service_export_to", ["a"] * 1_001, "mesh.default_service_export_to", "at most 1,000"),
    ],
)
def test_bad_defaults_are_refused_naming_the_field(field: str, values: list[str], path: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(mesh_spec(**{field: values}))
    assert path in str(error.value)
    assert message in str(error.value)
