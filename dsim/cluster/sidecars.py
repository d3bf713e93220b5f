"""Sidecar scoping and ``exportTo`` in the cluster: which services each workload's proxies see.

``docs/istio-objects.md`` section 4 is the specification, after Istio's ``pilot/pkg/model/sidecar.go``
(``convertToSidecarScope``, ``selectServices``, ``collectImportedServices``) and
``pilot/pkg/model/push_context.go`` (``doGetSidecarScope``, ``initServiceRegistry``, ``IsServiceVisible``):

- **Which Sidecar** (4.1): a Sidecar of the workload's namespace whose ``workloadSelector`` labels its
  pods hold, else the namespace's selector-less one, else the root namespace's (``istio-system``: dsim
  has no ``meshConfig.rootNamespace`` setting) selector-less one, read as if it were in the workload's
  namespace. Istio takes the oldest of several; dsim takes the first in scenario order (pasted, then
  generated) *(inferred: the scenario has no creation times)*.
- **What it imports** (4.2): the services (Kubernetes Services and ServiceEntry hosts) matched by an
  egress host ``<namespace>/<dnsName>`` (``.`` the proxy's namespace, ``*`` any, ``~`` none; ``*``,
  ``*.<suffix>`` or an exact host) and exported to the proxy's namespace, plus the destinations of the
  VirtualServices it imports (a VirtualService host matching an egress host of the VirtualService's
  namespace or ``*``), when those are exported to it too *(inferred)*; a destination the egress hosts
  do not import gets clusters only (``clusters_only`` in ``scope``).
- **exportTo** (4.4): a service's ``export_to`` (Kubernetes) or ``spec.exportTo`` (ServiceEntry): ``*``
  anywhere makes it public, else ``~`` hides it from every namespace (its own too), else it is visible
  from the namespaces named (``.`` its own). Empty: the mesh's ``default_service_export_to``
  (``meshConfig.defaultServiceExportTo``; Istio's ``["*"]``: public).
  Proxies no Sidecar selects keep the scenario's ``visibility``, narrowed by exportTo.
- **One host, several namespaces** (4.8): each proxy gets one namespace's services of such a host
  (:class:`dsim.cluster.host_owners.HostOwners`), among those each egress listener imports and
  among a VirtualService's destinations alike.

When any Sidecar applies, any service is not public or any host has services in two namespaces,
:func:`sidecar_tables` writes the ``scope`` table, (group, service) for every scope group (the
workloads that see the same services: ``scope_groups``). The accounting and the protobuf path both
read it (:class:`dsim.accounting.visibility.Visibility`, :meth:`dsim.xds.view.ClusterIndex.visible_services`).
What dsim does not build of a Sidecar is counted in the notes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from dsim.cluster.default_exports import kubernetes_service_exports, written_service_exports
from dsim.cluster.discovery import discovered, discovery
from dsim.cluster.egress_ports import EgressLayout, PortListener, modelled
from dsim.cluster.headless import kubernetes_rows
from dsim.cluster.host_owners import HostOwners
from dsim.cluster.hostnames import resolve_host
from dsim.cluster.labels import labels_by_workload, selects
from dsim.cluster.object_views import export_set, visible_from
from dsim.cluster.rule_index import ROOT_NAMESPACE
from dsim.cluster.tables import Cluster, make_table, service_fqdns
from dsim.cluster.vs_imports import VirtualServiceImports
from dsim.scenario import Scenario
from dsim.scenario.istio import ServiceEntry, Sidecar, VirtualService, generate_sidecars
from dsim.scenario.istio.rules import canonical_protocol
from dsim.scenario.istio.virtual_service import HTTPRoute


def generated_sidecars(s: Scenario, tables: Mapping[str, pd.DataFrame], hosts: Sequence[str]) -> tuple[Sidecar, ...]:
    """``istio_objects.sidecars``: a namespace-wide Sidecar per namespace with a sidecar workload, its
    egress hosts ``./*``, the generator's ``extra_hosts`` and ``<namespace>/<host>`` of every service its
    workloads call in other namespaces (the call graph's ``dependencies``), as
    :func:`dsim.cluster.scoping.minimal_sidecars` writes them."""
    params = s.istio_objects.sidecars
    if not params.per_namespace:
        return ()
    ns_names = tables["namespaces"]["name"].to_numpy()
    workloads = tables["workloads"]
    workload_ns = ns_names[workloads["namespace"].to_numpy()]
    service_ns = ns_names[tables["services"]["namespace"].to_numpy()]
    with_proxies = sorted(set(workload_ns[workloads["sidecar"].to_numpy()].tolist()))
    calls: dict[str, set[str]] = {ns: set() for ns in with_proxies}
    deps = tables["dependencies"]
    for w, svc in zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True):
        caller = str(workload_ns[w])
        if caller in calls and service_ns[svc] != caller:
            calls[caller].add(f"{service_ns[svc]}/{hosts[svc]}")
    return generate_sidecars(with_proxies, {ns: sorted(c) for ns, c in calls.items()}, params, path="dependencies")


def _export_sets(
    s: Scenario, tables: Mapping[str, pd.DataFrame], entries: Sequence[ServiceEntry]
) -> list[frozenset[str] | None]:
    """Per service: the namespaces it is exported to (``None``: public), ``.`` resolved to its own."""
    services = tables["services"]
    ns_names = tables["namespaces"]["name"].to_numpy()
    own = ns_names[services["namespace"].to_numpy()].tolist()
    entry = services["entry"].to_numpy().tolist()
    names = services["name"].tolist()
    written = written_service_exports(s)  # entries already carry the default (dsim.cluster.default_exports)
    return [
        export_set(entries[entry[i]].spec.export_to, own[i])
        if entry[i] >= 0
        else kubernetes_service_exports(s, written, names[i], own[i])
        for i in range(len(services))
    ]


def _hosts(entries: Sequence[str], namespace: str) -> list[tuple[str | None, str]]:
    """Egress hosts for a proxy of ``namespace``: (namespace or ``None`` for any, dnsName); ``~``
    entries import nothing and are left out."""
    found: list[tuple[str | None, str]] = []
    for entry in entries:
        ns, _, dns = entry.partition("/")
        if ns == "~":
            continue
        found.append((None if ns == "*" else namespace if ns == "." else ns, dns))
    return found


def egress_hosts(sidecar: Sidecar, namespace: str) -> list[tuple[str | None, str]]:
    """The Sidecar's egress hosts over all its listeners. A Sidecar without egress listeners
    imports ``*/*``, as Istio gives it a default one (``convertToSidecarScope``)."""
    return [host for hosts in listener_egress(sidecar, namespace) for host in hosts]


def listener_egress(sidecar: Sidecar, namespace: str) -> list[list[tuple[str | None, str]]]:
    """Each egress listener's hosts (one ``*/*`` listener where the Sidecar has none)."""
    if not sidecar.spec.egress:
        return [[(None, "*")]]
    return [_hosts(listener.hosts, namespace) for listener in sidecar.spec.egress]


def route_egress(sidecar: Sidecar, namespace: str, port: int) -> list[tuple[str | None, str]]:
    """The egress hosts of the listener whose route configuration ``"<port>"`` a proxy of
    ``namespace`` under ``sidecar`` gets (``GetEgressListenerForRDS``): its egress listener on that
    port, else its catch-all one, where dsim builds its listeners port by port; else every egress
    host (:func:`egress_hosts`, as dsim reads such a Sidecar)."""
    if not modelled(sidecar):
        return egress_hosts(sidecar, namespace)
    listeners = sidecar.spec.egress
    own = [e for e in listeners if e.port is not None and e.port.number == port]
    chosen = own or [e for e in listeners if e.port is None]
    return [host for listener in chosen for host in _hosts(listener.hosts, namespace)]


class _Scoper:
    """The scope of one (Sidecar, proxy namespace) pair, computed once."""

    def __init__(
        self,
        hosts: Sequence[str],
        service_ns: np.ndarray,
        exports: Sequence[frozenset[str] | None],
        virtual_services: Sequence[VirtualService],
        owners: HostOwners,
        cluster_domain: str,
        service_ports: pd.DataFrame,
    ) -> None:
        self.hosts = np.asarray(hosts, dtype=object)
        self.service_ns = service_ns
        self.virtual_services = virtual_services
        self.owners = owners
        self.domain = cluster_domain
        self.service_ports = service_ports
        self.cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        self.layouts: dict[tuple[int, str], EgressLayout] = {}
        self.imports = VirtualServiceImports(virtual_services, cluster_domain)
        self.trims_cache: dict[tuple[int, str], bool] = {}
        self.ports_by_service: list[np.ndarray] | None = None
        self.layouts_off = False
        """Past the message-pricing budget: no egress layouts at all (every listener one catch-all,
        VirtualService destinations on every port)."""
        self.visible_cache: dict[str, np.ndarray] = {}
        # Services share few export sets: each namespace asks each set once.
        codes: dict[frozenset[str] | None, int] = {}
        self.export_code = np.fromiter(
            (codes.setdefault(e, len(codes)) for e in exports), dtype=np.int64, count=len(exports)
        )
        self.export_sets = list(codes)

    def visible(self, namespace: str) -> np.ndarray:
        """Mask over services: exported to ``namespace``."""
        if namespace not in self.visible_cache:
            by_set = np.array([visible_from(e, namespace) for e in self.export_sets], dtype=bool)
            self.visible_cache[namespace] = by_set[self.export_code] if len(by_set) else np.zeros(0, bool)
        return self.visible_cache[namespace]

    def scope(self, index: int, sidecar: Sidecar, namespace: str) -> tuple[np.ndarray, np.ndarray]:
        """Masks over services for proxies of ``namespace`` under the Sidecar: those its egress hosts
        import (clusters, listeners, virtual hosts), and the destinations of the VirtualServices it
        imports that the hosts do not (clusters and endpoint sets only)."""
        key = (index, namespace)
        if key not in self.cache:
            self.cache[key] = self._scope(sidecar, namespace)
        return self.cache[key]

    def _match(self, dns: str) -> np.ndarray:
        if dns == "*":
            return np.ones(len(self.hosts), bool)
        if dns.startswith("*"):  # *.ns.svc..., or a partial label such as *-api.ns.svc...
            return pd.Series(self.hosts, dtype=object).str.endswith(dns[1:]).to_numpy(bool)
        # As written: Istio's hostClassification compares hosts case-sensitively (host.Name).
        return self.hosts == dns

    def _chosen(
        self, egress: Sequence[tuple[str | None, str]], namespace: str, within: np.ndarray | None = None
    ) -> np.ndarray:
        """Mask over services: matched by an egress host and exported to ``namespace`` (and in
        ``within``: an egress listener's port, which Istio checks before it picks a host's namespace)."""
        chosen = np.zeros(len(self.hosts), bool)
        for ns, dns in egress:
            mask = self._match(dns)
            if ns is not None:  # not in place: a wildcard's match may come back read-only from pandas
                mask = mask & (self.service_ns == ns)
            chosen |= mask
        chosen &= self.visible(namespace)
        return self.owners.keep(chosen if within is None else chosen & within, namespace)

    def _imported(self, egress: Sequence[tuple[str | None, str]], namespace: str) -> tuple[int, ...]:
        """The VirtualServices (``virtual_services`` rows) the egress hosts import for ``namespace``
        (:class:`dsim.cluster.vs_imports.VirtualServiceImports`)."""
        return self.imports.imported(namespace, tuple(egress))

    def _destinations(self, imported: Sequence[int], namespace: str, *, trim: bool = True) -> np.ndarray:
        """Mask over services: destinations of ``imported`` VirtualServices exported to ``namespace``
        that keep a port (:meth:`destination_ports`; ``trim=False``: every one, as an egress listener
        on a port imports them, by its own port alone)."""
        destinations = np.zeros(len(self.hosts), bool)
        destinations[list(self.destination_ports(imported, namespace, trim=trim))] = True
        return destinations

    def destination_ports(
        self, imported: Sequence[int], namespace: str, *, trim: bool = True
    ) -> dict[int, frozenset[int] | None]:
        """The destinations of ``imported`` VirtualServices exported to ``namespace`` or in it, each with the
        ports a catch-all egress listener imports it with (``None``: every port). Per VirtualService,
        the ports its destinations of the service name, every port where one names none
        (``virtualServiceDestinations``); of the service's ports, those named (all of them read as
        every port), and none named: the VirtualService adds nothing
        (``serviceMatchingVirtualServicePorts``); over VirtualServices, the union
        (``appendSidecarServices`` merges the ports)."""
        found: dict[int, frozenset[int] | None] = {}
        for v in imported:
            vs = self.virtual_services[v]
            # collectImportedServices takes the destinations of http routes and their mirrors, of
            # tcp and of tls routes.
            named: dict[int, set[int] | None] = {}
            http = [route for route in vs.spec.http if _routes_from(route, namespace)]
            destinations = [d.destination for route in http for d in route.route]
            destinations += [mirror for route in http for mirror in route.mirror_destinations()]
            destinations += [d.destination for tcp in vs.spec.tcp for d in tcp.route]
            destinations += [d.destination for tls in vs.spec.tls for d in tls.route]
            for destination in destinations:
                # A host with a service in the Sidecar's own namespace is taken without asking whether
                # that service is exported there; any other only when visible (collectImportedServices).
                target = self.owners.destination(resolve_host(destination.host, vs.namespace, self.domain), namespace)
                if target is None:
                    continue
                ports = named.setdefault(target, set())
                if destination.port is None or ports is None:
                    named[target] = None
                else:
                    ports.add(destination.port.number)
            for target, ports in named.items():
                kept = self._kept_ports(target, ports) if trim else None
                if kept == frozenset():
                    continue
                before = found.get(target, frozenset())
                found[target] = None if kept is None or before is None else before | kept
        return found

    def _kept_ports(self, service: int, named: set[int] | None) -> frozenset[int] | None:
        """Of ``service``'s ports, those ``named`` (``None``: every port, as when all are named)."""
        if named is None:
            return None
        own = set(self.ports_of(service))
        kept = frozenset(own & named)
        return None if kept == own else kept

    def ports_of(self, service: int) -> np.ndarray:
        """The service's port numbers."""
        if self.ports_by_service is None:
            table = self.service_ports
            order = np.argsort(table["service"].to_numpy(), kind="stable")
            services = table["service"].to_numpy()[order]
            bounds = np.searchsorted(services, np.arange(len(self.hosts) + 1))
            numbers = table["port"].to_numpy()[order]
            self.ports_by_service = [numbers[bounds[i] : bounds[i + 1]] for i in range(len(self.hosts))]
        return self.ports_by_service[service]

    def trims(self, sidecar: Sidecar, namespace: str) -> bool:
        """Whether a Sidecar with one catch-all egress listener (and no other) imports, for
        ``namespace``, a VirtualService destination its hosts leave out with some of its ports only:
        clusters then differ per port, which only the message-priced path builds."""
        if self.layouts_off or len(sidecar.spec.egress) != 1 or sidecar.spec.egress[0].port is not None:
            return False
        key = (id(sidecar), namespace)
        if key not in self.trims_cache:
            egress = egress_hosts(sidecar, namespace)
            chosen = self._chosen(egress, namespace)
            ports = self.destination_ports(self._imported(egress, namespace), namespace)
            taken = self.owners.same_host(chosen)
            self.trims_cache[key] = any(kept is not None and not taken[s] for s, kept in ports.items())
        return self.trims_cache[key]

    def uses_layout(self, sidecar: Sidecar, namespace: str) -> bool:
        """Whether proxies of ``namespace`` under the Sidecar are built from an egress layout (port
        listeners, or trimmed destination ports) and priced from messages."""
        return self.by_port(sidecar) or self.trims(sidecar, namespace)

    def _scope(self, sidecar: Sidecar, namespace: str) -> tuple[np.ndarray, np.ndarray]:
        egress = egress_hosts(sidecar, namespace)
        chosen = self._chosen(egress, namespace)
        # Istio builds a proxy's listeners and route configurations from each egress listener's own
        # services (``IstioEgressListenerWrapper.Services``), its clusters from those and the imported
        # VirtualServices' destinations (``collectImportedServices``).
        if self.uses_layout(sidecar, namespace):
            layout = self.layout(sidecar, namespace)
            # One namespace's services of a host over all the egress listeners (the catch-all last).
            listed = self.owners.merged(
                [self._mask(p.services) for p in layout.ports] + [self._mask(layout.catch_all or ())]
            )
            every = np.zeros(len(self.hosts), bool)
            every[layout.services()] = True
            return listed, every & ~self.owners.same_host(listed)
        destinations = self._destinations(self._imported(egress, namespace), namespace)
        return chosen, destinations & ~self.owners.same_host(chosen)

    def by_port(self, sidecar: Sidecar) -> bool:
        """Whether the Sidecar's egress listeners are built port by port (:func:`modelled`, within budget)."""
        return not self.layouts_off and modelled(sidecar)

    def hosts_scope(self, sidecar: Sidecar, namespace: str) -> np.ndarray:
        """Mask over services: those the Sidecar's egress hosts, of every listener, import for ``namespace``."""
        return self._chosen(egress_hosts(sidecar, namespace), namespace)

    def layout(self, sidecar: Sidecar, namespace: str) -> EgressLayout:
        """The Sidecar's egress listeners port by port, for proxies of ``namespace`` (:mod:`.egress_ports`)."""
        key = (id(sidecar), namespace)
        if key not in self.layouts:
            self.layouts[key] = self._layout(sidecar, namespace)
        return self.layouts[key]

    def _layout(self, sidecar: Sidecar, namespace: str) -> EgressLayout:
        parts = []
        ports: dict[int, frozenset[int] | None] = {}  # the catch-all's destinations' ports
        for listener in sidecar.spec.egress:
            egress = _hosts(listener.hosts, namespace)
            has_port = None if listener.port is None else self.has_port(listener.port.number)
            chosen = self._chosen(egress, namespace, has_port)
            imported = self._imported(egress, namespace)
            destinations = self._destinations(imported, namespace, trim=listener.port is None)
            if has_port is None:
                ports = self.destination_ports(imported, namespace)
            else:
                destinations = destinations & has_port
            parts.append((listener, chosen, destinations, tuple(egress)))
        listed = np.zeros(len(self.hosts), bool)
        for _, chosen, _, _ in parts:
            listed |= chosen
        listed = self.owners.same_host(listed)  # a host imported takes no destination of that host

        def rows(mask: np.ndarray) -> frozenset[int]:
            return frozenset(np.flatnonzero(mask).tolist())

        catch_all = [
            (chosen, destinations, egress) for listener, chosen, destinations, egress in parts if listener.port is None
        ]
        return EgressLayout(
            ports=tuple(
                PortListener(
                    port=listener.port.number,
                    protocol=canonical_protocol(listener.port.protocol),
                    services=rows(chosen),
                    destinations=rows(destinations & ~listed),
                    bind=listener.bind,
                    capture_none=listener.capture_mode == "NONE",
                    egress=egress,
                )
                for listener, chosen, destinations, egress in parts
                if listener.port is not None
            ),
            catch_all=rows(catch_all[0][0]) if catch_all else None,
            catch_all_destinations=rows(catch_all[0][1] & ~listed) if catch_all else frozenset(),
            destination_ports={s: kept for s, kept in ports.items() if kept is not None and not listed[s]},
            catch_all_egress=catch_all[0][2] if catch_all else (),
        )

    def _mask(self, services: Iterable[int]) -> np.ndarray:
        mask = np.zeros(len(self.hosts), bool)
        mask[list(services)] = True
        return mask

    def has_port(self, number: int) -> np.ndarray:
        """Mask over services: those with a port ``number``."""
        mask = np.zeros(len(self.hosts), bool)
        mask[self.service_ports["service"].to_numpy()[self.service_ports["port"].to_numpy() == number]] = True
        return mask


def _routes_from(route: HTTPRoute, namespace: str) -> bool:
    """Whether a Sidecar scope for ``namespace`` imports ``route``'s destinations: unless its matches
    name source namespaces and none is ``namespace`` (``virtualServiceDestinationsFilteredBySourceNamespace``,
    Istio 1.24 to HEAD). As in Istio, a match naming none does not keep a route whose others name
    another namespace."""
    named = [m.source_namespace for m in route.match if m.source_namespace]
    return not named or namespace in named


def _sidecar_notes(sidecars: Sequence[Sidecar], notes: Counter[str]) -> None:
    for sidecar in sidecars:
        spec = sidecar.spec
        if any(listener.capture_mode == "NONE" for listener in spec.ingress):
            notes[
                "Sidecar ingress listener with captureMode NONE: built as DEFAULT (a virtualInbound chain, not a "
                "listener of its own on the port)"
            ] += 1
        if not modelled(sidecar) and any(
            listener.port is not None or listener.bind or listener.capture_mode == "NONE" for listener in spec.egress
        ):
            notes[
                "Sidecar egress listener on a unix socket, with HTTP_PROXY or a wildcard bind, or a catch-all one "
                "with a bind or captureMode NONE: not modelled, the hosts of every egress listener imported together "
                "on every port through the usual listeners"
            ] += 1
        if sidecar.namespace == ROOT_NAMESPACE and spec.workload_selector is not None:
            notes["root-namespace Sidecar with a workloadSelector: applies to root-namespace workloads only"] += 1


MESSAGE_PRICED_SERVICES = 20_000
"""The most services, summed over the (Sidecar, namespace) pairs whose egress listeners have ports,
that dsim builds port by port. The accounting prices those proxies from one proxy's messages per
family class, tracing class and outbound policy, under each design (:mod:`dsim.accounting.by_messages`):
at this bound, minutes. Beyond it, their listeners are read as one catch-all (counted)."""


def _limit_layouts(
    scoper: _Scoper, sidecars: Sequence[Sidecar], pairs: set[tuple[int, str]], notes: Counter[str]
) -> None:
    """Build Sidecars' egress listeners port by port, and trim VirtualService destinations to their
    ports, unless the pairs doing either see more than :data:`MESSAGE_PRICED_SERVICES` services in all."""
    laid_out = [(c, ns) for c, ns in sorted(pairs) if scoper.uses_layout(sidecars[c], ns)]
    seen = sum(int(scoper.hosts_scope(sidecars[c], ns).sum()) for c, ns in laid_out)
    if seen > MESSAGE_PRICED_SERVICES:
        scoper.layouts_off = True
        scoper.cache.clear()
        notes[
            f"Sidecar egress listeners on ports, or VirtualService destinations trimmed to their ports, where the "
            f"(Sidecar, namespace) pairs with them see {seen:,} services (above {MESSAGE_PRICED_SERVICES:,}, too many "
            "to price from messages): each Sidecar's listeners read as one catch-all, their hosts and destinations "
            "on every port"
        ] += len(laid_out)


def sidecar_tables(
    s: Scenario,
    tables: dict[str, pd.DataFrame],
    entries: Sequence[ServiceEntry],
    virtual_services: Sequence[VirtualService],
    notes: Counter[str],
) -> tuple[tuple[Sidecar, ...], bool, dict[int, EgressLayout]]:
    """Add ``sidecars``, ``sidecar_workloads`` (which Sidecar each workload's proxies use) and ``scope``
    to ``tables`` (after ServiceEntries and VirtualServices are in); return the Sidecars in force
    (pasted, then generated), whether a scope applies (some Sidecar selects a workload with a
    sidecar, or some service is not public), and per workload whose Sidecar has egress listeners
    on ports (:func:`dsim.cluster.egress_ports.modelled`) what it gets on each."""
    domain = s.mesh.cluster_domain
    services = tables["services"]
    ns_names = tables["namespaces"]["name"].to_numpy()
    service_ns = ns_names[services["namespace"].to_numpy()].astype(object)
    hosts = service_fqdns(services, ns_names, domain)
    found = discovery(s, tables["namespaces"])
    sidecars = (*s.sidecars, *discovered(generated_sidecars(s, tables, hosts), found, "Sidecar", notes))
    _sidecar_notes(sidecars, notes)

    workloads = tables["workloads"]
    workload_ns = ns_names[workloads["namespace"].to_numpy()].tolist()
    labels = labels_by_workload(tables["workload_labels"])
    with_sidecar = np.flatnonzero(workloads["sidecar"].to_numpy())

    by_ns: dict[str, list[int]] = {}
    for i, sidecar in enumerate(sidecars):
        by_ns.setdefault(sidecar.namespace, []).append(i)
    counted: set[str] = set()
    for ns, indices in by_ns.items():
        wide = [i for i in indices if sidecars[i].spec.workload_selector is None]
        if len(wide) > 1 and ns not in counted:
            counted.add(ns)
            notes[
                "several selector-less Sidecars in one namespace: the first (scenario order) used, as Istio the oldest"
            ] += 1

    def chosen_for(w: int) -> int:
        ns = workload_ns[w]
        mine = by_ns.get(ns, [])
        for i in mine:
            selector = sidecars[i].spec.workload_selector
            if selector is not None and selects(selector.labels, labels.get(w, {})):
                return i
        for i in (*mine, *by_ns.get(ROOT_NAMESPACE, ())):
            if sidecars[i].spec.workload_selector is None:
                return i
        return -1

    choice = {int(w): chosen_for(int(w)) for w in with_sidecar}
    exports = _export_sets(s, tables, entries)
    restricted = any(e is not None for e in exports)
    kubernetes = kubernetes_rows(services["entry"].to_numpy(), entries).tolist()
    owners = HostOwners(hosts, service_ns.tolist(), kubernetes, exports)
    # A host of several namespaces is one namespace's per proxy: a scope, whatever else applies.
    scoped = restricted or bool(owners) or any(c >= 0 for c in choice.values())

    tables["sidecars"] = make_table(
        "sidecars",
        {
            "name": [sc.name for sc in sidecars],
            "namespace": [sc.namespace for sc in sidecars],
            "selector": [sc.spec.workload_selector is not None for sc in sidecars],
            "generated": np.arange(len(sidecars)) >= len(s.sidecars),
        },
    )
    used = [(c, w) for w, c in choice.items() if c >= 0]
    tables["sidecar_workloads"] = make_table(
        "sidecar_workloads", {"sidecar": [c for c, _ in used], "workload": [w for _, w in used]}
    )
    if not scoped:
        tables["scope_groups"] = make_table("scope_groups", {"workload": [], "group": []})
        tables["scope"] = make_table("scope", {"group": [], "service": [], "clusters_only": []})
        return sidecars, False, {}

    scoper = _Scoper(hosts, service_ns, exports, virtual_services, owners, domain, tables["service_ports"])
    _limit_layouts(scoper, sidecars, {(c, workload_ns[w]) for w, c in choice.items() if c >= 0}, notes)
    deps = tables["dependencies"]
    called: dict[int, list[int]] = {}
    for w, svc in zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True):
        called.setdefault(w, []).append(svc)
    every = np.arange(len(services))

    def scope_of(w: int) -> tuple[np.ndarray, np.ndarray]:
        """The services workload ``w``'s proxies see, and those they have clusters for alone."""
        ns = workload_ns[w]
        c = choice[w]
        if c >= 0:
            listed, destinations = scoper.scope(c, sidecars[c], ns)
            return np.flatnonzero(listed), np.flatnonzero(destinations)
        if s.visibility == "all":
            base = every
        elif s.visibility == "namespace":
            base = np.flatnonzero(service_ns == ns)
        else:
            base = np.unique(np.asarray(called.get(w, []), dtype=np.int64))
        seen = base[scoper.visible(ns)[base]] if restricted else base
        if owners:
            mask = np.zeros(len(services), bool)
            mask[seen] = True
            seen = np.flatnonzero(owners.keep(mask, ns))
        return seen, np.empty(0, np.int64)

    # Workloads of one namespace under one Sidecar, or under none where the visibility does not
    # follow the call graph, see the same services: one group, priced once.
    group_of: dict[tuple[str, int], int] = {}
    member_w: list[int] = []
    member_g: list[int] = []
    parts_g: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    parts_only: list[np.ndarray] = []
    layouts: dict[int, EgressLayout] = {}
    for w in with_sidecar.tolist():
        ns = workload_ns[w]
        c = choice[w]
        if c >= 0 and scoper.uses_layout(sidecars[c], ns):
            layouts[w] = scoper.layout(sidecars[c], ns)
        key = (ns, c) if c >= 0 or s.visibility != "dependencies" else (ns, -2 - w)
        if key not in group_of:
            group = group_of[key] = len(group_of)
            seen, only = scope_of(w)
            parts_g.append(np.full(len(seen) + len(only), group, np.int64))
            parts_s.append(np.concatenate([seen, only]).astype(np.int64))
            parts_only.append(np.arange(len(seen) + len(only)) >= len(seen))
        member_w.append(w)
        member_g.append(group_of[key])
    tables["scope_groups"] = make_table("scope_groups", {"workload": member_w, "group": member_g})
    tables["scope"] = make_table(
        "scope",
        {
            "group": np.concatenate(parts_g) if parts_g else np.empty(0, np.int64),
            "service": np.concatenate(parts_s) if parts_s else np.empty(0, np.int64),
            "clusters_only": np.concatenate(parts_only) if parts_only else np.empty(0, bool),
        },
    )
    return sidecars, True, layouts


def allow_any_by_workload(cluster: Cluster) -> np.ndarray:
    """Per workload: whether its proxies pass traffic for unknown hosts through (``ALLOW_ANY``): its
    Sidecar's ``outboundTrafficPolicy`` where it has one, else the mesh's (Istio's
    ``SidecarScope.OutboundTrafficPolicy``; docs/istio-objects.md 4.2)."""
    allow = np.full(len(cluster.workloads), cluster.scenario.mesh.outbound_traffic_policy == "ALLOW_ANY")
    used = cluster.sidecar_workloads
    sidecars = cluster.istio.sidecars
    for sidecar, workload in zip(used["sidecar"].tolist(), used["workload"].tolist(), strict=True):
        policy = sidecars[sidecar].spec.outbound_traffic_policy
        if policy is not None:
            allow[workload] = policy.mode == "ALLOW_ANY"
    return allow
