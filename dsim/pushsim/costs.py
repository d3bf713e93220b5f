"""The push model's unit costs, from the calibration and the scenario's istiod settings."""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.accounting.proxies import DesignAccounting
from dsim.calibration.istiod_push import istiod_push_cpu
from dsim.calibration.model import CPU_TERMS, Calibration
from dsim.calibration.predict import check_applies
from dsim.errors import CalibrationError
from dsim.pushsim.configs import APPLY_TERMS
from dsim.scenario import Scenario


@dataclasses.dataclass(frozen=True, kw_only=True)
class PushCosts:
    """Seconds per unit of work, for one design."""

    per_proxy_s: float
    """istiod CPU per push to one proxy besides the bytes it generates."""
    per_byte_s: float
    """istiod CPU per generated config byte (build + marshal, Go)."""
    send_per_proxy_s: float
    """istiod CPU to send one proxy push's response besides its bytes (gRPC, HTTP/2, a syscall)."""
    send_per_byte_s: float
    """istiod CPU per config byte sent, cached or not (framing, TLS, syscalls)."""
    per_service_context_s: float
    """Push-context build CPU per service on a full push."""
    bytes_per_s: float
    """istiod's egress."""
    apply_intercept_ms: float
    """Envoy's fixed apply CPU for a whole config (the calibration's intercept)."""
    apply_ms: np.ndarray
    """Envoy apply CPU per object of :data:`dsim.pushsim.configs.APPLY_TERMS`, ms (a proxy push's
    apply time: :func:`dsim.pushsim.kernels.variant_costs`)."""


def push_costs(calibration: Calibration, scenario: Scenario, accounting: DesignAccounting) -> PushCosts:
    """The unit costs of the design of ``accounting`` (its configs before any churn) under
    ``scenario``'s settings."""
    check_applies(calibration, scenario)
    istiod = scenario.istiod
    cpu = istiod_push_cpu(calibration, istiod)
    fit = calibration.envoy_fit(
        accounting.design, scenario.envoy.stats_profile, "apply_cpu_ms", scenario.envoy.workload_certificate
    )
    return PushCosts(
        per_proxy_s=cpu.per_proxy_ms / 1e3,
        per_byte_s=cpu.per_byte_ns / 1e9,
        send_per_proxy_s=cpu.send_per_proxy_ms / 1e3,
        send_per_byte_s=cpu.send_per_byte_ns / 1e9,
        per_service_context_s=istiod.push_context_us_per_service / 1e6,
        bytes_per_s=istiod.send_bandwidth_mbps * 1e6 / 8,
        apply_intercept_ms=fit.intercept.estimate,
        apply_ms=np.array([_apply_slope(calibration, scenario, accounting, term) for term in APPLY_TERMS]),
    )


def _apply_slope(calibration: Calibration, scenario: Scenario, accounting: DesignAccounting, term: str) -> float:
    """Envoy's apply CPU per object ``term``, ms. A fit leaves out a term its measurements never
    varied (a design that makes none of them): that costs nothing only where the configs have none
    either, which churn keeps so (new pods and services are clones). A term the model does not fit
    apply CPU on (:data:`dsim.calibration.model.CPU_TERMS`: an endpoint's additional address, below
    the CPU measurements' resolution) costs nothing."""
    if term not in CPU_TERMS:
        return 0.0
    profile = scenario.envoy.stats_profile
    certificate = scenario.envoy.workload_certificate
    slope = calibration.envoy_fit(accounting.design, profile, "apply_cpu_ms", certificate).slope(term)
    if slope is not None:
        return slope.estimate
    most = int(accounting.counts[term].to_numpy().max(initial=0))
    if most > 0:
        raise CalibrationError(
            f"the calibration {calibration.source} has no apply_cpu_ms slope for {term} under design "
            f"{accounting.design!r} and stats profile {profile!r} (its measurements never varied them), but "
            f"this mesh's configs have up to {most} per proxy; run `dsim calibrate --out DIR` with a plan "
            "that varies them and set DSIM_CALIBRATION to the JSON file it writes"
        )
    return 0.0
