"""The shipped dual-stack design as it stands since Istio 1.24.

As ``additional-addresses``, except for a dual proxy: one endpoint per pod with the other
family's IP in ``Endpoint.additional_addresses``; both VIPs among virtual host domains; one
``InboundPassthroughCluster`` (source ``127.0.0.6``, extra source ``::6``) behind a single set
of passthrough chains that match every family.
"""

from dsim.designs.additional_addresses import AdditionalAddresses
from dsim.designs.base import INBOUND_SOURCE, Bind, PassthroughChains, PassthroughCluster, ProxyFacts, ServiceFacts

INBOUND_PASSTHROUGH = "InboundPassthroughCluster"


class AdditionalAddresses124(AdditionalAddresses):
    name = "additional-addresses-1.24"
    description = (
        "Istio 1.24+: as additional-addresses, but one endpoint per pod with "
        "Endpoint.additional_addresses, one inbound passthrough cluster, both VIPs as domains."
    )
    order = 3
    endpoint_additional = True

    def domain_vips(self, service: ServiceFacts) -> tuple[str, ...]:
        return tuple(service.vips[f] for f in service.families)

    def entry_binds(self, addresses: tuple[str, ...]) -> tuple[Bind, ...]:
        """1.24.0 to 1.24.2: one Service per host holding every address; one listener on the first
        address, the others in ``additional_addresses`` (istio/istio#51967)."""
        return (Bind(address=addresses[0], additional=addresses[1:]),) if addresses else ()

    def entry_domains(self, addresses: tuple[str, ...]) -> tuple[str, ...]:
        return addresses

    def passthrough_chains(self, proxy: ProxyFacts) -> tuple[PassthroughChains, ...]:
        if not proxy.dual:
            return super().passthrough_chains(proxy)
        return (PassthroughChains(cluster=INBOUND_PASSTHROUGH, prefix=None),)

    def passthrough_clusters(self, proxy: ProxyFacts) -> tuple[PassthroughCluster, ...]:
        if not proxy.dual:
            return super().passthrough_clusters(proxy)
        return (
            PassthroughCluster(
                name=INBOUND_PASSTHROUGH, source=INBOUND_SOURCE["IPv4"], extra_sources=(INBOUND_SOURCE["IPv6"],)
            ),
        )
