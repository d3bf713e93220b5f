"""``dsim check`` on the command line: the summary, the folder it writes, and bad input in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsim.cli import main


def test_check_writes_its_folder_and_says_how_far_to_trust(
    tmp_path: Path, pristine_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "check"
    assert main(["check", str(pristine_archive), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 resources differ" in printed
    assert "trust: high" in printed
    assert sorted(p.name for p in out.iterdir()) == ["check.csv", "check.md", "differences.csv", "errors.png"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.tar.gz"], "missing.tar.gz"),
        (["ARCHIVE", "--design", "triple-stack"], "--design: unknown design 'triple-stack'"),
        (["ARCHIVE", "--pod-cidrs", "10.0.0.0/33"], "--pod-cidrs: '10.0.0.0/33' is not a CIDR"),
        (["ARCHIVE", "--out", "EXISTING"], "exists"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, pristine_archive: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    replaced = [str(pristine_archive) if a == "ARCHIVE" else str(existing) if a == "EXISTING" else a for a in arguments]
    if replaced[0] == "missing.tar.gz":
        replaced[0] = str(tmp_path / "missing.tar.gz")

    assert main(["check", *replaced]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]
