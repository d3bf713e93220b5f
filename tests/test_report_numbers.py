"""Numbers read right: significant digits (a non-zero value never reads 0 or -0.0), units scaled
to the values, "n/a" for a ratio without a base, and tables printed the same way."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dsim.report.numbers import (
    NOT_AVAILABLE,
    percent,
    quantity,
    ratio,
    readable,
    scale,
    signed,
    signed_quantity,
    significant,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (0.004, "0.00400"),
        (0.0042, "0.00420"),
        (0.04351, "0.0435"),
        (12.8, "12.8"),
        (13.0, "13.0"),
        (952.5, "952"),
        (1474.8, "1,475"),  # the integer part is never rounded away
        (123456.7, "123,457"),
        (9.996, "10.0"),  # rounded first, then given its decimals
        (-0.00001, "-0.0000100"),
        (math.nan, NOT_AVAILABLE),
    ],
)
def test_significant_digits(value: float, text: str) -> None:
    assert significant(value) == text


def test_integral_counts_read_without_decimals_only_when_asked() -> None:
    assert significant(9.0, whole=True) == "9"
    assert significant(12.8, whole=True) == "12.8"
    assert significant(9.0) == "9.00"


@pytest.mark.parametrize("value", np.concatenate([np.logspace(-12, 12, 97), -np.logspace(-12, 12, 97)]))
def test_a_value_that_is_not_zero_never_reads_zero(value: float) -> None:
    text = significant(value)
    assert text.strip("-0.,") != "", text
    assert float(text.replace(",", "")) == pytest.approx(value, rel=5e-3)
    assert signed(value)[0] in "+−"
    assert percent(value) not in ("0%", "-0%")


def test_differences_and_shares_in_words() -> None:
    assert signed(0.0) == "0"
    assert signed(-0.0001) == "−0.000100"
    assert signed(3.46) == "+3.46"
    assert percent(0.104) == "10.4%"
    assert percent(0.00006) == "0.00600%"
    assert percent(0.0) == "0%"
    assert ratio(1.0) == "1.00×"
    assert ratio(0.00123) == "0.00123×"
    assert ratio(math.nan) == "n/a"


def test_units_are_scaled_to_the_values_shown() -> None:
    assert scale("bytes", [85_000.0, 108_000.0]) == ("kB", 1e3)
    assert scale("bytes", [567.0, 600.0]) == ("B", 1.0)
    assert scale("GiB", [0.0309]) == ("MiB", 1 / 1024)
    assert scale("s", [0.0043, 0.0048]) == ("ms", 1e-3)
    assert scale("s", [0.0, 0.0]) == ("s", 1.0)  # all zero: the table's own unit
    assert scale("resources", [9.0]) == ("resources", 1.0)
    assert quantity(0.0042, "s") == "4.20 ms"
    assert quantity(1_474_800.0, "bytes") == "1.47 MB"
    assert signed_quantity(-3_500.0, "bytes") == "−3.50 kB"
    assert signed_quantity(-0.0000584, "GiB") == "−61.2 KiB"


def test_printed_tables_keep_small_values() -> None:
    frame = pd.DataFrame({"design": ["a", "b"], "fleet GiB": [0.0309, 28.09], "proxies": [4, 673]})
    shown = readable(frame)
    assert list(shown["fleet GiB"]) == ["0.0309", "28.1"]
    assert list(shown["proxies"]) == [4, 673]  # integers stay integers
