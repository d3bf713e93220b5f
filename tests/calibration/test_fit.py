"""The least-squares fit: it recovers known costs, its intervals cover them, it refuses what it
cannot separate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsim.calibration.fit import fit_linear
from dsim.errors import CalibrationError


def _frame(rng: np.random.Generator, rows: int, noise: float, costs: dict[str, float], base: float) -> pd.DataFrame:
    frame = pd.DataFrame({name: rng.integers(0, 500, rows) for name in costs})
    frame["y"] = base + sum(cost * frame[name] for name, cost in costs.items()) + rng.normal(0, noise, rows)
    return frame


@given(
    seed=st.integers(0, 2**32 - 1),
    costs=st.lists(st.integers(-10_000, 100_000), min_size=1, max_size=4),
    base=st.floats(0, 1e7),
)
@settings(max_examples=40, deadline=None)
def test_exact_data_is_recovered_exactly(seed: int, costs: list[int], base: float) -> None:
    named = {f"x{i}": c for i, c in enumerate(costs)}
    frame = _frame(np.random.default_rng(seed), 30, 0.0, named, base)
    fit = fit_linear(frame, "y", list(named))
    assert fit.intercept.estimate == pytest.approx(base, rel=1e-6, abs=1e-3)
    for slope in fit.slopes:
        assert slope.estimate == pytest.approx(named[slope.name], rel=1e-6, abs=1e-6)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)


def test_confidence_intervals_cover_the_truth_at_their_level() -> None:
    rng = np.random.default_rng(5)
    truth = {"clusters": 50_000.0, "endpoints": 6_000.0}
    covered = 0
    trials = 400
    for _ in range(trials):
        fit = fit_linear(_frame(rng, 20, 200_000.0, truth, 7e6), "y", list(truth))
        slope = fit.slope("clusters")
        assert slope is not None
        covered += slope.ci_low <= truth["clusters"] <= slope.ci_high
    # 95% intervals: coverage within sampling error of 0.95 (binomial sd ≈ 1.1% at 400 trials)
    assert 0.91 <= covered / trials <= 0.99


def test_a_constant_regressor_is_left_out_not_guessed() -> None:
    frame = _frame(np.random.default_rng(1), 12, 1.0, {"clusters": 3.0}, 10.0)
    frame["listener_additional_addresses"] = 0
    fit = fit_linear(frame, "y", ["clusters", "listener_additional_addresses"])
    assert [s.name for s in fit.slopes] == ["clusters"]
    assert fit.predict(frame) == pytest.approx(frame["y"], abs=5)


def test_regressors_the_data_cannot_separate_are_refused() -> None:
    frame = _frame(np.random.default_rng(2), 12, 1.0, {"clusters": 3.0}, 10.0)
    frame["twice"] = 2 * frame["clusters"]
    with pytest.raises(CalibrationError, match="does not separate"):
        fit_linear(frame, "y", ["clusters", "twice"])


def test_a_fit_survives_its_json_form() -> None:
    from dsim.calibration.fit import LinearFit

    fit = fit_linear(_frame(np.random.default_rng(3), 15, 10.0, {"a": 2.0, "b": 5.0}, 1.0), "y", ["a", "b"])
    assert LinearFit.from_dict(fit.to_dict()) == fit
