"""Byte-exact: the vectorized accounting equals real serialization, everywhere."""

from __future__ import annotations

import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.api import sample_proxies
from tests.accounting_check import assert_methods_agree
from tests.conftest import SCENARIOS
from tests.designs.test_contract import VARIETY


@pytest.mark.parametrize("design", design_names())
def test_blog(design: str) -> None:
    assert assert_methods_agree(build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml"), design) == 4


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
@pytest.mark.parametrize("mtls", ["PERMISSIVE", "STRICT", "DISABLE"])
def test_variety_every_design(mtls: str, visibility: str) -> None:
    policy = "REGISTRY_ONLY" if mtls == "STRICT" else "ALLOW_ANY"
    cluster = build_cluster(
        scenario_from_dict(
            {**VARIETY, "visibility": visibility, "mesh": {"mtls": mtls, "outbound_traffic_policy": policy}}
        )
    )
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


@pytest.mark.slow
@pytest.mark.parametrize("design", design_names())
def test_quickstart_sample(design: str) -> None:
    """150 of the quickstart's 673 proxies, drawn with the seed: every design's byte-exactness on a
    realistic mesh. All 673 took CI a minute and a half more; the shapes they add over the sample
    (more pods of the same workloads) the property tests and the smaller scenarios above cover."""
    cluster = build_cluster(SCENARIOS / "quickstart.yaml")
    chosen = sample_proxies(cluster, 150)
    assert assert_methods_agree(cluster, design, proxies=chosen) == 150


@pytest.mark.slow
def test_large_sample() -> None:
    cluster = build_cluster(SCENARIOS / "large.yaml")
    for design in design_names():
        assert_methods_agree(cluster, design, proxies=sample_proxies(cluster, 2))
