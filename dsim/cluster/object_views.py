"""Which VirtualService and which DestinationRule each proxy applies to each service, and which
routes it gets from them: a function of its namespace and of the selectors its labels hold
(``docs/istio-objects.md`` 1.4, 1.5, 2.2 and 4.4, following Istio's ``PushContext``):

- **VirtualServices.** A namespace N walks the VirtualServices visible to it in Istio's index
  order (``VirtualServicesForGateway``): those private to N, then those other namespaces export to
  N by name, then the public ones, each list in creation order (scenario order, pasted before
  generated). Every one of them naming a service is in its **chain**, in that order: for each port
  the first whose HTTP routes take it builds the service's virtual host, and TCP and TLS routes are
  walked across the chain (``BuildSidecarVirtualHostWrapper``, ``buildSidecarOutboundTCPListenerOpts``).
- **Source conditions** of their matches (``sourceLabels``, ``sourceNamespace``, ``gateways``:
  :mod:`dsim.cluster.sources`) decide which of those routes a proxy gets.
- **DestinationRules** (``setDestinationRules``, ``destinationRule``). Rules for one host in one
  namespace merge into entries as Istio 1.24's ``mergeDestinationRule`` merges them, read
  literally (:mod:`dsim.cluster.rule_index`); an entry's id is its first rule. Rules with a
  workloadSelector are taken first (``sortConfigBySelectorAndCreationTime``), are private to their
  namespace and merge only with the same selector; a rule without one merges into every entry of
  equal (or, that entry's not being empty, narrower) exportTo, selector entries too, so a rule may
  be in several entries, or (Istio's open bug) in selector entries only. For a proxy in N: N's own
  entries (its public and private rules and those exporting to N by name), else the entries of the
  service's namespace exported to N, else the root namespace's exported to N, in each place those
  of the most specific host covering the service (exact, else the longest wildcard such as
  ``*.local``: a wildcard rule covers many services). Of N's own, a proxy
  whose labels hold an entry's selector applies the first such entry, outbound only; any other
  proxy, and every inbound cluster, the last entry without a selector, and none when N's list has
  only selector entries (Istio does not then look further). Of another namespace's, the last.
- **Import.** A proxy applies only the VirtualServices its scope imports: under a Sidecar, or
  the one its ``visibility`` stands for, a chain leaves out those it does not
  (:mod:`dsim.cluster.import_scopes`).
- **Viewers.** Proxies of one namespace whose labels hold the same selectors (DestinationRule
  workloadSelectors of the namespace, match ``sourceLabels``) and whose scopes leave out the same
  VirtualServices share a viewer: the namespaces are viewers 0..N-1 (no selector held, none left
  out), each further (namespace, selectors held, VirtualServices left out) one more.

The **base view** is what a proxy of a namespace with no object of its own, named in no exportTo
and in no match, holding no selector, sees (public objects only). Every other viewer's view
differs from it only for the services its namespace's own or explicitly exported objects name,
those whose chain's source conditions hold otherwise for it, and services whose VirtualService
routes to a service whose rule changed (a route carries its destination's consistent hash, 1.8);
those (viewer, service) pairs are the **exceptions**.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

from dsim.cluster.rule_index import RuleEntry, RuleFacts, RuleIndex
from dsim.cluster.sources import BASE_SOURCE, Condition, Selector, Source

Exports = frozenset[str] | None
"""The namespaces an object is exported to, ``.`` resolved to its own (``None``: public)."""


Unimported = frozenset[int]
"""VirtualServices (rows) a viewer's import scope leaves out though they would apply
(:func:`dsim.cluster.import_scopes.unimported_by_workload`)."""

Viewer = tuple[int, frozenset[Selector], Unimported]
"""A viewer past the namespaces: (namespace row, the selectors its proxies' labels hold, the
VirtualServices its import scope leaves out)."""


def export_set(values: Sequence[str], own: str) -> Exports:
    """An object's ``exportTo`` as a set of namespaces (``None``: public, as Istio's ``*`` and the default)."""
    if not values or "*" in values:
        return None
    if "~" in values:
        return frozenset()
    return frozenset(own if v == "." else v for v in values)


def visible_from(exports: Exports, namespace: str | None) -> bool:
    """Whether an object exported to ``exports`` is visible from ``namespace`` (``None``: a namespace
    no exportTo names)."""
    return exports is None or (namespace is not None and namespace in exports)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VsFacts:
    """What the view needs of one VirtualService bound to the mesh."""

    namespace: str
    exports: Exports
    claims: tuple[int, ...]
    """The services its hosts name (exactly, by a wildcard, or the other way round:
    :mod:`dsim.cluster.vs_hosts`), in host order."""
    how: tuple[int, ...] = ()
    """How it names each of ``claims`` (:data:`dsim.cluster.vs_hosts.EXACT`, a wildcard's length,
    :data:`dsim.cluster.vs_hosts.OTHER_WAY`)."""
    destinations: frozenset[int]
    """The services its HTTP routes send to."""
    conditions: tuple[Condition, ...] = ()
    """Its matches' source conditions that can leave a proxy out (:mod:`dsim.cluster.sources`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectViews:
    """Each viewer's VirtualService and DestinationRule per service, as the base plus exceptions."""

    rule_of_service: dict[int, int]
    """The base view's DestinationRule entry (its head rule) per service."""
    entries: tuple[RuleEntry, ...]
    """Every DestinationRule entry, by head rule."""
    exceptions: tuple[tuple[int, int, int, int], ...]
    """(viewer, service, the first VirtualService of its chain or -1, entry head or -1) where that
    viewer's view differs from the base, sorted. Viewers 0..N-1 are the namespaces; the others are
    :func:`object_views`'s ``selected``, in order, from N."""


def object_views(
    namespaces: Sequence[str],
    service_namespace: Sequence[str],
    service_host: Sequence[str],
    rules: Sequence[RuleFacts],
    virtual_services: Sequence[VsFacts],
    notes: Counter[str],
    selected: Sequence[Viewer] = (),
) -> ObjectViews:
    """Every viewer's view of the mesh's VirtualServices and DestinationRules (see the module doc),
    its services known by namespace and FQDN: the namespaces', then ``selected``'s, each a
    (namespace row, the selectors its proxies' labels hold: DestinationRule workloadSelectors of
    the namespace, VirtualService matches' sourceLabels; the VirtualServices its import scope
    leaves out)."""
    index = RuleIndex(rules)
    entries = index.entries()
    merged = sum(len(entry.members) - 1 for entry in entries)
    if merged:
        notes[
            "DestinationRules for one host and namespace: merged as Istio 1.24 merges them (subsets unioned, the "
            "first policy kept)"
        ] += merged
    if index.dropped:
        notes[
            "DestinationRule without a workloadSelector merged into selector rules only: the namespace's other "
            "proxies do not get it, as in Istio 1.24 (istio/istio#58322)"
        ] += index.dropped

    def rule_view(namespace: str | None, service: int, matched: frozenset[Selector] = frozenset()) -> int:
        return index.lookup(namespace, service_host[service], service_namespace[service], matched)

    ruled = sorted(set().union(*(rule.services for rule in rules)))
    base_rule = {s: h for s in ruled if (h := rule_view(None, s)) >= 0}

    # Which namespaces may differ from the base, and for which services.
    candidates: dict[str, set[int]] = {}
    for rule in rules:
        for ns in {rule.namespace, *rule.exports} if rule.services else ():
            candidates.setdefault(ns, set()).update(rule.services)
    for vs in virtual_services:
        for ns in {vs.namespace, *(vs.exports or ())}:
            candidates.setdefault(ns, set()).update(vs.claims)
    routed_to: dict[int, list[int]] = {}
    for v, vs in enumerate(virtual_services):
        for d in vs.destinations:
            routed_to.setdefault(d, []).append(v)

    claimers = vs_claimers(virtual_services)
    base_vs = {s: chain for s in claimers if (chain := vs_chain(virtual_services, claimers[s], None))}

    def vs_view(namespace: str, service: int, unimported: Unimported = frozenset()) -> tuple[int, ...]:
        return vs_chain(virtual_services, claimers.get(service, ()), namespace, unimported)

    # Services of a VirtualService with source conditions may differ for any viewer.
    conditioned = {s for vs in virtual_services if vs.conditions for s in vs.claims}

    def signature(source: Source, chain: tuple[int, ...]) -> tuple[tuple[bool, ...], ...]:
        return tuple(source.signature(virtual_services[v].conditions) for v in chain)

    viewers = [(n, frozenset[Selector](), frozenset[int]()) for n in range(len(namespaces))] + list(selected)
    exceptions: list[tuple[int, int, int, int]] = []
    for viewer, (n, matched, unimported) in enumerate(viewers):
        ns = namespaces[n]
        # A VirtualService left out changes the chain of every service it names.
        mine = candidates.get(ns, set()) | conditioned | {s for v in unimported for s in virtual_services[v].claims}
        if not mine:
            continue
        source = Source(namespace=ns, labels=frozenset().union(*matched))
        changed: dict[int, tuple[tuple[int, ...], int]] = {}
        for s in sorted(mine):
            pair = (vs_view(ns, s, unimported), rule_view(ns, s, matched))
            base_pair = (base_vs.get(s, ()), base_rule.get(s, -1))
            if pair != base_pair or signature(source, pair[0]) != signature(BASE_SOURCE, base_pair[0]):
                changed[s] = pair
        rerouted = [s for s, (_, rule) in changed.items() if rule != base_rule.get(s, -1)]
        for d in rerouted:  # a route carries its destination's hash policy, from the rule this viewer sees
            for v in routed_to.get(d, ()):
                for s in virtual_services[v].claims:
                    if s not in changed and v in vs_view(ns, s, unimported):  # its own pair is the base one
                        changed[s] = (vs_view(ns, s, unimported), base_rule.get(s, -1))
        exceptions.extend((viewer, s, walk[0] if walk else -1, rule) for s, (walk, rule) in sorted(changed.items()))
    return ObjectViews(rule_of_service=base_rule, entries=tuple(entries), exceptions=tuple(exceptions))


def _vs_rank(vs: VsFacts, namespace: str) -> int:
    """Where ``vs`` comes in ``namespace``'s walk: 0 private to it, 1 exported to it by name, 2
    public (Istio's order), -1 not visible."""
    if vs.exports is None:
        return 2
    if namespace in vs.exports:
        return 0 if vs.namespace == namespace else 1
    return -1


def vs_claimers(virtual_services: Sequence[VsFacts]) -> dict[int, list[int]]:
    """Per service: the VirtualServices naming it, in index order."""
    found: dict[int, list[int]] = {}
    for v, vs in enumerate(virtual_services):
        for s in vs.claims:
            found.setdefault(s, []).append(v)
    return found


def vs_chain(
    virtual_services: Sequence[VsFacts],
    claimers: Sequence[int],
    namespace: str | None,
    unimported: Unimported = frozenset(),
) -> tuple[int, ...]:
    """Those of ``claimers`` ``namespace`` sees, in its walk order (``None``: the base view's, the
    public ones), but ``unimported``."""
    if namespace is None:
        return tuple(v for v in claimers if virtual_services[v].exports is None)
    ranked = sorted(
        (rank, v) for v in claimers if (rank := _vs_rank(virtual_services[v], namespace)) >= 0 and v not in unimported
    )
    return tuple(v for _, v in ranked)


def views_by_viewer(exceptions: Sequence[tuple[int, int, int, int]]) -> Mapping[int, dict[int, tuple[int, int]]]:
    """The exceptions as {viewer: {service: (the first VirtualService of its chain, rule entry)}}."""
    out: dict[int, dict[int, tuple[int, int]]] = {}
    for n, s, vs, rule in exceptions:
        out.setdefault(n, {})[s] = (vs, rule)
    return out
