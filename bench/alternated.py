"""A change timed against its baseline in the same run, as the change benchmarks do: each side
measured twice, alternately, so that neither pays alone for what the process holds from the other;
wall times the shorter of the two, other figures (the same in every run) the first's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

TIMED = ("build", "accounting")
"""The figures that are wall times."""


def alternated(
    measure: Callable[[dict[str, Any]], dict[str, float]],
    spec: dict[str, Any],
    baseline: Callable[[], AbstractContextManager[None]],
) -> tuple[dict[str, float], dict[str, float]]:
    """``measure(spec)`` with the change and inside ``baseline()``: (with, without)."""
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(2):
        runs[True].append(measure(spec))
        with baseline():
            runs[False].append(measure(spec))
    return _best(runs[True]), _best(runs[False])


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {**runs[0], **{k: min(run[k] for run in runs) for k in TIMED}}


def timing_line(new: dict[str, float], old: dict[str, float], without: str = "without") -> str:
    """Build and accounting wall times, with the change and ``without``, and their ratios."""
    return (
        f"  build {new['build']:.2f} s, {without} {old['build']:.2f} s ({new['build'] / old['build']:.2f}x); "
        f"accounting {new['accounting']:.2f} s, without {old['accounting']:.2f} s "
        f"({new['accounting'] / old['accounting']:.2f}x)"
    )
