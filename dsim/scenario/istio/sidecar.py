"""Sidecar: what each proxy sees and listens on, validated as Istio validates it.

Rules follow ``ValidateSidecar``, ``validateSidecarEgressPortBindAndCaptureMode``,
``validateSidecarIngressPortAndBind`` and ``validateSidecarOutboundTrafficPolicy`` in Istio's
``pkg/config/validation/validation.go``, and ``agent.ValidateNamespaceSlashWildcardHostname``
for egress hosts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from dsim.errors import quote
from dsim.scenario.convert import AtLeast, AtMost, join
from dsim.scenario.istio.common import NOT_MODELLED, Checks, Many, NamedObject, WorkloadSelector, parse_named
from dsim.scenario.istio.destination_rule import ConnectionPoolSettings, pool_problem
from dsim.scenario.istio.reader import Parsed, Rule
from dsim.scenario.istio.rules import (
    UNIX_PREFIX,
    default_endpoint_problem,
    ip_problem,
    label_problem,
    port_problem,
    protocol_problem,
    sidecar_host_problem,
    unix_address_problem,
)

KIND = "Sidecar"
CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]
OutboundMode = Literal["REGISTRY_ONLY", "ALLOW_ANY"]


def _port_name_problem(name: str) -> str | None:
    return label_problem(name, "port name") if name else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class SidecarPort:
    """A Sidecar listener's port."""

    number: Annotated[int, AtLeast(0), AtMost(2**32 - 1)] = 0
    """Port number; 0 on an egress listener bound to a unix socket."""
    protocol: Annotated[str, Rule(protocol_problem)] = ""
    """HTTP, TCP, ... (any case); empty means sniffed."""
    name: Annotated[str, Rule(_port_name_problem)] = ""
    """Port name."""
    target_port: Annotated[int, AtLeast(0), AtMost(2**32 - 1)] = 0
    """Refused when set: Istio says it has no effect on Sidecars."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class IstioIngressListener:
    """An inbound listener of the workload."""

    port: SidecarPort
    """The port it receives on."""
    bind: str = ""
    """IP it binds to."""
    capture_mode: CaptureMode = "DEFAULT"
    """How traffic reaches it."""
    default_endpoint: Annotated[str, Rule(default_endpoint_problem)] = ""
    """Where it forwards (``127.0.0.1:<port>``, ``unix://<path>``, ...)."""
    connection_pool: ConnectionPoolSettings | None = None
    """Its inbound cluster's connection pool, in place of the Sidecar's ``inboundConnectionPool``
    and of any DestinationRule's (Istio 1.21 and later)."""

    IGNORED: ClassVar[Mapping[str, str]] = {"tls": "TLS termination on an inbound listener; " + NOT_MODELLED}


@dataclasses.dataclass(frozen=True, kw_only=True)
class IstioEgressListener:
    """An outbound listener and the hosts the workload sees through it."""

    port: SidecarPort | None = None
    """Its port; absent, the catch-all listener (it must come last)."""
    bind: str = ""
    """IP or ``unix://`` socket it binds to."""
    capture_mode: CaptureMode = "DEFAULT"
    """How traffic reaches it."""
    hosts: Many[Annotated[str, Rule(sidecar_host_problem)]] = ()
    """Hosts the workload sees, as ``<namespace>/<dnsName>`` (``./*``, ``*/*``, ``~/*``, ``ns/*.example.com``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutboundTrafficPolicy:
    """Where traffic to unknown hosts goes."""

    mode: OutboundMode = "REGISTRY_ONLY"
    """ALLOW_ANY (passthrough) or REGISTRY_ONLY (blackhole). A policy without a mode is
    REGISTRY_ONLY: the API's enum default (``OutboundTrafficPolicy.Mode`` 0), which Istio applies
    whenever a Sidecar sets the policy (``SidecarScope.OutboundTrafficPolicy``)."""

    IGNORED: ClassVar[Mapping[str, str]] = {"egressProxy": "an egress proxy for unknown hosts; " + NOT_MODELLED}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SidecarSpec:
    """``Sidecar.spec``."""

    workload_selector: WorkloadSelector | None = None
    """Workloads it applies to; absent, the whole namespace (the root namespace's: the mesh)."""
    ingress: Many[IstioIngressListener] = ()
    """Inbound listeners."""
    egress: Many[IstioEgressListener] = ()
    """Outbound listeners and visible hosts."""
    outbound_traffic_policy: OutboundTrafficPolicy | None = None
    """Overrides the mesh's outbound traffic policy."""
    inbound_connection_pool: ConnectionPoolSettings | None = None
    """Every inbound cluster's connection pool, in place of a DestinationRule's (Istio 1.21 and later)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sidecar(NamedObject[SidecarSpec]):
    """A Sidecar: its place and its spec."""

    KIND: ClassVar[str] = KIND


def parse_sidecar(raw: Any, *, source: str = "<scenario>", path: str = "") -> Parsed[Sidecar]:
    """A pasted Sidecar, validated; raises :class:`~dsim.errors.ScenarioError` at the first problem."""
    return parse_named(Sidecar, SidecarSpec, _SidecarChecks, raw, source=source, path=path)


class _SidecarChecks(Checks):
    def run(self, path: str, spec: SidecarSpec) -> None:
        empty = not spec.egress and not spec.ingress and spec.outbound_traffic_policy is None
        if empty and spec.inbound_connection_pool is None:
            self.fail(path, "an empty Sidecar (no egress, ingress, outboundTrafficPolicy or inboundConnectionPool)")
        self.check(join(path, "inboundConnectionPool"), pool_problem(spec.inbound_connection_pool))
        self.ingress(join(path, "ingress"), spec.ingress)
        self.egress(join(path, "egress"), spec.egress)

    def ingress(self, path: str, listeners: Sequence[IstioIngressListener]) -> None:
        numbers: dict[int, int] = {}
        for i, listener in enumerate(listeners):
            where = join(path, i)
            self.target_port(join(where, "port"), listener.port)
            self.check(join(join(where, "port"), "number"), port_problem(listener.port.number))
            if listener.bind:
                self.check(join(where, "bind"), ip_problem(listener.bind))
            self.check(join(where, "connectionPool"), pool_problem(listener.connection_pool))
            self.unique_port(join(join(where, "port"), "number"), listener.port.number, numbers, i)

    def egress(self, path: str, listeners: Sequence[IstioEgressListener]) -> None:
        numbers: dict[int, int] = {}
        sockets: dict[str, int] = {}
        for i, listener in enumerate(listeners):
            where = join(path, i)
            if listener.port is None:
                if i != len(listeners) - 1:
                    self.fail(where, "the egress listener without a port (the catch-all) must be the last one")
            else:
                self.egress_port(where, listener)
                if listener.port.number:
                    self.unique_port(join(join(where, "port"), "number"), listener.port.number, numbers, i)
                elif listener.bind in sockets:
                    self.fail(
                        join(where, "bind"), f"{quote(listener.bind)} is already egress[{sockets[listener.bind]}]'s"
                    )
                sockets.setdefault(listener.bind, i)
            if not listener.hosts:
                self.fail(join(where, "hosts"), "an egress listener needs at least one host")

    def egress_port(self, path: str, listener: IstioEgressListener) -> None:
        """``validateSidecarEgressPortBindAndCaptureMode``: port 0 means a unix socket listener."""
        assert listener.port is not None
        self.target_port(join(path, "port"), listener.port)
        if listener.port.number == 0:
            if not listener.bind.startswith(UNIX_PREFIX):
                self.fail(join(path, "bind"), "a listener on port 0 must bind a unix socket (unix://<path>)")
            self.check(join(path, "bind"), unix_address_problem(listener.bind.removeprefix(UNIX_PREFIX)))
            if listener.capture_mode not in ("DEFAULT", "NONE"):
                self.fail(join(path, "captureMode"), "must be DEFAULT or NONE for a unix socket listener")
            return
        self.check(join(join(path, "port"), "number"), port_problem(listener.port.number))
        if listener.bind:
            self.check(join(path, "bind"), ip_problem(listener.bind))

    def target_port(self, path: str, port: SidecarPort) -> None:
        if port.target_port:
            self.fail(join(path, "targetPort"), "has no effect on Sidecars; leave it out")

    def unique_port(self, path: str, number: int, seen: dict[int, int], index: int) -> None:
        if number in seen:
            self.fail(path, f"port {number} is already used by listener [{seen[number]}]; ports must be unique")
        seen[number] = index
