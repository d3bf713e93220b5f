"""gRPC-Web ports (``docs/istio-objects.md`` 1.10b; ``docs/dual-stack-designs.md``, "A port's
protocol"): Istio serves a port whose protocol is gRPC-Web as gRPC, and adds a ``grpc_web`` HTTP
filter (after the peer metadata one, before ``grpc_stats``) to every connection manager it builds
*for* such a port (``buildHTTPConnectionManager``, Istio 1.30's ``listener_builder.go``): a pod's
inbound HTTP chains of it, a Sidecar's ingress port of it, a Sidecar's egress port listener of it
whatever the services say, and the shared ``0.0.0.0_P`` listener where the first port to open it
(in service order, among the services the proxy sees) is gRPC-Web. A later one finds the listener
built, which is the limit Istio's own comment admits. Both paths agree byte for byte under every
design, and the real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.scenario.resolve import protocol_from_port_name
from dsim.xds.common import GRPC_WEB_FILTER, HCM_NAME
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design, assert_live_over_ads
from tests.config_helpers import app_sidecar, config_of

BETA = "beta.b.svc.cluster.local"
BIND = "127.0.0.5"


def _service(name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "namespace": "b", "ip_families": ["IPv4", "IPv6"], "ports": list(ports)}


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        # 8080: "web" is the first to open it, by its port's name; "plain" rides on its listener.
        _service("web", {"port": 8080, "name": "grpc-web"}, {"port": 9090, "name": "api", "protocol": "GRPC-Web"}),
        _service("plain", {"port": 8080, "name": "http"}),
        # 7070: "alpha" (HTTP) opens it first, "beta" (gRPC-Web) and "gamma" (HTTP) after: no filter,
        # but where alpha is not seen.
        _service("alpha", {"port": 7070, "name": "http-alpha"}),
        _service("beta", {"port": 7070, "name": "grpc-web-beta"}),
        _service("gamma", {"port": 7070, "name": "http-gamma"}),
        # 6060: an IPv4-only gRPC-Web port first, a dual-stack HTTP one after: the duplicate design's
        # IPv6 copy of the listener is opened by the latter.
        {**_service("solo", {"port": 6060, "name": "grpc-web"}), "ip_families": ["IPv4"]},
        _service("pair", {"port": 6060, "name": "http"}),
    ],
    "workloads": [
        {"name": name, "namespace": "b", "ip_families": ["IPv4", "IPv6"]}
        for name in ("web", "plain", "alpha", "beta", "gamma", "solo", "pair")
    ]
    + [
        {"name": "other", "namespace": "a", "labels": {"app": "other"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "narrow", "namespace": "a", "labels": {"app": "narrow"}},
        {"name": "client", "namespace": "a", "labels": {"app": "client"}},
        {"name": "edge", "namespace": "b", "labels": {"app": "edge"}, "ip_families": ["IPv4", "IPv6"]},
    ],
    "service_entries": [
        {
            "name": "console",
            "namespace": "a",
            "spec": {
                "hosts": ["console.example.com"],
                "ports": [{"number": 8443, "name": "web", "protocol": "GRPC-Web"}],
                "resolution": "DNS",
            },
        },
    ],
    "sidecars": [
        # Sees beta alone of the services on 7070: beta opens its listener.
        app_sidecar("narrow", "a", "narrow", egress=[{"hosts": [f"b/{BETA}", "./*"]}]),
        # A gRPC-Web egress port over HTTP services (on an address of its own), an HTTP one over the
        # gRPC-Web service (on the wildcard).
        app_sidecar(
            "client",
            "a",
            "client",
            egress=[
                {"port": {"number": 7070, "protocol": "GRPC-Web", "name": "grpc-web"}, "bind": BIND, "hosts": ["b/*"]},
                {"port": {"number": 8080, "protocol": "HTTP", "name": "http"}, "hosts": ["b/*"]},
                {"hosts": ["./*"]},
            ],
        ),
        app_sidecar(
            "edge",
            "b",
            "edge",
            ingress=[
                {
                    "port": {"number": 8081, "protocol": "GRPC-Web", "name": "grpc-web"},
                    "defaultEndpoint": "127.0.0.1:80",
                },
                {"port": {"number": 8082, "protocol": "GRPC", "name": "grpc"}, "defaultEndpoint": "127.0.0.1:81"},
            ],
        ),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _filters(chain: Any) -> list[str] | None:
    """The HTTP filter names of the chain's connection manager (``None``: it has none)."""
    for network in chain.filters:
        if network.name == HCM_NAME:
            manager = hcm_pb2.HttpConnectionManager()
            network.typed_config.Unpack(manager)
            return [f.name for f in manager.http_filters]
    return None


def _web(filters: list[str]) -> bool:
    """Whether a connection manager's filters hold ``grpc_web``, checking where: just after the
    peer metadata filter, just before ``grpc_stats``."""
    if GRPC_WEB_FILTER not in filters:
        return False
    at = filters.index(GRPC_WEB_FILTER)
    assert at == 1, filters
    assert filters[at + 1] == "envoy.filters.http.grpc_stats", filters
    return True


def _outbound(config: ProxyConfig, port: int, on: tuple[str, ...] = ("0.0.0.0", "::")) -> set[bool]:
    """Per listener on ``port`` on the wildcards (one per family copy) or the addresses ``on``:
    whether its connection manager has the filter."""
    found = set()
    for listener in config.listeners:
        if listener.name in {f"{address}_{port}" for address in on}:
            managers = [f for c in listener.filter_chains if (f := _filters(c)) is not None]
            assert len(managers) == 1, listener.name
            found.add(_web(managers[0]))
    return found


def _inbound(config: ProxyConfig, port: int) -> set[bool]:
    """Per HTTP chain on own port ``port`` (mTLS and plaintext, per family): whether it has the filter."""
    found = set()
    for listener in config.listeners:
        for chain in listener.filter_chains:
            if chain.filter_chain_match.destination_port.value == port and (f := _filters(chain)) is not None:
                found.add(_web(f))
    return found


def test_a_port_named_or_declared_grpc_web_reads_as_grpc_web() -> None:
    assert protocol_from_port_name("grpc-web", 80) == "GRPC-Web"
    assert protocol_from_port_name("GRPC-Web-api", 80) == "GRPC-Web"
    assert protocol_from_port_name("grpc-api", 80) == "GRPC"


@pytest.mark.parametrize("design", design_names())
def test_the_first_port_to_open_a_listener_builds_its_manager(mesh: Cluster, design: str) -> None:
    other = config_of(mesh, "a/other", design)
    assert _outbound(other, 8080) == {True}  # web's gRPC-Web port before plain's HTTP one
    assert _outbound(other, 9090) == {True}  # declared gRPC-Web
    assert _outbound(other, 7070) == {False}  # alpha's HTTP port before beta's gRPC-Web one
    assert _outbound(other, 8443) == {True}  # a ServiceEntry's gRPC-Web port
    # Where alpha is out of sight, beta opens 7070.
    assert _outbound(config_of(mesh, "a/narrow", design), 7070) == {True}
    # Each family copy of the listener has its own first opener.
    assert _outbound(other, 6060, on=("0.0.0.0",)) == {True}
    assert _outbound(other, 6060, on=("::",)) == ({False} if design == "duplicate" else set())


@pytest.mark.parametrize("design", design_names())
def test_an_egress_port_reads_its_own_protocol(mesh: Cluster, design: str) -> None:
    client = config_of(mesh, "a/client", design)
    assert _outbound(client, 7070, on=(BIND,)) == {True}
    assert _outbound(client, 8080) == {False}


@pytest.mark.parametrize("design", design_names())
def test_a_pods_grpc_web_port_carries_the_filter(mesh: Cluster, design: str) -> None:
    web = config_of(mesh, "b/web", design)
    assert _inbound(web, 8080) == {True}
    assert _inbound(web, 9090) == {True}
    assert _inbound(config_of(mesh, "b/plain", design), 8080) == {False}
    edge = config_of(mesh, "b/edge", design)
    assert _inbound(edge, 8081) == {True}
    assert _inbound(edge, 8082) == {False}


def test_accounting_is_exact_and_envoy_accepts(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    assert_envoy_accepts_every_proxy(mesh)


@pytest.mark.slow
@pytest.mark.parametrize("proxy", ["a/other", "b/web"])
def test_envoy_takes_the_grpc_web_managers_over_ads(mesh: Cluster, proxy: str) -> None:
    """Over ADS the real Envoy takes a config whose outbound (``a/other``) or inbound (``b/web``)
    connection managers run ``grpc_web``, and goes live."""
    assert_live_over_ads(config_of(mesh, proxy, "additional-addresses"))


def test_a_synthetic_mesh_draws_grpc_web_ports() -> None:
    """``synthetic.protocols.grpc_web``: ports named ``grpc-web-<number>`` from the gRPC pool, served
    as gRPC with the filter, priced exactly."""
    synthetic = build_cluster(
        scenario_from_dict(
            {
                "synthetic": {
                    "namespaces": 2,
                    "services": 12,
                    "families": {"ipv4": 1, "dual_ipv4_primary": 1},
                    "protocols": {"http": 1, "grpc": 1, "grpc_web": 2},
                }
            }
        )
    )
    ports = synthetic.service_ports
    web = ports[ports["istio_protocol"].astype(str) == "GRPC-Web"]
    assert len(web)
    assert set(web["protocol"].astype(str)) == {"GRPC"}
    assert all(name.startswith("grpc-web-") for name in web["name"])
    assert set(web["port"]) <= {9090, 50051, 8081}  # the gRPC pool
    assert_exact_every_design(synthetic)
    first = synthetic.proxies.index[0]
    index = index_for(synthetic)
    config = proxy_config(index, int(first), get_design("single-stack"))
    assert any(
        _web(f) for listener in config.listeners for c in listener.filter_chains if (f := _filters(c)) is not None
    )
