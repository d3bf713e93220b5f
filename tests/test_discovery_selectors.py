"""``mesh.discovery_selectors`` (``meshConfig.discoverySelectors``, docs/istio-objects.md
"Discovery selectors"): istiod discovers the namespaces whose labels match a selector and ignores
the Services and the Istio objects of the others, whose pods still run sidecars. Selector
semantics follow Kubernetes' (read from Istio's ``pkg/config/mesh/labelselector`` and
``pkg/kube/namespace/filter.go``)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.discovery import UNDISCOVERED_SERVICES
from dsim.errors import ScenarioError
from dsim.scenario.discovery import NAME_LABEL, matches
from dsim.scenario.model import LabelRequirement, LabelSelector
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.conftest import SCENARIOS


def _requirement(key: str, operator: Any, *values: str) -> LabelSelector:
    return LabelSelector(match_expressions=(LabelRequirement(key=key, operator=operator, values=values),))


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (LabelSelector(), {}, True),  # written out empty: every namespace
        (LabelSelector(match_labels={"team": "shop"}), {"team": "shop", "x": "1"}, True),
        (LabelSelector(match_labels={"team": "shop"}), {"team": "pay"}, False),
        (LabelSelector(match_labels={"team": "shop", "env": "prod"}), {"team": "shop"}, False),  # all of them
        (_requirement("team", "In", "shop", "pay"), {"team": "pay"}, True),
        (_requirement("team", "In", "shop"), {}, False),
        (_requirement("team", "NotIn", "shop"), {}, True),  # absent: not in the list
        (_requirement("team", "NotIn", "shop"), {"team": "shop"}, False),
        (_requirement("team", "Exists"), {"team": ""}, True),
        (_requirement("team", "Exists"), {}, False),
        (_requirement("team", "DoesNotExist"), {}, True),
        (_requirement("team", "DoesNotExist"), {"team": "a"}, False),
        (
            LabelSelector(
                match_labels={"team": "shop"}, match_expressions=(LabelRequirement(key="env", operator="Exists"),)
            ),
            {"team": "shop"},
            False,
        ),
    ],
)
def test_a_selector_matches_as_kubernetes_reads_it(
    selector: LabelSelector, labels: dict[str, str], expected: bool
) -> None:
    assert matches(selector, labels) is expected


def _objects(**mesh: Any) -> dict[str, Any]:
    data = yaml.safe_load((SCENARIOS / "istio-objects.yaml").read_text())
    data["namespaces"] = [
        {"name": "shop", "labels": {"team": "shop"}},
        {"name": "payments", "labels": {"team": "payments"}},
        {"name": "external", "labels": {"team": "shop"}},
    ]
    data["mesh"] = {**data.get("mesh", {}), **mesh}
    return data


# The shop team's namespaces by label, the synthetic ns-0000 and ns-0002 and the root namespace by
# the name label every namespace carries: payments and ns-0001 are left out.
SELECTORS = [
    {"match_labels": {"team": "shop"}},
    {"match_expressions": [{"key": NAME_LABEL, "operator": "In", "values": ["ns-0000", "ns-0002", "istio-system"]}]},
]
LEFT_OUT = {"payments", "ns-0001"}


@pytest.fixture(scope="module")
def meshes() -> tuple[Cluster, Cluster]:
    """The mesh with the selectors, and as given."""
    selected = build_cluster(scenario_from_dict(_objects(discovery_selectors=SELECTORS)))
    return selected, build_cluster(scenario_from_dict(_objects()))


def _namespace_of(cluster: Cluster, table: str) -> list[str]:
    names = cluster.namespaces["name"].to_numpy()
    return names[getattr(cluster, table)["namespace"].to_numpy()].tolist()


def test_the_services_of_a_namespace_left_out_are_in_no_table(meshes: tuple[Cluster, Cluster]) -> None:
    selected, given = meshes
    kubernetes = selected.services["entry"].to_numpy() < 0
    namespaces = np.asarray(_namespace_of(selected, "services"))[kubernetes]
    assert not set(namespaces) & LEFT_OUT
    assert set(_namespace_of(given, "services")) >= LEFT_OUT
    given_kubernetes = given.services["entry"].to_numpy() < 0
    removed = int(np.isin(np.asarray(_namespace_of(given, "services"))[given_kubernetes], list(LEFT_OUT)).sum())
    assert removed > 0
    assert dict(selected.istio.notes)[UNDISCOVERED_SERVICES] == removed

    # What points at a service or subset points at the same one as without selectors.
    def ports(c: Cluster) -> set[tuple[str, str, int]]:
        names = np.asarray(_namespace_of(c, "services"))
        rows = c.service_ports["service"].to_numpy()
        return set(zip(names[rows], c.services["name"].to_numpy()[rows], c.service_ports["port"], strict=True))

    def members(c: Cluster) -> set[tuple[str, str, str]]:
        subsets, pairs = c.subsets, c.subset_workloads
        service = subsets["service"].to_numpy()[pairs["subset"].to_numpy()]
        return set(
            zip(
                c.services["name"].to_numpy()[service],
                subsets["name"].to_numpy()[pairs["subset"].to_numpy()],
                c.workloads["name"].to_numpy()[pairs["workload"].to_numpy()],
                strict=True,
            )
        )

    def selected_by(c: Cluster) -> set[tuple[str, str]]:
        pairs = c.service_workloads
        return set(
            zip(
                c.services["name"].to_numpy()[pairs["service"].to_numpy()],
                c.workloads["name"].to_numpy()[pairs["workload"].to_numpy()],
                strict=True,
            )
        )

    assert ports(selected) == {p for p in ports(given) if p[0] not in LEFT_OUT}
    assert members(selected)
    assert members(selected) <= members(given)
    assert selected_by(selected)
    assert selected_by(selected) <= selected_by(given)
    # The services discovered keep the VIPs they have without selectors.
    key = ["name", "namespace"]
    a = selected.services[kubernetes][[*key, "vip4", "vip6_lo"]]
    b = given.services[given.services["entry"] < 0][[*key, "vip4", "vip6_lo"]]
    assert a.merge(b, on=key, suffixes=("", "_given")).pipe(
        lambda m: (
            (m["vip4"] == m["vip4_given"]).all() and (m["vip6_lo"] == m["vip6_lo_given"]).all() and len(m) == len(a)
        )
    )


def test_the_generated_objects_of_the_namespaces_discovered_are_those_made_without_selectors(
    meshes: tuple[Cluster, Cluster],
) -> None:
    selected, given = meshes
    for kind in ("virtual_services", "destination_rules"):
        table = getattr(given, kind)
        made = {(n, ns) for n, ns, g in zip(table["name"], table["namespace"], table["generated"], strict=True) if g}
        table = getattr(selected, kind)
        kept = {(n, ns) for n, ns, g in zip(table["name"], table["namespace"], table["generated"], strict=True) if g}
        assert kept, kind
        assert kept == {(n, ns) for n, ns in made if ns not in LEFT_OUT}, kind


def test_the_istio_objects_of_a_namespace_left_out_are_ignored(meshes: tuple[Cluster, Cluster]) -> None:
    selected, given = meshes
    for kind in ("virtual_services", "destination_rules", "service_entries", "sidecars"):
        kept = {obj.namespace for obj in getattr(selected.istio, kind)}
        assert not kept & LEFT_OUT, kind
        assert {obj.namespace for obj in getattr(given.istio, kind)} & LEFT_OUT, kind  # the mesh has some there
    notes = dict(selected.istio.notes)
    for kind in ("VirtualService", "DestinationRule", "ServiceEntry", "Sidecar"):
        assert any(note.startswith(kind) and "discoverySelectors" in note for note in notes), kind


def test_pods_of_a_namespace_left_out_keep_their_sidecars(meshes: tuple[Cluster, Cluster]) -> None:
    selected, given = meshes
    assert len(selected.proxies) == len(given.proxies)
    assert set(_namespace_of(selected, "proxies")) >= LEFT_OUT


def test_both_paths_agree_and_envoy_accepts_every_config(meshes: tuple[Cluster, Cluster]) -> None:
    selected, _ = meshes
    assert_exact_every_design(selected)
    assert_envoy_accepts_every_proxy(selected)


def test_no_selector_or_an_empty_one_discovers_every_namespace(meshes: tuple[Cluster, Cluster]) -> None:
    _, given = meshes
    everything = build_cluster(scenario_from_dict(_objects(discovery_selectors=[{}])))
    assert len(everything.services) == len(given.services)
    assert not any("discoverySelectors" in note for note, _ in everything.istio.notes)


@pytest.mark.parametrize(
    ("expression", "field", "said"),
    [
        ({"key": "team", "operator": "In"}, "values", "In needs at least one value"),
        ({"key": "team", "operator": "Exists", "values": ["a"]}, "values", "Exists takes no values"),
        ({"key": "team", "operator": "Equals", "values": ["a"]}, "operator", "Equals"),
    ],
)
def test_a_bad_requirement_is_refused_naming_its_field(expression: dict[str, Any], field: str, said: str) -> None:
    data = _objects(discovery_selectors=[{"match_expressions": [copy.deepcopy(expression)]}])
    with pytest.raises(ScenarioError) as raised:
        scenario_from_dict(data, source="mesh.yaml")
    text = str(raised.value)
    assert f"mesh.discovery_selectors[0].match_expressions[0].{field}" in text, text
    assert said in text, text


def test_selectors_are_bounded_so_that_no_input_makes_discovery_long() -> None:
    many = {"match_labels": {f"k{i}": "v" for i in range(60)}}
    with pytest.raises(ScenarioError) as raised:
        scenario_from_dict(_objects(discovery_selectors=[many, many]), source="mesh.yaml")
    assert "mesh.discovery_selectors: has 120 labels and expressions over its selectors; at most 100" in str(
        raised.value
    )
    scenario_from_dict(_objects(discovery_selectors=[many]), source="mesh.yaml")  # 60 is fine


def test_a_namespace_that_injects_carries_istio_injection_enabled() -> None:
    """The label Istio's injector reads, and the selector platform teams write most."""
    data = _objects(discovery_selectors=[{"match_labels": {"istio-injection": "enabled"}}])
    data["namespaces"][1]["sidecar_injection"] = False  # payments
    data["synthetic"]["sidecar_injection"] = 1.0
    cluster = build_cluster(scenario_from_dict(data))
    kubernetes = cluster.services["entry"].to_numpy() < 0
    found = set(np.asarray(_namespace_of(cluster, "services"))[kubernetes])
    assert found == {"shop", "ns-0000", "ns-0001", "ns-0002"}  # external has no Service of its own


def test_strict_mtls_from_a_root_namespace_left_out_is_refused() -> None:
    data = _objects(discovery_selectors=[{"match_labels": {"team": "shop"}}], mtls="STRICT")
    with pytest.raises(ScenarioError) as raised:
        scenario_from_dict(data, source="mesh.yaml")
    assert "mesh.mtls: STRICT is the root namespace's PeerAuthentication" in str(raised.value)
    data["namespaces"].append({"name": "istio-system", "labels": {"team": "shop"}})
    scenario_from_dict(data, source="mesh.yaml")  # selected by its label: STRICT holds


def test_sidecar_edits_fall_in_namespaces_istiod_discovers() -> None:
    from dsim.pushsim.churn import churn_stream

    data = _objects(discovery_selectors=SELECTORS)
    data["churn"] = {"duration_s": 3600, "sidecar_changes_per_hour": 200}
    cluster = build_cluster(scenario_from_dict(data))
    events = churn_stream(cluster).events
    edited = events.loc[events["cause"] == "sidecar", "namespace"].to_numpy()
    names = set(cluster.namespaces["name"].to_numpy()[edited])
    assert len(edited) > 50
    assert names
    assert not names & LEFT_OUT


def test_the_size_guard_leaves_out_what_a_sidecar_cannot_see() -> None:
    """A platform team's big cluster scoped down by its selectors: a dump's estimate counts the
    endpoints of the namespaces istiod discovers, not of the others."""
    from dsim.sizing import estimate

    def mesh(selected: bool) -> dict[str, Any]:
        data = _objects(**({"discovery_selectors": [{"match_labels": {"team": "shop"}}]} if selected else {}))
        data["namespaces"].append({"name": "batch", "labels": {"team": "batch"}})
        data["services"].append({"name": "jobs", "namespace": "batch", "ports": [{"port": 80, "name": "http"}]})
        data["workloads"].append({"name": "jobs", "namespace": "batch", "replicas": 5_000})
        return data

    given = estimate(scenario_from_dict(mesh(False)), stage="config")
    selected = estimate(scenario_from_dict(mesh(True)), stage="config")
    assert given.endpoints_seen_per_proxy - selected.endpoints_seen_per_proxy >= 5_000
    assert selected.pods == given.pods  # the pods are still there
