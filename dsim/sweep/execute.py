"""Running a sweep: each point a task (in this process, on a local Dask cluster, or on a running
scheduler, through :func:`dsim.parallel.map_in_order`), its rows streamed into one tidy table,
``points.parquet``, as points finish.

The table is rewritten whole into a temporary file and renamed over the old one, with signals
held while it is written, so an interrupted sweep leaves the table of every point finished before
it, never a corrupt file. Each point's rows are kept under its key (the hash of its resolved
scenario, seed and designs included, the push model switch, the calibration and the metric set):
a sweep run again into the same folder reuses every row it finds there and computes only the
rest. A point that fails is recorded with its error (and kept, unless ``retry_failed``); the
others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsim.errors import DsimError
from dsim.interrupts import deferred
from dsim.parallel import Compute, connected, map_in_order
from dsim.progress import progress_bar
from dsim.scenario import Scenario, scenario_to_yaml
from dsim.sweep.metrics import COVARIATES, METRICS, point_rows
from dsim.sweep.spec import Point, Sweep, Target

POINTS_FILE = "points.parquet"
PROVENANCE_FILE = "provenance.json"
SWEEP_FILE = "sweep.yaml"
BASE_FILE = "base-scenario.yaml"
FLUSH_EVERY_S = 1.0
"""Finished points are written out at most this often (and always at the end, or when stopped)."""
OK, FAILED = "ok", "failed"
_RESULT_COLUMNS = ["design", "status", "error", *METRICS, *COVARIATES]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one point's task returns: its rows, or the error that stopped it."""

    key: str
    rows: pd.DataFrame | None
    error: str = ""


def evaluate(task: tuple[str, Scenario], *, pushsim: bool) -> Outcome:
    """Run one point (``dsim.run`` without progress bars) and keep its rows; an error is
    returned, not raised, so the other points go on."""
    from dsim import api

    key, scenario = task
    try:
        return Outcome(key=key, rows=point_rows(api.run(scenario, pushsim=pushsim, progress=False)))
    except Exception as error:  # any failure of one point is that point's result
        text = " ".join(str(error).split()) or type(error).__name__
        name = "" if isinstance(error, DsimError) else f"{type(error).__name__}: "
        return Outcome(key=key, rows=None, error=name + text)


def _failed_rows(scenario: Scenario, error: str) -> pd.DataFrame:
    rows = pd.DataFrame({"design": list(scenario.designs)})
    for column in [*METRICS, *COVARIATES]:
        rows[column] = np.nan
    rows.insert(1, "status", FAILED)
    rows.insert(2, "error", error)
    return rows[_RESULT_COLUMNS]


def _cell(value: Any) -> Any:
    """An axis value as a table cell: scalars as they are, anything else as JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class Store:
    """The rows of every point computed so far, by key, and the table file they are written to."""

    def __init__(self, folder: Path, *, retry_failed: bool = False) -> None:
        self.folder = folder
        self.path = folder / POINTS_FILE
        self.rows: dict[str, pd.DataFrame] = {}
        self.found = 0
        if self.path.exists():
            try:
                old = pd.read_parquet(self.path)
            except Exception as e:  # a table from elsewhere, or damaged outside dsim: refuse, say why
                raise DsimError(
                    f"{self.path}: cannot be read as a sweep table ({e}); remove it or choose --out"
                ) from None
            if not {"key", *_RESULT_COLUMNS} <= set(old.columns):
                raise DsimError(f"{self.path}: not a table of this dsim's sweep (columns differ); choose another --out")
            for key, rows in old.groupby("key", sort=False):
                if retry_failed and (rows["status"] != OK).any():
                    continue
                self.rows[str(key)] = rows[_RESULT_COLUMNS].reset_index(drop=True)
            self.found = len(self.rows)

    def add(self, outcome: Outcome, scenario: Scenario) -> None:
        if outcome.rows is not None:
            rows = outcome.rows.copy()
            rows.insert(1, "status", OK)
            rows.insert(2, "error", "")
            self.rows[outcome.key] = rows[_RESULT_COLUMNS]
        else:
            self.rows[outcome.key] = _failed_rows(scenario, outcome.error)

    def table(
        self, points: Sequence[Point], axes: Sequence[str], extra: dict[int, dict[str, Any]] | None = None
    ) -> pd.DataFrame:
        """The tidy table of ``points`` computed so far: one row per (point, design), in point
        order; ``axes`` the swept fields' columns; ``extra`` more columns per point index."""
        frames = []
        for point in points:
            rows = self.rows.get(point.key)
            if rows is None:
                continue
            head: dict[str, Any] = {
                "point": point.index,
                "key": point.key,
                "replicate": point.replicate,
                "seed": point.seed,
            }
            head |= {path: _cell(point.values.get(path)) for path in axes}
            head |= (extra or {}).get(point.index, {})
            frame = rows.copy()
            for i, (column, value) in enumerate(head.items()):
                frame.insert(i, column, [value] * len(frame))
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["point", "key", "replicate", "seed", *axes, *_RESULT_COLUMNS])
        table = pd.concat(frames, ignore_index=True)
        for column in ("point", "replicate", "seed"):
            table[column] = table[column].astype(np.int64)
        for column in [*METRICS, *COVARIATES]:
            table[column] = table[column].astype(np.float64)
        return table

    def write(self, table: pd.DataFrame) -> None:
        """Write ``table`` over ``points.parquet`` (and ``points.csv``) by rename, signals held."""
        with deferred():
            for path, writer in (
                (self.path, lambda p: table.to_parquet(p, index=False)),
                (self.path.with_suffix(".csv"), lambda p: table.to_csv(p, index=False, lineterminator="\n")),
            ):
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                try:
                    writer(tmp)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)


@dataclasses.dataclass(kw_only=True)
class Progress:
    """How a sweep invocation went: points computed here, found in the folder, failed."""

    points: int = 0
    computed: int = 0
    reused: int = 0
    failed: int = 0
    wall_s: float = 0.0


def _compute(
    points: Sequence[Point],
    store: Store,
    *,
    pushsim: bool,
    compute: Compute,
    client: Any,
    flush: Callable[[], None],
    bar: Any,
    done: Progress,
) -> None:
    """Compute the points whose key the store lacks (each key once), flushing as they finish."""
    wanted: dict[str, Point] = {}
    for point in points:
        if point.key not in store.rows and point.key not in wanted:
            wanted[point.key] = point
    done.reused += len({p.key for p in points if p.key in store.rows})
    last = [time.monotonic()]

    def finished(task: tuple[str, Scenario], outcome: Outcome) -> None:
        store.add(outcome, task[1])
        done.computed += 1
        done.failed += outcome.rows is None
        bar.update(1)
        if time.monotonic() - last[0] >= FLUSH_EVERY_S:
            flush()
            last[0] = time.monotonic()

    tasks = [(key, point.scenario) for key, point in wanted.items()]
    if tasks:
        map_in_order(evaluate, tasks, compute=compute, shared={"pushsim": pushsim}, on_done=finished, client=client)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with deferred():
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def write_provenance(folder: Path, sweep: Sweep, compute: Compute, done: Progress, *, finished: bool) -> dict[str, Any]:
    from dsim.provenance import provenance

    record = provenance(sweep.base, calibration=sweep.calibration, computed_on=compute.describe())
    record |= {
        "sweep": sweep.name,
        "sweep_file": sweep.source,
        "sweep_hash": sweep.identity(),
        "base_scenario": sweep.base_source,
        "seeds": list(sweep.seeds),
        "push_model": sweep.pushsim,
        "points": done.points,
        "computed_this_time": done.computed,
        "reused_from_folder": done.reused,
        "failed": done.failed,
        "wall_s": round(done.wall_s, 3),
        "finished": finished,
    }
    _write_text(folder / PROVENANCE_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def check_sweep_folder(folder: Path, *, option: str) -> None:
    """Refuse, before any work, a folder that is not a sweep's (or empty) or cannot be written."""
    from dsim.results import check_output_folder

    check_output_folder(folder, option=option, new=False, make_parents=True)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / SWEEP_FILE).exists():
        raise DsimError(f"{option} {folder}: exists and holds no sweep (no {SWEEP_FILE}); choose another folder")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluated:
    """The table of a sweep's points and, for a headroom sweep, each search's outcome."""

    table: pd.DataFrame
    searches: pd.DataFrame | None


def run_points(
    sweep: Sweep,
    folder: Path,
    *,
    compute: Compute,
    progress: bool | None = None,
    retry_failed: bool = False,
    done: Progress | None = None,
) -> Evaluated:
    """Compute every point of ``sweep`` missing from ``folder`` and return the whole table."""
    done = done if done is not None else Progress()
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder, retry_failed=retry_failed)
    sweep_text = Path(sweep.source).read_text(encoding="utf-8") if Path(sweep.source).is_file() else ""
    _write_text(folder / SWEEP_FILE, sweep_text)
    _write_text(folder / BASE_FILE, scenario_to_yaml(sweep.base))
    axes = swept_columns(sweep)
    try:
        # Nothing left to compute (a finished sweep run again): no cluster to start.
        nothing = sweep.headroom is None and {p.key for p in sweep.points} <= set(store.rows)
        with contextlib.nullcontext(None) if nothing else connected(compute) as client:
            if sweep.headroom is None:
                points = list(sweep.points)
                done.points = len(points)

                def flush() -> None:
                    store.write(store.table(points, axes))

                todo = len({p.key for p in points} - set(store.rows))
                with progress_bar(f"sweep {sweep.name}", todo, "points", show=progress) as bar:
                    try:
                        _compute(
                            points,
                            store,
                            pushsim=sweep.pushsim,
                            compute=compute,
                            client=client,
                            flush=flush,
                            bar=bar,
                            done=done,
                        )
                    finally:
                        flush()
                return Evaluated(table=store.table(points, axes), searches=None)
            return _headroom(sweep, store, axes, compute=compute, client=client, progress=progress, done=done)
    finally:
        done.wall_s += time.monotonic() - started


def swept_columns(sweep: Sweep) -> list[str]:
    """The table's columns of swept fields: each axis, then the fields linked to it."""
    if sweep.headroom is not None:
        return [sweep.headroom.axis.path]
    return [p for axis in sweep.axes for p in (axis.path, *(q for q, _ in axis.linked))]


@dataclasses.dataclass(kw_only=True)
class _Search:
    """One bisection: a design and a replicate, its bracket so far."""

    design: str
    replicate: int
    good: float | None = None
    """The value tried last at which every target held."""
    bad: float | None = None
    """The value tried last at which one did not."""
    outcome: str = "searching"
    steps: int = 0


def holds(targets: Sequence[Target], row: pd.Series) -> bool:
    """Whether every target holds on a point's row (a failed point meets none)."""
    return row["status"] == OK and all(t.holds(float(row[t.metric])) for t in targets)


def _headroom(
    sweep: Sweep, store: Store, axes: list[str], *, compute: Compute, client: Any, progress: bool | None, done: Progress
) -> Evaluated:
    h = sweep.headroom
    assert h is not None
    kind = h.axis.kind

    def value(v: float) -> float | int:
        return round(v) if kind == "integer" else float(v)

    points: list[Point] = []
    rounds: dict[int, dict[str, Any]] = {}
    searches = [_Search(design=d, replicate=r) for d in sweep.designs for r in range(len(sweep.seeds))]

    def point_for(search: _Search, at: float, round_: int) -> Point:
        point = sweep.point({h.axis.path: value(at)}, search.replicate, len(points), designs=[search.design])
        points.append(point)
        rounds[point.index] = {"round": round_}
        return point

    def flush() -> None:
        store.write(store.table(points, axes, rounds))

    def row(point: Point, design: str) -> pd.Series:
        rows = store.rows[point.key]
        return rows[rows["design"] == design].iloc[0]

    total = len(searches) * (2 + h.steps)
    with progress_bar(f"headroom {sweep.name}", total, "points", show=progress) as bar:

        def run(points: list[Any]) -> None:
            _compute(
                points, store, pushsim=sweep.pushsim, compute=compute, client=client, flush=flush, bar=bar, done=done
            )

        try:
            first = [(s, point_for(s, h.low, 0), point_for(s, h.high, 0)) for s in searches]
            done.points += 2 * len(searches)
            run([p for _, a, b in first for p in (a, b)])
            for search, low, high in first:
                at_low, at_high = holds(h.targets, row(low, search.design)), holds(h.targets, row(high, search.design))
                if at_low and at_high:
                    search.outcome, search.good = "holds over the whole range", h.high
                elif not at_low and not at_high:
                    search.outcome, search.bad = "fails over the whole range", h.low
                else:
                    search.good, search.bad = (h.low, h.high) if at_low else (h.high, h.low)
            for step in range(1, h.steps + 1):
                active = [s for s in searches if s.outcome == "searching"]
                tried = []
                for s in active:
                    assert s.good is not None
                    assert s.bad is not None
                    middle = h.midpoint(min(s.good, s.bad), max(s.good, s.bad))
                    if h.settled(s.good, s.bad) or middle in (s.good, s.bad):
                        s.outcome = "settled"
                        continue
                    tried.append((s, float(middle), point_for(s, middle, step)))
                if not tried:
                    break
                done.points += len(tried)
                run([p for _, _, p in tried])
                for s, middle, point in tried:
                    s.steps = step
                    if holds(h.targets, row(point, s.design)):
                        s.good = middle
                    else:
                        s.bad = middle
            bar.update(total - bar.n)
        finally:
            flush()
    for s in searches:
        if s.outcome == "searching":
            s.outcome = "settled"
    frame = pd.DataFrame(
        {
            "design": [s.design for s in searches],
            "replicate": np.array([s.replicate for s in searches], dtype=np.int64),
            "seed": np.array([sweep.seeds[s.replicate] for s in searches], dtype=np.int64),
            "outcome": [s.outcome for s in searches],
            "holds_at": np.array([np.nan if s.good is None else s.good for s in searches], dtype=np.float64),
            "fails_at": np.array([np.nan if s.bad is None else s.bad for s in searches], dtype=np.float64),
            "steps": np.array([s.steps for s in searches], dtype=np.int64),
        }
    )
    return Evaluated(table=store.table(points, axes, rounds), searches=frame)


def iter_designs(table: pd.DataFrame, designs: Sequence[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(design, its ok rows)`` in the sweep's design order, for designs with any."""
    ok = table[table["status"] == OK]
    for design in designs:
        rows = ok[ok["design"] == design]
        if len(rows):
            yield design, rows
