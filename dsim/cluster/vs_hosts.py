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
- **only the other way round** (a ServiceEntry's wildcard host, ``*.wikipedia.org``, covers the
  VirtualService's host, ``en.wikipedia.org``): the TCP and TLS listeners match hosts both ways
  (``host.Name.Matches``), so its TCP and TLS routes apply to that entry's ports; its HTTP routes
  do not (the HTTP path looks only the VirtualService's own hosts up).

TCP and TLS routes are walked across every VirtualService naming the service in any of these ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dsim.cluster.rule_index import HostCoverage, is_wildcard

EXACT = 0
"""The VirtualService names the service's host."""
OTHER_WAY = -1
"""Only a ServiceEntry's wildcard host covers the VirtualService's host: TCP and TLS routes only."""
# A wildcard match is the wildcard's length (> 0): longer is more specific (two wildcards of one
# length covering one host are one text), as ``host.MoreSpecific`` ranks them.


def stronger(a: int, b: int) -> int:
    """The stronger of two ways one VirtualService names one service (its best host counts)."""
    if EXACT in (a, b):
        return EXACT
    return max(a, b)


class VsHostMatcher:
    """Registry services (the first of each host in each namespace: a Service shadows a
    ServiceEntry of its host there; :func:`dsim.cluster.service_entries.registry_rows`) by how a
    VirtualService host names them."""

    def __init__(self, hosts: Sequence[str], registry: Sequence[int]) -> None:
        self._coverage = HostCoverage(hosts)
        self._registry = set(registry)
        self._wildcards = [(hosts[s], s) for s in registry if is_wildcard(hosts[s]) and hosts[s] != "*"]

    def named(self, host: str) -> dict[int, int]:
        """The services ``host`` (resolved) names, each with how (:data:`EXACT`, a wildcard's length,
        :data:`OTHER_WAY`)."""
        found: dict[int, int] = {}
        how = len(host) if is_wildcard(host) else EXACT
        for s in self._coverage.services(host):
            if s in self._registry:
                found[s] = how
        for pattern, s in self._wildcards:
            if s not in found and host.endswith(pattern[1:]):
                found[s] = OTHER_WAY
        return found


def http_chain(chain: Sequence[int], how: Mapping[int, int]) -> tuple[int, ...]:
    """Of a service's chain (every VirtualService naming it that a namespace sees, in its walk
    order; ``how``: per VirtualService, how it names the service), those whose HTTP routes may build
    its virtual host: the ones naming it exactly, else the first of the most specific wildcard."""
    exact = tuple(v for v in chain if how[v] == EXACT)
    if exact:
        return exact
    best = max((how[v] for v in chain), default=OTHER_WAY)
    if best == OTHER_WAY:
        return ()
    return (next(v for v in chain if how[v] == best),)
