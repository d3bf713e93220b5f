"""The contract every dual-stack design plugin fulfils.

A design is one file in ``dsim/designs/`` defining a :class:`Design` subclass; the registry
finds it by itself. A design answers a handful of questions about its dual-stack rules with
small frozen records (what to bind where, which cluster and route names a family copy uses,
which families endpoints carry); the xDS builders in :mod:`dsim.xds` turn those answers into
real Envoy messages with code every design shares. So a comparison between designs measures
the dual-stack rules and nothing else.

:class:`Design` itself answers with the single-stack shapes (the baseline), which every design
uses whenever the service or the proxy has only one IP family
(``docs/dual-stack-designs.md``, "Terms": single-family services and single-family proxies get
the single-stack shapes in every design).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from dsim.scenario.model import IpFamily

WILDCARD: dict[IpFamily, str] = {"IPv4": "0.0.0.0", "IPv6": "::"}
"""The any-address of each family, as Envoy socket addresses spell it."""
INBOUND_SOURCE: dict[IpFamily, str] = {"IPv4": "127.0.0.6", "IPv6": "::6"}
"""Where a sidecar's inbound traffic to its app comes from (Istio's bind address)."""
LOOPBACK: dict[IpFamily, str] = {"IPv4": "127.0.0.1", "IPv6": "::1"}
PASSTHROUGH_PREFIX: dict[IpFamily, str] = {"IPv4": "0.0.0.0", "IPv6": "::"}
DNS_FAMILY: dict[IpFamily, str] = {"IPv4": "V4_ONLY", "IPv6": "V6_ONLY"}
"""A DNS cluster's lookup family for a proxy of one family (``util.SelectDNSLookupFamily``)."""
INBOUND_PASSTHROUGH_CLUSTER: dict[IpFamily, str] = {
    "IPv4": "InboundPassthroughClusterIpv4",
    "IPv6": "InboundPassthroughClusterIpv6",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProxyFacts:
    """What a design needs to know about a sidecar."""

    families: tuple[IpFamily, ...]
    """IP families of the pod's addresses, IPv4 first."""

    @property
    def dual(self) -> bool:
        return len(self.families) == 2

    @property
    def wildcard(self) -> str:
        """The any-address of the pod's first family (``0.0.0.0`` on dual pods)."""
        return WILDCARD[self.families[0]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceFacts:
    """What a design needs to know about a service."""

    families: tuple[IpFamily, ...]
    """The service's families in ``ipFamilies`` order; the first is primary."""
    vips: dict[IpFamily, str]
    """ClusterIP text per family."""

    @property
    def dual(self) -> bool:
        return len(self.families) == 2

    @property
    def primary(self) -> IpFamily:
        return self.families[0]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bind:
    """A listener's addresses: the one it is named after, and ``additional_addresses``."""

    address: str
    additional: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutboundCopy:
    """One copy of a service's outbound config; a design may make one per IP family."""

    cluster_prefix: str
    """``outbound`` (``outbound|<port>|<subset>|<host>``), or ``outbound6`` for an IPv6 copy."""
    route_suffix: str
    """Appended to the copy's route configuration names (``"80"`` → ``"80.ipv6"``)."""
    bind: Bind
    """Where the copy's VIP listeners (TCP and auto-detected ports) listen."""
    domain_vips: tuple[str, ...]
    """The VIPs among its virtual host's domains."""
    endpoint_families: tuple[IpFamily, ...]
    """Which pod addresses its endpoints carry, in order."""
    endpoint_additional: bool = False
    """One endpoint per pod, the second family in ``Endpoint.additional_addresses`` (else one per address)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class NamedBind:
    """A fixed listener (``virtualOutbound``...) and where it listens."""

    name: str
    bind: Bind


@dataclasses.dataclass(frozen=True, kw_only=True)
class PassthroughChains:
    """One set of inbound passthrough filter chains."""

    cluster: str
    """Where they send traffic (an inbound passthrough cluster)."""
    prefix: str | None
    """``0.0.0.0`` or ``::`` as a /0 ``prefix_ranges`` match; ``None`` matches every family."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualInbound:
    """One ``virtualInbound``-style listener."""

    name: str
    bind: Bind
    passthrough: tuple[PassthroughChains, ...]
    """Its passthrough chain sets."""
    chain_address: str
    """The address in its per-port chain names (``0.0.0.0_<port>``)."""
    family: IpFamily
    """The family it serves: a Sidecar ingress port's chains are named after the pod's address of it."""
    inbound_cluster_prefix: str
    """Cluster its per-port chains send to: ``<prefix>|<port>||``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InboundCluster:
    """How the inbound cluster of each target port is built."""

    prefix: str
    """``inbound`` or ``inbound6``: the cluster is ``<prefix>|<port>||``."""
    source: str | None = None
    """The source address it binds to: an ``ORIGINAL_DST`` cluster's, or a ``STATIC`` one's that sends
    to the pod's address or a socket (a Sidecar ingress ``defaultEndpoint``)."""
    extra_sources: tuple[str, ...] = ()
    """``upstream_bind_config.extra_source_addresses``."""
    loopback: str | None = None
    """``STATIC`` cluster: the app's loopback address it sends to."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PassthroughCluster:
    """An inbound passthrough cluster (``ORIGINAL_DST``, bound to a source address)."""

    name: str
    source: str
    extra_sources: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryFacts:
    """What a design needs to know about a ServiceEntry host (``docs/istio-objects.md`` 3.6, 3.7)."""

    families: tuple[IpFamily, ...]
    """Its families: those of its addresses (in the order written), else of its endpoints, else both."""
    addresses: tuple[tuple[IpFamily, str], ...]
    """Its addresses (plain IPs), in the order written; empty: the wildcard listeners."""

    def of(self, family: IpFamily) -> tuple[str, ...]:
        return tuple(a for f, a in self.addresses if f == family)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryCopy:
    """One copy of a ServiceEntry host's outbound config (a design may make one per IP family)."""

    cluster_prefix: str
    """``outbound`` or ``outbound6``."""
    route_suffix: str
    """Appended to its route configuration names; also picks the wildcard listener it joins."""
    binds: tuple[Bind, ...]
    """One listener per bind for its TCP, TLS and sniffed ports; empty: the wildcard listener of
    its port (``Design.http_bind`` of its route suffix)."""
    domain_vips: tuple[str, ...]
    """Addresses among its virtual host's domains."""
    endpoint_families: tuple[IpFamily, ...]
    """Which families of its endpoints' addresses it carries (pods: in this order)."""
    endpoint_additional: bool = False
    """Pods as one endpoint with additional addresses (1.24) rather than one per address."""
    dns_lookup_family: str = "V4_ONLY"
    """``Cluster.DnsLookupFamily`` of its DNS clusters."""
    endpoint_split: bool = False
    """The entry's own endpoint IPs are split by family between the copies (``duplicate``); else
    every copy carries all of them, as istiod sends them (hostnames always go to every copy)."""


class Design:
    """One way of configuring Envoy for dual-stack services; this base answers single-stack."""

    name: ClassVar[str]
    """Registry name, as scenarios and the CLI spell it."""
    description: ClassVar[str]
    """One line: what the design is and where it comes from."""
    order: ClassVar[int]
    """Position in listings and reports (chronological: the baseline first)."""

    def outbound_copies(self, service: ServiceFacts, proxy: ProxyFacts) -> tuple[OutboundCopy, ...]:
        """The copies of ``service``'s outbound config that ``proxy`` receives."""
        vip = service.vips[service.primary]
        return (
            OutboundCopy(
                cluster_prefix="outbound",
                route_suffix="",
                bind=Bind(address=vip),
                domain_vips=(vip,),
                endpoint_families=(service.primary,),
            ),
        )

    def entry_copies(self, entry: EntryFacts, proxy: ProxyFacts) -> tuple[EntryCopy, ...]:
        """The copies of a ServiceEntry host's outbound config ``proxy`` receives. Single-stack:
        addresses of the proxy's first family only (``FilterAddressesByIPFamily``; all of them if it
        has none of that family, inferred), one listener per address, DNS of that family."""
        family = proxy.families[0]
        usable = entry.of(family) or tuple(a for _, a in entry.addresses)
        return (
            EntryCopy(
                cluster_prefix="outbound",
                route_suffix="",
                binds=tuple(Bind(address=a) for a in usable),
                domain_vips=usable[:1],
                endpoint_families=(family,) if family in entry.families else entry.families[:1],
                dns_lookup_family=DNS_FAMILY[family],
            ),
        )

    def http_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        """Where the shared HTTP listener of a port listens, for copies with ``route_suffix``."""
        return Bind(address=proxy.wildcard)

    def loopback_bind(self, proxy: ProxyFacts, route_suffix: str) -> Bind:
        """Where a Sidecar egress port listener capturing with ``NONE`` and binding no address listens,
        for copies with ``route_suffix`` (``buildSidecarOutboundListeners``: the proxy's local hosts)."""
        return Bind(address=LOOPBACK[proxy.families[0]])

    def virtual_outbound(self, proxy: ProxyFacts) -> tuple[NamedBind, ...]:
        return (NamedBind(name="virtualOutbound", bind=Bind(address=proxy.wildcard)),)

    def virtual_inbound(self, proxy: ProxyFacts) -> tuple[VirtualInbound, ...]:
        return (
            VirtualInbound(
                name="virtualInbound",
                bind=Bind(address=proxy.wildcard),
                passthrough=self.passthrough_chains(proxy),
                chain_address=proxy.wildcard,
                family=proxy.families[0],
                inbound_cluster_prefix="inbound",
            ),
        )

    def passthrough_chains(self, proxy: ProxyFacts) -> tuple[PassthroughChains, ...]:
        """One passthrough set per family the pod has (a dual pod has both, dual-stack on or off)."""
        return tuple(
            PassthroughChains(cluster=INBOUND_PASSTHROUGH_CLUSTER[f], prefix=PASSTHROUGH_PREFIX[f])
            for f in proxy.families
        )

    def inbound_clusters(self, proxy: ProxyFacts) -> tuple[InboundCluster, ...]:
        return (InboundCluster(prefix="inbound", source=INBOUND_SOURCE[proxy.families[0]]),)

    def passthrough_clusters(self, proxy: ProxyFacts) -> tuple[PassthroughCluster, ...]:
        return tuple(
            PassthroughCluster(name=INBOUND_PASSTHROUGH_CLUSTER[f], source=INBOUND_SOURCE[f]) for f in proxy.families
        )

    def __repr__(self) -> str:
        return f"<design {self.name}>"
