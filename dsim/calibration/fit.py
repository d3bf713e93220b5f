"""Ordinary least squares with what a reviewer asks of a fit: each coefficient's standard error
and confidence interval (Student t), R², the residual spread, the number of observations.

Standard errors are heteroskedasticity- and misspecification-robust (HC3, MacKinnon & White
1985): Envoy's memory grows in steps (tables resize, allocator size classes), so a straight
line is a close but not exact description, and its residuals are larger for larger configs.
Classical errors would assume both away and give intervals too narrow to compare two plans by.

Each slope also carries its variance inflation factor (VIF): 1 / (1 − R²) of that regressor on the
others, how many times wider its interval is than it would be if the plan varied it independently
of the other terms. VIF 1 is an orthogonal plan; above 10 a term is commonly called poorly
identified (its price trades off against another's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dsim.errors import CalibrationError

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True, kw_only=True)
class Coefficient:
    """One fitted term: the marginal cost of one more object (or the fixed part, for ``intercept``)."""

    name: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    vif: float | None = None
    """Variance inflation factor (slopes; ``None`` for the intercept, and in fits made before dsim
    recorded it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinearFit:
    """``target ≈ intercept + Σ slope·regressor``, fitted on ``observations`` measurements."""

    target: str
    intercept: Coefficient
    slopes: tuple[Coefficient, ...]
    r_squared: float
    residual_sd: float
    observations: int
    confidence: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The fitted value for each row (columns named like the slopes)."""
        value = np.full(len(frame), self.intercept.estimate, dtype=np.float64)
        for slope in self.slopes:
            value += slope.estimate * frame[slope.name].to_numpy(dtype=np.float64)
        return value

    def slope(self, name: str) -> Coefficient | None:
        return next((s for s in self.slopes if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> LinearFit:
        return LinearFit(
            target=data["target"],
            intercept=Coefficient(**data["intercept"]),
            slopes=tuple(Coefficient(**s) for s in data["slopes"]),
            r_squared=float(data["r_squared"]),
            residual_sd=float(data["residual_sd"]),
            observations=int(data["observations"]),
            confidence=float(data["confidence"]),
        )


def variance_inflation(regressors: np.ndarray) -> list[float]:
    """Each column's VIF among ``regressors`` (observations × terms): the diagonal of the inverse
    of their correlation matrix (``inf`` for a column the others determine)."""
    if regressors.shape[1] == 0:
        return []
    if regressors.shape[1] == 1:
        return [1.0]
    correlation = np.corrcoef(regressors, rowvar=False)
    try:
        inverse = np.linalg.inv(correlation)
    except np.linalg.LinAlgError:
        return [float("inf")] * regressors.shape[1]
    return [float(v) if v > 0 else float("inf") for v in np.diag(inverse)]


def fit_linear(
    frame: pd.DataFrame, target: str, regressors: Sequence[str], *, confidence: float = CONFIDENCE
) -> LinearFit:
    """Fit ``target`` on the ``regressors`` that vary in ``frame`` (a constant one cannot be told
    from the intercept, so it is left out of the fit rather than given an arbitrary value)."""
    from scipy import stats  # only fitting needs it; loading a calibration should not pay its import

    used = [name for name in regressors if frame[name].nunique() > 1]
    x = np.column_stack([np.ones(len(frame)), frame[used].to_numpy(dtype=np.float64)])
    y = frame[target].to_numpy(dtype=np.float64)
    dof = len(y) - x.shape[1]
    if dof < 1 or np.linalg.matrix_rank(x) < x.shape[1]:
        raise CalibrationError(
            f"cannot fit {target} on {', '.join(used)}: {len(y)} observations, rank "
            f"{np.linalg.matrix_rank(x)} of {x.shape[1]} terms (the plan does not separate them)"
        )
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ beta
    sigma2 = float(residuals @ residuals) / dof
    bread = np.linalg.inv(x.T @ x)
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    # A point with leverage 1 is fitted exactly and says nothing about the error: floor 1 - h.
    weights = residuals**2 / np.maximum(1.0 - leverage, 1e-9) ** 2
    errors = np.sqrt(np.diag(bread @ (x.T * weights) @ x @ bread))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * errors
    total = float(((y - y.mean()) ** 2).sum())
    vifs: list[float | None] = [None, *variance_inflation(x[:, 1:])]
    terms = [
        Coefficient(
            name=name,
            estimate=float(beta[i]),
            std_error=float(errors[i]),
            ci_low=float(beta[i] - half[i]),
            ci_high=float(beta[i] + half[i]),
            vif=vifs[i],
        )
        for i, name in enumerate(["intercept", *used])
    ]
    return LinearFit(
        target=target,
        intercept=terms[0],
        slopes=tuple(terms[1:]),
        # A target that never varies (Istio's stats profile keeps a fixed set) is explained exactly.
        r_squared=1.0 - float(residuals @ residuals) / total if np.ptp(y) > 0 else 1.0,
        residual_sd=float(np.sqrt(sigma2)),
        observations=len(y),
        confidence=confidence,
    )
