"""Arguments are checked before any work: ``dsim run``'s bad ``--designs`` names the flag, its
``--out`` must be a new folder in one that exists; ``dsim validate``'s ``--sample`` is at least 1.
The scenario path given does not exist, so an answer about the flag shows it was checked first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsim.cli import main

DESIGNS = "single-stack, duplicate, additional-addresses, additional-addresses-1.24"


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    before = sorted(tmp_path.rglob("*"))
    assert main(["run", str(tmp_path / "missing.yaml"), *args]) == 2
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("designs", "message"),
    [
        ("nope", f"--designs: unknown design 'nope'; valid designs: {DESIGNS}"),
        ("duplicate,nope", f"--designs: unknown design 'nope'; valid designs: {DESIGNS}"),
        ("", f"--designs: no design named; valid designs: {DESIGNS}"),
        (" , ", f"--designs: no design named; valid designs: {DESIGNS}"),
    ],
)
def test_a_bad_designs_list_names_the_flag(
    designs: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _refused(tmp_path, capsys, "--designs", designs) == f"dsim: error: {message}\n"


def test_an_out_folder_in_a_missing_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "typo" / "run"
    assert _refused(tmp_path, capsys, "--out", str(out)) == (
        f"dsim: error: --out {out}: its parent {tmp_path / 'typo'} does not exist; create it first\n"
    )


def test_an_out_folder_under_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("mine")
    out = tmp_path / "file" / "run"
    assert _refused(tmp_path, capsys, "--out", str(out)) == (
        f"dsim: error: --out {out}: its parent {tmp_path / 'file'} is not a folder\n"
    )


def test_an_out_path_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("mine")
    assert _refused(tmp_path, capsys, "--out", str(tmp_path / "file")) == (
        f"dsim: error: --out {tmp_path / 'file'}: already exists; choose another output folder or remove it\n"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_an_out_folder_in_a_read_only_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert _refused(tmp_path, capsys, "--out", str(locked / "run")) == (
            f"dsim: error: --out {locked / 'run'}: cannot write into {locked} (permission denied)\n"
        )
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("sample", ["0", "-1"])
def test_validate_needs_a_sample_of_at_least_one(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "missing.yaml", "--sample", sample]) == 2
    assert capsys.readouterr().err == f"dsim: error: --sample {sample}: must be at least 1 proxy per design\n"
