"""Route configuration ``"80"`` holds a virtual host ``<host>:80`` for each VirtualService host no
port-80 service in the proxy's scope answers (``docs/istio-objects.md`` 1.4, "Hosts without a
port-80 service"; ``dsim/cluster/port80_hosts.py``, ``dsim/xds/port80_vhosts.py``). On listener
port 80 Istio walks every VirtualService the proxy's egress listener has and looks each host up
among the services in scope with port 80 only (``BuildSidecarOutboundVirtualHosts``,
``separateVSHostsAndServices``; istio/istio#22621): a host naming a service without port 80, a
service out of scope, or no service becomes a virtual host of its own, its one domain the host, with
the VirtualService's routes for port 80; the first of one name stands. Istio's own unit test
(``httproute_test.go``, case "virtual service") expects ``test-duplicate-domains.default:80`` with
the one domain ``test-duplicate-domains.default`` beside the service's virtual host. Checked on the
protobuf path, byte-exact in the accounting under every design and visibility, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.istio import istio_record
from dsim.pushsim.reach import virtual_service_reach
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, dual_stack_service

WEB, DB, API = (f"{n}.svc.cluster.local" for n in ("web.shop", "db.shop", "api.pay"))


def _vs(name: str, namespace: str, hosts: list[str], **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, **spec}}


def _to(host: str, port: int | None = None, **route: Any) -> list[dict[str, Any]]:
    destination: dict[str, Any] = {"host": host} if port is None else {"host": host, "port": {"number": port}}
    return [{"route": [{"destination": destination}], **route}]


def mesh_spec(visibility: str = "all", sidecar: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "visibility": visibility,
        "namespaces": [{"name": n} for n in ("shop", "pay", "ops")],
        "services": [
            dual_stack_service("web", "shop", (80, "http"), export_to=["."]),  # pay and ops do not see web
            dual_stack_service("db", "shop", (9080, "http")),
            dual_stack_service("api", "pay", (80, "http"), (9000, "tcp")),
            dual_stack_service("tools", "ops", (80, "http")),
        ],
        "workloads": [
            {"name": n, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "labels": {"app": n}}
            for n, ns in (("web", "shop"), ("db", "shop"), ("api", "pay"), ("tools", "ops"))
        ]
        + [
            {"name": "tools-canary", "namespace": "ops", "ip_families": ["IPv4"], "labels": {"track": "canary"}},
            {"name": "api-canary", "namespace": "pay", "ip_families": ["IPv4"], "labels": {"track": "canary"}},
        ],
        # ops's own rule for api hashes: the routes to api ops's proxies get carry a hash policy.
        "destination_rules": [
            {
                "name": "api-hash",
                "namespace": "ops",
                "spec": {
                    "host": API,
                    "exportTo": ["."],
                    "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
                },
            }
        ],
        "virtual_services": [
            # db lacks port 80: "80" gets db:80 with this route, to db's one port.
            _vs("db", "shop", ["db"], http=_to(DB, timeout="3s")),
            # No route for port 80: nothing in "80".
            _vs("db-9080", "shop", ["db"], http=[{"match": [{"port": 9080}], **_to(DB, 9080)[0]}]),
            # A host of no service, twice: the first in a namespace's walk stands (shop's private one for shop).
            _vs("books", "pay", ["bookinfo.com"], http=_to(API, 80, timeout="1s")),
            _vs("books-shop", "shop", ["bookinfo.com"], exportTo=["."], http=_to(WEB, 80)),
            # web has port 80: web's own virtual host where it is seen, web:80 of its own elsewhere.
            _vs("web", "shop", ["web"], http=_to(WEB, 80, retries={"attempts": 1})),
            # A wildcard covering api (port 80): api's where api is seen; a wildcard covering none: its own.
            _vs("pay-wide", "pay", ["*.pay.svc.cluster.local"], http=_to(API, 80)),
            _vs("ext-wide", "ops", ["*.example.com"], http=_to(API, 80)),
            # Hosts equal to another domain of a port-80 service's virtual host: counted, not built.
            _vs("short", "ops", ["api.pay", "tools.ops.svc"], http=_to(API, 80)),
            # Routes for canary proxies only: "80" of the others has no canary.example.com.
            _vs(
                "canary",
                "pay",
                ["canary.example.com"],
                http=[{"match": [{"sourceLabels": {"track": "canary"}}], **_to(API, 80)[0]}],
            ),
            # Routes for shop's proxies only.
            _vs(
                "from-shop",
                "pay",
                ["shop-only.example.com"],
                http=[{"match": [{"sourceNamespace": "shop"}], **_to(API, 80)[0]}],
            ),
            # Exported to ops by name: ops walks it before the public ones, so its books route stands there.
            _vs("books-ops", "pay", ["bookinfo.com"], exportTo=["ops"], http=_to(API, 80, timeout="9s")),
            # Bound to a gateway only: sidecars never walk it.
            _vs("gateway", "ops", ["gw.example.org"], gateways=["ops/gw"], http=_to(API, 80)),
        ],
    }
    if sidecar:  # ops imports its own namespace only: shop's and pay's VirtualServices leave its "80"
        spec["sidecars"] = [{"name": "default", "namespace": "ops", "spec": {"egress": [{"hosts": ["./*"]}]}}]
    return spec


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec()))


def _port80(cluster: Cluster, proxy: str, design: str = "single-stack") -> dict[str, Any]:
    """``"80"``'s virtual hosts by name: (domains, the VirtualService whose routes it has, the routes' clusters)."""
    route = next(r for r in config_of(cluster, proxy, design).routes if r.name == "80")
    out: dict[str, Any] = {}
    for vhost in route.virtual_hosts:
        config = (
            vhost.routes[0].metadata.filter_metadata["istio"]["config"] if vhost.routes[0].HasField("metadata") else ""
        )
        out[vhost.name] = (list(vhost.domains), config.rsplit("/", 1)[-1], [r.route.cluster for r in vhost.routes])
    return out


def test_a_host_whose_service_lacks_port_80_gets_a_virtual_host_of_its_own(mesh: Cluster) -> None:
    found = _port80(mesh, "pay/api")
    # db's route names no port: the listener's, 80, as Istio looks db up among port 80's services
    # (GetDestinationCluster finds none there), not db's one port 9080.
    assert found[f"{DB}:80"] == ([DB], "db", [f"outbound|80||{DB}"])
    assert found["bookinfo.com:80"] == (["bookinfo.com"], "books", [f"outbound|80||{API}"])
    assert found["*.example.com:80"] == (["*.example.com"], "ext-wide", [f"outbound|80||{API}"])
    # pay does not see web: web's host is one of no service in scope there.
    assert found[f"{WEB}:80"] == ([WEB], "web", [f"outbound|80||{WEB}"])
    # api is seen with port 80: its own virtual host, from the wildcard, with all its domains.
    assert found[f"{API}:80"][1:] == ("pay-wide", [f"outbound|80||{API}"])
    assert len(found[f"{API}:80"][0]) > 1
    assert set(found) == {f"{DB}:80", "bookinfo.com:80", "*.example.com:80", f"{WEB}:80", f"{API}:80", "allow_any"} | {
        "tools.ops.svc.cluster.local:80"
    }


def test_the_first_virtual_service_of_a_host_stands_in_walk_order(mesh: Cluster) -> None:
    # shop walks its private VirtualServices first: books-shop's route, not books'.
    found = _port80(mesh, "shop/web")
    assert found["bookinfo.com:80"] == (["bookinfo.com"], "books-shop", [f"outbound|80||{WEB}"])
    # shop sees web: web's own virtual host, with its service domains.
    assert found[f"{WEB}:80"][1] == "web"
    assert "web" in found[f"{WEB}:80"][0]


def test_hosts_equal_to_a_service_domain_are_counted_not_built(mesh: Cluster) -> None:
    found = _port80(mesh, "ops/tools")
    assert "api.pay:80" not in found
    assert "tools.ops.svc:80" not in found
    assert "gw.example.org:80" not in found
    notes = istio_record(mesh)["notes"]
    counted = [count for note, count in notes.items() if note.startswith("VirtualService host equal to another domain")]
    assert counted == [2]


def test_a_sidecar_keeps_only_the_virtual_services_it_imports() -> None:
    cluster = build_cluster(scenario_from_dict(mesh_spec(sidecar=True)))
    found = _port80(cluster, "ops/tools")
    # ops imports ./*: its own VirtualServices (ext-wide) only, and sees only its own services.
    assert set(found) == {"*.example.com:80", "tools.ops.svc.cluster.local:80", "allow_any"}
    # Without the Sidecar, ops walks every VirtualService exported to it.
    assert {f"{DB}:80", "bookinfo.com:80"} <= set(_port80(build_cluster(scenario_from_dict(mesh_spec())), "ops/tools"))


def test_each_family_copy_of_80_gets_them_under_duplicate(mesh: Cluster) -> None:
    config = config_of(mesh, "pay/api", "duplicate")
    copies = [r for r in config.routes if r.name.startswith("80")]
    assert len(copies) == 2
    for route in copies:
        assert "bookinfo.com:80" in {v.name for v in route.virtual_hosts}


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    assert_exact_every_design(build_cluster(scenario_from_dict(mesh_spec(visibility))))


def test_accounting_is_byte_exact_under_a_sidecar() -> None:
    assert_exact_every_design(build_cluster(scenario_from_dict(mesh_spec(sidecar=True))))


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_a_proxys_own_view_shapes_the_routes(mesh: Cluster) -> None:
    ops = config_of(mesh, "ops/tools")
    route = next(r for r in ops.routes if r.name == "80")
    books = next(v for v in route.virtual_hosts if v.name == "bookinfo.com:80")
    assert books.routes[0].route.timeout.seconds == 9  # books-ops, exported to ops by name, comes first
    assert books.routes[0].route.hash_policy  # ops's own rule for api hashes
    assert "canary.example.com:80" not in _port80(mesh, "ops/tools")
    assert _port80(mesh, "ops/tools-canary")["canary.example.com:80"][1] == "canary"
    assert "canary.example.com:80" not in _port80(mesh, "pay/api")
    # pay's proxies apply the base view of every service; the canary one still keeps its own routes.
    assert _port80(mesh, "pay/api-canary")["canary.example.com:80"][1] == "canary"
    assert "shop-only.example.com:80" in _port80(mesh, "shop/web")
    assert "shop-only.example.com:80" not in _port80(mesh, "pay/api")


def test_visibility_namespace_walks_as_a_sidecar_importing_its_namespace() -> None:
    """``visibility: namespace`` stands for a Sidecar importing ``./*`` (``import_scopes``): ops's
    ``"80"`` is what the real one gives it, not every VirtualService exported to ops."""
    stand_in = _port80(build_cluster(scenario_from_dict(mesh_spec("namespace"))), "ops/tools")
    real = _port80(build_cluster(scenario_from_dict(mesh_spec(sidecar=True))), "ops/tools")
    assert set(stand_in) == set(real) == {"*.example.com:80", "tools.ops.svc.cluster.local:80", "allow_any"}


def _calling_mesh() -> Cluster:
    spec = mesh_spec("dependencies")
    for workload in spec["workloads"]:
        if workload["name"] == "api":
            workload["calls"] = ["shop/db", "ops/tools"]
    return build_cluster(scenario_from_dict(spec))


def test_visibility_dependencies_walks_as_a_sidecar_importing_the_called_hosts() -> None:
    """``visibility: dependencies`` stands for a Sidecar importing each called service by
    ``<namespace>/<host>``: api, calling db and tools, walks shop's VirtualServices naming db (db
    lacks port 80: ``db:80``) and none of pay's own (``bookinfo.com``) or ops's other hosts."""
    mesh = _calling_mesh()
    assert set(_port80(mesh, "pay/api")) == {f"{DB}:80", "tools.ops.svc.cluster.local:80", "allow_any"}
    assert_exact_every_design(mesh)


def test_a_virtual_service_edit_reaches_the_stand_in_importers() -> None:
    """The push model asks the same scopes: under ``dependencies`` the VirtualService ``db`` is
    imported by api's scope alone (the one calling db); ``books`` by none."""
    mesh = _calling_mesh()
    scopes = import_scopes(mesh)
    names = mesh.workloads["name"].tolist()
    reach = dict(zip(mesh.virtual_services["name"].tolist(), virtual_service_reach(mesh), strict=True))

    def importing(vs: str) -> list[str]:
        found = reach[vs]
        assert found is not None
        assert found.importers is not None
        return sorted(names[w] for w in range(len(names)) if scopes.of_workload[w] in set(found.importers.tolist()))

    assert importing("db") == ["api"]
    assert importing("books") == []
    assert reach["gateway"] is None
