"""The pod and service CIDRs of an imported mesh, and where each came from.

dsim needs them for what-ifs (a dual-stack what-if allocates second-family addresses from them, clear
of every address in use) and to catch captures that contradict themselves (a pod outside every range
its cluster gives pods). In order of trust, a family's range is the one given on the command line
(``--pod-cidrs``, ``--service-cidrs``), kubeadm's ``ClusterConfiguration`` (``podSubnet``,
``serviceSubnet``), or — pods only — the smallest range covering the Nodes' ``spec.podCIDRs``; an
address outside a range from any of these is an error. Managed clusters show none of them: the range
is then inferred as the smallest one covering the addresses in use, widened to a usual size (a /16 for
IPv4, a /64 for IPv6 pods, a /112 for IPv6 services), and the import says so. A family with no
address at all keeps kind's range, which only a what-if ever allocates from.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping

from dsim.scenario.model import Network

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FAMILIES = ("ipv4", "ipv6")
KINDS = ("pod_cidrs", "service_cidrs")
# The widest prefix an inferred range is narrowed to at most (a range is never inferred narrower than
# the addresses need): what clusters are usually given.
_INFERRED_PREFIX = {("pod_cidrs", 4): 16, ("pod_cidrs", 6): 64, ("service_cidrs", 4): 16, ("service_cidrs", 6): 112}
_OPTION = {"pod_cidrs": "--pod-cidrs", "service_cidrs": "--service-cidrs"}


@dataclasses.dataclass(frozen=True)
class ClusterCidrs:
    """Each kind's range per family (``pod_cidrs``/``service_cidrs`` → ``ipv4``/``ipv6`` → CIDR), with its source."""

    ranges: dict[str, dict[str, str | None]]
    sources: dict[tuple[str, str], str]
    """(kind, family) → where the range came from, as a reader would say it."""
    _parsed: dict[tuple[str, str], IpNetwork | None] = dataclasses.field(default_factory=dict, compare=False)

    def enforced(self, kind: str, family: str) -> bool:
        """Whether an address outside the range is an error (the range was stated, not inferred)."""
        source = self.sources.get((kind, family), "")
        return not source.startswith(("inferred", "kind's"))

    def holds(self, kind: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """Whether ``address`` is in its family's range of ``kind``."""
        network = self._networks(kind, f"ipv{address.version}")
        return network is not None and address in network

    def _networks(self, kind: str, family: str) -> IpNetwork | None:
        if (kind, family) not in self._parsed:  # parsed once: every pod of the mesh is held against it
            text = self.ranges[kind][family]
            self._parsed[(kind, family)] = ipaddress.ip_network(text) if text else None
        return self._parsed[(kind, family)]

    def describe(self, kind: str) -> str:
        parts = [f"{self.ranges[kind][f]}, {self.sources[(kind, f)]}" for f in FAMILIES if self.ranges[kind][f]]
        return "; ".join(parts)

    def notes(self) -> list[str]:
        """What a reader should know about ranges that were not stated."""
        guessed = [
            f"{kind.replace('_', ' ')} {family}: {self.ranges[kind][family]} {self.sources[(kind, family)]}"
            for kind in KINDS
            for family in FAMILIES
            if not self.enforced(kind, family)
        ]
        if not guessed:
            return []
        return [f"{g}; give the cluster's own with {_OPTION[g.split(' cidrs')[0] + '_cidrs']}" for g in guessed]

    def option(self, kind: str) -> str:
        return _OPTION[kind]


def covering(networks: Iterable[IpNetwork]) -> IpNetwork | None:
    """The smallest range holding every one of ``networks`` (all of one family), None for none."""
    listed = list(networks)
    if not listed:
        return None
    low = min(int(n.network_address) for n in listed)
    high = max(int(n.broadcast_address) for n in listed)
    bits = listed[0].max_prefixlen
    prefix = bits - (low ^ high).bit_length()
    return ipaddress.ip_network((low >> (bits - prefix) << (bits - prefix), prefix))


def _inferred(kind: str, version: int, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> IpNetwork:
    network = covering(ipaddress.ip_network(a) for a in addresses)
    assert network is not None
    widest = _INFERRED_PREFIX[(kind, version)]
    return network if network.prefixlen <= widest else network.supernet(new_prefix=widest)


def choose_cidrs(
    *,
    given: Mapping[str, Mapping[str, str]],
    kubeadm: Mapping[str, Mapping[str, str]],
    node_ranges: Iterable[str],
    addresses: Mapping[str, Iterable[str]],
) -> ClusterCidrs:
    """The ranges, from the first source that has each (module docstring).

    ``given`` and ``kubeadm``: kind → family → CIDR; ``node_ranges``: the Nodes' podCIDRs;
    ``addresses``: kind → the addresses in use (pod IPs, ClusterIPs)."""
    default = Network()
    nodes = [ipaddress.ip_network(text) for text in node_ranges]
    ranges: dict[str, dict[str, str | None]] = {}
    sources: dict[tuple[str, str], str] = {}
    for kind in KINDS:
        used = [ipaddress.ip_address(text) for text in addresses.get(kind, ())]
        ranges[kind] = {}
        for family in FAMILIES:
            version = int(family[-1])
            in_family = [a for a in used if a.version == version]
            node_cover = covering(n for n in nodes if n.version == version) if kind == "pod_cidrs" else None
            if family in given.get(kind, {}):
                chosen, source = given[kind][family], f"from {_OPTION[kind]}"
            elif family in kubeadm.get(kind, {}):
                chosen, source = kubeadm[kind][family], "from kubeadm's ClusterConfiguration"
            elif node_cover is not None:
                chosen, source = str(node_cover), "covering the Nodes' podCIDRs"
            elif in_family:
                chosen = str(_inferred(kind, version, in_family))
                source = "inferred from the addresses in use (the inventory states none)"
            else:
                chosen = getattr(getattr(default, kind), family)
                source = "kind's default (no address of this family is in use)"
            ranges[kind][family] = chosen
            sources[(kind, family)] = source
    return ClusterCidrs(ranges, sources)
