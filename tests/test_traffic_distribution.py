"""A Service's ``trafficDistribution`` (issue 16, ``docs/istio-objects.md`` 2.5 "Locality failover"):
from Istio 1.25 (one meaning for ``PreferClose`` and ``PreferSameZone`` from 1.30) istiod takes it,
where the cluster's DestinationRule sets no ``localityLbSetting`` of its own, as failover priorities
on the network, region and zone labels, forced without outlier detection, before the mesh's own
setting (``GetLocalityLbSetting``); the cluster then balances by locality weight, and any cluster
of such a service gets a zero panic threshold (``SupportsUnhealthyEndpoints``). Checked on the
protobuf path against those rules, byte-exact in the accounting under every design, through
``dsim import`` (the field and Istio's annotation on the Service or its namespace) and the export,
and in the real Envoy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from envoy.config.core.v3 import health_check_pb2

import dsim
from dsim import build_cluster, scenario_from_dict
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.errors import ScenarioError
from dsim.inventory.export import inventory_objects
from dsim.inventory.traffic_distribution import SAME_NODE_NOTE, traffic_distribution
from dsim.scenario.load import scenario_to_yaml
from dsim.xds.dump import dump_table
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of
from tests.conftest import SCENARIOS
from tests.inventory.captures import imported_from
from tests.inventory.test_export import _round_trip, _sizes
from tests.rule_helpers import dr
from tests.test_locality_failover import (
    OUTLIER,
    WEB,
    _assignment,
    _at,
    _cluster_message,
    _ext_entry,
    _priorities,
    _spread,
)

HOST = "web.a.svc.cluster.local"
CLOSE = {"traffic_distribution": "PreferClose"}


def _mesh(
    policy: dict[str, Any] | None = None,
    mesh: dict[str, Any] | None = None,
    more: tuple[dict[str, Any], ...] = (),
    **service: Any,
) -> Cluster:
    """web (``service``'s fields) with pods in r1/z1, r1/z2 and r2/z1 (its rule's policy ``policy``;
    ``None``: no rule), and a client with a pod in r1/z1 (``client-1``) and one in r2/z1
    (``client-0``); ``more`` workloads after them."""
    scenario: dict[str, Any] = {
        "namespaces": [{"name": "a"}],
        "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}], **service}],
        "workloads": [
            _spread("web", "a", _at("r1", "z1"), _at("r1", "z2"), _at("r2", "z1")),
            _spread("client", "a", _at("r1", "z1"), _at("r2", "z1")),
            *more,
        ],
        "destination_rules": [dr("web", "a", HOST, trafficPolicy=policy)] if policy is not None else [],
        "mesh": mesh or {},
    }
    return build_cluster(scenario_from_dict(scenario))


def _lb(cluster: Cluster) -> Any:
    return _cluster_message(cluster, "a/client-1", WEB).common_lb_config


CLOSE_ORDER = {"r1/z1": 0, "r1/z2": 1, "r2/z1": 2}
"""From r1/z1 under PreferClose: its zone, its region, the rest."""


def test_a_distribution_fails_over_without_outlier_detection() -> None:
    cluster = _mesh(**CLOSE)
    assert _priorities(_assignment(cluster, "a/client-1", WEB)) == CLOSE_ORDER
    assert _priorities(_assignment(cluster, "a/client-0", WEB)) == {"r2/z1": 0, "r1/z1": 1, "r1/z2": 1}
    lb = _lb(cluster)
    assert lb.HasField("locality_weighted_lb_config")  # forced failover with priority labels
    assert lb.HasField("healthy_panic_threshold")
    assert lb.healthy_panic_threshold.value == 0
    assert_exact_every_design(cluster)
    plain = _mesh()
    assert set(_priorities(_assignment(plain, "a/client-1", WEB)).values()) == {0}
    assert not _lb(plain).HasField("healthy_panic_threshold")
    counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
    client = cluster.proxies.index[cluster.pod_names().to_numpy()[cluster.proxies["pod"].to_numpy()] == "client-1"]
    assert counts.loc[client[0], "failover_priorities"] == 2


@pytest.mark.parametrize(
    ("policy", "mesh", "order", "weighted"),
    [
        # A rule with outlier detection but no locality setting of its own: the service's stands.
        (OUTLIER, None, CLOSE_ORDER, True),
        # The rule's own setting replaces it whole: off, or on without outlier detection (no failover).
        ({**OUTLIER, "loadBalancer": {"localityLbSetting": {"enabled": False}}}, None, None, False),
        ({"loadBalancer": {"localityLbSetting": {"enabled": True}}}, None, None, False),
        # The service's stands before the mesh's: failover even where the mesh turns it off, and no
        # mesh distribution.
        (None, {"locality_lb_setting": {"enabled": False}}, CLOSE_ORDER, True),
        (
            None,
            {"locality_lb_setting": {"distribute": [{"from": "r1/*", "to": {"r2/*": 100}}]}},
            CLOSE_ORDER,
            True,
        ),
    ],
)
def test_the_rule_stands_before_the_service_and_the_service_before_the_mesh(
    policy: dict[str, Any] | None, mesh: dict[str, Any] | None, order: dict[str, int] | None, weighted: bool
) -> None:
    cluster = _mesh(policy, mesh, **CLOSE)
    found = _priorities(_assignment(cluster, "a/client-1", WEB))
    assert found == (order or dict.fromkeys(CLOSE_ORDER, 0))
    lb = _lb(cluster)
    assert lb.HasField("locality_weighted_lb_config") == weighted
    # Whatever setting stands, the service's clusters get the zero panic threshold.
    assert lb.HasField("healthy_panic_threshold")
    assert lb.healthy_panic_threshold.value == 0
    assert_exact_every_design(cluster)


def test_prefer_same_zone_is_the_same_and_same_node_is_refused_naming_the_field() -> None:
    close, zone = _mesh(**CLOSE), _mesh(traffic_distribution="PreferSameZone")
    assert _assignment(close, "a/client-1", WEB) == _assignment(zone, "a/client-1", WEB)
    with pytest.raises(ScenarioError, match=r"services\[0\]\.traffic_distribution: 'PreferSameNode' is not modelled"):
        _mesh(traffic_distribution="PreferSameNode")
    with pytest.raises(ScenarioError, match=r"services\[0\]\.traffic_distribution"):
        _mesh(traffic_distribution="preferclose")  # the field takes Kubernetes' values as written


def test_the_field_is_written_back_as_given() -> None:
    cluster = _mesh(traffic_distribution="PreferSameZone")
    written = yaml.safe_load(scenario_to_yaml(cluster.scenario))
    assert written["services"][0]["traffic_distribution"] == "PreferSameZone"
    assert scenario_from_dict(written) == cluster.scenario


def test_synthetic_services_take_the_share_asked_for_and_price_exactly() -> None:
    data = {
        "name": "close",
        "seed": 3,
        "synthetic": {
            "services": 20,
            "prefer_close": 0.25,
            "localities": [_at("r1", "z1"), _at("r1", "z2"), _at("r2", "z1")],
            "replicas": {"distribution": "fixed", "mean": 3},
        },
    }
    cluster = build_cluster(scenario_from_dict(data))
    assert cluster.services["prefer_close"].sum() == 5
    assert_exact_every_design(cluster)
    # Its own random stream: the rest of the mesh is drawn as without it.
    other = build_cluster(scenario_from_dict({**data, "synthetic": {**data["synthetic"], "prefer_close": 0.0}}))
    pd.testing.assert_frame_equal(cluster.pods, other.pods)


def _health(assignment: Any) -> dict[str, list[int]]:
    """Each group's endpoints' health statuses, by its ``region/zone``."""
    return {
        f"{g.locality.region}/{g.locality.zone}": sorted(lb.health_status for lb in g.lb_endpoints)
        for g in assignment.endpoints
    }


def test_unready_pods_are_sent_unhealthy_where_the_service_has_a_distribution() -> None:
    """istiod sends a Service with a distribution its unready endpoints too, as unhealthy ones
    (SupportsUnhealthyEndpoints); a Service without one gets none of them. Either way the Service
    selects the unready pods: their proxies get its inbound side."""
    late = {"name": "late", "namespace": "a", "labels": {"app": "web"}, "ready": False, "locality": _at("r2", "z1")}
    close, plain = _mesh(more=(late,), **CLOSE), _mesh(more=(late,))
    healthy, unhealthy = health_check_pb2.HEALTHY, health_check_pb2.UNHEALTHY
    assert _health(_assignment(close, "a/client-1", WEB)) == {
        "r1/z1": [healthy],
        "r1/z2": [healthy],
        "r2/z1": [healthy, unhealthy],
    }
    assert _health(_assignment(plain, "a/client-1", WEB))["r2/z1"] == [healthy]
    # istioctl proxy-config endpoints shows the status Envoy holds.
    table = dump_table(config_of(close, "a/client-1"), "endpoints").splitlines()
    assert sorted(line.split()[1] for line in table[1:] if line.endswith(WEB)) == ["HEALTHY"] * 3 + ["UNHEALTHY"]
    for cluster in (close, plain):
        assert any(c.name.startswith("inbound|") for c in config_of(cluster, "a/late-0").clusters)
        assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("spec", "service", "namespace", "expected"),
    [
        ("PreferClose", None, None, "PreferClose"),
        ("PreferSameZone", "PreferSameNode", None, "PreferSameZone"),  # the field first
        ("Unknown", "preferclose", None, "PreferClose"),  # an unknown field value passes on
        (None, "PREFERSAMENODE", "PreferClose", "PreferSameNode"),  # the Service's annotation, without case
        (None, "nearby", "PreferClose", None),  # an unknown annotation means Any: the namespace's is not read
        (None, None, "PreferSameZone", "PreferSameZone"),
        (None, "", "PreferClose", "PreferClose"),  # an empty annotation is none
        (None, None, None, None),
    ],
)
def test_istio_reads_the_field_then_the_annotations(
    spec: str | None, service: str | None, namespace: str | None, expected: str | None
) -> None:
    assert traffic_distribution(spec, service, namespace) == expected


def test_import_carries_the_distribution_over() -> None:
    """Four Services in a namespace annotated PreferClose: one by the namespace's annotation, one by
    its own field, one by its own annotation (PreferSameNode: PreferSameZone, with a note), one whose
    unknown annotation means Any. What dsim leaves out is noted: the ServiceEntry of the annotated
    namespace (Istio gives it the namespace's distribution)."""
    annotation = "networking.istio.io/traffic-distribution"
    names = ["by-namespace", "by-field", "by-node", "anywhere"]
    ports = [{"port": 80, "name": "http"}]
    scenario = scenario_from_dict(
        {
            "namespaces": [{"name": "a"}],
            "services": [{"name": n, "namespace": "a", "ports": ports} for n in names],
            "workloads": [{"name": n, "namespace": "a"} for n in names],
            "service_entries": [_ext_entry([{"address": "east.ext.example.com", "locality": "r1/z1"}])],
        }
    )
    objects = list(inventory_objects(build_cluster(scenario)))
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace" and meta["name"] == "a":
            meta["annotations"] = {annotation: "PreferClose"}
        elif obj["kind"] == "Service" and meta["name"] == "by-field":
            obj["spec"]["trafficDistribution"] = "PreferSameZone"
        elif obj["kind"] == "Service" and meta["name"] in ("by-node", "anywhere"):
            meta["annotations"] = {annotation: "PreferSameNode" if meta["name"] == "by-node" else "Any"}
    imported = imported_from(objects)
    found = {s["name"]: s.get("traffic_distribution") for s in imported.scenario["services"]}
    assert found == {
        "anywhere": None,
        "by-field": "PreferSameZone",
        "by-namespace": "PreferClose",
        "by-node": "PreferSameZone",
    }
    assert f"a/by-node: {SAME_NODE_NOTE}" in imported.notes
    assert any(n.startswith("namespaces a annotate a trafficDistribution") for n in imported.notes)
    imported.load()


def test_export_then_import_keeps_the_distribution(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIOS / "quickstart.yaml").read_text())
    data["synthetic"] |= {"services": 60, "prefer_close": 0.5, "subsets": {"fraction": 0.0}}
    data["namespaces"] = [{"name": "shop"}]
    data["services"] = [{"name": "web", "namespace": "shop", "ports": [{"port": 80, "name": "http"}], **CLOSE}]
    data["workloads"] = [{"name": "web", "namespace": "shop", "replicas": 2}]
    original = build_cluster(scenario_from_dict(data))
    imported = _round_trip(original, tmp_path)
    assert imported.services["prefer_close"].sum() == original.services["prefer_close"].sum() == 31
    for design in dsim.designs.design_names():
        pd.testing.assert_frame_equal(_sizes(imported, design), _sizes(original, design))


@pytest.mark.slow
def test_real_envoy_accepts_every_proxy() -> None:
    assert_envoy_accepts_every_proxy(_mesh(OUTLIER, **CLOSE))
