"""Whether two calibrations are the same model: the same fits, equal up to the rounding that least
squares picks up from the BLAS build and CPU it runs on (the last bits of every number)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsim.calibration.fit import LinearFit
from dsim.calibration.istiod_cost import BYTE_COLUMNS
from dsim.calibration.model import Calibration, with_plan_columns

RELATIVE = 1e-9
"""Allowed difference, relative to the largest value the fit predicts on its own data."""


def assert_same_fit(mine: LinearFit, expected: LinearFit, rows: pd.DataFrame, what: object) -> None:
    assert (mine.target, [s.name for s in mine.slopes], mine.observations) == (
        expected.target,
        [s.name for s in expected.slopes],
        expected.observations,
    ), what
    # In the target's unit: a coefficient that is 0 up to rounding (a stat no object adds) may
    # differ wildly relative to itself, never against what the fit predicts.
    tolerance = RELATIVE * float(np.abs(expected.predict(rows)).max())
    for a, b in zip((mine.intercept, *mine.slopes), (expected.intercept, *expected.slopes), strict=True):
        for field in ("estimate", "std_error", "ci_low", "ci_high"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), abs=tolerance), (what, a.name, field)
    assert mine.r_squared == pytest.approx(expected.r_squared, rel=RELATIVE), what
    np.testing.assert_allclose(mine.predict(rows), expected.predict(rows), rtol=RELATIVE, err_msg=str(what))


def assert_same_model(
    mine: Calibration, expected: Calibration, measurements: pd.DataFrame, timings: pd.DataFrame
) -> None:
    """``mine`` is ``expected`` (both fitted on ``measurements`` and ``timings``)."""
    assert mine.envoy.keys() == expected.envoy.keys()
    measurements = with_plan_columns(measurements)
    for key, fit in expected.envoy.items():
        design, profile, certificate, _ = key
        rows = measurements[
            (measurements["design"] == design)
            & (measurements["stats_profile"] == profile)
            & (measurements["certificate_profile"] == certificate)
        ]
        assert_same_fit(mine.envoy[key], fit, rows, key)
    generated = timings.assign(config_bytes=timings[BYTE_COLUMNS].sum(axis=1))
    assert_same_fit(mine.istiod.fit, expected.istiod.fit, generated, "istiod")
    assert (mine.istiod.go_cost_scale, mine.istiod.go_reference) == (
        expected.istiod.go_cost_scale,
        expected.istiod.go_reference,
    )
