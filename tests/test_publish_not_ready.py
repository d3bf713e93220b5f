"""A Service's ``publishNotReadyAddresses`` (``docs/istio-objects.md`` 2.5, "Unready pods"): Kubernetes
writes its unready pods' endpoints ready (``podToEndpoint``), and istiod, which reads the slices'
ready condition (``endpointHealthStatus``), sends them to every proxy as healthy endpoints. Through
the generator, the accounting, ``dsim import`` and the export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from envoy.config.core.v3 import health_check_pb2

import dsim
from dsim.cluster import Cluster
from dsim.inventory.export import inventory_objects
from tests.accounting_check import assert_exact_every_design
from tests.config_helpers import config_of
from tests.inventory.captures import imported_from
from tests.inventory.test_export import _round_trip, _sizes
from tests.test_locality_failover import WEB, _assignment, _at
from tests.test_traffic_distribution import CLOSE, _health, _mesh

LATE = {"name": "late", "namespace": "a", "labels": {"app": "web"}, "ready": False, "locality": _at("r2", "z1")}
PUBLISH = {"publish_not_ready_addresses": True}
HEALTHY = health_check_pb2.HEALTHY


def _published(**service: object) -> Cluster:
    return _mesh(more=(LATE,), **PUBLISH, **service)


def test_unready_pods_are_sent_healthy_where_the_service_publishes_them() -> None:
    """With or without a distribution (which would send them unhealthy), the slices say ready."""
    for cluster in (_published(), _published(**CLOSE)):
        assert _health(_assignment(cluster, "a/client-1", WEB))["r2/z1"] == [HEALTHY, HEALTHY]
        assert any(c.name.startswith("inbound|") for c in config_of(cluster, "a/late-0").clusters)
        assert_exact_every_design(cluster)
    assert _health(_assignment(_mesh(more=(LATE,)), "a/client-1", WEB))["r2/z1"] == [HEALTHY]


def entry_mesh(other: dict[str, Any], **service: Any) -> Cluster:
    """web (``service``'s fields) with a ready pod and ``other``'s, and a ServiceEntry selecting
    both by their labels (``app: web``)."""
    entry = {
        "name": "alias",
        "namespace": "a",
        "spec": {
            "hosts": ["web.internal"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "resolution": "STATIC",
            "location": "MESH_INTERNAL",
            "workloadSelector": {"labels": {"app": "web"}},
        },
    }
    return dsim.build_cluster(
        dsim.scenario_from_dict(
            {
                "namespaces": [{"name": "a"}],
                "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}], **service}],
                "workloads": [{"name": "web", "namespace": "a"}, {**other, "locality": {}}],
                "service_entries": [entry],
            }
        )
    )


def test_a_service_entry_still_takes_ready_pods_only() -> None:
    """The ServiceEntry registry is fed from istiod's pod cache, which holds ready pods only: the
    Service's flag does not reach it."""
    cluster = entry_mesh(LATE, **PUBLISH)
    sizes = {a.cluster_name: len(a.endpoints[0].lb_endpoints) for a in config_of(cluster, "a/web-0").endpoints}
    assert sizes == {"outbound|80||web.a.svc.cluster.local": 2, "outbound|80||web.internal": 1}
    assert_exact_every_design(cluster)


def test_the_export_writes_the_flag_and_ready_slices_and_the_import_reads_them_back(tmp_path: Path) -> None:
    original = _published()
    objects = list(inventory_objects(original))
    (web,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "web"]
    assert web["spec"]["publishNotReadyAddresses"] is True
    conditions = [
        e["conditions"]
        for o in objects
        if o["kind"] == "EndpointSlice" and o["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
        for e in o["endpoints"] or []
        if e["targetRef"]["name"].startswith("late")
    ]
    assert conditions == [{"ready": True, "serving": False, "terminating": False}]
    imported = imported_from(objects)
    (service,) = [s for s in imported.scenario["services"] if s["name"] == "web"]
    assert service["publish_not_ready_addresses"] is True
    # the pod's own Ready condition still says unready
    assert [w.get("ready", True) for w in imported.scenario["workloads"] if w["name"].startswith("late")] == [False]
    again = _round_trip(original, tmp_path)
    assert again.services["publish_not_ready"].tolist() == original.services["publish_not_ready"].tolist()
    for design in dsim.designs.design_names():
        pd.testing.assert_frame_equal(_sizes(again, design), _sizes(original, design))
