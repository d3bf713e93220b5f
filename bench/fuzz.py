"""The fuzz at scale: how many mutated scenarios dsim handles cleanly, and how fast it refuses.

Runs the cases of ``tests/scenario_mutations.py`` (the shipped scenarios with typed mutations)
through what every command does first: load, the size guard at every stage, and for small
scenarios the cluster build. A case is handled cleanly when it is accepted, or refused with
dsim's own error in one line under 300 characters. Prints the share handled cleanly, the cases
that were not (with their numbers, to reproduce one: ``tests.scenario_mutations.case(seed, n)``),
the outcomes per mutation kind, and the time refusals take (the size guard's in particular).

``--sizes`` also runs ``dsim inspect``, ``dsim dump`` and ``dsim run`` (with and without the push
model) on the shipped scenarios in fresh processes and prints the guard's estimate against their
measured peak memory (a few minutes; ``dsim dump`` of fleet-50k.yaml needs ~9 GiB).

Run: ``python bench/fuzz.py [--cases 10000] [--seed 2026] [--sizes]``.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dsim import load_scenario
from dsim.errors import DsimError, TooLargeError
from dsim.sizing import Stage, estimate, format_bytes, memory_limit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the mutations live beside the tests that use them

from tests.scenario_mutations import cases, load_guard_build  # noqa: E402 — found through the line above

LINE_LIMIT = 300 - len("dsim: error: ")


def classify(path: Path) -> tuple[str, float, str]:
    """(outcome, seconds, detail): ``accepted``, ``refused``, ``refused by the size guard``,
    ``unclear message`` or ``escaped``."""
    start = time.perf_counter()
    try:
        load_guard_build(path)
        outcome, detail = "accepted", ""
    except TooLargeError as e:
        outcome, detail = "refused by the size guard", str(e)
    except DsimError as e:
        outcome, detail = "refused", str(e)
    except Exception as e:  # what the fuzz is for: anything but DsimError is a bug
        outcome, detail = "escaped", repr(e)[:200]
    if outcome.startswith("refused") and ("\n" in detail or len(detail) > LINE_LIMIT):
        outcome = "unclear message"
    return outcome, time.perf_counter() - start, detail


def fuzz(seed: int, count: int) -> None:
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    totals: collections.Counter[str] = collections.Counter()
    seconds: dict[str, list[float]] = collections.defaultdict(list)
    bad = []
    started = time.perf_counter()
    with (
        memory_limit(16 * 2**30, described="--max-memory"),
        tempfile.TemporaryDirectory(prefix="dsim-fuzz-") as scratch,
    ):
        for case in cases(seed, count):
            path = Path(scratch) / "case.yaml"
            path.write_bytes(case.text)
            outcome, took, detail = classify(path)
            totals[outcome] += 1
            seconds[outcome].append(took)
            for mutation in case.mutations:
                by_kind[mutation.split(" at ")[0]][outcome] += 1
            if outcome in ("escaped", "unclear message"):
                bad.append(f"  case {case.number} ({case.base}: {'; '.join(case.mutations)}): {detail[:160]}")
    clean = count - totals["escaped"] - totals["unclear message"]
    print(f"{count:,} mutated scenarios (seed {seed}) in {time.perf_counter() - started:.0f} s")
    print(f"handled cleanly: {clean:,} of {count:,} ({clean / count:.2%})")
    for outcome in ("accepted", "refused", "refused by the size guard", "unclear message", "escaped"):
        times = sorted(seconds[outcome]) or [0.0]
        print(
            f"  {outcome:<26} {totals[outcome]:>6,}   median {times[len(times) // 2] * 1000:6.1f} ms   "
            f"slowest {times[-1]:.2f} s"
        )
    if bad:
        print("not handled cleanly:", *bad[:30], sep="\n")
    print(f"\n{'mutation':<26} {'cases':>6} {'accepted':>9} {'refused':>8} {'by guard':>9} {'not clean':>10}")
    for kind, outcomes in sorted(by_kind.items()):
        unclean = outcomes["escaped"] + outcomes["unclear message"]
        print(
            f"{kind:<26} {sum(outcomes.values()):>6,} {outcomes['accepted']:>9,} {outcomes['refused']:>8,} "
            f"{outcomes['refused by the size guard']:>9,} {unclean:>10,}"
        )


# -- the guard's estimates against measured peaks ----------------------------------------------------

COMMANDS: list[tuple[str, Stage, list[str]]] = [
    ("inspect", "cluster", ["inspect"]),
    ("dump", "config", ["dump", "--proxy", "ns-0000/svc-00000"]),
    ("run --no-pushsim", "run", ["run", "--no-pushsim", "--out"]),
    ("run", "push", ["run", "--out"]),
]
SCENARIOS = [
    ROOT / "scenarios" / "quickstart.yaml",
    ROOT / "scenarios" / "large.yaml",
    ROOT / "bench" / "fleet-50k.yaml",
]


def peak_rss(argv: list[str]) -> float:
    """Peak resident bytes of a fresh process running ``argv`` (its own, not its children's)."""
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            said = process.stderr.read().decode()[-500:] if process.stderr else ""
            raise SystemExit(f"{' '.join(argv)} failed: {said}")
    return float(usage.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)


def sizes() -> None:
    python = [sys.executable, "-m", "dsim"]
    base = peak_rss([sys.executable, "-c", "import dsim.cli"])  # what the guard finds the process holding
    print(f"\nsize guard: estimate against measured peak (base: `import dsim.cli` holds {format_bytes(base)})")
    print(f"{'scenario':<14} {'command':<18} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="dsim-sizes-") as scratch:
        for path in SCENARIOS:
            scenario = load_scenario(path)
            for name, stage, args in COMMANDS:
                argv = [*python, *args[:1], str(path), *args[1:]]
                if args[-1] == "--out":
                    argv.append(str(Path(scratch) / f"{path.stem}-{stage}"))
                found = estimate(scenario, stage=stage)
                predicted = found.bytes - found.resident + base
                measured = peak_rss(argv)
                print(
                    f"{path.stem:<14} {name:<18} {format_bytes(predicted):>10} {format_bytes(measured):>10} "
                    f"{predicted / measured:>6.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="mutated scenarios to try (0: none)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sizes", action="store_true", help="also compare the guard's estimates with measured peaks")
    args = parser.parse_args()
    if args.cases:
        fuzz(args.seed, args.cases)
    if args.sizes:
        sizes()


if __name__ == "__main__":
    main()
