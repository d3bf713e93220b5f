"""A run's result: its tables and provenance, saved to a folder atomically and loaded back.

A folder holds every table twice under ``tables/`` (``<name>.parquet``, typed, and
``<name>.csv``), ``provenance.json``, ``scenario.yaml`` (the resolved scenario), and the
design review: ``plots/`` (PNG and SVG), ``report.md`` and a self-contained ``report.html``.
It is written into a hidden temporary folder beside the target and renamed into place, so an
interrupted or failed run never leaves a half-written result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsim.errors import DsimError
from dsim.scenario import Scenario, load_scenario, scenario_to_yaml

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PROVENANCE_FILE = "provenance.json"
SCENARIO_FILE = "scenario.yaml"
TABLES_FOLDER = "tables"


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """What ``dsim run`` produced."""

    scenario: Scenario
    """The resolved scenario."""
    tables: dict[str, pd.DataFrame]
    """Result tables by name (each saved as ``tables/<name>.parquet`` and ``.csv``)."""
    provenance: dict[str, Any]
    """Versions, revision, seed, scenario hash, time (see :mod:`dsim.provenance`)."""

    # The report layer sits above this one: it is imported on use, as xarray's ``.plot`` is, so
    # loading results never imports matplotlib.

    @functools.cached_property
    def figures(self) -> dict[str, Figure]:
        """The review's plots by name (matplotlib Figures), drawn on first use."""
        from dsim.report import figures

        return figures(self.tables)

    def __repr__(self) -> str:
        designs = ", ".join(self.scenario.designs)
        return f"RunResult(scenario={self.scenario.name!r}, designs=[{designs}], tables=[{', '.join(self.tables)}])"

    def _repr_html_(self) -> str:
        from dsim.report import notebook_html

        return notebook_html(self)

    def save(self, folder: str | Path, *, report: bool = True) -> Path:
        """Write the result to ``folder`` (which must not exist yet); return its path.

        ``report``: also the plots and the report (off: tables, provenance and scenario only).
        """
        return write_folder(Path(folder), functools.partial(self._write, report=report))

    def _write(self, folder: Path, *, report: bool) -> None:
        tables = folder / TABLES_FOLDER
        tables.mkdir()
        for name, frame in self.tables.items():
            frame.to_csv(tables / f"{name}.csv", index=False, lineterminator="\n")
            frame.to_parquet(tables / f"{name}.parquet", index=False)
        (folder / PROVENANCE_FILE).write_text(json.dumps(self.provenance, indent=2, sort_keys=True) + "\n")
        (folder / SCENARIO_FILE).write_text(scenario_to_yaml(self.scenario))
        if report:
            from dsim.report import write_report

            write_report(self, folder)


def check_new_folder(folder: Path, *, where: str | None = None) -> None:
    """Refuse an output folder that exists (a result never overwrites or mixes into another)."""
    if folder.exists():
        raise DsimError(f"{where or folder}: already exists; choose another output folder or remove it")


def check_output_folder(folder: Path, *, option: str, new: bool, make_parents: bool = False) -> None:
    """Refuse, before any work, an output folder that dsim could not write into: one that exists
    (when it must be ``new``) or is not a folder, or whose parent is missing (a mistyped path is not
    silently created), not a folder, or not writable.

    ``make_parents``: dsim creates the missing parents (its own default folder, not a path the user
    typed), so the nearest one that exists must be a writable folder.
    """
    where = f"{option} {folder}"
    if new:
        check_new_folder(folder, where=where)
    if folder.exists() and not folder.is_dir():
        raise DsimError(f"{where}: exists and is not a folder")
    writes_into = folder if folder.exists() else folder.parent
    while make_parents and not writes_into.exists() and writes_into != writes_into.parent:
        writes_into = writes_into.parent
    if not writes_into.exists():
        raise DsimError(f"{where}: its parent {writes_into} does not exist; create it first")
    if not writes_into.is_dir():
        raise DsimError(f"{where}: its parent {writes_into} is not a folder")
    if not os.access(writes_into, os.W_OK | os.X_OK):
        raise DsimError(f"{where}: cannot write into {writes_into} (permission denied)")


def _umask() -> int:
    """The process's umask (the only way to read it is to set it, so set it straight back)."""
    old = os.umask(0)
    os.umask(old)
    return old


def write_folder(folder: Path, write: Any) -> Path:
    """Run ``write(tmp)`` on a fresh temporary folder, then rename it to ``folder``."""
    check_new_folder(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent on the way is a file, or not writable
        raise DsimError(f"{folder}: cannot create its parent folder ({e.strerror}: {e.filename})") from None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
        # mkdtemp makes the folder private (0o700) and the rename keeps that: give it the mode any
        # folder the user creates gets, so results are as readable as the rest of their files.
        tmp.chmod(0o777 & ~_umask())
    except OSError as e:  # e.g. a parent that exists but is not writable
        raise DsimError(f"{folder}: cannot create a folder in {folder.parent} ({e.strerror})") from None
    try:
        write(tmp)
        try:
            os.rename(tmp, folder)
        except OSError as e:  # e.g. another process created the folder meanwhile
            raise DsimError(f"{folder}: cannot move the results into place ({e.strerror})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_result(folder: str | Path) -> RunResult:
    """Load a result folder written by :meth:`RunResult.save`."""
    folder = Path(folder)
    if not (folder / PROVENANCE_FILE).is_file():
        raise DsimError(f"{folder}: not a dsim result folder (no {PROVENANCE_FILE})")
    tables = {path.stem: pd.read_parquet(path) for path in sorted((folder / TABLES_FOLDER).glob("*.parquet"))}
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    return RunResult(scenario=load_scenario(folder / SCENARIO_FILE), tables=tables, provenance=provenance)
