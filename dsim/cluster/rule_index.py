"""Istio's DestinationRule index: the rule entries a proxy's lookup finds for a service host
(``docs/istio-objects.md`` 2.2; Istio 1.24's ``setDestinationRules``, ``mergeDestinationRule``,
``PushContext.destinationRule``, ``MostSpecificHostMatch`` and ``SidecarScope.DestinationRule``).

- Rules are indexed by their host as resolved (a wildcard host such as ``*.local``,
  ``*.shop.svc.cluster.local`` or ``*`` is kept as written) in three kinds of table: each
  namespace's own rules, each namespace's rules exported beyond it, the root namespace's private
  rules. Rules for one host in one table merge into entries (:func:`_merge`); an entry's id is
  its first rule.
- A lookup in one table finds the entries of the **most specific host** that covers the service:
  its exact host, else the longest wildcard host whose text after the ``*`` ends the service's
  host (``*`` covers every host). Which entry of those applies is :meth:`RuleIndex.lookup`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dsim.cluster.sources import Selector
from dsim.scenario.istio.destination_rule import DestinationRuleSpec, Subset
from dsim.scenario.model import ROOT_NAMESPACE as ROOT_NAMESPACE  # the builders read it here


def is_wildcard(host: str) -> bool:
    """Whether a rule's resolved host is a wildcard (``host.Name.IsWildCarded``: a leading ``*``)."""
    return host.startswith("*")


class HostCoverage:
    """Which services a rule's host covers, by their FQDNs: its exact host's services, or every one
    a wildcard host covers (the text after its ``*`` ends theirs: ``*.local``, ``*.shop.svc.cluster.local``;
    ``*`` covers all)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.hosts = list(hosts)
        # Every service of a host: one host may have services in several namespaces, each proxy
        # seeing one namespace's (docs/istio-objects.md 4.8), and a rule covers whichever it sees.
        self._exact: dict[str, list[int]] = {}
        for i, host in enumerate(self.hosts):
            self._exact.setdefault(host, []).append(i)
        self._by_suffix: dict[str, list[int]] | None = None

    def services(self, host: str) -> tuple[int, ...]:
        if not is_wildcard(host):
            return tuple(self._exact.get(host, ()))
        rest = host[1:]
        if rest.startswith(".") or not rest:
            # The usual '*.<domain>' (or '*'): look the domain up among every host's label suffixes.
            return tuple(self._suffixes().get(rest, ()))
        return tuple(i for i, h in enumerate(self.hosts) if h.endswith(rest))  # '*foo.com': any text before

    def _suffixes(self) -> dict[str, list[int]]:
        if self._by_suffix is None:
            found: dict[str, list[int]] = {"": list(range(len(self.hosts)))}
            for i, host in enumerate(self.hosts):
                for k, char in enumerate(host):
                    if char == ".":
                        found.setdefault(host[k:], []).append(i)
            self._by_suffix = found
        return self._by_suffix


@dataclasses.dataclass(frozen=True)
class RuleEntry:
    """Rules for one host in one namespace merged into one (:func:`_merge`; ``members`` in the order
    Istio takes them: selector rules first, each kind by creation)."""

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
    """What the index needs of one DestinationRule."""

    namespace: str
    host: str
    """Its host as istiod resolves it (a wildcard kept as written)."""
    services: tuple[int, ...]
    """The services its host covers: the one it names, or every one a wildcard host covers."""
    exports: frozenset[str]
    """Its ``exportTo`` as written (``.`` for a rule with a workload selector, which Istio keeps private)."""
    selector: Selector | None = None
    """Its workloadSelector's labels (``None``: none)."""
    private_by_default: bool = False
    """It sets no exportTo and the mesh's ``defaultDestinationRuleExportTo`` holds ``.``: Istio keeps
    it private to its namespace, its exportTo still compared as written (empty) when rules merge."""


class HostTable:
    """One of Istio's DestinationRule tables: entries by host, exact and wildcard apart."""

    def __init__(self) -> None:
        self.specific: dict[str, list[RuleEntry]] = {}
        self.wildcard: dict[str, list[RuleEntry]] = {}
        self._longest_first: list[str] | None = None

    def entries_of(self, host: str) -> list[RuleEntry]:
        """The (mutable) entry list of ``host``, made empty if new."""
        if is_wildcard(host):
            self._longest_first = None
            return self.wildcard.setdefault(host, [])
        return self.specific.setdefault(host, [])

    def match(self, host: str) -> list[RuleEntry]:
        """``MostSpecificHostMatch`` for a service's host (never a wildcard): the entries of that
        exact host, else of the longest wildcard covering it (two covering wildcards of one length
        would be one text, so the longest is unique); empty: none."""
        found = self.specific.get(host)
        if found:
            return found
        if self._longest_first is None:
            self._longest_first = sorted(self.wildcard, key=len, reverse=True)
        for pattern in self._longest_first:
            if host.endswith(pattern[1:]):
                return self.wildcard[pattern]
        return []

    def lists(self) -> list[list[RuleEntry]]:
        return [*self.specific.values(), *self.wildcard.values()]


class RuleIndex:
    """Istio's three DestinationRule indexes (``destinationRuleIndex``), built as
    ``setDestinationRules`` builds them."""

    def __init__(self, rules: Sequence[RuleFacts]) -> None:
        self.local: dict[str, HostTable] = {}
        self.exported: dict[str, HostTable] = {}
        self.root_local = HostTable()
        self.dropped = 0
        """Rules without a selector Istio merged into selector entries only (istio/istio#58322)."""
        # Rules with a selector first, each kind in creation order (sortConfigBySelectorAndCreationTime).
        order = sorted(range(len(rules)), key=lambda r: (rules[r].selector is None, r))
        for r in order:
            rule = rules[r]
            if not rule.services:  # covers no service: no lookup can find it
                continue
            exports = rule.exports
            # The root namespace's own table (Istio builds one) is never looked up: its proxies read
            # the root's private rules, every other proxy its own namespace's.
            if rule.namespace != ROOT_NAMESPACE and (not exports or exports & {"*", ".", rule.namespace}):
                self._add(self.local.setdefault(rule.namespace, HostTable()), r, rule)
            private_only = (len(exports) == 1 and exports & {".", rule.namespace}) or (
                not exports and rule.private_by_default
            )
            if not private_only:
                self._add(self.exported.setdefault(rule.namespace, HostTable()), r, rule)
            elif rule.namespace == ROOT_NAMESPACE:
                self._add(self.root_local, r, rule)

    def _add(self, table: HostTable, r: int, rule: RuleFacts) -> None:
        self.dropped += _merge(table.entries_of(rule.host), r, rule)

    def entries(self) -> list[RuleEntry]:
        """Every distinct entry, once each, by head."""
        found: dict[tuple[int, ...], RuleEntry] = {}
        for table in (*self.local.values(), *self.exported.values(), self.root_local):
            for entries in table.lists():
                for entry in entries:
                    found.setdefault(entry.members, entry)
        return sorted(found.values(), key=lambda entry: entry.head)

    def lookup(
        self, namespace: str | None, host: str, service_namespace: str, matched: frozenset[Selector] = frozenset()
    ) -> int:
        """The entry (its head rule) a proxy of ``namespace`` (``None``: the base view) whose labels
        hold the selectors ``matched`` applies to the service ``host`` of ``service_namespace``; -1: none."""
        if namespace == ROOT_NAMESPACE:
            own = self.root_local.match(host)
        else:
            table = self.local.get(namespace) if namespace is not None else None
            own = table.match(host) if table is not None else []
        if own:  # SidecarScope.DestinationRule: the first selector entry matched, else the last catch-all
            catch_all = -1
            for entry in own:
                if entry.selector is None:
                    catch_all = entry.head
                elif entry.selector in matched:
                    return entry.head
            return catch_all
        for owner in (service_namespace, ROOT_NAMESPACE):
            table = self.exported.get(owner)
            # The most specific host first, then its entries exported to the proxy: a more specific
            # host not exported to it hides a wider one that is (getExportedDestinationRuleFromNamespace).
            found = [e for e in table.match(host) if e.exported_to(namespace)] if table is not None else []
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


def _merge(entries: list[RuleEntry], r: int, rule: RuleFacts) -> bool:
    """Add rule ``r`` to the entries of its host and namespace as Istio 1.24's
    ``mergeDestinationRule`` does, ``ENABLE_ENHANCED_DESTINATIONRULE_MERGE`` on (its default), read
    literally: it merges into every entry whose exportTo (as written) equals its own or, when the
    entry's is not empty, is a subset of its own, unless both have selectors that differ; whether
    it also becomes an entry of its own is decided by the last entry looked at. Returns whether it
    joined only selector entries while having no selector itself: Istio then drops it for every
    other proxy (istio/istio#58322)."""
    alone = True
    joined: list[RuleEntry] = []
    for i, entry in enumerate(entries):
        if rule.exports == entry.exports:
            alone = False
        else:
            alone = True
            if not (entry.exports and rule.exports > entry.exports):
                continue
        if rule.selector is not None and entry.selector is not None and rule.selector != entry.selector:
            alone = True
            continue
        if rule.selector == entry.selector:  # both without a selector, or the same one
            alone = False
        entries[i] = dataclasses.replace(entry, members=(*entry.members, r))
        joined.append(entry)
    if alone:
        entries.append(RuleEntry(members=(r,), exports=rule.exports, selector=rule.selector))
        return False
    return rule.selector is None and all(entry.selector is not None for entry in joined)
