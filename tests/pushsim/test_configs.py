"""The config model under churn stays exact: after an endpoint-set change, every workload's
bytes equal the accounting of a cluster that really has that change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsim import build_cluster, design_names, get_design, scenario_from_dict
from dsim.accounting.columns import cluster_columns
from dsim.accounting.proxies import design_accounting, vectorized_sizes
from dsim.cluster import Cluster
from dsim.cluster.labels import labels_by_workload
from dsim.pushsim.churn import ChurnStream, churn_stream
from dsim.pushsim.configs import ConfigModel
from dsim.pushsim.visibility import Seers
from dsim.xds.vocabulary import XDS_TYPES

MESH = {
    "name": "churny",
    "seed": 5,
    "synthetic": {
        "namespaces": 3,
        "services": 24,
        "families": {"ipv4": 0.3, "ipv6": 0.2, "dual_ipv4_primary": 0.3, "dual_ipv6_primary": 0.2},
        "protocols": {"http": 0.5, "grpc": 0.2, "tcp": 0.2, "auto": 0.1},
        "replicas": {"distribution": "uniform", "min": 2, "max": 4},
        "localities": [{"zone": "a"}, {"zone": "b"}],
        "subsets": {"fraction": 0.3, "versions": 2},
    },
}


def with_pods(cluster: Cluster, pods: list[int], *, drop_last: bool = False) -> Cluster:
    """``cluster`` with copies of ``pods`` added (same addresses: same lengths), each with a
    sidecar if its workload has one; or with its last pod (and sidecar) removed."""
    if drop_last:
        last = len(cluster.pods) - 1
        proxies = cluster.proxies[cluster.proxies["pod"] != last].reset_index(drop=True)
        return dataclasses.replace(cluster, pods=cluster.pods.iloc[:-1], proxies=proxies)
    copies = cluster.pods.iloc[pods].reset_index(drop=True)
    new_pods = pd.concat([cluster.pods, copies], ignore_index=True).astype(cluster.pods.dtypes.to_dict())
    rows = np.arange(len(cluster.pods), len(new_pods))
    sidecar = cluster.workloads["sidecar"].to_numpy()[copies["workload"].to_numpy()]
    workload = copies["workload"].to_numpy()[sidecar]
    added = pd.DataFrame(
        {
            "pod": rows[sidecar],
            "workload": workload,
            "namespace": cluster.workloads["namespace"].to_numpy()[workload],
        }
    )
    proxies = pd.concat([cluster.proxies, added], ignore_index=True).astype(cluster.proxies.dtypes.to_dict())
    return dataclasses.replace(cluster, pods=new_pods, proxies=proxies)


def stream_of(cluster: Cluster, states: list[tuple[int, tuple[int, ...]]]) -> ChurnStream:
    return dataclasses.replace(churn_stream(cluster), states=states)


def config_model(cluster: Cluster, design: str, stream: ChurnStream) -> ConfigModel:
    cols = cluster_columns(cluster)
    return ConfigModel(cluster, cols, design_accounting(cluster, get_design(design), cols), stream, Seers(cluster))


def per_workload(cluster: Cluster, design: str) -> np.ndarray:
    """Bytes per xDS type of each proxied workload's first proxy, from the accounting."""
    sizes, _ = vectorized_sizes(cluster, get_design(design))
    table = sizes.pivot(index="proxy", columns="xds_type", values="bytes")[list(XDS_TYPES)].to_numpy()
    workloads, first = np.unique(cluster.proxies["workload"].to_numpy(), return_index=True)
    out = np.zeros((len(cluster.workloads), len(XDS_TYPES)), np.int64)
    out[workloads] = table[first]
    return out


def _own_views(every: bool = False, selector: bool = False, source: bool = False) -> dict:
    """Objects that give the first and last pods' services (``every``: all services) another view
    in some namespace: a private DestinationRule there (a subset of all the service's pods, a
    consistent hash; ``selector``: for that namespace's first workload only, by a workloadSelector)
    and a private VirtualService routing to that subset (``source``: for the pods of that
    workload's app only, by a match's sourceLabels) (``dsim/cluster/object_views.py``). Its match
    names the service's first port: routes taking port 80 would also give route configuration
    "80" a virtual host of the host where the service lacks port 80 (docs/istio-objects.md 1.4),
    which is no service's contribution."""
    cluster = build_cluster(scenario_from_dict(MESH))
    apps = {w: labels["app"] for w, labels in labels_by_workload(cluster.workload_labels).items() if "app" in labels}
    workload_ns = cluster.workloads["namespace"].tolist()
    pod_workload = cluster.pods["workload"].to_numpy()
    sw = cluster.service_workloads
    chosen = sw if every else sw[sw["workload"].isin({int(pod_workload[0]), int(pod_workload[-1])})]
    hosts = cluster.service_hosts().tolist()
    names = cluster.services["name"].tolist()
    spaces = cluster.namespaces["name"].tolist()
    service_ns = cluster.services["namespace"].to_numpy()
    ports = cluster.service_ports
    first_port = dict(zip(ports["service"].tolist()[::-1], ports["port"].tolist()[::-1], strict=True))
    rules, routes = [], []
    for i, s in enumerate(sorted(set(chosen["service"].tolist()))):
        elsewhere = next(n for n in spaces if n != spaces[service_ns[s]])
        spec = {
            "host": hosts[s],
            "exportTo": ["."],
            "subsets": [{"name": "every", "labels": {"app": names[s]}}],
            "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
        }
        if selector:
            first = workload_ns.index(spaces.index(elsewhere))
            spec["workloadSelector"] = {"matchLabels": {"app": apps[first]}}
        rules.append({"name": f"own-{i}", "namespace": elsewhere, "spec": spec})
        match: dict = {"port": first_port[s]}
        if source:
            first = workload_ns.index(spaces.index(elsewhere))
            match["sourceLabels"] = {"app": apps[first]}
        route: list[dict] = [{"match": [match], "route": [{"destination": {"host": hosts[s], "subset": "every"}}]}]
        spec = {"hosts": [hosts[s]], "exportTo": ["."], "http": route}
        routes.append({"name": f"own-{i}", "namespace": elsewhere, "spec": spec})
    return {"visibility": "all", "destination_rules": rules, "virtual_services": routes}


def _selecting_entries() -> dict:
    """A ServiceEntry selecting the first pod's app's pods, and one the last pod's, by
    workloadSelector; the first's host gets a private rule in another namespace (a subset of all
    its pods), the last's a public one with a subset per version (``docs/istio-objects.md`` 3.8) and,
    in another namespace, a private VirtualService sending it all to v1 (3.9)."""
    cluster = build_cluster(scenario_from_dict(MESH))
    apps = {w: labels["app"] for w, labels in labels_by_workload(cluster.workload_labels).items() if "app" in labels}
    spaces = cluster.namespaces["name"].tolist()
    workload_ns = cluster.workloads["namespace"].tolist()
    pod_workload = cluster.pods["workload"].to_numpy()
    entries, rules, routes = [], [], []
    for i, w in enumerate((int(pod_workload[0]), int(pod_workload[-1]))):
        spec = {
            "hosts": [f"picked-{i}.internal"],
            "ports": [{"number": 7000 + i, "name": "http", "protocol": "HTTP"}],
            "resolution": "STATIC",
            "location": "MESH_INTERNAL",
            "workloadSelector": {"labels": {"app": apps[w]}},
        }
        entries.append({"name": f"picks-{i}", "namespace": spaces[workload_ns[w]], "spec": spec})
        if i == 0:
            elsewhere = next(n for n in spaces if n != spaces[workload_ns[w]])
            spec = {
                "host": "picked-0.internal",
                "exportTo": ["."],
                "subsets": [{"name": "every", "labels": {"app": apps[w]}}],
            }
            rules.append({"name": "picked-own", "namespace": elsewhere, "spec": spec})
        else:
            subsets = [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]
            spec = {"host": "picked-1.internal", "subsets": subsets}
            rules.append({"name": "picked", "namespace": spaces[workload_ns[w]], "spec": spec})
            elsewhere = next(n for n in spaces if n != spaces[workload_ns[w]])
            http = [{"route": [{"destination": {"host": "picked-1.internal", "subset": "v1"}}], "timeout": "2s"}]
            spec = {"hosts": ["picked-1.internal"], "exportTo": ["."], "http": http}
            routes.append({"name": "picked-v1", "namespace": elsewhere, "spec": spec})
    return {"visibility": "all", "service_entries": entries, "destination_rules": rules, "virtual_services": routes}


# ns-0000's proxies apply a private rule for every host (a subset of each service's v1 pods, a
# consistent hash); every namespace applies ns-0001's public rule to ns-0001's services, a pool.
WILDCARDS = {
    "visibility": "all",
    "destination_rules": [
        {
            "name": "every-host",
            "namespace": "ns-0000",
            "spec": {
                "host": "*.local",
                "exportTo": ["."],
                "subsets": [{"name": "first", "labels": {"version": "v1"}}],
                "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
            },
        },
        {
            "name": "namespace-wide",
            "namespace": "ns-0001",
            "spec": {
                "host": "*.ns-0001.svc.cluster.local",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 9}}},
            },
        },
    ],
}


SCOPES: dict[str, dict] = {
    "all": {"visibility": "all"},
    "namespace": {"visibility": "namespace"},
    "dependencies": {"visibility": "dependencies"},
    # A Sidecar per namespace (from the call graph) scopes what each proxy sees, and the push
    # model's seers follow the same scope as the sizes.
    "sidecars": {"visibility": "all", "istio_objects": {"sidecars": {"per_namespace": True}}},
    # Some namespaces see the changed services through their own DestinationRule and VirtualService.
    "views": _own_views(),
    # The same rules for one workload of each namespace only, by a workloadSelector.
    "selectors": _own_views(selector=True),
    # The same routes for the pods of one app of each namespace only, by a match's sourceLabels.
    "sources": _own_views(source=True),
    # Rules whose wildcard hosts cover many services (docs/istio-objects.md 2.2).
    "wildcards": WILDCARDS,
    # ServiceEntries whose endpoints are the changed pods, by workloadSelector, with rules.
    "entries": _selecting_entries(),
}


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("design", design_names())
def test_endpoint_changes_match_a_cluster_that_has_them(
    write_scenario: Callable[..., Path], design: str, scope: str
) -> None:
    cluster = build_cluster(write_scenario({**MESH, **SCOPES[scope]}))
    assert cluster.istio.scoped == (scope == "sidecars")
    assert bool(len(cluster.object_views)) == (scope in ("views", "selectors", "sources", "wildcards", "entries"))
    assert bool(len(cluster.rule_viewers)) == (scope in ("selectors", "sources"))
    pod_workload = cluster.pods["workload"].to_numpy()
    last = len(cluster.pods) - 1
    grown_workload = int(pod_workload[0])
    own = tuple(np.flatnonzero(pod_workload == grown_workload).tolist())
    shrunk_workload = int(pod_workload[last])
    rest = tuple(np.flatnonzero(pod_workload == shrunk_workload).tolist())[:-1]
    states = [(grown_workload, (*own, own[0], own[-1])), (shrunk_workload, rest)]
    if grown_workload == shrunk_workload:
        pytest.skip("the first and last pods share a workload")
    model = config_model(cluster, design, stream_of(cluster, states))
    base = model.bytes.copy()
    np.testing.assert_array_equal(base, per_workload(cluster, design))
    model.set_state(grown_workload, 0)
    grown = with_pods(cluster, [own[0], own[-1]])
    np.testing.assert_array_equal(model.bytes, per_workload(grown, design))
    model.set_state(grown_workload, -1)  # back to its own pods
    np.testing.assert_array_equal(model.bytes, base)
    model.set_state(shrunk_workload, 1)
    np.testing.assert_array_equal(model.bytes, per_workload(with_pods(cluster, [], drop_last=True), design))


@pytest.mark.parametrize("views", [False, True])
def test_a_created_service_adds_what_its_original_adds_and_deleting_it_takes_it_back(
    write_scenario: Callable[..., Path], views: bool
) -> None:
    churn = {"duration_s": 3600, "service_creations_per_hour": 4}
    own = _own_views(every=True) if views else {}
    cluster = build_cluster(write_scenario({**MESH, **own, "churn": churn}))
    assert bool(len(cluster.object_views)) == views
    stream = churn_stream(cluster)
    created = stream.events[stream.events["kind"] == "service_create"]["service"].to_numpy()
    assert len(created), "the seed should create a service"
    model = config_model(cluster, "duplicate", stream)
    base = model.bytes.copy()
    service = int(created[0])
    original = int(stream.service_source[service])
    model.create_service(service)
    added = model.bytes - base
    model.delete_service(service)
    np.testing.assert_array_equal(model.bytes, base)
    # removing the original takes away exactly what the copy added (visibility all: same seers)
    model.delete_service(original)
    np.testing.assert_array_equal(base - model.bytes, added)
    assert added[:, 1].min() > 0, "every workload sees the new clusters"


@pytest.mark.parametrize(("selector", "source"), [(False, False), (True, False), (False, True)])
def test_each_workload_gets_what_its_namespace_sees(
    write_scenario: Callable[..., Path], selector: bool, source: bool
) -> None:
    """A service some namespaces (``selector``: some workloads, by a DestinationRule's
    workloadSelector; ``source``: by a route match's sourceLabels) see through their own objects
    adds, to their workloads, what their view builds: against the same mesh without those objects,
    each workload's config differs by exactly the difference of the services' contributions to it."""
    own_views = _own_views(every=True, selector=selector, source=source)
    meshes = [build_cluster(write_scenario({**MESH, **own})) for own in (own_views, {})]
    assert len(meshes[0].object_views)
    assert not len(meshes[1].object_views)
    proxied = np.unique(meshes[0].proxies["workload"].to_numpy())
    totals, summed, pushed = [], [], []
    for cluster in meshes:
        model = config_model(cluster, "duplicate", churn_stream(cluster))
        totals.append(model.bytes[proxied])
        summed.append(sum(model.contribution(s, proxied)[0] for s in range(len(cluster.services))))
        pushed.append(model.changes_seen(np.arange(len(cluster.services)), proxied)[0])
    difference = totals[0] - totals[1]
    assert difference.any()
    np.testing.assert_array_equal(difference, summed[0] - summed[1])
    # what a push of every service's clusters and endpoint sets carries differs alike
    for xds_type in ("clusters", "endpoints"):
        column = XDS_TYPES.index(xds_type)
        np.testing.assert_array_equal(difference[:, column], (pushed[0] - pushed[1])[:, column])
