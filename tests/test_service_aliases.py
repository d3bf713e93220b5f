"""ExternalName Services (``docs/istio-objects.md`` 3.13): istiod builds them nothing of their own,
and where one names a Service of the mesh (through others too) its names join that Service's
virtual hosts as domains, after the Service's own, sorted by namespace, then host
(``resolveServiceAliases``, ``generateVirtualHostDomains``, Istio 1.30); a Sidecar keeps those its
egress hosts for the Service's namespace match, else those its ``*/`` hosts match
(``matchingAliasService``). Istio's ``TestExternalNameServices`` (``sidecar_simulation_test.go``)
reaches the concrete Service by the alias's FQDN and by ``<alias>.<namespace>``. Both paths agree
byte for byte under every design, and the real Envoy accepts the configs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.service_aliases import ALIAS_DESTINATION, ENTRY_TLS, NO_TARGET, TAKEN_NAME
from dsim.errors import ScenarioError
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import app_sidecar, config_of, dual_stack_service, route_vhosts

API = "api.a.svc.cluster.local"
API_VHOST = f"{API}:80"
LEGACY = "legacy.b.svc.cluster.local"
OLD = "old.c.svc.cluster.local"
ALIAS = "api-alias.a.svc.cluster.local"


def _alias(name: str, namespace: str, target: str) -> dict[str, str]:
    return {"name": name, "namespace": namespace, "external_name": target}


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": n} for n in ("a", "b", "c", "d")],
    "services": [
        # 8080 sniffed: it rides in "8080", which web's HTTP port opens.
        dual_stack_service("api", "a", (80, "http"), (8080, "auto"), (5432, "tcp-db")),
        {"name": "web", "namespace": "b", "ports": [{"port": 80, "name": "http"}, {"port": 8080, "name": "http-alt"}]},
        {"name": "cache", "namespace": "b", "headless": True, "ports": [{"port": 80, "name": "http"}]},
    ],
    "external_name_services": [
        _alias("api-alias", "a", API),
        _alias("legacy", "b", API),
        _alias("old", "c", "legacy.b.svc.cluster.local"),  # through another alias
        _alias("x", "b", "y.b.svc.cluster.local"),  # a loop: NXDOMAIN, no effect
        _alias("y", "b", "x.b.svc.cluster.local"),
        _alias("db", "b", "db.example.com"),  # outside the mesh: no effect
        _alias("dot", "a", f"{API}."),  # compared as written: no host has the dot
        _alias("ext", "d", "api.example.com"),  # a ServiceEntry host
        _alias("cache-alias", "d", "cache.b.svc.cluster.local"),  # a headless Service: its names prefixed too
        _alias("secure", "d", "secure.example.com"),  # an entry's TLS port on the wildcard: SNI not modelled
    ],
    "workloads": [
        {"name": "api", "namespace": "a"},
        {"name": "web", "namespace": "b"},
        {"name": "cache", "namespace": "b"},
        {"name": "client", "namespace": "b"},
        {"name": "client", "namespace": "c"},
        {"name": "client", "namespace": "d"},
        {"name": "fallback", "namespace": "d"},
    ],
    "service_entries": [
        {
            "name": "ext",
            "namespace": "d",
            "spec": {"hosts": ["api.example.com"], "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]},
        },
        {
            "name": "secure",
            "namespace": "d",
            "spec": {"hosts": ["secure.example.com"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]},
        },
    ],
    "virtual_services": [
        {
            # Routes api's virtual host, which keeps its aliases' names.
            "name": "api",
            "namespace": "a",
            "spec": {
                "hosts": ["api"],
                "http": [
                    {"match": [{"uri": {"prefix": "/v2"}}], "route": [{"destination": {"host": "api"}}]},
                    {"route": [{"destination": {"host": "api"}}]},
                ],
            },
        },
        {
            # A route to an alias: its cluster is named after the alias (counted: Istio names api's on TCP routes).
            "name": "to-legacy",
            "namespace": "b",
            "spec": {
                "hosts": ["web"],
                "http": [{"route": [{"destination": {"host": "legacy", "port": {"number": 80}}}]}],
            },
        },
    ],
    "sidecars": [
        {
            # api imported by a's hosts: only those filter its aliases (legacy's */ entry does not count).
            "name": "default",
            "namespace": "c",
            "spec": {
                "egress": [{"hosts": [f"a/{API}", "a/api-alias.a.svc.cluster.local", "*/legacy.b.svc.cluster.local"]}]
            },
        },
        {
            # api imported by a */ host: the */ hosts filter them.
            "name": "default",
            "namespace": "d",
            "spec": {"egress": [{"hosts": [f"*/{API}", "*/old.c.svc.cluster.local", "./*"]}]},
        },
        # a's hosts do not import api: the */ ones do, and they keep both (old.c and api-alias.a).
        app_sidecar(
            "fallback",
            "d",
            "fallback",
            egress=[{"hosts": ["a/web.a.svc.cluster.local", f"*/{API}", f"*/{ALIAS}", "*/old.c.svc.cluster.local"]}],
        ),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _names(host: str, *short: str) -> list[str]:
    return [host, f"{host}.", *short]


@pytest.mark.parametrize("design", design_names())
def test_aliases_join_their_services_virtual_host_as_its_namespace_names_them(mesh: Cluster, design: str) -> None:
    domains = list(route_vhosts(mesh, "b/client", "80", design)[API_VHOST].domains)
    aliases = [
        *_names(ALIAS, "api-alias.a", "api-alias.a.svc"),
        *_names(LEGACY, "legacy", "legacy.b.svc", "legacy.b"),  # b's own: its short name too
        *_names(OLD, "old.c", "old.c.svc"),
    ]
    assert domains[: 4 + len(aliases)] == [API, f"{API}.", "api.a", "api.a.svc", *aliases]
    # Then the VIPs alone: the alias of a name with a dot, in a loop or outside the mesh adds nothing.
    assert all(d[0].isdigit() or d.startswith("[") for d in domains[4 + len(aliases) :])
    home = list(route_vhosts(mesh, "a/api", "80", design)[API_VHOST].domains)
    assert home[5:10] == _names(ALIAS, "api-alias", "api-alias.a.svc", "api-alias.a")


def test_a_sniffed_port_carries_them_where_it_rides_and_not_in_its_own_configuration(mesh: Cluster) -> None:
    riding = route_vhosts(mesh, "b/client", "8080")[f"{API}:8080"]
    assert LEGACY in riding.domains
    own = route_vhosts(mesh, "b/client", f"{API}:8080")
    assert [list(v.domains) for v in own.values()] == [["*"]]


@pytest.mark.parametrize(
    ("proxy", "kept"),
    [("c/client", [ALIAS]), ("d/client", [OLD]), ("d/fallback", [ALIAS, OLD])],
    ids=["namespace-hosts", "wildcard-namespace-hosts", "namespace-hosts-not-importing-it"],
)
def test_a_sidecar_keeps_the_aliases_its_hosts_match(mesh: Cluster, proxy: str, kept: list[str]) -> None:
    domains = list(route_vhosts(mesh, proxy, "80")[API_VHOST].domains)
    short = {ALIAS: ["api-alias.a", "api-alias.a.svc"], OLD: ["old.c", "old.c.svc"]}
    expected = [name for host in kept for name in (host, f"{host}.", *short[host])]
    assert domains[4 : 4 + len(expected)] == expected
    assert all(d[0].isdigit() or d.startswith("[") for d in domains[4 + len(expected) :])


def test_aliases_get_nothing_of_their_own(mesh: Cluster) -> None:
    config = config_of(mesh, "b/client")
    names = [r.name for r in config.listeners] + [c.name for c in config.clusters]
    names += [v.name for r in config.routes for v in r.virtual_hosts]
    assert not [n for n in names if any(a in n for a in ("api-alias", "legacy", "old.c", "x.b", "db."))]
    notes = dict(mesh.istio.notes)
    assert notes[NO_TARGET] == 4  # x and y, db, dot
    assert notes[ENTRY_TLS] == 1  # secure: its names in no SNI match
    assert notes[ALIAS_DESTINATION] == 1
    web = route_vhosts(mesh, "b/client", "80")["web.b.svc.cluster.local:80"]
    assert web.routes[0].route.cluster == f"outbound|80||{LEGACY}"


def test_an_entry_host_and_a_headless_service_hold_their_aliases_names_too(mesh: Cluster) -> None:
    """``resolveServiceAliases`` lists the aliases on every service of the host: a ServiceEntry
    host's virtual host holds them after its own names, and a headless Service's prefixes them
    with ``*.`` as it does its own (``generateVirtualHostDomains``: a Kubernetes ``Passthrough``
    service's every domain)."""
    ext = "ext.d.svc.cluster.local"
    entry = route_vhosts(mesh, "d/client", "80")["api.example.com:80"].domains
    assert list(entry) == ["api.example.com", "api.example.com.", ext, f"{ext}.", "ext", "ext.d.svc", "ext.d"]
    alias = "cache-alias.d.svc.cluster.local"
    names = [alias, f"{alias}.", "cache-alias.d", "cache-alias.d.svc"]
    own = ["cache.b.svc.cluster.local", "cache.b.svc.cluster.local.", "cache", "cache.b.svc", "cache.b"]
    headless = route_vhosts(mesh, "b/client", "80")["cache.b.svc.cluster.local:80"].domains
    assert list(headless) == [*own, *names, *(f"*.{d}" for d in (*own, *names))]


def test_accounting_is_exact_and_envoy_accepts(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    assert_envoy_accepts_every_proxy(mesh)


@pytest.mark.parametrize("visibility", ["namespace", "dependencies"])
def test_under_visibility_stand_ins(visibility: str) -> None:
    """``visibility`` stands for a Sidecar (``./*``; each called service by its host): the first keeps
    every alias of its namespace's services, the second none (no alias is a called host)."""
    data = {
        **SCENARIO,
        "sidecars": [],
        "visibility": visibility,
        "synthetic": {"namespaces": 2, "services": 4},
        "workloads": [
            *SCENARIO["workloads"],
            {"name": "caller", "namespace": "a", "calls": ["b/web", "a/api"]},
        ],
    }
    cluster = build_cluster(scenario_from_dict(data))
    domains = route_vhosts(cluster, "a/caller", "80")[API_VHOST].domains
    assert (LEGACY in domains) == (visibility == "namespace")
    assert_exact_every_design(cluster)


def _refused(alias: dict[str, Any]) -> str:
    data = {**SCENARIO, "external_name_services": [alias]}
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("alias", "field", "words"),
    [
        (_alias("api", "a", "x.example.com"), "external_name_services[0].name", "duplicate service 'api'"),
        (_alias("z", "nowhere", "x.example.com"), "external_name_services[0].namespace", "not a declared namespace"),
        (_alias("z", "a", "Upper.example.com"), "external_name_services[0].external_name", "DNS name"),
        (_alias("z", "a", ""), "external_name_services[0].external_name", "DNS name"),
        (_alias("z", "a", "a..b"), "external_name_services[0].external_name", "DNS name"),
        (_alias("9z", "a", "x.example.com"), "external_name_services[0].name", "starting with a letter"),
    ],
)
def test_bad_external_name_services_are_refused(alias: dict[str, Any], field: str, words: str) -> None:
    message = _refused(alias)
    assert field in message, message
    assert words in message, message


def test_many_aliases_lengthen_the_virtual_hosts_length_prefix() -> None:
    """Some 200 aliases carry the virtual host past 16,383 bytes: its length prefix takes a third
    byte, which the accounting counts where the proxy gets them all and not where a Sidecar keeps none."""
    data = {
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [{"name": "api", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
        "external_name_services": [_alias(f"alias-{k:03d}", "b", API) for k in range(200)],
        "workloads": [{"name": "api", "namespace": "a"}, {"name": "client", "namespace": "b"}],
        "sidecars": [{"name": "default", "namespace": "a", "spec": {"egress": [{"hosts": [f"./{API}"]}]}}],
    }
    cluster = build_cluster(scenario_from_dict(data))
    sizes = {p: route_vhosts(cluster, p, "80")[API_VHOST].ByteSize() for p in ("a/api", "b/client")}
    assert sizes["a/api"] < 16_384 <= sizes["b/client"]
    assert_exact_every_design(cluster)


def test_the_report_says_how_many_aliases_were_built(mesh: Cluster) -> None:
    from dsim.cluster.istio import istio_record
    from dsim.report.review import istio_sentence

    summary = istio_record(mesh)
    assert (summary["aliases"], summary["aliased_services"]) == (6, 4)  # api's 3, ext, cache-alias, secure
    assert "6 ExternalName Services alias 4 hosts of the mesh" in istio_sentence(summary)


def test_chains_resolve_to_their_end_and_whatever_runs_into_a_loop_is_dropped() -> None:
    """``resolveServiceAliases``: an alias of an alias is one of what that one names; one whose chain
    runs into a loop (itself, or a loop further on) names nothing, as Kubernetes DNS answers NXDOMAIN.
    A chain of 10,000 aliases resolves, each alias walked once."""
    from dsim.cluster.service_aliases import resolved_aliases

    found = resolved_aliases({"a": "b", "b": "c", "c": "b", "d": "a", "x": "y", "y": "z", "s": "s", "t": "x"})
    assert found == {"x": "z", "y": "z", "t": "z"}
    chain = {f"n{k}": f"n{k + 1}" for k in range(10_000)}
    assert set(resolved_aliases(chain).values()) == {"n10000"}


def test_in_a_namespace_view_and_under_an_egress_port_listener() -> None:
    """A VirtualService and a DestinationRule private to ``b`` give its proxies a view of their own
    (priced apart), and a Sidecar's egress listener on port 80 builds ``"80"`` for the proxies it
    selects: its hosts, not the catch-all's ``*/*``, decide which aliases they keep."""
    data = copy.deepcopy(SCENARIO)
    api = API
    data["virtual_services"].append(
        {
            "name": "private",
            "namespace": "b",
            "spec": {
                "hosts": [api],
                "exportTo": ["."],
                "http": [{"match": [{"uri": {"prefix": "/p"}}], "route": [{"destination": {"host": api}}]}],
            },
        }
    )
    data["destination_rules"] = [
        {
            "name": "api-b",
            "namespace": "b",
            "spec": {"host": api, "exportTo": ["."], "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}},
        }
    ]
    data["workloads"].append({"name": "other", "namespace": "b", "labels": {"app": "other"}})
    port_listener = {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": [f"a/{api}", f"a/{ALIAS}"]}
    data["sidecars"].append(app_sidecar("port", "b", "other", egress=[port_listener, {"hosts": ["*/*"]}]))
    cluster = build_cluster(scenario_from_dict(data))
    assert len(cluster.object_views)
    assert cluster.istio.egress_layouts
    kept = route_vhosts(cluster, "b/other", "80")[API_VHOST].domains
    assert ALIAS in kept
    assert LEGACY not in kept
    assert LEGACY in route_vhosts(cluster, "b/client", "80")[API_VHOST].domains
    assert_exact_every_design(cluster)


def test_where_a_later_twin_stands_its_aliases_go_with_the_services_virtual_host() -> None:
    """A ServiceEntry host equal to api's but for case, on port 80: a proxy seeing both gets the
    entry's virtual host alone in ``"80"`` (``docs/istio-objects.md`` 1.3), which has no alias (Istio
    compares the alias's target as written); the accounting leaves api's aliases out there too. And
    an alias one of whose names is a ServiceEntry host is counted and not added."""
    data = copy.deepcopy(SCENARIO)
    data["service_entries"] = [
        *data["service_entries"],
        {
            "name": "twin",
            "namespace": "b",
            "spec": {
                "hosts": ["API.a.svc.cluster.local", "legacy.b"],
                "location": "MESH_INTERNAL",
                "resolution": "DNS",
                "endpoints": [{"address": "api.internal.example.com"}],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            },
        },
    ]
    cluster = build_cluster(scenario_from_dict(data))
    assert dict(cluster.istio.notes)[TAKEN_NAME] == 1  # legacy.b is the entry's host
    api = int(np.flatnonzero(cluster.service_hosts().to_numpy() == API)[0])
    kept = cluster.istio.service_aliases.of_service[api]
    assert [a.host for a in kept] == [ALIAS, OLD]  # legacy's names left out
    standing = route_vhosts(cluster, "b/client", "80")[API_VHOST]  # the entry's, lower-cased
    assert not any(d.startswith(("legacy", "api-alias", "old")) for d in standing.domains)
    assert_exact_every_design(cluster)


def _entry(name: str, namespace: str, host: str, port: int, protocol: str, **spec: Any) -> dict[str, Any]:
    ports = [{"number": port, "name": protocol.lower(), "protocol": protocol}]
    return {"name": name, "namespace": namespace, "spec": {"hosts": [host], "ports": ports, **spec}}


def test_entries_of_one_host_in_two_namespaces_and_which_tls_entries_match_by_sni() -> None:
    """Each entry of the host holds the aliases (the one a proxy sees: its own namespace's), with
    short names for a host inside ``svc.<cluster domain>`` and the entry's address last. Only a TLS
    port whose chains match by SNI (no address and no listener per endpoint, or a CIDR address) has
    its SNI matches counted as missing the alias names."""
    pay = "pay.a.svc.cluster.local"
    data = {
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "service_entries": [
            _entry(
                "pay",
                "a",
                pay,
                80,
                "HTTP",
                addresses=["240.0.0.5"],
                resolution="STATIC",
                endpoints=[{"address": "192.0.2.5"}],
            ),
            _entry("pay", "b", pay, 80, "HTTP", resolution="DNS", endpoints=[{"address": "pay.example.com"}]),
            _entry("sel", "a", "sel.example.com", 443, "TLS", workloadSelector={"labels": {"app": "selected"}}),
            _entry("cidr", "a", "cidr.example.com", 443, "TLS", addresses=["10.200.0.0/16"]),
            _entry("addressed", "a", "addressed.example.com", 443, "TLS", addresses=["240.0.0.9"]),
        ],
        "external_name_services": [
            _alias(f"{name}-alias", "b", f"{name}.example.com" if name != "pay" else pay)
            for name in ("pay", "sel", "cidr", "addressed")
        ],
        "workloads": [
            {"name": "client", "namespace": "a"},
            {"name": "client", "namespace": "b"},
            {"name": "selected", "namespace": "a"},
        ],
    }
    cluster = build_cluster(scenario_from_dict(data))
    assert dict(cluster.istio.notes)[ENTRY_TLS] == 1  # cidr's alone
    alias = "pay-alias.b.svc.cluster.local"
    from_a = route_vhosts(cluster, "a/client", "80")[f"{pay}:80"].domains
    assert list(from_a) == [
        *(pay, f"{pay}.", "pay", "pay.a.svc", "pay.a"),
        *(alias, f"{alias}.", "pay-alias.b", "pay-alias.b.svc"),
        "240.0.0.5",
    ]
    from_b = route_vhosts(cluster, "b/client", "80")[f"{pay}:80"].domains  # b's entry: no address
    own_forms = ["pay-alias.b.svc", "pay-alias.b"]  # the alias's namespace's short names
    assert list(from_b) == [pay, f"{pay}.", "pay.a", "pay.a.svc", alias, f"{alias}.", "pay-alias", *own_forms]
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_a_virtualservice_host_equal_to_a_prefixed_alias_name_is_counted_not_built(mesh: Cluster) -> None:
    """A headless Service's alias names come again with ``*.``; a VirtualService host equal to one
    would repeat that domain in ``"80"`` (Envoy refuses a route configuration so), so it is counted
    among the port-80 clashes and not built."""
    data = copy.deepcopy(SCENARIO)
    wildcard = "*.cache-alias.d.svc.cluster.local"
    route = [{"route": [{"destination": {"host": "cache.b.svc.cluster.local"}}]}]
    data["virtual_services"].append({"name": "w", "namespace": "b", "spec": {"hosts": [wildcard], "http": route}})
    cluster = build_cluster(scenario_from_dict(data))
    clashes = [n for what, n in cluster.istio.notes if what.startswith("VirtualService host equal to another domain")]
    assert clashes == [1]
    held = [d for v in route_vhosts(cluster, "b/client", "80").values() for d in v.domains]
    assert held.count(wildcard) == 1
    assert_envoy_accepts_every_proxy(cluster)
