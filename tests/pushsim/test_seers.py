"""Who sees a service in the push model (``Seers``), and what a push of changed services carries
(``ConfigModel.changes_seen``), against a twin read from the cluster's own tables workload by
workload: its namespace's services (``namespace``), the services it calls (``dependencies``), its
scope group's rows (Sidecars and exportTo)."""

from __future__ import annotations

import numpy as np
import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.pushsim.churn import churn_stream
from dsim.pushsim.visibility import Seers
from dsim.xds.vocabulary import XDS_TYPES
from tests.accounting_check import assert_methods_agree
from tests.config_helpers import dual_stack_service
from tests.pushsim.test_configs import MESH, config_model

PRIVATE = {  # a Service of its own namespace alone: the mesh is scoped, by scope group
    "namespaces": [{"name": "private"}],
    "services": [
        {"name": "own", "namespace": "private", "ports": [{"port": 8080, "protocol": "HTTP"}], "export_to": ["."]}
    ],
    "workloads": [{"name": "own", "namespace": "private"}, {"name": "plain", "namespace": "private", "sidecar": False}],
}  # the sidecar-less workload has no scope group: it sees nothing
SIDECAR = {  # and one namespace's proxies see their own namespace alone
    "sidecars": [{"name": "default", "namespace": "ns-0001", "spec": {"egress": [{"hosts": ["./*"]}]}}],
}
MESHES = {
    "namespace": {**MESH, "visibility": "namespace"},
    "dependencies": {**MESH, "visibility": "dependencies"},
    "scope": {**MESH, **PRIVATE, **SIDECAR},
}


def seen_by_twin(cluster: Cluster, mode: str) -> np.ndarray:
    """(workload, service) mask: whether each workload sees each service, from the tables."""
    workloads, services = len(cluster.workloads), len(cluster.services)
    sees = np.zeros((workloads, services), bool)
    if mode == "namespace":
        ns = cluster.workloads["namespace"].to_numpy()
        sees[:] = ns[:, None] == cluster.services["namespace"].to_numpy()[None, :]
    elif mode == "dependencies":
        for w, s in zip(cluster.dependencies["workload"], cluster.dependencies["service"], strict=True):
            sees[w, s] = True
    else:
        rows: dict[int, list[int]] = {}
        for g, s in zip(cluster.scope["group"], cluster.scope["service"], strict=True):
            rows.setdefault(int(g), []).append(int(s))
        for w, g in zip(cluster.scope_groups["workload"], cluster.scope_groups["group"], strict=True):
            sees[w, rows.get(int(g), [])] = True
    return sees


@pytest.mark.parametrize("mode", list(MESHES))
def test_seers_and_pushed_changes_agree_with_the_tables(mode: str) -> None:
    cluster = build_cluster(scenario_from_dict(MESHES[mode]))
    seers = Seers(cluster)
    assert seers.mode == mode
    sees = seen_by_twin(cluster, mode)
    assert sees.any()
    assert not sees.all()
    for service in range(len(cluster.services)):
        assert seers.of(service).tolist() == np.flatnonzero(sees[:, service]).tolist()
        assert seers.sees(service, np.arange(len(sees))).tolist() == sees[:, service].tolist()
    rng = np.random.default_rng(3)
    for _ in range(5):
        chosen = rng.choice(len(cluster.services), size=5, replace=False)
        assert seers.sees_any(chosen).tolist() == sees[:, chosen].any(axis=1).tolist()

    model = config_model(cluster, "duplicate", churn_stream(cluster))
    proxied = np.unique(cluster.proxies["workload"].to_numpy())
    changed = rng.choice(len(cluster.services), size=10, replace=False)
    size, apply = model.changes_seen(changed, proxied)
    k = model.workload_class[proxied]
    for name, values, found in (
        ("clusters", model.per_service["cds"], size[:, XDS_TYPES.index("clusters")]),
        ("endpoints", model.eds_now, size[:, XDS_TYPES.index("endpoints")]),
        ("cluster applies", model.per_service["clusters"], apply[:, 0]),
        ("endpoint address applies", model.eaa_now, apply[:, 2]),
    ):
        twin = [
            sum(int(values[k[i], s]) for s in changed.tolist() if sees[w, s]) for i, w in enumerate(proxied.tolist())
        ]
        assert found.tolist() == twin, name
    assert size[:, XDS_TYPES.index("clusters")].any()


def test_a_call_listed_twice_is_one_dependency() -> None:
    """A workload listing the same call twice sees that service once: in the call graph, in the
    push model's holders and in the accounting (which agrees with the protobuf path)."""
    spec = {
        "visibility": "dependencies",
        "namespaces": [{"name": "shop"}],
        "services": [dual_stack_service("a", "shop", (80, "http")), dual_stack_service("b", "shop", (9080, "http"))],
        "workloads": [
            {"name": "w0", "namespace": "shop", "calls": ["shop/a", "shop/a"]},
            *({"name": f"w{i}", "namespace": "shop", "calls": ["shop/a", "shop/b"]} for i in (1, 2, 3)),
        ],
    }
    cluster = build_cluster(scenario_from_dict(spec))
    assert not cluster.dependencies.duplicated().any()
    assert Seers(cluster).per_holder(np.ones(2))[:4].tolist() == [1, 2, 2, 2]
    assert_methods_agree(cluster, "single-stack")
