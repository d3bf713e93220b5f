"""ServiceEntry hosts' virtual host domains in the shared ``"P"`` route configurations (issue 16,
``docs/istio-objects.md`` 1.3, Istio 1.30 ``httproute.go``):

- a host written inside ``svc.<cluster domain>`` gets short names as a Service does, read off its
  text (``GenerateAltVirtualHosts``): the namespace its text names, not the entry's, is the one whose
  proxies get the shortest; a short name equal to another host of the configuration is dropped
  (``dedupeDomains``' known FQDNs), as a Service's equal to a ServiceEntry host is, and a wildcard
  host's ``*`` is left out (Envoy refuses it beside the catch-all);
- hosts sharing an address list it as a domain once, in the first virtual host holding it
  (``dedupeDomains``), the registry's first for every proxy.

Every route configuration lists each domain once, the accounting agrees byte for byte under every
design and visibility, the push model prices the short names for the right proxies, and the real
Envoy accepts every config."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.pushsim.churn import churn_stream
from dsim.xds.vocabulary import XDS_TYPES
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, route_vhosts
from tests.pushsim.test_configs import config_model


def _entry(name: str, hosts: list[str], **spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"number": 80, "name": "http", "protocol": "HTTP"}])
    return {"name": name, "namespace": "ext", "spec": {"hosts": hosts, "ports": ports, **spec}}


VM = "vm.apps.svc.cluster.local"
SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": n} for n in ("web", "apps", "ext", "w")],
    "services": [
        {
            "name": "web",
            "namespace": "web",
            "ports": [{"port": 80, "name": "http"}, {"port": 9000, "name": "http-admin"}],
        },
        {"name": "api", "namespace": "apps", "ports": [{"port": 80, "name": "http"}]},
    ],
    "workloads": [
        {"name": "web", "namespace": "web", "ip_families": ["IPv4", "IPv6"]},
        {"name": "local", "namespace": "apps", "ip_families": ["IPv4", "IPv6"]},
        {"name": "tools", "namespace": "ext"},
        {"name": "wild", "namespace": "w"},
    ],
    "service_entries": [
        # A VM behind a Kubernetes-style name, its entry in another namespace than the one it names.
        _entry(
            "vm",
            [VM],
            addresses=["240.0.0.10", "2001:db8::10"],
            ports=[{"number": 80, "name": "http", "protocol": "HTTP"}, {"number": 9000, "name": "metrics"}],
            resolution="STATIC",
            endpoints=[{"address": "10.1.1.1"}, {"address": "2001:db8:1::1"}],
        ),
        # A host that is the VM's short name from elsewhere: that name stays its own.
        _entry("literal", ["vm.apps"], resolution="DNS"),
        # A name inside svc.cluster.local whose namespace the mesh does not have: no proxy's own.
        _entry("far", ["db.nowhere.svc.cluster.local"], resolution="DNS"),
        # A host that is a Service's short name: the Service's virtual host leaves it to the host.
        _entry("legacy-api", ["api.apps"], resolution="DNS"),
        _entry("wildcard", ["*.w.svc.cluster.local"], resolution="NONE"),
        # Hosts sharing an address: one entry's two hosts, and another entry's host.
        _entry(
            "pair",
            ["p1.example.com", "p2.example.com"],
            addresses=["240.0.0.9"],
            resolution="STATIC",
            endpoints=[{"address": "10.1.1.2"}],
        ),
        _entry(
            "alone",
            ["q.example.com"],
            addresses=["240.0.0.9"],
            resolution="STATIC",
            endpoints=[{"address": "10.1.1.3"}],
        ),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _domains(cluster: Cluster, proxy: str, host: str, port: int = 80, design: str = "single-stack") -> list[str]:
    return list(route_vhosts(cluster, proxy, str(port), design)[f"{host}:{port}"].domains)


def test_a_kubernetes_style_host_gets_short_names_by_its_text(mesh: Cluster) -> None:
    """From ``apps``, the namespace the host names, the shortest; from elsewhere, ``ext`` (the
    entry's own) included, the two longer ones; ``vm.apps`` is another host's on port 80, so dropped
    from ``"80"``."""
    assert _domains(mesh, "apps/local", VM) == [VM, f"{VM}.", "vm", "vm.apps.svc", "240.0.0.10"]
    for proxy in ("web/web", "ext/tools"):
        assert _domains(mesh, proxy, VM) == [VM, f"{VM}.", "vm.apps.svc", "240.0.0.10"]
    assert _domains(mesh, "web/web", "vm.apps") == ["vm.apps", "vm.apps."]
    # Sniffed, riding in web's "9000", where no other host has the port: nothing drops vm.apps there.
    assert _domains(mesh, "web/web", VM, 9000) == [VM, f"{VM}.", "vm.apps", "vm.apps.svc", "240.0.0.10"]
    far = "db.nowhere.svc.cluster.local"
    assert _domains(mesh, "apps/local", far) == [far, f"{far}.", "db.nowhere", "db.nowhere.svc"]


def test_a_service_leaves_a_short_name_to_the_host_bearing_it(mesh: Cluster) -> None:
    host = "api.apps.svc.cluster.local"
    assert _domains(mesh, "apps/local", host)[:4] == [host, f"{host}.", "api", "api.apps.svc"]
    assert _domains(mesh, "web/web", host)[:3] == [host, f"{host}.", "api.apps.svc"]
    assert _domains(mesh, "web/web", "api.apps") == ["api.apps", "api.apps."]


def test_the_short_names_follow_the_design_s_addresses(mesh: Cluster) -> None:
    assert _domains(mesh, "apps/local", VM, design="additional-addresses-1.24")[-2:] == ["240.0.0.10", "[2001:db8::10]"]


def test_a_wildcard_host_keeps_no_bare_star(mesh: Cluster) -> None:
    host = "*.w.svc.cluster.local"
    assert _domains(mesh, "w/wild", host) == [host, f"{host}.", "*.w.svc", "*.w"]
    assert _domains(mesh, "web/web", host) == [host, f"{host}.", "*.w", "*.w.svc"]
    assert any("short name `*` left out" in note for note, _ in mesh.istio.notes)


def test_hosts_sharing_an_address_list_it_once(mesh: Cluster) -> None:
    for design in design_names():
        for proxy in ("web/web", "apps/local", "w/wild"):
            for route in config_of(mesh, proxy, design).routes:
                listed = Counter(d.lower() for v in route.virtual_hosts for d in v.domains)
                assert max(listed.values()) == 1, (design, proxy, route.name, listed.most_common(2))
    assert _domains(mesh, "web/web", "p1.example.com")[-1] == "240.0.0.9"
    assert "240.0.0.9" not in _domains(mesh, "web/web", "p2.example.com")
    assert "240.0.0.9" not in _domains(mesh, "web/web", "q.example.com")


def test_the_first_host_keeps_the_shared_address_in_every_view() -> None:
    """Istio builds a VirtualService's virtual hosts before the default ones, then the others in Go
    map order; dsim keeps the registry's order for every proxy and view, so that a namespace's own
    VirtualService does not move the address (whose owner every view's prices would then have to
    follow)."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["virtual_services"] = [
        {
            "name": "q",
            "namespace": "web",
            "spec": {
                "hosts": ["q.example.com"],
                "exportTo": ["."],
                "http": [{"route": [{"destination": {"host": "q.example.com"}}], "timeout": "2s"}],
            },
        }
    ]
    cluster = build_cluster(scenario_from_dict(scenario))
    assert len(cluster.object_views)
    assert _domains(cluster, "web/web", "p1.example.com")[-1] == "240.0.0.9"
    assert "240.0.0.9" not in _domains(cluster, "web/web", "q.example.com")
    assert_exact_every_design(cluster)


def test_a_virtual_service_naming_the_host_routes_it_not_a_domain_of_the_service() -> None:
    """``api.apps`` in a VirtualService is the ServiceEntry host of that name, routed as such: no
    virtual host of the Service's other domain (docs/istio-objects.md 1.4) besides it."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["virtual_services"] = [
        {
            "name": "api",
            "namespace": "apps",
            "spec": {
                "hosts": ["api", "api.apps"],
                "http": [{"route": [{"destination": {"host": "api"}}], "timeout": "2s"}],
            },
        }
    ]
    cluster = build_cluster(scenario_from_dict(scenario))
    for proxy in ("apps/local", "web/web"):
        vhosts = route_vhosts(cluster, proxy, "80")
        assert vhosts["api.apps:80"].routes[0].route.cluster == "outbound|80||api.apps.svc.cluster.local"
        listed = Counter(d for v in vhosts.values() for d in v.domains)
        assert max(listed.values()) == 1, listed.most_common(2)
    assert_exact_every_design(cluster)


def test_a_host_written_with_a_trailing_dot_takes_that_name_from_the_other() -> None:
    scenario = copy.deepcopy(SCENARIO)
    host = "api.apps.svc.cluster.local"
    scenario["service_entries"].append(_entry("dotted", [f"{host}.", f"{VM}."], resolution="DNS"))
    cluster = build_cluster(scenario_from_dict(scenario))
    for proxy in ("apps/local", "web/web"):
        for name in (host, VM):  # a Service's host, an entry's
            assert f"{name}." not in _domains(cluster, proxy, name)
            assert _domains(cluster, proxy, f"{name}.")[0] == f"{name}."
    assert_exact_every_design(cluster)


def test_a_headless_service_keeps_the_wildcard_of_a_name_it_leaves() -> None:
    """``generateVirtualHostDomains`` adds the ``*.`` forms before ``dedupeDomains``, which drops only
    the expanded name another host bears."""
    data = {
        "namespaces": [{"name": "data"}, {"name": "web"}],
        "services": [
            {"name": "web", "namespace": "web", "ports": [{"port": 80, "name": "http"}]},
            {"name": "db", "namespace": "data", "headless": True, "ports": [{"port": 80, "name": "http"}]},
        ],
        "workloads": [{"name": "web", "namespace": "web"}, {"name": "db", "namespace": "data"}],
        "service_entries": [
            {
                "name": "db-alias",
                "namespace": "web",
                "spec": {
                    "hosts": ["db.data"],
                    "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                    "resolution": "DNS",
                },
            }
        ],
    }
    cluster = build_cluster(scenario_from_dict(data))
    host = "db.data.svc.cluster.local"
    domains = _domains(cluster, "web/web", host)
    assert "db.data" not in domains
    assert "*.db.data" in domains
    assert_exact_every_design(cluster)


def test_a_virtual_service_host_equal_to_a_short_name_is_left_out() -> None:
    scenario = copy.deepcopy(SCENARIO)
    scenario["virtual_services"] = [
        {
            "name": "short",
            "namespace": "web",
            "spec": {"hosts": ["vm.apps.svc"], "http": [{"route": [{"destination": {"host": VM}}]}]},
        }
    ]
    cluster = build_cluster(scenario_from_dict(scenario))
    assert "vm.apps.svc:80" not in route_vhosts(cluster, "web/web", "80")
    assert any("another domain" in note for note, _ in cluster.istio.notes)
    assert_exact_every_design(cluster)


def test_a_namespace_s_own_view_of_the_service_leaves_the_name_out_too() -> None:
    """A rule only ``web`` sees gives its proxies a view of the Service of their own (priced as a
    stand-in row): the name stays left out there."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["destination_rules"] = [
        {
            "name": "api",
            "namespace": "web",
            "spec": {
                "host": "api.apps.svc.cluster.local",
                "exportTo": ["."],
                "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
            },
        }
    ]
    cluster = build_cluster(scenario_from_dict(scenario))
    assert len(cluster.object_views)
    assert "api.apps" not in _domains(cluster, "web/web", "api.apps.svc.cluster.local")
    assert_exact_every_design(cluster)


SCOPED = copy.deepcopy(SCENARIO)
SCOPED["sidecars"] = [
    {
        "name": "default",
        "namespace": "apps",
        "spec": {"egress": [{"hosts": ["./*", f"ext/{VM}", "ext/p2.example.com"]}]},
    }
]


@pytest.mark.parametrize("scenario", ["all", "namespace", "scoped"])
def test_accounting_is_byte_exact_every_design(scenario: str) -> None:
    data = SCOPED if scenario == "scoped" else {**SCENARIO, "visibility": scenario}
    assert_exact_every_design(build_cluster(scenario_from_dict(data)))


def test_the_push_model_gives_the_short_names_to_the_namespace_the_host_names(
    write_scenario: Callable[..., Path],
) -> None:
    """Against the same mesh whose VM host has the same length but lies outside ``svc.cluster.local``
    (no short names), each workload's bytes differ by what the push model's service contributions
    say, which price the shortest names for ``apps`` alone."""
    outside = copy.deepcopy(SCENARIO)
    outside["service_entries"][0]["spec"]["hosts"] = ["vm.apps.svc.cluster.locax"]
    meshes = [build_cluster(write_scenario(data)) for data in (SCENARIO, outside)]
    proxied = np.unique(meshes[0].proxies["workload"].to_numpy())
    totals, summed = [], []
    for cluster in meshes:
        model = config_model(cluster, "single-stack", churn_stream(cluster))
        totals.append(model.bytes[proxied])
        summed.append(sum(model.contribution(s, proxied)[0] for s in range(len(cluster.services))))
    difference = totals[0] - totals[1]
    assert len(set(difference[:, XDS_TYPES.index("routes")].tolist())) > 1  # the routes differ by namespace
    np.testing.assert_array_equal(difference, summed[0] - summed[1])


@pytest.mark.slow
def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)
