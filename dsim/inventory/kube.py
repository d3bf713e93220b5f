"""What dsim reads from each Kubernetes object of an inventory, checked where it is read.

One reader per kind turns the object as ``kubectl`` printed it into a small record of the fields
that change Istio's config (``real-mesh-inputs`` in the project's docs: ``docs/import.md``). A
field that is malformed — a Service without ports, an EndpointSlice of an unknown address type, an
address that is not one — is an :class:`~dsim.errors.InventoryError` naming the file, the item, the
object and the field. Objects that are well formed but outside what dsim models come back as a
:class:`Skip` with the reason, which the importer counts by kind.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from dsim.errors import InventoryError, quote
from dsim.inventory.read import KubeObject
from dsim.inventory.traffic_distribution import ANNOTATION
from dsim.scenario.model import Protocol
from dsim.scenario.resolve import names_udp, protocol_from_port_name

SIDECAR_CONTAINER = "istio-proxy"
"""The container istio's injector adds (as a native sidecar it is an init container)."""
INJECT = "sidecar.istio.io/inject"
"""Istio's per-pod injection switch (a label since 1.10, an annotation before; the label wins)."""
EXPORT_TO = "networking.istio.io/exportTo"
"""The annotation that limits where a Service is visible (Istio's exportTo for Services)."""
TRAFFIC_DISTRIBUTION = ANNOTATION
"""Istio's annotation for a Service's traffic distribution (on the Service, or its namespace's default)."""
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""
MCS_SERVICE_NAME_LABEL = "multicluster.kubernetes.io/service-name"
"""The label of a multi-cluster services (MCS) slice, which istiod's slice informer leaves out
(``endpointSliceSelector``)."""
# Pod labels Kubernetes sets per pod or per rollout: they would split one workload into many and no
# Istio object selects by them.
VOLATILE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "pod-template-generation",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "job-name",
    }
)
# appProtocol values Kubernetes defines itself (KEP-3726), and what Istio makes of them.
_KUBERNETES_APP_PROTOCOLS: dict[str, Protocol] = {
    "kubernetes.io/h2c": "HTTP2",
    "kubernetes.io/ws": "HTTP",
    "kubernetes.io/wss": "HTTPS",
}
FAMILIES = {4: "IPv4", 6: "IPv6"}


class Skip(NamedTuple):
    """An object (or part of one) dsim leaves out, and why; counted by kind, never silent."""

    kind: str
    reason: str


class Field:
    """Reads an object's fields by path, failing with the object's origin and the field's path."""

    def __init__(self, obj: KubeObject) -> None:
        self.obj = obj
        body = obj.body if isinstance(obj.body, dict) else {}
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        self.name = str(meta.get("name", "")) if meta else ""
        self.namespace = str(meta.get("namespace", "")) if meta else ""
        self.kind = obj.kind

    def fail(self, path: str, message: str) -> InventoryError:
        who = f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"
        return InventoryError(self.obj.origin, f"{who}: {path}" if path else who, message)

    def get(self, path: str, default: Any = None, *, expect: type | None = None) -> Any:
        value: Any = self.obj.body
        for part in path.split("."):
            if not isinstance(value, dict) or value.get(part) is None:
                return default
            value = value[part]
        return value if expect is None else self.typed(path, value, expect)

    def typed(self, path: str, value: Any, expect: type) -> Any:
        """``value``, read at ``path`` inside an item of a list: None where absent, else of type
        ``expect`` (a wrong type is refused, never read as absent)."""
        if value is None or (isinstance(value, expect) and not (isinstance(value, bool) and expect is not bool)):
            return value
        raise self.fail(path, f"expected {_article(expect.__name__)} (got {quote(value)})")

    def mapping(self, path: str) -> dict[str, str]:
        """A string map (labels, annotations, selector); an absent one is empty."""
        value = self.get(path, {}, expect=dict)
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise self.fail(f"{path}.{key}", f"expected a string (got {quote(item)})")
        return dict(value)

    def items(self, path: str) -> list[Any]:
        return list(self.get(path, [], expect=list))


NEVER = datetime.datetime.min.replace(tzinfo=datetime.UTC)
"""The creation time of an object that gives none (Go's zero time, which sorts first)."""


def creation_time(f: Field) -> datetime.datetime:
    """The object's ``metadata.creationTimestamp`` (RFC 3339; YAML may have read it as a time
    already), :data:`NEVER` where it has none. Istio orders the objects of a kind by it."""
    value = f.get("metadata.creationTimestamp")
    if value is None:
        return NEVER
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime.datetime):
        raise f.fail("metadata.creationTimestamp", "expected an RFC 3339 time such as '2026-01-01T00:00:00Z'")
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def ip_family(field: Field, path: str, text: Any, expected: str | None = None) -> tuple[str, str]:
    """(the address in canonical text, its family), checked against ``expected`` when given."""
    if not isinstance(text, str):
        raise field.fail(path, f"expected an IP address (got {quote(text)})")
    if _CANONICAL_IPV4.match(text):
        canonical, family = text, "IPv4"  # already canonical: most addresses of most clusters
    else:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise field.fail(path, f"{quote(text)} is not an IP address") from None
        canonical, family = str(ip), FAMILIES[ip.version]
    if expected is not None and family != expected:
        raise field.fail(path, f"{quote(text)} is {family}, but the object's addresses are {expected}")
    return canonical, family


# A dotted quad in canonical form: four numbers from 0 to 255, no leading zeros.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")

# Namespaces


@dataclasses.dataclass(frozen=True)
class NamespaceRecord:
    name: str
    injection: bool | None
    """Whether new pods get a sidecar: ``istio-injection=enabled`` or an ``istio.io/rev`` label; None: no label."""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    """Its labels (``meshConfig.discoverySelectors`` match them)."""
    traffic_annotation: object = None
    """Its ``networking.istio.io/traffic-distribution`` annotation, as written (its Services' default)."""


def read_namespace(obj: KubeObject) -> NamespaceRecord:
    f = Field(obj)
    labels = f.mapping("metadata.labels")
    injection: bool | None = None
    if labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels:
        injection = True
    elif labels.get("istio-injection") == "disabled":
        injection = False
    return NamespaceRecord(f.name, injection, labels, f.mapping("metadata.annotations").get(TRAFFIC_DISTRIBUTION))


# Services


@dataclasses.dataclass(frozen=True)
class PortRecord:
    port: int
    name: str
    target_port: int | str
    """The container port, by number or by the name of a container port."""
    protocol: Protocol | None
    """From ``appProtocol`` (Istio prefers it to the name); None: the name decides."""


@dataclasses.dataclass(frozen=True)
class ServiceRecord:
    origin: str
    namespace: str
    name: str
    ip_families: tuple[str, ...]
    cluster_ips: tuple[str, ...]
    ports: tuple[PortRecord, ...]
    selector: dict[str, str] | None
    """None: no selector (its endpoints are written by hand, not chosen from pods)."""
    export_to: str | None
    """The ``networking.istio.io/exportTo`` annotation's text."""
    skipped_ports: tuple[str, ...]
    """Why each port left out was left out, as the import's skip reason (UDP ports, and ones Istio reads
    as UDP by their name or ``appProtocol``)."""
    traffic_distribution: object = None
    """Its ``spec.trafficDistribution``, as written."""
    traffic_annotation: object = None
    """Its ``networking.istio.io/traffic-distribution`` annotation, as written."""
    publish_not_ready: bool = False
    """Its ``spec.publishNotReadyAddresses``."""
    node_local: bool = False
    """Its ``spec.internalTrafficPolicy`` is ``Local``."""
    headless: bool = False
    """Its ``spec.clusterIP`` is ``None`` (no cluster IPs; ``ip_families`` as declared)."""


def app_protocol(value: str, number: int) -> Protocol:
    """What Istio makes of a port's ``appProtocol`` (it is read instead of the port's name; Kubernetes'
    own values only as written, ``ConvertProtocol`` compares them case-sensitively)."""
    return _KUBERNETES_APP_PROTOCOLS.get(value) or protocol_from_port_name(value, number)


class AliasRecord(NamedTuple):
    """An ExternalName Service: to Istio 1.30 an alias of the host it names (``Resolution: Alias``),
    given no listener or cluster of its own (``ConvertService``)."""

    namespace: str
    name: str
    target: str
    """Its ``spec.externalName``."""
    origin: str
    """Where it was read (an error in the scenario names it)."""
    ports: int = 0
    """How many ports it declares (dsim keeps none: counted as left out)."""


UDP_LEFT_OUT = (
    "(Istio builds it no outbound listener or cluster; the inbound TCP chains and cluster it still builds "
    "on the pods are not modelled)"
)


EXTERNAL_NAME_PORT = (
    "of an ExternalName Service (dsim keeps none: Istio looks a VirtualService's hosts and route destinations "
    "up among the services with the listener's port, an alias with that port among them; docs/istio-objects.md 3.13)"
)


def read_service(obj: KubeObject) -> ServiceRecord | AliasRecord | Skip:
    f = Field(obj)
    kind = f.get("spec.type", "ClusterIP", expect=str)
    if kind == "ExternalName":
        external = f.get("spec.externalName", "", expect=str)
        return AliasRecord(f.namespace, f.name, external, obj.origin, len(f.items("spec.ports")))
    headless = f.get("spec.clusterIP") == "None"
    if not f.items("spec.ports"):
        if headless:  # Istio builds no listener or cluster of a Service without ports
            return Skip("Service", "headless without ports (Istio builds it nothing; its pods' own names are DNS)")
        raise f.fail("spec.ports", "missing or empty (every Service but a headless or ExternalName one has ports)")
    ports, skipped = _service_ports(f)
    if not ports:
        return Skip("Service", f"only UDP ports, or ones Istio reads as UDP {UDP_LEFT_OUT}")
    # A headless Service's families are its slices' (its pods'); istiod never reads its clusterIPs.
    families, cluster_ips = (_declared_families(f) or ("IPv4",), ()) if headless else _service_addresses(f)
    selector = f.mapping("spec.selector") or None
    annotations = f.mapping("metadata.annotations")
    return ServiceRecord(
        obj.origin,
        f.namespace,
        f.name,
        families,
        cluster_ips,
        ports,
        selector,
        annotations.get(EXPORT_TO),
        skipped,
        traffic_distribution=f.get("spec.trafficDistribution"),
        traffic_annotation=annotations.get(TRAFFIC_DISTRIBUTION),
        publish_not_ready=f.get("spec.publishNotReadyAddresses", False, expect=bool),
        node_local=f.get("spec.internalTrafficPolicy", expect=str) == "Local",
        headless=headless,
    )


def _service_ports(f: Field) -> tuple[tuple[PortRecord, ...], tuple[str, ...]]:
    ports: list[PortRecord] = []
    skipped: list[str] = []
    for k, raw in enumerate(f.items("spec.ports")):
        path = f"spec.ports[{k}]"
        if not isinstance(raw, dict):
            raise f.fail(path, f"expected a port (got {quote(raw)})")
        number = raw.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise f.fail(f"{path}.port", f"expected a port number from 1 to 65535 (got {quote(number)})")
        transport = raw.get("protocol", "TCP")
        if transport not in ("TCP", "UDP", "SCTP"):
            raise f.fail(f"{path}.protocol", f"expected TCP, UDP or SCTP (got {quote(transport)})")
        if transport == "UDP":
            skipped.append(f"UDP {UDP_LEFT_OUT}")
            continue
        # An SCTP port is read by its name as a TCP one is (ConvertProtocol singles out UDP alone).
        name = raw.get("name", "")
        if not isinstance(name, str):
            raise f.fail(f"{path}.name", f"expected a string (got {quote(name)})")
        target = raw.get("targetPort", number)
        if not isinstance(target, int | str) or isinstance(target, bool) or target == "":
            raise f.fail(f"{path}.targetPort", f"expected a port number or name (got {quote(target)})")
        if isinstance(target, int) and not 1 <= target <= 65535:
            raise f.fail(f"{path}.targetPort", f"expected a port number from 1 to 65535 (got {target})")
        declared = f.typed(f"{path}.appProtocol", raw.get("appProtocol"), str)
        read = declared or None
        if names_udp(name if read is None else read):
            skipped.append(f"{transport}, UDP by its {'name' if read is None else 'appProtocol'} {UDP_LEFT_OUT}")
            continue
        protocol = app_protocol(read, number) if read is not None else None
        ports.append(PortRecord(number, name, target, protocol))
    return tuple(ports), tuple(skipped)


def _service_addresses(f: Field) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ipFamilies, ClusterIPs in that order); families follow the addresses when the object omits them."""
    texts = f.items("spec.clusterIPs") or ([f.get("spec.clusterIP")] if f.get("spec.clusterIP") else [])
    ips = [ip_family(f, f"spec.clusterIPs[{k}]", text) for k, text in enumerate(texts)]
    families = _declared_families(f) or tuple(family for _, family in ips) or ("IPv4",)
    for k, (ip, family) in enumerate(ips):
        if k >= len(families) or families[k] != family:
            raise f.fail(f"spec.clusterIPs[{k}]", f"{ip} is {family}, but spec.ipFamilies is {list(families)}")
    return families, tuple(ip for ip, _ in ips)


def _declared_families(f: Field) -> tuple[str, ...]:
    """``spec.ipFamilies``, checked (each IPv4 or IPv6, none twice); empty where it says none."""
    declared = tuple(f.items("spec.ipFamilies"))
    for k, family in enumerate(declared):
        if family not in ("IPv4", "IPv6"):
            raise f.fail(f"spec.ipFamilies[{k}]", f"{quote(family)} is not IPv4 or IPv6")
    if len(set(declared)) != len(declared):
        raise f.fail("spec.ipFamilies", f"lists a family twice ({', '.join(declared)})")
    return declared


# Endpoints


@dataclasses.dataclass(frozen=True)
class EndpointRecord:
    """One address of a Service's endpoints, from an EndpointSlice or a legacy Endpoints object."""

    namespace: str
    service: str
    address: str
    family: str
    ready: bool
    pod: str | None
    """The Pod behind it (``targetRef``), if any."""
    terminating: bool = False
    """Its ``conditions.terminating`` (a legacy Endpoints object does not say)."""
    terminating_unset: bool = False
    """Its conditions leave ``terminating`` out (a legacy Endpoints object's always do): istiod reads
    an unready endpoint whose slice says nothing of it as terminating (``endpointHealthStatus``)."""
    ports: tuple[tuple[str, int], ...] = ()
    """A legacy Endpoints object's: its subset's ports by name (the slice Kubernetes mirrors it into has them)."""


@dataclasses.dataclass(frozen=True)
class SliceRecord:
    """An EndpointSlice's endpoints, and its ports by name (they resolve a Service's named targetPort)."""

    namespace: str
    service: str
    endpoints: tuple[EndpointRecord, ...]
    ports: tuple[tuple[str, int], ...]


def read_endpoint_slice(obj: KubeObject) -> SliceRecord | Skip:
    f = Field(obj)
    address_type = f.get("addressType")
    if address_type == "FQDN":
        return Skip("EndpointSlice", "addressType FQDN (deprecated by Kubernetes; no IP to model)")
    if address_type not in ("IPv4", "IPv6"):
        raise f.fail("addressType", f"{quote(address_type)} is not IPv4, IPv6 or FQDN")
    labels = f.mapping("metadata.labels")
    if MCS_SERVICE_NAME_LABEL in labels:
        return Skip("EndpointSlice", f"a multi-cluster one ({MCS_SERVICE_NAME_LABEL}), which istiod ignores")
    service = labels.get(SERVICE_NAME_LABEL)
    if not service:
        return Skip("EndpointSlice", f"no {SERVICE_NAME_LABEL} label (not a Service's endpoints)")
    out = []
    for k, endpoint in enumerate(f.items("endpoints")):
        path = f"endpoints[{k}]"
        if (
            not isinstance(endpoint, dict)
            or not isinstance(endpoint.get("addresses"), list)
            or not endpoint["addresses"]
        ):
            raise f.fail(f"{path}.addresses", "expected a list of addresses")
        conditions = f.typed(f"{path}.conditions", endpoint.get("conditions"), dict) or {}
        # An unset condition means ready (discovery.k8s.io/v1).
        ready = f.typed(f"{path}.conditions.ready", conditions.get("ready"), bool) is not False
        said = f.typed(f"{path}.conditions.terminating", conditions.get("terminating"), bool)
        pod = _pod_ref(f, f"{path}.targetRef", endpoint.get("targetRef"))
        # istiod makes an endpoint of every address (Kubernetes' own controllers write one).
        for a, text in enumerate(endpoint["addresses"]):
            address, family = ip_family(f, f"{path}.addresses[{a}]", text, address_type)
            out.append(EndpointRecord(f.namespace, service, address, family, ready, pod, said is True, said is None))
    return SliceRecord(f.namespace, service, tuple(out), _ports(f, "ports", f.items("ports")))


def _ports(f: Field, path: str, items: Any) -> tuple[tuple[str, int], ...]:
    """An EndpointSlice's (or a legacy Endpoints subset's) ports by name and number; one without a
    number is left out (istiod gives it port 0: a Service port it names has no port here, which the
    import of a Service without a selector leaves out)."""
    ports = []
    for k, port in enumerate(items):
        if not isinstance(port, dict):
            raise f.fail(f"{path}[{k}]", f"expected a port (got {quote(port)})")
        number = f.typed(f"{path}[{k}].port", port.get("port"), int)
        if number is not None:
            ports.append((str(f.typed(f"{path}[{k}].name", port.get("name"), str) or ""), number))
    return tuple(ports)


def read_endpoints(obj: KubeObject) -> list[EndpointRecord]:
    """A legacy ``Endpoints`` object (captures from before EndpointSlices, or ``kubectl get endpoints``)."""
    f = Field(obj)
    out = []
    for s, subset in enumerate(f.items("subsets")):
        if not isinstance(subset, dict):
            raise f.fail(f"subsets[{s}]", f"expected a subset (got {quote(subset)})")
        ports = _ports(f, f"subsets[{s}].ports", f.typed(f"subsets[{s}].ports", subset.get("ports"), list) or [])
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for k, entry in enumerate(f.typed(f"subsets[{s}].{key}", subset.get(key), list) or []):
                path = f"subsets[{s}].{key}[{k}]"
                ip = entry.get("ip") if isinstance(entry, dict) else entry
                address, family = ip_family(f, f"{path}.ip", ip)
                pod = _pod_ref(f, f"{path}.targetRef", entry.get("targetRef")) if isinstance(entry, dict) else None
                record = EndpointRecord(f.namespace, f.name, address, family, ready, pod, terminating_unset=True)
                out.append(dataclasses.replace(record, ports=ports))
    return out


def _pod_ref(f: Field, path: str, ref: Any) -> str | None:
    """The pod an endpoint's ``targetRef`` names (None: none, or not a pod)."""
    ref = f.typed(path, ref, dict)
    if ref is not None and ref.get("kind") == "Pod" and isinstance(ref.get("name"), str):
        return str(ref["name"])
    return None


# Pods and their owners


@dataclasses.dataclass(frozen=True)
class PodRecord:
    origin: str
    namespace: str
    name: str
    labels: dict[str, str]
    """Its labels without the per-pod and per-rollout ones (:data:`VOLATILE_LABELS`)."""
    template_hash: str
    service_account: str
    ips: tuple[tuple[str, str], ...]
    """(address, family), primary first."""
    sidecar: bool | None
    """Whether it runs an istio-proxy; None: the capture does not say (no containers), the namespace decides."""
    ready: bool
    owner: tuple[str, str] | None
    """(kind, name) of its controller."""
    node: str
    deleting: bool = False
    """Whether it has a ``metadata.deletionTimestamp`` (it is terminating)."""


HOST_NETWORK = Skip("Pod", "host network (the node's address; no sidecar is injected)")


def pod_addresses(obj: KubeObject) -> set[str]:
    """The pod's addresses that read as IPs, canonical (for a pod otherwise left out)."""
    status = obj.body.get("status") if isinstance(obj.body, dict) else None
    status = status if isinstance(status, dict) else {}
    entries = status.get("podIPs")
    listed = entries if isinstance(entries, list) else []
    texts = [entry.get("ip") if isinstance(entry, dict) else entry for entry in listed] + [status.get("podIP")]
    out = set()
    for text in texts:
        if isinstance(text, str):
            try:
                out.add(str(ipaddress.ip_address(text)))
            except ValueError:
                continue
    return out


def read_pod(obj: KubeObject) -> PodRecord | Skip:
    f = Field(obj)
    phase = f.get("status.phase", "Running", expect=str)
    if phase in ("Succeeded", "Failed"):
        return Skip("Pod", f"finished ({phase}): not an endpoint, no proxy")
    if f.get("spec.hostNetwork", expect=bool) is True:
        return HOST_NETWORK
    texts = [entry.get("ip") if isinstance(entry, dict) else entry for entry in f.items("status.podIPs")]
    if not texts and f.get("status.podIP"):
        texts = [f.get("status.podIP")]
    if not texts:
        return Skip("Pod", "no IP yet (Pending)")
    ips = tuple(ip_family(f, f"status.podIPs[{k}].ip", text) for k, text in enumerate(texts))
    if len({family for _, family in ips}) != len(ips):
        raise f.fail("status.podIPs", f"two addresses of one family ({', '.join(ip for ip, _ in ips)})")
    labels = f.mapping("metadata.labels")
    return PodRecord(
        origin=obj.origin,
        namespace=f.namespace,
        name=f.name,
        labels={k: v for k, v in labels.items() if k not in VOLATILE_LABELS},
        template_hash=labels.get("pod-template-hash", ""),
        service_account=str(f.get("spec.serviceAccountName", "default", expect=str)),
        ips=ips,
        sidecar=_has_sidecar(f, labels),
        ready=_pod_ready(f),
        owner=_controller(f),
        node=str(f.get("spec.nodeName", "", expect=str)),
        deleting=f.get("metadata.deletionTimestamp") is not None,
    )


def _has_sidecar(f: Field, labels: Mapping[str, str]) -> bool | None:
    containers = [*f.items("spec.containers"), *f.items("spec.initContainers")]
    if containers:
        return any(isinstance(c, dict) and c.get("name") == SIDECAR_CONTAINER for c in containers)
    switch = labels.get(INJECT) or f.mapping("metadata.annotations").get(INJECT)
    if switch in ("true", "false"):
        return switch == "true"
    return None


def _pod_ready(f: Field) -> bool:
    for k, condition in enumerate(f.items("status.conditions")):
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            # "True", "False" or "Unknown": text (a YAML True unquoted would be read as not ready).
            return f.typed(f"status.conditions[{k}].status", condition.get("status"), str) == "True"
    return f.get("status.phase", "Running") == "Running"


def _controller(f: Field) -> tuple[str, str] | None:
    refs = [r for r in f.items("metadata.ownerReferences") if isinstance(r, dict)]
    chosen = next((r for r in refs if r.get("controller") is True), refs[0] if refs else None)
    if chosen is None or not isinstance(chosen.get("kind"), str) or not isinstance(chosen.get("name"), str):
        return None
    return str(chosen["kind"]), str(chosen["name"])


def read_owner(obj: KubeObject) -> tuple[tuple[str, str, str], tuple[str, str] | None]:
    """A ReplicaSet (or other controller): ((kind, namespace, name), its own controller)."""
    f = Field(obj)
    return (f.kind, f.namespace, f.name), _controller(f)


# Nodes and cluster-wide settings


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    name: str
    region: str
    zone: str
    """From its ``topology.kubernetes.io`` labels."""
    pod_cidrs: tuple[str, ...]
    """The ranges its pods get addresses from (``spec.podCIDRs``), one per family."""


def read_node(obj: KubeObject) -> NodeRecord:
    f = Field(obj)
    labels = f.mapping("metadata.labels")
    texts = f.items("spec.podCIDRs") or ([f.get("spec.podCIDR")] if f.get("spec.podCIDR") else [])
    cidrs = []
    for k, text in enumerate(texts):
        try:
            cidrs.append(str(ipaddress.ip_network(str(text), strict=False)))
        except ValueError:
            raise f.fail(f"spec.podCIDRs[{k}]", f"{quote(text)} is not a CIDR") from None
    return NodeRecord(
        f.name,
        labels.get("topology.kubernetes.io/region", ""),
        labels.get("topology.kubernetes.io/zone", ""),
        tuple(cidrs),
    )
