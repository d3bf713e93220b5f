"""``dsim calibrate``: ``--quick`` on the real Envoy (agreeing with the shipped model), ``--refit``, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsim
from dsim.calibration.model import load_calibration
from dsim.calibration.tables import agreement
from dsim.cli import main


@pytest.mark.slow
def test_quick_calibration_agrees_with_the_shipped_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calibration"
    assert main(["calibrate", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "envoy-1.40-generator-timings.csv",
        "envoy-1.40-measurements.csv",
        "envoy-1.40.json",
    ]
    fitted = load_calibration(out / "envoy-1.40.json")
    assert fitted.provenance["plan"] == "quick"
    compared = agreement(fitted, load_calibration())
    memory = compared[compared["target"] == "allocated_bytes"]
    assert set(memory["design"]) == set(dsim.design_names())
    assert memory["agrees"].all(), memory[~memory["agrees"]].to_string()
    assert f"{len(memory)} of {len(memory)} coefficients with overlapping confidence intervals" in printed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--designs", "triple-stack"], "unknown design 'triple-stack'"),
        (["--profiles", "none"], "unknown stats profile 'none'"),
        (["--concurrency", "0"], "--concurrency 0: Envoy needs at least 1 worker thread"),
    ],
)
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibration"
    assert main(["calibrate", "--quick", "--out", str(out), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsim: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_refit_reproduces_the_shipped_model_from_its_measurements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dsim.calibration.model import shipped_path

    out = tmp_path / "refit"
    assert main(["calibrate", "--refit", str(shipped_path()), "--out", str(out)]) == 0
    refit = load_calibration(out / "envoy-1.40.json")
    shipped = load_calibration()
    assert refit.envoy == shipped.envoy
    assert refit.istiod == shipped.istiod
    assert refit.provenance["created_utc"] == shipped.provenance["created_utc"], "measurement provenance kept"
    printed = capsys.readouterr().out
    assert "54 of 54 coefficients with overlapping confidence intervals" in printed


def test_refit_of_a_missing_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--refit", str(tmp_path / "none.json"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"dsim: error: {tmp_path / 'none.json'}: no such calibration file\n"
    assert not (tmp_path / "out").exists()


def test_an_out_path_that_is_a_file_is_refused_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert main(["calibrate", "--quick", "--out", str(taken)]) == 2
    assert capsys.readouterr().err == f"dsim: error: --out {taken}: exists and is not a folder\n"
    assert taken.read_text() == "mine"
