"""The README stays true: its Python example runs, and CI runs its test command."""

from __future__ import annotations

import re
import shutil
import subprocess
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
    """The line .ci/run extracts from the README (its own awk program, run here) is the README's
    test-command block, verbatim."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert README.count("<!-- test-command -->") == 1
    assert README.count("<!-- main-command -->") == 1
    (extraction,) = re.findall(r"^command=\$\((awk .*? README\.md)\)$", ci, flags=re.M)
    extracted = subprocess.run(["bash", "-c", extraction], cwd=ROOT, capture_output=True, text=True, check=True)
    (block,) = re.findall(r"<!-- test-command -->\n```sh\n(.*?)```", README, flags=re.S)
    assert extracted.stdout == block
    assert "pytest" in block


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


OUTSIDE = re.compile(r"\.\./shared|shared/(reference|seed)\b|/work/shared")
SKIPPED_FOLDERS = {".git", ".venv", "results", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}


def _project_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED_FOLDERS or any(p.endswith(".egg-info") for p in parts) or "__pycache__" in parts:
            continue
        if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".ipynb", ".toml", ".txt", ".json", ""}:
            files.append(path)
    return files


def test_nothing_in_the_repository_points_outside_it() -> None:
    here = Path(__file__).resolve()
    pointing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _project_text_files()
        if path != here
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not pointing, pointing


def test_relative_links_in_the_docs_resolve_inside_the_repository() -> None:
    docs = sorted((ROOT / "docs").glob("*.md"))
    pages = [ROOT / "README.md", *docs, *sorted((ROOT / "tests" / "data").rglob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" in target:
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (page, target)
            assert resolved.exists(), (page, target)


QUOTED_PATH = re.compile(r"`((?:bench|dsim|docs|notebooks|results|scenarios|tests)/[^`\s]*)`")


def _shipped_paths() -> set[str]:
    """Every file a clone holds and every folder above one: git's index where there is one (a file
    .gitignore keeps out of a clone may still sit in a working tree), else the files on disk."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        files = listed.stdout.split()
    else:
        files = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if path.is_file()]
    return {str(folder) for file in files for folder in (Path(file), *Path(file).parents)}


def test_repository_paths_quoted_in_the_docs_are_shipped() -> None:
    """A path the README or a document quotes (`results/calibration/.../README.md`) is in the
    repository; placeholders (`results/<scenario>/`) are not paths."""
    shipped = _shipped_paths()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "results").rglob("*.md"))]
    missing = [
        f"{page.relative_to(ROOT)}: {quoted}"
        for page in pages
        for quoted in QUOTED_PATH.findall(page.read_text())
        if "<" not in quoted and "*" not in quoted and re.split(r"[:(]", quoted)[0].rstrip("/") not in shipped
    ]
    assert not missing, missing


def test_ci_runs_in_a_clone_with_nothing_beside_it() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "git clone" in ci
    assert "mktemp -d" in ci
