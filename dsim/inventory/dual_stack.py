"""The seed's question asked of a real mesh: what if these services and pods were dual-stack?

``dsim import --dual-stack all|SHARE`` takes an imported (plain) scenario and turns a share of its
single-stack Services dual-stack, with the pods they select, the way a platform team would migrate:
the primary family stays first (Kubernetes never changes a Service's primary family), the second
family's ClusterIP and pod IPs come from the scenario's own CIDRs, and nothing else changes, so a run
of the result against the original shows what going dual-stack costs under each design.

Which services: a seeded hash of ``<namespace>/<name>`` under ``share``, not a draw over the list, so
a service's fate does not depend on the others: the same seed picks the same services when the
mesh grows (and a larger share picks a superset).

ServiceEntries are left as they are: their addresses and endpoints are the external world's (or a
VM's), which going dual-stack inside the cluster does not change.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dsim.addresses import (
    IpNetwork,
    allocate_random,
    allocate_sequential,
    ipv4_from_offsets,
    ipv4_text,
    ipv6_from_offsets,
    ipv6_text,
    usable_span,
)
from dsim.cluster.labels import pod_selector, selects
from dsim.errors import ScenarioError
from dsim.randomness import generator
from dsim.scenario.checks import cidr_of, family_key
from dsim.scenario.load import scenario_from_dict
from dsim.scenario.model import FamilyCidrs, IpFamily, Scenario, Service

_OTHER: dict[IpFamily, IpFamily] = {"IPv4": "IPv6", "IPv6": "IPv4"}


@dataclasses.dataclass(frozen=True)
class DualStackSummary:
    """What :func:`make_dual_stack` changed, for the import's report."""

    single_stack_services: int
    """Single-stack Services before (the candidates)."""
    services_changed: int
    """Services that got their second family."""
    workloads_changed: int
    """Workloads whose pods got their second family."""
    pods_changed: int
    """Pods (replicas of those workloads) that got a second address."""

    def describe(self) -> str:
        return (
            f"{self.services_changed} of {self.single_stack_services} single-stack services and "
            f"{_count(self.pods_changed, 'pod')} ({_count(self.workloads_changed, 'workload')}) made dual-stack"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def make_dual_stack(
    data: Mapping[str, Any], *, share: float, seed: int = 0, source: str = "<scenario>"
) -> dict[str, Any]:
    """``data`` with ``share`` (1.0 for ``all``) of its single-stack Services dual-stack (module docstring)."""
    return make_dual_stack_with_summary(data, share=share, seed=seed, source=source)[0]


def make_dual_stack_with_summary(
    data: Mapping[str, Any], *, share: float, seed: int = 0, source: str = "<scenario>"
) -> tuple[dict[str, Any], DualStackSummary]:
    """:func:`make_dual_stack` and what it changed.

    The chosen services get the other family appended to ``ip_families``, and a second ClusterIP when
    they list theirs (drawn at random, as Kubernetes does, clear of every listed one); the workloads
    they select (every workload when ``share`` is 1) get both families, each listed pod a new address
    (the lowest free ones, as kind's IPAM hands them out). A family whose CIDR is null is refused
    with the field to set. Pure: ``data`` is not changed.
    """
    if not 0.0 <= share <= 1.0:
        raise ScenarioError(source, "dual-stack share", f"must be from 0 to 1 (got {share})")
    scenario = scenario_from_dict(data, source=source)
    services = [dict(s) for s in data.get("services") or ()]
    workloads = [dict(w) for w in data.get("workloads") or ()]
    chosen = [i for i, svc in enumerate(scenario.services) if len(svc.ip_families) == 1 and _picked(svc, share, seed)]
    changed_workloads = _workloads_to_change(scenario, chosen, every=share >= 1.0)
    _require_cidrs(scenario, source, chosen, changed_workloads)
    _add_service_family(services, scenario, chosen, seed, source)
    _add_pod_family(workloads, scenario, changed_workloads, source)
    out = {**data, "services": services, "workloads": workloads}
    summary = DualStackSummary(
        single_stack_services=sum(len(s.ip_families) == 1 for s in scenario.services),
        services_changed=len(chosen),
        workloads_changed=len(changed_workloads),
        pods_changed=sum(scenario.workloads[w].replicas for w in changed_workloads),
    )
    return out, summary


def _picked(svc: Service, share: float, seed: int) -> bool:
    """Whether the service is in the share: its seeded hash, as a number in [0, 1), is below it."""
    digest = hashlib.blake2b(f"{seed}\0{svc.namespace}/{svc.name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def _workloads_to_change(scenario: Scenario, chosen: Sequence[int], *, every: bool) -> list[int]:
    """Single-stack workloads selected by a chosen service (or all of them): the ones to change."""
    single = [w for w, wl in enumerate(scenario.workloads) if len(wl.ip_families or ()) == 1]
    if every:
        return single
    selectors = [
        (scenario.services[i].namespace, selector)
        for i in chosen
        if (selector := pod_selector(scenario.services[i])) is not None
    ]
    workloads = scenario.workloads
    return [
        w
        for w in single
        if any(ns == workloads[w].namespace and selects(sel, workloads[w].labels or {}) for ns, sel in selectors)
    ]


def _require_cidrs(scenario: Scenario, source: str, chosen: Sequence[int], workloads: Sequence[int]) -> None:
    """Refuse, naming the field, when a family the change needs has no CIDR."""
    needs = [("service_cidrs", _OTHER[scenario.services[i].ip_families[0]]) for i in chosen]
    needs += [("pod_cidrs", _OTHER[(scenario.workloads[w].ip_families or ("IPv4",))[0]]) for w in workloads]
    for field, family in dict.fromkeys(needs):
        cidrs: FamilyCidrs = getattr(scenario.network, field)
        if cidr_of(cidrs, family) is None:
            raise ScenarioError(
                source,
                f"network.{field}.{family_key(family)}",
                f"is null, so nothing can get an {family} address; set it to a CIDR to make the mesh dual-stack",
            )


def _add_service_family(
    services: list[dict[str, Any]], scenario: Scenario, chosen: Sequence[int], seed: int, source: str
) -> None:
    listed = [i for i in chosen if services[i].get("cluster_ips")]
    by_family: dict[IpFamily, list[int]] = {"IPv4": [], "IPv6": []}
    for i in listed:
        by_family[_OTHER[scenario.services[i].ip_families[0]]].append(i)
    for i in chosen:
        primary = scenario.services[i].ip_families[0]
        services[i]["ip_families"] = [primary, _OTHER[primary]]
    for family, indices in by_family.items():
        if not indices:
            continue
        net = _network(scenario.network.service_cidrs, family)
        taken = (ip for s in scenario.services for ip in s.cluster_ips)
        draw = functools.partial(allocate_random, generator(seed, f"dual-stack-cluster-ips-{family}"))
        where = (source, f"network.service_cidrs.{family_key(family)}")
        offsets = _allocate(net, taken, len(indices), draw, where)
        for i, address in zip(indices, _texts(net, offsets), strict=True):
            services[i]["cluster_ips"] = [*services[i]["cluster_ips"], address]


def _add_pod_family(workloads: list[dict[str, Any]], scenario: Scenario, changed: Sequence[int], source: str) -> None:
    pods: dict[IpFamily, list[tuple[int, int]]] = {"IPv4": [], "IPv6": []}
    for w in changed:
        primary = (scenario.workloads[w].ip_families or ("IPv4",))[0]
        workloads[w]["ip_families"] = [primary, _OTHER[primary]]
        pods[_OTHER[primary]] += [(w, r) for r in range(len(scenario.workloads[w].pod_ips))]
    for family, wanted in pods.items():
        if not wanted:
            continue
        net = _network(scenario.network.pod_cidrs, family)
        taken = (ip for wl in scenario.workloads for pod in wl.pod_ips for ip in pod)
        where = (source, f"network.pod_cidrs.{family_key(family)}")
        offsets = _allocate(net, taken, len(wanted), allocate_sequential, where)
        listed = {w: [list(pod) for pod in workloads[w]["pod_ips"]] for w, _ in wanted}
        for (w, r), address in zip(wanted, _texts(net, offsets), strict=True):
            listed[w][r].append(address)
        for w, pod_ips in listed.items():
            workloads[w]["pod_ips"] = pod_ips


def _network(cidrs: FamilyCidrs, family: IpFamily) -> IpNetwork:
    text = cidr_of(cidrs, family)
    assert text is not None  # _require_cidrs refused it
    return ipaddress.ip_network(text)


Allocator = Callable[[int, np.ndarray, int], np.ndarray]


def _allocate(
    net: IpNetwork, taken: Iterable[str], count: int, allocate: Allocator, where: tuple[str, str]
) -> np.ndarray:
    """``count`` free offsets of ``net`` by ``allocate`` (a :mod:`dsim.addresses` allocator), clear of
    the ``taken`` addresses; ``where``: the scenario's source and the CIDR's field, for the error."""
    span = usable_span(net)
    base = int(net.network_address)
    offsets = [int(ipaddress.ip_address(t)) - base for t in taken]
    used = np.array([o for o in offsets if 0 <= o < 2**64], dtype=np.uint64)
    try:
        return np.asarray(allocate(count, used, span), dtype=np.uint64)
    except ValueError as e:
        raise ScenarioError(*where, f"{net} has no room for the new addresses ({e})") from None


def _texts(net: IpNetwork, offsets: np.ndarray) -> list[str]:
    if net.version == 4:
        return [str(t) for t in ipv4_text(ipv4_from_offsets(net, offsets))]
    return [str(t) for t in ipv6_text(*ipv6_from_offsets(net, offsets))]
