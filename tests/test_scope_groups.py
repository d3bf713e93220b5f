"""The ``scope`` table by scope group (``Cluster.scope_groups``): workloads that see the same
services share one group, so the table grows with the groups, not with workloads × services (a
10,000-workload mesh with one private service held 120 million rows before; ``bench/accounting.py``
part 14). What each workload sees is unchanged: the accounting stays byte-exact against the
protobuf path over scoped meshes (``tests/test_export_to.py``, ``tests/test_sidecars.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.xds.view import index_for
from tests.accounting_check import assert_exact_every_design

API = "api.a.svc.cluster.local"
WEB = "web.b.svc.cluster.local"


def _mesh(visibility: str) -> dict[str, Any]:
    return {
        "visibility": visibility,
        "namespaces": [{"name": n} for n in ("a", "b")],
        "services": [
            {"name": "api", "namespace": "a", "ports": [{"port": 80, "name": "http"}], "export_to": ["."]},
            {"name": "web", "namespace": "b", "ports": [{"port": 80, "name": "http"}]},
        ],
        "workloads": [
            *({"name": f"a{i}", "namespace": "a", "calls": ["a/api"] if i else []} for i in range(4)),
            *({"name": f"b{i}", "namespace": "b", "calls": ["b/web"]} for i in range(3)),
            {"name": "plain", "namespace": "b", "sidecar": False},
        ],
    }


@pytest.mark.parametrize(("visibility", "groups"), [("all", 2), ("namespace", 2), ("dependencies", 7)])
def test_workloads_that_see_the_same_services_share_a_group(visibility: str, groups: int) -> None:
    cluster = build_cluster(scenario_from_dict(_mesh(visibility)))
    assert cluster.istio.scoped  # api is private to a
    group = cluster.workload_scope_groups()
    names = cluster.workloads["name"].tolist()
    assert group[names.index("plain")] == -1  # no sidecar, no group
    assert len(set(group[group >= 0].tolist())) == groups
    # Each group's rows once: the table is as long as the groups' scopes together.
    assert not cluster.scope.duplicated(["group", "service"]).any()
    index = index_for(cluster)
    hosts = index.hosts
    for w, name in enumerate(names):
        if name == "plain":
            continue
        seen = {hosts[s] for s in index.visible_services(w, int(cluster.workloads["namespace"].iloc[w]))}
        expected = {API, WEB} if name[0] == "a" else {WEB}  # all: api is private to a
        if visibility == "namespace":
            expected = {API} if name[0] == "a" else {WEB}
        elif visibility == "dependencies":
            expected = {WEB} if name[0] == "b" else {API} if name != "a0" else set()  # a0 calls nothing
        assert seen == expected, (visibility, name, seen)


@pytest.mark.parametrize("visibility", ["all", "dependencies"])
def test_accounting_is_exact_over_groups(visibility: str) -> None:
    assert_exact_every_design(build_cluster(scenario_from_dict(_mesh(visibility))))


def test_a_sidecar_makes_a_group_of_its_own() -> None:
    mesh = _mesh("all")
    mesh["sidecars"] = [
        {
            "name": "front",
            "namespace": "b",
            "spec": {"workloadSelector": {"labels": {"app": "b0"}}, "egress": [{"hosts": ["./*"]}]},
        }
    ]
    mesh["workloads"][4]["labels"] = {"app": "b0"}
    cluster = build_cluster(scenario_from_dict(mesh))
    group = cluster.workload_scope_groups()
    names = cluster.workloads["name"].tolist()
    b = [group[names.index(f"b{i}")] for i in range(3)]
    assert b[0] != b[1]
    assert b[1] == b[2]
    assert np.unique(group[group >= 0]).size == 3
