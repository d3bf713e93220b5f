"""The push model's unit costs, from the calibration and the scenario's istiod settings."""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.calibration.model import Calibration
from dsim.calibration.predict import check_applies
from dsim.pushsim.sizes import APPLY_TERMS
from dsim.scenario import Scenario


@dataclasses.dataclass(frozen=True, kw_only=True)
class PushCosts:
    """Seconds per unit of work, for one design."""

    per_proxy_s: float
    """istiod CPU per push to one proxy besides the bytes it generates."""
    per_byte_s: float
    """istiod CPU per generated config byte (build + marshal, Go)."""
    per_service_context_s: float
    """Push-context build CPU per service on a full push."""
    bytes_per_s: float
    """istiod's egress."""
    apply_intercept_ms: float
    """Envoy's fixed apply CPU for a whole config (the calibration's intercept)."""
    apply_ms: np.ndarray
    """Envoy apply CPU per object of :data:`dsim.pushsim.sizes.APPLY_TERMS`, ms."""

    def apply_s(self, counts: np.ndarray, *, whole: np.ndarray) -> np.ndarray:
        """Envoy's apply time for ``counts`` (rows of APPLY_TERMS counts); rows marked ``whole``
        are a first config and add the fixed part."""
        return np.maximum(counts @ self.apply_ms, 0.0) / 1e3 + np.where(whole, self.apply_intercept_ms / 1e3, 0.0)


def push_costs(calibration: Calibration, scenario: Scenario, design: str) -> PushCosts:
    """The unit costs of ``design`` under ``scenario``'s settings."""
    check_applies(calibration, scenario)
    istiod = scenario.istiod
    scale = calibration.istiod.go_cost_scale if istiod.go_cost_scale is None else istiod.go_cost_scale
    fixed_ms = (
        max(scale * calibration.istiod.fit.intercept.estimate / 1e6, 0.0)
        if istiod.push_overhead_ms is None
        else istiod.push_overhead_ms
    )
    fit = calibration.envoy_fit(design, scenario.envoy.stats_profile, "apply_cpu_ms")
    slopes = [fit.slope(term) for term in APPLY_TERMS]
    return PushCosts(
        per_proxy_s=fixed_ms / 1e3,
        per_byte_s=scale * calibration.istiod.ns_per_byte / 1e9,
        per_service_context_s=istiod.push_context_us_per_service / 1e6,
        bytes_per_s=istiod.send_bandwidth_mbps * 1e6 / 8,
        apply_intercept_ms=fit.intercept.estimate,
        apply_ms=np.array([s.estimate if s is not None else 0.0 for s in slopes]),
    )
