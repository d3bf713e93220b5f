"""A cluster as column tables: what istiod knows about Kubernetes, with no object per pod.

Every table is a pandas DataFrame whose index is the row id other tables refer to
(``services.namespace`` is a row of ``namespaces``, ``pods.workload`` a row of ``workloads``).
Many-to-many relations are their own long tables (``service_workloads``); a ragged list of one
table's children is the run of rows with the same parent id, children sorted by parent.

IPs are integers: IPv4 in ``uint32`` columns, IPv6 in two ``uint64`` columns (``*_hi``,
``*_lo``); a ``has_*`` column says whether the address exists. Text comes from
:mod:`dsim.addresses` on demand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar, cast

import networkx as nx
import numpy as np
import pandas as pd

from dsim.addresses import ipv4_text, ipv6_text
from dsim.cluster.istio_objects import IstioObjects
from dsim.scenario import Scenario

#: Columns of each table and their dtypes; the builder and the tests hold tables to this.
SCHEMA: dict[str, dict[str, str]] = {
    "namespaces": {"name": "str", "sidecar_injection": "bool", "synthetic": "bool"},
    "services": {
        "name": "str",
        "namespace": "int32",
        "ip_families": "category",
        "has_ipv4": "bool",
        "has_ipv6": "bool",
        "primary_ipv6": "bool",
        "vip4": "uint32",
        "vip6_hi": "uint64",
        "vip6_lo": "uint64",
        "synthetic": "bool",
        "entry": "int32",
        "prefer_close": "bool",
        "publish_not_ready": "bool",
    },
    "service_ports": {
        "service": "int32",
        "name": "str",
        "port": "int32",
        "target_port": "int32",
        "protocol": "category",
        "istio_protocol": "category",
    },
    "subsets": {"service": "int32", "name": "str", "rule": "int32", "takes_written": "bool"},
    "workloads": {
        "name": "str",
        "namespace": "int32",
        "service_account": "str",
        "replicas": "int32",
        "sidecar": "bool",
        "canonical_service": "str",
        "canonical_revision": "str",
        "synthetic": "bool",
        "ready": "bool",
        "terminating": "bool",
    },
    "workload_labels": {"workload": "int32", "key": "str", "value": "str"},
    "service_workloads": {"service": "int32", "workload": "int32"},
    "subset_workloads": {"subset": "int32", "workload": "int32"},
    "localities": {"region": "str", "zone": "str"},
    "pods": {
        "workload": "int32",
        "ordinal": "int32",
        "locality": "int32",
        "has_ipv4": "bool",
        "ipv4": "uint32",
        "has_ipv6": "bool",
        "ipv6_hi": "uint64",
        "ipv6_lo": "uint64",
    },
    "written_endpoints": {
        "service": "int32",
        "ready": "bool",
        "has_ipv4": "bool",
        "ipv4": "uint32",
        "has_ipv6": "bool",
        "ipv6_hi": "uint64",
        "ipv6_lo": "uint64",
    },
    "proxies": {"pod": "int32", "workload": "int32", "namespace": "int32"},
    "dependencies": {"workload": "int32", "service": "int32"},
    "destination_rules": {
        "name": "str",
        "namespace": "str",
        "host": "str",
        "entry": "int32",
        "shapes": "bool",
        "generated": "bool",
    },
    "rule_members": {"entry": "int32", "rule": "int32"},
    "rule_hosts": {"rule": "int32", "service": "int32"},
    "base_rules": {"service": "int32", "rule": "int32"},
    "virtual_services": {"name": "str", "namespace": "str", "generated": "bool"},
    "virtual_service_hosts": {"virtual_service": "int32", "service": "int32", "how": "int32"},
    "object_views": {"viewer": "int32", "service": "int32", "virtual_service": "int32", "rule": "int32"},
    "rule_viewers": {"workload": "int32", "viewer": "int32"},
    "viewer_unimported": {"viewer": "int32", "virtual_service": "int32"},
    "service_entries": {
        "name": "str",
        "namespace": "str",
        "resolution": "str",
        "mesh_external": "bool",
        "generated": "bool",
    },
    "sidecars": {"name": "str", "namespace": "str", "selector": "bool", "generated": "bool"},
    "sidecar_workloads": {"sidecar": "int32", "workload": "int32"},
    "scope_groups": {"workload": "int32", "group": "int32"},
    "scope": {"group": "int32", "service": "int32", "clusters_only": "bool"},
}

#: Tables built after the explicit and synthetic parts are joined (their ids are final then).
LATE_TABLES = (
    "proxies",
    "destination_rules",
    "rule_members",
    "rule_hosts",
    "base_rules",
    "virtual_services",
    "virtual_service_hosts",
    "object_views",
    "rule_viewers",
    "viewer_unimported",
    "service_entries",
    "sidecars",
    "sidecar_workloads",
    "scope_groups",
    "scope",
)

#: Which table each id column points into (``table.column`` → table).
REFERENCES: dict[str, dict[str, str]] = {
    "services": {"namespace": "namespaces"},
    "service_ports": {"service": "services"},
    "subsets": {"service": "services"},
    "workloads": {"namespace": "namespaces"},
    "workload_labels": {"workload": "workloads"},
    "service_workloads": {"service": "services", "workload": "workloads"},
    "subset_workloads": {"subset": "subsets", "workload": "workloads"},
    "pods": {"workload": "workloads", "locality": "localities"},
    "written_endpoints": {"service": "services"},
    "proxies": {"pod": "pods", "workload": "workloads", "namespace": "namespaces"},
    "dependencies": {"workload": "workloads", "service": "services"},
    "rule_members": {"entry": "destination_rules", "rule": "destination_rules"},
    "rule_hosts": {"rule": "destination_rules", "service": "services"},
    "base_rules": {"service": "services", "rule": "destination_rules"},
    "virtual_service_hosts": {"virtual_service": "virtual_services", "service": "services"},
    "object_views": {"service": "services"},
    "rule_viewers": {"workload": "workloads"},
    "viewer_unimported": {"virtual_service": "virtual_services"},
    "sidecar_workloads": {"sidecar": "sidecars", "workload": "workloads"},
    "scope_groups": {"workload": "workloads"},
    "scope": {"service": "services"},
}


def service_fqdns(services: pd.DataFrame, namespace_names: np.ndarray, cluster_domain: str) -> list[str]:
    """Each ``services`` row's host: ``<name>.<namespace>.svc.<cluster_domain>``, a ServiceEntry host
    as written (``namespace_names``: the ``namespaces`` table's names, by row)."""
    names = services["name"].to_numpy().astype(object)
    namespaces = np.asarray(namespace_names, dtype=object)[services["namespace"].to_numpy()]
    fqdn = names + "." + namespaces + f".svc.{cluster_domain}"
    return np.where(services["entry"].to_numpy() >= 0, names, fqdn).tolist()


def of_workload(workloads: int, table: pd.DataFrame, column: str) -> np.ndarray:
    """Each of ``workloads`` workloads' ``column`` value in ``table`` (one row per workload that has
    one, by its ``workload`` column; -1 for the others)."""
    out = np.full(workloads, -1, np.int64)
    out[table["workload"].to_numpy()] = table[column].to_numpy()
    return out


def sidecar_of_workload(workloads: int, sidecar_workloads: pd.DataFrame) -> np.ndarray:
    """Each of ``workloads`` workloads' Sidecar (a ``sidecars`` row; -1: none applies), from the
    ``sidecar_workloads`` table."""
    return of_workload(workloads, sidecar_workloads, "sidecar")


T = TypeVar("T")
_KEPT = "_kept"  # the attribute holding what Cluster.keep made


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Cluster:
    """Everything in the mesh, as tables (see :data:`SCHEMA` for columns and dtypes)."""

    scenario: Scenario
    """The resolved scenario the cluster was built from."""
    namespaces: pd.DataFrame
    """One row per namespace; ``sidecar_injection`` is its injection label."""
    services: pd.DataFrame
    """One row per Service. ``ip_families`` as written (``IPv6,IPv4``: dual-stack, IPv6 primary);
    ``vip4`` / ``vip6_*``: ClusterIPs, valid where ``has_ipv4`` / ``has_ipv6``. A ServiceEntry adds
    one row per host (``entry``: its ``service_entries`` row; -1 for a Kubernetes Service), named
    after the host, its first address of each family as its VIPs (``dsim.cluster.service_entries``)."""
    service_ports: pd.DataFrame
    """One row per Service port, sorted by service; ``port``/``target_port`` are port numbers."""
    subsets: pd.DataFrame
    """One row per DestinationRule subset (a Service's own ``subsets`` or a DestinationRule's),
    sorted by service; ``rule``: the DestinationRule entry that defines it (its first rule's
    ``destination_rules`` row; -1: the Service's own, in every view); ``takes_written``: its labels
    select the endpoints written by hand of its service (:func:`dsim.cluster.labels.takes_written`)."""
    workloads: pd.DataFrame
    """One row per Deployment; ``replicas`` in pods; ``canonical_*`` as Istio labels telemetry."""
    workload_labels: pd.DataFrame
    """Pod labels of each workload, one row per label."""
    service_workloads: pd.DataFrame
    """Which workloads each Service selects."""
    subset_workloads: pd.DataFrame
    """Which workloads each subset selects."""
    localities: pd.DataFrame
    """Distinct (region, zone) pairs; empty strings mean unlabeled."""
    pods: pd.DataFrame
    """One row per pod, grouped by workload; ``ordinal`` numbers the workload's replicas from 0."""
    written_endpoints: pd.DataFrame
    """One row per address of the endpoints written by hand for a Service without a selector, by
    service in the order written; each has one family (istiod never merges them across families)."""
    proxies: pd.DataFrame
    """One row per sidecar (a pod whose workload has ``sidecar``)."""
    dependencies: pd.DataFrame
    """The call graph: which services each workload talks to."""
    destination_rules: pd.DataFrame
    """One row per DestinationRule in force (pasted, then generated): ``host`` as istiod resolves it
    (a wildcard kept as written), ``entry`` the row heading the merged entry it belongs to (-1: it
    covers no service), ``shapes`` whether it heads an entry that shapes some service's clusters in
    the base view."""
    rule_members: pd.DataFrame
    """The rules merged into each DestinationRule entry (``entry``: its head rule), in the order
    Istio merges them; a rule without a workloadSelector may also be in its namespace's selector
    entries (:mod:`dsim.cluster.object_views`)."""
    rule_hosts: pd.DataFrame
    """(rule, service) for every Kubernetes Service each DestinationRule's host covers: the one it
    names, or each one a wildcard host covers, shaped or not (:mod:`dsim.cluster.rule_index`)."""
    base_rules: pd.DataFrame
    """(service, rule): the DestinationRule entry (its head) that shapes each service's clusters in
    the base view, by service; a service without a row has none there."""
    virtual_services: pd.DataFrame
    """One row per VirtualService in force (pasted, then generated)."""
    virtual_service_hosts: pd.DataFrame
    """The services each VirtualService bound to the mesh names (its claims); which of them builds
    what, per namespace, is :mod:`dsim.cluster.object_views`'s chain."""
    object_views: pd.DataFrame
    """(viewer, service) pairs whose proxies apply another VirtualService chain or DestinationRule
    entry than the base view (``virtual_service``: the chain's first, ``rule``: -1 for none), or whose
    VirtualServices' routes carry another destination's hash policy (:mod:`dsim.cluster.object_views`).
    A viewer is a ``namespaces`` row, or a ``rule_viewers`` viewer."""
    rule_viewers: pd.DataFrame
    """Workloads whose labels hold some DestinationRule ``workloadSelector`` of their namespace or
    some VirtualService match's ``sourceLabels``, or whose import scope leaves out a VirtualService
    they would apply (``viewer_unimported``), with their viewer (past the namespaces' rows;
    workloads of one namespace holding the same selectors and leaving out the same VirtualServices
    share one)."""
    viewer_unimported: pd.DataFrame
    """(viewer, VirtualService): a VirtualService naming a service the viewer's proxies see, exported
    to their namespace, that their import scope (Sidecar, or the one ``visibility`` stands for) does
    not import, so they do not apply it (:mod:`dsim.cluster.import_scopes`)."""
    service_entries: pd.DataFrame
    """One row per ServiceEntry in force (pasted, then generated): its resolution and location."""
    sidecars: pd.DataFrame
    """One row per Sidecar in force (pasted, then generated); ``selector``: it has a workloadSelector."""
    sidecar_workloads: pd.DataFrame
    """Which Sidecar each workload's proxies use (workloads no Sidecar selects have no row)."""
    scope_groups: pd.DataFrame
    """Which scope group each workload with a sidecar is in, when ``istio.scoped``: workloads that see
    the same services (one namespace under one Sidecar, or under none where ``visibility`` is ``all``
    or ``namespace``) share one, so ``scope`` grows with the groups, not the workloads."""
    scope: pd.DataFrame
    """(group, service) for every scope group and every service its proxies see, when ``istio.scoped``
    (a Sidecar applies, some service's exportTo is not public, or some host has services in two
    namespaces); empty otherwise, and the scenario's ``visibility`` decides (``dsim.cluster.sidecars``)."""
    istio: IstioObjects = dataclasses.field(default_factory=IstioObjects)
    """The Istio objects behind those rows, and what was not modelled."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name, in :data:`SCHEMA` order."""
        return {name: getattr(self, name) for name in SCHEMA}

    def workload_viewers(self) -> np.ndarray:
        """Each workload's viewer (:attr:`object_views`): its namespace row, or its ``rule_viewers`` one."""
        out = self.workloads["namespace"].to_numpy().astype(np.int64)
        out[self.rule_viewers["workload"].to_numpy()] = self.rule_viewers["viewer"].to_numpy()
        return out

    def workload_scope_groups(self) -> np.ndarray:
        """Each workload's scope group (a ``scope`` group; -1: none, no sidecar or no scope)."""
        return of_workload(len(self.workloads), self.scope_groups, "group")

    def workload_sidecars(self) -> np.ndarray:
        """Each workload's Sidecar (a ``sidecars`` row; -1: none applies)."""
        return sidecar_of_workload(len(self.workloads), self.sidecar_workloads)

    def viewer_namespaces(self) -> np.ndarray:
        """Each viewer's namespace row (the namespaces' own, then each ``rule_viewers`` viewer's)."""
        out = np.arange(len(self.namespaces), dtype=np.int64)
        selected = self.rule_viewers
        if not len(selected):
            return out
        extra = np.zeros(int(selected["viewer"].max()) + 1 - len(out), np.int64)
        namespaces = self.workloads["namespace"].to_numpy()[selected["workload"].to_numpy()]
        extra[selected["viewer"].to_numpy() - len(out)] = namespaces
        return np.concatenate([out, extra])

    def keep(self, name: str, make: Callable[[], T]) -> T:
        """What ``make`` derives from this cluster, made once and kept on it: it goes when the
        cluster goes (a cycle through it is the collector's), and pickling leaves it behind (a
        worker derives its own)."""
        kept = self.__dict__.setdefault(_KEPT, {})
        if name not in kept:
            kept[name] = make()
        return cast(T, kept[name])

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != _KEPT}

    def endpoint_workloads(self, key: Literal["service", "subset"]) -> pd.DataFrame:
        """The ``service_workloads`` (or ``subset_workloads``) rows whose pods are in the service's
        (subset's) endpoint sets: a ready workload's, and an unready one's where the Service has a
        ``trafficDistribution`` (istiod then sends them as unhealthy endpoints,
        ``SupportsUnhealthyEndpoints``; else none: ``PILOT_SEND_UNHEALTHY_ENDPOINTS`` is off) or
        ``publishNotReadyAddresses`` (its EndpointSlices say they are ready: healthy endpoints); a
        terminating one's only behind ``publishNotReadyAddresses``."""

        def make() -> pd.DataFrame:
            links = self.service_workloads if key == "service" else self.subset_workloads
            service = links[key].to_numpy()
            if key == "subset":
                service = self.subsets["service"].to_numpy()[service]
            workload = links["workload"].to_numpy()
            ready = self.workloads["ready"].to_numpy()[workload]
            # Kubernetes writes a terminating pod's endpoint not ready, and istiod marks it Terminating
            # and never sends it, unless publishNotReadyAddresses keeps the slice's ready condition true.
            live = ~self.workloads["terminating"].to_numpy()[workload]
            close = self.services["prefer_close"].to_numpy()[service]
            publish = self.services["publish_not_ready"].to_numpy()[service]
            return links[((ready | close) & live) | publish].reset_index(drop=True)

        return self.keep(f"endpoint_{key}_workloads", make)

    def sent_written_endpoints(self) -> pd.DataFrame:
        """The ``written_endpoints`` rows istiod sends (their own row ids in ``endpoint``, with
        ``service`` and ``ready``): the ready ones, and an unready one where the Service has a
        ``trafficDistribution`` (as an unhealthy endpoint). ``publishNotReadyAddresses`` changes
        nothing here: no Kubernetes controller writes these slices."""

        def make() -> pd.DataFrame:
            written = self.written_endpoints
            service = written["service"].to_numpy()
            sent = written["ready"].to_numpy() | self.services["prefer_close"].to_numpy()[service]
            rows = np.flatnonzero(sent)
            return pd.DataFrame(
                {"endpoint": rows, "service": service[rows], "ready": written["ready"].to_numpy()[rows]}
            )

        return self.keep("sent_written_endpoints", make)

    def written_locality(self) -> int:
        """The ``localities`` row of the endpoints written by hand (no region, no zone); -1 if none is written."""
        if not len(self.written_endpoints):
            return -1
        empty = np.flatnonzero(
            (self.localities["region"] == "").to_numpy() & (self.localities["zone"] == "").to_numpy()
        )
        return int(empty[0])

    def written_ip_text(self) -> pd.DataFrame:
        """The endpoints written by hand as text (``ipv4``, ``ipv6``; each row has one of them)."""
        return _ip_text(self.written_endpoints, "ipv4", "ipv6_hi", "ipv6_lo")

    def service_hosts(self) -> pd.Series:
        """Each service's FQDN (``<name>.<namespace>.svc.<cluster_domain>``; a ServiceEntry host as written)."""
        namespace = self.namespaces["name"].to_numpy()[self.services["namespace"].to_numpy()]
        suffix = f".svc.{self.scenario.mesh.cluster_domain}"
        fqdn = self.services["name"] + "." + pd.Series(namespace, index=self.services.index) + suffix
        return fqdn.where(self.services["entry"].to_numpy() < 0, self.services["name"])

    def pod_names(self) -> pd.Series:
        """Each pod's name: as the scenario names it (``workloads[].pod_names``), else ``<workload>-<ordinal>``."""
        pod_workload = self.pods["workload"].to_numpy()
        workload = self.workloads["name"].to_numpy()[pod_workload]
        names = pd.Series(workload, index=self.pods.index) + "-" + self.pods["ordinal"].astype(str)
        # Explicit workloads come first in the workloads table, in scenario order.
        named = [(w, wl.pod_names) for w, wl in enumerate(self.scenario.workloads) if wl.pod_names]
        if named:
            first_pod = np.searchsorted(pod_workload, np.arange(len(self.workloads)))
            values = names.to_numpy(copy=True)
            for w, given in named:
                values[first_pod[w] : first_pod[w] + len(given)] = given
            names = pd.Series(values, index=self.pods.index)
        return names

    def pod_ip_text(self) -> pd.DataFrame:
        """Pods' IPs as text (``ipv4``, ``ipv6``; empty where the pod has none)."""
        return _ip_text(self.pods, "ipv4", "ipv6_hi", "ipv6_lo")

    def service_vip_text(self) -> pd.DataFrame:
        """Services' ClusterIPs as text (``ipv4``, ``ipv6``; empty where none)."""
        return _ip_text(self.services, "vip4", "vip6_hi", "vip6_lo")

    def call_graph(self) -> nx.DiGraph:
        """Service → service call graph (a workload's calls count for every service selecting it)."""
        edges = self.dependencies.merge(self.service_workloads, on="workload", suffixes=("", "_caller"))
        graph = nx.DiGraph()
        graph.add_nodes_from(self.services.index.tolist())
        graph.add_edges_from(zip(edges["service_caller"].tolist(), edges["service"].tolist(), strict=True))
        return graph


def make_table(name: str, columns: Mapping[str, object], **extra: object) -> pd.DataFrame:
    """Table ``name`` from column arrays, cast to :data:`SCHEMA`; ``extra`` columns are kept as
    given (the builder's scratch columns, dropped before the cluster is returned)."""
    frame = pd.DataFrame({**columns, **extra})
    missing = set(SCHEMA[name]) - set(frame.columns)
    if missing:
        raise KeyError(f"table {name} lacks columns {sorted(missing)}")  # a builder bug
    return frame.astype(SCHEMA[name])


def _ip_text(frame: pd.DataFrame, v4: str, v6_hi: str, v6_lo: str) -> pd.DataFrame:
    has4 = frame["has_ipv4"].to_numpy()
    has6 = frame["has_ipv6"].to_numpy()
    ipv4 = np.full(len(frame), "", dtype=object)
    ipv4[has4] = ipv4_text(frame[v4].to_numpy()[has4])
    ipv6 = np.full(len(frame), "", dtype=object)
    ipv6[has6] = ipv6_text(frame[v6_hi].to_numpy()[has6], frame[v6_lo].to_numpy()[has6])
    return pd.DataFrame({"ipv4": ipv4, "ipv6": ipv6}, index=frame.index)
