"""Every chain of an outbound service listener carries the 15 s transport-socket connect timeout
Istio 1.24 sets in ``buildListenerFromEntry`` (istio/istio#52852); the fall-through chain Istio
builds apart, ``virtualOutbound`` and ``virtualInbound`` have none (docs/dual-stack-designs.md)."""

from __future__ import annotations

import pytest

from dsim import build_cluster, generate
from dsim.designs import design_names
from dsim.xds.common import CHAIN_CONNECT_TIMEOUT_S
from tests.conftest import SCENARIOS

VIRTUAL = ("virtualOutbound", "virtualInbound")


@pytest.mark.parametrize("design", design_names())
def test_outbound_service_chains_and_only_they_have_the_connect_timeout(design: str) -> None:
    cluster = build_cluster(SCENARIOS / "istio-objects.yaml")
    kinds: set[str] = set()
    for proxy in range(0, len(cluster.proxies), max(1, len(cluster.proxies) // 12)):
        for listener in generate(cluster, proxy, design).listeners:
            chains = list(listener.filter_chains)
            if listener.HasField("default_filter_chain"):
                chains.append(listener.default_filter_chain)
            for chain in chains:
                virtual = listener.name.removesuffix("6") in VIRTUAL
                fallthrough = chain.name == "PassthroughFilterChain"
                expected = 0 if virtual or fallthrough else CHAIN_CONNECT_TIMEOUT_S
                assert chain.transport_socket_connect_timeout.seconds == expected, (listener.name, chain.name)
                kinds.add("virtual" if virtual else "fallthrough" if fallthrough else "service")
    assert kinds == {"virtual", "fallthrough", "service"}
