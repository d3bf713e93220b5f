"""Arguments are checked before any work: ``dsim run``'s bad ``--designs`` names the flag, its
``--out`` must be a new folder in one that exists (and its default folder one it can create);
``dsim validate``'s ``--sample`` is at least 1; every count, port and design name says which flag
is wrong. The scenario path given does not exist, so an answer about the flag shows it was
checked first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsim import api
from dsim.cli import main
from tests.conftest import SCENARIOS

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


def test_the_default_folder_is_checked_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "run", _no_run)
    (tmp_path / "results").write_text("not a folder")
    assert main(["run", str(SCENARIOS / "quickstart.yaml")]) == 2
    assert capsys.readouterr().err == (
        "dsim: error: default output folder results/quickstart: its parent results is not a folder; "
        "choose another folder with --out\n"
    )


def test_an_unwritable_default_folder_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "run", _no_run)
    (tmp_path / "results").mkdir()
    # As a user without write permission there (os.access answers yes to root for any folder).
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != Path("results"))
    assert main(["run", str(SCENARIOS / "quickstart.yaml")]) == 2
    assert capsys.readouterr().err == (
        "dsim: error: default output folder results/quickstart: cannot write into results (permission denied); "
        "choose another folder with --out\n"
    )


def _no_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the run started before its output folder was checked")


def test_run_workers_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _refused(tmp_path, capsys, "--workers", "0") == "dsim: error: --workers: must be at least 1 (got 0)\n"


@pytest.mark.parametrize("command", ["dump", "validate"])
def test_an_unknown_design_names_the_flag(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    proxy = ["--proxy", "ns/pod"] if command == "dump" else []
    assert main([command, "missing.yaml", *proxy, "--design", "nope"]) == 2
    assert capsys.readouterr().err == f"dsim: error: --design: unknown design 'nope'; valid designs: {DESIGNS}\n"


@pytest.mark.parametrize("port", ["-5", "0", "65536", "9" * 400])
def test_dump_port_is_a_port_number(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", "missing.yaml", "--proxy", "ns/pod", "--port", port]) == 2
    assert capsys.readouterr().err == f"dsim: error: --port: must be a port number from 1 to 65535 (got {port})\n"


@pytest.mark.parametrize("concurrency", ["0", "-2"])
def test_calibrate_concurrency_is_at_least_one(
    concurrency: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--out", str(tmp_path), "--concurrency", concurrency]) == 2
    assert capsys.readouterr().err == f"dsim: error: --concurrency: must be at least 1 (got {concurrency})\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--quick"], "--quick"),
        (["--designs", "duplicate"], "--designs"),
        (["--profiles", "istio"], "--profiles"),
        (["--concurrency", "4"], "--concurrency"),
        (["--quick", "--concurrency", "2"], "--quick, --concurrency"),
    ],
)
def test_calibrate_refit_refuses_the_options_it_would_ignore(
    extra: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--refit", str(tmp_path / "envoy.json"), "--out", str(tmp_path), *extra]) == 2
    assert capsys.readouterr().err == (
        f"dsim: error: --refit: cannot be combined with {named} "
        "(a refit runs no Envoy; it fits again the measurements already taken)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_dump_type_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--proxy", "default/sleep", "--type", "x"]) == 2
    assert capsys.readouterr().err.startswith("dsim: error: --type: unknown type 'x'")


def test_a_closed_pipe_ends_quietly() -> None:
    """``dsim inspect … | head -1``: the reader leaves early; no traceback, the shell's SIGPIPE code."""
    command = f"{sys.executable} -m dsim inspect {SCENARIOS / 'quickstart.yaml'} | head -1"
    done = subprocess.run(["bash", "-c", f"{command}; exit ${{PIPESTATUS[0]}}"], capture_output=True, text=True)
    assert done.returncode == 141
    assert done.stdout.startswith("scenario quickstart")
    assert done.stderr == ""
