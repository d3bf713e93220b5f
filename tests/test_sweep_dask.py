"""`dsim sweep` on Dask: a local cluster of two workers, and a scheduler and a worker started as
separate processes on 127.0.0.1, both equal to the points run one by one with `dsim.run`; and a
sweep stopped by SIGTERM mid-way, resumed, computing only the points it lacked."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dsim.parallel import Compute
from dsim.sweep import run_sweep

from .test_sweep import assert_same_as_run, expected_rows, tiny_sweep, write_sweep

DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(
        folder, tiny_sweep(axes={"synthetic.services": [4, 12], "visibility": ["all", "dependencies"]}, replicates=1)
    )
    return path, expected_rows(path)


@pytest.mark.slow
def test_a_local_cluster_of_two_workers_gives_the_points_of_dsim_run(
    small: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, expected = small
    result = run_sweep(path, tmp_path / "out", compute=Compute(workers=2), report=False)
    assert result.progress.computed == 4
    assert result.provenance["computed_on"] == "local dask cluster, 2 worker processes"
    assert_same_as_run(result.tables["points"], expected)


@contextlib.contextmanager
def _scheduler_and_worker(folder: Path) -> Iterator[str]:
    """`dask scheduler` and one `dask worker` as processes of their own on 127.0.0.1 (ports the
    kernel chooses), stopped and waited for whatever happens."""
    env = dict(os.environ, DASK_TEMPORARY_DIRECTORY=str(folder))
    started: list[subprocess.Popen[bytes]] = []
    logs = folder / "logs.txt"
    try:
        with logs.open("wb") as log:
            scheduler_file = folder / "scheduler.json"
            started.append(
                subprocess.Popen(
                    [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(scheduler_file)],
                    stdout=log, stderr=log, env=env, cwd=folder,
                )
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while not scheduler_file.exists():
                assert time.monotonic() < deadline, logs.read_text()
                assert started[0].poll() is None, logs.read_text()
                time.sleep(0.1)
            time.sleep(0.2)  # written, maybe not yet whole
            address = json.loads(scheduler_file.read_text())["address"]
            assert address.startswith("tcp://127.0.0.1:")
            started.append(
                subprocess.Popen(
                    [str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                     "--host", "127.0.0.1", "--local-directory", str(folder / "worker")],
                    stdout=log, stderr=log, env=env, cwd=folder,
                )
            )  # fmt: skip
            yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_a_scheduler_and_a_worker_in_processes_of_their_own_give_the_points_of_dsim_run(
    small: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, expected = small
    with _scheduler_and_worker(tmp_path) as address:
        out = tmp_path / "out"
        done = subprocess.run(
            [sys.executable, "-m", "dsim", "sweep", str(path), "--scheduler", address, "--out", str(out),
             "--no-report"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert f"on dask scheduler {address}" in done.stdout
    assert_same_as_run(pd.read_parquet(out / "points.parquet"), expected)


@pytest.mark.slow
def test_a_sweep_stopped_mid_way_resumes_computing_only_the_missing_points(tmp_path: Path) -> None:
    # 24 points: enough that the first flush (FLUSH_EVERY_S after the start) comes well before the
    # last point, so the signal lands mid-way (16 finished within a second once, under no load).
    path = write_sweep(
        tmp_path, tiny_sweep(axes={"synthetic.services": [40, 60, 80, 100, 120, 140, 160, 180]}, replicates=3)
    )
    out = tmp_path / "out"
    table = out / "points.parquet"
    process = subprocess.Popen(
        [sys.executable, "-m", "dsim", "sweep", str(path), "--workers", "1", "--out", str(out), "--no-report"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not table.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err == "dsim: interrupted by SIGTERM\n"
    stopped = pd.read_parquet(table)
    finished = stopped["point"].nunique()
    assert 0 < finished < 24, "stopped mid-way"
    assert not list(out.glob(".*.tmp")), "no temporary file left"
    resumed = subprocess.run(
        [sys.executable, "-m", "dsim", "sweep", str(path), "--workers", "1", "--out", str(out), "--no-report"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert f"24 points: {24 - finished} computed (0 failed), {finished} already in {out}" in resumed.stdout
    whole = pd.read_parquet(table)
    pd.testing.assert_frame_equal(whole[whole["point"].isin(stopped["point"])].reset_index(drop=True), stopped)
    fresh = run_sweep(path, tmp_path / "fresh", report=False).tables["points"]
    pd.testing.assert_frame_equal(whole, fresh, check_exact=True)
