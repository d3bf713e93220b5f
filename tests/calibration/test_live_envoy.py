"""The model against the real Envoy: configs it was not fitted on, measured now, must come out
within 10% on allocated memory; the measuring harness is tidy and reports rejections."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import pytest
from envoy.config.cluster.v3 import cluster_pb2

import dsim
from dsim.calibration.campaign import config_facts
from dsim.calibration.certificate_profiles import DEFAULT_CERTIFICATE_PROFILE
from dsim.calibration.measure import measure
from dsim.calibration.model import load_calibration
from dsim.calibration.plan import HELD_OUT_POINTS, PlanPoint
from dsim.errors import EnvoyRunError
from dsim.xds.envoy import envoy_binary
from dsim.xds.generate import ProxyConfig
from tests.conftest import SCENARIOS

pytestmark = pytest.mark.slow

TOLERANCE = 0.10


def _predicted_and_measured(config: ProxyConfig, profile: str) -> tuple[float, float]:
    """The shipped model's prediction and a fresh measurement, under the certificate profile the
    model prices Istio's default with (its own measurements of it once a refit has them: the
    shipped fit, measured with an EC leaf without the root, underpredicts the quickstart sidecar
    served Istio's default RSA chain by 14%: 6.3 MiB over its 493 clusters and 188 filter chains)."""
    calibration = load_calibration()
    certificate = calibration.certificate_for(DEFAULT_CERTIFICATE_PROFILE)
    facts = pd.DataFrame([config_facts(config)])
    predicted = calibration.predict_envoy(facts, config.design, profile, certificate)["envoy_memory_bytes"].iloc[0]
    taken = measure(config, profile=profile, concurrency=2, binary=envoy_binary(), certificate=certificate)
    return float(predicted), float(taken.allocated_bytes)


@pytest.mark.parametrize("profile", ["istio", "envoy-default"])
@pytest.mark.parametrize("design", dsim.design_names())
def test_a_realistic_quickstart_sidecar_is_predicted_within_10_percent(design: str, profile: str) -> None:
    cluster = dsim.build_cluster(SCENARIOS / "quickstart.yaml")
    predicted, measured = _predicted_and_measured(dsim.generate(cluster, 0, design), profile)
    assert abs(predicted - measured) / measured < TOLERANCE, (predicted, measured)


@pytest.mark.parametrize("point", HELD_OUT_POINTS, ids=lambda p: p.name)
@pytest.mark.parametrize("design", dsim.design_names())
def test_held_out_meshes_are_predicted_within_10_percent(point: PlanPoint, design: str) -> None:
    config = dsim.generate(point.cluster(), 0, design)
    predicted, measured = _predicted_and_measured(config, "istio")
    assert abs(predicted - measured) / measured < TOLERANCE, (predicted, measured)


def _envoys_running() -> list[str]:
    """This test process's Envoy children (a zombie counts: it was not waited for)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if parent == os.getpid() and ("envoy" in command or command == ""):
                found.append(command or f"zombie {entry.name}")
    return found


def test_a_rejected_config_is_reported_with_envoys_reason_and_envoy_is_stopped() -> None:
    cluster = dsim.build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml")
    config = dsim.generate(cluster, 0, "additional-addresses")
    broken = cluster_pb2.Cluster()
    broken.CopyFrom(config.clusters[0])
    broken.connect_timeout.seconds = -1
    with pytest.raises(EnvoyRunError, match="rejected Cluster: Invalid duration: Expected positive duration"):
        measure(
            dataclasses.replace(config, clusters=(broken, *config.clusters[1:])),
            profile="istio",
            concurrency=1,
            binary=envoy_binary(),
        )
    assert _envoys_running() == []


def test_measurements_leave_no_envoy_behind() -> None:
    cluster = dsim.build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml")
    taken = measure(dsim.generate(cluster, 0, "duplicate"), profile="istio", concurrency=1, binary=envoy_binary())
    assert taken.allocated_bytes > taken.idle_allocated_bytes > 0
    assert taken.apply_cpu_ms > 0
    assert _envoys_running() == []


def test_missing_envoy_is_a_clear_error_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dsim.cli import main

    os.environ["DSIM_ENVOY"] = str(tmp_path / "no-envoy")
    try:
        code = main(["calibrate", "--quick", "--out", str(tmp_path / "out")])
    finally:
        del os.environ["DSIM_ENVOY"]
    assert code == 2
    assert f"DSIM_ENVOY={tmp_path / 'no-envoy'}: not an executable file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
