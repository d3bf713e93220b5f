"""VirtualServices with wildcard hosts (``docs/istio-objects.md`` 1.4, ``dsim/cluster/vs_hosts.py``):
a host such as ``*.pay.svc.cluster.local`` names every service it covers. Over HTTP a service takes
the routes of the VirtualServices naming it exactly, else of the first one a namespace sees with the
most specific wildcard covering it (Istio's ``mostSpecificWildcardVsIndex``; a wildcard never steps
in where an exact VirtualService has no route for a port). TCP and TLS routes are walked across
every VirtualService whose host matches the service either way (``getConfigsForHost``), so a
VirtualService for ``en.wikipedia.org`` routes the TCP port of a ``*.wikipedia.org`` ServiceEntry.
Checked on the protobuf path, byte-exact in the accounting under every design, and in the real
Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.cluster.vs_hosts import EXACT, OTHER_WAY, VsHostMatcher, http_chain
from dsim.pushsim.reach import virtual_service_reach
from dsim.xds.mesh_objects import mesh_objects
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, dual_stack_service

WEB, CART, API, EGRESS = (f"{n}.svc.cluster.local" for n in ("web.shop", "cart.shop", "api.pay", "egress.ext"))
EXAMPLE = "api.example.com"


def _vs(name: str, namespace: str, hosts: list[str], **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, **spec}}


def _http(host: str, port: int, **route: Any) -> list[dict[str, Any]]:
    return [{"route": [{"destination": {"host": host, "port": {"number": port}}}], **route}]


def _tcp(host: str, port: int) -> list[dict[str, Any]]:
    return [{"route": [{"destination": {"host": host, "port": {"number": port}}}]}]


MESH: dict[str, Any] = {
    "namespaces": [{"name": n} for n in ("shop", "pay", "ext")],
    "services": [
        dual_stack_service("web", "shop", (80, "http")),
        dual_stack_service("cart", "shop", (80, "http"), (8080, "http-alt")),
        dual_stack_service("api", "pay", (80, "http"), (9000, "tcp")),
        dual_stack_service("egress", "ext", (3128, "tcp")),
    ],
    "workloads": [
        {"name": n, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "labels": {"app": n}}
        for n, ns in (("web", "shop"), ("cart", "shop"), ("api", "pay"), ("egress", "ext"))
    ],
    "service_entries": [
        {
            "name": "wikipedia",
            "namespace": "ext",
            "spec": {
                "hosts": ["*.wikipedia.org"],
                "ports": [{"number": 9200, "name": "tcp", "protocol": "TCP"}],
                "resolution": "NONE",
            },
        },
        {
            "name": "example",
            "namespace": "ext",
            "spec": {
                "hosts": [EXAMPLE],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "resolution": "DNS",
            },
        },
    ],
    "virtual_services": [
        # Every service of the mesh: the least specific wildcard, first in every walk.
        _vs("all-local", "shop", ["*.svc.cluster.local"], http=_http(WEB, 80, timeout="5s")),
        # pay's services: a longer wildcard, so it, not all-local, builds api's virtual host.
        _vs("pay-wide", "pay", ["*.pay.svc.cluster.local"], http=_http(API, 80, retries={"attempts": 2})),
        # The same wildcard, later: never api's virtual host; its TCP route is the first for 9000.
        _vs("pay-wide-2", "pay", ["*.pay.svc.cluster.local"], http=_http(API, 80), tcp=_tcp(API, 9000)),
        # cart's exact host beats both wildcards, and where it has no route (8080) neither steps in.
        _vs("cart-exact", "shop", ["cart"], http=[{"match": [{"port": 80}], **_http(CART, 80)[0]}]),
        # shop's own, more specific than all-local for shop's services, for shop's proxies only.
        _vs("shop-private", "shop", ["*.shop.svc.cluster.local"], exportTo=["."], http=_http(WEB, 80)),
        # A ServiceEntry host under a wildcard.
        _vs("example-wide", "ext", ["*.example.com"], http=_http(EXAMPLE, 80, timeout="2s")),
        # A host the entry's wildcard covers: its TCP route goes to the entry's wildcard listener.
        _vs("wiki-tcp", "ext", ["en.wikipedia.org"], tcp=_tcp(EGRESS, 3128)),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _built_by(cluster: Cluster, proxy: str) -> dict[str, str]:
    """Which VirtualService built each virtual host and listener chain (by port; its ``istio.config`` name)."""
    config = config_of(cluster, proxy)
    out: dict[str, str] = {}
    for route in config.routes:
        for vhost in route.virtual_hosts:
            if vhost.routes and vhost.routes[0].metadata.filter_metadata:
                out[vhost.name] = vhost.routes[0].metadata.filter_metadata["istio"]["config"].rsplit("/", 1)[1]
    for listener in config.listeners:
        for chain in listener.filter_chains:
            if "istio" in chain.metadata.filter_metadata:
                name = chain.metadata.filter_metadata["istio"]["config"].rsplit("/", 1)[1]
                out[f"chain {listener.name.rsplit('_', 1)[1]}"] = name
    return out


def test_the_most_specific_wildcard_builds_each_virtual_host(mesh: Cluster) -> None:
    built = _built_by(mesh, "pay/api")
    assert {k: v for k, v in built.items() if not k.startswith("chain")} == {
        f"{WEB}:80": "all-local",
        f"{CART}:80": "cart-exact",  # exact beats every wildcard; 8080 keeps its default virtual host
        f"{API}:80": "pay-wide",  # the longer wildcard; pay-wide-2 has the same one, later
        f"{EXAMPLE}:80": "example-wide",
    }


def test_tcp_routes_walk_every_matching_virtualdual_stack_service(mesh: Cluster) -> None:
    chains = {k: v for k, v in _built_by(mesh, "pay/api").items() if k.startswith("chain")}
    # 9000: api's address listener; 9200: the wildcard listener of the address-less entry.
    assert chains == {"chain 9000": "pay-wide-2", "chain 9200": "wiki-tcp"}


def test_a_namespaces_private_wildcard_comes_first(mesh: Cluster) -> None:
    built = _built_by(mesh, "shop/web")
    assert built[f"{WEB}:80"] == "shop-private"
    assert built[f"{CART}:80"] == "cart-exact"
    assert built[f"{API}:80"] == "pay-wide"


def test_the_default_virtual_host_stays_where_the_exact_one_has_no_route(mesh: Cluster) -> None:
    config = config_of(mesh, "pay/api")
    vhosts = {v.name: v for r in config.routes for v in r.virtual_hosts}
    assert not vhosts[f"{CART}:8080"].routes[0].metadata.filter_metadata  # the default route
    assert vhosts[f"{CART}:8080"].routes[0].route.cluster == f"outbound|8080||{CART}"


def test_the_notes_say_what_is_built(mesh: Cluster) -> None:
    notes = istio_record(mesh)["notes"]
    wildcards = next(count for note, count in notes.items() if note.startswith("VirtualService wildcard host covering"))
    assert wildcards == 5  # every wildcard host of the mesh covers some service
    other_way = next(count for note, count in notes.items() if "a ServiceEntry's wildcard host covers" in note)
    assert other_way == 1


def test_a_wildcard_edit_reaches_every_service_it_covers(mesh: Cluster) -> None:
    names = mesh.virtual_services["name"].tolist()
    reach = dict(zip(names, virtual_service_reach(mesh), strict=True))
    found = reach["all-local"]
    assert found is not None
    assert found.importers is None
    hosts = mesh.service_hosts()
    assert sorted(hosts[found.services].tolist()) == sorted([WEB, CART, API, EGRESS])


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


# How a host names a service, and which VirtualServices may build its virtual host (Istio's
# MostSpecificHostMatch and host.Name.Matches, on the hosts of their docs).
HOSTS = ["a.ns.svc.cluster.local", "b.other.svc.cluster.local", "*.wikipedia.org", "api.example.com"]


@pytest.mark.parametrize(
    ("host", "named"),
    [
        ("a.ns.svc.cluster.local", {0: EXACT}),
        ("*.ns.svc.cluster.local", {0: len("*.ns.svc.cluster.local")}),
        ("*.svc.cluster.local", {0: len("*.svc.cluster.local"), 1: len("*.svc.cluster.local")}),
        ("*.local", {0: 7, 1: 7}),
        ("*.wikipedia.org", {2: len("*.wikipedia.org")}),  # the entry's own wildcard
        ("en.wikipedia.org", {2: OTHER_WAY}),  # covered by the entry's wildcard, not covering it
        ("*.en.wikipedia.org", {2: OTHER_WAY}),
        ("*.org", {2: 5}),
        ("wikipedia.org", {}),  # '*.wikipedia.org' does not cover its own domain
        ("*.example.com", {3: len("*.example.com")}),
        ("*example.com", {3: len("*example.com")}),
        ("example.com", {}),
    ],
)
def test_how_a_host_names_services(host: str, named: dict[int, int]) -> None:
    matcher = VsHostMatcher(HOSTS, list(range(len(HOSTS))))
    assert matcher.named(host) == named


def test_a_shadowed_host_is_not_named() -> None:
    hosts = ["api.example.com", "api.example.com"]  # a Service and a later ServiceEntry of its host
    matcher = VsHostMatcher(hosts, [0])
    assert matcher.named("*.example.com") == {0: len("*.example.com")}


@pytest.mark.parametrize(
    ("chain", "how", "expected"),
    [
        ((1, 2, 3), {1: 5, 2: EXACT, 3: EXACT}, (2, 3)),  # every exact one, none of the wildcards
        ((1, 2, 3), {1: 5, 2: 9, 3: 9}, (2,)),  # the first of the longest wildcard
        ((4, 1), {4: OTHER_WAY, 1: 5}, (1,)),  # the other way round builds no virtual host
        ((4,), {4: OTHER_WAY}, ()),
        ((), {}, ()),
    ],
)
def test_which_virtual_services_may_build_a_virtual_host(
    chain: tuple[int, ...], how: dict[int, int], expected: tuple[int, ...]
) -> None:
    assert http_chain(chain, how) == expected


def test_a_sidecar_leaves_a_wildcard_virtual_service_it_does_not_import_out_of_the_chains() -> None:
    """Under a ``./*`` Sidecar in shop and in pay, pay's proxies do not import shop's all-local, so
    api's chain there leaves it out (pay-wide builds api's virtual host either way); shop's proxies
    import it. A wildcard's services the egress hosts leave out are out of scope in Istio and dsim
    alike (``docs/istio-objects.md`` 1.4, 4.2)."""
    scoped = {
        **MESH,
        "sidecars": [
            {"name": "default", "namespace": n, "spec": {"egress": [{"hosts": ["./*"]}]}} for n in ("shop", "pay")
        ],
    }
    cluster = build_cluster(scenario_from_dict(scoped))
    names = cluster.workloads["name"].tolist()
    viewers = cluster.workload_viewers()
    left_out = cluster.viewer_unimported
    by_workload = {
        names[w]: sorted(left_out["virtual_service"][left_out["viewer"] == viewers[w]].tolist())
        for w in range(len(names))
    }
    assert by_workload == {"web": [], "cart": [], "api": [0], "egress": []}  # 0: all-local
    objects = mesh_objects(cluster)
    api = cluster.services["name"].tolist().index("api")
    assert objects.chain(None, api)[0] == 0
    assert 0 not in objects.chain(int(viewers[names.index("api")]), api)
    assert _built_by(cluster, "pay/api")[f"{API}:80"] == "pay-wide"
    assert_exact_every_design(cluster)


def test_hosts_istio_builds_on_a_port_their_services_lack_are_built_and_counted() -> None:
    """Istio looks a VirtualService's hosts up among the services with the listener's port only, so
    a host whose services lack the port becomes a virtual host ``<host>:P`` of its own: on port 80,
    where every VirtualService is walked (test_port80_vhosts), and on a port another of its hosts'
    services has (test_cross_port_vhosts). dsim builds both and says how many of each."""
    db = "db.shop.svc.cluster.local"
    mesh = {
        "namespaces": [{"name": "shop"}],
        "services": [dual_stack_service("web", "shop", (80, "http")), dual_stack_service("db", "shop", (9080, "http"))],
        "workloads": [{"name": "web", "namespace": "shop"}],
        "virtual_services": [
            _vs("db", "shop", ["db"], http=_http(db, 9080)),  # "80" gets db:80
            _vs("db-9080", "shop", ["db"], http=[{"match": [{"port": 9080}], **_http(db, 9080)[0]}]),  # nothing
            _vs("wide", "shop", ["*.shop.svc.cluster.local"], http=_http(WEB, 80)),  # covers web, which has 80
            _vs("pair", "other", [WEB, db], http=_http(WEB, 80)),  # db:80 in "80", web:9080 in "9080"
        ],
    }
    mesh["namespaces"].append({"name": "other"})
    cluster = build_cluster(scenario_from_dict(mesh))
    notes = istio_record(cluster)["notes"]

    def counted(start: str) -> list[int]:
        return [count for note, count in notes.items() if note.startswith(start)]

    assert counted("VirtualService host naming no service with port 80") == [2]
    assert counted("VirtualService host naming no service with a port P another") == [1]
    on_9080 = next(r for r in config_of(cluster, "shop/web").routes if r.name == "9080")
    assert {v.name: list(v.domains) for v in on_9080.virtual_hosts}[f"{WEB}:9080"] == [WEB]
