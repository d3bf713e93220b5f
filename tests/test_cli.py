"""The CLI, in process: commands, output, exit codes, and nothing half-written on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dsim import design_names, load_scenario
from dsim.cli import _print_push_summary, main
from dsim.results import RunResult
from tests.conftest import SCENARIOS


def test_designs_lists_every_design_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["designs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(design_names())
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)


def test_inspect_summarizes_by_namespace_family_and_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(SCENARIOS / "istio-blog-dual-stack.yaml")]) == 0
    out = capsys.readouterr().out
    for heading in ("totals", "by namespace", "by ip family", "by protocol"):
        assert f"\n{heading}\n" in out
    assert "IPv6,IPv4" in out
    assert "dual-stack" in out


TABLES = [
    "calibration_coverage",
    "churn_events",
    "cluster_by_ip_family",
    "cluster_by_namespace",
    "cluster_by_protocol",
    "cluster_totals",
    "config_counts",
    "config_size_totals",
    "config_sizes",
    "design_summary",
    "envoy_memory_by_object",
    "proxy_cost_totals",
    "proxy_costs",
    "push_convergence",
    "push_cpu",
    "push_metrics",
    "push_proxies",
    "push_records",
    "push_summary",
]
PLOTS = ["bytes_per_proxy", "convergence_cdf", "envoy_memory_cdf", "istiod_cpu", "resource_counts"]


def test_run_writes_a_complete_results_folder(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    out, _, printed = two_quickstart_runs
    assert f"results written to {out} (report: {out / 'report.html'})" in printed
    assert "Envoy memory per proxy and istiod CPU (model: envoy-1.40.json" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "plots",
        "provenance.json",
        "report.html",
        "report.md",
        "scenario.yaml",
        "tables",
    ]
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(
        f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet")
    )
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        f"{p}.{ext}" for p in PLOTS for ext in ("png", "svg")
    )
    sizes = pd.read_csv(out / "tables" / "config_sizes.csv")
    assert set(sizes["design"]) == set(design_names())
    assert len(sizes) == 4 * 4 * sizes["proxy"].nunique()  # designs × xDS types × proxies
    assert pd.read_parquet(out / "tables" / "config_sizes.parquet").equals(sizes)
    provenance = json.loads((out / "provenance.json").read_text())
    for key in ("dsim_version", "git_revision", "seed", "scenario_hash", "packages", "calibration"):
        assert key in provenance
    assert provenance["seed"] == 7
    assert provenance["calibration"].startswith("envoy-1.40.json (Envoy 1.40.0, ")
    costs = pd.read_csv(out / "tables" / "proxy_costs.csv")
    assert len(costs) == 4 * sizes["proxy"].nunique()
    summary = pd.read_csv(out / "tables" / "push_summary.csv")
    assert list(summary["design"]) == list(design_names())
    assert "push model: 600 s of churn" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["a", "b"], "no temporary folder left behind"


def test_run_twice_gives_identical_results_but_for_the_time(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    a, b, _ = two_quickstart_runs
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    timestamps = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    for name in files:
        first, second = (a / name).read_bytes(), (b / name).read_bytes()
        if name.name in ("provenance.json", "report.md", "report.html"):  # they say when they were made
            first, second = (timestamps.sub("<time>", f.decode()).encode() for f in (first, second))
        assert first == second, name


def test_run_with_some_designs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out), "--no-pushsim"]
    assert main([*args, "--designs", "duplicate,additional-addresses"]) == 0
    summary = pd.read_csv(out / "tables" / "design_summary.csv")
    assert list(summary["design"].unique()) == ["duplicate", "additional-addresses"]
    assert summary["vs_single_stack"].isna().all()  # the baseline did not run: no ratio to it
    assert (summary.loc[summary["design"] == "additional-addresses", "vs_additional_addresses"] == 1.0).all()
    assert not summary["metric"].str.startswith("convergence").any()  # no push model, no push figures
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [
        "bytes_per_proxy.png",
        "envoy_memory_cdf.png",
        "resource_counts.png",
    ]
    assert yaml.safe_load((out / "scenario.yaml").read_text())["designs"] == ["duplicate", "additional-addresses"]


def test_run_with_an_unknown_design_is_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out), "--designs", "dup"]) == 2
    assert capsys.readouterr().err == (
        "dsim: error: --designs: unknown design 'dup'; valid designs: single-stack, duplicate, additional-addresses, "
        "additional-addresses-1.24\n"
    )
    assert not out.exists()


def test_run_with_no_workers_is_exit_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out), "--workers", "0"]) == 2
    assert capsys.readouterr().err == "dsim: error: --workers: must be at least 1 (got 0)\n"
    assert not out.exists()


def test_run_default_folder_is_under_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml")]) == 0
    (folder,) = (tmp_path / "results" / "istio-blog-dual-stack").iterdir()
    assert (folder / "provenance.json").is_file()


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(
    command: str, write_scenario: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario({"synthetic": {"services": -1}})
    out = tmp_path / "out"
    assert main([command, str(path), *(["--out", str(out)] if command == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert err == f"dsim: error: {path}: synthetic.services: must be >= 0 (got -1)\n"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml"]


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"dsim: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_run_refuses_to_overwrite_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_module_entry_point_and_help() -> None:
    done = subprocess.run([sys.executable, "-m", "dsim", "--help"], capture_output=True, text=True, check=True)
    for command in ("designs", "inspect", "run"):
        assert command in done.stdout


BLOG = SCENARIOS / "istio-blog-dual-stack.yaml"


def test_dump_prints_a_config_dump_in_envoys_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(BLOG), "--proxy", "default/sleep-0", "--design", "duplicate"]) == 0
    dump = json.loads(capsys.readouterr().out)
    assert [c["@type"].rsplit(".", 1)[-1] for c in dump["configs"]] == [
        "ClustersConfigDump",
        "ListenersConfigDump",
        "RoutesConfigDump",
        "EndpointsConfigDump",
    ]
    assert "dynamicActiveClusters" in dump["configs"][0]  # camelCase, as Envoy's admin API prints it


def test_dump_accepts_a_workload_name_for_its_first_pod(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(BLOG), "--proxy", "default/sleep", "--type", "clusters", "--format", "table"]) == 0
    assert "sleep.default.svc.cluster.local" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--proxy", "default/nope"],
            "unknown proxy 'default/nope'; valid proxies: default/sleep-0, "
            "dual-stack/tcp-echo-0, ipv4/tcp-echo-0, ipv6/tcp-echo-0",
        ),
        (
            ["--proxy", "default/sleep", "--type", "secrets"],
            "--type: unknown type 'secrets'; valid types: listeners, clusters, routes, endpoints, all",
        ),
        (
            ["--proxy", "default/sleep", "--design", "triple"],
            "--design: unknown design 'triple'; valid designs: "
            "single-stack, duplicate, additional-addresses, additional-addresses-1.24",
        ),
    ],
)
def test_dump_names_what_exists_when_asked_for_what_does_not(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dump", str(BLOG), *args]) == 2
    assert capsys.readouterr().err == f"dsim: error: {message}\n"


def test_run_without_the_push_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out), "--no-pushsim"]) == 0
    assert not list(out.glob("tables/push_*"))
    assert not list(out.glob("tables/churn_*"))
    assert (out / "tables" / "config_sizes.csv").is_file()
    assert "Under churn" not in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("scenario", "why"),
    [("istio-blog-dual-stack", "the scenario has no churn"), ("quickstart", "its churn drew no events")],
)
def test_a_run_without_churn_events_says_why(scenario: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    """As the report's "churn: none", not "3600 s of churn (0 events)"; a churn whose draw held no
    event is told apart from no churn at all."""
    result = RunResult(
        scenario=load_scenario(SCENARIOS / f"{scenario}.yaml"),
        tables={"churn_events": pd.DataFrame({"time_s": []})},
        provenance={},
    )
    _print_push_summary(result)
    assert capsys.readouterr().out == f"\npush model: {why}, so nothing was pushed\n"


def test_the_cli_does_not_import_matplotlib() -> None:
    """Only the report draws: ``dsim inspect`` or ``dump`` must not pay for loading matplotlib."""
    code = "import sys, dsim.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
