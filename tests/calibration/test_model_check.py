"""CI's quick real-Envoy check of the shipped model: a tiny calibration (three small meshes, one
design pair, Istio's stats profile) run end to end on the real Envoy, its measurements against
what the shipped model predicts. Under a minute."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dsim.calibration.campaign import MEASUREMENT_COLUMNS, run_campaign
from dsim.calibration.certificate_profiles import DEFAULT_CERTIFICATE_PROFILE
from dsim.calibration.model import load_calibration
from dsim.calibration.plan import Plan, PlanPoint
from dsim.xds.envoy import envoy_binary

pytestmark = pytest.mark.slow

MEMORY_TOLERANCE = 0.05
"""Allocated memory: the shipped fits reproduce their own measurements within about 1%
(residual SD) and held-out configs within a few percent; 5% leaves room for a busy CI machine's
allocator timing, not for a wrong price."""
CPU_SCALE = (1 / 5, 5.0)
"""Apply CPU, measured over predicted, the median over the check's configs: the machine's speed
against the calibration machine's. Absolute CPU is the machine's, not the model's (tests never
assert wall-clock figures): on the development machine (a virtual machine) the same held-out
configs measured a median 1.6 times more apply CPU in one run of bench/calibration_report.py than
in another the same day (results/calibration/2026-12-01-full/), and on a slow day CI measured
these configs at 1.9-3.3 times the prediction, every one of them. A factor of five still catches a
price off by an order of magnitude."""
CPU_SHAPE = (1 / 2, 2.0)
"""Each config's ratio over that median: the model's shape (how apply CPU grows with the config
and differs between designs) must hold on any machine. A small config's apply takes 10-60 ms of
CPU, which caches and frequency scaling move by tens of percent; a factor of two leaves room for
that and not for a wrong slope. Each point runs twice and the lesser apply CPU counts: work beside
the Envoy (CI's other test worker) only ever adds to a run's CPU, and the model prices an Envoy
left alone."""
RUNS = 2
DESIGNS = ("single-stack", "duplicate")
TINY = Plan(
    name="ci-check",
    points=(
        PlanPoint(services=6, protocols="mixed", families="dual", replicas=2, ports=1, subsets=0.5),
        PlanPoint(services=20, protocols="http", families="dual", replicas=1, ports=2, subsets=0.0),
        PlanPoint(services=40, protocols="tcp", families="dual", replicas=2, ports=1, subsets=0.0),
    ),
    repeats=1,
)


def test_the_shipped_model_predicts_a_tiny_calibration_on_the_real_envoy() -> None:
    shipped = load_calibration()
    # The profile the shipped model prices Istio's default with (its own once a refit measures it).
    certificate = shipped.certificate_for(DEFAULT_CERTIFICATE_PROFILE)
    plan = Plan(
        name=TINY.name,
        points=tuple(dataclasses.replace(p, certificate=certificate) for p in TINY.points),
        repeats=RUNS,
    )
    measured = run_campaign(
        plan,
        designs=DESIGNS,
        profiles=("istio",),
        concurrency=int(shipped.provenance["envoy_concurrency"]),
        binary=envoy_binary(),
    )
    assert list(measured.columns) == MEASUREMENT_COLUMNS
    assert len(measured) == len(TINY.points) * len(DESIGNS) * RUNS
    assert set(measured["certificate_profile"]) == {certificate}
    assert (measured["memory_read_s"] >= 0).all()
    rows = []
    for design, own in measured.groupby("design"):
        predicted = shipped.predict_envoy(own, str(design), "istio", certificate)
        rows.append(
            pd.DataFrame(
                {
                    "point": own["point"],
                    "design": design,
                    "memory_error": predicted["envoy_memory_bytes"] / own["allocated_bytes"] - 1,
                    "cpu_ratio": own["apply_cpu_ms"] / predicted["envoy_apply_cpu_ms"],
                }
            )
        )
    compared = pd.concat(rows)
    assert (compared["memory_error"].abs() < MEMORY_TOLERANCE).all(), compared.to_string()  # every run
    least = compared.groupby(["point", "design"])["cpu_ratio"].min()
    machine_scale = least.median()
    assert CPU_SCALE[0] <= machine_scale <= CPU_SCALE[1], compared.to_string()
    assert (least / machine_scale).between(*CPU_SHAPE).all(), compared.to_string()
