"""On a port P other than 80, a VirtualService that builds a service's virtual host also gives each
of its other hosts a virtual host ``<host>:P`` (``docs/istio-objects.md`` 1.4, "Hosts on another
host's port"; ``dsim/cluster/cross_port_hosts.py``, ``dsim/xds/cross_port_vhosts.py``). Istio walks
on P only the VirtualServices with a host matching a service in scope that has P
(``selectVirtualServices``) and looks their hosts up among those services alone
(``separateVSHostsAndServices``): a host naming no service, a service without P or one the proxy does
not see becomes ``<host>:P``, its one domain the host, with the VirtualService's routes for P
(``buildSidecarVirtualHostsForVirtualService``), provided the VirtualService matches some service
whose port P is HTTP or sniffed (``serviceByPort``). Checked on the protobuf path, byte-exact in the
accounting under every design and visibility, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, dual_stack_service, route_vhosts

REVIEWS, RATINGS, DB = (f"{n}.shop.svc.cluster.local" for n in ("reviews", "ratings", "db"))
LEGACY, API = (f"{n}.pay.svc.cluster.local" for n in ("legacy", "api"))
TOOLS = "tools.ops.svc.cluster.local"


def _vs(name: str, namespace: str, hosts: list[str], to: str, **spec: Any) -> dict[str, Any]:
    route: dict[str, Any] = {"route": [{"destination": {"host": to}}], **spec.pop("route", {})}
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, "http": [route], **spec}}


def mesh_spec(visibility: str = "all", sidecars: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    workloads = [("reviews", "shop", {}), ("ratings", "shop", {}), ("api", "pay", {}), ("tools", "ops", {})]
    workloads += [("api-canary", "pay", {"track": "canary"}), ("legacy", "pay", {})]
    return {
        "visibility": visibility,
        "namespaces": [{"name": n} for n in ("shop", "pay", "ops")],
        "services": [
            dual_stack_service("reviews", "shop", (9080, "http")),
            dual_stack_service("ratings", "shop", (9080, "http"), export_to=["."]),  # pay and ops do not see ratings
            dual_stack_service("db", "shop", (9080, "tcp")),  # port 9080, not HTTP: finds its host, selects nothing
            dual_stack_service("legacy", "pay", (80, "http")),
            dual_stack_service("api", "pay", (7070, "http"), (9000, "tcp")),
            dual_stack_service("tools", "ops", (8080, "http")),
        ],
        "workloads": [
            {"name": n, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "labels": {"app": n, **labels}}
            for n, ns, labels in workloads
        ],
        "virtual_services": [
            # reviews selects it on 9080: its other hosts get reviews' routes there. ratings is its
            # own where it is seen (shop); db's host is db's where db is seen. reviews.shop is a
            # domain of reviews' own virtual host: Istio builds reviews.shop:9080 and takes the
            # domain from reviews' (dedupeDomains, VS hosts first; tests/test_service_domain_hosts.py).
            _vs(
                "reviews",
                "shop",
                ["reviews", "reviews.example.com", "ratings", LEGACY, "db", "reviews.shop"],
                REVIEWS,
                route={"timeout": "3s"},
            ),
            # reviews.example.com again: the first VirtualService of the walk keeps it; pay and ops
            # do not see ratings, so dup builds nothing there. reviews.shop.svc is a domain of a
            # service dup does not name by its host: counted, not built (dsim's simplification).
            _vs(
                "dup", "shop", ["ratings", "reviews.example.com", "reviews.shop.svc"], RATINGS, route={"timeout": "5s"}
            ),
            # A wildcard selects api on 7070 where pay-wide builds api's virtual host.
            _vs("pay-wide", "pay", ["*.pay.svc.cluster.local", "pay.example.com"], API),
            # ops names api exactly: there pay-wide builds nothing, so no pay.example.com:7070.
            _vs("api-ops", "ops", [API], API, exportTo=["."]),
            # Routes for canary proxies only.
            _vs(
                "canary",
                "pay",
                [TOOLS, "canary.example.com"],
                TOOLS,
                route={"match": [{"sourceLabels": {"track": "canary"}}]},
            ),
            # A client-side VirtualService of pay's for tools.
            _vs("client", "pay", [TOOLS, "client.example.com"], TOOLS),
            # No route for 9080: nothing there.
            _vs("elsewhere", "shop", ["reviews", "only9999.example.com"], REVIEWS, route={"match": [{"port": 9999}]}),
        ],
        "sidecars": list(sidecars),
    }


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec()))


def _vhosts(cluster: Cluster, proxy: str, route_name: str, design: str = "single-stack") -> dict[str, Any]:
    """``route_name``'s virtual hosts by name: (domains, the VirtualService of its first route, its timeout)."""
    out: dict[str, Any] = {}
    for vhost in route_vhosts(cluster, proxy, route_name, design).values():
        first = vhost.routes[0]
        config = first.metadata.filter_metadata["istio"]["config"] if first.HasField("metadata") else ""
        out[vhost.name] = (list(vhost.domains), config.rsplit("/", 1)[-1], first.route.timeout.seconds)
    return out


def test_other_hosts_ride_on_the_port_of_the_service_that_selects_them(mesh: Cluster) -> None:
    found = _vhosts(mesh, "pay/api", "9080")
    assert found["reviews.example.com:9080"] == (["reviews.example.com"], "reviews", 3)
    assert found[f"{LEGACY}:9080"] == ([LEGACY], "reviews", 3)  # legacy has no port 9080
    assert found[f"{RATINGS}:9080"] == ([RATINGS], "reviews", 3)  # pay does not see ratings
    assert f"{DB}:9080" not in found  # db has 9080 and pay sees it: db's host, not one of its own
    assert found["reviews.shop:9080"] == (["reviews.shop"], "reviews", 3)  # taken from reviews' domains
    assert "reviews.shop" not in found[f"{REVIEWS}:9080"][0]
    assert "only9999.example.com:9080" not in found
    assert set(found) == {
        f"{REVIEWS}:9080",
        "reviews.shop:9080",
        "reviews.example.com:9080",
        f"{LEGACY}:9080",
        f"{RATINGS}:9080",
        "allow_any",
    }


def test_a_seen_service_is_its_own_and_the_first_host_of_a_name_stands(mesh: Cluster) -> None:
    found = _vhosts(mesh, "shop/reviews", "9080")
    assert found[f"{RATINGS}:9080"][1] == "reviews"  # ratings' own virtual host, reviews' routes
    assert len(found[f"{RATINGS}:9080"][0]) > 1  # with all its service domains
    assert found["reviews.example.com:9080"] == (["reviews.example.com"], "reviews", 3)  # not dup's
    assert set(found) == {f"{REVIEWS}:9080", f"{RATINGS}:9080", "reviews.example.com:9080", f"{LEGACY}:9080"} | {
        "reviews.shop:9080",
        "allow_any",
    }


def test_a_wildcard_selects_where_it_builds_the_service_virtual_host(mesh: Cluster) -> None:
    assert _vhosts(mesh, "pay/api", "7070")["pay.example.com:7070"] == (["pay.example.com"], "pay-wide", 0)
    assert "*.pay.svc.cluster.local:7070" not in _vhosts(mesh, "pay/api", "7070")  # it covers api: api's
    # ops names api exactly (api-ops): the wildcard does not build api's virtual host there.
    ops = _vhosts(mesh, "ops/tools", "7070")
    assert ops[f"{API}:7070"][1] == "api-ops"
    assert "pay.example.com:7070" not in ops


def test_source_conditions_decide_per_proxy(mesh: Cluster) -> None:
    assert "canary.example.com:8080" in _vhosts(mesh, "pay/api-canary", "8080")
    assert "canary.example.com:8080" not in _vhosts(mesh, "pay/api", "8080")
    assert "client.example.com:8080" in _vhosts(mesh, "pay/api", "8080")


def test_family_copies_each_get_them_under_duplicate(mesh: Cluster) -> None:
    copies = [r for r in config_of(mesh, "pay/api", "duplicate").routes if r.name.startswith("9080")]
    assert len(copies) == 2
    for route in copies:
        assert "reviews.example.com:9080" in {v.name for v in route.virtual_hosts}


def test_clashing_hosts_are_counted_not_built(mesh: Cluster) -> None:
    notes = istio_record(mesh)["notes"]
    counted = [n for note, n in notes.items() if note.startswith("VirtualService host, beside a host of a service")]
    assert counted == [1]  # dup's reviews.shop.svc on 9080
    assert not [note for note in notes if "not built" in note and "`<host>:P`" in note and "beside" not in note]


OPS_OWN = {"name": "own", "namespace": "ops", "spec": {"egress": [{"hosts": ["./*", "pay/*"]}]}}
PAY_PORTS = {
    "name": "ports",
    "namespace": "pay",
    "spec": {
        "egress": [
            {"port": {"number": 8080, "protocol": "HTTP", "name": "http"}, "hosts": ["ops/*"]},
            {"hosts": ["./*", "shop/*"]},
        ]
    },
}


def test_a_sidecar_walks_only_what_its_listener_for_the_port_imports() -> None:
    cluster = build_cluster(scenario_from_dict(mesh_spec(sidecars=(OPS_OWN, PAY_PORTS))))
    # ops imports its own and pay's VirtualServices, not shop's: no reviews routes anywhere in ops.
    assert "client.example.com:8080" in _vhosts(cluster, "ops/tools", "8080")
    assert "7070" in {r.name for r in config_of(cluster, "ops/tools").routes}
    # pay's listener for 8080 imports ops/* alone: pay's own client VirtualService is not walked there.
    assert "client.example.com:8080" not in _vhosts(cluster, "pay/api", "8080")
    assert "reviews.example.com:9080" in _vhosts(cluster, "pay/api", "9080")
    assert_exact_every_design(cluster)


def test_a_port_listener_walks_only_what_its_own_services_select() -> None:
    """The port listener owning "8080" holds ops's services alone (``servicesByName``): a
    VirtualService naming a shop service with 8080, which only the catch-all holds, is not selected
    there (``selectVirtualServices``), so its other host gets nothing."""
    spec = {
        "namespaces": [{"name": n} for n in ("shop", "ops", "pay")],
        "services": [
            dual_stack_service("reviews", "shop", (8080, "http")),
            dual_stack_service("tools", "ops", (8080, "http")),
            dual_stack_service("api", "pay", (7070, "http")),
        ],
        "workloads": [
            {"name": n, "namespace": ns, "labels": {"app": n}}
            for n, ns in (("reviews", "shop"), ("tools", "ops"), ("api", "pay"))
        ],
        "virtual_services": [_vs("ops-vs", "ops", ["reviews.shop.svc.cluster.local", "x.example.com"], TOOLS)],
        "sidecars": [PAY_PORTS],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    assert set(_vhosts(cluster, "pay/api", "8080")) == {f"{TOOLS}:8080", "allow_any"}
    assert "x.example.com:8080" in _vhosts(cluster, "ops/tools", "8080")  # no Sidecar: reviews selects it
    assert_exact_every_design(cluster)


def test_serviceentry_ports_of_every_http_protocol_select() -> None:
    """Istio's ``IsHTTPOrSniffed`` holds for GRPC-Web and HTTP_PROXY ports too (``IsHTTP``): a
    ServiceEntry port of either selects its VirtualService on the port."""
    entries = [
        {
            "name": name,
            "namespace": "ext",
            "spec": {
                "hosts": [f"{name}.example.com"],
                "resolution": "DNS",
                "ports": [{"number": 8080, "name": "p", "protocol": protocol}],
            },
        }
        for name, protocol in (("gw", "GRPC-Web"), ("px", "HTTP_PROXY"), ("plain", "HTTP"))
    ]
    spec = {
        "namespaces": [{"name": "client"}, {"name": "ext"}],
        "services": [dual_stack_service("web", "client", (8080, "http"))],
        "workloads": [{"name": "web", "namespace": "client", "labels": {"app": "web"}}],
        "service_entries": entries,
        "virtual_services": [
            _vs(name, "client", [f"{name}.example.com", f"other-{name}.example.com"], f"{name}.example.com")
            for name in ("gw", "px", "plain")
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    found = _vhosts(cluster, "client/web", "8080")
    assert {f"other-{name}.example.com:8080" for name in ("gw", "px", "plain")} <= set(found)
    assert_exact_every_design(cluster)


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    spec = mesh_spec(visibility)
    for workload in spec["workloads"]:
        if workload["name"] == "api":
            workload["calls"] = ["shop/reviews", "ops/tools"]
    assert_exact_every_design(build_cluster(scenario_from_dict(spec)))


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
