"""`dsim sweep` in this process: sweep files refused in one line, points equal to `dsim.run` one by
one, a failing point recorded while the others go on, a re-run computing nothing, determinism, and
the fits recovering known coefficients."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import dsim
from dsim.cli import main
from dsim.sizing.machine import resident_memory
from dsim.sweep import METRICS, load_sweep, point_rows, run_sweep
from dsim.sweep.analysis import crossovers, formulas, growth
from dsim.sweep.report import verdict

from .conftest import ROOT

BASE = {
    "seed": 3,
    "synthetic": {"services": 8, "namespaces": 2, "replicas": {"distribution": "fixed", "mean": 1}},
}


def write_sweep(folder: Path, content: dict | str, name: str = "sweep") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def tiny_sweep(**changes: object) -> dict:
    sweep = {
        "name": "tiny",
        "base": BASE,
        "axes": {"synthetic.services": [4, 12]},
        "replicates": 2,
        "designs": ["single-stack", "duplicate"],
        "pushsim": False,
    }
    return sweep | changes


def expected_rows(sweep_file: Path) -> pd.DataFrame:
    """Each point of the sweep run on its own with `dsim.run`, in point order."""
    frames = []
    for point in load_sweep(sweep_file).points:
        rows = point_rows(dsim.run(point.scenario, pushsim=False, progress=False))
        frames.append(rows.assign(point=point.index))
    return pd.concat(frames, ignore_index=True)


def assert_same_as_run(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    columns = ["point", "design", *METRICS, "services", "pods", "clusters_per_proxy"]
    pd.testing.assert_frame_equal(
        table[columns].reset_index(drop=True), expected[columns].reset_index(drop=True), check_exact=True
    )


def test_a_sweep_in_process_equals_its_points_run_one_by_one_and_a_rerun_computes_nothing(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, tiny_sweep())
    first = run_sweep(path, tmp_path / "out", report=True)
    table = first.tables["points"]
    assert (first.progress.points, first.progress.computed, first.progress.reused) == (4, 4, 0)
    assert list(table["synthetic.services"]) == [4, 4, 4, 4, 12, 12, 12, 12]
    assert list(table["seed"]) == [3, 3, 4, 4, 3, 3, 4, 4]
    assert (table["status"] == "ok").all()
    assert_same_as_run(table, expected_rows(path))
    again = run_sweep(path, tmp_path / "out", report=False)
    assert (again.progress.computed, again.progress.reused) == (0, 4)
    pd.testing.assert_frame_equal(again.tables["points"], table, check_exact=True)
    for name in ("report.md", "report.html", "points.parquet", "points.csv", "provenance.json", "tables/formulas.csv"):
        assert (tmp_path / "out" / name).is_file(), name
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith("# dsim sweep: tiny\n\n")
    assert "## Capacity formulas" in report
    assert "## Growth" in report


def test_the_same_sweep_file_gives_the_same_table(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, tiny_sweep(axes={"synthetic.services": {"min": 3, "max": 30, "scale": "log"}},
                                            sample={"random": 3, "seed": 9}, replicates=1))  # fmt: skip
    a = run_sweep(path, tmp_path / "a", report=False).tables["points"]
    b = run_sweep(path, tmp_path / "b", report=False).tables["points"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["synthetic.services"].between(3, 30).all()
    assert a["synthetic.services"].dtype == np.int64


def test_a_failing_point_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, tiny_sweep(axes={"synthetic.sidecar_injection": [1, 0, 1.0]}, replicates=1))
    result = run_sweep(path, tmp_path / "out", report=True)
    table = result.tables["points"]
    by_point = table.groupby("point")["status"].first()
    assert list(by_point) == ["ok", "failed", "ok"]
    failed = table[table["status"] == "failed"]
    assert failed["error"].str.contains("none runs an Istio sidecar").all()
    assert failed["envoy_memory_mean_mib"].isna().all()
    assert result.progress.failed == 1
    assert "1 of 3 points failed" in (tmp_path / "out" / "report.md").read_text()
    again = run_sweep(path, tmp_path / "out", report=False)
    assert again.progress.computed == 0, "a recorded failure is kept unless retried"
    retried = run_sweep(path, tmp_path / "out", report=False, retry_failed=True)
    assert retried.progress.computed == 1


def test_sidecar_scoping_is_an_axis(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, tiny_sweep(axes={"visibility": ["all", "dependencies"]}, replicates=1))
    table = run_sweep(path, tmp_path / "out", report=False).tables["points"]
    per_proxy = table.set_index(["visibility", "design"])["config_bytes_per_proxy"]
    assert (per_proxy.loc["dependencies"] < per_proxy.loc["all"]).all()


def test_real_sidecars_on_and_off_are_an_axis_and_the_verdict_compares_them(tmp_path: Path) -> None:
    # A Sidecar per namespace from the call graph, switched on and off: no numeric axis to grow
    # along, so the verdict says what each value gives.
    axes = {"istio_objects.sidecars.per_namespace": [False, True]}
    path = write_sweep(tmp_path, tiny_sweep(axes=axes, replicates=1, set={"synthetic.services": 30}))
    result = run_sweep(path, tmp_path / "out", report=False)
    memory = result.tables["points"].set_index(["istio_objects.sidecars.per_namespace", "design"])
    assert (memory.loc[True, "envoy_memory_mean_mib"] < memory.loc[False, "envoy_memory_mean_mib"]).all()
    (sentence,) = verdict(result.tables, result.sweep)
    assert sentence.startswith("Envoy memory per proxy, mean by istio_objects.sidecars.per_namespace: `single-stack`")
    assert "× the first" in sentence


BAD = [
    (tiny_sweep(axes={"synthetic.servicez": [1]}), "sweep.yaml: axes.synthetic.servicez: synthetic has no field 'servicez'"),  # noqa: E501
    (tiny_sweep(axes={"synthetic.services": [10, -1]}), "sweep.yaml: axes.synthetic.services[1]: must be >= 0 (got -1)"),  # noqa: E501
    (tiny_sweep(axes={"visibility": ["all", "nah"]}), "sweep.yaml: axes.visibility[1]: 'nah' is not one of all"),
    (tiny_sweep(axes={"seed": [1, 2]}), "sweep.yaml: axes.seed: seed cannot be an axis"),
    (tiny_sweep(axes={"synthetic": [1]}), "sweep.yaml: axes.synthetic: synthetic is a section"),
    (tiny_sweep(axes={"synthetic.services.x": [1]}), "sweep.yaml: axes.synthetic.services.x: synthetic.services is a value"),  # noqa: E501
    (tiny_sweep(axes={"synthetic.services": {"min": 1}}), "sweep.yaml: axes.synthetic.services.max: missing"),
    (tiny_sweep(axes={"synthetic.services": {"min": 1, "max": 9}}), "sweep.yaml: axes.synthetic.services: a range in a grid needs steps"),  # noqa: E501
    (tiny_sweep(axes={"synthetic.replicas.min": [1, 5], "synthetic.replicas.max": [3, 10]}),
     "sweep.yaml: point 4 (synthetic.replicas.min=5, synthetic.replicas.max=3, seed 3): synthetic.replicas.min: must be <= "),  # noqa: E501
    (tiny_sweep(designs=["nope"]), "sweep.yaml: designs[0]: unknown design 'nope'"),
    (tiny_sweep(replicatez=2), "sweep.yaml: replicatez: unknown key; did you mean 'replicates'?"),
    (tiny_sweep(base="missing.yaml"), "sweep.yaml: base: 'missing.yaml': no such file"),
    (tiny_sweep(axes={}, headroom={"axis": "churn.pod_replacements_per_s", "range": [1, 8], "targets": ["convergence_p99_s < 1"]}),  # noqa: E501
     "sweep.yaml: headroom.targets[0]: convergence_p99_s comes from the push model: set pushsim: true"),
    (tiny_sweep(axes={}, headroom={"axis": "visibility", "range": [1, 8], "targets": ["envoy_memory_p99_mib < 1"]}),
     "sweep.yaml: headroom.axis: visibility holds a choice"),
    (tiny_sweep(axes={}, headroom={"axis": "synthetic.services", "range": [1, 8], "targets": ["memory < 1"]}),
     "sweep.yaml: headroom.targets[0]: unknown metric 'memory'"),
    ("base: {seed: 1}\naxes: {synthetic.services: [1, 2]\n", "sweep.yaml:3:1: invalid YAML"),
    ("- a list\n", "sweep.yaml: expected a mapping of sweep settings"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD)
def test_a_bad_sweep_file_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: dict | str, message: str
) -> None:
    path = write_sweep(tmp_path, content)
    assert main(["sweep", str(path), "--workers", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith(f"dsim: error: {tmp_path}/"), err
    assert message in err, err
    assert not (tmp_path / "out").exists(), "nothing is written for a refused sweep"


def test_a_point_too_large_for_the_memory_limit_fails_fast_naming_its_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_sweep(
        tmp_path,
        tiny_sweep(axes={"synthetic.services": [10, 60_000], "synthetic.replicas.mean": [1, 50]}, replicates=1),
    )
    # The guard counts what this process already holds (a long test session holds a lot): the
    # limit leaves the small points room and the 3-million-pod one none.
    limit = f"{int(resident_memory() // 2**20) + 3 * 1024}M"
    assert main(["sweep", str(path), "--max-memory", limit, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        "point 3 (synthetic.services=60000, synthetic.replicas.mean=50, seed 3): synthetic.services: needs about" in err
    )


def test_formulas_recover_known_coefficients() -> None:
    rng = np.random.default_rng(1)
    n = 60
    services = rng.integers(100, 10_000, n).astype(float)
    pods = services * rng.uniform(1, 4, n)
    frames = []
    for design, (a, b, c) in {"single-stack": (20.0, 0.004, 0.001), "duplicate": (22.0, 0.007, 0.0015)}.items():
        frame = pd.DataFrame({"design": design, "status": "ok", "services": services, "pods": pods})
        frame["envoy_memory_mean_mib"] = a + b * services + c * pods + rng.normal(0, 0.05, n)
        for metric in METRICS:
            frame[metric] = frame.get(metric, np.nan)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    sweep = dataclasses.replace(
        load_sweep(ROOT / "scenarios/sweeps/mesh-size.yaml"), designs=("single-stack", "duplicate")
    )
    fitted = formulas(table, sweep)
    for design, truth in {"single-stack": (20.0, 0.004, 0.001), "duplicate": (22.0, 0.007, 0.0015)}.items():
        mine = fitted[(fitted["design"] == design) & (fitted["metric"] == "envoy_memory_mean_mib")].set_index("term")
        assert list(mine.index) == ["intercept", "services", "pods"]
        for term, value in zip(mine.index, truth, strict=True):
            assert mine.loc[term, "ci_low"] <= value <= mine.loc[term, "ci_high"], (design, term)
            assert mine.loc[term, "estimate"] == pytest.approx(value, rel=0.05)


def test_growth_exponents_and_crossovers_are_recovered() -> None:
    x = np.repeat([100.0, 300.0, 1000.0, 3000.0, 10_000.0], 3)
    noise = np.random.default_rng(2).normal(0, 0.01, len(x))
    rows = []
    for design, (scale, power) in {"single-stack": (2.0, 0.5), "duplicate": (0.1, 1.0)}.items():
        y = scale * x**power * np.exp(noise)
        rows.append(
            pd.DataFrame({"design": design, "status": "ok", "synthetic.services": x, "config_bytes_per_proxy": y})
        )
    table = pd.concat(rows, ignore_index=True)
    for metric in METRICS:
        table[metric] = table.get(metric, np.nan)
    sweep = dataclasses.replace(
        load_sweep(ROOT / "scenarios/sweeps/mesh-size.yaml"),
        designs=("single-stack", "duplicate"),
        axes=(dataclasses.replace(load_sweep(ROOT / "scenarios/sweeps/mesh-size.yaml").axes[0]),),
        sampling="grid",
    )
    fitted = growth(table, sweep).set_index(["metric", "design"])
    for design, power in {"single-stack": 0.5, "duplicate": 1.0}.items():
        row = fitted.loc[("config_bytes_per_proxy", design)]
        assert row["form"] == "power"
        assert row["ci_low"] <= power <= row["ci_high"]
        assert row["estimate"] == pytest.approx(power, abs=0.02)
    crossed = crossovers(table, sweep)
    crossed = crossed[crossed["metric"] == "config_bytes_per_proxy"]
    assert len(crossed) == 1  # 2·√x = 0.1·x at x = 400, between the swept 300 and 1,000
    row = crossed.iloc[0]
    assert (row["design"], row["overtakes"]) == ("duplicate", "single-stack")
    assert (row["between_low"], row["between_high"]) == (300, 1000)
    assert 300 < row["at"] < 1000


def test_the_shipped_sweeps_load() -> None:
    for name in ("mesh-size", "dual-stack-share", "churn", "headroom"):
        sweep = load_sweep(ROOT / "scenarios" / "sweeps" / f"{name}.yaml")
        assert sweep.name == name
        assert len(sweep.points) or sweep.headroom is not None
