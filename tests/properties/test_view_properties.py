"""On any small mesh of VirtualServices (HTTP routes, TCP routes on any port, TLS routes; their
matches with any source conditions) and DestinationRules (exact or wildcard hosts, ServiceEntry
hosts too, address-less TCP and sniffed ports sharing numbers with services', entries selecting
pods, whose proxies get their inbound side; VirtualServices naming
and routing to ServiceEntry hosts, their hosts wildcards too, or hosts a ServiceEntry's wildcard
covers; services without port 80, whose hosts get virtual hosts of their own in "80") spread over
namespaces, the root one too, with any exportTo or a workloadSelector (and outlier detection, maybe
failing over by a region list, or weights by locality, over pods in four zones of three regions;
the mesh's own locality setting; services with a trafficDistribution or publishing unready
addresses, unready and terminating workloads), sniffed and HTTP ports
sharing a number, and maybe a Sidecar with an outbound policy, an ingress listener and egress
listeners on ports (priced from one proxy's messages per group: the groups must hold proxies of one
config), each proxy's config is priced exactly: the vectorized accounting (the base view plus each
viewer's difference) equals real serialization of what the protobuf path builds for the view of
that proxy's viewer (its namespace, and the selectors and source labels its labels hold), under
every design (``dsim/cluster/object_views.py``)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.scenario.istio.rules import first_overlap
from tests.accounting_check import assert_methods_agree

EXAMPLES = int(os.environ.get("DSIM_VIEW_EXAMPLES", "12"))  # CI's; more to search wider by hand
NAMESPACES = ("a", "b", "c")
ROOT = "istio-system"  # rules there are the mesh's defaults; no workload of its own
SERVICES = (("web", "a"), ("api", "b"), ("db", "b"))
POLICIES = (
    None,
    {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
    {"outlierDetection": {"consecutive5xxErrors": 3}},
    # failing over by a region list: endpoints and clusters differ by the proxy's region
    {
        "outlierDetection": {"consecutive5xxErrors": 3},
        "loadBalancer": {"localityLbSetting": {"failover": [{"from": "r1", "to": "r3"}, {"from": "r2", "to": "r1"}]}},
    },
    # weights by locality, some groups emptied, for proxies in r1 and in r2/z1 (outlier detection or not)
    {
        "loadBalancer": {
            "localityLbSetting": {
                "distribute": [
                    {"from": "r1/*", "to": {"r1/z1": 60, "r2/*": 25, "r3/*": 15}},
                    {"from": "r2/z1", "to": {"r1/*": 100}},
                ]
            }
        },
    },
    {"tls": {"mode": "DISABLE"}},
    {"connectionPool": {"tcp": {"maxConnections": 7}}},
)


MESH_SPREAD = {"locality_lb_setting": {"distribute": [{"from": "r2/*", "to": {"r2/*": 50, "r1/z2": 50}}]}}

# Where a workload's pods run: rules with outlier detection fail over by them (2.5).
LOCALITIES = st.sampled_from(
    [
        {"region": "r1", "zone": "z1"},
        {"region": "r1", "zone": "z2"},
        {"region": "r2", "zone": "z1"},
        {"region": "r3", "zone": "z1"},
    ]
)

# A match's source conditions (none, labels some pods hold, a namespace, gateways with or without mesh).
SOURCES = st.sampled_from(
    [
        {},
        {},
        {"sourceLabels": {"version": "v1"}},
        {"sourceLabels": {"app": "api", "version": "v2"}},
        {"sourceNamespace": "b"},
        {"sourceLabels": {"version": "v2"}, "sourceNamespace": "a"},
        {"gateways": ["mesh"]},
        {"gateways": ["mesh"], "sourceLabels": {"version": "v1"}},
        {"gateways": ["ns/gw"]},
    ]
)


def _host(draw: st.DrawFn) -> str:
    name, namespace = draw(st.sampled_from(SERVICES))
    return f"{name}.{namespace}.svc.cluster.local"


# ServiceEntries a mesh may hold, by host: their clusters take rules as a Service's do (3.8).
ENTRIES: dict[str, dict[str, Any]] = {
    "ext.example.com": {
        "name": "ext",
        "namespace": "c",
        "spec": {
            "hosts": ["ext.example.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "DNS",
            "endpoints": [
                {"address": "a.ext.example.com", "labels": {"version": "v1"}, "locality": "r1/z1"},
                {"address": "b.ext.example.com", "labels": {"version": "v2"}, "locality": "r3/z1/s1"},
            ],
        },
    },
    "st.internal": {
        "name": "st",
        "namespace": "b",
        "spec": {
            "hosts": ["st.internal"],
            "addresses": ["240.0.0.5"],
            "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}],
            "resolution": "STATIC",
            "location": "MESH_INTERNAL",
            "workloadSelector": {"labels": {"app": "api"}},
        },
    },
    "tls.example.com": {
        "name": "tls",
        "namespace": "c",
        "spec": {
            "hosts": ["tls.example.com"],
            "ports": [{"number": 8443, "name": "tls", "protocol": "TLS"}],
            "resolution": "DNS",
        },
    },
    # Address-less: a TCP port where services have HTTP ones (it joins their listener), and a
    # sniffed one where they have TCP ones (it opens "5432" itself).
    "tcp80.example.com": {
        "name": "tcp80",
        "namespace": "b",
        "spec": {
            "hosts": ["tcp80.example.com"],
            "ports": [{"number": 80, "name": "tcp", "protocol": "TCP"}, {"number": 5432, "name": "sniffed"}],
            "resolution": "DNS",
        },
    },
    # Selecting pods, outside the mesh, original destination: the pods' own targets after their
    # Services', hosts by name, no metadata where first, each port's override (3.10).
    "zz.sel.example.com": {
        "name": "selx",
        "namespace": "b",
        "spec": {
            "hosts": ["zz.sel.example.com", "aa.sel.example.com"],
            "ports": [
                {"number": 81, "name": "http", "protocol": "HTTP", "targetPort": 80},
                {"number": 7070, "name": "tcp", "protocol": "TCP", "targetPort": 7071},
                # an entry's own protocols on the pods' side: TCP chains, HTTP ones speaking HTTP/2
                {"number": 7443, "name": "tls", "protocol": "TLS"},
                {"number": 7080, "name": "web", "protocol": "GRPC-Web"},
            ],
            "resolution": "NONE",
            "workloadSelector": {"labels": {"app": "api"}},
        },
    },
    "raw.example.com": {
        "name": "raw",
        "namespace": "a",
        "spec": {
            "hosts": ["raw.example.com"],
            "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
            "resolution": "NONE",
        },
    },
}


EGRESS_PROTOCOLS = ["HTTP", "TCP", "", "TLS", "GRPC", "MONGO", "GRPC-Web"]
"""An egress port listener's protocol: Mongo gives its services' TCP chains a ``mongo_proxy``,
gRPC-Web its HTTP listener's connection manager a ``grpc_web`` filter."""


def _rule_host(draw: st.DrawFn) -> str:
    """A service's host, a ServiceEntry's, or a wildcard covering several (``docs/istio-objects.md`` 2.2)."""
    wildcard = draw(st.sampled_from([None, None, "*.local", "*.b.svc.cluster.local", "*", "*.example.com"]))
    entry = draw(st.sampled_from([None, None, None, *ENTRIES]))
    return wildcard or entry or _host(draw)


def _route_host(draw: st.DrawFn) -> str:
    """A service's host or a ServiceEntry's: VirtualServices name and route to both (3.9)."""
    return draw(st.sampled_from([None, None, None, *ENTRIES])) or _host(draw)


# A ServiceEntry of a wildcard host: a VirtualService for a host under it routes its TCP port (1.4).
WIKI: dict[str, Any] = {
    "name": "wiki",
    "namespace": "c",
    "spec": {
        "hosts": ["*.wiki.org"],
        "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
        "resolution": "NONE",
    },
}


def _vs_hosts(draw: st.DrawFn) -> list[str]:
    """One or two hosts: a service's or a ServiceEntry's, a wildcard covering several (the most
    specific one builds a service's virtual host), or a host the wildcard entry covers (1.4)."""
    wildcards = [None, None, None, "*.local", "*.svc.cluster.local", "*.b.svc.cluster.local", "*.example.com"]
    found = [draw(st.sampled_from([*wildcards, "*.org", "en.wiki.org"])) or _route_host(draw)]
    if draw(st.booleans()):
        found.append(draw(st.sampled_from(wildcards)) or _route_host(draw))
    return found[:1] if first_overlap(found) else found  # Istio refuses overlapping hosts


def _export(draw: st.DrawFn, allowed: tuple[str, ...]) -> dict[str, Any]:
    chosen = draw(st.sampled_from([None, ["*"], ["."], *([n] for n in allowed), ["a", "b"]]))
    return {} if chosen is None else {"exportTo": chosen}


def _written(draw: st.DrawFn, families: list[str]) -> dict[str, Any]:
    """Mostly nothing; else endpoints written by hand (maybe none), of the Service's families, maybe unready."""
    if draw(st.integers(0, 4)):
        return {}
    addresses = [f"198.51.100.{k}" for k in range(1, 4)]
    if "IPv6" in families:
        addresses += [f"2001:db8:1::{k}" for k in range(1, 3)]
    chosen = draw(st.lists(st.sampled_from(addresses), max_size=3, unique=True))
    return {"endpoints": [{"address": a, **({"ready": False} if draw(st.booleans()) else {})} for a in chosen]}


@st.composite
def meshes(draw: st.DrawFn) -> dict[str, Any]:
    rules = []
    for i in range(draw(st.integers(0, 5))):
        spec: dict[str, Any] = {"host": _rule_host(draw), **_export(draw, NAMESPACES)}
        policy = draw(st.sampled_from(POLICIES))
        if policy is not None:
            spec["trafficPolicy"] = policy
        versions = draw(st.lists(st.sampled_from(["v1", "v2"]), max_size=2, unique=True))
        spec["subsets"] = [
            {"name": v, "labels": {"version": v}, **({"trafficPolicy": POLICIES[1]} if draw(st.booleans()) else {})}
            for v in versions
        ]
        # a subset without labels, or with Istio's own: it holds the endpoints written by hand too
        spec["subsets"] += draw(
            st.sampled_from([[], [], [{"name": "all"}], [{"name": "own", "labels": {"topology.istio.io/network": ""}}]])
        )
        # maybe for some workloads of its namespace only (then private to it, as Istio requires)
        selector = draw(st.sampled_from([None, None, {"version": "v1"}, {"app": "api", "version": "v2"}, {}]))
        if selector is not None:
            spec.pop("exportTo", None)
            spec["workloadSelector"] = {"matchLabels": selector}
        namespace = draw(st.sampled_from((*NAMESPACES, ROOT)))
        rules.append({"name": f"r{i}", "namespace": namespace, "spec": spec})
    routes = []
    for i in range(draw(st.integers(0, 4))):
        destinations = [
            {
                "destination": {
                    "host": _route_host(draw),
                    **({"subset": "v1"} if draw(st.booleans()) else {}),
                    # a port trims what a Sidecar imports of the destination (1: a port no service has)
                    **({"port": {"number": draw(st.sampled_from([80, 5432, 9000, 1]))}} if draw(st.booleans()) else {}),
                }
            }
            for _ in range(draw(st.integers(1, 2)))
        ]
        if len(destinations) == 2:
            destinations[0]["weight"], destinations[1]["weight"] = 70, 30
        spec = {"hosts": _vs_hosts(draw), **_export(draw, NAMESPACES)}
        # HTTP routes, TCP routes (on any port, the TCP one or the sniffed one), or both; TLS routes
        # (SNI chains on the TLS port), maybe beside TCP ones.
        kinds = draw(st.sampled_from([("http",), ("tcp",), ("http", "tcp"), ("tls",), ("tcp", "tls")]))
        if "http" in kinds:  # maybe for one port only: another VirtualService of the host may take the rest
            port = draw(st.sampled_from([None, 80, 9000]))
            match = {**({"port": port} if port else {}), **draw(SOURCES)}
            # maybe a second route after it, which a proxy the first leaves out gets first
            spec["http"] = [{**({"match": [match]} if match else {}), "route": destinations}]
            if draw(st.booleans()):  # a mirror, which a Sidecar scope imports as it does destinations
                spec["http"][0]["mirror"] = {"host": _route_host(draw)}
            if match and draw(st.booleans()):
                spec["http"].append({"route": destinations[:1]})
        if "tcp" in kinds:
            port = draw(st.sampled_from([None, 5432, 9000, 1234]))
            match = {**({"port": port} if port else {}), **draw(SOURCES)}
            spec["tcp"] = [{**({"match": [match]} if match else {}), "route": destinations}]
        if "tls" in kinds:
            port = draw(st.sampled_from([None, 8443, 1234]))
            match = {"sniHosts": spec["hosts"], **({"port": port} if port else {}), **draw(SOURCES)}
            spec["tls"] = [{"match": [match], "route": destinations}]
        routes.append({"name": f"v{i}", "namespace": draw(st.sampled_from(NAMESPACES)), "spec": spec})
    sidecars = []
    if draw(st.booleans()):
        policy = draw(st.sampled_from(["ALLOW_ANY", "REGISTRY_ONLY"]))
        sidecar_spec: dict[str, Any] = {"outboundTrafficPolicy": {"mode": policy}}
        if draw(st.booleans()):  # its proxies' own side from an ingress listener
            endpoint = draw(st.sampled_from(["", "127.0.0.1:8080", "0.0.0.0:8080", "[::]:8080", "unix:///run/a.sock"]))
            protocol = draw(st.sampled_from(["HTTP", "GRPC", "GRPC-Web", "TCP", "MONGO", ""]))
            listener = {"port": {"number": 8080, "protocol": protocol}}
            sidecar_spec["ingress"] = [{**listener, **({"defaultEndpoint": endpoint} if endpoint else {})}]
        if draw(st.booleans()):  # egress listeners on ports, maybe with a catch-all after them
            numbers = draw(st.lists(st.sampled_from([80, 5432, 9000, 8443]), min_size=1, max_size=3, unique=True))
            egress: list[dict[str, Any]] = [
                {
                    "port": {"number": n, "protocol": draw(st.sampled_from(EGRESS_PROTOCOLS))},
                    "hosts": [draw(st.sampled_from(["*/*", "./*", "b/*", f"a/{_host(draw)}"]))],
                    # maybe bound: to an address, or to the loopback by captureMode NONE, or both
                    **draw(st.sampled_from([{}, {}, {"bind": "127.0.0.2"}, {"bind": "::1"}, {"captureMode": "NONE"}])),
                }
                for n in numbers
            ]
            if draw(st.booleans()):
                egress.append({"hosts": [draw(st.sampled_from(["*/*", "./*", "b/*"]))]})
            sidecar_spec["egress"] = egress
        sidecars.append({"name": "default", "namespace": draw(st.sampled_from(NAMESPACES)), "spec": sidecar_spec})
    ports = [
        {"name": draw(st.sampled_from(["http", "http", "grpc-web"])), "port": 80},  # gRPC-Web: a grpc_web filter
        {"name": draw(st.sampled_from(["tcp", "tcp", "mongo"])), "port": 5432},  # Mongo: a mongo_proxy
        {"name": "port", "port": 9000},
        {"name": "https", "port": 8443},
    ]
    return {
        "name": "views",
        "seed": draw(st.integers(0, 100)),
        "visibility": draw(st.sampled_from(["all", "namespace"])),
        # the mesh's locality setting, where a rule sets none: off, or weights for every cluster
        "mesh": draw(st.sampled_from([{}, {}, {"locality_lb_setting": {"enabled": False}}, MESH_SPREAD])),
        "namespaces": [{"name": n} for n in (*NAMESPACES, ROOT)],
        "services": [
            {
                "name": n,
                "namespace": ns,
                "ip_families": (families := draw(st.sampled_from([["IPv4"], ["IPv4", "IPv6"]]))),
                # endpoints written by hand: then no selector, so none of its workloads' pods
                **_written(draw, families),
                # Port 80 HTTP or sniffed (a sniffed one joins "80" where an HTTP one opens it), or
                # none: its VirtualServices' hosts then get virtual hosts of their own in "80" (1.4).
                "ports": [draw(st.sampled_from([ports[0], {"name": "port-80", "port": 80}])), *ports[1:]][
                    draw(st.sampled_from([0, 0, 1])) : draw(st.integers(1, 4))
                ]
                or ports[1:2],
                # trafficDistribution: failover forced where its rule sets no locality setting
                **draw(st.sampled_from([{}, {}, {}, {"traffic_distribution": "PreferClose"}])),
                # its unready pods sent as healthy endpoints
                **draw(st.sampled_from([{}, {}, {}, {"publish_not_ready_addresses": True}])),
            }
            for n, ns in SERVICES
        ],
        "workloads": [
            {
                "name": f"{n}-{v}",
                "namespace": ns,
                "labels": {"app": n, "version": v},
                "replicas": 2,
                "locality": draw(LOCALITIES),
                "pod_localities": [draw(LOCALITIES)],
                # unready: selected (inbound, SANs), and unhealthy endpoints where distributed;
                # terminating: selected, endpoints only where published
                **draw(st.sampled_from([{}, {}, {}, {"ready": False}, {"terminating": True}])),
            }
            for n, ns in SERVICES
            for v in ("v1", "v2")
        ]
        + [{"name": "client", "namespace": "c", "ip_families": ["IPv4", "IPv6"], "locality": draw(LOCALITIES)}],
        "virtual_services": routes,
        "destination_rules": rules,
        "sidecars": sidecars,
        "service_entries": [ENTRIES[h] for h in draw(st.lists(st.sampled_from(sorted(ENTRIES)), unique=True))]
        + ([WIKI] if draw(st.booleans()) else []),
    }


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshes())
def test_every_namespace_view_is_priced_exactly(data: dict[str, Any]) -> None:
    cluster = build_cluster(scenario_from_dict(data))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)
