"""Locality failover: the priorities istiod gives an endpoint set's locality groups, relative to the
proxy it pushes the set to (docs/istio-objects.md 2.5, "Locality failover").

Istio's mesh default turns locality load balancing on (``localityLbSetting: {enabled: true}``,
``pkg/config/mesh/mesh.go``), and failover needs outlier detection (without it Envoy never leaves
priority 0): so a cluster whose traffic policy sets ``outlierDetection`` gets, in every proxy, its
groups prioritised by how much of the proxy's locality they share (``applyLocalityFailover`` in
``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``, Istio 1.17 to 1.30): region, zone and
subzone alike 0, region and zone 1, region 2, none 3; then renumbered 0..N in order, with no gap.
A DestinationRule's ``localityLbSetting`` replaces the mesh's; ``enabled: false`` turns it off. Its
``failover`` list names, for a proxy's region, the region to fail over to first: another region's
groups then come after it (4, not 3). Such a cluster also gets an empty
``common_lb_config.locality_weighted_lb_config`` (``LocalityLBSettings.ApplyToCluster``).

A ``distribute`` list replaces failover (no priorities, outlier detection or not): the first entry
whose ``from`` matches the proxy's locality weighs each group by the first of its ``to`` localities
that matches it, and empties the groups none matches (``applyLocalityWeights``); the cluster gets
``locality_weighted_lb_config`` too.

A Service's ``trafficDistribution`` stands between the rule's setting and the mesh's (Istio 1.30's
``GetLocalityLbSetting``): failover by priority labels, forced without outlier detection, and a zero
panic threshold on all of its clusters (:func:`prefers_close`, :func:`locality_weighted`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from dsim.scenario.istio.destination_rule import LocalityFailover, LocalityLbSetting
from dsim.wire import UINT32_MAX
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.policy import ClusterPolicy

ProxyLocality = tuple[str, str, str]
"""A proxy's (region, zone, subzone): its node's topology labels."""


Failover = tuple[LocalityFailover, ...]
"""A rule's ``failover`` list (empty: the default order)."""


def effective_setting(policy: ClusterPolicy | None, mesh: MeshDefaults) -> LocalityLbSetting | None:
    """``GetEffectiveLbSetting``: the cluster's rule's ``localityLbSetting`` if it has one, else the
    mesh's (``None``: Istio's default, ``{enabled: true}``)."""
    own = _own_setting(policy)
    return own if own is not None else mesh.locality


Weights = tuple[tuple[str, int], ...]
"""A distribution's ``to``: (locality, weight) in the order given."""


@dataclasses.dataclass(frozen=True)
class LocalityRule:
    """What a cluster's effective ``localityLbSetting`` does to its endpoint sets, proxy by proxy:
    weights by ``distribute`` where it has entries, else failover priorities by ``failover``."""

    failover: Failover = ()
    distribute: tuple[tuple[str, Weights], ...] = ()
    """Each entry's ``from`` and its weights."""


def _own_setting(policy: ClusterPolicy | None) -> LocalityLbSetting | None:
    lb = policy.load_balancer if policy is not None else None
    return lb.locality_lb_setting if lb is not None else None


def prefers_close(policy: ClusterPolicy | None, prefer_close: bool) -> bool:
    """Whether a cluster of a service with ``trafficDistribution`` (``prefer_close``) takes it:
    where its rule sets no ``localityLbSetting`` of its own, the service's distribution stands
    before the mesh's setting (Istio 1.30's ``GetLocalityLbSetting``: rule, then service, then mesh).
    ``PreferClose`` is failover priorities on the network, region and zone labels, forced without
    outlier detection; with pods in zones and one network that ranks groups as the default order
    does (same zone, same region, the rest)."""
    return prefer_close and _own_setting(policy) is None


def locality_rule(policy: ClusterPolicy | None, mesh: MeshDefaults, prefer_close: bool = False) -> LocalityRule | None:
    """The :class:`LocalityRule` of a cluster of this traffic policy (``None``: no rule) in
    ``mesh``, of a service with ``trafficDistribution`` where ``prefer_close``; ``None`` where its
    endpoint sets are the same for every proxy: its effective
    ``localityLbSetting`` turns locality load balancing off, or it neither distributes nor has
    outlier detection (failover needs it: without it Envoy never leaves priority 0;
    ``getOutlierDetectionAndLoadBalancerSettings``, ``GetEffectiveLbSetting``, ``ApplyLocalityLoadBalancer``)
    nor takes its service's distribution (:func:`prefers_close`)."""
    if prefers_close(policy, prefer_close):
        return LocalityRule()
    setting = effective_setting(policy, mesh)
    if setting is not None and setting.enabled is False:
        return None
    if setting is not None and setting.distribute:
        return LocalityRule(distribute=tuple((d.source, tuple(d.target.items())) for d in setting.distribute))
    if policy is None or policy.outlier_detection is None:
        return None
    return LocalityRule(failover=setting.failover if setting is not None else ())


def locality_weighted(
    cluster: cluster_pb2.Cluster, policy: ClusterPolicy | None, mesh: MeshDefaults, prefer_close: bool = False
) -> None:
    """``applyLoadBalancer``'s locality part on an outbound cluster shaped by ``policy`` (of a
    service with ``trafficDistribution`` where ``prefer_close``): locality weights, and failover by a
    region list or by priority labels where it fails over, need Envoy's locality-weighted balancing
    (set before a PASSTHROUGH rule or a resolution-NONE entry leaves the cluster ORIGINAL_DST, so such
    a cluster keeps it). A service with a distribution also gets a zero panic threshold, whatever
    setting stands: istiod then sends its unhealthy endpoints too (``SupportsUnhealthyEndpoints``)."""
    if prefer_close:
        cluster.common_lb_config.healthy_panic_threshold.value = 0
        cluster.common_lb_config.healthy_panic_threshold.SetInParent()
    if prefers_close(policy, prefer_close):  # failover forced, by priority labels
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()
        return
    setting = effective_setting(policy, mesh)
    if setting is None or setting.enabled is False:
        return
    if setting.distribute or (setting.failover and cluster.HasField("outlier_detection")):
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()


def failover_target(failover: Failover, region: str) -> str | None:
    """The region a proxy in ``region`` fails over to first: the first entry from it names it."""
    return next((entry.target for entry in failover if entry.source == region), None)


def lb_priority(proxy: ProxyLocality, group: ProxyLocality, failover: Failover = ()) -> int:
    """``LbPriority``: 0 in the proxy's subzone, 1 its zone, 2 its region, 3 elsewhere; and 4 for
    another region than the one ``failover`` names for the proxy's (``applyLocalityFailover``)."""
    if proxy[0] != group[0]:
        target = failover_target(failover, proxy[0])
        return 4 if target is not None and group[0] != target else 3
    if proxy[1] != group[1]:
        return 2
    return 0 if proxy[2] == group[2] else 1


def compacted(raw: Sequence[int]) -> list[int]:
    """Each priority's rank among the distinct ones (Envoy wants 0..N without a gap)."""
    rank = {value: n for n, value in enumerate(sorted(set(raw)))}
    return [rank[value] for value in raw]


def prioritised(
    assignment: endpoint_pb2.ClusterLoadAssignment, proxy: ProxyLocality, failover: Failover = ()
) -> endpoint_pb2.ClusterLoadAssignment:
    """A copy of ``assignment`` with its groups' priorities relative to ``proxy`` (the original
    may be shared between proxies: istiod clones it before it sets them, as here)."""
    out = endpoint_pb2.ClusterLoadAssignment()
    out.CopyFrom(assignment)
    raw = [lb_priority(proxy, _group_locality(g), failover) for g in out.endpoints]
    for group, priority in zip(out.endpoints, compacted(raw), strict=True):
        group.priority = priority
    return out


def split_locality(text: str) -> ProxyLocality:
    """``SplitLocalityLabel``: ``region/zone/subzone``, missing parts empty."""
    items = text.split("/")
    return (items[0], items[1] if len(items) > 1 else "", items[2] if len(items) > 2 else "")


def locality_match(locality: ProxyLocality, pattern: str) -> bool:
    """``LocalityMatch``: a ``*`` part matches anything, as does a zone or subzone left out."""
    region, zone, subzone = split_locality(pattern)
    return region in ("*", locality[0]) and zone in ("*", "", locality[1]) and subzone in ("*", "", locality[2])


def _group_locality(group: endpoint_pb2.LocalityLbEndpoints) -> ProxyLocality:
    return (group.locality.region, group.locality.zone, group.locality.sub_zone)


def _weight(group: endpoint_pb2.LocalityLbEndpoints) -> int:
    """A group's own weight (1 where it has none, as Istio reads it)."""
    return group.load_balancing_weight.value if group.HasField("load_balancing_weight") else 1


def distributed(
    assignment: endpoint_pb2.ClusterLoadAssignment, proxy: ProxyLocality, distribute: tuple[tuple[str, Weights], ...]
) -> endpoint_pb2.ClusterLoadAssignment:
    """``applyLocalityWeights``: ``assignment`` as a proxy in ``proxy`` gets it. The first entry
    whose ``from`` matches the proxy's locality gives each ``to`` locality's weight to the groups it
    matches (those no earlier one took), shared by their own weights and rounded up; the groups none
    matches keep their locality and weight and lose their endpoints. No entry matching: unchanged."""
    weights = next((to for source, to in distribute if locality_match(proxy, source)), None)
    if weights is None:
        return assignment
    out = endpoint_pb2.ClusterLoadAssignment()
    out.CopyFrom(assignment)
    left = list(range(len(out.endpoints)))
    for pattern, weight in weights:
        taken = [i for i in left if locality_match(_group_locality(out.endpoints[i]), pattern)]
        left = [i for i in left if i not in taken]
        own = {i: _weight(out.endpoints[i]) for i in taken}
        # Istio's arithmetic: uint32 products and sum (they wrap), a float64 quotient rounded up.
        total = sum(own.values()) % (UINT32_MAX + 1)
        for i, share in own.items():
            product = share * weight % (UINT32_MAX + 1)
            if product > 0 and total > 0:  # Go's x/0 would be +Inf, converted as its platform likes: left
                out.endpoints[i].load_balancing_weight.value = math.ceil(product / total)
    for i in left:
        del out.endpoints[i].lb_endpoints[:]
    return out


def localised(
    assignment: endpoint_pb2.ClusterLoadAssignment, proxy: ProxyLocality, rule: LocalityRule
) -> endpoint_pb2.ClusterLoadAssignment:
    """``assignment`` as istiod sends it to a proxy in ``proxy`` under ``rule``."""
    if rule.distribute:
        return distributed(assignment, proxy, rule.distribute)
    return prioritised(assignment, proxy, rule.failover)


def failover_priorities(assignment: endpoint_pb2.ClusterLoadAssignment) -> int:
    """The priorities of ``assignment`` beyond the first: each is a host set more that Envoy keeps
    for the cluster (``failover_priorities``, a memory count)."""
    return max((group.priority for group in assignment.endpoints), default=0)


def all_failover_priorities(
    clusters: Sequence[cluster_pb2.Cluster], assignments: Sequence[endpoint_pb2.ClusterLoadAssignment]
) -> int:
    """:func:`failover_priorities` of every endpoint set: the EDS ones and DNS clusters' inline ones
    (a STRICT_DNS cluster keeps a host set per priority as an EDS one does)."""
    inline = sum(failover_priorities(c.load_assignment) for c in clusters if c.HasField("load_assignment"))
    return inline + sum(failover_priorities(a) for a in assignments)
