"""Fill every "derive it" default of a checked scenario, so later layers never guess.

Derivations follow Kubernetes and Istio: a Service selects ``app: <name>``; a port's protocol
comes from its name prefix and number (Istio's ``ConvertProtocol`` rules); a workload's sidecar follows its
namespace's injection label; push throttle and connection rate are min(15 + 5·GOMAXPROCS, 100).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dsim.scenario.model import Istiod, Protocol, Scenario, Service, ServicePort, Workload

# Istio's protocol names by port-name prefix (the part before the first '-'), lower-cased.
# TLS, HTTPS and Mongo are served as TCP (the cluster tables' ``istio_protocol`` keeps them); MySQL and
# Redis are TCP outright, their filters being off by default (PILOT_ENABLE_MYSQL_FILTER, _REDIS_FILTER).
_PROTOCOL_BY_PREFIX: dict[str, Protocol] = {
    "http": "HTTP",
    "http2": "HTTP2",
    "grpc": "GRPC",
    "tcp": "TCP",
    "https": "HTTPS",  # served as TCP, with no VirtualService tcp[] route (cluster tables' ``istio_protocol``)
    "tls": "TLS",
    "mongo": "Mongo",  # served as TCP, with Istio's mongo_proxy filter (PILOT_ENABLE_MONGO_FILTER, on by default)
    "mysql": "TCP",
    "redis": "TCP",
    "http_proxy": "HTTP",  # Istio's HTTP_PROXY, served as HTTP (how its listener differs is not modelled)
}
WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
"""SMTP, DNS, MySQL and MongoDB: ports Istio never sniffs, since sniffing breaks protocols where the
server speaks first. A Kubernetes port on one whose name (or ``appProtocol``) names no protocol is
TCP, not detected (``wellKnownPorts`` in ``pkg/config/kube/conversion.go``, Istio 1.30)."""


def _prefix(name: str) -> str:
    return name.lower().split("-", 1)[0]


def names_udp(name: str) -> bool:
    """Whether Istio reads a port name (or ``appProtocol``) as UDP (``protocol.Parse``): a port its
    sidecars proxy on no outbound listener or cluster, which dsim does not model."""
    return _prefix(name) == "udp"


def protocol_from_port_name(name: str, number: int) -> Protocol:
    """The protocol Istio infers for a Kubernetes port from its name (or ``appProtocol``, which it reads
    instead) and number (``ConvertProtocol``); ``auto`` (sniffing) when it infers none."""
    lowered = name.lower()
    if lowered.startswith("grpc-web"):  # before the prefix: "grpc-web-x" is gRPC-Web, "grpc-x" gRPC
        return "GRPC-Web"
    named = _PROTOCOL_BY_PREFIX.get(_prefix(lowered))
    if named is not None:
        return named
    return "TCP" if number in WELL_KNOWN_PORTS else "auto"


def istio_default_concurrency(gomaxprocs: int) -> int:
    """``PILOT_PUSH_THROTTLE`` / ``PILOT_MAX_REQUESTS_PER_SECOND`` default (tuning.go)."""
    return min(15 + 5 * gomaxprocs, 100)


def _port(port: ServicePort) -> ServicePort:
    return dataclasses.replace(
        port,
        target_port=port.target_port or port.port,
        protocol=port.protocol or protocol_from_port_name(port.name, port.port),
    )


def _service(svc: Service) -> Service:
    return dataclasses.replace(
        svc,
        ports=tuple(_port(p) for p in svc.ports),
        # A Service with endpoints written by hand has no selector (the checks refuse both).
        selector=svc.selector if svc.selector is not None or svc.endpoints is not None else {"app": svc.name},
    )


def _workload(wl: Workload, scenario: Scenario) -> Workload:
    injection = {ns.name: ns.sidecar_injection for ns in scenario.namespaces}
    return dataclasses.replace(
        wl,
        labels=wl.labels if wl.labels is not None else {"app": wl.name},
        sidecar=wl.sidecar if wl.sidecar is not None else injection[wl.namespace],
        ip_families=wl.ip_families or scenario.network.pod_ip_families,
    )


def _istiod(istiod: Istiod) -> Istiod:
    default = istio_default_concurrency(istiod.gomaxprocs)
    return dataclasses.replace(
        istiod,
        push_throttle=istiod.push_throttle or default,
        max_requests_per_second=(
            istiod.max_requests_per_second if istiod.max_requests_per_second is not None else float(default)
        ),
    )


def resolve(scenario: Scenario, *, default_name: str, all_designs: Sequence[str]) -> Scenario:
    """A copy of a checked ``scenario`` with every derivable default filled in."""
    return dataclasses.replace(
        scenario,
        name=scenario.name or default_name,
        designs=scenario.designs or tuple(all_designs),
        services=tuple(_service(s) for s in scenario.services),
        workloads=tuple(_workload(w, scenario) for w in scenario.workloads),
        istiod=_istiod(scenario.istiod),
    )
