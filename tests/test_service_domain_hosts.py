"""A VirtualService host that is another domain of a Service the same VirtualService names by its
host (``<name>.<namespace>``, ``<name>.<namespace>.svc``, the host with a trailing dot:
``docs/istio-objects.md`` 1.4, "Hosts that are a service's other domain";
``dsim/cluster/service_domain_hosts.py``). Istio resolves only hosts without a dot, so such a host
names no service and is one of the VirtualService's other hosts; building a route configuration it
builds a VirtualService's other hosts before its services and keeps each domain in the first virtual
host that claims it (``BuildSidecarOutboundVirtualHosts``, ``dedupeDomains``). Where the
VirtualService builds the Service's virtual host, each such host is a virtual host of its own with
the same routes and the Service's loses that domain; where an earlier VirtualService builds it, that
one keeps the domain; where the proxy does not see the Service, it is a plain other host. Checked on
the protobuf path, byte-exact in the accounting under every design, visibility and a Sidecar's port
listeners, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, dual_stack_service, route_vhosts

WEB, CART, FEED = (f"{n}.shop.svc.cluster.local" for n in ("web", "cart", "feed"))
LEGACY = "legacy.pay.svc.cluster.local"


def _vs(name: str, namespace: str, hosts: list[str], to: str, timeout: int) -> dict[str, Any]:
    route = {"route": [{"destination": {"host": to}}], "timeout": f"{timeout}s"}
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, "http": [route]}}


def mesh_spec(visibility: str = "all", sidecars: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    workloads = [("web", "shop"), ("cart", "shop"), ("feed", "shop"), ("legacy", "pay"), ("news", "pay")]
    workloads.append(("tools", "ops"))
    return {
        "visibility": visibility,
        "namespaces": [{"name": n} for n in ("shop", "pay", "ops")],
        "services": [
            dual_stack_service("web", "shop", (80, "http")),
            dual_stack_service("cart", "shop", (9090, "http")),
            dual_stack_service("feed", "shop", (7070, "feed")),  # sniffed: it rides in "7070", news opens it
            dual_stack_service("legacy", "pay", (80, "http"), export_to=["."]),  # ops and shop do not see it
            dual_stack_service("news", "pay", (7070, "http")),
            dual_stack_service("tools", "ops", (80, "http")),
        ],
        "workloads": [
            {"name": n, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "labels": {"app": n}, "calls": ["shop/web"]}
            for n, ns in workloads
        ],
        "virtual_services": [
            # Every other domain of web's, and web by its host: each its own virtual host on 80.
            _vs("web", "shop", ["web", "web.shop", "web.shop.svc", f"{WEB}."], WEB, 3),
            _vs("legacy", "pay", ["legacy", "legacy.pay"], LEGACY, 4),
            # first builds cart's virtual host (the first of cart's chain): it keeps cart.shop.
            _vs("first", "shop", ["cart"], CART, 5),
            _vs("second", "shop", ["cart", "cart.shop"], CART, 6),
            _vs("feed", "shop", ["feed", "feed.shop"], FEED, 7),
            # tools names web's domain but not web: left out and counted for every VirtualService
            # listing it (dsim's simplification: whose routes it carries depends on the walk).
            _vs("stray", "ops", ["tools", "web.shop.svc"], "tools.ops.svc.cluster.local", 8),
        ],
        "sidecars": list(sidecars),
    }


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec()))


def _vhosts(cluster: Cluster, proxy: str, route_name: str, design: str = "single-stack") -> dict[str, Any]:
    """``route_name``'s virtual hosts by name: (domains, its first route's timeout)."""
    found = route_vhosts(cluster, proxy, route_name, design)
    return {name: (list(v.domains), v.routes[0].route.timeout.seconds) for name, v in found.items()}


def test_each_domain_host_is_a_virtual_host_taken_from_the_service(mesh: Cluster) -> None:
    for proxy in ("shop/cart", "pay/news"):  # web's own namespace (short names too) and another
        found = _vhosts(mesh, proxy, "80")
        for host in ("web.shop", f"{WEB}."):
            assert found[f"{host}:80"] == ([host], 3)
        domains, timeout = found[f"{WEB}:80"]
        assert timeout == 3
        assert WEB in domains
        assert not {"web.shop", f"{WEB}."} & set(domains)
        # stray lists web.shop.svc too, not naming web: left out for both (below), web keeps it.
        assert "web.shop.svc:80" not in found
        assert "web.shop.svc" in domains
    assert "web" in _vhosts(mesh, "shop/cart", "80")[f"{WEB}:80"][0]  # the short name stays


def test_istios_own_case_virtual_service() -> None:
    """Istio's unit test ``TestSidecarOutboundHTTPRouteConfigWithDuplicateHosts``, case "virtual
    service" (``pilot/pkg/networking/core/httproute_test.go``): a VirtualService with hosts
    ``test-duplicate-domains.default.svc.cluster.local`` and ``test-duplicate-domains.default``; the
    expected virtual hosts and domains of ``"80"``, seen from ``default`` (the service there has no
    address; dsim's has, and its VIP is the service's last domain)."""
    host = "test-duplicate-domains.default.svc.cluster.local"
    istio_expects = {
        "allow_any": ["*"],
        f"{host}:80": [host, f"{host}.", "test-duplicate-domains", "test-duplicate-domains.default.svc"],
        "test-duplicate-domains.default:80": ["test-duplicate-domains.default"],
    }
    spec = {
        "namespaces": [{"name": "default"}],
        "services": [
            {"name": "test-duplicate-domains", "namespace": "default", "ports": [{"port": 80, "name": "http"}]}
        ],
        "workloads": [{"name": "test-duplicate-domains", "namespace": "default", "ip_families": ["IPv4"]}],
        "virtual_services": [
            {
                "name": "acme",
                "namespace": "default",
                "spec": {
                    "hosts": [host, "test-duplicate-domains.default"],
                    "http": [{"route": [{"destination": {"host": host}}]}],
                },
            }
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    found = {name: domains for name, (domains, _) in _vhosts(cluster, "default/test-duplicate-domains", "80").items()}
    found[f"{host}:80"] = found[f"{host}:80"][:-1]  # less the VIP
    assert found == istio_expects
    assert_exact_every_design(cluster)


def test_where_the_service_is_not_seen_the_host_is_a_plain_other_host(mesh: Cluster) -> None:
    own = _vhosts(mesh, "pay/news", "80")
    assert own["legacy.pay:80"] == (["legacy.pay"], 4)
    assert "legacy.pay" not in own[f"{LEGACY}:80"][0]
    # legacy is pay's alone; "80" walks every VirtualService, each host of legacy's a plain other host.
    elsewhere = _vhosts(mesh, "ops/tools", "80")
    assert elsewhere["legacy.pay:80"] == (["legacy.pay"], 4)
    assert elsewhere[f"{LEGACY}:80"] == ([LEGACY], 4)


def test_an_earlier_virtual_service_building_the_service_keeps_the_domain(mesh: Cluster) -> None:
    found = _vhosts(mesh, "shop/web", "9090")
    assert "cart.shop:9090" not in found
    domains, timeout = found[f"{CART}:9090"]
    assert (timeout, "cart.shop" in domains) == (5, True)


def test_a_sniffed_port_rides_with_its_domain_hosts_and_answers_alone(mesh: Cluster) -> None:
    shared = _vhosts(mesh, "pay/news", "7070")
    assert shared["feed.shop:7070"] == (["feed.shop"], 7)
    assert "feed.shop" not in shared[f"{FEED}:7070"][0]
    # The port's own route configuration holds the service's virtual host alone
    # (getVirtualHostsForSniffedServicePort: the domain host does not answer to the service's host).
    assert _vhosts(mesh, "pay/news", f"{FEED}:7070") == {f"{FEED}:7070": (["*"], 7)}


def test_duplicate_copies_each_get_them(mesh: Cluster) -> None:
    copies = [r for r in config_of(mesh, "pay/news", "duplicate").routes if r.name.startswith("80")]
    assert len(copies) == 2
    for route in copies:
        assert "web.shop:80" in {v.name for v in route.virtual_hosts}


def test_a_domain_of_a_service_the_virtual_service_does_not_name_is_counted(mesh: Cluster) -> None:
    notes = istio_record(mesh)["notes"]
    assert [n for note, n in notes.items() if note.startswith("VirtualService host equal to another domain")] == [2]
    assert "web.shop.svc:80" not in _vhosts(mesh, "ops/tools", "80")
    assert "web.shop:80" in _vhosts(mesh, "ops/tools", "80")  # web's other domains are web's VirtualService's
    assert not [note for note in notes if note.startswith("VirtualService host, beside a host")]


PORTS = {
    "name": "ports",
    "namespace": "pay",
    "spec": {
        "egress": [
            # Imports web's VirtualService (by its host web.shop), not web.
            {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["./*", "shop/web.shop"]},
            {"hosts": ["./*", "shop/*"]},
        ]
    },
}


@pytest.mark.parametrize(
    ("visibility", "sidecars"),
    [("all", ()), ("namespace", ()), ("dependencies", ()), ("all", (PORTS,))],
    ids=["all", "namespace", "dependencies", "port-listeners"],
)
def test_accounting_is_byte_exact_every_design(visibility: str, sidecars: tuple[dict[str, Any], ...]) -> None:
    assert_exact_every_design(build_cluster(scenario_from_dict(mesh_spec(visibility, sidecars))))


def test_a_port_listener_without_the_service_leaves_the_host_plain() -> None:
    """pay's listener for 80 holds pay's services alone and imports web's VirtualService by its host
    web.shop: web is not among its services, so web.shop is an other host of "80" there, as is web's
    own host, not one taken from web's virtual host (which that "80" lacks)."""
    cluster = build_cluster(scenario_from_dict(mesh_spec(sidecars=(PORTS,))))
    found = _vhosts(cluster, "pay/news", "80")
    assert found[f"{WEB}:80"] == ([WEB], 3)
    assert found["web.shop:80"] == (["web.shop"], 3)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
