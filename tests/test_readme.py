"""The README stays true: its Python example runs, and CI runs its test command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "results" / "my-run" / "provenance.json").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    assert README.count("<!-- test-command -->") == 1
    assert README.count("<!-- main-command -->") == 1


def test_report_excerpt_is_what_dsim_run_writes(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    (excerpt,) = re.findall(r"<!-- report-excerpt -->\n(.*?)<!-- /report-excerpt -->", README, flags=re.S)
    report = (two_quickstart_runs[0] / "report.md").read_text().splitlines()
    lines = [line for line in excerpt.splitlines() if line.strip()]
    assert len(lines) >= 8
    for line in lines:
        assert line in report, line


def test_readme_images_exist_and_decode() -> None:
    from PIL import Image

    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images
    for image in images:
        Image.open(ROOT / image).verify()
