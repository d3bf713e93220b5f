"""A run's result: its tables and provenance, saved to a folder atomically and loaded back.

A folder holds one CSV per table, ``provenance.json`` and ``scenario.yaml`` (the resolved
scenario). It is written into a hidden temporary folder beside the target and renamed into
place, so an interrupted or failed run never leaves a half-written result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from dsim.errors import DsimError
from dsim.scenario import Scenario, load_scenario, scenario_to_yaml

PROVENANCE_FILE = "provenance.json"
SCENARIO_FILE = "scenario.yaml"


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """What ``dsim run`` produced."""

    scenario: Scenario
    """The resolved scenario."""
    tables: dict[str, pd.DataFrame]
    """Result tables by name (each saved as ``<name>.csv``)."""
    provenance: dict[str, Any]
    """Versions, revision, seed, scenario hash, time (see :mod:`dsim.provenance`)."""

    def save(self, folder: str | Path) -> Path:
        """Write the result to ``folder`` (which must not exist yet); return its path."""
        return write_folder(Path(folder), self._write)

    def _write(self, folder: Path) -> None:
        for name, frame in self.tables.items():
            frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
        (folder / PROVENANCE_FILE).write_text(json.dumps(self.provenance, indent=2, sort_keys=True) + "\n")
        (folder / SCENARIO_FILE).write_text(scenario_to_yaml(self.scenario))


def write_folder(folder: Path, write: Any) -> Path:
    """Run ``write(tmp)`` on a fresh temporary folder, then rename it to ``folder``."""
    if folder.exists():
        raise DsimError(f"{folder}: already exists; choose another output folder or remove it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        write(tmp)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_result(folder: str | Path) -> RunResult:
    """Load a result folder written by :meth:`RunResult.save`."""
    folder = Path(folder)
    if not (folder / PROVENANCE_FILE).is_file():
        raise DsimError(f"{folder}: not a dsim result folder (no {PROVENANCE_FILE})")
    tables = {path.stem: pd.read_csv(path) for path in sorted(folder.glob("*.csv"))}
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    return RunResult(scenario=load_scenario(folder / SCENARIO_FILE), tables=tables, provenance=provenance)
