"""ServiceEntry: services outside the registry, validated as Istio validates them.

Rules follow ``ValidateServiceEntry`` and ``validateWorkloadEntry`` in Istio's
``pkg/config/validation/validation.go`` and the CEL rules of the ServiceEntry CRD
(``manifests/charts/base/files/crd-all.gen.yaml``), whose list bounds are kept here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from dsim.errors import ScenarioError, quote
from dsim.scenario.convert import MaxLength, join
from dsim.scenario.istio.common import (
    Checks,
    ExportTo,
    Labels,
    Many,
    NamedObject,
    PortNumber,
    UInt32,
    WorkloadSelector,
    parse_named,
)
from dsim.scenario.istio.reader import MaxItems, Parsed, Rule
from dsim.scenario.istio.rules import (
    HTTP_PROTOCOLS,
    TLS_PROTOCOLS,
    UNIX_PREFIX,
    canonical_protocol,
    fqdn_problem,
    ip_or_cidr_problem,
    is_ip,
    label_problem,
    protocol_problem,
    wildcard_domain_problem,
)

KIND = "ServiceEntry"
Resolution = Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"]
RESOLUTIONS: tuple[Resolution, ...] = ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN")
Location = Literal["MESH_EXTERNAL", "MESH_INTERNAL"]
_CRD = "the CRD's maxItems"


def _port_name_problem(name: str) -> str | None:
    """``ValidatePortName``."""
    return label_problem(name, "port name")


def _host_problem(host: str) -> str | None:
    """A ServiceEntry host: never the bare wildcard, else ``agent.ValidateWildcardDomain``."""
    return "'*' is not a valid ServiceEntry host" if host == "*" else wildcard_domain_problem(host)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServicePort:
    """One port of the ServiceEntry."""

    number: PortNumber
    """The port clients connect to."""
    name: Annotated[str, MaxLength(256), Rule(_port_name_problem)]
    """Port name (endpoints' ``ports`` refer to it)."""
    protocol: Annotated[str, MaxLength(256), Rule(protocol_problem)] = ""
    """HTTP, HTTPS, GRPC, HTTP2, TCP, TLS, ... (any case); empty means sniffed."""
    target_port: PortNumber | None = None
    """The endpoints' port; defaults to ``number``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkloadEntry:
    """An endpoint of the ServiceEntry."""

    address: Annotated[str, MaxLength(256)] = ""
    """An IP (STATIC, DNS), a hostname (DNS) or ``unix://<path>``."""
    ports: Annotated[dict[Annotated[str, Rule(_port_name_problem)], PortNumber], MaxItems(128, "the CRD's bound")] = (
        dataclasses.field(default_factory=dict)
    )
    """Port overrides by the ServiceEntry's port names."""
    labels: Annotated[Labels, MaxItems(256, "the CRD's maxProperties")] = dataclasses.field(default_factory=dict)
    """Endpoint labels (DestinationRule subsets select them)."""
    network: Annotated[str, MaxLength(2048)] = ""
    """Network it sits on (multi-network meshes)."""
    locality: Annotated[str, MaxLength(2048)] = ""
    """``region/zone/subzone``."""
    weight: UInt32 = 0
    """Load-balancing weight (0: the default)."""
    service_account: Annotated[str, MaxLength(253)] = ""
    """The endpoint's Kubernetes service account, in the entry's namespace: an identity its clients'
    mTLS checks, and ``tlsMode: istio`` where no ``security.istio.io/tlsMode`` label says otherwise."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceEntrySpec:
    """``ServiceEntry.spec``."""

    hosts: Annotated[tuple[Annotated[str, Rule(_host_problem)], ...], MaxItems(256, _CRD)]
    """Hosts it adds to the registry (at least one)."""
    addresses: Annotated[tuple[Annotated[str, MaxLength(64), Rule(ip_or_cidr_problem)], ...], MaxItems(256, _CRD)] = ()
    """Virtual IPs or CIDRs of either family."""
    ports: Annotated[tuple[ServicePort, ...], MaxItems(256, _CRD)] = ()
    """Its ports."""
    location: Location = "MESH_EXTERNAL"
    """Whether it is outside the mesh (no mTLS) or inside."""
    resolution: Resolution = "NONE"
    """How endpoints are found: NONE (the original destination), STATIC (``endpoints``), DNS, DNS_ROUND_ROBIN."""
    endpoints: Annotated[tuple[WorkloadEntry, ...], MaxItems(4096, _CRD)] = ()
    """Endpoints (STATIC, DNS)."""
    workload_selector: WorkloadSelector | None = None
    """Pods or WorkloadEntries that are its endpoints (instead of ``endpoints``)."""
    export_to: ExportTo = ()
    """Namespaces that see it (``~``: none but its own endpoints)."""
    subject_alt_names: Many[str] = ()
    """Identities its endpoints' certificates must carry."""

    @property
    def passthrough_target_ports(self) -> dict[int, int]:
        """A ``NONE`` entry's ports that set a ``targetPort``, by number: where an original-destination
        cluster of the port sends in place of the port connected to (``PassthroughTargetPorts``, set
        by ``convertServices`` whenever ``targetPort`` is set, even to the number); none for any other
        resolution."""
        if self.resolution != "NONE":
            return {}
        return {p.number: p.target_port for p in self.ports if p.target_port}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceEntry(NamedObject[ServiceEntrySpec]):
    """A ServiceEntry: its place and its spec."""

    headless: bool = False
    """This is no ServiceEntry but a headless Kubernetes Service (``clusterIP: None``), as istiod's
    registry holds it: a ``NONE`` host at ``0.0.0.0`` of the Kubernetes registry
    (:func:`dsim.cluster.headless.headless_entries`, docs/istio-objects.md 3.11), named as the Service."""
    slice_families: tuple[str, ...] = ()
    """A headless Service's ``ipFamilies``: its EndpointSlices are of these families alone, so its
    endpoints hold its pods' addresses of these families."""

    KIND: ClassVar[str] = KIND

    @property
    def passthrough_target_ports(self) -> dict[int, int]:
        """The spec's :attr:`~ServiceEntrySpec.passthrough_target_ports`; none for a headless Service,
        whose ``targetPort`` Istio never keeps (``convertPort``)."""
        return {} if self.headless else self.spec.passthrough_target_ports


def parse_service_entry(raw: Any, *, source: str = "<scenario>", path: str = "") -> Parsed[ServiceEntry]:
    """A pasted ServiceEntry, validated; raises :class:`~dsim.errors.ScenarioError` at the first problem."""
    spec_raw = raw.get("spec") if isinstance(raw, Mapping) else None
    resolution = spec_raw.get("resolution") if isinstance(spec_raw, Mapping) else None
    if isinstance(resolution, str) and resolution == "DYNAMIC_DNS":
        where = join(join(path, "spec"), "resolution")
        raise ScenarioError(
            source, where, "'DYNAMIC_DNS' is a resolution dsim does not model yet (NONE, STATIC, DNS, DNS_ROUND_ROBIN)"
        )
    return parse_named(ServiceEntry, ServiceEntrySpec, _ServiceEntryChecks, raw, source=source, path=path)


class _ServiceEntryChecks(Checks):
    def run(self, path: str, spec: ServiceEntrySpec) -> None:
        if spec.workload_selector is not None and spec.endpoints:
            self.fail(join(path, "endpoints"), "only one of workloadSelector or endpoints can be set")
        if not spec.hosts:
            self.fail(join(path, "hosts"), "a ServiceEntry needs at least one host")
        self.addresses(join(path, "addresses"), spec)
        port_names = self.ports(join(path, "ports"), spec.ports)
        self.by_resolution(path, spec, port_names)
        self.hosts_per_protocol(path, spec)
        self.export_to(join(path, "exportTo"), spec.export_to, service=True)

    def addresses(self, path: str, spec: ServiceEntrySpec) -> None:
        for i, address in enumerate(spec.addresses):
            if "/" in address and spec.resolution not in ("NONE", "STATIC"):
                self.fail(
                    join(path, i), f"{quote(address)}: CIDR addresses are allowed only for NONE and STATIC resolution"
                )

    def ports(self, path: str, ports: Sequence[ServicePort]) -> set[str]:
        names: dict[str, int] = {}
        numbers: dict[int, int] = {}
        for i, port in enumerate(ports):
            if port.name in names:
                self.fail(
                    join(join(path, i), "name"), f"port name {port.name!r} is already ports[{names[port.name]}]'s"
                )
            if port.number in numbers:
                self.fail(
                    join(join(path, i), "number"), f"port {port.number} is already ports[{numbers[port.number]}]'s"
                )
            names[port.name] = i
            numbers[port.number] = i
        return set(names)

    def by_resolution(self, path: str, spec: ServiceEntrySpec, port_names: set[str]) -> None:
        endpoints_path = join(path, "endpoints")
        if spec.resolution == "NONE" and spec.endpoints:
            self.fail(endpoints_path, "a ServiceEntry with resolution NONE cannot have endpoints")
        if spec.resolution == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
            self.fail(endpoints_path, f"DNS_ROUND_ROBIN allows at most 1 endpoint (got {len(spec.endpoints)})")
        if spec.resolution in ("DNS", "DNS_ROUND_ROBIN") and not spec.endpoints:
            for i, host in enumerate(spec.hosts):
                problem = fqdn_problem(host)
                if problem:
                    self.fail(
                        join(join(path, "hosts"), i),
                        f"{problem}; with {spec.resolution} resolution and no endpoints, hosts must be FQDNs",
                    )
        for i, endpoint in enumerate(spec.endpoints):
            self.endpoint(join(endpoints_path, i), endpoint, spec, port_names)

    def endpoint(self, path: str, endpoint: WorkloadEntry, spec: ServiceEntrySpec, port_names: set[str]) -> None:
        """``validateWorkloadEntry`` (STATIC: IPs or UDS) and the DNS case (IPs or hostnames)."""
        address = endpoint.address
        if not address and not endpoint.network:
            self.fail(join(path, "address"), "an endpoint needs an address")
        if spec.resolution == "STATIC" and address.startswith(UNIX_PREFIX):
            self.unix_endpoint(path, endpoint, spec)
        elif address and not is_ip(address):
            if spec.resolution == "STATIC":
                self.fail(join(path, "address"), f"{quote(address)} is not an IP address (STATIC resolution)")
            if fqdn_problem(address):
                self.fail(join(path, "address"), f"{quote(address)} is not a valid FQDN or IP address")
        for name in endpoint.ports:
            if name not in port_names:
                where = join(join(path, "ports"), name)
                self.fail(
                    where, f"{quote(name)} is not a port name of this ServiceEntry ({', '.join(sorted(port_names))})"
                )

    def unix_endpoint(self, path: str, endpoint: WorkloadEntry, spec: ServiceEntrySpec) -> None:
        socket = endpoint.address.removeprefix(UNIX_PREFIX)
        if not socket.startswith(("/", "@")) or socket.endswith("/"):
            self.fail(join(path, "address"), f"{quote(endpoint.address)}: a socket must be an absolute file path")
        if endpoint.ports:
            self.fail(join(path, "ports"), "a unix socket endpoint must not have ports")
        if len(spec.ports) != 1:
            self.fail(join(path, "address"), "a unix socket endpoint needs exactly 1 ServiceEntry port")

    def hosts_per_protocol(self, path: str, spec: ServiceEntrySpec) -> None:
        """Several hosts share a port only if HTTP (Host header) or TLS (SNI) tells them apart, unless NONE."""
        if spec.resolution == "NONE" or len(spec.hosts) < 2:
            return
        for i, port in enumerate(spec.ports):
            protocol = canonical_protocol(port.protocol)
            if protocol not in HTTP_PROTOCOLS and protocol not in TLS_PROTOCOLS:
                self.fail(
                    join(join(join(path, "ports"), i), "protocol"),
                    f"{quote(port.protocol or '(sniffed)')}: a ServiceEntry with several hosts and "
                    f"{spec.resolution} resolution needs HTTP or TLS ports to tell them apart",
                )
