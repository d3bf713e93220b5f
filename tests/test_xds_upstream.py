"""What upstream Envoy loads: every Istio-only filter stripped, nothing else changed, the
generated config (whose clusters other proxies share) untouched."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from dsim import build_cluster, design_names, generate
from dsim.xds.envoy import bootstrap
from dsim.xds.generate import ProxyConfig
from dsim.xds.istio_filters import ISTIO_ONLY
from dsim.xds.upstream import upstream_config
from tests.conftest import SCENARIOS


def filter_names(listener: listener_pb2.Listener) -> list[tuple[str, ...]]:
    """Per chain (the default one last): its network filters' names, then its HCM's HTTP filters'."""
    chains = [*listener.filter_chains, *([listener.default_filter_chain] * listener.HasField("default_filter_chain"))]
    names = []
    for chain in chains:
        found: list[str] = []
        for network in chain.filters:
            found.append(network.name)
            manager = hcm_pb2.HttpConnectionManager()
            if network.typed_config.Unpack(manager):
                found.extend(f"http:{f.name}" for f in manager.http_filters)
        names.append(tuple(found))
    return names


def _istio(name: str) -> bool:
    return name.removeprefix("http:") in ISTIO_ONLY


@pytest.fixture(scope="module", params=design_names())
def config(request: Any) -> ProxyConfig:
    cluster = build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml")
    return generate(cluster, "default/sleep", request.param)


def test_generated_config_has_istio_filters(config: ProxyConfig) -> None:
    names = {n for x in config.listeners for chain in filter_names(x) for n in chain}
    assert {n.removeprefix("http:") for n in names if _istio(n)} == ISTIO_ONLY
    assert any(f.name in ISTIO_ONLY for c in config.clusters for f in c.filters)


def test_stripped_exactly_of_istio_filters(config: ProxyConfig) -> None:
    stripped = upstream_config(config)
    for mine, theirs in zip(config.listeners, stripped.listeners, strict=True):
        assert filter_names(theirs) == [tuple(n for n in chain if not _istio(n)) for chain in filter_names(mine)]
    for mine, theirs in zip(config.clusters, stripped.clusters, strict=True):
        assert [f.name for f in theirs.filters] == [f.name for f in mine.filters if f.name not in ISTIO_ONLY]
        kept = type(mine)()
        kept.CopyFrom(mine)
        del kept.filters[:]
        assert kept == theirs
    assert stripped.routes == config.routes
    assert stripped.endpoints == config.endpoints


def test_stripping_leaves_the_generated_config_alone(config: ProxyConfig) -> None:
    before = [m.SerializeToString(deterministic=True) for m in (*config.listeners, *config.clusters)]
    upstream_config(config)
    bootstrap(config)
    assert [m.SerializeToString(deterministic=True) for m in (*config.listeners, *config.clusters)] == before


def test_envoy_bootstrap_names_no_istio_filter(config: ProxyConfig) -> None:
    boot = bootstrap(config)
    for listener in boot.static_resources.listeners:
        assert not any(_istio(n) for chain in filter_names(listener) for n in chain), listener.name
    for cluster in boot.static_resources.clusters:
        assert not any(f.name in ISTIO_ONLY for f in cluster.filters), cluster.name
