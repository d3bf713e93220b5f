"""Which registry services a VirtualService's host names, and how (``docs/istio-objects.md`` 1.4,
following Istio's ``separateVSHostsAndServices``, ``computeWildcardHostVirtualServiceIndex`` and
``getConfigsForHost``).

How a host names a service decides which routes it gets there:

- **exactly** (the host is the service's FQDN): its HTTP routes build the service's virtual host,
  several such VirtualServices chained in a namespace's walk order;
- **by a wildcard** (``*.example.com``, ``*.shop.svc.cluster.local``: the text after the ``*`` ends
  the service's host): its HTTP routes build the virtual host only where no VirtualService the
  namespace sees names the service exactly and none covers it by a longer wildcard, and then only
  the first of those with that wildcard (``mostSpecificWildcardVsIndex`` maps each service to one
  VirtualService);
- **but for case** (``Reviews.shop.svc.cluster.local`` for ``reviews.shop.svc.cluster.local``): as
  exactly for its HTTP routes, which Istio's HTTP route builder looks up lower-cased (since 1.27);
  not at all for its TCP and TLS routes, matched as written;
- **only the other way round** (a ServiceEntry's wildcard host, ``*.wikipedia.org``, covers the
  VirtualService's host, ``en.wikipedia.org``): the TCP and TLS listeners match hosts both ways
  (``host.Name.Matches``), so its TCP and TLS routes apply to that entry's ports; its HTTP routes
  do not (the HTTP path looks only the VirtualService's own hosts up).

TCP and TLS routes are walked across every VirtualService naming the service in any of these ways
but for case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dsim.cluster.rule_index import HostCoverage, is_wildcard

EXACT = 0
"""The VirtualService names the service's host."""
OTHER_WAY = -1
"""Only a ServiceEntry's wildcard host covers the VirtualService's host: TCP and TLS routes only."""
CASE_FOLDED = -2
"""The VirtualService names the service's host but for case (``Reviews.shop.svc.cluster.local``):
HTTP routes only. Istio's HTTP route builder lower-cases both hosts before it compares them (since
1.27, istio/istio#56090), while TCP and TLS routes match hosts as written (``getConfigsForHost``)."""
# A wildcard match is the wildcard's length (> 0): longer is more specific (two wildcards of one
# length covering one host are one text), as ``host.MoreSpecific`` ranks them.


def stronger(a: int, b: int) -> int:
    """The stronger of two ways one VirtualService names one service (its best host counts). A host
    naming it but for case beside one naming it any other way (a wildcard, the other way round)
    names it for HTTP routes and for TCP and TLS ones: as exactly. *Istio keeps that wildcard in its
    index for the service, where another VirtualService's longer wildcard would win it (not
    modelled: docs/istio-objects.md 1.4).*"""
    if EXACT in (a, b) or (CASE_FOLDED in (a, b) and a != b):
        return EXACT
    return max(a, b)


def names_for_http(how: int) -> bool:
    """Whether a VirtualService naming a service so names it exactly for its HTTP routes."""
    return how in (EXACT, CASE_FOLDED)


class VsHostMatcher:
    """Registry services (the first of each host in each namespace: a Service shadows a
    ServiceEntry of its host there; :func:`dsim.cluster.service_entries.registry_rows`) by how a
    VirtualService host names them."""

    def __init__(self, hosts: Sequence[str], registry: Sequence[int]) -> None:
        self._coverage = HostCoverage(hosts)
        self._hosts = hosts
        self._registry = set(registry)
        self._folded: dict[str, list[int]] = {}
        for s in registry:
            self._folded.setdefault(hosts[s].lower(), []).append(s)
        self._wildcards = [(hosts[s], s) for s in registry if is_wildcard(hosts[s]) and hosts[s] != "*"]

    def named(self, host: str) -> dict[int, int]:
        """The services ``host`` (resolved) names, each with how (:data:`EXACT`, :data:`CASE_FOLDED`, a
        wildcard's length, :data:`OTHER_WAY`). A wildcard host is compared as written, as Istio's
        wildcard index compares it, and gives a host with a capital letter it covers its TCP and
        TLS routes alone (docs/istio-objects.md 1.4)."""
        found: dict[int, int] = {}
        wildcard = is_wildcard(host)
        how = len(host) if wildcard else EXACT
        for s in self._coverage.services(host):
            if s in self._registry:
                # Istio's wildcard index is keyed by the host as written and looked up lower-cased
                # (mostSpecificWildcardVsIndex): a host with a capital letter gets no HTTP routes of it.
                found[s] = OTHER_WAY if wildcard and self._hosts[s] != self._hosts[s].lower() else how
        for s in () if wildcard else self._folded.get(host.lower(), ()):
            found.setdefault(s, CASE_FOLDED)
        for pattern, s in self._wildcards:
            if s not in found and host.endswith(pattern[1:]):
                found[s] = OTHER_WAY
        return found


def l4_chain(chain: Sequence[int], how: Mapping[int, int]) -> tuple[int, ...]:
    """Of a service's chain, the VirtualServices whose TCP and TLS routes apply to it: all but those
    naming it only but for case (:data:`CASE_FOLDED`)."""
    return tuple(v for v in chain if how[v] != CASE_FOLDED)


def http_chain(chain: Sequence[int], how: Mapping[int, int]) -> tuple[int, ...]:
    """Of a service's chain (every VirtualService naming it that a namespace sees, in its walk
    order; ``how``: per VirtualService, how it names the service), those whose HTTP routes may build
    its virtual host, in walk order: the ones naming it exactly or but for case, and, where none
    names it exactly, the first of the most specific wildcard. Istio's wildcard index skips a
    service only some VirtualService names exactly as written (``computeWildcardHostVirtualServiceIndex``),
    so that wildcard builds beside the ones naming it but for case, and the first in walk order wins."""
    if any(how[v] == EXACT for v in chain):
        return tuple(v for v in chain if names_for_http(how[v]))
    best = max((how[v] for v in chain), default=OTHER_WAY)
    wildcard = next((v for v in chain if how[v] == best), None) if best > 0 else None
    return tuple(v for v in chain if how[v] == CASE_FOLDED or v == wildcard)
