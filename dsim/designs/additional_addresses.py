"""The dual-stack design as first shipped in Istio 1.17 (behaviour of 1.17 to 1.23).

For a dual proxy: one listener per dual-stack service port, named after the primary VIP, with
the other VIP in ``additional_addresses``; wildcard listeners (HTTP ports, ``virtualOutbound``,
``virtualInbound``) add ``::``; one cluster per port whose endpoints are two ``LbEndpoint``s per
dual pod; inbound clusters add ``::6`` as an extra source address. Virtual host domains carry
the primary VIP only (1.17-1.18).
"""

from dsim.designs.base import (
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

DUAL_WILDCARD = Bind(address=WILDCARD["IPv4"], additional=(WILDCARD["IPv6"],))


class AdditionalAddresses(Design):
    name = "additional-addresses"
    description = (
        "Istio 1.17-1.23: one listener with additional_addresses, one cluster with endpoints "
        "of both families, inbound clusters with extra_source_addresses."
    )
    order = 2
    endpoint_additional = False
    """Whether a dual pod is one endpoint with an additional address (1.24) or two endpoints."""

    def outbound_copies(self, service: ServiceFacts, proxy: ProxyFacts) -> tuple[OutboundCopy, ...]:
        if not (proxy.dual and service.dual):
            return super().outbound_copies(service, proxy)
        primary, secondary = service.families
        return (
            OutboundCopy(
                cluster_prefix="outbound",
                route_suffix="",
                bind=Bind(address=service.vips[primary], additional=(service.vips[secondary],)),
                domain_vips=self.domain_vips(service),
                endpoint_families=service.families,
                endpoint_additional=self.endpoint_additional,
            ),
        )

    def domain_vips(self, service: ServiceFacts) -> tuple[str, ...]:
        """1.17-1.18: the primary VIP only."""
        return (service.vips[service.primary],)

    def entry_copies(self, entry: EntryFacts, proxy: ProxyFacts) -> tuple[EntryCopy, ...]:
        """A dual proxy: one copy with both families' endpoints and DNS ``ALL`` (1.18+)."""
        if not proxy.dual:
            return super().entry_copies(entry, proxy)
        addresses = tuple(a for _, a in entry.addresses)
        return (
            EntryCopy(
                cluster_prefix="outbound",
                route_suffix="",
                binds=self.entry_binds(addresses),
                domain_vips=self.entry_domains(addresses),
                endpoint_families=entry.families,
                endpoint_additional=self.endpoint_additional,
                dns_lookup_family="ALL",
            ),
        )

    def entry_binds(self, addresses: tuple[str, ...]) -> tuple[Bind, ...]:
        """One Service per host and address (``convertServices``): a listener per address."""
        return tuple(Bind(address=a) for a in addresses)

    def entry_domains(self, addresses: tuple[str, ...]) -> tuple[str, ...]:
        """The first of those Services keeps the virtual host: its address only."""
        return addresses[:1]

    def http_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        return DUAL_WILDCARD if proxy.dual else super().http_bind(proxy, route_suffix)

    def loopback_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        # Both local hosts, IPv4 first: the second as an additional address (extraBind since 1.17).
        if not proxy.dual:
            return super().loopback_bind(proxy, route_suffix)
        return Bind(address=LOOPBACK["IPv4"], additional=(LOOPBACK["IPv6"],))

    def virtual_outbound(self, proxy: ProxyFacts) -> tuple[NamedBind, ...]:
        if not proxy.dual:
            return super().virtual_outbound(proxy)
        return (NamedBind(name="virtualOutbound", bind=DUAL_WILDCARD),)

    def virtual_inbound(self, proxy: ProxyFacts) -> tuple[VirtualInbound, ...]:
        if not proxy.dual:
            return super().virtual_inbound(proxy)
        return (
            VirtualInbound(
                name="virtualInbound",
                bind=DUAL_WILDCARD,
                passthrough=self.passthrough_chains(proxy),
                chain_address=WILDCARD["IPv4"],
                family="IPv4",
                inbound_cluster_prefix="inbound",
            ),
        )

    def inbound_clusters(self, proxy: ProxyFacts) -> tuple[InboundCluster, ...]:
        if not proxy.dual:
            return super().inbound_clusters(proxy)
        return (
            InboundCluster(prefix="inbound", source=INBOUND_SOURCE["IPv4"], extra_sources=(INBOUND_SOURCE["IPv6"],)),
        )
