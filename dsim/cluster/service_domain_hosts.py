"""VirtualService hosts that are another domain of a Service the same VirtualService names by its
host (``docs/istio-objects.md`` 1.4, "Hosts that are a service's other domain"), following Istio's
``BuildSidecarOutboundVirtualHosts`` and ``dedupeDomains`` (``httproute.go``).

``hosts: [reviews, reviews.bookinfo]`` in namespace ``bookinfo``: ``reviews`` is the Service's host
(``reviews.bookinfo.svc.cluster.local``) and builds its virtual host; ``reviews.bookinfo`` names no
service (Istio resolves only hosts without a dot), so it is one of the VirtualService's other hosts,
yet it is also one of the domains of the Service's virtual host. Istio builds a VirtualService's
other hosts' virtual hosts before its services' and keeps each domain in the first virtual host
that claims it, so where the VirtualService builds the Service's virtual host, ``"P"`` gains a
virtual host ``reviews.bookinfo:P`` (one domain, the same routes) and the Service's virtual host
loses that domain. Where another VirtualService builds the Service's virtual host it comes first in
the walk (it is the first of the Service's chain), so it keeps the domain and the host gets no
virtual host; where the proxy does not see the Service the host is an other host like any
(:mod:`dsim.cluster.port80_hosts`, :mod:`dsim.cluster.cross_port_hosts`, with the Service as one of
the host's blockers).

Only a Kubernetes Service's domains ``<name>.<namespace>``, ``<name>.<namespace>.svc`` and its host
with a trailing dot are taken up here. Such a host of a VirtualService that does not name the
Service by its host (and then that domain for every VirtualService listing it: which one's routes
its virtual host carries depends on each proxy's walk), a ServiceEntry host's trailing-dot domain
and an IP host stay counted as not built (:class:`dsim.cluster.port80_hosts.Port80Hosts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dsim.cluster.port80_hosts import RegistryPorts, bound_to_mesh
from dsim.scenario.istio import VirtualService


class ServiceDomainHosts:
    """Per VirtualService bound to the mesh, its hosts that are another domain of a Kubernetes
    Service whose host it also lists."""

    def __init__(
        self,
        virtual_services: Sequence[VirtualService],
        registry: RegistryPorts,
        resolved: Callable[[str, str], str],
    ) -> None:
        owners = registry.alternative_domains()
        self.of_pair: dict[tuple[int, int], tuple[str, ...]] = {}
        """(VirtualService, Service) → the VirtualService's hosts that are the Service's other domains,
        in host order, each once: where the VirtualService builds the Service's virtual host, each
        is a virtual host of its own and no longer one of the Service's domains."""
        self.owner: dict[tuple[int, str], int] = {}
        """(VirtualService, host) → the Service whose domain the host is (as in :attr:`of_pair`)."""
        found: list[tuple[int, str, int]] = []
        elsewhere: set[str] = set()
        own_hosts = {registry.hosts[s].lower() for s in registry.registry}
        for v, vs in enumerate(virtual_services):
            if not bound_to_mesh(vs):
                continue
            hosts = [resolved(written, vs.namespace).lower() for written in vs.spec.hosts]
            listed = set(hosts)
            for host in dict.fromkeys(hosts):
                service = owners.get(host)
                # A host some service holds as its own host is that service's, not a domain.
                if service is None or host in own_hosts:
                    continue
                if registry.hosts[service] in listed:
                    found.append((v, host, service))
                else:
                    elsewhere.add(host)
        # A domain also listed by a VirtualService that does not name its Service is left out for
        # every VirtualService listing it: whose routes its virtual host carries depends on the walk.
        for v, host, service in found:
            if host not in elsewhere:
                self.owner[(v, host)] = service
                self.of_pair[(v, service)] = (*self.of_pair.get((v, service), ()), host)
