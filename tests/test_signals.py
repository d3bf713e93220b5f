"""Ctrl-C (SIGINT), SIGTERM and SIGHUP stop dsim cleanly: one line on stderr, exit code 128 + the
signal's number, and nothing left behind — no results folder or ``.partial`` beside ``--out``, no
temporary file, no Envoy and no Dask worker process.

The slow tests run ``python -m dsim`` as a real process, wait until it is verifiably in a phase
(Dask workers up, a ``.partial`` folder being written, an Envoy validating), then signal it. Every
process dsim starts inherits its environment, so a marker variable finds any that survived.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dsim import api
from dsim.cli import main
from dsim.interrupts import Interrupted, deferred, exit_code, signal_name, stop_cleanly
from tests.conftest import SCENARIOS

MARK = "DSIM_SIGNALS_TEST"
"""Set in the environment of the dsim under test, inherited by everything it starts."""
PATIENCE_S = 300.0  # how long to wait for a phase or an exit before calling it a failure (not a timing claim)


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(10)  # a handler that raises ends this at once


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopping_signal_raises_within_the_block_and_the_handler_is_restored(signum: int) -> None:
    # Whatever pytest was started under (nohup leaves SIGHUP ignored, and an ignored signal stays
    # ignored: the next test), the signal starts with its default disposition here.
    previous = signal.signal(signum, signal.SIG_DFL)
    try:
        with pytest.raises(Interrupted) as raised, stop_cleanly():
            _signal_self(signum)
        assert raised.value.signum == signum
        assert signal.getsignal(signum) == signal.SIG_DFL
    finally:
        signal.signal(signum, previous)


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    try:
        with stop_cleanly():
            os.kill(os.getpid(), signal.SIGHUP)
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_deferred_signal_arrives_when_the_block_ends(signum: int) -> None:
    reached = []

    def held_then_delivered() -> None:
        with deferred():
            os.kill(os.getpid(), signum)
            time.sleep(0.2)  # a handler that raised would end this at once, and skip the next line
            reached.append("end of block")
        reached.append("after the block")

    with pytest.raises(KeyboardInterrupt) as raised, stop_cleanly():
        held_then_delivered()
    assert reached == ["end of block"]
    assert signal_name(raised.value) == signal.Signals(signum).name


def test_exit_codes_follow_the_shell() -> None:
    assert (exit_code(KeyboardInterrupt()), signal_name(KeyboardInterrupt())) == (130, "SIGINT")
    assert (exit_code(Interrupted(signal.SIGTERM)), signal_name(Interrupted(signal.SIGTERM))) == (143, "SIGTERM")


def test_main_turns_ctrl_c_into_one_line_and_code_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGTERM is checked on a dsim process of its own below: here, a regression would end pytest.
    monkeypatch.setattr(api, "build_cluster", lambda *args, **kwargs: _signal_self(signal.SIGINT))
    try:
        returned = main(["inspect", str(SCENARIOS / "quickstart.yaml")])
    except KeyboardInterrupt:
        pytest.fail("main let the interrupt through")
    assert returned == 130
    assert capsys.readouterr().err == "dsim: interrupted by SIGINT\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "the handler is dsim's only while it runs"


def _marked(mark: str) -> dict[int, list[str]]:
    """Live processes (pid → argv) whose environment carries ``mark``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0"):
            found[int(entry.name)] = argv
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class Launched:
    process: subprocess.Popen[bytes]
    mark: str
    folder: Path
    """The working folder: ``--out`` goes here; it holds only the test's files otherwise."""
    tmpdir: Path
    """The process's ``$TMPDIR``."""

    def descendants(self) -> dict[int, list[str]]:
        return {pid: argv for pid, argv in _marked(self.mark).items() if pid != self.process.pid}

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"dsim ended (code {self.process.returncode}) before {what}: {self.stderr()}")
            if time.monotonic() > deadline:
                pytest.fail(f"not {what} after {PATIENCE_S:.0f} s")
            time.sleep(0.005)

    def stderr(self) -> str:
        return (self.folder / "stderr").read_text()


HOLD_AFTER_WRITING = f"""
import time, dsim.results as results
written = results.RunResult._write
def write_then_hold(self, folder, **options):
    written(self, folder, **options)
    (folder / ".held").touch()
    time.sleep({PATIENCE_S})  # the signal ends this; the rename into place never comes
results.RunResult._write = write_then_hold
"""
"""Makes the save phase last: every file is in the ``.partial`` folder, the rename is held back.
Without it, a quick save could finish between the test seeing the folder and signalling."""


@contextlib.contextmanager
def launched(args: list[str], folder: Path, *, before_main: str = "") -> Iterator[Launched]:
    """``python -m dsim ARGS`` in ``folder``; whatever happens, nothing it started outlives the test.

    ``before_main``: Python run in the process before dsim's CLI starts (to hold it in a phase).
    """
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    mark = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(tmpdir), MARK: mark}
    with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
        program = f"{before_main}\nimport sys\nfrom dsim.cli import main\nsys.exit(main(sys.argv[1:]))"
        command = [sys.executable, "-c", program, *args] if before_main else [sys.executable, "-m", "dsim", *args]
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
    try:
        yield Launched(process=process, mark=mark, folder=folder, tmpdir=tmpdir)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in _marked(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _stop_and_check(run: Launched, signum: int) -> None:
    run.process.send_signal(signum)
    code = run.process.wait(timeout=PATIENCE_S)
    # Children of a process that exited (multiprocessing's resource tracker) may take a moment to
    # see it; wait for that, then require that none is left.
    deadline = time.monotonic() + 30
    while run.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {
        "exit code": code,
        "stderr": run.stderr(),
        "beside --out": sorted(p.name for p in run.folder.iterdir()),
        "temporary": sorted(p.name for p in run.tmpdir.iterdir()),
        "processes": sorted(" ".join(argv)[:100] for argv in run.descendants().values()),
    } == {
        "exit code": 128 + signum,
        "stderr": f"dsim: interrupted by {signal.Signals(signum).name}\n",
        "beside --out": ["stderr", "stdout", "tmp"],  # no results folder, no .partial
        "temporary": [],
        "processes": [],
    }


SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])


@pytest.mark.slow
@SIGNALS
def test_a_signal_during_a_run_on_dask_workers_leaves_nothing(signum: int, tmp_path: Path) -> None:
    args = ["run", str(SCENARIOS / "quickstart.yaml"), "--out", "out", "--workers", "2"]
    with launched(args, tmp_path) as run:

        def workers_up() -> bool:
            spawned = [argv for argv in run.descendants().values() if any("spawn_main" in a for a in argv)]
            return len(spawned) >= 2

        run.wait_until(workers_up, "two Dask worker processes run")
        _stop_and_check(run, signum)


@pytest.mark.slow
@SIGNALS
def test_a_signal_while_saving_leaves_no_folder(signum: int, tmp_path: Path) -> None:
    args = ["run", str(SCENARIOS / "quickstart.yaml"), "--out", "out", "--no-pushsim"]
    with launched(args, tmp_path, before_main=HOLD_AFTER_WRITING) as run:
        run.wait_until(lambda: any(tmp_path.glob(".out.*.partial/.held")), "the results are written, not yet in place")
        _stop_and_check(run, signum)


@pytest.mark.slow
@SIGNALS
def test_a_signal_during_validate_stops_envoy_and_removes_its_bootstrap(signum: int, tmp_path: Path) -> None:
    with launched(["validate", str(SCENARIOS / "quickstart.yaml"), "--sample", "50"], tmp_path) as run:

        def envoy_validating() -> bool:
            return any("validate" in argv and Path(argv[0]).name == "envoy" for argv in run.descendants().values())

        run.wait_until(envoy_validating, "an Envoy validates a config")
        _stop_and_check(run, signum)


@pytest.mark.slow
@SIGNALS
def test_a_signal_while_calibrating_stops_the_live_envoy(signum: int, tmp_path: Path) -> None:
    with launched(["calibrate", "--quick", "--out", "out"], tmp_path) as run:

        def envoy_live() -> bool:
            return any(
                Path(argv[0]).name == "envoy" and "--admin-address-path" in argv for argv in run.descendants().values()
            )

        run.wait_until(envoy_live, "an Envoy is being measured")
        _stop_and_check(run, signum)


def _killed_leaves_no_envoy(run: Launched) -> None:
    """SIGKILL gives dsim no chance to stop its Envoy: the kernel must (dsim.tied_process)."""
    run.process.kill()
    run.process.wait(timeout=PATIENCE_S)
    deadline = time.monotonic() + 30
    while _envoys(run) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _envoys(run) == []


def _envoys(run: Launched) -> list[list[str]]:
    return sorted(argv for argv in run.descendants().values() if Path(argv[0]).name == "envoy")


@pytest.mark.slow
def test_dsim_killed_while_calibrating_takes_its_live_envoy_with_it(tmp_path: Path) -> None:
    with launched(["calibrate", "--quick", "--out", "out"], tmp_path) as run:

        def envoy_live() -> bool:
            return any("--admin-address-path" in argv for argv in _envoys(run))

        run.wait_until(envoy_live, "an Envoy is being measured")
        _killed_leaves_no_envoy(run)
