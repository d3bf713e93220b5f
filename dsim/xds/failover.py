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
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from dsim.scenario.istio.destination_rule import LocalityFailover, LocalityLbSetting
from dsim.xds.policy import ClusterPolicy

ProxyLocality = tuple[str, str, str]
"""A proxy's (region, zone, subzone): its node's topology labels."""


Failover = tuple[LocalityFailover, ...]
"""A rule's ``failover`` list (empty: the default order)."""


def _setting(policy: ClusterPolicy) -> LocalityLbSetting | None:
    return policy.load_balancer.locality_lb_setting if policy.load_balancer is not None else None


def fails_over(policy: ClusterPolicy | None) -> bool:
    """Whether a cluster of this traffic policy fails over by locality: it sets outlier detection,
    and no ``localityLbSetting`` of its own turns locality load balancing off
    (``getOutlierDetectionAndLoadBalancerSettings``, then ``GetEffectiveLbSetting`` over the mesh default)."""
    if policy is None or policy.outlier_detection is None:
        return False
    setting = _setting(policy)
    return setting is None or setting.enabled is not False


def failover_targets(policy: ClusterPolicy | None) -> Failover:
    """The ``failover`` list a cluster of this policy fails over by (empty where it does not fail
    over, or by the default order alone)."""
    if not fails_over(policy):
        return ()
    assert policy is not None
    setting = _setting(policy)
    return setting.failover if setting is not None else ()


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
    raw = [
        lb_priority(proxy, (g.locality.region, g.locality.zone, g.locality.sub_zone), failover) for g in out.endpoints
    ]
    for group, priority in zip(out.endpoints, compacted(raw), strict=True):
        group.priority = priority
    return out


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
