"""A proxy applies only the VirtualServices its scope imports (``docs/istio-objects.md`` 1.4 and
4.3; Istio builds a service's virtual host and TCP chain from its egress listener's
``VirtualServices()``, ``httproute.go`` and ``listener.go``): a VirtualService in another namespace
than its host, a client-side one, shapes the host only where a Sidecar, or the Sidecar a
``visibility`` stands for, imports it. Byte-exact in every design, accepted by the real Envoy, and
whoever applies a VirtualService is pushed when it is edited."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.import_scopes import UNEVEN_IMPORT_NOTE, import_scopes
from dsim.cluster.istio import istio_record
from dsim.pushsim.reach import virtual_service_reach
from dsim.xds.mesh_objects import mesh_objects
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, tcp_proxy_of

REVIEWS, RATINGS = "reviews.back.svc.cluster.local", "ratings.back.svc.cluster.local"


def _service(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "back",
        "ip_families": ["IPv4", "IPv6"],
        "ports": [{"port": 80, "name": "http"}, {"port": 9000, "name": "tcp"}],
    }


def _sidecar(namespace: str, *hosts: str) -> dict[str, Any]:
    return {"name": "default", "namespace": namespace, "spec": {"egress": [{"hosts": list(hosts)}]}}


def mesh_spec(visibility: str = "all") -> dict[str, Any]:
    """reviews has two public VirtualServices: front's (client-side, first in every walk: a 3 s
    timeout, and its TCP port sent to ratings) and back's own (1 s). Who applies which depends on
    the import alone."""
    return {
        "visibility": visibility,
        "namespaces": [{"name": n} for n in ("front", "back", "side", "wide")],
        "services": [_service("reviews"), _service("ratings")],
        "workloads": [
            {
                "name": n,
                "namespace": ns,
                "ip_families": ["IPv4", "IPv6"],
                "labels": {"app": n},
                "calls": ["back/reviews"],
            }
            for n, ns in (("shop", "front"), ("reviews", "back"), ("audit", "side"), ("ops", "wide"))
        ]
        + [{"name": "ratings", "namespace": "back", "ip_families": ["IPv4"], "labels": {"app": "ratings"}}],
        "virtual_services": [
            {
                "name": "client",
                "namespace": "front",
                "spec": {
                    "hosts": [REVIEWS],
                    "http": [{"route": [{"destination": {"host": REVIEWS}}], "timeout": "3s"}],
                    "tcp": [
                        {
                            "match": [{"port": 9000}],
                            "route": [{"destination": {"host": RATINGS, "port": {"number": 9000}}}],
                        }
                    ],
                },
            },
            {
                "name": "own",
                "namespace": "back",
                "spec": {
                    "hosts": ["reviews"],
                    "http": [{"route": [{"destination": {"host": "reviews"}}], "timeout": "1s"}],
                },
            },
        ],
        "sidecars": [
            _sidecar("back", "./*"),  # back's own VirtualServices only
            _sidecar("side", "back/*.back.svc.cluster.local"),  # back's services and VirtualServices
            _sidecar("wide", "./*", "back/*", "front/*"),  # front's too
        ],
    }


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(mesh_spec()))


def _reviews(cluster: Cluster, proxy: str, design: str = "single-stack") -> tuple[float, str]:
    """The timeout of reviews's port-80 virtual host and the cluster its TCP port 9000 proxies to."""
    config = config_of(cluster, proxy, design)
    route = next(r for r in config.routes if r.name == "80")
    vhost = next(v for v in route.virtual_hosts if v.name == f"{REVIEWS}:80")
    listener = next(
        lst
        for lst in config.listeners
        if lst.name.endswith("_9000") and any(c.filter_chain_match.server_names == [] for c in lst.filter_chains)
    )
    chain = next(
        c for c in listener.filter_chains if c.filters and c.filters[-1].name == "envoy.filters.network.tcp_proxy"
    )
    return vhost.routes[0].route.timeout.ToTimedelta().total_seconds(), tcp_proxy_of(chain).cluster


@pytest.mark.parametrize(
    ("proxy", "timeout", "tcp_to"),
    [
        ("front/shop", 3.0, RATINGS),  # no Sidecar: every exported VirtualService, front's first
        ("back/reviews", 1.0, REVIEWS),  # ./*: back's own only
        ("side/audit", 1.0, REVIEWS),  # back/*.back.svc.cluster.local: back's only
        ("wide/ops", 3.0, RATINGS),  # front/* too: front's first again
    ],
)
def test_a_proxy_applies_the_virtual_services_its_sidecar_imports(
    mesh: Cluster, proxy: str, timeout: float, tcp_to: str
) -> None:
    found_timeout, cluster = _reviews(mesh, proxy)
    assert found_timeout == timeout
    assert cluster == f"outbound|9000||{tcp_to}"


def test_the_stand_in_of_visibility_imports_as_its_sidecar() -> None:
    """Without the Sidecars: ``dependencies`` imports ``back/reviews`` only (back's VirtualService),
    ``namespace`` nothing outside the proxy's own namespace, ``all`` everything."""
    for visibility, timeout, tcp_to in (("all", 3.0, RATINGS), ("dependencies", 1.0, REVIEWS)):
        spec = mesh_spec(visibility) | {"sidecars": []}
        cluster = build_cluster(scenario_from_dict(spec))
        assert _reviews(cluster, "front/shop") == (timeout, f"outbound|9000||{tcp_to}"), visibility
    spec = mesh_spec("namespace") | {"sidecars": []}
    cluster = build_cluster(scenario_from_dict(spec))
    assert _reviews(cluster, "back/reviews") == (1.0, f"outbound|9000||{REVIEWS}")


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    for visibility in ("namespace", "dependencies"):
        assert_exact_every_design(build_cluster(scenario_from_dict(mesh_spec(visibility) | {"sidecars": []})))


@pytest.mark.slow
def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def _applied_by(cluster: Cluster) -> dict[int, set[str]]:
    """Per VirtualService, the workloads that apply it to a service they have a virtual host for,
    each checked to be among its importers (its edits push them)."""
    objects = mesh_objects(cluster)
    scopes = import_scopes(cluster)
    reach = virtual_service_reach(cluster)
    viewers = cluster.workload_viewers()
    names = cluster.workloads["name"].tolist()
    if cluster.istio.scoped:
        pairs = cluster.scope_groups.merge(cluster.scope[~cluster.scope["clusters_only"]], on="group")
    elif cluster.scenario.visibility == "dependencies":
        pairs = cluster.dependencies
    else:  # namespace: its own namespace's services
        own = cluster.workloads["namespace"].to_numpy()
        rows = [
            (w, s) for w in range(len(own)) for s in np.flatnonzero(cluster.services["namespace"].to_numpy() == own[w])
        ]
        pairs = pd.DataFrame(rows, columns=["workload", "service"])
    applied_by: dict[int, set[str]] = {}
    for w in range(len(cluster.workloads)):
        chains = objects.view(int(viewers[w])).vs_of_service
        for service in pairs["service"][pairs["workload"] == w].tolist():
            for v in chains.get(service, ()):
                applied_by.setdefault(v, set()).add(names[w])
                found = reach[v]
                assert found is not None
                assert found.importers is None or scopes.of_workload[w] in found.importers, (names[w], v)
    return applied_by


def test_whoever_applies_a_virtual_service_imports_it(mesh: Cluster) -> None:
    """Each proxy's applied VirtualServices are among those its scope imports, so an edit of one
    pushes every proxy it shapes; here front's reaches front and wide, back's all four. Under the
    stand-ins, front's reaches no one (``dependencies``: front imports ``back/reviews`` only)."""
    assert _applied_by(mesh) == {0: {"shop", "ops"}, 1: {"shop", "reviews", "ratings", "audit", "ops"}}
    dependencies = build_cluster(scenario_from_dict(mesh_spec("dependencies") | {"sidecars": []}))
    assert _applied_by(dependencies) == {1: {"shop", "reviews", "audit", "ops"}}
    namespace = build_cluster(scenario_from_dict(mesh_spec("namespace") | {"sidecars": []}))
    assert _applied_by(namespace) == {1: {"reviews", "ratings"}}


def test_a_root_namespace_sidecar_imports_for_the_proxy_namespace() -> None:
    """The root namespace's Sidecar (``istio-system``), importing ``back/*``, applies to front's
    proxies too: they no longer apply front's own client-side VirtualService."""
    spec = mesh_spec()
    spec["namespaces"] = [*spec["namespaces"], {"name": "istio-system"}]
    spec["sidecars"] = [_sidecar("istio-system", "back/*")]
    cluster = build_cluster(scenario_from_dict(spec))
    assert _reviews(cluster, "front/shop") == (1.0, f"outbound|9000||{REVIEWS}")
    assert _applied_by(cluster) == {1: {"shop", "reviews", "ratings", "audit", "ops"}}


def _port_listener_sidecar(port: int, protocol: str) -> dict[str, Any]:
    """back's Sidecar: a listener on ``port`` importing ``./*`` beside a catch-all importing ``*/*``."""
    return {
        "name": "default",
        "namespace": "back",
        "spec": {
            "egress": [
                {"port": {"number": port, "protocol": protocol, "name": protocol.lower()}, "hosts": ["./*"]},
                {"hosts": ["*/*"]},
            ]
        },
    }


@pytest.mark.parametrize(
    ("port", "protocol", "applied"),
    [
        # 9000's listener imports back's VirtualServices alone: reviews's TCP port keeps its own
        # cluster there, while 80 (the catch-all's) takes front's VirtualService, first in the walk.
        (9000, "TCP", (3.0, f"outbound|9000||{REVIEWS}")),
        # 80's listener imports back's alone: back's own routes on 80; 9000 (the catch-all's) front's.
        (80, "HTTP", (1.0, f"outbound|9000||{RATINGS}")),
    ],
)
def test_each_egress_listener_applies_the_virtual_services_it_imports(
    port: int, protocol: str, applied: tuple[float, str]
) -> None:
    """Istio builds a listener's chains and a port's virtual hosts from the VirtualServices of the
    egress listener building them (``egressListener.VirtualServices()``), not from every listener's."""
    spec = mesh_spec()
    spec["sidecars"] = [_port_listener_sidecar(port, protocol)]
    cluster = build_cluster(scenario_from_dict(spec))
    assert _reviews(cluster, "back/reviews") == applied
    assert _reviews(cluster, "front/shop") == (3.0, f"outbound|9000||{RATINGS}")  # no Sidecar: front's
    assert UNEVEN_IMPORT_NOTE not in istio_record(cluster)["notes"]
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_a_serviceentry_host_under_unequal_listeners_is_counted() -> None:
    """A ServiceEntry host's listeners take every listener's imports (simplified): where a listener
    holding the host does not import a VirtualService naming it, the notes count it."""
    spec = mesh_spec()
    spec["service_entries"] = [
        {
            "name": "ext",
            "namespace": "back",
            "spec": {
                "hosts": ["ext.example.com"],
                "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
                "resolution": "DNS",
            },
        }
    ]
    spec["virtual_services"].append(
        {
            "name": "ext",
            "namespace": "front",
            "spec": {"hosts": ["ext.example.com"], "tcp": [{"route": [{"destination": {"host": RATINGS}}]}]},
        }
    )
    spec["sidecars"] = [_port_listener_sidecar(9000, "TCP")]
    notes = istio_record(build_cluster(scenario_from_dict(spec)))["notes"]
    assert isinstance(notes, dict)
    assert notes.get(UNEVEN_IMPORT_NOTE) == 1


def test_a_sniffed_route_configuration_is_answered_by_the_listener_owning_its_port() -> None:
    """front's port-80 listener (``./*``) owns RDS for 80 but does not hold api, whose sniffed port
    the catch-all builds: Istio answers ``"<api>:80"`` from the port listener, where front's
    VirtualService for api names no service of its own, and keeps that host's virtual host with
    domains ``*`` (``getVirtualHostsForSniffedServicePort``)."""
    api = "api.back.svc.cluster.local"
    spec: dict[str, Any] = {
        "namespaces": [{"name": "front"}, {"name": "back"}],
        "services": [
            {"name": "api", "namespace": "back", "ip_families": ["IPv4"], "ports": [{"port": 80, "name": "web"}]},
            {"name": "shop", "namespace": "front", "ip_families": ["IPv4"], "ports": [{"port": 80, "name": "http"}]},
        ],
        "workloads": [
            {"name": "api", "namespace": "back", "ip_families": ["IPv4"]},
            {"name": "shop", "namespace": "front", "ip_families": ["IPv4"]},
        ],
        "virtual_services": [
            {
                "name": "api-client",
                "namespace": "front",
                "spec": {"hosts": [api], "http": [{"route": [{"destination": {"host": api}}], "timeout": "5s"}]},
            }
        ],
        "sidecars": [
            {
                "name": "default",
                "namespace": "front",
                "spec": {
                    "egress": [
                        {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["./*"]},
                        {"hosts": ["*/*"]},
                    ]
                },
            }
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    route = next(r for r in config_of(cluster, "front/shop").routes if r.name == f"{api}:80")
    assert [(v.name, list(v.domains)) for v in route.virtual_hosts] == [(f"{api}:80", ["*"])]
    assert route.virtual_hosts[0].routes[0].route.timeout.seconds == 5
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)
