"""What Sidecar scoping buys (issue 16 item 6): ``what_if.sidecar_scoping`` runs the mesh as given and
with each namespace's minimal Sidecar; the ``scoping_what_if`` table holds the two runs' own figures,
saves something on a sparse call graph and nothing where every namespace calls everything; the
switch is validated; the report's finding carries the table's numbers."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import dsim
from dsim.cli import main
from dsim.report.numbers import percent, scale, significant
from dsim.report.scoping import LEAD, scoping_finding
from dsim.whatif import COLUMNS, SCOPING_TABLE, scoped_scenario

DESIGNS = ["single-stack", "additional-addresses"]
SPARSE: dict[str, Any] = {
    "name": "sparse",
    "seed": 7,
    "designs": DESIGNS,
    "synthetic": {"namespaces": 6, "services": 60, "call_graph": {"model": "barabasi-albert", "m": 1}},
    "churn": {"duration_s": 120, "pod_replacements_per_s": 1.0},
    "what_if": {"sidecar_scoping": True},
}
# Every workload calls every service: each namespace's minimal Sidecar imports the whole mesh.
_SERVICES = [(ns, name) for ns in ("a", "b", "c") for name in ("one", "two")]
DENSE: dict[str, Any] = {
    "name": "dense",
    "seed": 1,
    "designs": DESIGNS,
    "namespaces": [{"name": ns} for ns in ("a", "b", "c")],
    "services": [
        {"name": name, "namespace": ns, "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]}
        for ns, name in _SERVICES
    ],
    "workloads": [
        {"name": name, "namespace": ns, "replicas": 2, "calls": [f"{n}/{s}" for n, s in _SERVICES]}
        for ns, name in _SERVICES
    ],
    "churn": {"duration_s": 300, "pod_replacements_per_s": 0.5},
    "what_if": {"sidecar_scoping": True},
}


def _without_switch(data: dict[str, Any]) -> dict[str, Any]:
    plain = copy.deepcopy(data)
    del plain["what_if"]
    return plain


def _with_generator(data: dict[str, Any]) -> dict[str, Any]:
    """The scenario as a user would write it with each namespace's minimal Sidecar generated."""
    scoped = _without_switch(data)
    scoped["istio_objects"] = {"sidecars": {"per_namespace": True}}
    return scoped


@pytest.fixture(scope="module")
def sparse() -> dsim.RunResult:
    return dsim.run(dsim.scenario_from_dict(SPARSE), progress=False)


@pytest.fixture(scope="module")
def dense() -> dsim.RunResult:
    return dsim.run(dsim.scenario_from_dict(DENSE), progress=False)


def _figures(result: dsim.RunResult) -> pd.DataFrame:
    """A run's own figures per design, read from its tables, in the what-if table's metric names."""
    t = result.tables
    summary = t["design_summary"]
    totals = t["proxy_cost_totals"].set_index("design")
    push = t["push_summary"].set_index("design")
    per_proxy = t["config_sizes"].groupby(["design", "proxy"])["bytes"].sum()
    rows = {}
    for design in DESIGNS:
        sizes = per_proxy.xs(design, level="design").to_numpy(dtype=float)
        config = summary[(summary["metric"] == "config bytes per proxy") & (summary["design"] == design)]
        rows[design] = {
            "config bytes per proxy, mean": sizes.mean(),
            "config bytes per proxy, p99": float(np.quantile(sizes, 0.99)),
            "Envoy memory per proxy, mean": totals.at[design, "envoy_memory_mean_mib"],
            "Envoy memory per proxy, p99": totals.at[design, "envoy_memory_p99_mib"],
            "Envoy memory, fleet": totals.at[design, "envoy_memory_fleet_gib"],
            "istiod CPU per full push": totals.at[design, "istiod_full_push_cpu_s"],
            "bytes pushed per second": push.at[design, "bytes_sent_per_s"],
            "convergence p99": push.at[design, "convergence_p99_s"],
        }
        assert float(config["value"].iloc[0]) == pytest.approx(sizes.mean(), rel=1e-12)
    return pd.DataFrame(rows)


def test_the_switch_is_off_by_default_and_read_from_yaml() -> None:
    assert not dsim.scenario_from_dict(_without_switch(SPARSE)).what_if.sidecar_scoping
    assert dsim.scenario_from_dict(SPARSE).what_if.sidecar_scoping
    assert SCOPING_TABLE not in dsim.run(dsim.scenario_from_dict(_without_switch(DENSE)), progress=False).tables


def test_the_table_holds_two_separate_runs_figures(sparse: dsim.RunResult) -> None:
    table = sparse.tables[SCOPING_TABLE]
    assert list(table.columns) == list(COLUMNS)
    as_given = _figures(dsim.run(dsim.scenario_from_dict(_without_switch(SPARSE)), progress=False))
    with_sidecars = _figures(dsim.run(dsim.scenario_from_dict(_with_generator(SPARSE)), progress=False))
    assert len(table) == as_given.size
    for row in table.itertuples():
        assert row.as_given == pytest.approx(as_given.at[row.metric, row.design], rel=1e-12), row
        assert row.with_sidecars == pytest.approx(with_sidecars.at[row.metric, row.design], rel=1e-12), row
        assert row.saved == pytest.approx(row.as_given - row.with_sidecars, rel=1e-12, abs=1e-12)
        assert row.ratio == pytest.approx(row.with_sidecars / row.as_given, rel=1e-12)
    # The scoped run is the scenario with the generator on, whichever way it is written.
    assert scoped_scenario(dsim.scenario_from_dict(SPARSE)) == dsim.scenario_from_dict(_with_generator(SPARSE))


def test_the_python_api_returns_the_runs_table(sparse: dsim.RunResult) -> None:
    table = dsim.scoping_what_if(dsim.scenario_from_dict(_without_switch(SPARSE)), progress=False)
    pd.testing.assert_frame_equal(table, sparse.tables[SCOPING_TABLE])


def test_a_sparse_call_graph_saves(sparse: dsim.RunResult) -> None:
    table = sparse.tables[SCOPING_TABLE].set_index(["design", "metric"])
    for design in DESIGNS:
        for metric in (
            "config bytes per proxy, mean",
            "config bytes per proxy, p99",
            "Envoy memory per proxy, mean",
            "Envoy memory, fleet",
            "istiod CPU per full push",
            "bytes pushed per second",
        ):
            assert table.at[(design, metric), "saved"] > 0, (design, metric)
            assert 0 < table.at[(design, metric), "ratio"] < 1, (design, metric)
    assert (sparse.tables[SCOPING_TABLE]["proxy_pushes"].dropna() >= 100).all()
    coverage = sparse.provenance["what_if"]["sidecar_scoping"]
    assert coverage["namespaces_given_a_minimal_sidecar"] == 6
    assert coverage["proxies_scoped_by_it"] == len(sparse.tables["proxy_costs"]) // len(DESIGNS)


def test_a_mesh_calling_everything_saves_nothing(dense: dsim.RunResult) -> None:
    table = dense.tables[SCOPING_TABLE]
    assert set(table["metric"]) >= {"bytes pushed per second", "convergence p99"}
    assert (table["saved"] == 0).all(), table[table["saved"] != 0]
    assert (table["ratio"] == 1).all()


def test_the_scenarios_own_sidecars_stay_in_force() -> None:
    """A namespace's own Sidecar keeps its workloads; the others get the minimal one."""
    data = _without_switch(DENSE)
    data["sidecars"] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Sidecar",
            "metadata": {"name": "mine", "namespace": "a"},
            "spec": {"egress": [{"hosts": ["./*"]}]},
        }
    ]
    data["what_if"] = {"sidecar_scoping": True}
    result = dsim.run(dsim.scenario_from_dict(data), pushsim=False, progress=False)
    coverage = result.provenance["what_if"]["sidecar_scoping"]
    assert coverage == {
        "namespaces_given_a_minimal_sidecar": 2,
        "proxies_scoped_by_it": 8,
        "proxies_keeping_their_own_sidecar": 4,
    }
    table = result.tables[SCOPING_TABLE]
    assert "convergence p99" not in set(table["metric"])  # no push model, no push figures
    # Namespace a already sees only itself; b and c lose nothing (they call everything): scoping adds
    # nothing, and the finding says so rather than claiming a saving.
    assert (table["saved"] == 0).all()
    finding = scoping_finding(result.tables, DESIGNS)
    assert finding is not None
    assert " cut " not in finding
    assert "the same" in finding


def test_a_bad_switch_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_scenario: Any
) -> None:
    path = write_scenario({"synthetic": {"services": 2}, "what_if": {"sidecar_scoping": "maybe"}})
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"dsim: error: {path}: what_if.sidecar_scoping: expected true or false (got 'maybe')\n"
    assert not out.exists()


def _span(before: float, after: float, unit: str) -> str:
    shown, size = scale(unit, [before, after])
    return f"{significant(before / size)} to {significant(after / size)} {shown}"


def test_dsim_run_writes_the_table_and_the_finding(tmp_path: Path) -> None:
    scenario = tmp_path / "sparse.yaml"
    scenario.write_text(yaml.safe_dump(SPARSE))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    table = pd.read_parquet(out / "tables" / f"{SCOPING_TABLE}.parquet")
    assert (out / "tables" / f"{SCOPING_TABLE}.csv").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / f"{SCOPING_TABLE}.csv"), table, check_dtype=False)
    report = (out / "report.md").read_text()
    (line,) = [line for line in report.splitlines() if LEAD in line]
    rows = table[table["design"] == "single-stack"].set_index("metric")

    def shown(metric: str, unit: str) -> str:
        a, b = float(rows.at[metric, "as_given"]), float(rows.at[metric, "with_sidecars"])
        return f"by {percent((a - b) / a)} ({_span(a, b, unit)}"

    assert (
        "would, under `single-stack`, cut config per sidecar " + shown("config bytes per proxy, mean", "bytes") in line
    )
    for metric, unit in (
        ("Envoy memory per proxy, mean", "MiB"),
        ("istiod CPU per full push", "s"),
        ("bytes pushed per second", "bytes/s"),
    ):
        assert shown(metric, unit) in line, metric
    fleet = rows.loc["Envoy memory, fleet"]
    assert f"{_span(fleet['as_given'], fleet['with_sidecars'], 'GiB')} over the fleet" in line
    p99 = rows.loc["config bytes per proxy, p99"]
    assert f"{_span(p99['as_given'], p99['with_sidecars'], 'bytes')} p99" in line
    assert "convergence p99" in line
    other = table[(table["design"] == "additional-addresses") & (table["metric"] == "Envoy memory per proxy, mean")]
    share = float(other["saved"].iloc[0] / other["as_given"].iloc[0])
    assert f"`additional-addresses` {percent(share)}" in line
    assert "Sidecar scoping what-if" in report  # the method says how the second run was made
    section = report.split("## Where Envoy's memory sits\n", 1)[1].split("\n## ", 1)[0]
    for label in ("route configurations", "routes", "clusters", "endpoints (LbEndpoints)"):
        assert f"| {label} |" in section


def test_push_figures_need_enough_pushes() -> None:
    data = copy.deepcopy(DENSE)  # 12 sidecars: a few pod replacements reach a few dozen of them
    data["churn"] = {"duration_s": 20, "pod_replacements_per_s": 0.2}
    result = dsim.run(dsim.scenario_from_dict(data), progress=False)
    table = result.tables[SCOPING_TABLE]
    pushes = int(table["proxy_pushes"].dropna().min())
    assert 0 < pushes < 100
    finding = scoping_finding(result.tables, DESIGNS)
    assert finding is not None
    assert "push traffic under churn" not in finding
    assert f"they rest on as few as {pushes:,} proxy push" in finding


def test_scoped_scenario_keeps_the_generators_settings() -> None:
    data = _without_switch(SPARSE)
    data["istio_objects"] = {"sidecars": {"extra_hosts": ["istio-system/*", "ops/*"]}}
    scoped = scoped_scenario(dsim.scenario_from_dict(data))
    assert scoped.istio_objects.sidecars.per_namespace
    assert scoped.istio_objects.sidecars.extra_hosts == ("istio-system/*", "ops/*")
    assert scoped == dataclasses.replace(scoped, what_if=dsim.scenario_from_dict(data).what_if)
