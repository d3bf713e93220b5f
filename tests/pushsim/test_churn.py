"""The churn stream: drawn from the seed alone, at the scenario's rates, and consistent with itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsim import build_cluster, push_simulation
from dsim.cluster.import_scopes import import_scopes
from dsim.pushsim.churn import churn_stream
from dsim.pushsim.reach import virtual_service_reach
from dsim.xds.vocabulary import XDS_SHORT, XDS_TYPES

CHURN = {
    "duration_s": 1800,
    "pod_replacements_per_s": 0.5,
    "rollouts_per_hour": 20,
    "scale_events_per_hour": 30,
    "service_creations_per_hour": 6,
    "service_deletions_per_hour": 6,
    "virtual_service_changes_per_hour": 30,
    "destination_rule_changes_per_hour": 30,
    "sidecar_changes_per_hour": 10,
    "istiod_restarts_s": [1200],
}
MESH = {
    "name": "busy",
    "seed": 3,
    "synthetic": {"namespaces": 4, "services": 60, "replicas": {"distribution": "fixed", "mean": 3}},
    "churn": CHURN,
}


@pytest.fixture
def busy(write_scenario: Callable[..., Path]) -> Path:
    return write_scenario(MESH)


def test_same_seed_same_stream(busy: Path) -> None:
    a, b = churn_stream(build_cluster(busy)), churn_stream(build_cluster(busy))
    pd.testing.assert_frame_equal(a.events, b.events)
    assert a.states == b.states


def test_rates_are_the_scenarios(busy: Path) -> None:
    stream = churn_stream(build_cluster(busy))
    hours = CHURN["duration_s"] / 3600
    for cause, expected in (
        ("pod_replacement", CHURN["pod_replacements_per_s"] * CHURN["duration_s"]),
        ("rollout", CHURN["rollouts_per_hour"] * hours),
        ("scale", CHURN["scale_events_per_hour"] * hours),
        ("virtual_service", CHURN["virtual_service_changes_per_hour"] * hours),
        ("sidecar", CHURN["sidecar_changes_per_hour"] * hours),
    ):
        assert abs(stream.count(cause) - expected) < 5 * np.sqrt(expected) + 1, cause
    assert stream.count("istiod_restart") == 1


def test_connections_are_consistent(busy: Path) -> None:
    stream = churn_stream(build_cluster(busy))
    connected = set(range(stream.initial_proxies))
    for kind, proxy in stream.events[["kind", "proxy"]].itertuples(index=False):
        if kind == "connect":
            assert proxy not in connected
            connected.add(proxy)
        elif kind == "disconnect":
            assert proxy in connected, "a proxy disconnects only once, after connecting"
            connected.remove(proxy)
    assert (stream.events["time"].diff().dropna() >= 0).all()


@pytest.mark.slow
def test_every_kind_of_churn_runs_through_the_model(busy: Path) -> None:
    tables = push_simulation(busy, ["single-stack", "duplicate"])
    again = push_simulation(busy, ["single-stack", "duplicate"])
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[name], obj=name)
    records = tables["push_records"]
    assert records["full"].any()
    assert (~records["full"]).any()
    causes = set(",".join(records["causes"]).split(","))
    assert {"endpoints", "service_create", "service_delete", "virtual_service", "sidecar"} <= causes
    metrics = tables["push_metrics"]
    names = set(metrics["metric"])
    assert {
        "pilot_debounce_time",
        "pilot_pushcontext_init_seconds",
        "pilot_proxy_queue_time",
        "pilot_xds_push_time",
        "pilot_proxy_convergence_time",
        "pilot_xds_pushes",
        "istiod_cpu_utilization",
        "dsim_proxies_over_grpc_limit",
    } <= names
    sent = metrics[metrics["metric"].eq("dsim_xds_bytes_sent") & metrics["label"].ne("")]
    by_design = sent.groupby("design")["value"].sum()
    assert by_design["duplicate"] > by_design["single-stack"], "duplicate pushes more bytes"
    # the restart reconnects every proxy, through the admission limiter
    summary = tables["push_summary"].set_index("design")
    assert (summary["convergence_p99_s"] > 0).all()
    connections = metrics[metrics["metric"].eq("dsim_connections")].set_index("design")["value"]
    assert (connections >= 180).all()
    per_type = metrics[metrics["metric"].eq("pilot_xds_pushes")]
    assert set(per_type["label"]) == {f"type={XDS_SHORT[t]}" for t in XDS_TYPES}


def test_edits_of_istio_objects_touch_the_services_they_shape(write_scenario: Callable[..., Path]) -> None:
    # A VirtualService edit is one row naming it (the services its hosts name are the stream's
    # to look up) and the proxies whose scope imports it; one naming no service is drawn too (its
    # importers are pushed; its host is "80"'s virtual host). A DestinationRule edit touches its
    # host's service; a rule naming no service is never drawn.
    http = [{"name": "http", "port": 80}]
    scenario = {
        "name": "edits",
        "seed": 5,
        "namespaces": [{"name": "default"}],
        "services": [{"name": n, "namespace": "default", "ports": http} for n in ("a", "b", "c")],
        "workloads": [{"name": n, "namespace": "default", "labels": {"app": n}} for n in ("a", "b", "c")],
        "virtual_services": [
            {
                "name": "ab",
                "namespace": "default",
                "spec": {"hosts": ["a", "b"], "http": [{"route": [{"destination": {"host": "a"}}]}]},
            },
            {
                "name": "far",
                "namespace": "default",
                "spec": {"hosts": ["far.example.com"], "http": [{"route": [{"destination": {"host": "a"}}]}]},
            },
        ],
        "destination_rules": [
            {"name": "c", "namespace": "default", "spec": {"host": "c", "subsets": [{"name": "v1"}]}}
        ],
        "churn": {"duration_s": 600, "virtual_service_changes_per_hour": 120, "destination_rule_changes_per_hour": 120},
    }
    cluster = build_cluster(write_scenario(scenario))
    names = cluster.services["name"].to_numpy()
    stream = churn_stream(cluster)
    events = stream.events
    edits = events[events["kind"] == "virtual_service"]
    assert len(edits) > 5
    assert edits["time"].is_unique
    assert (edits["service"] == -1).all()
    assert set(edits["edited"]) == {0, 1}
    touched = {v: sorted(names[stream.virtual_service_services[v]]) for v in (0, 1)}
    assert touched == {0: ["a", "b"], 1: []}
    assert (edits["imported_by"] == -1).all()  # no Sidecar: every proxy imports both
    rules = events[events["kind"] == "destination_rule"]
    assert len(rules) > 5
    assert set(names[rules["service"].to_numpy()]) == {"c"}


def _entry_mesh(rate: float, entries: bool = True) -> dict[str, object]:
    """Two namespaces with a sidecar each; a ServiceEntry of two hosts seen everywhere, and one
    exported to its own namespace only."""
    http = [{"name": "http", "port": 80}]
    mesh: dict[str, object] = {
        "name": "entry-edits",
        "seed": 7,
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [{"name": n, "namespace": n, "ports": http} for n in ("a", "b")],
        "workloads": [{"name": n, "namespace": n, "labels": {"app": n}, "replicas": 2} for n in ("a", "b")],
        "churn": {"duration_s": 600, "service_entry_changes_per_hour": rate},
    }
    if entries:
        mesh["service_entries"] = [
            {
                "name": "apis",
                "namespace": "a",
                "spec": {
                    "hosts": ["one.example.com", "two.example.com"],
                    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                    "resolution": "DNS",
                },
            },
            {
                "name": "local",
                "namespace": "a",
                "spec": {
                    "hosts": ["db.internal"],
                    "addresses": ["198.51.100.20"],
                    "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
                    "resolution": "STATIC",
                    "endpoints": [{"address": "10.20.0.1"}],
                    "exportTo": ["."],
                },
            },
        ]
    return mesh


def test_a_service_entry_edit_touches_its_hosts_at_the_scenarios_rate(write_scenario: Callable[..., Path]) -> None:
    cluster = build_cluster(write_scenario(_entry_mesh(360)))
    names = cluster.services["name"].to_numpy()
    events = churn_stream(cluster).events
    edits = events[events["kind"] == "service_entry"].groupby("time")["service"].apply(lambda s: sorted(names[s]))
    expected = 360 * 600 / 3600
    assert abs(len(edits) - expected) < 5 * np.sqrt(expected)
    assert {tuple(t) for t in edits} == {("one.example.com", "two.example.com"), ("db.internal",)}


def test_service_entry_edits_without_a_service_entry_are_refused(write_scenario: Callable[..., Path]) -> None:
    from dsim.errors import ScenarioError

    path = write_scenario(_entry_mesh(60, entries=False))
    with pytest.raises(ScenarioError, match=r"churn\.service_entry_changes_per_hour: 60 edits per hour, but the mesh"):
        build_cluster(path)
    build_cluster(write_scenario(_entry_mesh(0, entries=False)))  # a zero rate needs none


def test_a_service_entry_edit_is_a_full_push_to_the_sidecars_that_see_it(write_scenario: Callable[..., Path]) -> None:
    """The entry exported everywhere reaches all four sidecars; the one exported to its own
    namespace, the two in it (Istio pushes a proxy whose scope holds a changed ServiceEntry)."""
    path = write_scenario(_entry_mesh(360))
    cluster = build_cluster(path)
    names = cluster.services["name"].to_numpy()
    events = churn_stream(cluster).events
    edits = events[events["kind"] == "service_entry"]
    touched = edits.groupby("time")["service"].apply(lambda s: tuple(sorted(names[s]))).tolist()
    records = push_simulation(path, ["single-stack"])["push_records"]
    pushes = records[records["causes"].str.contains("service_entry")]
    assert pushes["full"].all()
    assert len(pushes) > 5
    local, shared = ("db.internal",), ("one.example.com", "two.example.com")
    assert local in touched
    assert shared in touched
    # A debounced push may merge edits of both entries: then it reaches everyone.
    assert set(pushes["proxies_pushed"]) <= {2, 4}
    assert 2 in set(pushes["proxies_pushed"])
    assert 4 in set(pushes["proxies_pushed"])
    assert (pushes["cds_bytes"] > 0).all()
    assert (pushes["lds_bytes"] > 0).all()


def test_a_change_reaches_the_proxies_whose_own_service_it_is(write_scenario: Callable[..., Path]) -> None:
    """An entry exported to no one (``~``) that selects b's pods: no proxy sees it, yet istiod pushes
    its edits to those pods, whose service targets hold its host (``filterRelevantUpdates``)."""
    mesh = _entry_mesh(360, entries=False)
    mesh["service_entries"] = [
        {
            "name": "hidden",
            "namespace": "b",
            "spec": {
                "hosts": ["hidden.internal"],
                "addresses": ["198.51.100.30"],
                "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}],
                "resolution": "STATIC",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "b"}},
                "exportTo": ["~"],
            },
        }
    ]
    records = push_simulation(write_scenario(mesh), ["single-stack"])["push_records"]
    pushes = records[records["causes"].str.contains("service_entry")]
    assert len(pushes) > 5
    assert set(pushes["proxies_pushed"]) == {2}


def test_an_edit_of_an_object_some_namespaces_apply_reaches_only_their_proxies(
    write_scenario: Callable[..., Path],
) -> None:
    """Istio's ``DependsOnConfig``: a VirtualService private to namespace b, or a (public)
    DestinationRule b holds for a's service, is a full push to b's two sidecars, though a's two see
    the service too (a's own lookup finds no rule); a public VirtualService reaches all four. The
    edit events say which proxies they reach (a DestinationRule's ``reach`` indexes the stream's
    ``reaches``, namespaces; a VirtualService's ``imported_by`` its ``importers``, import scopes)."""
    mesh = _entry_mesh(0, entries=False)
    host = "a.a.svc.cluster.local"
    mine = {"hosts": [host], "exportTo": ["."], "http": [{"route": [{"destination": {"host": host}}]}]}
    public = {"hosts": ["b"], "http": [{"route": [{"destination": {"host": "b"}}]}]}
    mesh["virtual_services"] = [
        {"name": "mine", "namespace": "b", "spec": mine},
        {"name": "open", "namespace": "b", "spec": public},
    ]
    policy = {"connectionPool": {"tcp": {"maxConnections": 5}}}
    mesh["destination_rules"] = [{"name": "client", "namespace": "b", "spec": {"host": host, "trafficPolicy": policy}}]
    for kind in ("virtual_service", "destination_rule"):
        mesh["churn"] = {"duration_s": 600, f"{kind}_changes_per_hour": 360}
        path = write_scenario(mesh)
        cluster = build_cluster(path)
        names, spaces = cluster.services["name"].to_numpy(), cluster.namespaces["name"].to_numpy()
        stream = churn_stream(cluster)
        edits = stream.events[stream.events["kind"] == kind]
        if kind == "virtual_service":  # without a Sidecar, the namespaces it is exported to import it
            importers = {
                "all" if i < 0 else tuple(spaces[import_scopes(cluster).namespace[stream.importers[i]]].tolist())
                for i in edits["imported_by"].tolist()
            }
            assert importers == {("b",), "all"}
        else:
            reach = {
                (str(names[s]), tuple(spaces[stream.reaches[r]].tolist()) if r >= 0 else "all")
                for s, r in zip(edits["service"].tolist(), edits["reach"].tolist(), strict=True)
            }
            assert reach == {("a", ("b",))}
        records = push_simulation(path, ["single-stack"])["push_records"]
        pushes = records[records["causes"].str.contains(kind)]
        assert len(pushes) > 5
        # A debounced push may merge edits of both VirtualServices: then it reaches everyone.
        assert 2 in set(pushes["proxies_pushed"])
        assert set(pushes["proxies_pushed"]) <= ({2, 4} if kind == "virtual_service" else {2})


def _importing_mesh() -> dict[str, object]:
    """Namespaces a (a Sidecar importing ``./*``) and b (no Sidecar, but for workload b2, whose
    Sidecar imports ``a/*``), two sidecars per workload; VirtualServices in a and in b, one of
    them naming no service."""
    http = [{"name": "http", "port": 80}]
    b_host = "b.b.svc.cluster.local"
    to_b = [{"route": [{"destination": {"host": b_host}}]}]
    return {
        "name": "importers",
        "seed": 11,
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [
            {"name": "a", "namespace": "a", "ports": http},
            {"name": "b", "namespace": "b", "ports": http, "selector": {"app": "b"}},
        ],
        "workloads": [
            {"name": "a", "namespace": "a", "labels": {"app": "a"}, "replicas": 2},
            {"name": "b", "namespace": "b", "labels": {"app": "b"}, "replicas": 2},
            {"name": "b2", "namespace": "b", "labels": {"app": "b2"}, "replicas": 2},
        ],
        "sidecars": [
            {"name": "default", "namespace": "a", "spec": {"egress": [{"hosts": ["./*"]}]}},
            {
                "name": "b2",
                "namespace": "b",
                "spec": {"workloadSelector": {"labels": {"app": "b2"}}, "egress": [{"hosts": ["a/*"]}]},
            },
        ],
        "virtual_services": [
            {"name": "local", "namespace": "a", "spec": {"hosts": [b_host], "http": to_b}},
            {"name": "remote", "namespace": "b", "spec": {"hosts": ["b"], "http": to_b}},
            {"name": "external", "namespace": "b", "spec": {"hosts": ["shop.example.com"], "http": to_b}},
        ],
        "churn": {"duration_s": 600, "virtual_service_changes_per_hour": 360},
    }


def test_a_virtual_service_is_a_dependency_of_the_proxies_whose_scope_imports_it(
    write_scenario: Callable[..., Path],
) -> None:
    """Istio's ``SelectVirtualServices``: a Sidecar imports a VirtualService one of whose hosts
    matches an egress host of the VirtualService's own namespace (or ``*``); the default scope,
    every VirtualService exported to the namespace. So a's ``./*`` imports ``local`` (in a, naming
    b's service, which a does not see), b2's ``a/*`` imports ``local`` alone, and b's other
    workloads import all three."""
    cluster = build_cluster(write_scenario(_importing_mesh()))
    groups = import_scopes(cluster)
    spaces = cluster.namespaces["name"].to_numpy()
    sidecar_names = cluster.istio.sidecars
    label = [
        f"{spaces[n]}/{sidecar_names[s].name if s >= 0 else '-'}"
        for n, s in zip(groups.namespace.tolist(), groups.sidecar.tolist(), strict=True)
    ]
    found = {
        vs.name: "all" if r.importers is None else sorted(label[g] for g in r.importers.tolist())
        for vs, r in zip(cluster.istio.virtual_services, virtual_service_reach(cluster), strict=True)
        if r is not None
    }
    assert found == {"local": "all", "remote": ["b/-"], "external": ["b/-"]}


def test_a_virtual_service_edit_pushes_its_importers_whatever_they_see(write_scenario: Callable[..., Path]) -> None:
    """``local`` pushes all six sidecars; ``remote`` and ``external`` (naming no service) push b's
    two, though a's and b2's see b's service (as ``local``'s destination, so they have its
    cluster: its routes are not theirs). Pushing the proxies that see a service the
    VirtualService names would push all six for ``remote`` and none for ``external``."""
    path = write_scenario(_importing_mesh())
    records = push_simulation(path, ["single-stack"])["push_records"]
    pushes = records[records["causes"].str.contains("virtual_service")]
    assert len(pushes) > 10
    assert pushes["full"].all()
    # A debounced push may merge edits of several VirtualServices: then it reaches all six.
    assert set(pushes["proxies_pushed"]) == {2, 6}
