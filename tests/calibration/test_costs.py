"""Per-proxy costs from the shipped model: shapes, consistency with the fits, the scenario's
knobs (stats profile, Go scale, concurrency), and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import dsim
from dsim.calibration.calibrate import load_measurements
from dsim.calibration.model import load_calibration, shipped_path
from dsim.calibration.predict import COST_COLUMNS
from dsim.cli import main
from dsim.errors import CalibrationError
from tests.calibration.same_model import assert_same_fit
from tests.conftest import SCENARIOS

QUICKSTART = SCENARIOS / "quickstart.yaml"


@pytest.fixture(scope="module")
def quickstart() -> dsim.Cluster:
    return dsim.build_cluster(QUICKSTART)


def test_one_row_per_proxy_with_every_cost(quickstart: dsim.Cluster) -> None:
    costs = dsim.envoy_costs(quickstart, "additional-addresses")
    assert list(costs.columns) == COST_COLUMNS
    assert costs["proxy"].tolist() == list(range(len(quickstart.proxies)))
    idle = load_calibration().envoy_fit("additional-addresses", "istio", "allocated_bytes").intercept.estimate
    assert (costs["envoy_memory_bytes"] > idle).all()
    assert (costs["envoy_heap_bytes"] >= costs["envoy_memory_bytes"]).all()
    assert (costs["istiod_cpu_ms"] > 0).all()


def test_costs_are_the_fits_applied_to_the_exact_counts(quickstart: dsim.Cluster) -> None:
    counts = dsim.config_counts(quickstart, "duplicate", proxies=[0, 5])
    fit = load_calibration().envoy_fit("duplicate", "istio", "allocated_bytes")
    costs = dsim.envoy_costs(quickstart, "duplicate", proxies=[0, 5])
    assert costs["envoy_memory_bytes"].tolist() == [round(v) for v in fit.predict(counts)]


def test_duplicating_config_per_family_costs_memory_on_dual_stack_sidecars(quickstart: dsim.Cluster) -> None:
    single = dsim.envoy_costs(quickstart, "single-stack")["envoy_memory_bytes"]
    duplicate = dsim.envoy_costs(quickstart, "duplicate")["envoy_memory_bytes"]
    shared = dsim.envoy_costs(quickstart, "additional-addresses")["envoy_memory_bytes"]
    assert (duplicate > shared).mean() > 0.95
    assert duplicate.sum() > 1.2 * single.sum()


def _scenario(**changes: object) -> dsim.Scenario:
    data = yaml.safe_load(QUICKSTART.read_text())
    data.update(changes)
    return dsim.scenario_from_dict(data, source="<test>")


def test_the_stats_profile_and_go_scale_come_from_the_scenario() -> None:
    istio = dsim.envoy_costs(_scenario(istiod={"send_cost_scale": 0.0}), "single-stack", proxies=[0])
    every_stat = dsim.envoy_costs(_scenario(envoy={"stats_profile": "envoy-default"}), "single-stack", proxies=[0])
    assert every_stat["envoy_stats"].iloc[0] > 10 * istio["envoy_stats"].iloc[0]
    assert every_stat["envoy_memory_bytes"].iloc[0] > istio["envoy_memory_bytes"].iloc[0]
    scale = load_calibration().istiod.go_cost_scale
    doubled = dsim.envoy_costs(
        _scenario(istiod={"go_cost_scale": 2 * scale, "send_cost_scale": 0.0}), "single-stack", proxies=[0]
    )
    assert doubled["istiod_cpu_ms"].iloc[0] == pytest.approx(2 * istio["istiod_cpu_ms"].iloc[0], rel=1e-3)


def test_a_concurrency_the_calibration_did_not_measure_is_refused() -> None:
    with pytest.raises(CalibrationError, match=re.escape("envoy.concurrency is 4 but the calibration envoy-1.40.json")):
        dsim.envoy_costs(_scenario(envoy={"concurrency": 4}), "single-stack", proxies=[0])


def test_an_unreadable_calibration_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"envoy": []}))
    monkeypatch.setenv("DSIM_CALIBRATION", str(bad))
    out = tmp_path / "out"
    assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dsim: error: {bad}: not a dsim calibration file (KeyError")
    assert err.count("\n") == 1
    assert not out.exists()


def test_run_tables_carry_memory_per_proxy() -> None:
    result = dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml")
    costs = result.tables["proxy_costs"]
    assert set(costs["design"]) == set(result.scenario.designs)
    totals = result.tables["proxy_cost_totals"]
    assert list(totals["design"]) == list(result.scenario.designs)
    mean = costs.groupby("design", sort=False)["envoy_memory_bytes"].mean() / 2**20
    # Totals keep six significant digits (a small mesh's figures are not rounded to zero).
    assert totals.set_index("design")["envoy_memory_mean_mib"].tolist() == pytest.approx(mean.tolist(), rel=1e-5)


def test_the_generator_cost_is_fitted_near_the_go_benchmarks_size() -> None:
    """dsim's generator costs several times more per byte on configs of a quarter MB and more than
    on configs of the Go benchmark's size: the scale to Go compares like with like, so the fit keeps
    the timings of configs up to about that size, and all of them when too few are (an older plan)."""
    from dsim.calibration.istiod_cost import (
        BYTE_COLUMNS,
        GO_REFERENCE,
        MIN_REFERENCE_SIZED,
        REFERENCE_SIZE_FACTOR,
        fit_generator_cost,
        reference_sized,
    )

    calibration = load_calibration()
    _, timings = load_measurements(shipped_path().parent, calibration)
    near = reference_sized(timings)
    size = float(GO_REFERENCE["bytes_per_op"])
    assert len(near) >= MIN_REFERENCE_SIZED
    assert (near["config_bytes"] <= size * REFERENCE_SIZE_FACTOR).all()
    fit = fit_generator_cost(timings)
    # The same fit up to the last bits least squares picks up from the BLAS build and its threads.
    generated = timings.assign(config_bytes=timings[BYTE_COLUMNS].sum(axis=1))
    assert_same_fit(fit, calibration.istiod.fit, generated, "istiod")
    # The fixed part is no more than the smallest config's whole cost (a line through the large
    # configs' timings put it at 38 ms, where a 20 kB config takes 1.5 ms in all).
    assert 0 < fit.intercept.estimate < float(timings["generate_ns"].min())
    few = timings[timings["clusters_bytes"] > 10**6]  # none near the benchmark's size
    assert len(few) > MIN_REFERENCE_SIZED
    assert len(reference_sized(few)) == len(few)
