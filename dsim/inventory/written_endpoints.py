"""A Service without a selector, read with the endpoints written for it by hand.

Kubernetes writes no EndpointSlice for such a Service; a user or a controller does (the API server
writes its own ``kubernetes`` Service's). istiod reads those slices like any other
(``updateEndpointCacheForSlice``, Istio 1.30's ``endpointslice.go``): an address with no pod behind it
(no ``targetRef``, no pod of the namespace at that address: ``getPod``) is an endpoint with no
metadata of a pod, of its own family alone. dsim models those (``Service.endpoints``,
docs/istio-objects.md 3.12); a Service whose written endpoints name pods it leaves out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dsim.inventory import kube

WRITTEN_HEADLESS = "no selector and headless (its endpoints, written by hand, would each get a listener; not modelled)"
WRITTEN_PODS = (
    "no selector, and its endpoints written by hand name pods (by targetRef, or at the address of a pod of its "
    "namespace): istiod gives them those pods' metadata, which dsim does not model"
)
WRITTEN_PORT = (
    "no selector, and its EndpointSlices written by hand name none of its ports, or give it different "
    "numbers (not modelled: istiod builds each slice's endpoints on that slice's own ports)"
)
OTHER_FAMILY = (
    "an endpoint written by hand of a family its Service does not have (istiod sends it too; dsim models a "
    "Service's endpoints of its own families)"
)


@dataclasses.dataclass(frozen=True)
class WrittenService:
    """What the scenario says of a Service without a selector: its endpoints, and each port's endpoint port."""

    endpoints: list[dict[str, Any]]
    target_ports: dict[str, int]
    """By port name: the endpoint port its slices give it (absent: the Service's own targetPort)."""


def read_written(
    record: kube.ServiceRecord,
    slices: Sequence[kube.SliceRecord],
    legacy: Sequence[kube.EndpointRecord],
    is_pod_address: Callable[[str, str], bool],
    skip: Callable[[str, str], None],
) -> WrittenService | str:
    """``record``'s endpoints from its ``slices`` (or, where a capture has none, its legacy
    ``Endpoints`` object's, which Kubernetes mirrors into slices of its subsets' ports), or why the
    Service is left out. ``is_pod_address(namespace, address)``: a pod of the namespace has it;
    ``skip(kind, reason)`` counts an endpoint left out."""
    if record.headless:
        return WRITTEN_HEADLESS
    if not slices:
        by_ports: dict[tuple[tuple[str, int], ...], list[kube.EndpointRecord]] = {}
        for e in legacy:
            by_ports.setdefault(e.ports, []).append(e)
        slices = [kube.SliceRecord(record.namespace, record.name, tuple(es), ports) for ports, es in by_ports.items()]
    found = [e for s in slices for e in s.endpoints]
    if any(e.pod is not None or is_pod_address(record.namespace, e.address) for e in found):
        return WRITTEN_PODS
    target_ports = _target_ports(record, [s for s in slices if s.endpoints])
    if target_ports is None:
        return WRITTEN_PORT
    endpoints: dict[str, dict[str, Any]] = {}
    for e in found:
        # istiod's slice cache holds an address its slices repeat once (dsim keeps the first).
        if e.address in endpoints:
            continue
        # An unready endpoint whose slice does not say it is not terminating is terminating to istiod:
        # never sent, so left out here (an unready one that is not is sent under a distribution).
        if not e.ready and (e.terminating or e.terminating_unset):
            endpoints[e.address] = {}
            continue
        if e.family not in record.ip_families:
            skip("EndpointSlice endpoint", OTHER_FAMILY)
            endpoints[e.address] = {}
            continue
        endpoints[e.address] = {"address": e.address, **({} if e.ready else {"ready": False})}
    return WrittenService([e for e in endpoints.values() if e], target_ports)


def _target_ports(record: kube.ServiceRecord, slices: Sequence[kube.SliceRecord]) -> dict[str, int] | None:
    """Each port's endpoint port: its slices' port of its name, the same in every slice that has
    endpoints (none: the Service's own targetPort, with nothing sent on it); None where such a slice
    names none of a port, or two give it different numbers (other ports of theirs say nothing)."""
    named = [dict(s.ports) for s in slices]
    out: dict[str, int] = {}
    for port in record.ports if named else ():
        numbers = {ports.get(port.name) for ports in named}
        number = numbers.pop()
        if numbers or number is None:
            return None
        out[port.name] = number
    return out


def pod_addresses(pods: Sequence[kube.PodRecord], host_network: Mapping[str, set[str]]) -> Mapping[str, set[str]]:
    """Each namespace's pods' addresses (canonical text, as the reader keeps every address), the
    host-network pods' (left out) with them: istiod finds a pod by address among a namespace's
    (its ready ones'; dsim leaves out a Service whose endpoint is at any pod's)."""
    out: dict[str, set[str]] = {namespace: set(ips) for namespace, ips in host_network.items()}
    for pod in pods:
        out.setdefault(pod.namespace, set()).update(ip for ip, _ in pod.ips)
    return out
