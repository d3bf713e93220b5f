"""Which VirtualService and which DestinationRule a proxy's namespace sees for each service.

``exportTo`` and the namespaces objects live in make that a function of the proxy's namespace
(``docs/istio-objects.md`` 1.4, 2.2 and 4.4, following Istio's ``PushContext``):

- **VirtualServices.** A namespace N walks the VirtualServices visible to it in Istio's index
  order (``VirtualServicesForGateway``): those private to N, then those other namespaces export to
  N by name, then the public ones, each list in creation order (scenario order, pasted before
  generated). Every one of them naming a service is in its **chain**, in that order: for each port
  the first whose HTTP routes take it builds the service's virtual host, and TCP and TLS routes are
  walked across the chain (``BuildSidecarVirtualHostWrapper``, ``buildSidecarOutboundTCPListenerOpts``).
- **DestinationRules** (``setDestinationRules``, ``destinationRule``). Rules for one host in one
  namespace with equal exportTo (as written) are merged into one entry (:func:`merged_spec`:
  ``mergeDestinationRule``); the entry's id is its first rule. For a proxy in N:
  N's own entries (its public and private rules and those exporting to N by name), else the
  entries of the service's namespace exported to N, else the root namespace's exported to N. Of
  several entries found, the last one applies (``SidecarScope.DestinationRule``'s catch-all).
- **Rules with a workloadSelector** are private to their namespace and form entries of their own,
  merged with rules of the same selector (``mergeDestinationRule``); Istio sorts them before the
  others (1.24's ``sortConfigBySelectorAndCreationTime``), and a later rule without a selector and
  with equal exportTo is merged into them too (a rule may then be in several entries). A proxy of their namespace whose
  labels hold one applies the first such entry, outbound only; any other proxy, and every inbound
  cluster, the last entry without a selector from the same list, and none when the list has only
  selector entries: Istio does not then look in the service's namespace
  (``PushContext.destinationRule`` returns the namespace's list as soon as it is not empty).
  Proxies of one namespace matching the same selectors share a **viewer**: the namespaces are
  viewers 0..N-1 (no selector matched), each further (namespace, matched selectors) one more.
- **Source conditions** of VirtualService matches (``sourceLabels``, ``sourceNamespace``,
  ``gateways``: :mod:`dsim.cluster.sources`) decide which routes a proxy gets: a viewer's view
  differs from the base for a service whose chain's conditions hold otherwise for it (the base's
  source: a namespace no condition names, no label). The ``sourceLabels`` are selectors too.

The **base view** is what a namespace with no object of its own and named in no exportTo sees
(public objects only). Every other namespace's view differs from it only for the services its
own or explicitly exported objects name, and for services whose VirtualService routes to a
service whose rule changed (a route carries its destination's consistent hash, 1.8); those
(namespace, service) pairs are the **exceptions**.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

from dsim.cluster.sources import BASE_SOURCE, Condition, Selector, Source
from dsim.scenario.istio.destination_rule import DestinationRuleSpec, Subset

ROOT_NAMESPACE = "istio-system"
"""Istio's ``meshConfig.rootNamespace`` default (dsim has no setting for it)."""

Exports = frozenset[str] | None
"""The namespaces an object is exported to, ``.`` resolved to its own (``None``: public)."""


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


@dataclasses.dataclass(frozen=True)
class RuleEntry:
    """Rules for one host in one namespace with equal exportTo (and selector, but see :func:`_merge`),
    merged (``members`` in the order Istio takes them: selector rules first, each kind by creation)."""

    members: tuple[int, ...]
    exports: frozenset[str]
    """Their ``exportTo`` as written (Istio compares the values, not what they resolve to)."""
    selector: Selector | None = None
    """Their workloadSelector's labels (``None``: none)."""

    @property
    def head(self) -> int:
        """The entry's id: its first rule."""
        return self.members[0]

    def exported_to(self, namespace: str | None) -> bool:
        """Whether a proxy of ``namespace`` (``None``: one no exportTo names) may apply it from
        another namespace (``getExportedDestinationRuleFromNamespace``)."""
        return not self.exports or "*" in self.exports or (namespace is not None and namespace in self.exports)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RuleFacts:
    """What the view needs of one DestinationRule."""

    namespace: str
    service: int
    """The service its host names (-1: none)."""
    exports: frozenset[str]
    """Its ``exportTo`` as written (``.`` for a rule with a workload selector, which Istio keeps private)."""
    selector: Selector | None = None
    """Its workloadSelector's labels (``None``: none)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class VsFacts:
    """What the view needs of one VirtualService bound to the mesh."""

    namespace: str
    exports: Exports
    claims: tuple[int, ...]
    """The services its hosts name, in host order."""
    destinations: frozenset[int]
    """The services its HTTP routes send to."""
    conditions: tuple[Condition, ...] = ()
    """Its matches' source conditions that can leave a proxy out (:mod:`dsim.cluster.sources`)."""


class _RuleIndex:
    """Istio's three DestinationRule indexes, by (namespace, service)."""

    def __init__(self, rules: Sequence[RuleFacts]) -> None:
        self.local: dict[tuple[str, int], list[RuleEntry]] = {}
        self.exported: dict[tuple[str, int], list[RuleEntry]] = {}
        self.root_local: dict[int, list[RuleEntry]] = {}
        # Rules with a selector first, each kind in creation order (sortConfigBySelectorAndCreationTime).
        order = sorted(range(len(rules)), key=lambda r: (rules[r].selector is None, r))
        for r in order:
            rule = rules[r]
            if rule.service < 0:
                continue
            key = (rule.namespace, rule.service)
            exports = rule.exports
            if not exports or exports & {"*", ".", rule.namespace}:
                _merge(self.local.setdefault(key, []), r, rule)
            if not (len(exports) == 1 and exports & {".", rule.namespace}):  # not private only
                _merge(self.exported.setdefault(key, []), r, rule)
            elif rule.namespace == ROOT_NAMESPACE:
                _merge(self.root_local.setdefault(rule.service, []), r, rule)

    def entries(self) -> list[tuple[int, RuleEntry]]:
        """Every distinct entry with its service, once each."""
        found: dict[tuple[int, ...], tuple[int, RuleEntry]] = {}
        for table in (self.local, self.exported):
            for (_, service), entries in table.items():
                for entry in entries:
                    found.setdefault(entry.members, (service, entry))
        for service, entries in self.root_local.items():
            for entry in entries:
                found.setdefault(entry.members, (service, entry))
        return sorted(found.values(), key=lambda pair: pair[1].head)

    def lookup(
        self, namespace: str | None, service: int, service_namespace: str, matched: frozenset[Selector] = frozenset()
    ) -> int:
        """The entry (its head rule) a proxy of ``namespace`` (``None``: the base view) whose labels
        hold the selectors ``matched`` applies to ``service``; -1: none."""
        if namespace == ROOT_NAMESPACE:
            own = self.root_local.get(service)
        else:
            own = self.local.get((namespace, service)) if namespace is not None else None
        if own:  # SidecarScope.DestinationRule: the first selector entry matched, else the last catch-all
            catch_all = -1
            for entry in own:
                if entry.selector is None:
                    catch_all = entry.head
                elif entry.selector in matched:
                    return entry.head
            return catch_all
        for owner in (service_namespace, ROOT_NAMESPACE):
            found = [e for e in self.exported.get((owner, service), ()) if e.exported_to(namespace)]
            if found:
                return found[-1].head
        return -1


def merged_spec(specs: Sequence[DestinationRuleSpec]) -> DestinationRuleSpec:
    """The rules of one entry as one (``mergeDestinationRule``): the first one's host and exportTo,
    the first top-level traffic policy any of them has, their subsets with a repeated name dropped
    (each keeping its own policy)."""
    subsets: dict[str, Subset] = {}
    for spec in specs:
        for subset in spec.subsets:
            subsets.setdefault(subset.name, subset)
    policy = next((spec.traffic_policy for spec in specs if spec.traffic_policy is not None), None)
    return dataclasses.replace(specs[0], traffic_policy=policy, subsets=tuple(subsets.values()))


def _merge(entries: list[RuleEntry], r: int, rule: RuleFacts) -> None:
    """Add rule ``r`` to the entries of its host and namespace as ``mergeDestinationRule`` does
    (exportTo compared as written): into every entry with equal exportTo whose selector is its own
    or, for a rule without one, any selector entry too (Istio copies its new subsets, and its policy
    where the entry has none, into those); an entry of its own unless one had its own selector."""
    alone = True
    for i, entry in enumerate(entries):
        if entry.exports != rule.exports:
            continue
        if entry.selector != rule.selector and rule.selector is not None:
            continue
        alone = alone and entry.selector != rule.selector
        entries[i] = dataclasses.replace(entry, members=(*entry.members, r))
    if alone:
        entries.append(RuleEntry(members=(r,), exports=rule.exports, selector=rule.selector))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectViews:
    """Each viewer's VirtualService and DestinationRule per service, as the base plus exceptions."""

    rule_of_service: dict[int, int]
    """The base view's DestinationRule entry (its head rule) per service."""
    entries: tuple[tuple[int, RuleEntry], ...]
    """Every DestinationRule entry with the service it names, by head rule."""
    exceptions: tuple[tuple[int, int, int, int], ...]
    """(viewer, service, the first VirtualService of its chain or -1, entry head or -1) where that
    viewer's view differs from the base, sorted. Viewers 0..N-1 are the namespaces; the others are
    :func:`object_views`'s ``selected``, in order, from N."""


def object_views(
    namespaces: Sequence[str],
    service_namespace: Sequence[str],
    rules: Sequence[RuleFacts],
    virtual_services: Sequence[VsFacts],
    notes: Counter[str],
    selected: Sequence[tuple[int, frozenset[Selector]]] = (),
) -> ObjectViews:
    """Every viewer's view of the mesh's VirtualServices and DestinationRules (see the module doc):
    the namespaces', then ``selected``'s, each a (namespace row, the workloadSelectors its proxies'
    labels hold) of proxies that match some DestinationRule's selector."""
    index = _RuleIndex(rules)
    entries = index.entries()
    for found in (*index.local.values(), *index.exported.values()):
        if len({entry.selector for entry in found}) < len(found):
            notes[
                "DestinationRules for one host in one namespace with different exportTo: kept apart, the last one "
                "a proxy may see applied (Istio's superset merge is not modelled)"
            ] += 1
    merged = sum(len(entry.members) - 1 for _, entry in entries)
    if merged:
        notes[
            "DestinationRules for one host, namespace, exportTo and selector: merged (subsets unioned, the first "
            "policy kept)"
        ] += merged

    def rule_view(namespace: str | None, service: int, matched: frozenset[Selector] = frozenset()) -> int:
        return index.lookup(namespace, service, service_namespace[service], matched)

    ruled = sorted({service for service, _ in entries})
    base_rule = {s: h for s in ruled if (h := rule_view(None, s)) >= 0}

    # Which namespaces may differ from the base, and for which services.
    candidates: dict[str, set[int]] = {}
    for rule in rules:
        if rule.service >= 0:
            for ns in {rule.namespace, *rule.exports}:
                candidates.setdefault(ns, set()).add(rule.service)
    for vs in virtual_services:
        for ns in {vs.namespace, *(vs.exports or ())}:
            candidates.setdefault(ns, set()).update(vs.claims)
    routed_to: dict[int, list[int]] = {}
    for v, vs in enumerate(virtual_services):
        for d in vs.destinations:
            routed_to.setdefault(d, []).append(v)

    claimers = vs_claimers(virtual_services)
    base_vs = {s: chain for s in claimers if (chain := vs_chain(virtual_services, claimers[s], None))}

    def vs_view(namespace: str, service: int) -> tuple[int, ...]:
        return vs_chain(virtual_services, claimers.get(service, ()), namespace)

    # Services of a VirtualService with source conditions may differ for any viewer.
    conditioned = {s for vs in virtual_services if vs.conditions for s in vs.claims}

    def signature(source: Source, chain: tuple[int, ...]) -> tuple[tuple[bool, ...], ...]:
        return tuple(source.signature(virtual_services[v].conditions) for v in chain)

    viewers = [(n, frozenset[Selector]()) for n in range(len(namespaces))] + list(selected)
    exceptions: list[tuple[int, int, int, int]] = []
    for viewer, (n, matched) in enumerate(viewers):
        ns = namespaces[n]
        mine = candidates.get(ns, set()) | conditioned
        if not mine:
            continue
        source = Source(namespace=ns, labels=frozenset().union(*matched))
        changed: dict[int, tuple[tuple[int, ...], int]] = {}
        for s in sorted(mine):
            pair = (vs_view(ns, s), rule_view(ns, s, matched))
            base_pair = (base_vs.get(s, ()), base_rule.get(s, -1))
            if pair != base_pair or signature(source, pair[0]) != signature(BASE_SOURCE, base_pair[0]):
                changed[s] = pair
        rerouted = [s for s, (_, rule) in changed.items() if rule != base_rule.get(s, -1)]
        for d in rerouted:  # a route carries its destination's hash policy, from the rule this viewer sees
            for v in routed_to.get(d, ()):
                for s in virtual_services[v].claims:
                    if s not in changed and v in vs_view(ns, s):  # its own pair is the base one
                        changed[s] = (vs_view(ns, s), base_rule.get(s, -1))
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


def vs_chain(virtual_services: Sequence[VsFacts], claimers: Sequence[int], namespace: str | None) -> tuple[int, ...]:
    """Those of ``claimers`` ``namespace`` sees, in its walk order (``None``: the base view's, the
    public ones)."""
    if namespace is None:
        return tuple(v for v in claimers if virtual_services[v].exports is None)
    ranked = sorted((rank, v) for v in claimers if (rank := _vs_rank(virtual_services[v], namespace)) >= 0)
    return tuple(v for _, v in ranked)


def views_by_viewer(exceptions: Sequence[tuple[int, int, int, int]]) -> Mapping[int, dict[int, tuple[int, int]]]:
    """The exceptions as {viewer: {service: (the first VirtualService of its chain, rule entry)}}."""
    out: dict[int, dict[int, tuple[int, int]]] = {}
    for n, s, vs, rule in exceptions:
        out.setdefault(n, {})[s] = (vs, rule)
    return out
