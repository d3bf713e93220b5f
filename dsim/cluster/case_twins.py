"""Registry hosts equal but for case (``docs/istio-objects.md`` 1.3): ``api.example.com`` and a
later ``API.example.com``.

Istio's HTTP route builder keys the services of a numbered port's route configuration by their
lower-cased host (``BuildSidecarOutboundVirtualHosts``, since 1.27), so of two such hosts with that
port the later one in the proxy's service order overwrites the earlier: a proxy that sees both gets
the later one's virtual host alone in ``"P"``, whatever the later one's protocol on P. Both keep
their clusters and listeners, named as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

CaseTwins = Mapping[int, Mapping[int, tuple[int, ...]]]
"""Per registry service: per port it has, the later registry services whose host equals its host
but for case (not as written) and that have the port too."""


def later_twins(hosts: Sequence[str], registry: Sequence[int], ports_of: Mapping[int, frozenset[int]]) -> CaseTwins:
    """:data:`CaseTwins` of the ``registry`` rows (the first service of each host in each
    namespace), ``hosts`` their hosts, ``ports_of`` their port numbers, in registry order."""
    groups: dict[str, list[int]] = {}
    for s in sorted(registry):
        groups.setdefault(hosts[s].lower(), []).append(s)
    out: dict[int, dict[int, tuple[int, ...]]] = {}
    for group in groups.values():
        for k, s in enumerate(group[:-1]):
            later = [t for t in group[k + 1 :] if hosts[t] != hosts[s]]
            by_port = {
                port: found
                for port in sorted(ports_of.get(s, frozenset()))
                if (found := tuple(t for t in later if port in ports_of.get(t, frozenset())))
            }
            if by_port:
                out[s] = by_port
    return out


def gives_way(twins: CaseTwins, service: int, port: int, seen: frozenset[int] | set[int]) -> bool:
    """Whether ``service`` builds no virtual host in route configuration ``"<port>"`` for a proxy
    that sees ``seen``: a later twin with the port is among them."""
    return any(t in seen for t in twins.get(service, {}).get(port, ()))
