"""Meshes at the edge of what a run compares: without sidecars (refused in one line), with
sidecars but no service (a run), and a tiny workload whose churn overlaps itself (a run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dsim
from dsim.cli import main

ONE_NAMESPACE: dict[str, Any] = {"namespaces": [{"name": "a"}]}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (ONE_NAMESPACE, "has no pods (no workload with replicas, and synthetic.services is 0)"),
        (
            {
                "namespaces": [{"name": "a", "sidecar_injection": False}],
                "services": [{"name": "s", "namespace": "a", "ports": [{"name": "http", "port": 80}]}],
                "workloads": [{"name": "s", "namespace": "a", "replicas": 2}],
            },
            "has 2 pods but none runs an Istio sidecar (sidecar: false, or no sidecar_injection)",
        ),
    ],
    ids=["no pods", "no sidecars"],
)
@pytest.mark.parametrize("pushsim", [False, True], ids=["accounting", "push model"])
def test_a_mesh_without_sidecars_is_refused_in_one_line(
    write_scenario: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    data: dict[str, Any],
    why: str,
    pushsim: bool,
) -> None:
    path = write_scenario(data)
    out = path.parent / "out"
    assert main(["run", str(path), "--out", str(out), *([] if pushsim else ["--no-pushsim"])]) == 2
    assert capsys.readouterr().err == (
        f"dsim: error: {path}: workloads: the cluster {why}, so there is no sidecar config to compare; "
        "give some pods a sidecar\n"
    )
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_sidecars_without_services_run() -> None:
    """Their config is the sidecar's own (inbound, passthrough, the virtual listeners): a baseline."""
    scenario = dsim.scenario_from_dict(
        {
            **ONE_NAMESPACE,
            "workloads": [{"name": "w", "namespace": "a", "replicas": 2}],
            "churn": {"duration_s": 60, "pod_replacements_per_s": 1, "service_creations_per_hour": 60},
        }
    )
    result = dsim.run(scenario, progress=False)
    sizes = result.tables["config_size_totals"]
    assert (sizes.loc[sizes["xds_type"] == "clusters", "bytes_per_proxy"] > 0).all()
    assert len(result.tables["push_summary"]) == len(scenario.designs)


def test_a_rollout_overlapping_pod_replacements_runs() -> None:
    """A rollout wave's pods may be replaced (or scaled away) before the wave is ready: the wave
    then retires only the pods still there (it used to fail removing a pod already gone)."""
    scenario = dsim.scenario_from_dict(
        {
            **ONE_NAMESPACE,
            "services": [{"name": "s", "namespace": "a", "ports": [{"name": "http", "port": 80}]}],
            "workloads": [{"name": "s", "namespace": "a", "replicas": 2}],
            "churn": {
                "duration_s": 120,
                "pod_replacements_per_s": 2,
                "rollouts_per_hour": 3600,
                "scale_events_per_hour": 1800,
                "pod_startup_s": 5,
            },
        }
    )
    tables = dsim.push_simulation(scenario, designs=["additional-addresses"])
    events = tables["churn_events"]
    assert set(events["cause"]) >= {"pod_replacement", "rollout", "scale"}
    gone = events.loc[events["kind"] == "disconnect", "proxy"]
    assert not gone.duplicated().any()  # a sidecar leaves the mesh once, whoever retires it
