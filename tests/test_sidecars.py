"""Sidecars and exportTo end to end (issue 16, ``docs/istio-objects.md`` section 4): read into the
scenario, selected per workload as istiod selects them, scoping what each proxy sees (egress host
forms, exportTo), generated identically on the protobuf path and by the vectorized accounting under
every design, and accepted by the real Envoy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.cluster.scoping import minimal_sidecars
from dsim.designs import get_design
from dsim.errors import ScenarioError
from dsim.scenario import scenario_to_yaml
from dsim.scenario.istio import as_kubernetes_object
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design, assert_methods_agree
from tests.config_helpers import config_of

SVC = "svc.cluster.local"


def _sidecar(name: str, namespace: str, hosts: list[str], selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"egress": [{"hosts": hosts}]}
    if selector is not None:
        spec["workloadSelector"] = {"labels": selector}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Sidecar",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


MESH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}],
    "services": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "api", "namespace": "a", "ports": [{"port": 8080, "name": "http"}, {"port": 9090, "name": "grpc"}]},
        {"name": "db", "namespace": "b", "ip_families": ["IPv6"], "ports": [{"port": 5432, "name": "tcp"}]},
        {"name": "cache", "namespace": "b", "ip_families": ["IPv6", "IPv4"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "hidden", "namespace": "b", "ports": [{"port": 80, "name": "http"}], "export_to": ["~"]},
        {"name": "private", "namespace": "b", "ports": [{"port": 80, "name": "http"}], "export_to": "."},
        {"name": "pay", "namespace": "c", "ports": [{"port": 80, "name": "http"}], "export_to": "a, c"},
        {"name": "open", "namespace": "c", "ports": [{"port": 7000, "name": "tcp"}], "export_to": ["*"]},
    ],
    "workloads": [
        {"name": "web", "namespace": "a", "labels": {"app": "web", "tier": "front"}, "calls": ["b/db", "b/cache"]},
        {"name": "api", "namespace": "a", "ip_families": ["IPv6"], "calls": ["c/pay", "a/web"]},
        {"name": "db", "namespace": "b", "ip_families": ["IPv6"]},
        {"name": "cache", "namespace": "b", "calls": ["a/web", "b/private"]},
        {"name": "hidden", "namespace": "b"},
        {"name": "private", "namespace": "b"},
        {"name": "pay", "namespace": "c", "ip_families": ["IPv4", "IPv6"], "calls": ["c/open"]},
        {"name": "open", "namespace": "c"},
        {"name": "lone", "namespace": "d", "calls": ["a/api"]},
    ],
    "service_entries": [
        {
            "name": "ext",
            "namespace": "b",
            "spec": {
                "hosts": ["api.example.com"],
                "addresses": ["198.51.100.1", "2001:db8::1"],
                "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                "resolution": "DNS",
            },
        },
        {
            "name": "local",
            "namespace": "b",
            "spec": {
                "hosts": ["local.example.com"],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "resolution": "DNS",
                "exportTo": ["."],
            },
        },
        {
            "name": "wild",
            "namespace": "c",
            "spec": {
                "hosts": ["*.wild.example.com"],
                "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
                "exportTo": ["b"],
            },
        },
    ],
    "virtual_services": [
        {
            "name": "cache",
            "namespace": "b",
            "spec": {
                "hosts": ["cache"],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/v2"}}],
                        "route": [{"destination": {"host": "pay.c.svc.cluster.local"}}],
                    },
                    {
                        "route": [
                            {"destination": {"host": "cache"}, "weight": 80},
                            {"destination": {"host": "db"}, "weight": 20},
                        ]
                    },
                ],
            },
        }
    ],
    "destination_rules": [
        {
            "name": "db",
            "namespace": "b",
            "spec": {"host": "db", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}}},
        }
    ],
    "sidecars": [
        _sidecar("front", "a", ["./*", "b/db.b.svc.cluster.local"], selector={"tier": "front"}),
        _sidecar("default", "a", ["./*", "c/*", "*/api.example.com"]),
        _sidecar("default", "b", ["./*", "*/*.example.com"]),
        _sidecar("default", "istio-system", ["./*", "~/*", "a/web.a.svc.cluster.local"]),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _seen(cluster: Cluster, workload: str) -> set[str]:
    """The hosts a workload's proxies see, by the cluster's scope (or visibility)."""
    index = index_for(cluster)
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == workload)[0])
    ns = int(cluster.workloads["namespace"].iloc[w])
    return {index.hosts[s] for s in index.visible_services(w, ns)}


def _outbound_hosts(cluster: Cluster, proxy: int, design: str) -> set[str]:
    """The hosts of a proxy's outbound clusters (``outbound|P|subset|host`` and per-family copies)."""
    config = proxy_config(index_for(cluster), proxy, get_design(design))
    return {c.name.split("|")[3] for c in config.clusters if c.name.startswith("outbound")}


def test_sidecars_load_and_round_trip() -> None:
    scenario = scenario_from_dict(MESH)
    assert [s.name for s in scenario.sidecars] == ["front", "default", "default", "default"]
    assert scenario_from_dict(yaml.safe_load(scenario_to_yaml(scenario))) == scenario
    services = {s.name: s.export_to for s in scenario.services}
    assert services["private"] == (".",)
    assert services["pay"] == ("a", "c")  # the annotation's comma-separated text
    bad = copy.deepcopy(MESH)
    bad["services"][0]["export_to"] = "a, *, Not_A_Namespace"
    with pytest.raises(ScenarioError, match=r"services\[0\]\.export_to"):
        scenario_from_dict(bad)
    bad = copy.deepcopy(MESH)
    bad["sidecars"][0]["spec"]["egress"][0]["hosts"] = ["nope"]
    with pytest.raises(ScenarioError, match=r"sidecars\[0\]\.spec\.egress\[0\]\.hosts\[0\]"):
        scenario_from_dict(bad)


def test_selection_selector_then_namespace_then_root(mesh: Cluster) -> None:
    chosen = mesh.sidecar_workloads.merge(mesh.sidecars, left_on="sidecar", right_index=True)
    by_workload = dict(
        zip(
            mesh.workloads["name"].to_numpy()[chosen["workload"].to_numpy()].tolist(),
            (chosen["namespace"] + "/" + chosen["name"]).tolist(),
            strict=True,
        )
    )
    assert by_workload["web"] == "a/front"  # its labels hold the selector
    assert by_workload["api"] == "a/default"  # the namespace's selector-less one
    assert by_workload["db"] == "b/default"
    assert by_workload["pay"] == "istio-system/default"  # no Sidecar in c: the root namespace's
    assert by_workload["lone"] == "istio-system/default"
    assert mesh.istio.scoped
    assert istio_record(mesh)["sidecars"] == 4


def test_egress_host_forms_and_export_to(mesh: Cluster) -> None:
    # ns/host from the selector Sidecar, and ./* (its own namespace)
    assert _seen(mesh, "web") == {f"web.a.{SVC}", f"api.a.{SVC}", f"db.b.{SVC}"}
    # c/*: pay (exported to a) and open (public), the wildcard SE is only exported to b;
    # */api.example.com from any namespace; a VS in b is not imported (its host is not in scope)
    assert _seen(mesh, "api") == {f"web.a.{SVC}", f"api.a.{SVC}", f"pay.c.{SVC}", f"open.c.{SVC}", "api.example.com"}
    # ./* in b: hidden (~) is seen by no one, private (.) by b; */*.example.com: local (.) and the
    # wildcard entry (exported to b); the VS on cache brings its destinations pay (not exported to b) and db
    assert _seen(mesh, "db") == {
        f"db.b.{SVC}",
        f"cache.b.{SVC}",
        f"private.b.{SVC}",
        "api.example.com",
        "local.example.com",
        "*.wild.example.com",
    }
    # the root Sidecar as if in c: ./* is c, ~/* imports nothing, a/web
    assert _seen(mesh, "pay") == {f"web.a.{SVC}", f"pay.c.{SVC}", f"open.c.{SVC}"}
    assert _seen(mesh, "lone") == {f"web.a.{SVC}"}  # d has no service: ./* is empty there


def test_unselected_proxies_keep_visibility_narrowed_by_export_to() -> None:
    plain = {**copy.deepcopy(MESH), "sidecars": []}
    cluster = build_cluster(scenario_from_dict(plain))
    assert cluster.istio.scoped  # exportTo alone scopes
    seen = _seen(cluster, "lone")  # visibility all, seen from d
    assert f"hidden.b.{SVC}" not in seen
    assert f"private.b.{SVC}" not in seen
    assert f"pay.c.{SVC}" not in seen
    assert {f"open.c.{SVC}", "api.example.com"} <= seen
    assert "local.example.com" not in seen
    assert f"private.b.{SVC}" in _seen(cluster, "db")
    assert f"hidden.b.{SVC}" not in _seen(cluster, "db")
    deps = build_cluster(scenario_from_dict({**plain, "visibility": "dependencies"}))
    assert _seen(deps, "cache") == {f"web.a.{SVC}", f"private.b.{SVC}"}
    assert _seen(deps, "lone") == {f"api.a.{SVC}"}
    public = copy.deepcopy(plain)
    for service in public["services"]:
        service.pop("export_to", None)
    for entry in public["service_entries"]:
        entry["spec"].pop("exportTo", None)
    assert not build_cluster(scenario_from_dict(public)).istio.scoped  # nothing to scope: visibility alone


def test_virtual_service_destinations_join_the_scope_as_clusters_only() -> None:
    """A Sidecar importing ``./*`` in b gets the cache VirtualService's destinations from elsewhere
    (``collectImportedServices``), when they are exported to it: clusters and endpoint sets, but
    no listener or virtual host, which Istio builds from the egress listener's own services
    (``IstioEgressListenerWrapper.Services``)."""
    scenario = copy.deepcopy(MESH)
    scenario["services"][6]["export_to"] = ["*"]  # pay public
    cluster = build_cluster(scenario_from_dict(scenario))
    pay = f"pay.c.{SVC}"
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == "db")[0])
    scope = cluster.scope[cluster.scope["group"] == cluster.workload_scope_groups()[w]]
    hosts = index_for(cluster).hosts
    assert [hosts[s] for s in scope["service"][scope["clusters_only"]].tolist()] == [pay]
    assert pay not in _seen(cluster, "db")  # not among the services it listens for
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    for design in design_names():
        assert pay in _outbound_hosts(cluster, proxy, design)
        config = proxy_config(index_for(cluster), proxy, get_design(design))
        assert not [v.name for r in config.routes for v in r.virtual_hosts if v.name.startswith(pay)]
        assert not [x.name for x in config.listeners if pay in str(x)]
    without = build_cluster(scenario_from_dict({**scenario, "virtual_services": []}))
    assert pay not in _outbound_hosts(without, proxy, "duplicate")
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_a_destination_in_the_sidecars_namespace_joins_unexported() -> None:
    """``collectImportedServices`` takes a destination whose host has a service in the Sidecar's own
    namespace without asking whether it is exported there: b's Sidecar gets the clusters of hidden
    (``exportTo: ~``) from b's cache VirtualService, and still not those of pay (c, not exported to b)."""
    scenario = copy.deepcopy(MESH)
    scenario["virtual_services"][0]["spec"]["http"].insert(
        0, {"match": [{"uri": {"prefix": "/hidden"}}], "route": [{"destination": {"host": "hidden"}}]}
    )
    cluster = build_cluster(scenario_from_dict(scenario))
    hidden, pay = f"hidden.b.{SVC}", f"pay.c.{SVC}"
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == "db")[0])
    scope = cluster.scope[cluster.scope["group"] == cluster.workload_scope_groups()[w]]
    hosts = index_for(cluster).hosts
    assert [hosts[s] for s in scope["service"][scope["clusters_only"]].tolist()] == [hidden]
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    for design in design_names():
        seen = _outbound_hosts(cluster, proxy, design)
        assert hidden in seen
        assert pay not in seen
    assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("sources", "imported"),
    [
        ([], True),  # no source namespace: every scope
        (["a"], False),  # another namespace's route
        (["a", "b"], True),  # one of its matches is b's
        ([None, "a"], False),  # a match naming none does not keep it (Istio's loop)
    ],
)
def test_a_route_for_other_namespaces_imports_nothing(sources: list[str | None], imported: bool) -> None:
    """``virtualServiceDestinationsFilteredBySourceNamespace`` (Istio 1.24 to HEAD): b's Sidecar
    imports the cache VirtualService's route to pay unless its matches name source namespaces and
    none is b."""
    scenario = copy.deepcopy(MESH)
    scenario["services"][6]["export_to"] = ["*"]  # pay public
    route = scenario["virtual_services"][0]["spec"]["http"][0]
    route["match"] = [
        {"uri": {"prefix": f"/v{i}"}, **({"sourceNamespace": ns} if ns else {})} for i, ns in enumerate(sources)
    ]
    if not sources:
        del route["match"]
    cluster = build_cluster(scenario_from_dict(scenario))
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == "db")[0])
    scope = cluster.scope[cluster.scope["group"] == cluster.workload_scope_groups()[w]]
    hosts = index_for(cluster).hosts
    pay = f"pay.c.{SVC}"
    assert (pay in {hosts[s] for s in scope["service"][scope["clusters_only"]].tolist()}) == imported
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    assert (pay in _outbound_hosts(cluster, proxy, "additional-addresses")) == imported
    if sources == ["a"]:
        assert_exact_every_design(cluster)


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    cluster = build_cluster(scenario_from_dict({**MESH, "visibility": visibility, "synthetic": {"services": 6}}))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


CALL_GRAPH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "db", "namespace": "b", "ip_families": ["IPv6"], "ports": [{"port": 5432, "name": "tcp"}]},
        {"name": "cache", "namespace": "b", "ports": [{"port": 6379, "name": "redis"}]},
    ],
    "workloads": [
        {"name": "web", "namespace": "a", "calls": ["b/db", "b/cache"]},
        {"name": "db", "namespace": "b", "ip_families": ["IPv6"]},
        {"name": "cache", "namespace": "b", "ip_families": ["IPv4", "IPv6"], "calls": ["a/web"]},
    ],
    "synthetic": {"services": 24, "namespaces": 3, "families": {"ipv4": 1, "ipv6": 1, "dual_ipv4_primary": 1}},
    "destination_rules": [
        {"name": "db", "namespace": "b", "spec": {"host": "db", "subsets": [{"name": "v1", "labels": {"app": "db"}}]}}
    ],
}


def test_minimal_sidecars_give_each_proxy_exactly_what_it_calls() -> None:
    """The Sidecars ``minimal_sidecars`` derives (one per namespace), applied: every proxy's outbound
    clusters are the services its namespace's workloads call, and nothing else outbound (the
    passthrough, blackhole and inbound clusters stay), under every design, byte-exact."""
    given = build_cluster(scenario_from_dict(CALL_GRAPH))
    sidecars = [as_kubernetes_object(s) for s in minimal_sidecars(given)]
    scoped = build_cluster(scenario_from_dict({**CALL_GRAPH, "sidecars": sidecars}))
    assert scoped.istio.scoped
    assert len(scoped.sidecar_workloads) == int(scoped.workloads["sidecar"].sum())
    hosts = scoped.service_hosts().to_numpy()
    workload_ns = scoped.workloads["namespace"].to_numpy()
    calls: dict[int, set[str]] = {}  # by namespace
    for w, s in zip(scoped.dependencies["workload"].tolist(), scoped.dependencies["service"].tolist(), strict=True):
        calls.setdefault(int(workload_ns[w]), set()).add(str(hosts[s]))
    assert sum(len(c) for c in calls.values()) > 0
    proxy_ns = scoped.proxies["namespace"].to_numpy()
    for design in design_names():
        for proxy in range(len(scoped.proxies)):
            expected = calls.get(int(proxy_ns[proxy]), set())
            assert _outbound_hosts(scoped, proxy, design) == expected, (design, proxy)
            names = {c.name for c in proxy_config(index_for(scoped), proxy, get_design(design)).clusters}
            assert {"PassthroughCluster", "BlackHoleCluster"} <= names
        assert assert_methods_agree(scoped, design) == len(scoped.proxies)
    # the generator writes the same Sidecars with ./* in place of the own namespace's callees
    generated = build_cluster(
        scenario_from_dict({**CALL_GRAPH, "istio_objects": {"sidecars": {"per_namespace": True}}})
    )
    assert len(generated.sidecars) == len(scoped.sidecars)
    assert generated.sidecars["generated"].all()
    service_ns = generated.services["namespace"].to_numpy()
    for proxy in range(len(generated.proxies)):
        ns = int(proxy_ns[proxy])
        own = {str(h) for h, n in zip(hosts, service_ns, strict=True) if n == ns}
        assert _outbound_hosts(generated, proxy, "single-stack") == calls.get(ns, set()) | own
    # and it shrinks the proxies' configs against the mesh as given
    for design in design_names():
        before = vectorized_sizes(given, get_design(design))[0].groupby("proxy")["bytes"].sum()
        after = vectorized_sizes(scoped, get_design(design))[0].groupby("proxy")["bytes"].sum()
        assert (after <= before).all()
        assert (after < before).any()


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    verdicts = validate_configs(mesh, sample=9)
    rejected = verdicts[~verdicts["accepted"]]
    assert rejected.empty, rejected.to_string()
    assert set(verdicts["design"]) == set(design_names())


SHIPPED = Path(__file__).resolve().parent.parent / "scenarios" / "istio-objects.yaml"


def test_shipped_scenario_is_exact_and_accepted_under_every_design() -> None:
    """``scenarios/istio-objects.yaml``: every object kind, scoped, byte-exact and valid for Envoy."""
    cluster = build_cluster(SHIPPED)
    assert cluster.istio.scoped
    assert min(len(cluster.virtual_services), len(cluster.destination_rules), len(cluster.sidecars)) > 0
    assert len(cluster.service_entries) > 0
    assert len(cluster.object_views) > 0  # exportTo of a VirtualService and a DestinationRule
    # reviews-from-frontend's workloadSelector: frontend's pods get a viewer of their own
    viewers = cluster.rule_viewers["workload"].tolist()
    assert [cluster.workloads["name"].tolist()[w] for w in viewers] == ["frontend"]
    # Nothing in it falls outside what dsim builds: its notes say what it builds as Istio does,
    # route configuration "80"'s virtual host `<host>:80` for each VirtualService host without a
    # port-80 service (istio/istio#22621), and reviews.bookinfo.example.com:9080 beside reviews'
    # own virtual host on 9080 (docs/istio-objects.md 1.4).
    notes = istio_record(cluster)["notes"]
    assert [note.split(":")[0] for note in notes] == [
        "VirtualService host names no service in the mesh (short name with a dot, external host or wildcard "
        "covering none)",
        "VirtualService host naming no service with a port P another of its hosts' services has, its HTTP routes "
        "taking P",
        "VirtualService host naming no service with port 80, its HTTP routes taking port 80",
    ]
    on_9080 = next(r for r in config_of(cluster, "shop/frontend").routes if r.name == "9080")
    assert "reviews.bookinfo.example.com:9080" in {v.name for v in on_9080.virtual_hosts}
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)
    verdicts = validate_configs(cluster, sample=12)
    assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()
    assert set(verdicts["design"]) == set(design_names())


def test_a_sidecar_outbound_traffic_policy_replaces_the_meshs() -> None:
    """``SidecarScope.OutboundTrafficPolicy``: namespace c's Sidecar, which has no egress listener
    (so it imports ``*/*``, as Istio's default egress listener does), sets REGISTRY_ONLY under an
    ALLOW_ANY mesh: its proxies' route configurations end in the 502 virtual host and their
    listeners send unknown traffic to the black hole; everyone else keeps passthrough. Both paths
    agree, and the real Envoy accepts the configs."""
    locked = {
        "name": "locked",
        "namespace": "c",
        "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}},
    }
    scenario = {**MESH, "sidecars": [*MESH["sidecars"], locked], "mesh": {"outbound_traffic_policy": "ALLOW_ANY"}}
    cluster = build_cluster(scenario_from_dict(scenario))
    assert "Sidecar outboundTrafficPolicy" not in " ".join(istio_record(cluster)["notes"])
    every = {index_for(cluster).hosts[s] for s in range(len(cluster.services))}
    assert _seen(cluster, "pay") == {h for h in every if h not in _hidden_from(cluster, "c")}
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)
    index = index_for(cluster)
    catch_all = {}
    for proxy in ("c/pay", "a/api"):
        config = proxy_config(index, index.find_proxy(proxy), get_design("single-stack"))
        (route,) = [r for r in config.routes if r.name == "80"]
        catch_all[proxy] = route.virtual_hosts[-1].name
    assert catch_all == {"c/pay": "block_all", "a/api": "allow_any"}
    verdicts = validate_configs(cluster, sample=3)
    assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()


def _hidden_from(cluster: Cluster, namespace: str) -> set[str]:
    """Hosts whose exportTo leaves ``namespace`` out."""
    hidden = set()
    for svc in MESH["services"]:
        export = svc.get("export_to")
        values = [v.strip() for v in export.split(",")] if isinstance(export, str) else (export or ["*"])
        own = svc["namespace"]
        if "*" not in values and namespace not in {own if v == "." else v for v in values}:
            hidden.add(f"{svc['name']}.{own}.{SVC}")
    for entry in MESH["service_entries"]:
        values = entry["spec"].get("exportTo", ["*"])
        if "*" not in values and namespace not in {entry["namespace"] if v == "." else v for v in values}:
            hidden.update(entry["spec"]["hosts"])
    return hidden
