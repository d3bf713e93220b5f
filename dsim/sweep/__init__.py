"""``dsim sweep``: many runs of one scenario along axes of its fields, their figures in one tidy
table, and what they say: growth exponents, capacity formulas, crossovers, headroom.

A sweep's folder (``results/sweeps/<name>/`` by default) holds::

    points.parquet, points.csv   one row per point and design: point, key, replicate, seed, the swept
                                 fields, design, status, error, every figure, the mesh's sizes
    tables/                      growth, formulas, crossovers (and headroom, headroom_searches), Parquet and CSV
    plots/                       the growth curves (PNG and SVG)
    report.md, report.html       the sweep report
    sweep.yaml, base-scenario.yaml, provenance.json

Run again into the same folder, a sweep computes only the points whose rows it lacks.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsim.files import write_text_atomically
from dsim.parallel import Compute
from dsim.sweep.execute import PROVENANCE_FILE, Progress, check_sweep_folder, run_points, write_provenance
from dsim.sweep.metrics import COVARIATES, METRICS, point_rows
from dsim.sweep.spec import Sweep, load_sweep, sweep_from_dict

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COVARIATES",
    "METRICS",
    "Progress",
    "Sweep",
    "SweepResult",
    "check_sweep_folder",
    "default_sweep_folder",
    "load_sweep",
    "point_rows",
    "run_sweep",
    "sweep_from_dict",
]

TABLES_FOLDER = "tables"
PLOTS_FOLDER = "plots"


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class SweepResult:
    """What a sweep produced: ``tables["points"]`` (the tidy table) and what the report draws from it."""

    sweep: Sweep
    tables: dict[str, pd.DataFrame]
    provenance: dict[str, Any]
    progress: Progress
    folder: Path

    @functools.cached_property
    def figures(self) -> dict[str, Figure]:
        from dsim.sweep.report import figures_and_captions

        return figures_and_captions(self.tables, self.sweep)[0]


def default_sweep_folder(sweep: Sweep, root: str | Path = "results") -> Path:
    """``<root>/sweeps/<sweep name>``: stable, so running the sweep again resumes it."""
    return Path(root) / "sweeps" / sweep.name


def analyse(table: pd.DataFrame, sweep: Sweep, searches: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The tables the report is written from."""
    from dsim.sweep import analysis

    tables = {"points": table}
    if sweep.headroom is not None:
        assert searches is not None
        tables["headroom_searches"] = searches
        tables["headroom"] = analysis.headroom_summary(searches, sweep)
    else:
        tables["growth"] = analysis.growth(table, sweep)
        tables["formulas"] = analysis.formulas(table, sweep)
        tables["crossovers"] = analysis.crossovers(table, sweep)
    return tables


def _replace_folder(target: Path, write: Any) -> None:
    """Write a folder beside ``target`` and swap it in (the old one removed after)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    try:
        write(tmp)
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_outputs(result: SweepResult, *, report: bool = True) -> None:
    """The derived tables, plots and report, each swapped into place whole."""
    folder = result.folder

    def tables(into: Path) -> None:
        for name, frame in result.tables.items():
            if name == "points":
                continue
            frame.to_parquet(into / f"{name}.parquet", index=False)
            frame.to_csv(into / f"{name}.csv", index=False, lineterminator="\n")

    _replace_folder(folder / TABLES_FOLDER, tables)
    if not report:
        return
    from dsim.report.document import to_html, to_markdown
    from dsim.report.images import save_figures
    from dsim.sweep.report import figures_and_captions, report_blocks

    figures, captions = figures_and_captions(result.tables, result.sweep)
    pngs: dict[str, bytes] = {}
    _replace_folder(folder / PLOTS_FOLDER, lambda into: pngs.update(save_figures(figures, into)))
    blocks = report_blocks(result.tables, result.sweep, result.provenance, pngs, captions)
    for name, text in (
        ("report.md", to_markdown(blocks, plots_folder=PLOTS_FOLDER)),
        ("report.html", to_html(blocks, title=f"dsim sweep: {result.sweep.name}")),
    ):
        write_text_atomically(folder / name, text)


def run_sweep(
    sweep: Sweep | str | Path,
    folder: str | Path | None = None,
    *,
    compute: Compute | None = None,
    progress: bool | None = None,
    retry_failed: bool = False,
    report: bool = True,
) -> SweepResult:
    """Run ``sweep`` (a :class:`Sweep` or a sweep file's path) into ``folder`` (default
    :func:`default_sweep_folder`), computing only the points whose rows the folder lacks, then
    write its tables, plots and report. ``compute``: where the points run (default: this process);
    ``retry_failed``: compute again the points recorded as failed."""
    chosen = sweep if isinstance(sweep, Sweep) else load_sweep(sweep)
    out = Path(folder) if folder is not None else default_sweep_folder(chosen)
    check_sweep_folder(out, option="folder")
    compute = compute or Compute()
    done = Progress()
    try:
        evaluated = run_points(chosen, out, compute=compute, progress=progress, retry_failed=retry_failed, done=done)
    except BaseException:
        if out.is_dir():
            write_provenance(out, chosen, compute, done, finished=False)
        raise
    record = write_provenance(out, chosen, compute, done, finished=True)
    result = SweepResult(
        sweep=chosen,
        tables=analyse(evaluated.table, chosen, evaluated.searches),
        provenance=record,
        progress=done,
        folder=out,
    )
    write_outputs(result, report=report)
    return result


def load_points(folder: str | Path) -> pd.DataFrame:
    """A sweep folder's tidy table."""
    from dsim.errors import DsimError

    path = Path(folder) / "points.parquet"
    if not path.is_file() or not (Path(folder) / PROVENANCE_FILE).is_file():
        raise DsimError(f"{folder}: not a dsim sweep folder (no points.parquet and {PROVENANCE_FILE})")
    return pd.read_parquet(path)
