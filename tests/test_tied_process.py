"""A child started through :func:`dsim.tied_process.tied_to_this_process` dies with its parent,
even when the parent is killed outright (SIGKILL gives it no chance to stop anything)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsim.tied_process import tied_to_this_process

PATIENCE_S = 30.0  # how long a dead parent's child may take to go (not a timing claim)
SLEEP = shutil.which("sleep")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or SLEEP is None, reason="Linux's prctl")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {PATIENCE_S:.0f} s")
        time.sleep(0.02)


def test_the_child_dies_with_a_killed_parent() -> None:
    parent_program = (
        "import subprocess, sys, time\n"
        "from dsim.tied_process import tied_to_this_process\n"
        f"child = subprocess.Popen(tied_to_this_process([{SLEEP!r}, '600']))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_program], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        # Once the launcher has replaced itself with sleep, the signal is set.
        _wait(lambda: Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] == SLEEP.encode(), "sleep runs")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait(lambda: not _alive(child), "the child gone")
    finally:
        parent.kill()
        parent.wait()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_command_keeps_the_launcher_s_process_id() -> None:
    """Stopping the process dsim started stops the command itself."""
    program = "import os; print(os.getpid())"
    with subprocess.Popen(
        tied_to_this_process([sys.executable, "-c", program]), stdout=subprocess.PIPE, text=True
    ) as child:
        printed, _ = child.communicate()
    assert (child.returncode, int(printed)) == (0, child.pid)


def test_a_relative_executable_is_found_from_another_directory(tmp_path: Path) -> None:
    relative = os.path.relpath(sys.executable)
    done = subprocess.run(
        tied_to_this_process([relative, "-c", "print('ran')"]), cwd=tmp_path, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "ran\n")


def test_a_launcher_whose_parent_already_went_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = tied_to_this_process([sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    pid = command.index(str(os.getpid()))
    command[pid] = "1"  # as if the parent had died and the launcher been adopted by init
    done = subprocess.run(command, capture_output=True, check=False)
    assert (done.returncode, marker.exists()) == (1, False)
