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

A fit can weight each measurement by 1 / value² (``relative=True``): it then minimises relative
rather than absolute error. Calibration meshes run from a few services (about 10 MiB) to thousands
(hundreds of MiB); unweighted, the largest meshes' residuals decide the line and the smallest
sidecars come out a few percent low, while the question asked of the model is "within what
percentage". Envoy's residuals also grow with the config, which is what this weighting assumes.

A term can also be priced from the differences between paired measurements alone, with errors
robust to what the pairs of one mesh share (:func:`fit_difference`; :mod:`dsim.calibration.twins`
says when and why). A grouped fit (:func:`fit_grouped`) prices some terms per group (each group its
own fixed part and its own price of ``group_terms``) and the others once over every group's
measurements: a workload certificate changes what each cluster's TLS context holds, not what a route
or an endpoint costs.
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
    """Variance inflation factor (slopes; ``None`` for the intercept, a term priced from twin meshes
    (:mod:`dsim.calibration.twins`: no other term moves with it there), and in fits made before dsim
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
    weighting: str = "none"
    """``none`` (ordinary least squares) or ``relative`` (each measurement weighted 1 / value²)."""
    relative_residual_sd: float | None = None
    """The residuals' spread as a share of the measured value (``None`` in fits made before dsim
    recorded it)."""
    shared_with: tuple[str, ...] = ()
    """The other groups of a grouped fit (:func:`fit_grouped`), whose measurements priced the
    shared terms too; empty for a fit of one group's measurements alone."""

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
            weighting=str(data.get("weighting", "none")),
            relative_residual_sd=None
            if data.get("relative_residual_sd") is None
            else float(data["relative_residual_sd"]),
            shared_with=tuple(data.get("shared_with", ())),
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


WEIGHTINGS = ("none", "relative")


@dataclasses.dataclass(frozen=True)
class _Solution:
    """Least squares on a design matrix: every column's coefficient, and the fit's spread."""

    terms: list[Coefficient]
    r_squared: float
    residual_sd: float
    relative_residual_sd: float
    observations: int


def _solve(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    vifs: Sequence[float | None],
    *,
    relative: bool,
    confidence: float,
) -> _Solution:
    """Weighted least squares of ``y`` on the columns of ``x`` (named ``names``), HC3 errors on the
    weighted problem; R² and residual spreads are of the unweighted residuals, in ``y``'s units."""
    from scipy import stats  # only fitting needs it; loading a calibration should not pay its import

    dof = len(y) - x.shape[1]
    if dof < 1 or np.linalg.matrix_rank(x) < x.shape[1]:
        raise CalibrationError(
            f"cannot fit on {', '.join(n for n in names if n != 'intercept')}: {len(y)} observations, rank "
            f"{np.linalg.matrix_rank(x)} of {x.shape[1]} terms (the plan does not separate them)"
        )
    if relative and not (y > 0).all():
        raise CalibrationError(f"a relative fit needs positive values; {int((y <= 0).sum())} are not")
    scale = 1.0 / y if relative else np.ones(len(y))
    xw, yw = x * scale[:, None], y * scale
    beta, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    weighted_residuals = yw - xw @ beta
    bread = np.linalg.inv(xw.T @ xw)
    leverage = np.einsum("ij,jk,ik->i", xw, bread, xw)
    # A point with leverage 1 is fitted exactly and says nothing about the error: floor 1 - h.
    weights = weighted_residuals**2 / np.maximum(1.0 - leverage, 1e-9) ** 2
    errors = np.sqrt(np.diag(bread @ (xw.T * weights) @ xw @ bread))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * errors
    residuals = y - x @ beta
    total = float(((y - y.mean()) ** 2).sum())
    terms = [
        Coefficient(
            name=name,
            estimate=float(beta[i]),
            std_error=float(errors[i]),
            ci_low=float(beta[i] - half[i]),
            ci_high=float(beta[i] + half[i]),
            vif=vifs[i],
        )
        for i, name in enumerate(names)
    ]
    # A target near zero makes its relative residual huge, even infinite: kept, without a warning.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        relative_residuals = np.where(y != 0, residuals / np.where(y != 0, y, 1.0), 0.0)
        relative_square_sum = float(relative_residuals @ relative_residuals)
    return _Solution(
        terms=terms,
        # A target that never varies (Istio's stats profile keeps a fixed set) is explained exactly.
        r_squared=1.0 - float(residuals @ residuals) / total if np.ptp(y) > 0 else 1.0,
        residual_sd=float(np.sqrt(float(residuals @ residuals) / dof)),
        relative_residual_sd=float(np.sqrt(relative_square_sum / dof)),
        observations=len(y),
    )


def fit_linear(
    frame: pd.DataFrame,
    target: str,
    regressors: Sequence[str],
    *,
    confidence: float = CONFIDENCE,
    relative: bool = False,
) -> LinearFit:
    """Fit ``target`` on the ``regressors`` that vary in ``frame`` (a constant one cannot be told
    from the intercept, so it is left out of the fit rather than given an arbitrary value);
    ``relative``: weight each measurement by 1 / value²."""
    used = [name for name in regressors if frame[name].nunique() > 1]
    x = np.column_stack([np.ones(len(frame)), frame[used].to_numpy(dtype=np.float64)])
    y = frame[target].to_numpy(dtype=np.float64)
    try:
        solution = _solve(
            x, y, ["intercept", *used], [None, *variance_inflation(x[:, 1:])], relative=relative, confidence=confidence
        )
    except CalibrationError as e:
        raise CalibrationError(f"{target}: {e}") from None
    return _linear_fit(target, solution, solution.terms, relative=relative, confidence=confidence)


def fit_difference(
    regressor: np.ndarray, target: np.ndarray, meshes: np.ndarray, name: str, *, confidence: float = CONFIDENCE
) -> Coefficient:
    """The price of ``name``: the slope of the line through the origin fitting ``target`` on
    ``regressor`` (differences between paired measurements, already weighted). The pairs of one mesh
    (``meshes``: the same mesh under several designs and repeats) share what that mesh does beyond
    the line, so the error is robust to it (CR1, clustered by mesh: the meshes' scores, scaled by
    G / (G − 1)) and the interval Student t with G − 1 degrees of freedom, G the number of meshes."""
    from scipy import stats

    groups, owner = np.unique(meshes, return_inverse=True)
    if len(groups) < 2 or not (regressor != 0).any():
        raise CalibrationError(f"{name} from twin meshes: {len(groups)} meshes; at least two with the term are needed")
    information = float(regressor @ regressor)
    slope = float(regressor @ target) / information
    scores = np.bincount(owner, weights=regressor * (target - slope * regressor), minlength=len(groups))
    error = float(np.sqrt(len(groups) / (len(groups) - 1) * float(scores @ scores))) / information
    half = float(stats.t.ppf(0.5 + confidence / 2, len(groups) - 1)) * error
    # + 0.0: a price of exactly nothing (a term that adds no stat) is 0.0, not -0.0, in the model's JSON.
    return Coefficient(
        name=name, estimate=slope + 0.0, std_error=error, ci_low=slope - half + 0.0, ci_high=slope + half + 0.0
    )


def _linear_fit(
    target: str,
    solution: _Solution,
    terms: Sequence[Coefficient],
    *,
    relative: bool,
    confidence: float,
    shared_with: tuple[str, ...] = (),
) -> LinearFit:
    return LinearFit(
        target=target,
        intercept=terms[0],
        slopes=tuple(terms[1:]),
        r_squared=solution.r_squared,
        residual_sd=solution.residual_sd,
        observations=solution.observations,
        confidence=confidence,
        weighting="relative" if relative else "none",
        relative_residual_sd=solution.relative_residual_sd,
        shared_with=shared_with,
    )


def fit_grouped(
    frame: pd.DataFrame,
    target: str,
    regressors: Sequence[str],
    *,
    group: str,
    group_terms: Sequence[str],
    confidence: float = CONFIDENCE,
    relative: bool = False,
) -> dict[str, LinearFit]:
    """One fit over every group of ``frame`` (by the ``group`` column) in which each group has its
    own intercept and its own slope of each of ``group_terms``, and the other ``regressors`` one
    slope for all: per group, a :class:`LinearFit` of that group's prices (its intercept, its own
    slopes, the shared ones). A regressor constant over ``frame`` is left out, as in
    :func:`fit_linear`. R², observations and spreads are the whole fit's."""
    groups = sorted(str(g) for g in frame[group].unique())
    used = [name for name in regressors if frame[name].nunique() > 1]
    member = {g: (frame[group].astype(str) == g).to_numpy(dtype=np.float64) for g in groups}
    columns: list[np.ndarray] = []
    names: list[tuple[str, str | None]] = []
    for g in groups:
        columns.append(member[g])
        names.append(("intercept", g))
    for term in used:
        values = frame[term].to_numpy(dtype=np.float64)
        if term in group_terms and len(groups) > 1:
            columns += [values * member[g] for g in groups]
            names += [(term, g) for g in groups]
        else:
            columns.append(values)
            names.append((term, None))
    x = np.column_stack(columns)
    # VIFs with the first group's indicator standing in for the intercept (the indicators sum to it).
    vifs: list[float | None] = [None, *variance_inflation(x[:, 1:])]
    vifs = [None if name == "intercept" else vif for (name, _), vif in zip(names, vifs, strict=True)]
    labels = [f"{name}[{g}]" if g is not None and len(groups) > 1 else name for name, g in names]
    try:
        solution = _solve(
            x, frame[target].to_numpy(dtype=np.float64), labels, vifs, relative=relative, confidence=confidence
        )
    except CalibrationError as e:
        raise CalibrationError(f"{target} by {group}: {e}") from None
    fits = {}
    for g in groups:
        mine = [
            dataclasses.replace(term, name=name)
            for (name, owner), term in zip(names, solution.terms, strict=True)
            if owner in (g, None)
        ]
        others = tuple(other for other in groups if other != g)
        fits[g] = _linear_fit(target, solution, mine, relative=relative, confidence=confidence, shared_with=others)
    return fits
