"""An archive whose memory files a real Envoy wrote: its config bytes still check exactly, and the
memory model's error is that of its calibration, not a check artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsim import Cluster
from dsim.calibration.measure import measure
from dsim.check import check_archive, write_archive
from dsim.designs import get_design
from dsim.xds.envoy import envoy_binary
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.check.conftest import DESIGN, SCENARIO

SAMPLE = (0, 7)
"""Two sidecars: each measurement starts an Envoy and waits for its first stats flush (~5 s)."""


@pytest.mark.slow
def test_memory_from_a_live_envoy(tmp_path: Path, objects_cluster: Cluster) -> None:
    envoy = objects_cluster.scenario.envoy
    index = index_for(objects_cluster)
    memory = {}
    for row in SAMPLE:
        config = proxy_config(index, row, get_design(DESIGN))
        taken = measure(config, profile=envoy.stats_profile, concurrency=envoy.concurrency, binary=envoy_binary())
        name = f"{config.proxy.namespace}/{config.proxy.pod_name}"
        memory[name] = {"allocated": taken.allocated_bytes, "heap_size": taken.heap_size_bytes}
    archive = write_archive(objects_cluster, tmp_path / "live.tar.gz", design=DESIGN, memory=memory)
    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    assert result.exact()
    assert sorted(result.memory["proxy"]) == sorted(memory)
    assert (result.memory["allocated_bytes"] == [memory[p]["allocated"] for p in result.memory["proxy"]]).all()
    # Istio's own filters are stripped for upstream Envoy, and the model's residual SD is ~170 KiB.
    assert (result.memory["relative_error"].abs() < 0.1).all(), result.memory.to_string()
