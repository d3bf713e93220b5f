"""Numbers as a reader should see them: significant digits, not fixed decimals (a small value
never reads "0" or "-0.0"), a unit scaled to the values it shows, and "n/a" where a ratio has no
base. Shared by the report and the CLI, so both print a figure alike."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

DIGITS = 3
"""Significant digits shown (an integer part is never rounded away: 1,474.8 reads 1,475)."""
NOT_AVAILABLE = "n/a"
"""What a ratio to zero (or to nothing) reads."""
MINUS = "−"
"""The sign of a negative difference in prose (U+2212, as typeset; tables keep ASCII)."""

# Per unit of a table, the units it may be shown in, smallest first: (shown unit, its size in
# the table's unit). A row is shown in the largest unit its smallest non-zero value reaches.
_SCALES: dict[str, tuple[tuple[str, float], ...]] = {
    "bytes": (("B", 1.0), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9)),
    "bytes/s": (("B/s", 1.0), ("kB/s", 1e3), ("MB/s", 1e6), ("GB/s", 1e9)),
    "MiB": (("KiB", 1 / 1024), ("MiB", 1.0), ("GiB", 1024.0)),
    "GiB": (("KiB", 1 / 2**20), ("MiB", 1 / 1024), ("GiB", 1.0), ("TiB", 1024.0)),
    "s": (("ms", 1e-3), ("s", 1.0)),
    "ms": (("ms", 1.0), ("s", 1e3)),
}


def significant(value: float, digits: int = DIGITS, *, whole: bool = False) -> str:
    """``value`` to ``digits`` significant digits with thousands separators, its integer part
    never rounded away (1,474.8 reads 1,475); ``whole``: an integral value without decimals (for
    counts: 9 listeners, not 9.00). NaN reads "n/a"."""
    if math.isnan(value):
        return NOT_AVAILABLE
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    rounded = float(f"{value:.{digits - 1}e}")  # round first: 9.996 becomes 10.0, not 10.00
    if whole and rounded == round(rounded) and abs(rounded) >= 1:
        return f"{rounded:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def signed(value: float, digits: int = DIGITS) -> str:
    """A difference: "+1.5", "−0.012", "0"."""
    if value == 0 or math.isnan(value):
        return significant(value, digits)
    return ("+" if value > 0 else MINUS) + significant(abs(value), digits)


def ratio(value: float) -> str:
    """A ratio as "1.54×"; "n/a" when it has no base (NaN)."""
    return NOT_AVAILABLE if math.isnan(value) else f"{significant(value)}×"


def percent(share: float) -> str:
    """A share (0.104) as "10.4%", never "0%" unless it is zero."""
    return f"{significant(share * 100)}%"


def scale(unit: str, values: Iterable[float]) -> tuple[str, float]:
    """The unit to show ``values`` (in ``unit``) in, and what to divide them by: the largest
    that keeps the smallest non-zero value at 1 or more (10.5 kB, not 0.0105 MB)."""
    scales = _SCALES.get(unit)
    if scales is None:
        return unit, 1.0
    nonzero = [abs(v) for v in values if v and not math.isnan(v)]
    if not nonzero:
        return next((shown, size) for shown, size in scales if size == 1.0)
    smallest = min(nonzero)
    fitting = [(shown, size) for shown, size in scales if smallest / size >= 1]
    return fitting[-1] if fitting else scales[0]


def quantity(value: float, unit: str, digits: int = DIGITS) -> str:
    """One value with its unit scaled to it: ``quantity(0.0042, "s")`` → "4.2 ms"."""
    shown, size = scale(unit, [value])
    return f"{significant(value / size, digits)} {shown}"


def signed_quantity(value: float, unit: str, digits: int = DIGITS) -> str:
    """A difference with its unit scaled to it: "+97.6 kB", "−3.5 kB"."""
    shown, size = scale(unit, [value])
    return f"{signed(value / size, digits)} {shown}"


def readable(frame: pd.DataFrame, digits: int = DIGITS) -> pd.DataFrame:
    """``frame`` with its float columns as significant-digit text, for printing a table."""
    out = frame.copy()
    for column in out.columns[out.dtypes == "float64"]:
        out[column] = [significant(float(v), digits) for v in out[column]]
    return out
