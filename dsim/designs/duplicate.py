"""The original dual-stack RFC (Istio's experimental-dual-stack branch): config per IP family.

For a dual proxy, every dual-stack service gets an IPv4 copy (``outbound|…``, route ``"P"``)
and an IPv6 copy (``outbound6|…``, route ``"P.ipv6"``), identical but for the names, the VIP
and the endpoints' family; IPv6-only services get only the IPv6 copy. The fixed listeners and
the inbound clusters are doubled too.
"""

from dsim.designs.base import (
    DNS_FAMILY,
    INBOUND_SOURCE,
    LOOPBACK,
    WILDCARD,
    Bind,
    Design,
    EntryCopy,
    EntryFacts,
    InboundCluster,
    NamedBind,
    OutboundCopy,
    ProxyFacts,
    ServiceFacts,
    VirtualInbound,
)
from dsim.scenario.model import IpFamily

IPV6_ROUTE_SUFFIX = ".ipv6"
FAMILIES: tuple[IpFamily, IpFamily] = ("IPv4", "IPv6")


def _copy(service: ServiceFacts, family: IpFamily) -> OutboundCopy:
    vip = service.vips[family]
    v6 = family == "IPv6"
    return OutboundCopy(
        cluster_prefix="outbound6" if v6 else "outbound",
        route_suffix=IPV6_ROUTE_SUFFIX if v6 else "",
        bind=Bind(address=vip),
        domain_vips=(vip,),
        endpoint_families=(family,),
    )


class Duplicate(Design):
    name = "duplicate"
    description = (
        "Original RFC (experimental-dual-stack branch): listeners, clusters, routes and "
        "endpoint sets duplicated per IP family for dual-stack services."
    )
    order = 1

    def outbound_copies(self, service: ServiceFacts, proxy: ProxyFacts) -> tuple[OutboundCopy, ...]:
        if not proxy.dual or service.families == ("IPv4",):
            return super().outbound_copies(service, proxy)
        return tuple(_copy(service, f) for f in ("IPv4", "IPv6") if f in service.families)

    def entry_copies(self, entry: EntryFacts, proxy: ProxyFacts) -> tuple[EntryCopy, ...]:
        """The branch keeps every address on one Service: per family of the entry, a copy with that
        family's addresses (or its wildcard), ``outbound6`` and ``".ipv6"`` for IPv6, DNS of that family."""
        if not proxy.dual:
            return super().entry_copies(entry, proxy)
        copies = []
        for family in FAMILIES:
            if family not in entry.families:
                continue
            v6 = family == "IPv6"
            addresses = entry.of(family)
            copies.append(
                EntryCopy(
                    cluster_prefix="outbound6" if v6 else "outbound",
                    route_suffix=IPV6_ROUTE_SUFFIX if v6 else "",
                    binds=tuple(Bind(address=a) for a in addresses),
                    domain_vips=addresses[:1],
                    endpoint_families=(family,),
                    dns_lookup_family=DNS_FAMILY[family],
                    endpoint_split=True,
                )
            )
        return tuple(copies)

    def http_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        if not proxy.dual:
            return super().http_bind(proxy, route_suffix)
        return Bind(address=WILDCARD["IPv6" if route_suffix == IPV6_ROUTE_SUFFIX else "IPv4"])

    def loopback_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        if not proxy.dual:
            return super().loopback_bind(proxy, route_suffix)
        return Bind(address=LOOPBACK["IPv6" if route_suffix == IPV6_ROUTE_SUFFIX else "IPv4"])

    def virtual_outbound(self, proxy: ProxyFacts) -> tuple[NamedBind, ...]:
        if not proxy.dual:
            return super().virtual_outbound(proxy)
        return (
            NamedBind(name="virtualOutbound", bind=Bind(address=WILDCARD["IPv4"])),
            NamedBind(name="virtualOutbound6", bind=Bind(address=WILDCARD["IPv6"])),
        )

    def virtual_inbound(self, proxy: ProxyFacts) -> tuple[VirtualInbound, ...]:
        if not proxy.dual:
            return super().virtual_inbound(proxy)
        # One listener per family, each with that family's passthrough chains and inbound clusters.
        return tuple(
            VirtualInbound(
                name=f"virtualInbound{suffix}",
                bind=Bind(address=WILDCARD[family]),
                passthrough=(passthrough,),
                chain_address=WILDCARD[family],
                family=family,
                inbound_cluster_prefix=f"inbound{suffix}",
            )
            for family, suffix, passthrough in zip(FAMILIES, ("", "6"), self.passthrough_chains(proxy), strict=True)
        )

    def inbound_clusters(self, proxy: ProxyFacts) -> tuple[InboundCluster, ...]:
        if not proxy.dual:
            return super().inbound_clusters(proxy)
        return (
            InboundCluster(prefix="inbound", loopback=LOOPBACK["IPv4"], source=INBOUND_SOURCE["IPv4"]),
            InboundCluster(prefix="inbound6", loopback=LOOPBACK["IPv6"], source=INBOUND_SOURCE["IPv6"]),
        )
