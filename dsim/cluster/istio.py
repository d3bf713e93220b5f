"""VirtualServices and DestinationRules in the cluster: which service each one shapes, as tables.

Pasted objects come first (in scenario order), then the ones ``istio_objects`` generates for the
synthetic services (from the scenario seed). Hosts are resolved as istiod resolves them
(``ResolveShortnameToFQDN``, ``docs/istio-objects.md`` section 0): a name without a dot (``*foo``
too) is ``<name>.<object namespace>.svc.<cluster domain>``; ``*``, an IP and a name with a dot are
taken as written.

- A DestinationRule shapes the clusters of the services its host covers (its FQDN, or every one a
  wildcard host such as ``*.local`` covers: ``rule_hosts``) where a proxy's lookup finds it; its
  subsets join the ``subsets`` table (the same path as a Service's own ``subsets``), each selecting the
  service's workloads whose labels hold the subset's labels. Rules for one host and namespace
  are merged as ``mergeDestinationRule`` merges them (:mod:`dsim.cluster.object_views`);
  ``subsets.rule`` names the merged entry, ``destination_rules.entry`` each rule's, and
  ``rule_members`` every entry each rule is in.
- A VirtualService whose host is a service's FQDN, or a wildcard covering it, replaces that
  service's default virtual host on each of its HTTP ports with its own routes, and its TCP and TLS
  routes the default chains (which VirtualService wins where several name it:
  :mod:`dsim.cluster.vs_hosts`).
- Which VirtualService and which DestinationRule entry a proxy applies, and which routes it gets,
  depends on its namespace (exportTo, a namespace's own rules first, sourceNamespace) and its labels
  (workloadSelector, sourceLabels): :mod:`dsim.cluster.object_views`. The tables hold every
  VirtualService's claims (``virtual_service_hosts``, with how each names its service), the base view's rules
  (``destination_rules.shapes``) and, in ``object_views``, each (viewer, service) whose view
  differs from it. A viewer is a namespace, or the workloads of one whose labels hold the same
  DestinationRule workloadSelectors and match sourceLabels (``rule_viewers``).

What Istio does that dsim does not build, and what Istio accepts but leads nowhere (a route to a
subset no rule defines), is counted in :attr:`IstioObjects.notes`, never dropped silently.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dsim.cluster.case_twins import later_twins
from dsim.cluster.cross_port_hosts import CrossPorts, routes_may_take
from dsim.cluster.default_exports import rule_private_by_default, with_default
from dsim.cluster.delegation import merge_delegates
from dsim.cluster.discovery import discovered, discovery, with_discovered_objects
from dsim.cluster.headless import service_host, with_headless_services
from dsim.cluster.hostnames import resolve_host
from dsim.cluster.import_scopes import unimported_by_workload
from dsim.cluster.istio_objects import IstioObjects
from dsim.cluster.labels import endpoint_labels, labels_by_workload, selects, takes_written
from dsim.cluster.object_views import ObjectViews, Unimported, Viewer, VsFacts, export_set, object_views
from dsim.cluster.port80_hosts import RegistryPorts, bound_to_mesh, port80_hosts
from dsim.cluster.rule_index import HostCoverage, RuleFacts, is_wildcard, merged_spec
from dsim.cluster.service_aliases import ALIAS_DESTINATION, EntryFacts, service_aliases
from dsim.cluster.service_domain_hosts import ServiceDomainHosts
from dsim.cluster.service_entries import (
    add_service_entries,
    entry_addresses,
    generated_entries,
    listens_per_endpoint,
    registry_rows,
    registry_services,
)
from dsim.cluster.sidecars import sidecar_tables
from dsim.cluster.sources import Selector, conditions, selectors
from dsim.cluster.tables import SCHEMA, Cluster, make_table, service_fqdns
from dsim.cluster.vs_hosts import CASE_FOLDED, OTHER_WAY, VsHostMatcher, names_for_http, stronger
from dsim.randomness import generator
from dsim.scenario import Scenario
from dsim.scenario.istio import (
    DestinationRule,
    Ignored,
    ServiceEntry,
    VirtualService,
    generate_destination_rules,
    generate_entry_virtual_services,
    generate_virtual_services,
)
from dsim.scenario.istio.destination_rule import Subset
from dsim.scenario.istio.generators import ENTRY_ROUTES_STREAM
from dsim.scenario.istio.rules import TLS_PROTOCOLS

Generated = tuple[list[DestinationRule], list[VirtualService]]


def generated_objects(s: Scenario, tables: dict[str, pd.DataFrame]) -> Generated:
    """The objects ``istio_objects`` asks for, over the synthetic services (as ``generate_istio_objects``
    draws them: rules first, routes over the rules' subsets, each kind from its own stream). Drawn
    before the services of namespaces istiod does not discover leave the tables, so that selectors
    leave the other services' objects as they are."""
    params = s.istio_objects
    services = tables["services"]
    synthetic = np.flatnonzero(services["synthetic"].to_numpy())
    if not synthetic.size or (params.virtual_services.share == 0 and params.destination_rules.share == 0):
        return [], []
    names = services["name"].to_numpy()[synthetic].tolist()
    namespaces = tables["namespaces"]["name"].to_numpy()[services["namespace"].to_numpy()[synthetic]].tolist()
    domain = s.mesh.cluster_domain
    rules = generate_destination_rules(
        names, namespaces, params.destination_rules, generator(s.seed, "istio.destination_rules"), cluster_domain=domain
    )
    index = {(n, ns): i for i, (n, ns) in enumerate(zip(names, namespaces, strict=True))}
    subsets = {index[(r.name, r.namespace)]: tuple(sub.name for sub in r.spec.subsets) for r in rules}
    services_vs = generate_virtual_services(
        names,
        namespaces,
        params.virtual_services,
        generator(s.seed, "istio.virtual_services"),
        subsets=subsets,
        cluster_domain=domain,
    )
    return list(rules), list(services_vs)


def _port_host_notes(
    vs: VirtualService,
    named_by_host: Sequence[Sequence[int]],
    ports_of: Mapping[int, frozenset[int]],
    notes: Counter[str],
) -> None:
    """Count the virtual hosts ``<host>:P`` Istio builds for a host of ``vs`` on a port P its
    services lack (none, for a host naming no service). Istio looks a VirtualService's hosts up
    among the services with the listener's port only (``BuildSidecarOutboundVirtualHosts``), so a
    host found none there is built as a host of no service (``nonServiceRegistryHosts``): on port
    80, where every VirtualService is walked (:mod:`dsim.cluster.port80_hosts`), and on a port
    another of its hosts' services has, which selects it (``selectVirtualServices``,
    :mod:`dsim.cluster.cross_port_hosts`). Both built."""
    own = [frozenset().union(*(ports_of.get(s, frozenset()) for s in named)) for named in named_by_host]
    every = frozenset().union(*own)
    for ports in own:
        if 80 not in ports and routes_may_take(vs, 80):
            notes[
                "VirtualService host naming no service with port 80, its HTTP routes taking port 80: route "
                'configuration "80" holds a virtual host `<host>:80` of its own with those routes, where a proxy '
                "has one and sees no port-80 service of the host, as in Istio (istio/istio#22621)"
            ] += 1
        if any(routes_may_take(vs, p) for p in every - ports - {80}):
            notes[
                "VirtualService host naming no service with a port P another of its hosts' services has, its HTTP "
                'routes taking P: where that service serves P over HTTP or sniffs it, route configuration "P" holds a '
                "virtual host `<host>:P` of its own with those routes for proxies that see that service and not the "
                "host's, as in Istio (selectVirtualServices)"
            ] += 1


def _ignored_summary(ignored: Sequence[Ignored]) -> tuple[tuple[str, int], ...]:
    """Ignored fields by kind and path, list indices folded (``virtual_services[*].spec.http[*]...``)."""
    folded = Counter(re.sub(r"\[\d+\]", "[*]", entry.path) for entry in ignored)
    return tuple(sorted(folded.items()))


def istio_tables(s: Scenario, tables: dict[str, pd.DataFrame], generated: Generated | None = None) -> IstioObjects:
    """Add the Istio object tables to ``tables`` (whose ids are final), extend ``subsets`` and
    ``subset_workloads`` with the rules' subsets and ``services`` with the ServiceEntries' hosts
    (after every Kubernetes Service); return the objects and the notes. ``generated``: the generated
    rules and VirtualServices (:func:`generated_objects`; drawn here without it)."""
    notes: Counter[str] = Counter()
    # istiod ignores the objects of namespaces it does not discover.
    found = discovery(s, tables["namespaces"])
    s = with_discovered_objects(with_headless_services(s), found, notes)
    drawn_rules, drawn_vs = generated if generated is not None else generated_objects(s, tables)
    rules_generated = discovered(drawn_rules, found, "DestinationRule", notes)
    vs_generated = discovered(drawn_vs, found, "VirtualService", notes)
    mesh = s.mesh
    rules = [*s.destination_rules, *rules_generated]
    virtual_services = [*s.virtual_services, *vs_generated]
    domain = mesh.cluster_domain
    # ServiceEntry hosts join the registry first: DestinationRules shape them as they shape Services.
    entries = tuple(with_default(add_service_entries(s, tables, notes), mesh.default_service_export_to))
    # Drawn over every generated entry, those of namespaces istiod does not discover included, so
    # that selectors leave the other entries' VirtualServices as they are; then filtered as those.
    entry_routes = generate_entry_virtual_services(
        generated_entries(s, tables) if s.mesh.discovery_selectors else entries[len(s.service_entries) :],
        s.istio_objects.service_entries.virtual_services,
        s.istio_objects.virtual_services,
        generator(s.seed, ENTRY_ROUTES_STREAM),
    )
    virtual_services += discovered(entry_routes, found, "VirtualService", notes)
    # The mesh's default exportTo, before anything reads one (dsim.cluster.default_exports).
    virtual_services = with_default(virtual_services, mesh.default_virtual_service_export_to)
    # istiod merges delegates into their roots before anything reads a VirtualService.
    delegation = merge_delegates(virtual_services, domain, notes)
    virtual_services = list(delegation.virtual_services)
    services = tables["services"]
    ns_names = tables["namespaces"]["name"].to_numpy()
    hosts = service_fqdns(services, ns_names, domain)
    service_of_host = registry_services(hosts)  # a destination host's first service: its facts
    service_namespace = ns_names[services["namespace"].to_numpy()].tolist()
    registry_services_rows = registry_rows(hosts, service_namespace)
    matcher = VsHostMatcher(hosts, registry_services_rows)
    ports_of: dict[int, frozenset[int]] = {}
    table = tables["service_ports"]
    for service, number in zip(table["service"].tolist(), table["port"].tolist(), strict=True):
        ports_of[service] = ports_of.get(service, frozenset()) | {number}

    ns_names_list = ns_names.tolist()
    case_twins = later_twins(hosts, registry_services_rows, ports_of)
    if case_twins:
        notes[
            "Registry host equal to a later one but for case, on a port both have: a proxy seeing both gets the "
            "later one's virtual host alone in route configuration \"P\" (Istio's HTTP route builder keys hosts "
            "lower-cased), as in Istio but for what docs/istio-objects.md 1.3 lists"
        ] += len(case_twins)

    # DestinationRules: which services each covers; which one a namespace applies is the views' (below).
    rule_facts = _rule_facts(s, rules, hosts)

    # VirtualServices: the services each names and routes to.
    alias_hosts = {service_host(a, domain) for a in s.external_name_services}
    vs_facts: list[VsFacts] = []
    claimed: set[int] = set()
    for vs in virtual_services:
        spec = vs.spec
        exports = export_set(spec.export_to, vs.namespace)
        if not spec.hosts:  # a delegate: merged into its roots (dsim.cluster.delegation), nothing on its own
            vs_facts.append(VsFacts(namespace=vs.namespace, exports=exports, claims=(), destinations=frozenset()))
            continue
        if spec.gateways and "mesh" not in spec.gateways:
            notes["VirtualService bound only to gateways: no effect on sidecars, as in Istio"] += 1
            vs_facts.append(VsFacts(namespace=vs.namespace, exports=exports, claims=(), destinations=frozenset()))
            continue
        claims: dict[int, int] = {}  # service -> how its best host names it (dsim.cluster.vs_hosts)
        named_by_host: list[list[int]] = []
        for host in spec.hosts:
            resolved = resolve_host(host, vs.namespace, domain)
            named = matcher.named(resolved)
            if all(how == OTHER_WAY for how in named.values()) and not (named and is_wildcard(resolved)):
                notes[
                    "VirtualService host names no service in the mesh (short name with a dot, external host or "
                    "wildcard covering none): its virtual host `<host>:80` is built where its HTTP routes take port "
                    "80, and `<host>:P` on a port P of another of its hosts' services, as in Istio"
                ] += 1
            if is_wildcard(resolved) and any(how > 0 for how in named.values()):
                notes[
                    "VirtualService wildcard host covering services: its HTTP routes build the virtual host of "
                    "each one no VirtualService a namespace sees names exactly nor covers by a longer wildcard "
                    "(the first with that wildcard), its TCP and TLS routes apply to every one, as in Istio"
                ] += 1
            if CASE_FOLDED in named.values():
                notes[
                    "VirtualService host naming a service but for case: its HTTP routes apply there (Istio "
                    "lower-cases both hosts since 1.27, istio/istio#56090), its TCP and TLS routes do not (matched as "
                    "written), as in Istio"
                ] += 1
            named_by_host.append([svc for svc, how in named.items() if how != OTHER_WAY])
            only_l4 = [svc for svc, how in named.items() if how == OTHER_WAY]
            if any(is_wildcard(hosts[svc]) for svc in only_l4):
                notes[
                    "VirtualService host a ServiceEntry's wildcard host covers: its TCP and TLS routes apply to "
                    "that entry's ports (Istio matches hosts both ways there), its HTTP routes do not"
                ] += 1
            if any(not is_wildcard(hosts[svc]) for svc in only_l4):
                notes[
                    "VirtualService wildcard host covering a host with a capital letter: its TCP and TLS routes apply "
                    "there, its HTTP routes do not (Istio's wildcard index is keyed by the host as written and looked "
                    "up lower-cased), as in Istio"
                ] += 1
            for service, how in named.items():
                if names_for_http(how) and service in claimed and not names_for_http(claims.get(service, OTHER_WAY)):
                    notes[
                        "VirtualService host another VirtualService also names: per port the first one a namespace "
                        "sees (private, exported to it, public) with an HTTP route for it builds its virtual host, "
                        "and TCP and TLS routes are walked across them in that order, as in Istio"
                    ] += 1
                if names_for_http(how):
                    claimed.add(service)
                claims[service] = stronger(claims.get(service, how), how)
        _port_host_notes(vs, named_by_host, ports_of, notes)
        targets = [d.destination.host for r in spec.http for d in r.route]
        targets += [d.destination.host for r in spec.tcp for d in r.route]
        targets += [d.destination.host for r in spec.tls for d in r.route]
        if alias_hosts and (to_alias := sum(resolve_host(h, vs.namespace, domain) in alias_hosts for h in targets)):
            notes[ALIAS_DESTINATION] += to_alias
        destinations: set[int] = set()
        for route in spec.http:
            for destination in route.route:
                target = destination.destination
                service = service_of_host.get(resolve_host(target.host, vs.namespace, domain), -1)
                if service < 0:
                    notes["route destination host names no service: the cluster name is built anyway, as in Istio"] += 1
                else:
                    destinations.add(service)
        vs_facts.append(
            VsFacts(
                namespace=vs.namespace,
                exports=exports,
                claims=tuple(claims),
                how=tuple(claims.values()),
                destinations=frozenset(destinations),
                conditions=conditions(vs),
            )
        )

    tables["virtual_services"] = make_table(
        "virtual_services",
        {
            "name": [vs.name for vs in virtual_services],
            "namespace": [vs.namespace for vs in virtual_services],
            "generated": np.arange(len(virtual_services)) >= len(s.virtual_services),
        },
    )
    vs_rows = [
        (v, svc, how) for v, facts in enumerate(vs_facts) for svc, how in zip(facts.claims, facts.how, strict=True)
    ]
    tables["virtual_service_hosts"] = make_table(
        "virtual_service_hosts",
        {name: [row[i] for row in vs_rows] for i, name in enumerate(("virtual_service", "service", "how"))},
    )
    # What each proxy sees, and the VirtualServices its scope imports, before the views: a proxy
    # applies only those (docs/istio-objects.md 1.4).
    sidecars, scoped, egress_layouts = sidecar_tables(s, tables, entries, virtual_services, notes)
    unimported = unimported_by_workload(
        tables, s.visibility, domain, sidecars, virtual_services, scoped, egress_layouts, notes
    )

    # Every VirtualService bound to the mesh counts: one naming no service still gives route
    # configuration "80" a virtual host per host (dsim.cluster.port80_hosts), its routes per source.
    sources = {sel for vs in virtual_services if bound_to_mesh(vs) for sel in selectors(vs)}
    selected, viewer_rows = _viewers(tables, rule_facts, sources, unimported)
    views = object_views(ns_names_list, service_namespace, hosts, rule_facts, vs_facts, notes, selected)
    _add_rule_subsets(tables, rules, views, _applied(views, rule_facts), notes)
    _subset_notes(tables, virtual_services, service_of_host, domain, notes)
    tables["destination_rules"] = make_table(
        "destination_rules",
        {
            "name": [r.name for r in rules],
            "namespace": [r.namespace for r in rules],
            "host": [facts.host for facts in rule_facts],
            "entry": _entry_of_rule(views, len(rules)),
            "shapes": np.isin(np.arange(len(rules)), list(views.rule_of_service.values())),
            "generated": np.arange(len(rules)) >= len(s.destination_rules),
        },
    )
    tables["rule_members"] = make_table(
        "rule_members",
        {
            "entry": [found.head for found in views.entries for _ in found.members],
            "rule": [r for found in views.entries for r in found.members],
        },
    )
    tables["rule_hosts"] = make_table(
        "rule_hosts",
        {
            "rule": [r for r, facts in enumerate(rule_facts) for _ in facts.services],
            "service": [s for facts in rule_facts for s in facts.services],
        },
    )
    base = sorted(views.rule_of_service.items())
    tables["base_rules"] = make_table(
        "base_rules", {"service": [s for s, _ in base], "rule": [head for _, head in base]}
    )
    tables["object_views"] = make_table(
        "object_views",
        {
            name: [row[i] for row in views.exceptions]
            for i, name in enumerate(("viewer", "service", "virtual_service", "rule"))
        },
    )
    tables["rule_viewers"] = make_table(
        "rule_viewers", {"workload": [w for w, _ in viewer_rows], "viewer": [v for _, v in viewer_rows]}
    )
    unimported_rows = [(viewer, v) for viewer, (_, _, dropped) in enumerate(selected) for v in sorted(dropped)]
    first_viewer = len(ns_names_list)
    tables["viewer_unimported"] = make_table(
        "viewer_unimported",
        {
            "viewer": [first_viewer + viewer for viewer, _ in unimported_rows],
            "virtual_service": [v for _, v in unimported_rows],
        },
    )
    _unmatched_rule_notes(rule_facts, notes)
    facts = [_alias_facts(entry) for entry in entries]
    aliases = service_aliases(s.external_name_services, hosts, services["entry"].tolist(), facts, domain, notes)
    registry = RegistryPorts(tables["services"], tables["service_ports"], ns_names_list, domain, entries, aliases)
    resolve = functools.partial(resolve_host, cluster_domain=domain)
    domain_hosts = ServiceDomainHosts(virtual_services, registry, resolve)
    hosts_80 = port80_hosts(virtual_services, registry, resolve, domain_hosts.owner)
    if hosts_80.clashes:
        notes[
            "VirtualService host equal to another domain of a service with an HTTP port 80 (`<name>.<namespace>`, "
            "`<name>.<namespace>.svc`, a trailing dot, an ExternalName Service's name) that the VirtualService does "
            "not name by its host, or of a "
            'ServiceEntry host, or an IP: its virtual host `<host>:80` in route configuration "80" is not built '
            "(Istio builds it where the domain is free or it claims it first, taking it from the service's "
            "virtual host)"
        ] += hosts_80.clashes
    cross_ports = CrossPorts(virtual_services, registry, resolve, domain_hosts.owner)
    if cross_ports.clashes:
        notes[
            "VirtualService host, beside a host of a service with HTTP port P (not 80), equal to another domain of "
            "a service with an HTTP port P (`<name>.<namespace>`, `<name>.<namespace>.svc`, a trailing dot, an "
            "ExternalName Service's name) that the "
            "VirtualService does not name by its host, or of a ServiceEntry host, or an IP: its virtual host "
            '`<host>:P` in route configuration "P" is not built (Istio builds it where the domain is free or it '
            "claims it first, taking it from the service's virtual host)"
        ] += cross_ports.clashes
    return IstioObjects(
        virtual_services=tuple(virtual_services),
        destination_rules=tuple(rules),
        service_entries=entries,
        sidecars=sidecars,
        scoped=scoped,
        egress_layouts=egress_layouts,
        port80_hosts=hosts_80,
        cross_port_hosts=cross_ports,
        service_domain_hosts=domain_hosts.of_pair,
        delegations=delegation.delegations,
        case_twins=case_twins,
        service_aliases=aliases,
        notes=tuple(sorted(notes.items())),
        ignored=_ignored_summary(s.istio_ignored),
    )


def _alias_facts(entry: ServiceEntry) -> EntryFacts:
    """What ExternalName Services naming ``entry``'s hosts need of it (dsim.cluster.service_aliases)."""
    cidr = len(entry_addresses(entry)) < len(entry.spec.addresses)
    wildcard = not entry.spec.addresses and not listens_per_endpoint(entry)
    tls = any(port.protocol in TLS_PROTOCOLS for port in entry.spec.ports)
    return EntryFacts(headless=entry.headless, sni_matched=tls and (cidr or wildcard))


def _rule_facts(s: Scenario, rules: Sequence[DestinationRule], service_hosts: Sequence[str]) -> list[RuleFacts]:
    """What the views need of each rule: its resolved host, the services that host covers (a
    wildcard host covers many), its exportTo as written and its selector."""
    coverage = HostCoverage(service_hosts)
    out: list[RuleFacts] = []
    for rule in rules:
        host = resolve_host(rule.spec.host, rule.namespace, s.mesh.cluster_domain)
        selector = rule.spec.workload_selector
        out.append(
            RuleFacts(
                namespace=rule.namespace,
                host=host,
                services=coverage.services(host),
                exports=frozenset({"."}) if selector is not None else frozenset(rule.spec.export_to),
                private_by_default=not rule.spec.export_to and rule_private_by_default(s.mesh),
                selector=None if selector is None else frozenset(selector.match_labels.items()),
            )
        )
    return out


def _unmatched_rule_notes(rules: Sequence[RuleFacts], notes: Counter[str]) -> None:
    """Count rules whose host covers no host of the registry, Service or ServiceEntry (no effect, as in Istio)."""
    for rule in rules:
        if not rule.services:
            notes["DestinationRule host names no service in the mesh: no effect on any sidecar, as in Istio"] += 1


def _applied(views: ObjectViews, rules: Sequence[RuleFacts]) -> list[tuple[int, int]]:
    """(rule entry head, service) for each entry and service it may shape: an exact host's entry
    and its service (applied or not: its subsets always join the table), a wildcard host's entry
    and each service some viewer applies it to; sorted."""
    wild = {found.head for found in views.entries if is_wildcard(rules[found.head].host)}
    pairs = {(found.head, s) for found in views.entries if found.head not in wild for s in rules[found.head].services}
    if wild:
        pairs.update((head, s) for s, head in views.rule_of_service.items() if head in wild)
        pairs.update((head, s) for _, s, _, head in views.exceptions if head in wild)
    return sorted(pairs)


def _subset_names(tables: dict[str, pd.DataFrame]) -> dict[int, set[str]]:
    subsets = tables["subsets"]
    found: dict[int, set[str]] = {}
    for service, name in zip(subsets["service"].tolist(), subsets["name"].tolist(), strict=True):
        found.setdefault(service, set()).add(name)
    return found


def _viewers(
    tables: dict[str, pd.DataFrame],
    rules: Sequence[RuleFacts],
    sources: set[Selector],
    unimported: Sequence[Unimported],
) -> tuple[list[Viewer], list[tuple[int, int]]]:
    """The viewers beyond the namespaces (:mod:`dsim.cluster.object_views`): each (namespace row,
    the selectors its workloads' labels hold: the DestinationRule workloadSelectors of that
    namespace, and ``sources``, the VirtualService matches' ``sourceLabels``; the VirtualServices
    its scope does not import, ``unimported`` per workload) some workload has, in order of first
    workload; and (workload, viewer) for each such workload."""
    by_namespace: dict[str, set[Selector]] = {}
    for rule in rules:
        if rule.selector is not None and rule.services:
            by_namespace.setdefault(rule.namespace, set()).add(rule.selector)
    namespace_rows = tables["workloads"]["namespace"].to_numpy()
    namespace_names = tables["namespaces"]["name"].to_numpy()
    labels = labels_by_workload(tables["workload_labels"]) if by_namespace or sources else {}
    first = len(tables["namespaces"])
    viewer_of: dict[Viewer, int] = {}
    rows: list[tuple[int, int]] = []
    for w, n in enumerate(namespace_rows.tolist()):
        mine = by_namespace.get(str(namespace_names[n]), set()) | sources
        held = frozenset(labels.get(w, {}).items()) if mine else frozenset()
        matched = frozenset(sel for sel in mine if sel <= held)
        if matched or unimported[w]:
            rows.append((w, viewer_of.setdefault((n, matched, unimported[w]), first + len(viewer_of))))
    return list(viewer_of), rows


def _entry_of_rule(views: ObjectViews, rules: int) -> np.ndarray:
    """Per rule: the head of the merged entry it belongs to: the one it heads, else the first it
    joined (-1: it names no service). Every entry it is in: ``rule_members``."""
    entry = np.full(rules, -1, dtype=np.int64)
    for found in views.entries:
        joined = [r for r in found.members if entry[r] < 0]
        entry[joined] = found.head
    for found in views.entries:
        entry[found.head] = found.head
    return entry


def _subset_notes(
    tables: dict[str, pd.DataFrame],
    virtual_services: Sequence[VirtualService],
    service_of_host: dict[str, int],
    domain: str,
    notes: Counter[str],
) -> None:
    """Count routes and mirrors (of sidecars' VirtualServices) to a subset no DestinationRule (nor
    the Service) defines for their host."""
    subsets_of = _subset_names(tables)
    for vs in virtual_services:
        if not vs.spec.hosts or (vs.spec.gateways and "mesh" not in vs.spec.gateways):
            continue
        for route in vs.spec.http:
            for target in (*(d.destination for d in route.route), *route.mirror_destinations()):
                service = service_of_host.get(resolve_host(target.host, vs.namespace, domain), -1)
                if service >= 0 and target.subset and target.subset not in subsets_of.get(service, ()):
                    notes[
                        "route destination subset that no DestinationRule defines: the route names a cluster that "
                        "does not exist (Envoy answers 503), as in Istio"
                    ] += 1


def _add_rule_subsets(
    tables: dict[str, pd.DataFrame],
    rules: Sequence[DestinationRule],
    views: ObjectViews,
    pairs: Sequence[tuple[int, int]],
    notes: Counter[str],
) -> None:
    """Append the subsets of each DestinationRule entry for each service of ``pairs`` ((entry head,
    service): :func:`_applied`) to ``subsets`` (``rule``: the entry's head; a Service's own subsets
    keep -1 and hold in every view) and their workloads to ``subset_workloads``, kept sorted by service."""
    subsets, members = tables["subsets"], tables["subset_workloads"]
    own = _subset_names(tables)
    labels = labels_by_workload(tables["workload_labels"])
    endpoint_labels_of: dict[int, dict[str, str]] = {}
    workloads_of: dict[int, list[int]] = {}
    sw = tables["service_workloads"]
    for service, w in zip(sw["service"].tolist(), sw["workload"].tolist(), strict=True):
        workloads_of.setdefault(service, []).append(w)
    new_service: list[int] = []
    new_name: list[str] = []
    new_rule: list[int] = []
    new_written: list[bool] = []
    new_members: list[tuple[int, int]] = []
    members_of = {found.head: found.members for found in views.entries}
    merged_of: dict[int, tuple[Subset, ...]] = {}
    for head, service in pairs:
        mine = own.get(service, set())
        first = head not in merged_of  # a wildcard host's entry comes once per service it shapes
        if first:
            merged_of[head] = merged_spec([rules[r].spec for r in members_of[head]]).subsets
        merged = merged_of[head]
        # Dropped subsets of an entry count once; those a Service's own subsets hide, per service.
        repeated = sum(len(rules[r].spec.subsets) for r in members_of[head]) - len(merged) if first else 0
        repeated += sum(subset.name in mine for subset in merged)
        if repeated:
            notes["DestinationRule subset repeated for one host: the later one dropped, as Istio merges rules"] += (
                repeated
            )
        for subset in (s for s in merged if s.name not in mine):
            row = len(subsets) + len(new_service)
            new_service.append(service)
            new_name.append(subset.name)
            new_rule.append(head)
            new_written.append(takes_written(subset.labels))
            for w in workloads_of.get(service, []):
                if w not in endpoint_labels_of:  # as istiod labels the pod's endpoints
                    endpoint_labels_of[w] = endpoint_labels(labels.get(w, {}))
                if selects(subset.labels, endpoint_labels_of[w]):
                    new_members.append((row, w))
    combined = pd.concat(
        [
            subsets.assign(rule=np.full(len(subsets), -1, np.int64)),
            pd.DataFrame({"service": new_service, "name": new_name, "rule": new_rule, "takes_written": new_written}),
        ],
        ignore_index=True,
    )
    order = np.argsort(combined["service"].to_numpy(), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    tables["subsets"] = make_table("subsets", {c: combined[c].to_numpy()[order] for c in SCHEMA["subsets"]})
    member_subset = np.concatenate(
        [members["subset"].to_numpy(np.int64), np.array([m for m, _ in new_members], np.int64)]
    )
    member_workload = np.concatenate(
        [members["workload"].to_numpy(np.int64), np.array([w for _, w in new_members], np.int64)]
    )
    remapped = pd.DataFrame({"subset": position[member_subset], "workload": member_workload}).sort_values(
        ["subset", "workload"], ignore_index=True
    )
    tables["subset_workloads"] = make_table(
        "subset_workloads", {"subset": remapped["subset"].to_numpy(), "workload": remapped["workload"].to_numpy()}
    )


def istio_record(cluster: Cluster) -> dict[str, object]:
    """What a run says of its Istio objects (its provenance's ``istio_objects``): how many, what dsim
    counted without building, and the pasted fields it accepted without modelling, by kind/path."""
    istio = cluster.istio
    views = cluster.object_views
    hosts = cluster.service_hosts().tolist()
    return {
        "virtual_services": len(cluster.virtual_services),
        "destination_rules": len(cluster.destination_rules),
        "service_entries": sum(not e.headless for e in istio.service_entries),
        # Built as the passthrough hosts they are in istiod's registry (dsim.cluster.headless).
        "headless_services": sum(e.headless for e in istio.service_entries),
        # ExternalName Services whose names join a Service's virtual hosts (dsim.cluster.service_aliases).
        "aliases": len({alias for found in istio.service_aliases.of_service.values() for alias in found}),
        "aliased_services": len({hosts[row] for row in istio.service_aliases.of_service}),
        "sidecars": len(cluster.sidecars),
        # Namespaces (and proxies a DestinationRule's workloadSelector picks) that apply another
        # VirtualService or DestinationRule than the base view's.
        "own_views": {
            "namespaces": len(np.unique(cluster.viewer_namespaces()[views["viewer"].to_numpy()])),
            "services": int(views["service"].nunique()),
        },
        "notes": dict(istio.notes),
        "fields accepted but not modelled": dict(istio.ignored),
    }
