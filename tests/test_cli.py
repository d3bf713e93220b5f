"""The CLI, in process: commands, output, exit codes, and nothing half-written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from dsim import design_names
from dsim.cli import main
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


def test_run_writes_a_complete_results_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"results written to {out}" in printed
    assert "Envoy memory per proxy and istiod CPU (model: envoy-1.40.json" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "churn_events.csv",
        "cluster_by_ip_family.csv",
        "cluster_by_namespace.csv",
        "cluster_by_protocol.csv",
        "cluster_totals.csv",
        "config_counts.csv",
        "config_size_totals.csv",
        "config_sizes.csv",
        "provenance.json",
        "proxy_cost_totals.csv",
        "proxy_costs.csv",
        "push_cpu.csv",
        "push_metrics.csv",
        "push_proxies.csv",
        "push_records.csv",
        "push_summary.csv",
        "scenario.yaml",
    ]
    sizes = pd.read_csv(out / "config_sizes.csv")
    assert set(sizes["design"]) == set(design_names())
    assert len(sizes) == 4 * 4 * sizes["proxy"].nunique()  # designs × xDS types × proxies
    provenance = json.loads((out / "provenance.json").read_text())
    for key in ("dsim_version", "git_revision", "seed", "scenario_hash", "packages", "calibration"):
        assert key in provenance
    assert provenance["seed"] == 7
    assert provenance["calibration"].startswith("envoy-1.40.json (Envoy 1.40.0, ")
    costs = pd.read_csv(out / "proxy_costs.csv")
    assert len(costs) == 4 * sizes["proxy"].nunique()
    summary = pd.read_csv(out / "push_summary.csv")
    assert list(summary["design"]) == list(design_names())
    assert "push model: 600 s of churn" in printed
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no temporary folder left behind"


def test_run_twice_gives_identical_tables(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(tmp_path / name)]) == 0
    for csv in sorted((tmp_path / "a").glob("*.csv")):
        assert csv.read_bytes() == (tmp_path / "b" / csv.name).read_bytes(), csv.name


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
            "unknown type 'secrets'; valid types: listeners, clusters, routes, endpoints, all",
        ),
        (
            ["--proxy", "default/sleep", "--design", "triple"],
            "unknown design 'triple'; valid designs: "
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
    assert not list(out.glob("push_*.csv"))
    assert (out / "config_sizes.csv").is_file()
