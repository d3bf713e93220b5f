"""The push model's tallies: histogram quantiles within a bin, CPU spread over the seconds it spans."""

from __future__ import annotations

import numpy as np
import pytest

from dsim.pushsim.metrics import BINS_PER_DECADE, Histogram, Recorder


def test_histogram_quantiles_are_within_one_bin() -> None:
    values = np.random.default_rng(1).lognormal(mean=-3, sigma=2, size=50_000)
    histogram = Histogram()
    for part in np.array_split(values, 7):
        histogram.add(part)
    step = 10 ** (1 / BINS_PER_DECADE)
    for q in (0.5, 0.9, 0.99):
        exact = float(np.quantile(values, q, method="inverted_cdf"))
        assert exact <= histogram.quantile(q) <= exact * step
    assert histogram.maximum == values.max()
    assert histogram.quantile(1.0) == values.max()
    assert histogram.mean() == pytest.approx(values.mean())
    assert histogram.count == len(values)


def test_cpu_is_spread_over_the_seconds_it_spans() -> None:
    recorder = Recorder(proxies=1)
    recorder.add_cpu(np.array([0.5, 2.25]), np.array([0.25, 1.5]))
    recorder.add_cpu(np.array([2.5]), np.array([0.1]))
    recorder.flush()
    np.testing.assert_allclose(recorder.cpu_bins[:4], [0.25, 0.0, 0.85, 0.75])
    assert recorder.cpu_bins.sum() == pytest.approx(1.85)
