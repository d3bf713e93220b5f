"""The push model's unit costs: istiod's CPU per proxy push is the headline's formula, and a
calibration that cannot price what the configs hold is refused."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import dsim
from dsim.calibration.istiod_push import SEND_PER_BYTE_NS
from dsim.calibration.model import Calibration
from dsim.errors import CalibrationError

DESIGNS = ["single-stack", "additional-addresses"]


def one_pod_per_workload(push_overhead_ms: float | None) -> dict:
    """A mesh whose only churn is an istiod restart: every sidecar reconnects and, alone in its
    workload, gets its whole config generated cold — one full push to every proxy."""
    istiod = {} if push_overhead_ms is None else {"push_overhead_ms": push_overhead_ms}
    return {
        "name": "restart",
        "seed": 3,
        "synthetic": {
            "namespaces": 2,
            "services": 12,
            "families": {"ipv4": 0.5, "dual_ipv4_primary": 0.5},
            "replicas": {"distribution": "fixed", "mean": 1},
        },
        "churn": {"duration_s": 5, "istiod_restarts_s": [1]},
        "istiod": istiod,
    }


@pytest.mark.parametrize("push_overhead_ms", [None, 50.0])
def test_a_restart_costs_istiod_the_headlines_cpu_per_full_push(
    write_scenario: Callable[..., Path], push_overhead_ms: float | None
) -> None:
    result = dsim.run(write_scenario(one_pod_per_workload(push_overhead_ms)), designs=DESIGNS, progress=False)
    summary = result.tables["design_summary"].set_index(["metric", "design"])["value"]
    assert result.tables["push_records"].empty, "the restart alone: no push context built, only connections"
    for design in DESIGNS:
        headline = summary[("istiod CPU per full push", design)]
        simulated = summary[("istiod CPU under churn", design)]
        assert simulated > 0
        # The headline rounds each proxy's figure to 0.1 µs and the total to 1 ms.
        assert simulated == pytest.approx(headline, abs=0.0005 + 1e-6), design


def without_slope(calibration: Calibration, design: str, term: str) -> Calibration:
    """``calibration`` as if its apply-CPU fit of ``design`` (Istio's stats profile) had left ``term`` out."""
    key = (design, "istio", calibration.certificate_for(None), "apply_cpu_ms")
    fit = calibration.envoy[key]
    trimmed = dataclasses.replace(fit, slopes=tuple(s for s in fit.slopes if s.name != term))
    return dataclasses.replace(calibration, envoy={**calibration.envoy, key: trimmed})


def test_a_missing_apply_slope_for_objects_the_configs_have_is_an_error(write_scenario: Callable[..., Path]) -> None:
    cluster = dsim.build_cluster(write_scenario(one_pod_per_workload(None)))
    broken = without_slope(dsim.load_calibration(), "additional-addresses", "listener_additional_addresses")
    message = (
        "the calibration envoy-1.40.json has no apply_cpu_ms slope for listener_additional_addresses under "
        "design 'additional-addresses' and stats profile 'istio' (its measurements never varied them), but "
        "this mesh's configs have up to "
    )
    with pytest.raises(CalibrationError, match=re.escape(message)):
        dsim.push_simulation(cluster, ["additional-addresses"], calibration=broken)


def test_a_slope_left_out_for_objects_the_design_never_makes_prices_them_at_zero(
    write_scenario: Callable[..., Path],
) -> None:
    # Single-stack configs have no additional addresses, so a fit of its own measurements alone (as a
    # calibration fitted design by design has) has no slope for them.
    cluster = dsim.build_cluster(write_scenario(one_pod_per_workload(None)))
    calibration = without_slope(dsim.load_calibration(), "single-stack", "listener_additional_addresses")
    assert calibration.envoy_fit("single-stack", "istio", "apply_cpu_ms").slope("listener_additional_addresses") is None
    tables = dsim.push_simulation(cluster, ["single-stack"], calibration=calibration)
    assert tables["push_summary"]["istiod_cpu_s"].iloc[0] > 0


def churning_dual_stack(send_cost_scale: float) -> dict:
    """A small mesh, all dual-stack, whose pods are replaced: duplicate's EDS carries each
    endpoint set twice, so it sends more bytes than single-stack for the same churn."""
    return {
        "name": "send",
        "seed": 5,
        "synthetic": {
            "namespaces": 2,
            "services": 10,
            "families": {"dual_ipv4_primary": 1.0},
            "replicas": {"distribution": "fixed", "mean": 2},
        },
        "churn": {"duration_s": 60, "pod_replacements_per_s": 0.5},
        "istiod": {"send_cost_scale": send_cost_scale},
    }


def test_istiods_cpu_to_send_is_proportional_to_the_bytes_it_sends(write_scenario: Callable[..., Path]) -> None:
    designs = ["single-stack", "duplicate"]
    summaries = {
        scale: dsim.push_simulation(dsim.build_cluster(write_scenario(churning_dual_stack(scale))), designs)[
            "push_summary"
        ].set_index("design")
        for scale in (0.0, 1.0, 2.0)
    }
    send = summaries[1.0]["istiod_cpu_s"] - summaries[0.0]["istiod_cpu_s"]
    # The send term is linear in its scale, and prices every byte sent, cached or not.
    assert (summaries[2.0]["istiod_cpu_s"] - summaries[0.0]["istiod_cpu_s"]).to_numpy() == pytest.approx(
        2 * send.to_numpy(), rel=1e-9
    )
    sent = summaries[1.0]["bytes_sent_per_s"] * 60
    assert sent["duplicate"] > sent["single-stack"]
    assert (send.to_numpy() >= sent.to_numpy() * SEND_PER_BYTE_NS / 1e9 * (1 - 1e-9)).all()
    # So duplicate, sending more, costs istiod more under the same churn.
    assert send["duplicate"] > send["single-stack"]
    assert summaries[1.0]["istiod_cpu_s"]["duplicate"] > summaries[1.0]["istiod_cpu_s"]["single-stack"]
