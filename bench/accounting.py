"""Vectorized accounting: time and peak memory at scale, and the speed-up over real serialization.

Prints, in one run:
1. for ``scenarios/large.yaml`` and ``bench/fleet-50k.yaml``: time and peak traced memory of the
   vectorized sizes and counts of every proxy under every design (goal: large under 10 s and 4 GB);
2. on scenarios the protobuf method can finish (``scenarios/quickstart.yaml``, and
   ``bench/medium.yaml``, where the vectorized method's fixed cost matters less), both methods
   over every proxy for one design, their agreement, and the ratio (goal: at least 100x);
3. 10,000 services with 10,000 VirtualServices (three routes of two matches, two weighted subsets,
   and a TCP route to them for the TCP and sniffed ports) and 10,000 DestinationRules (subsets,
   connection pool, outlier detection): the cluster build and the accounting of every design
   (goal: seconds);
4. the same mesh with 100 namespaces each holding its own VirtualService and DestinationRule
   (``exportTo: [.]``) for a service of another namespace, so each namespace sees its own view
   (``dsim/cluster/object_views.py``): the accounting of every design, and its ratio to part 3's;
5. the same 10,000 services spread over 1,000 namespaces, public, then with every namespace's own
   VirtualService and DestinationRule (1,000 views, priced in one pass): the accounting of every
   design, and the ratio of the two.
6. ``scenarios/quickstart.yaml`` with a mesh-wide Sidecar: egress hosts ``*/*`` in one catch-all
   listener, then the same hosts behind an egress listener on port 80 before it (those proxies are
   priced from one proxy's messages per group: ``dsim/accounting/by_messages.py``), then that listener
   bound to the loopback by ``captureMode: NONE``: the accounting of every design, the groups built,
   and the ratios to the catch-all's.
7. part 3's mesh where, in each of 100 namespaces, the first workload's pods get their own
   DestinationRule (a ``workloadSelector``) for a service of another namespace, and that service's
   VirtualService an extra route for them (a match's ``sourceLabels``): each such pod set is a
   viewer of its own (``dsim/cluster/object_views.py``); the accounting of every design and its
   ratio to part 3's, measured in the same run.
8. part 3's mesh with DestinationRules for half its services only, then with rules whose wildcard
   hosts cover many services (``docs/istio-objects.md`` 2.2): a mesh-wide ``*.local`` rule in
   ``istio-system``, a public ``*.<ns>.svc.cluster.local`` rule in each of 10 namespaces, and a
   private ``*.local`` rule in each of 10 others (each a view of every service): the cluster build
   and the accounting of every design, and their ratios to the mesh without them, in the same run.
9. part 3's mesh with 1,000 generated ServiceEntries (2,000 hosts) that no rule covers, then with
   DestinationRules on those hosts (``docs/istio-objects.md`` 3.8): a mesh-wide ``*.example.com``
   rule in ``istio-system``, every tenth entry's own rule with two subsets and a consistent hash,
   and a private ``*.example.com`` rule in each of 10 namespaces (a view of every entry host, priced
   from the entries' messages in that view and the base): the cluster build and the accounting of
   every design, and their ratios to the mesh with uncovered entries, in the same run.
10. part 9's mesh with its uncovered entries, then with VirtualServices on those hosts
   (``docs/istio-objects.md`` 3.9): every tenth entry's own (an HTTP route with a match, retries and
   a timeout, a TCP route, a TLS route on its host's SNI: each applies where the host has such a
   port), and in each of 10 namespaces a private one for each of 100 hosts (a view per namespace,
   priced from the entries' messages in that view and the base): the cluster build and the
   accounting of every design, and their ratios to the mesh without them, in the same run.
11. part 3's mesh with VirtualServices for half its services, then with VirtualServices whose
   wildcard hosts cover many (``docs/istio-objects.md`` 1.4, "Wildcard hosts"): a mesh-wide
   ``*.svc.cluster.local`` one in ``istio-system`` (so every service has a chain), a public
   ``*.<ns>.svc.cluster.local`` one in each of 10 namespaces, and a private ``*.cluster.local`` one
   in each of 10 others (each a view of every service); each has an HTTP route with retries and a
   timeout and a TCP route: the cluster build and the accounting of every design, and their ratios
   to the mesh without them, in the same run.
12. part 3's mesh (visibility ``all``: every proxy has route configuration ``"80"`` and walks every
   VirtualService), then the same under a Sidecar per namespace importing ``./*`` only, then
   without Sidecars under ``visibility: namespace`` and ``dependencies`` (the Sidecars they stand
   for: ``dsim/cluster/import_scopes.py``; the latter with a Barabási–Albert call graph): the
   accounting of every design with and without the ``<host>:80`` virtual hosts of VirtualService
   hosts no port-80 service answers (``docs/istio-objects.md`` 1.4, "Hosts without a port-80
   service"; the pass left out by replacing it with nothing, in the same run), their ratio, and
   what they add to the mean proxy's route configurations (virtual hosts, routes, bytes).
13. Route actions (``docs/istio-objects.md`` 1.6): part 3's mesh and the same with three request
   headers set on every route (``request_headers: 3``), built and priced in the same run: the
   accounting of every design, its ratio, and what the headers add to the mean proxy's route bytes.
14. One host in several namespaces (``docs/istio-objects.md`` 4.8): part 9's mesh, then the same
   with 10 namespaces each defining its own private copy of 10 of its entries (each proxy gets its
   namespace's copy, else the first: the mesh is scoped, by scope group): the cluster build and the
   accounting of every design, their ratios, the scope table's rows against one per (workload,
   service), and the process's peak memory.
15. Services exported to their own namespace (``exportTo: [.]``): 10,000 public services in 1,000
   namespaces, then with a namespace holding a private Service (a scope for every namespace, 10
   million (group, service) rows), then with 100 namespaces each holding its own: the cluster build
   and the accounting of every design, their ratios to the public mesh's; and on the latter's scope,
   30 sums through the base every group shares plus each group's differences
   (``dsim/accounting/holder_sets.py``) against the same sums row by row, their ratio and agreement;
   then ten minutes of churn through the push model (single-stack), the public mesh against the one
   with a private Service, and their ratio.
16. Locality failover (``docs/istio-objects.md`` 2.5): part 3's mesh with two pods per service over
   three zones of two regions, so every proxy's endpoint sets of rules with outlier detection carry
   priorities from its own locality (by the default order, then by a ``failover`` list), and the
   same mesh with every rule distributing by locality, and with half the services' Services asking
   ``trafficDistribution: PreferClose`` (failover forced where no rule's own setting stands), each
   against the same mesh with every rule turning failover off: the accounting of every design, its
   ratio, and what each changes in the mean proxy.
17. gRPC-Web ports (``docs/istio-objects.md`` 1.10b): part 3's mesh, then the same mix with its gRPC
   share drawn as gRPC-Web (so the shared listeners of the gRPC pool's ports get the ``grpc_web``
   filter where a gRPC-Web port opens them first, per proxy, and the pods' chains of those ports
   theirs; the draws differ, so the two meshes are alike rather than equal): the cluster build and
   the accounting of every design, and their ratios; then both again with 100 namespaces each
   holding a private Service (a scope per namespace: the first opener is found per scope group).
18. ExternalName Services (``docs/istio-objects.md`` 3.13): part 3's mesh, then with 1,000
   ExternalName Services naming 500 of its services (their names in those services' virtual hosts,
   priced per import scope): the cluster build and the accounting of every design, and their
   ratios; then both under a Sidecar per namespace importing ``./*`` (100 scopes).
Run: ``python bench/accounting.py [--design NAME] [--only PART]``, ``PART`` one of ``istio-objects``
(parts 3 to 5), ``egress-ports`` (6), ``selectors`` (7), ``wildcards`` (8), ``entries`` (9),
``entry-routes`` (10), ``vs-wildcards`` (11), ``port80`` (12), ``route-actions`` (13),
``shared-hosts`` (14), ``private-objects`` (15), ``failover`` (16), ``grpc-web`` (17) or
``aliases`` (18).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dsim import (
    build_cluster,
    config_sizes,
    design_names,
    fleet_totals,
    get_design,
    load_calibration,
    scenario_from_dict,
)
from dsim.accounting.holder_sets import HolderSets
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.pushsim.churn import churn_stream
from dsim.pushsim.runner import design_tables

ROOT = Path(__file__).resolve().parent.parent


def vectorized_all_designs(path: Path) -> None:
    cluster = build_cluster(path)
    start = time.perf_counter()
    frames = [vectorized_sizes(cluster, get_design(name))[0] for name in design_names()]
    elapsed = time.perf_counter() - start
    # A second pass under tracemalloc (which slows allocation) for the peak memory alone.
    tracemalloc.start()
    for name in design_names():
        vectorized_sizes(cluster, get_design(name))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    totals = fleet_totals(pd.concat(frames, ignore_index=True))
    per_proxy = totals.pivot(index="design", columns="xds_type", values="bytes_per_proxy").loc[list(design_names())]
    print(
        f"{path.name}: {len(cluster.services):,} services, {len(cluster.proxies):,} proxies, "
        f"{len(design_names())} designs in {elapsed:.2f} s, peak {peak / 2**30:.2f} GiB traced, "
        f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )
    print("bytes per proxy (Istio's size metric):")
    print((per_proxy / 1e6).round(3).rename(columns=lambda c: f"{c} MB").to_string())
    print()


def speedup(path: Path, design: str) -> None:
    cluster = build_cluster(path)
    start = time.perf_counter()
    fast = config_sizes(cluster, design, method="vectorized")
    vectorized = time.perf_counter() - start
    start = time.perf_counter()
    slow = config_sizes(cluster, design, method="protobuf")
    protobuf = time.perf_counter() - start
    keys = ["proxy", "xds_type"]
    equal = fast.sort_values(keys, ignore_index=True).equals(slow.sort_values(keys, ignore_index=True))
    print(
        f"{path.name}, {design}, all {len(cluster.proxies)} proxies: vectorized {vectorized:.2f} s, "
        f"protobuf {protobuf:.1f} s, ratio {protobuf / vectorized:.1f}x, identical results: {equal}"
    )


# Issue 16: every service with a VirtualService and a DestinationRule.
ISTIO_OBJECTS: dict[str, Any] = {
    "name": "istio-objects-10k",
    "seed": 1,
    "synthetic": {
        "services": 10_000,
        "namespaces": 100,
        "replicas": {"distribution": "fixed", "mean": 1},
        "call_graph": {"model": "none"},
    },
    "istio_objects": {
        "virtual_services": {
            "share": 1.0,
            "routes": 3,
            "matches_per_route": 2,
            "destinations": 2,
            "retry_attempts": 2,
            "tcp": True,
        },
        "destination_rules": {"share": 1.0, "subsets": 2, "connection_pool": 0.5, "outlier_detection": 0.5},
    },
}


def namespace_sidecars(namespaces: list[str]) -> list[dict[str, Any]]:
    """A Sidecar per namespace importing its own namespace only (``./*``)."""
    return [{"name": "default", "namespace": ns, "spec": {"egress": [{"hosts": ["./*"]}]}} for ns in namespaces]


def _own_objects(cluster: Cluster, namespaces: int) -> dict[str, list[dict[str, Any]]]:
    """In each of the first ``namespaces`` namespaces, a private VirtualService and DestinationRule
    for a service of another namespace (drawn by a fixed stride)."""
    names = cluster.services["name"].tolist()
    spaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()].tolist()
    virtual_services, rules = [], []
    for i, space in enumerate(sorted(set(spaces))[:namespaces]):
        j = (i * 97 + 13) % len(names)
        host = f"{names[j]}.{spaces[j]}.svc.cluster.local"
        route = [{"route": [{"destination": {"host": host}}], "timeout": "2s"}]
        virtual_services.append(
            {"name": f"own-{i}", "namespace": space, "spec": {"hosts": [host], "exportTo": ["."], "http": route}}
        )
        policy = {"connectionPool": {"tcp": {"maxConnections": 9}}}
        rules.append(
            {"name": f"own-{i}", "namespace": space, "spec": {"host": host, "exportTo": ["."], "trafficPolicy": policy}}
        )
    return {"virtual_services": virtual_services, "destination_rules": rules}


def _timed_designs(cluster: Cluster) -> dict[str, float]:
    timings = {}
    for name in design_names():
        start = time.perf_counter()
        vectorized_sizes(cluster, get_design(name))
        timings[name] = time.perf_counter() - start
    return timings


def _views_at(namespaces: int) -> None:
    """Part 5: the 10,000-service mesh over ``namespaces`` namespaces, public and with each namespace's own view."""
    spread = {**ISTIO_OBJECTS, "synthetic": {**ISTIO_OBJECTS["synthetic"], "namespaces": namespaces}}
    public_mesh = build_cluster(scenario_from_dict(spread))
    public = _timed_designs(public_mesh)
    viewed = build_cluster(scenario_from_dict({**spread, **_own_objects(public_mesh, namespaces)}))
    own = _timed_designs(viewed)
    views = len(np.unique(viewed.viewer_namespaces()[viewed.object_views["viewer"].to_numpy()]))
    print(
        f"{len(public_mesh.services):,} services over {namespaces:,} namespaces: public, accounting "
        + ", ".join(f"{k} {v:.2f} s" for k, v in public.items())
        + f"; with {views:,} namespaces' own VirtualService and DestinationRule, "
        + ", ".join(f"{k} {v:.2f} s ({v / public[k]:.2f}x)" for k, v in own.items())
    )


def istio_objects() -> None:
    """The cluster build and the vectorized accounting at 10,000 services and VirtualServices (the
    accounting prices every service for every proxy class; ``visibility: all`` makes every proxy see
    them all); then with every namespace's own view."""
    start = time.perf_counter()
    cluster = build_cluster(scenario_from_dict(ISTIO_OBJECTS))
    built = time.perf_counter() - start
    public = _timed_designs(cluster)
    print(
        f"{len(cluster.services):,} services, {len(cluster.virtual_services):,} VirtualServices, "
        f"{len(cluster.destination_rules):,} DestinationRules, {len(cluster.proxies):,} proxies: "
        f"cluster built in {built:.2f} s; accounting " + ", ".join(f"{k} {v:.2f} s" for k, v in public.items())
    )
    start = time.perf_counter()
    viewed = build_cluster(scenario_from_dict({**ISTIO_OBJECTS, **_own_objects(cluster, 100)}))
    built = time.perf_counter() - start
    own = _timed_designs(viewed)
    namespaces = len(np.unique(viewed.viewer_namespaces()[viewed.object_views["viewer"].to_numpy()]))
    print(
        f"with {namespaces} namespaces' own VirtualService and DestinationRule ({len(viewed.object_views)} "
        f"(viewer, service) views): cluster built in {built:.2f} s; accounting "
        + ", ".join(f"{k} {v:.2f} s ({v / public[k]:.2f}x the public mesh's)" for k, v in own.items())
    )
    _views_at(1_000)


def egress_ports() -> None:
    """Part 6: the quickstart under a mesh-wide Sidecar, without and with an egress listener on a port."""
    from dsim.accounting.columns import cluster_columns
    from dsim.accounting.proxies import egress_layout_groups, proxy_classes, workload_tracing_classes
    from dsim.cluster.sidecars import allow_any_by_workload

    base = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())

    def with_egress(egress: list[dict[str, Any]]) -> Cluster:
        sidecar = {"name": "default", "namespace": "istio-system", "spec": {"egress": egress}}
        return build_cluster(scenario_from_dict({**base, "sidecars": [sidecar]}))

    catch_all = with_egress([{"hosts": ["*/*"]}])
    port_80 = {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["*/*"]}
    by_port = with_egress([port_80, {"hosts": ["*/*"]}])
    bound = with_egress([{**port_80, "captureMode": "NONE"}, {"hosts": ["*/*"]}])
    plain = _timed_designs(catch_all)
    priced = _timed_designs(by_port)
    priced_bound = _timed_designs(bound)
    cols = cluster_columns(by_port)
    groups = egress_layout_groups(
        by_port, proxy_classes(by_port), workload_tracing_classes(cols), allow_any_by_workload(by_port)
    )
    print(
        f"{len(by_port.services):,} services, {len(by_port.proxies):,} proxies under a mesh-wide Sidecar: "
        "one catch-all listener, accounting " + ", ".join(f"{k} {v:.2f} s" for k, v in plain.items())
    )
    print(
        f"with an egress listener on port 80 ({len(groups)} groups priced from one proxy's messages each): "
        + ", ".join(f"{k} {v:.2f} s ({v / plain[k]:.1f}x)" for k, v in priced.items())
    )
    print(
        "with that listener bound to the loopback (captureMode NONE): "
        + ", ".join(f"{k} {v:.2f} s ({v / plain[k]:.1f}x)" for k, v in priced_bound.items())
    )


def _selected_objects(cluster: Cluster, namespaces: int) -> tuple[dict[str, Any], set[int]]:
    """Part 7's objects: per namespace (the first ``namespaces``), a DestinationRule with a
    workloadSelector for its first workload's app, for a service of another namespace (by a fixed
    stride); and, for that service, a route only those pods get. Also the services they name."""
    names = cluster.services["name"].tolist()
    spaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()].tolist()
    labels = cluster.workload_labels
    app = {w: v for w, k, v in zip(labels["workload"], labels["key"], labels["value"], strict=True) if k == "app"}
    first = dict(zip(cluster.workloads["namespace"].tolist()[::-1], range(len(cluster.workloads))[::-1], strict=True))
    rows = {n: i for i, n in enumerate(cluster.namespaces["name"].tolist())}
    rules: list[dict[str, Any]] = []
    routed: dict[str, Any] = {}
    named: set[int] = set()
    for i, space in enumerate(sorted(set(spaces))[:namespaces]):
        j = (i * 97 + 13) % len(names)
        host = f"{names[j]}.{spaces[j]}.svc.cluster.local"
        picked = {"app": app[first[rows[space]]]}
        policy = {"connectionPool": {"tcp": {"maxConnections": 9}}, "loadBalancer": {"simple": "RANDOM"}}
        spec = {"host": host, "workloadSelector": {"matchLabels": picked}, "trafficPolicy": policy}
        rules.append({"name": f"picked-{i}", "namespace": space, "spec": spec})
        match = [{"sourceLabels": picked, "headers": {"x-picked": {"exact": "1"}}}]
        routed.setdefault(host, []).append(
            {"match": match, "route": [{"destination": {"host": host}}], "timeout": "1s"}
        )
        named.add(j)
    virtual_services = [
        {"name": f"picked-{k}", "namespace": host.split(".")[1], "spec": {"hosts": [host], "http": routes}}
        for k, (host, routes) in enumerate(routed.items())
    ]
    return {"destination_rules": rules, "virtual_services": virtual_services}, named


def selectors() -> None:
    """Part 7: part 3's mesh, then with 100 namespaces' selector DestinationRules and source-label routes."""
    cluster = build_cluster(scenario_from_dict(ISTIO_OBJECTS))
    public = _timed_designs(cluster)
    objects, named = _selected_objects(cluster, 100)
    # Pasted objects come first in every walk: for the picked pods the pasted VirtualService builds
    # its service's virtual host; for every other pod it holds no route, and the generated one does.
    start = time.perf_counter()
    picked = build_cluster(scenario_from_dict({**ISTIO_OBJECTS, **objects}))
    built = time.perf_counter() - start
    own = _timed_designs(picked)
    viewers = len(np.unique(picked.rule_viewers["viewer"].to_numpy()))
    print(
        "part 3's mesh, accounting "
        + ", ".join(f"{k} {v:.2f} s" for k, v in public.items())
        + f"; with {len(objects['destination_rules'])} selector DestinationRules and {len(named)} services' "
        f"source-label routes ({viewers} viewers of picked pods, {len(picked.object_views):,} (viewer, service) "
        f"views): cluster built in {built:.2f} s; accounting "
        + ", ".join(f"{k} {v:.2f} s ({v / public[k]:.2f}x)" for k, v in own.items())
    )


def _halved(kind: str) -> dict[str, Any]:
    """Part 3's mesh (with a root namespace for mesh-wide objects) where only half the services
    have a generated object of ``kind`` (``virtual_services`` or ``destination_rules``)."""
    generated = ISTIO_OBJECTS["istio_objects"]
    return {
        **ISTIO_OBJECTS,
        "namespaces": [{"name": "istio-system"}],
        "istio_objects": {**generated, kind: {**generated[kind], "share": 0.5}},
    }


def _wildcard_rules(namespaces: list[str], spread: int, private: int) -> list[dict[str, Any]]:
    """Part 8's rules: mesh-wide, then ``spread`` namespaces' public rules for their own services,
    then ``private`` further namespaces' private rules for every host."""
    rules: list[dict[str, Any]] = [
        {
            "name": "mesh-default",
            "namespace": "istio-system",
            "spec": {
                "host": "*.local",
                "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}, "connectionPool": {"tcp": {"maxConnections": 100}}},
            },
        }
    ]
    for space in namespaces[:spread]:
        policy = {"outlierDetection": {"consecutive5xxErrors": 7}}
        spec = {"host": f"*.{space}.svc.cluster.local", "trafficPolicy": policy}
        rules.append({"name": "namespace-default", "namespace": space, "spec": spec})
    for space in namespaces[spread : spread + private]:
        spec = {"host": "*.local", "exportTo": ["."], "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}}
        rules.append({"name": "client-default", "namespace": space, "spec": spec})
    return rules


def wildcards() -> None:
    """Part 8: half of part 3's mesh's services with a rule of their own, then wildcard rules too."""
    halved = _halved("destination_rules")
    start = time.perf_counter()
    cluster = build_cluster(scenario_from_dict(halved))
    built = time.perf_counter() - start
    plain = _timed_designs(cluster)
    spaces = [n for n in cluster.namespaces["name"].tolist() if n != "istio-system"]
    rules = _wildcard_rules(spaces, 10, 10)
    start = time.perf_counter()
    wild = build_cluster(scenario_from_dict({**halved, "destination_rules": rules}))
    wild_built = time.perf_counter() - start
    timed = _timed_designs(wild)
    print(
        f"part 3's mesh with rules for half its services: cluster built in {built:.2f} s, accounting "
        + ", ".join(f"{k} {v:.2f} s" for k, v in plain.items())
        + f"; with {len(rules)} wildcard-host rules (covering {len(wild.rule_hosts):,} (rule, service) pairs; "
        f"{len(wild.object_views):,} (viewer, service) views): cluster built in {wild_built:.2f} s "
        f"({wild_built / built:.2f}x); accounting "
        + ", ".join(f"{k} {v:.2f} s ({v / plain[k]:.2f}x)" for k, v in timed.items())
    )


def _entry_rules(entries: list[Any], namespaces: list[str], private: int) -> list[dict[str, Any]]:
    """Part 9's rules: mesh-wide for every entry host, every tenth entry's own, then ``private``
    namespaces' own."""
    rules: list[dict[str, Any]] = [
        {
            "name": "external-default",
            "namespace": "istio-system",
            "spec": {"host": "*.example.com", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 50}}}},
        }
    ]
    for entry in entries[::10]:
        for host in entry.spec.hosts:
            spec = {
                "host": host,
                "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}],
            }
            rules.append({"name": host.split(".")[0] + "-" + entry.name, "namespace": entry.namespace, "spec": spec})
    for space in namespaces[:private]:
        spec = {
            "host": "*.example.com",
            "exportTo": ["."],
            "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 4}},
        }
        rules.append({"name": "external-mine", "namespace": space, "spec": spec})
    return rules


ENTRIES_MESH = {
    **ISTIO_OBJECTS,
    "namespaces": [{"name": "istio-system"}],
    "istio_objects": {
        **ISTIO_OBJECTS["istio_objects"],
        "service_entries": {"count": 1_000, "hosts_per_entry": 2, "endpoints_per_entry": 2},
    },
}
"""Parts 9 and 10's mesh: part 3's with 1,000 generated ServiceEntries (2,000 hosts)."""


def _before_after(
    base: dict[str, Any],
    objects: Callable[[Cluster], dict[str, list[dict[str, Any]]]],
    describe: Callable[[Cluster, Cluster], tuple[str, str]],
) -> None:
    """Print ``base`` built and priced, then ``base`` with the fields ``objects`` draws from its
    cluster (``describe`` names both from the two clusters): each one's build time and accounting
    per design, and the ratios. A discarded first pass warms imports, kernels and caches, so
    neither side of a ratio pays for them."""
    _timed_designs(build_cluster(scenario_from_dict(base)))
    start = time.perf_counter()
    cluster = build_cluster(scenario_from_dict(base))
    built = time.perf_counter() - start
    plain = _timed_designs(cluster)
    start = time.perf_counter()
    changed = build_cluster(scenario_from_dict({**base, **objects(cluster)}))
    changed_built = time.perf_counter() - start
    timed = _timed_designs(changed)
    before, after = describe(cluster, changed)
    print(
        f"{before}: cluster built in {built:.2f} s, accounting "
        + ", ".join(f"{k} {v:.2f} s" for k, v in plain.items())
        + f"; {after}: cluster built in {changed_built:.2f} s ({changed_built / built:.2f}x); accounting "
        + ", ".join(f"{k} {v:.2f} s ({v / plain[k]:.2f}x)" for k, v in timed.items())
    )


def _spaces(cluster: Cluster) -> list[str]:
    return [n for n in cluster.namespaces["name"].tolist() if n != "istio-system"]


def entries() -> None:
    """Part 9: part 3's mesh with 1,000 ServiceEntries, then with DestinationRules on their hosts."""

    def describe(cluster: Cluster, ruled: Cluster) -> tuple[str, str]:
        hosts = int((cluster.services["entry"].to_numpy() >= 0).sum())
        added = len(ruled.destination_rules) - len(cluster.destination_rules)
        return (
            f"part 3's mesh with {len(cluster.service_entries):,} ServiceEntries ({hosts:,} hosts)",
            f"with {added} rules on their hosts ({len(ruled.object_views):,} (viewer, service) views)",
        )

    _before_after(
        ENTRIES_MESH,
        lambda c: {"destination_rules": _entry_rules(list(c.istio.service_entries), _spaces(c), 10)},
        describe,
    )


def _entry_routes(entries: list[Any], namespaces: list[str], private: int) -> list[dict[str, Any]]:
    """Part 10's VirtualServices: every tenth entry's own for each of its hosts, then ``private``
    namespaces' own for the hosts of 50 entries each (100 hosts)."""

    def routes(host: str, timeout: str) -> dict[str, Any]:
        to = [{"destination": {"host": host}}]
        return {
            "hosts": [host],
            "http": [
                {"match": [{"uri": {"prefix": "/v1/"}}], "route": to, "retries": {"attempts": 3}, "timeout": timeout},
                {"route": to},
            ],
            "tcp": [{"route": to}],
            "tls": [{"match": [{"sniHosts": [host]}], "route": to}],
        }

    found: list[dict[str, Any]] = []
    for entry in entries[::10]:
        for i, host in enumerate(entry.spec.hosts):
            found.append({"name": f"{entry.name}-{i}", "namespace": entry.namespace, "spec": routes(host, "10s")})
    for k, space in enumerate(namespaces[:private]):
        for entry in entries[k * 50 : (k + 1) * 50]:
            for i, host in enumerate(entry.spec.hosts):
                spec = {**routes(host, "2s"), "exportTo": ["."]}
                found.append({"name": f"mine-{entry.name}-{i}", "namespace": space, "spec": spec})
    return found


def entry_routes() -> None:
    """Part 10: part 9's mesh with uncovered ServiceEntries, then with VirtualServices on their hosts."""

    def describe(cluster: Cluster, routed: Cluster) -> tuple[str, str]:
        added = len(routed.virtual_services) - len(cluster.virtual_services)
        return (
            f"part 9's mesh, {len(cluster.service_entries):,} ServiceEntries without VirtualServices",
            f"with {added:,} VirtualServices on their hosts ({len(routed.object_views):,} (viewer, service) views)",
        )

    _before_after(
        ENTRIES_MESH,
        lambda c: {"virtual_services": _entry_routes(list(c.istio.service_entries), _spaces(c), 10)},
        describe,
    )


def _wildcard_routes(cluster: Cluster, spread: int, private: int) -> list[dict[str, Any]]:
    """Part 11's VirtualServices: mesh-wide, then ``spread`` namespaces' public ones for their own
    services, then ``private`` further namespaces' private ones for every service; each routes to
    a service of its namespace (the mesh-wide one to the first service)."""
    names = cluster.services["name"].tolist()
    spaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()].tolist()
    first = {
        space: f"{name}.{space}.svc.cluster.local" for name, space in reversed(list(zip(names, spaces, strict=True)))
    }

    def spec(host: str, to: str, **more: Any) -> dict[str, Any]:
        destination = [{"destination": {"host": to}}]
        http = [{"route": destination, "retries": {"attempts": 2}, "timeout": "4s"}]
        return {"hosts": [host], "http": http, "tcp": [{"route": destination}], **more}

    found = [
        {"name": "mesh-default", "namespace": "istio-system", "spec": spec("*.svc.cluster.local", first[spaces[0]])}
    ]
    ordered = _spaces(cluster)
    for space in ordered[:spread]:
        found.append(
            {
                "name": "namespace-default",
                "namespace": space,
                "spec": spec(f"*.{space}.svc.cluster.local", first[space]),
            }
        )
    for space in ordered[spread : spread + private]:
        found.append(
            {
                "name": "client-default",
                "namespace": space,
                "spec": spec("*.cluster.local", first[space], exportTo=["."]),
            }
        )
    return found


def vs_wildcards() -> None:
    """Part 11: part 3's mesh with VirtualServices for half its services, then wildcard-host ones too."""
    halved = _halved("virtual_services")

    def describe(cluster: Cluster, wild: Cluster) -> tuple[str, str]:
        claims = wild.virtual_service_hosts
        added = claims[claims["how"].to_numpy() > 0]
        return (
            f"part 3's mesh with VirtualServices for half its services ({len(cluster.virtual_services):,})",
            f"with {len(wild.virtual_services) - len(cluster.virtual_services)} wildcard-host VirtualServices "
            f"(covering {len(added):,} (VirtualService, service) pairs; {len(wild.object_views):,} (viewer, "
            "service) views)",
        )

    _before_after(halved, lambda c: {"virtual_services": _wildcard_routes(c, 10, 10)}, describe)


def port80() -> None:
    """Part 12: part 3's mesh with and without the ``<host>:80`` virtual hosts, then under Sidecars,
    then under the ``visibility`` stand-ins for them (``dsim/cluster/import_scopes.py``)."""
    import dsim.accounting.proxies as proxies

    namespaces = sorted(set(build_cluster(scenario_from_dict(ISTIO_OBJECTS)).namespaces["name"].tolist()))
    sidecars = namespace_sidecars(namespaces)
    built = proxies.port80_deltas

    def timed(spec: dict[str, Any], name: str, with_hosts: bool) -> tuple[float, pd.DataFrame, pd.DataFrame]:
        # A fresh cluster each time: what the accounting caches per cluster starts cold in both runs.
        cluster = build_cluster(scenario_from_dict(spec))
        if not with_hosts:
            proxies.port80_deltas = lambda *args: {}  # type: ignore[assignment,misc]
        try:
            start = time.perf_counter()
            sizes, counts = vectorized_sizes(cluster, get_design(name))
            return time.perf_counter() - start, sizes, counts
        finally:
            proxies.port80_deltas = built

    called = {**ISTIO_OBJECTS["synthetic"], "call_graph": {"model": "barabasi-albert"}}
    for label, spec in (
        ("part 3's mesh", ISTIO_OBJECTS),
        ("under a Sidecar per namespace importing ./*", {**ISTIO_OBJECTS, "sidecars": sidecars}),
        ("under visibility: namespace (a ./* Sidecar's stand-in)", {**ISTIO_OBJECTS, "visibility": "namespace"}),
        (
            "under visibility: dependencies (Barabási–Albert calls, m=2)",
            {**ISTIO_OBJECTS, "visibility": "dependencies", "synthetic": called},
        ),
    ):
        timings: dict[str, tuple[float, float]] = {}
        added: dict[str, tuple[float, float, float]] = {}
        for name in design_names():
            without, bare_sizes, bare_counts = timed(spec, name, with_hosts=False)
            with_hosts, sizes, counts = timed(spec, name, with_hosts=True)
            timings[name] = (with_hosts, without)
            rds = sizes[sizes["xds_type"] == "routes"]["bytes"].to_numpy()
            bare_rds = bare_sizes[bare_sizes["xds_type"] == "routes"]["bytes"].to_numpy()
            added[name] = (
                float((counts["virtual_hosts"] - bare_counts["virtual_hosts"]).mean()),
                float((counts["routes"] - bare_counts["routes"]).mean()),
                float((rds - bare_rds).mean() / max(bare_rds.mean(), 1)),
            )
        print(
            f"{label}: accounting with the <host>:80 virtual hosts vs without, "
            + ", ".join(f"{k} {a:.2f} s vs {b:.2f} s ({a / b:.2f}x)" for k, (a, b) in timings.items())
        )
        print(
            "  per proxy, on average, they add: "
            + "; ".join(
                f"{k} {vhosts:,.0f} virtual hosts, {routes:,.0f} routes, route bytes +{share:.0%}"
                for k, (vhosts, routes, share) in added.items()
            )
        )
        # Each measurement built a cluster of its own and dropped it: this stays flat where what is
        # cached per cluster lets it go (tests/test_cluster_caches.py).
        print(f"  process max RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


def route_actions() -> None:
    """Part 13: part 3's mesh with and without three request headers on every route."""
    objects = ISTIO_OBJECTS["istio_objects"]
    with_headers = {**objects, "virtual_services": {**objects["virtual_services"], "request_headers": 3}}
    meshes = {}
    for label, scenario in (("plain", ISTIO_OBJECTS), ("headers", {**ISTIO_OBJECTS, "istio_objects": with_headers})):
        start = time.perf_counter()
        cluster = build_cluster(scenario_from_dict(scenario))
        meshes[label] = (cluster, time.perf_counter() - start, _timed_designs(cluster))
    (plain, plain_built, plain_times), (headed, headed_built, headed_times) = meshes["plain"], meshes["headers"]
    print(
        f"{len(headed.virtual_services):,} VirtualServices with 3 request headers on every route: cluster built in "
        f"{headed_built:.2f} s ({plain_built:.2f} s without); accounting "
        + ", ".join(f"{k} {v:.2f} s ({v / plain_times[k]:.2f}x)" for k, v in headed_times.items())
    )
    design = get_design("additional-addresses")
    before, after = (_route_bytes(vectorized_sizes(cluster, design)[0]) for cluster in (plain, headed))
    print(f"  mean proxy's route bytes (additional-addresses): {before:,.0f} -> {after:,.0f} ({after / before:.2f}x)")


def failover() -> None:
    """Part 16: part 3's mesh with two pods per service over three zones of two regions, its rules'
    outlier detection failing over by locality (by the default order, then by a failover list),
    and every rule distributing by locality, each against the same mesh with failover turned off
    by every rule (the same objects, no priorities), in the same run."""
    zones = [{"region": "r1", "zone": "z1"}, {"region": "r1", "zone": "z2"}, {"region": "r2", "zone": "z3"}]
    spread = {
        **ISTIO_OBJECTS["synthetic"],
        "replicas": {"distribution": "fixed", "mean": 2, "max": 2},
        "localities": zones,
    }
    rules = ISTIO_OBJECTS["istio_objects"]["destination_rules"]
    off = {"locality_failover": False}
    variants: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # (rules' setting, synthetic's)
        "off": (off, {}),
        "outlier detection on half the rules, failing over": ({}, {}),
        # r2 fails over to r1 first; r1 has no other region to rank after r2
        "the same with a failover list": ({"failover": {"r1": "r2", "r2": "r1"}}, {}),
        # weights by locality on every rule, outlier detection or not: r1's proxies empty r1/z2
        "every rule distributing": (
            {"distribute": {"r1/*": {"r1/z1": 80, "r2/*": 20}, "r2/*": {"r2/*": 70, "r1/*": 30}}},
            {},
        ),
        # failover forced by the service alone (its rule sets no locality setting of its own)
        "no outlier detection, half the services PreferClose": ({"outlier_detection": 0.0}, {"prefer_close": 0.5}),
    }
    meshes = {}
    for label, (setting, synthetic) in variants.items():
        objects = {**ISTIO_OBJECTS["istio_objects"], "destination_rules": {**rules, **setting}}
        data = {**ISTIO_OBJECTS, "synthetic": {**spread, **synthetic}, "istio_objects": objects}
        cluster = build_cluster(scenario_from_dict(data))
        meshes[label] = (cluster, _timed_designs(cluster))
    plain, plain_times = meshes["off"]
    design = get_design("additional-addresses")
    plain_sizes, plain_counts = vectorized_sizes(plain, design)
    for label, (cluster, times) in list(meshes.items())[1:]:
        print(
            f"{len(cluster.services):,} services, {len(cluster.proxies):,} proxies over 3 zones, {label}: accounting "
            + ", ".join(f"{k} {v:.2f} s ({v / plain_times[k]:.2f}x)" for k, v in times.items())
            + " (ratio to failover off)"
        )
        sizes, counts = vectorized_sizes(cluster, design)
        eds = [float(t[t["xds_type"] == "endpoints"]["bytes"].mean()) for t in (plain_sizes, sizes)]
        print(
            f"  mean proxy (additional-addresses): endpoint bytes {eds[0]:,.0f} -> {eds[1]:,.0f}, endpoints "
            f"{plain_counts['endpoints'].mean():,.0f} -> {counts['endpoints'].mean():,.0f}, "
            f"{counts['failover_priorities'].mean():,.0f} priorities past the first"
        )


def _route_bytes(sizes: pd.DataFrame) -> float:
    """The mean proxy's RDS bytes in a ``vectorized_sizes`` table."""
    return float(sizes[sizes["xds_type"] == "routes"].groupby("proxy")["bytes"].sum().mean())


def shared_hosts() -> None:
    """Part 14: part 9's mesh, then with 10 namespaces each defining its own private ServiceEntry
    for the hosts of 10 of the mesh's entries (``docs/istio-objects.md`` 4.8)."""

    def own_copies(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
        entries = list(cluster.istio.service_entries)[:10]
        return {
            "service_entries": [
                {
                    "name": f"own-{entry.name}",
                    "namespace": space,
                    "spec": {
                        "hosts": list(entry.spec.hosts),
                        "ports": [
                            {"number": port.number, "name": port.name, "protocol": port.protocol}
                            for port in entry.spec.ports
                        ],
                        "resolution": "DNS",
                        "exportTo": ["."],
                    },
                }
                for space in _spaces(cluster)[:10]
                for entry in entries
            ]
        }

    def describe(cluster: Cluster, shared: Cluster) -> tuple[str, str]:
        pairs = len(shared.workloads) * len(shared.services)
        return (
            f"part 9's mesh ({len(cluster.workloads):,} workloads, {len(cluster.services):,} services)",
            f"with {len(shared.service_entries) - len(cluster.service_entries)} namespace-private copies of entries "
            f"(scope: {len(shared.scope):,} (group, service) rows for {shared.scope_groups['group'].nunique()} "
            f"groups, where (workload, service) rows would be {pairs:,})",
        )

    _before_after(ENTRIES_MESH, own_copies, describe)
    print(f"  process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


PRIVATE_MESH: dict[str, Any] = {
    "name": "private-objects",
    "seed": 1,
    "visibility": "all",
    "synthetic": {
        "namespaces": 1_000,
        "services": 10_000,
        "families": {"ipv4": 1.0},
        "ports_per_service": {1: 1.0},
        "protocols": {"http": 1.0},
        "replicas": {"distribution": "fixed", "mean": 1, "min": 1, "max": 1},
        "call_graph": {"model": "barabasi-albert", "m": 1},
    },
}


def _private_services(namespaces: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Namespaces of their own, each with a Service exported to it alone and a pod behind it."""
    return {
        "namespaces": [{"name": n} for n in namespaces],
        "services": [
            {"name": "own", "namespace": n, "ports": [{"port": 8080, "protocol": "HTTP"}], "export_to": ["."]}
            for n in namespaces
        ],
        "workloads": [{"name": "own", "namespace": n} for n in namespaces],
    }


def _sums_against_rows(cluster: Cluster) -> None:
    """The scope's sums through its base and differences (``dsim/accounting/holder_sets.py``)
    against the same sums row by row, 30 metrics, with their agreement."""
    scope = cluster.scope
    holder = scope["group"].to_numpy().astype(np.int64)
    service = scope["service"].to_numpy().astype(np.int64)
    holders, services = int(holder.max()) + 1, len(cluster.services)
    metrics = np.random.default_rng(1).integers(0, 1_000, (30, services)).astype(np.float64)
    start = time.perf_counter()
    sets = HolderSets.of_pairs(holder, service, holders, services)
    built = time.perf_counter() - start
    start = time.perf_counter()
    by_base = [sets.total(m) for m in metrics]
    based = time.perf_counter() - start
    start = time.perf_counter()
    by_rows = [np.bincount(holder, weights=m[service], minlength=holders) for m in metrics]
    rows = time.perf_counter() - start
    agree = all(np.array_equal(a, b) for a, b in zip(by_base, by_rows, strict=True))
    print(
        f"  30 sums over {len(scope):,} scope rows: row by row {rows:.2f} s; base of {int(sets.base.sum()):,} "
        f"services and {len(sets.delta_holder):,} differences {based:.3f} s ({rows / based:.0f}x faster; "
        f"built in {built:.2f} s); equal: {agree}"
    )


PRIVATE_CHURN = {"duration_s": 600, "pod_replacements_per_s": 1.0, "virtual_service_changes_per_hour": 60}
"""Ten minutes of churn for part 15's push model: a pod replaced a second, a VirtualService edit a minute."""


def _pushed(data: dict[str, Any]) -> tuple[float, int]:
    """The push model's wall time on ``data`` under ``PRIVATE_CHURN`` (single-stack), and its proxy pushes."""
    cluster = build_cluster(scenario_from_dict({**data, "churn": PRIVATE_CHURN}))
    stream = churn_stream(cluster)
    start = time.perf_counter()
    parts = design_tables("single-stack", cluster=cluster, stream=stream, calibration=load_calibration())
    return time.perf_counter() - start, int(parts["push_convergence"]["proxy_pushes"].sum())


def private_objects() -> None:
    """Part 15: 10,000 services in 1,000 namespaces, public; then with a namespace of its own holding
    a Service exported to it alone (every namespace's proxies see the public services, that one's the
    private one too: a scope of 10 million rows); then with 100 such namespaces (their groups'
    services differ from one another's)."""

    def one(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
        return _private_services(["private"])

    def every(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
        return _private_services([f"private-{i:03d}" for i in range(100)])

    def describe(cluster: Cluster, scoped: Cluster) -> tuple[str, str]:
        private = len(scoped.services) - len(cluster.services)
        return (
            f"{len(cluster.services):,} public services in {len(cluster.namespaces):,} namespaces",
            f"with {private:,} private Service{'s' if private > 1 else ''} ({len(scoped.scope):,} scope rows)",
        )

    for objects in (one, every):
        _before_after(PRIVATE_MESH, objects, describe)
    public = build_cluster(scenario_from_dict(PRIVATE_MESH))
    _sums_against_rows(build_cluster(scenario_from_dict({**PRIVATE_MESH, **every(public)})))
    _pushed(PRIVATE_MESH)  # warms the kernels and caches, so that neither side of the ratio pays for them
    plain, plain_pushes = _pushed(PRIVATE_MESH)
    scoped, scoped_pushes = _pushed({**PRIVATE_MESH, **one(public)})
    print(
        f"  push model, 10 minutes of churn (a pod replaced a second, a VirtualService edit a minute), single-stack: "
        f"public mesh {plain:.2f} s ({plain_pushes:,} proxy pushes); with one private Service {scoped:.2f} s "
        f"({scoped / plain:.2f}x; {scoped_pushes:,} proxy pushes)"
    )
    print(f"  process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


def grpc_web() -> None:
    """Part 17: part 3's mesh, then its gRPC share drawn as gRPC-Web."""
    mix = {"http": 0.6, "grpc": 0.0, "tcp": 0.2, "grpc_web": 0.2}  # part 3's default mix, gRPC as gRPC-Web

    def describe(cluster: Cluster, web: Cluster) -> tuple[str, str]:
        protocols = [c.service_ports["istio_protocol"].astype(str) for c in (cluster, web)]
        # The draws differ (the gRPC-Web weight comes last in the mix), so the meshes are alike, not equal.
        return (
            f"part 3's mesh ({int((protocols[0] == 'GRPC').sum()):,} gRPC ports)",
            f"its mix with gRPC drawn as gRPC-Web ({int((protocols[1] == 'GRPC-Web').sum()):,} gRPC-Web ports)",
        )

    def as_web(_: Cluster) -> dict[str, Any]:
        return {"synthetic": {**ISTIO_OBJECTS["synthetic"], "protocols": mix}}

    _before_after(ISTIO_OBJECTS, as_web, describe)
    # Under scopes: 100 namespaces each see the mesh and a private Service (101 holders on one base),
    # where the first port to open each listener is found per holder.
    scoped = {**ISTIO_OBJECTS, **_private_services([f"own-{i}" for i in range(100)])}

    def describe_scoped(cluster: Cluster, web: Cluster) -> tuple[str, str]:
        plain, drawn = describe(cluster, web)
        return f"{plain} with 100 private Services", f"{drawn} with 100 private Services"

    _before_after(scoped, as_web, describe_scoped)


def _aliases(cluster: Cluster, count: int, services: int) -> dict[str, list[dict[str, Any]]]:
    """``count`` ExternalName Services in namespace ``aliases``, naming the first ``services`` of the
    cluster's Services in turn."""
    hosts = cluster.service_hosts().tolist()[:services]
    return {
        "external_name_services": [
            {"name": f"alias-{k:04d}", "namespace": "aliases", "external_name": hosts[k % len(hosts)]}
            for k in range(count)
        ]
    }


def aliases() -> None:
    """Part 18: part 3's mesh, then with 1,000 ExternalName Services naming 500 of its services; the
    same under a Sidecar per namespace (each keeps the aliases of its own namespace's services)."""
    base = {**ISTIO_OBJECTS, "namespaces": [{"name": "aliases"}]}

    def describe(cluster: Cluster, aliased: Cluster) -> tuple[str, str]:
        found = aliased.istio.service_aliases.of_service
        return (
            "part 3's mesh",
            f"with {sum(map(len, found.values())):,} ExternalName Services naming {len(found):,} of its services",
        )

    _before_after(base, lambda c: _aliases(c, 1_000, 500), describe)
    scoped = {**base, "sidecars": namespace_sidecars([f"ns-{i:04d}" for i in range(100)])}

    def describe_scoped(cluster: Cluster, aliased: Cluster) -> tuple[str, str]:
        plain, drawn = describe(cluster, aliased)
        return f"{plain} with a Sidecar per namespace", f"{drawn}, with a Sidecar per namespace"

    _before_after(scoped, lambda c: _aliases(c, 1_000, 500), describe_scoped)


PARTS: dict[str, Callable[[], None]] = {
    "istio-objects": istio_objects,
    "egress-ports": egress_ports,
    "selectors": selectors,
    "wildcards": wildcards,
    "entries": entries,
    "entry-routes": entry_routes,
    "vs-wildcards": vs_wildcards,
    "port80": port80,
    "route-actions": route_actions,
    "shared-hosts": shared_hosts,
    "private-objects": private_objects,
    "failover": failover,
    "grpc-web": grpc_web,
    "aliases": aliases,
}
"""Parts 3 to 18 by ``--only`` name, in order."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", default="duplicate", help="design for the protobuf comparison")
    parser.add_argument(
        "--only",
        choices=list(PARTS),
        help="run only parts 3 to 5, or one of parts 6 to 18",
    )
    args = parser.parse_args()
    if args.only:
        PARTS[args.only]()
        return
    vectorized_all_designs(ROOT / "scenarios" / "large.yaml")
    vectorized_all_designs(ROOT / "bench" / "fleet-50k.yaml")
    speedup(ROOT / "scenarios" / "quickstart.yaml", args.design)
    speedup(ROOT / "bench" / "medium.yaml", args.design)
    for part in PARTS.values():
        part()


if __name__ == "__main__":
    main()
