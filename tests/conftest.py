"""Shared fixtures: paths to shipped scenarios and a writer for scenario files."""

from __future__ import annotations

import contextlib
import io
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
DATA = Path(__file__).resolve().parent / "data"
"""Reference data the tests compare against, each with its source (``tests/data/README.md``)."""


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background by a non-interactive shell (``... &``) inherits SIGINT
    ignored, and dsim keeps an ignored signal ignored, as ``nohup`` asks. The signal tests play a
    user's Ctrl-C at a terminal: give this process (an xdist worker too) and those it starts
    Python's own SIGINT handler."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write a scenario (a dict, or YAML text) to ``tmp_path/<name>.yaml`` and return its path."""

    def write(content: dict | str, name: str = "scenario") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def two_quickstart_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``dsim run scenarios/quickstart.yaml`` twice, into two folders, and what the first printed
    (one pair of runs shared by the CLI, determinism and report tests: each takes ~15 s)."""
    from dsim.cli import main

    root = tmp_path_factory.mktemp("runs")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(root / "a")]) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(root / "b")]) == 0
    return root / "a", root / "b", printed.getvalue()
