"""Terminating pods (``docs/istio-objects.md`` 2.5, "Unready pods"): Kubernetes writes their endpoints
not ready and terminating, and istiod marks them ``Terminating`` and never sends them, not even to a
Service with a traffic distribution (``filterIstioEndpoint``), except behind
``publishNotReadyAddresses``, whose slices still say ready (``podToEndpoint``). Their proxies keep
their Services' inbound side. Through the generator, the accounting, ``dsim import`` and the export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from envoy.config.core.v3 import health_check_pb2

import dsim
from dsim.inventory.export import inventory_objects
from tests.accounting_check import assert_exact_every_design
from tests.config_helpers import config_of
from tests.inventory.captures import imported_from
from tests.inventory.test_export import _round_trip, _sizes
from tests.test_locality_failover import WEB, _assignment, _at
from tests.test_publish_not_ready import PUBLISH, entry_mesh
from tests.test_traffic_distribution import CLOSE, _health, _mesh

ENDING = {
    "name": "old",
    "namespace": "a",
    "labels": {"app": "web"},
    "service_account": "old",
    "terminating": True,
    "locality": _at("r2", "z1"),
}
HEALTHY, UNHEALTHY = health_check_pb2.HEALTHY, health_check_pb2.UNHEALTHY


def test_a_terminating_pod_is_sent_to_no_one_but_behind_published_addresses() -> None:
    """Not even to a Service with a distribution, which gets an unready pod as unhealthy; behind
    publishNotReadyAddresses, healthy. Either way its proxy keeps the Service's inbound side."""
    unready = {**ENDING, "terminating": False, "ready": False}
    assert _health(_assignment(_mesh(more=(unready,), **CLOSE), "a/client-1", WEB))["r2/z1"] == [HEALTHY, UNHEALTHY]
    every = {"subsets": [{"name": "all", "labels": {"app": "web"}}]}  # a subset's endpoint set alike
    for ready in (True, False):
        ending = {**ENDING, "ready": ready}
        close, published = _mesh(more=(ending,), **CLOSE, **every), _mesh(more=(ending,), **PUBLISH, **every)
        for name in (WEB, WEB.replace("||", "|all|")):
            assert _health(_assignment(close, "a/client-1", name))["r2/z1"] == [HEALTHY]
            assert _health(_assignment(published, "a/client-1", name))["r2/z1"] == [HEALTHY, HEALTHY]
        for cluster in (close, published):
            assert any(c.name.startswith("inbound|") for c in config_of(cluster, "a/old-0").clusters)
            assert_exact_every_design(cluster)


def test_a_service_entry_takes_no_terminating_pod() -> None:
    """istiod's pod cache leaves out a pod with a deletionTimestamp (shouldPodBeInEndpoints)."""
    cluster = entry_mesh(ENDING)
    config = config_of(cluster, "a/web-0")
    sizes = {a.cluster_name: len(a.endpoints[0].lb_endpoints) for a in config.endpoints}
    assert sizes == {"outbound|80||web.a.svc.cluster.local": 1, "outbound|80||web.internal": 1}
    # nor its account: the entry's clusters check the identities of the pods it selects
    (entry_cluster,) = [c for c in config.clusters if c.name == "outbound|80||web.internal"]
    assert b"/sa/default" in entry_cluster.SerializeToString()
    assert b"/sa/old" not in entry_cluster.SerializeToString()
    assert_exact_every_design(cluster)


def test_the_import_reads_either_sign_and_names_terminating_pods_after_the_live_ones() -> None:
    """A pod with a deletionTimestamp whose endpoint still says ready (the slice not yet written), and
    one whose endpoint says terminating (the pod as captured before its deletion): both terminating,
    one workload after the controller's live pods, named with a suffix."""
    objects = list(inventory_objects(_mesh()))
    for obj in objects:
        if obj["kind"] == "Pod" and obj["metadata"]["name"] == "web-2":
            obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        if obj["kind"] == "EndpointSlice":
            for endpoint in obj["endpoints"] or []:
                if endpoint["targetRef"]["name"] == "web-1":
                    endpoint["conditions"] = {"ready": False, "serving": True, "terminating": True}
    imported = imported_from(objects)
    found = {
        w["name"]: (w["pod_names"], w.get("terminating", False), w.get("ready", True))
        for w in imported.scenario["workloads"]
        if w["name"].startswith("web")
    }
    assert found == {"web": (["web-0"], False, True), "web-2": (["web-1", "web-2"], True, True)}


def test_the_export_writes_terminating_pods_and_the_import_reads_them_back(tmp_path: Path) -> None:
    """A terminating pod is exported with a deletionTimestamp and a terminating endpoint (not ready,
    serving as its pod is); the import makes such pods a workload of their own, after the
    controller's live pods, and takes their readiness from the pod, not from the endpoint."""
    original = _mesh(more=({**ENDING, "ready": True},), **CLOSE)
    objects = list(inventory_objects(original))
    (pod,) = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"] == "old-0"]
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert pod["metadata"]["deletionTimestamp"] > pod["metadata"]["creationTimestamp"]
    conditions = [
        e["conditions"]
        for o in objects
        if o["kind"] == "EndpointSlice"
        for e in o["endpoints"] or []
        if e["targetRef"]["name"] == "old-0"
    ]
    assert conditions == [{"ready": False, "serving": True, "terminating": True}]
    # Its controllers count it no more: what they are removing.
    replicas = {
        o["kind"]: (o["spec"]["replicas"], o["status"]["replicas"])
        for o in objects
        if o["kind"] in ("Deployment", "ReplicaSet") and o["metadata"]["name"].startswith("old")
    }
    assert replicas == {"Deployment": (0, 0), "ReplicaSet": (0, 0)}
    imported = imported_from(objects)
    (ending,) = [w for w in imported.scenario["workloads"] if w.get("terminating")]
    assert ending["pod_names"] == ["old-0"]
    assert ending.get("ready", True) is True
    again = _round_trip(original, tmp_path)
    assert again.workloads["terminating"].sum() == 1
    for design in dsim.designs.design_names():
        pd.testing.assert_frame_equal(_sizes(again, design), _sizes(original, design))
