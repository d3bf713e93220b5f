"""The fuzz: mutated shipped scenarios (``tests/scenario_mutations.py``) are accepted, or refused
with dsim's own error in one line, by the loader, the size guard, the cluster builder and the
CLI; never a traceback, never a half-written result.

``DSIM_FUZZ_CASES`` sets the number of cases of the fast path (default 1,000; the CLI takes one
in forty of that); ``DSIM_FUZZ_SEED`` another sequence. ``python bench/fuzz.py`` runs 10,000 and
prints the share handled cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from dsim.cli import main
from dsim.errors import DsimError
from dsim.sizing import Stage, memory_limit
from tests.scenario_mutations import LONG, Case, cases, load_guard_build

# 1,000 fixed cases draw every mutation kind many times over (about a minute on CI); a longer hunt
# sets DSIM_FUZZ_CASES and DSIM_FUZZ_SEED.
CASES = int(os.environ.get("DSIM_FUZZ_CASES", "1000"))
SEED = int(os.environ.get("DSIM_FUZZ_SEED", "2026"))
MESSAGE_LIMIT = 300


def write(folder: Path, case: Case) -> Path:
    path = folder / f"c{case.number}.yaml"
    path.write_bytes(case.text)
    return path


def fast_path(path: Path, stages: tuple[Stage, ...] = ("cluster", "config", "run", "push")) -> str | None:
    """None when dsim accepts the scenario (``stages`` fit, and it builds when small), else dsim's
    error message; anything else escapes."""
    try:
        load_guard_build(path, stages)
    except DsimError as e:
        return str(e)
    return None


def describe_escape(error: BaseException) -> str:
    """What escaped and where it was raised."""
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{error!r} at {where.filename}:{where.lineno}"


def describe(case: Case, error: BaseException) -> str:
    return f"case {case.number} ({case.base}: {'; '.join(case.mutations)}): {describe_escape(error)}"


@pytest.mark.slow
def test_every_mutated_scenario_is_accepted_or_refused_in_one_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("f")
    escaped, unclear, outcomes = [], [], {"accepted": 0, "refused": 0}
    with memory_limit(16 * 2**30, described="--max-memory"):  # the same verdicts on any CI machine
        for case in cases(SEED, CASES):
            path = write(folder, case)
            try:
                message = fast_path(path)
            except Exception as e:  # the point: nothing but DsimError may escape
                escaped.append(describe(case, e))
                continue
            finally:
                path.unlink()
            outcomes["accepted" if message is None else "refused"] += 1
            # The scenario's path is the user's own (and this test's temporary folder, longer under
            # pytest-xdist's workers): the limit is on what dsim adds to it.
            added = len(message.replace(str(path), "<path>")) if message is not None else 0
            if message is not None and ("\n" in message or added > MESSAGE_LIMIT - len("dsim: error: ")):
                unclear.append(f"case {case.number}: {message[:400]!r}")
    assert not escaped, f"{len(escaped)} of {CASES} cases escaped as Python errors:\n" + "\n".join(escaped[:20])
    assert not unclear, f"{len(unclear)} messages are not one short line:\n" + "\n".join(unclear[:20])
    assert outcomes["accepted"] >= CASES // 20, outcomes  # the mutations leave enough valid scenarios to build


def test_the_cli_refuses_in_one_line_and_writes_nothing(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sample through ``dsim.cli.main``: a refused scenario through ``run`` (it must leave no
    folder), an accepted one through ``inspect`` (it builds the cluster, or the guard refuses it)."""
    problems = []
    for case in cases(SEED + 1, max(CASES // 40, 20)):
        folder = tmp_path_factory.mktemp("cli")
        path = write(folder, case)
        # What the commands below check: the same limit on any machine, the stages they run.
        with memory_limit(2 * 2**30):
            refused = fast_path(path, ("cluster", "run")) is not None
        out = folder / "out"
        argv = ["run", str(path), "--out", str(out), "--no-pushsim"] if refused else ["inspect", str(path)]
        code = main([*argv, "--max-memory", "2G"])
        err = capsys.readouterr().err
        lines = err.splitlines()
        if code not in (0, 2) or (code == 2) != bool(err) or (refused and code != 2):
            problems.append(f"case {case.number}: exit {code}, stderr {err[:300]!r}")
        elif code == 2 and (
            len(lines) != 1
            or not err.startswith("dsim: error: ")
            or len(lines[0].replace(str(path), "<path>")) >= MESSAGE_LIMIT
        ):
            problems.append(f"case {case.number}: not one short line: {err[:400]!r}")
        if sorted(p.name for p in folder.iterdir()) != [path.name]:
            problems.append(f"case {case.number}: left {sorted(p.name for p in folder.iterdir())}")
    assert not problems, "\n".join(problems)


# The worst of each kind, written out (not drawn) so the subprocess test always meets them.
WORST = {
    "deep nesting": "synthetic: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "unreadable tag": "seed: !!float x\n",
    "arbitrary object": "seed: !!python/object/apply:os.system ['echo hi']\n",
    "unhashable key": "synthetic: {? [a] : 1}\n",
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)),
    "2 MB name": f"name: {'a' * LONG[-1]}\n",
    "a billion replicas": "namespaces: [{name: a}]\nworkloads: [{name: w, namespace: a, replicas: 1000000000}]\n",
    "int64 overflow": "seed: 99999999999999999999\n",
    "bare control character": "description: a\x07b\n",
}


@pytest.mark.parametrize("text", WORST.values(), ids=WORST.keys())
def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "dsim", "run", str(path), "--out", str(out), "--no-pushsim"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"dsim: error: {path}")
    assert len(done.stderr) < MESSAGE_LIMIT, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]
