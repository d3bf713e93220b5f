"""``dsim calibrate --quick`` end to end on the real Envoy: files, fit, agreement with the shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsim
from dsim.calibration.model import load_calibration
from dsim.calibration.tables import agreement
from dsim.cli import main

pytestmark = pytest.mark.slow


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
