"""The least-squares fit: it recovers known costs, its intervals cover them, it refuses what it
cannot separate; weighted for relative error, and grouped (per-group fixed part and prices beside
shared ones)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsim.calibration.fit import fit_grouped, fit_linear
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


def test_exact_data_is_recovered_exactly_when_weighted_for_relative_error() -> None:
    named = {"clusters": 60_000.0, "endpoints": 5_000.0}
    frame = _frame(np.random.default_rng(4), 30, 0.0, named, 7e6)
    fit = fit_linear(frame, "y", list(named), relative=True)
    assert fit.weighting == "relative"
    assert fit.intercept.estimate == pytest.approx(7e6, rel=1e-9)
    for slope in fit.slopes:
        assert slope.estimate == pytest.approx(named[slope.name], rel=1e-9)
    assert fit.relative_residual_sd == pytest.approx(0.0, abs=1e-12)


def _bending(rng: np.random.Generator) -> pd.DataFrame:
    """Sidecars of 5 to 5,000 clusters whose memory bends a little (a concave curve, as Envoy's
    tables amortise), measured with noise proportional to their size."""
    clusters = np.unique(np.geomspace(5, 5_000, 40).astype(int))
    y = 7e6 + 70_000.0 * clusters - 40.0 * clusters**1.5
    return pd.DataFrame({"clusters": clusters, "y": y * (1 + rng.normal(0, 0.002, len(clusters)))})


def test_a_relative_fit_keeps_small_configs_close_where_an_unweighted_one_does_not() -> None:
    frame = _bending(np.random.default_rng(6))
    small = frame["clusters"] < 60
    errors = {}
    for relative in (False, True):
        fit = fit_linear(frame, "y", ["clusters"], relative=relative)
        errors[relative] = np.abs(fit.predict(frame) / frame["y"] - 1)
    # Unweighted, the large configs pull the line and the small ones come out several percent
    # off; weighted by 1 / value², no config is far off in relative terms.
    assert errors[False][small].max() > 0.03
    assert errors[True].max() < errors[False].max()
    assert errors[True][small].max() < errors[False][small].max() / 2


def test_a_relative_fit_refuses_values_that_are_not_positive() -> None:
    frame = _frame(np.random.default_rng(7), 12, 1.0, {"clusters": 3.0}, 10.0)
    frame.loc[0, "y"] = 0.0
    with pytest.raises(CalibrationError, match="positive"):
        fit_linear(frame, "y", ["clusters"], relative=True)


def _grouped(rng: np.random.Generator, noise: float) -> pd.DataFrame:
    """Three certificate profiles: each its own fixed part and cluster price, the same endpoint
    price; the first measured on many meshes, the others on a few."""
    own = {"a": (7e6, 60_000.0), "b": (7.1e6, 65_000.0), "c": (6.9e6, 58_000.0)}
    parts = []
    for group, rows in (("a", 60), ("b", 12), ("c", 12)):
        frame = pd.DataFrame({"clusters": rng.integers(5, 2_000, rows), "endpoints": rng.integers(5, 8_000, rows)})
        base, per_cluster = own[group]
        frame["y"] = (base + per_cluster * frame["clusters"] + 5_000.0 * frame["endpoints"]) * (
            1 + rng.normal(0, noise, rows)
        )
        parts.append(frame.assign(group=group))
    return pd.concat(parts, ignore_index=True)


def test_a_grouped_fit_gives_each_group_its_own_prices_and_shares_the_rest() -> None:
    frame = _grouped(np.random.default_rng(8), 0.0)
    fits = fit_grouped(frame, "y", ["clusters", "endpoints"], group="group", group_terms=["clusters"])
    assert sorted(fits) == ["a", "b", "c"]
    truth = {"a": (7e6, 60_000.0), "b": (7.1e6, 65_000.0), "c": (6.9e6, 58_000.0)}
    for group, fit in fits.items():
        clusters, endpoints = fit.slope("clusters"), fit.slope("endpoints")
        assert clusters is not None
        assert endpoints is not None
        assert fit.intercept.estimate == pytest.approx(truth[group][0], rel=1e-9)
        assert clusters.estimate == pytest.approx(truth[group][1], rel=1e-9)
        assert endpoints.estimate == pytest.approx(5_000.0, rel=1e-9)
        assert fit.shared_with == tuple(g for g in "abc" if g != group)
        assert fit.observations == len(frame)
    # The shared price is one coefficient: the same in every group's fit, interval and all.
    assert fits["b"].slope("endpoints") == fits["a"].slope("endpoints")


def test_a_grouped_fit_prices_a_small_group_with_the_large_groups_help() -> None:
    frame = _grouped(np.random.default_rng(9), 0.01)
    shared = fit_grouped(frame, "y", ["clusters", "endpoints"], group="group", group_terms=["clusters"], relative=True)
    alone = fit_linear(frame[frame["group"] == "b"], "y", ["clusters", "endpoints"], relative=True)
    width = {
        name: (s.ci_high - s.ci_low)
        for name, s in (("pooled", shared["b"].slope("endpoints")), ("alone", alone.slope("endpoints")))
        if s is not None
    }
    assert width["pooled"] < width["alone"] / 2
    endpoints = shared["b"].slope("endpoints")
    assert endpoints is not None
    assert endpoints.estimate == pytest.approx(5_000.0, rel=0.03)


def test_a_grouped_fit_of_one_group_is_the_plain_fit() -> None:
    frame = _grouped(np.random.default_rng(10), 0.01)
    only = frame[frame["group"] == "a"]
    (fit,) = fit_grouped(only, "y", ["clusters", "endpoints"], group="group", group_terms=["clusters"]).values()
    plain = fit_linear(only, "y", ["clusters", "endpoints"])
    for mine, expected in zip((fit.intercept, *fit.slopes), (plain.intercept, *plain.slopes), strict=True):
        assert mine.name == expected.name
        assert mine.estimate == pytest.approx(expected.estimate, rel=1e-9)
        assert mine.ci_high - mine.ci_low == pytest.approx(expected.ci_high - expected.ci_low, rel=1e-6)
    assert fit.shared_with == ()


def test_a_weighted_grouped_fit_survives_its_json_form() -> None:
    from dsim.calibration.fit import LinearFit

    fits = fit_grouped(
        _grouped(np.random.default_rng(11), 0.01),
        "y",
        ["clusters", "endpoints"],
        group="group",
        group_terms=["clusters"],
        relative=True,
    )
    for fit in fits.values():
        assert LinearFit.from_dict(fit.to_dict()) == fit


def test_a_target_near_zero_gives_an_infinite_relative_error_without_a_warning() -> None:
    # A residual over a target of 1e-300 overflows when squared: the relative spread is infinite, silently.
    frame = pd.DataFrame({"clusters": [1, 2, 3, 4, 5], "y": [10.0, 1e-300, 30.0, 41.0, 50.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_linear(frame, "y", ["clusters"])
    assert fit.relative_residual_sd == float("inf")
