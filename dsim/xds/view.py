"""What one sidecar sees of the cluster, as plain records for the message builders.

:class:`ClusterIndex` reads the column tables once (hosts, ports, subsets, identities, pod
addresses as text); :meth:`ClusterIndex.proxy` then answers for one proxy: its own facts, the
services visible to it (the scenario's ``visibility``, as an Istio Sidecar would scope it) and
the ports its own services expose. This is the protobuf reference path: it favours clarity
over speed; the vectorized accounting never uses it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dsim.cluster import Cluster
from dsim.cluster.egress_ports import EgressLayout
from dsim.cluster.headless import telemetry_names
from dsim.cluster.ingress import inbound_pool, ingress_rows, ingress_workloads, pool_sidecars
from dsim.cluster.labels import endpoint_revision
from dsim.cluster.service_targets import inbound_protocol, mesh_external, port_overrides, service_targets
from dsim.cluster.sidecars import allow_any_by_workload
from dsim.designs.base import ProxyFacts, ServiceFacts
from dsim.errors import DsimError, UnknownNameError
from dsim.memo import instance_cache
from dsim.scenario.istio.destination_rule import ConnectionPoolSettings
from dsim.scenario.istio.rules import GRPC_WEB
from dsim.scenario.model import IpFamily
from dsim.xds.failover import ProxyLocality
from dsim.xds.names import spiffe_id

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC"})
INGRESS_PROTOCOL = {"http": "HTTP", "tcp": "TCP", "mongo": "TCP", "auto": "auto"}
"""A Sidecar ingress port's protocol, as :func:`port_kind` reads it, by its kind."""
CLUSTER_ID = "Kubernetes"
"""Istio's default cluster ID, the last field of endpoint ``istio.workload`` metadata."""
WRITTEN_METADATA = ";;;;" + CLUSTER_ID
"""The ``istio.workload`` metadata of an endpoint written by hand: istiod finds no pod behind it, so
no workload name, namespace or canonical names (``NewEndpointBuilder(nil)``, ``AppendLbEndpointMetadata``)."""


def port_kind(protocol: str) -> str:
    """How Istio serves a protocol: ``http`` (shared wildcard listener, HTTP chains), ``tcp``, or
    ``auto`` (sniffed: a VIP listener with both)."""
    if protocol in HTTP_PROTOCOLS:
        return "http"
    return "tcp" if protocol == "TCP" else "auto"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortView:
    name: str
    port: int
    target_port: int
    protocol: str
    """``TCP``, ``HTTP``, ``HTTP2``, ``GRPC`` or ``auto`` for a Kubernetes Service's port; any of
    Istio's protocols for a ServiceEntry's (its own side reads it through
    :func:`dsim.cluster.service_targets.inbound_protocol`)."""
    istio_protocol: str = ""
    """Its protocol as Istio reads it: a Kubernetes Service's TLS, HTTPS or Mongo port is served as
    ``TCP`` (:attr:`protocol`); any other, and a ServiceEntry's, the same as :attr:`protocol`."""

    @property
    def kind(self) -> str:
        return port_kind(self.protocol)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointRows:
    """The pods behind a service or subset, one row each (text columns, in pod order)."""

    ipv4: tuple[str, ...]
    """Pod IPv4 text; empty where the pod has none."""
    ipv6: tuple[str, ...]
    region: tuple[str, ...]
    zone: tuple[str, ...]
    locality: tuple[int, ...]
    """Locality id (groups endpoints)."""
    workload: tuple[str, ...]
    """Istio ``workload`` metadata: ``<name>;<ns>;<canonical service>;<canonical revision>;Kubernetes``."""
    sidecar: tuple[bool, ...]
    """Whether the pod runs a sidecar (``tlsMode: istio`` endpoint metadata)."""
    healthy: tuple[bool, ...]
    """Whether the endpoint is healthy: its pod is ready, or its Service publishes unready addresses
    (an unready one is sent, unhealthy, only where its Service has a ``trafficDistribution``, and a
    terminating one only where it publishes them: :meth:`dsim.cluster.Cluster.endpoint_workloads`)."""

    def address(self, row: int, family: IpFamily) -> str:
        return self.ipv4[row] if family == "IPv4" else self.ipv6[row]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceView:
    index: int
    name: str
    namespace: str
    host: str
    facts: ServiceFacts
    ports: tuple[PortView, ...]
    identities: tuple[str, ...]
    """SPIFFE identities of its workloads (the SANs its clusters verify), sorted."""
    prefer_close: bool = False
    """Whether it has a ``trafficDistribution`` (:attr:`dsim.scenario.model.Service.traffic_distribution`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InboundEndpoint:
    """Where a Sidecar ingress listener's ``defaultEndpoint`` sends (a ``STATIC`` inbound cluster)."""

    address: str
    """An IP, or a unix socket's path."""
    port: int
    """0 for a unix socket."""
    bound: bool
    """Whether the cluster binds to the inbound source address (not a loopback endpoint)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InboundPort:
    """A target port the proxy's own services send to, or a Sidecar ingress listener's port."""

    target_port: int
    protocol: str
    service_port: int
    host: str
    mongo: bool = False
    """Its protocol is Mongo (served as TCP): its TCP chains proxy through a ``mongo_proxy``
    (``buildInboundNetworkFilters``)."""
    grpc_web: bool = False
    """Its protocol is gRPC-Web (served as gRPC): its HTTP chains' connection managers carry a
    ``grpc_web`` filter (:func:`dsim.xds.common.http_filters`)."""
    chain_address: tuple[str, str] | None = None
    """A Sidecar ingress port: the address naming its chains in an IPv4 and in an IPv6 listener;
    ``None``, the listener's any-address."""
    chained: bool = True
    """``False``: a Sidecar ingress port that gets its cluster but no chains (the proxy's status or
    Prometheus port)."""
    config: str = ""
    """A Sidecar ingress port: the Sidecar, as its chains' ``istio.config`` metadata."""
    endpoint: InboundEndpoint | None = None
    """A Sidecar ingress port's ``defaultEndpoint``; ``None``, the design's usual inbound cluster."""
    services: tuple[tuple[str, str, str], ...] = ()
    """(host, name, namespace) of the services its inbound cluster's telemetry metadata lists
    (:func:`telemetry_services`)."""
    service: int = -1
    """The first target (``services`` row), whose DestinationRule the inbound cluster takes; -1:
    none, or one the proxy's Sidecar scope leaves out (Istio looks rules up for the scope's services
    only, ``selectDestinationRules``)."""
    pool: ConnectionPoolSettings | None = None
    """The connection pool the proxy's Sidecar gives its inbound cluster, in place of the rule's
    (:func:`dsim.cluster.ingress.inbound_pool`); ``None``: none."""
    port_override: int = 0
    """Where its original-destination cluster sends in place of the port: the first target's, when
    that is a ``NONE`` ServiceEntry's port with a ``targetPort``
    (:func:`dsim.cluster.service_targets.port_overrides`); 0: none."""


def telemetry_services(
    own: Sequence[ServiceView], target_port: int, service_port: int | None
) -> tuple[ServiceView, ...]:
    """The services an inbound cluster of ``target_port`` lists as ``istio.services`` metadata
    (``addTelemetryMetadata``, Istio 1.17 to 1.30; ``docs/dual-stack-designs.md``): of the pod's
    service targets in order, those with a port of that target port and the first's service port
    (``service_port``), each host once. A Sidecar ingress port (``service_port`` ``None``) lists the
    first with a port of that target port (``findOrCreateService``); none: a stand-in service marked
    mesh-external, which gets no metadata."""
    found: list[ServiceView] = []
    for view in own:
        for p in view.ports:
            if p.target_port != target_port:
                continue
            if service_port is None:
                return (view,)
            if p.port == service_port and view.host not in (f.host for f in found):
                found.append(view)
    return tuple(found)


def _listing(
    services: Sequence[ServiceView], service_port: int, external: np.ndarray, overrides: dict[tuple[int, int], int]
) -> dict[str, Any]:
    """An inbound port's ``services``, ``service`` and ``port_override`` fields from the targets its
    cluster may list (the first its primary, built with service port ``service_port``): none listed
    when the first is a ``MESH_EXTERNAL`` entry's host (``addTelemetryMetadata``), whose rule the
    cluster still takes, and the primary's override of that port."""
    if not services:
        return {"services": (), "service": -1}
    first = services[0].index
    return {
        "services": () if external[first] else tuple((s.host, s.name, s.namespace) for s in services),
        "service": first,
        "port_override": overrides.get((first, service_port), 0),
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProxyView:
    proxy: int
    pod_name: str
    namespace: str
    namespace_index: int
    """Its ``namespaces`` row (the DestinationRules its inbound clusters apply depend on it)."""
    viewer: int
    """Its viewer (:meth:`dsim.cluster.Cluster.workload_viewers`): which VirtualServices and
    DestinationRules its outbound config applies depends on it."""
    workload: str
    canonical_service: str
    canonical_revision: str
    facts: ProxyFacts
    allow_any: bool
    """Whether traffic for unknown hosts passes through (its Sidecar's outbound traffic policy, else the mesh's)."""
    outbound: tuple[ServiceView, ...]
    """Visible services, in service order."""
    destinations: tuple[ServiceView, ...] = ()
    """Services it has clusters for and nothing else: destinations of the VirtualServices its
    Sidecar imports that the Sidecar's egress hosts do not import (docs/istio-objects.md 4.3)."""
    inbound: tuple[InboundPort, ...]
    """Its own services' target ports, by port number."""
    egress: EgressLayout | None = None
    """Its Sidecar's egress listeners port by port, where they have ports (``None``: one catch-all)."""
    locality: ProxyLocality = ("", "", "")
    """Its (region, zone, subzone): its pod's node's (endpoint sets that fail over are prioritised by it)."""
    address: str = ""
    """Its pod's first IP (IPv4 on a dual pod): Istio builds it no listener for its own pod among a
    passthrough host's per-endpoint ones (``buildSidecarOutboundListeners`` compares the first addresses)."""


class ClusterIndex:
    """Per-service and per-pod text a config generator needs, computed once per cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        """Held, not derived weakly: a caller may keep the index alone (``index_for(build_cluster(...))``)."""
        c = cluster
        self.hosts = c.service_hosts().tolist()
        self.namespace_names = c.namespaces["name"].tolist()
        vip_text = c.service_vip_text()
        self.vip4 = vip_text["ipv4"].tolist()
        self.vip6 = vip_text["ipv6"].tolist()
        pod_text = c.pod_ip_text()
        self.pod_ipv4 = pod_text["ipv4"].to_numpy()
        self.pod_ipv6 = pod_text["ipv6"].to_numpy()
        self.pod_names = c.pod_names().tolist()
        workloads = c.workloads
        ns_of_workload = np.asarray(self.namespace_names, dtype=object)[workloads["namespace"].to_numpy()]
        self.workload_metadata = (
            workloads["name"]
            + ";"
            + pd.Series(ns_of_workload, index=workloads.index)
            + ";"
            + workloads["canonical_service"]
            + ";"
            + workloads["canonical_revision"].map(endpoint_revision)
            + ";"
            + CLUSTER_ID
        ).to_numpy()
        self.allow_any = allow_any_by_workload(c)
        self.viewers = c.workload_viewers()
        self.ports_of = _group(c.service_ports, "service")
        self.subsets_of = _group(c.subsets, "service")
        self.workloads_of_service = _group(c.service_workloads, "service", "workload")
        self.targets_of = _group(service_targets(c), "workload", "service")
        self._listing = functools.partial(_listing, external=mesh_external(c), overrides=port_overrides(c))
        # The endpoint sets' members: unready and terminating workloads only behind some Services.
        self.endpoint_workloads_of_service = _group(c.endpoint_workloads("service"), "service", "workload")
        self.endpoint_workloads_of_subset = _group(c.endpoint_workloads("subset"), "subset", "workload")
        self.pods_of_workload = _group(c.pods, "workload")
        sent = c.sent_written_endpoints()
        self.written_of_service = _group(sent, "service", "endpoint")
        self.written_text = c.written_ip_text()
        self.written_ready = c.written_endpoints["ready"].to_numpy()
        self.written_locality = c.written_locality()
        self.dependencies_of = _group(c.dependencies, "workload")
        only = c.scope["clusters_only"].to_numpy(bool)
        self.scope_group = c.workload_scope_groups()
        group, service = c.scope["group"].to_numpy(), c.scope["service"].to_numpy()
        self._scope_of = _Sliced(group[~only], service[~only])
        self._destinations_of = _Sliced(group[only], service[only])
        self.ingress_of: dict[int, list[dict[Any, Any]]] = {}
        for row in ingress_rows(c).to_dict("records"):
            self.ingress_of.setdefault(int(row["proxy"]), []).append(row)
        self.ingress_workload = ingress_workloads(c)
        self.pool_sidecar = pool_sidecars(c)
        # Cached per index, not per class, so that an index of :meth:`with_pods` dies with its use.
        self.endpoints = functools.cache(self._endpoints)
        # Plain per-row values: indexing pandas once per service is what makes a naive index slow.
        self.columns: dict[str, Any] = {
            "ip_families": c.services["ip_families"].astype(str).tolist(),
            "service_name": telemetry_names(
                c.services["name"].tolist(), c.services["entry"].to_numpy(), c.istio.service_entries
            ),
            "prefer_close": c.services["prefer_close"].tolist(),
            "publish_not_ready": c.services["publish_not_ready"].tolist(),
            "service_namespace": c.services["namespace"].tolist(),
            "port_name": c.service_ports["name"].tolist(),
            "port": c.service_ports["port"].tolist(),
            "target_port": c.service_ports["target_port"].tolist(),
            "protocol": c.service_ports["protocol"].astype(str).tolist(),
            "istio_protocol": c.service_ports["istio_protocol"].astype(str).tolist(),
            "subset_name": c.subsets["name"].tolist(),
            "subset_rule": c.subsets["rule"].tolist(),
            "subset_takes_written": c.subsets["takes_written"].tolist(),
            "service_account": c.workloads["service_account"].tolist(),
            "sidecar": c.workloads["sidecar"].to_numpy(),
            "ready": c.workloads["ready"].to_numpy(),
            "pod_workload": c.pods["workload"].to_numpy(),
            "pod_locality": c.pods["locality"].to_numpy(),
            "region": c.localities["region"].to_numpy(),
            "zone": c.localities["zone"].to_numpy(),
        }

    @instance_cache
    def service(self, index: int) -> ServiceView:
        cols = self.columns
        families = tuple(cols["ip_families"][index].split(","))
        vips = {f: (self.vip4 if f == "IPv4" else self.vip6)[index] for f in families}
        port_rows = self.ports_of.get(index, [])
        namespace = self.namespace_names[cols["service_namespace"][index]]
        trust = self.cluster.scenario.mesh.trust_domain
        accounts = {cols["service_account"][w] for w in self.workloads_of_service.get(index, [])}
        return ServiceView(
            index=index,
            name=cols["service_name"][index],
            namespace=namespace,
            host=self.hosts[index],
            facts=ServiceFacts(families=families, vips=vips),
            ports=tuple(
                PortView(
                    name=cols["port_name"][r],
                    port=cols["port"][r],
                    target_port=cols["target_port"][r],
                    protocol=cols["protocol"][r],
                    istio_protocol=cols["istio_protocol"][r],
                )
                for r in port_rows
            ),
            identities=tuple(sorted(spiffe_id(trust, namespace, sa) for sa in accounts)),
            prefer_close=cols["prefer_close"][index],
        )

    def _subset_rows(self, service: int, rule: int) -> list[int]:
        """``subsets`` rows of ``service`` under DestinationRule entry ``rule``: the Service's own, then the entry's."""
        rules = self.columns["subset_rule"]
        rows = self.subsets_of.get(service, [])
        return [r for r in rows if rules[r] < 0] + [r for r in rows if rules[r] >= 0 and rules[r] == rule]

    def subsets(self, service: int, rule: int) -> tuple[str, ...]:
        """Names of ``service``'s subsets under DestinationRule entry ``rule`` (-1: none), in cluster order."""
        names = self.columns["subset_name"]
        return tuple(names[r] for r in self._subset_rows(service, rule))

    def with_pods(self, pods_of_workload: dict[int, list[int]]) -> ClusterIndex:
        """This index with the workloads of ``pods_of_workload`` backed by those pods instead of their
        own (a membership state of the push model; a pod listed twice is a clone of it). It shares
        everything else, caches included, but its endpoints."""
        moved = copy.copy(self)
        moved.pods_of_workload = {**self.pods_of_workload, **pods_of_workload}
        moved.endpoints = functools.cache(moved._endpoints)
        return moved

    def _endpoints(self, service: int, subset: str, rule: int) -> EndpointRows:
        """Pods behind ``service`` (or its ``subset`` under DestinationRule entry ``rule``)."""
        cols = self.columns
        takes_written = True
        if subset:
            subset_ids = [s for s in self._subset_rows(service, rule) if cols["subset_name"][s] == subset]
            workloads = [w for s in subset_ids for w in self.endpoint_workloads_of_subset.get(s, [])]
            takes_written = any(cols["subset_takes_written"][s] for s in subset_ids)
        else:
            workloads = list(self.endpoint_workloads_of_service.get(service, []))
        pods = np.array(sorted(p for w in workloads for p in self.pods_of_workload.get(w, [])), dtype=np.int64)
        pod_workload = cols["pod_workload"][pods]
        # Endpoints written by hand: the Service's, and a subset's whose labels are Istio's own or none.
        written = self.written_of_service.get(service, []) if takes_written else []
        locality = np.concatenate([cols["pod_locality"][pods], np.full(len(written), self.written_locality)])
        written_text = self.written_text.iloc[written]
        return EndpointRows(
            ipv4=(*self.pod_ipv4[pods].tolist(), *written_text["ipv4"].tolist()),
            ipv6=(*self.pod_ipv6[pods].tolist(), *written_text["ipv6"].tolist()),
            region=tuple(cols["region"][locality].tolist()),
            zone=tuple(cols["zone"][locality].tolist()),
            locality=tuple(locality.tolist()),
            workload=(*self.workload_metadata[pod_workload].tolist(), *[WRITTEN_METADATA] * len(written)),
            sidecar=(*cols["sidecar"][pod_workload].tolist(), *[False] * len(written)),
            # publishNotReadyAddresses: the slices call every pod ready, and istiod believes them
            healthy=(
                *(cols["ready"][pod_workload] | cols["publish_not_ready"][service]).tolist(),
                *self.written_ready[written].tolist(),
            ),
        )

    def scope_of(self, workload: int) -> list[int]:
        """The services of ``workload``'s scope group (``Cluster.scope``) its proxies see."""
        return self._scope_of.get(int(self.scope_group[workload]), [])

    def destinations_of(self, workload: int) -> list[int]:
        """The services of ``workload``'s scope group its proxies have clusters for alone."""
        return self._destinations_of.get(int(self.scope_group[workload]), [])

    def visible_services(self, workload: int, namespace: int) -> list[int]:
        """Services a proxy of ``workload`` sees: its Sidecar scope and exportTo where they apply
        (``Cluster.scope``), else the scenario's visibility."""
        if self.cluster.istio.scoped:
            return sorted(self.scope_of(workload))
        visibility = self.cluster.scenario.visibility
        if visibility == "all":
            return list(range(len(self.cluster.services)))
        if visibility == "namespace":
            return np.flatnonzero(self.cluster.services["namespace"].to_numpy() == namespace).tolist()
        called = self.cluster.dependencies["service"].to_numpy()[self.dependencies_of.get(workload, [])]
        return sorted(set(called.tolist()))

    def proxy(self, proxy: int) -> ProxyView:
        c = self.cluster
        pod = int(c.proxies["pod"].iloc[proxy])
        workload = int(c.proxies["workload"].iloc[proxy])
        namespace = int(c.proxies["namespace"].iloc[proxy])
        families = tuple(
            f for f, has in (("IPv4", c.pods["has_ipv4"].iloc[pod]), ("IPv6", c.pods["has_ipv6"].iloc[pod])) if has
        )
        inbound: dict[int, InboundPort] = {}
        own_views = [self.service(s) for s in self.targets_of.get(workload, [])]
        pooled = int(self.pool_sidecar[workload])

        def pool_of(port: int) -> ConnectionPoolSettings | None:
            return None if pooled < 0 else inbound_pool(c.istio.sidecars[pooled].spec, port)

        for row in self.ingress_of.get(proxy, []):
            endpoint = None
            if row["endpoint"]:
                endpoint = InboundEndpoint(
                    address=str(row["endpoint_address"]),
                    port=int(row["endpoint_port"]),
                    bound=row["endpoint"] == "bound",
                )
            number = int(row["number"])
            inbound[number] = InboundPort(
                pool=pool_of(number),
                target_port=number,
                protocol="HTTP2" if row["h2"] else INGRESS_PROTOCOL[str(row["kind"])],
                mongo=row["kind"] == "mongo",
                grpc_web=bool(row["grpc_web"]),
                service_port=number,
                host=str(row["host"]),
                chain_address=(str(row["chain4"]), str(row["chain6"])),
                chained=bool(row["chained"]),
                config=str(row["config"]),
                endpoint=endpoint,
                # Istio builds an ingress port's cluster with the listener's port as the service port.
                **self._listing(telemetry_services(own_views, number, None), number),
            )
        for view in () if self.ingress_workload[workload] else own_views:
            for p in view.ports:
                if p.target_port not in inbound:
                    inbound[p.target_port] = InboundPort(
                        pool=pool_of(p.target_port),
                        target_port=p.target_port,
                        protocol=inbound_protocol(p.protocol),
                        mongo=p.istio_protocol == "Mongo",
                        grpc_web=p.istio_protocol == GRPC_WEB,
                        service_port=p.port,
                        host=view.host,
                        **self._listing(telemetry_services(own_views, p.target_port, p.port), p.port),
                    )
        if c.istio.scoped:  # a rule is looked up only for a service in the scope
            scope = set(self.scope_of(workload)) | set(self.destinations_of(workload))
            inbound = {n: p if p.service in scope else dataclasses.replace(p, service=-1) for n, p in inbound.items()}
        wl = c.workloads.iloc[workload]
        return ProxyView(
            proxy=proxy,
            pod_name=self.pod_names[pod],
            namespace=self.namespace_names[namespace],
            namespace_index=namespace,
            viewer=int(self.viewers[workload]),
            workload=str(wl["name"]),
            canonical_service=str(wl["canonical_service"]),
            canonical_revision=str(wl["canonical_revision"]),
            facts=ProxyFacts(families=families),  # type: ignore[arg-type]
            allow_any=bool(self.allow_any[workload]),
            outbound=tuple(self.service(s) for s in self.visible_services(workload, namespace)),
            destinations=tuple(self.service(s) for s in sorted(self.destinations_of(workload))),
            inbound=tuple(inbound[p] for p in sorted(inbound)),
            egress=c.istio.egress_layouts.get(workload),
            locality=self.locality(int(self.columns["pod_locality"][pod])),
            address=str(self.pod_ipv4[pod] if families[0] == "IPv4" else self.pod_ipv6[pod]),
        )

    def locality(self, row: int) -> ProxyLocality:
        """A ``localities`` row as a proxy's (region, zone, subzone); pods carry no subzone."""
        return (str(self.columns["region"][row]), str(self.columns["zone"][row]), "")

    def find_proxy(self, name: str) -> int:
        """A proxy by ``<namespace>/<pod>`` or ``<namespace>/<workload>`` (its first pod)."""
        c = self.cluster
        namespace, _, pod_or_workload = name.partition("/")
        pods = c.proxies["pod"].to_numpy()
        proxy_ns = np.asarray(self.namespace_names, dtype=object)[c.proxies["namespace"].to_numpy()]
        pod_names = np.asarray(self.pod_names, dtype=object)[pods]
        workload_names = c.workloads["name"].to_numpy()[c.proxies["workload"].to_numpy()]
        for candidates in (pod_names, workload_names):
            hits = np.flatnonzero((proxy_ns == namespace) & (candidates == pod_or_workload))
            if hits.size:
                return int(hits[0])
        if self._pod_without_sidecar(namespace, pod_or_workload):
            raise DsimError(f"proxy {name!r}: that pod runs no sidecar, so istiod sends it no config")
        listed = sorted(f"{ns}/{pod}" for ns, pod in zip(proxy_ns.tolist(), pod_names.tolist(), strict=True))
        shown = listed[:20] + ([f"... ({len(listed) - 20} more)"] if len(listed) > 20 else [])
        raise UnknownNameError("proxy", name, shown, plural="proxies")

    def _pod_without_sidecar(self, namespace: str, pod_or_workload: str) -> bool:
        c = self.cluster
        pod_ns = np.asarray(self.namespace_names, dtype=object)[
            c.workloads["namespace"].to_numpy()[c.pods["workload"].to_numpy()]
        ]
        named = (pod_ns == namespace) & (np.asarray(self.pod_names, dtype=object) == pod_or_workload)
        return bool(named.any())  # a pod of that name exists, and no proxy has it


def index_for(cluster: Cluster) -> ClusterIndex:
    """The (cached) index of ``cluster``: built once, reused by every config of its proxies. Kept
    on the cluster (:meth:`dsim.cluster.tables.Cluster.keep`): the index holds its cluster, so a
    cache keyed weakly by the cluster would keep both alive for good."""
    return cluster.keep("config_index", lambda: ClusterIndex(cluster))


class _Sliced:
    """By key: its rows' values, as :func:`_group` holds them, sliced out when asked (a scope of
    millions of rows stays two arrays, not a list of Python numbers per group)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = values[order]

    def get(self, key: int, default: list[int]) -> list[int]:
        start, stop = np.searchsorted(self.keys, [key, key + 1])
        return self.values[start:stop].tolist() if stop > start else default


def _group(frame: pd.DataFrame, column: str, values: str | None = None) -> dict[int, list[int]]:
    """By the value of ``column``: the ``values`` column of its rows (their row positions if none)."""
    keys = frame[column].to_numpy()
    order = np.argsort(keys, kind="stable")
    picked = order if values is None else frame[values].to_numpy()[order]
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    return {
        int(keys[rows[0]]): group.tolist()
        for rows, group in zip(np.split(order, bounds), np.split(picked, bounds), strict=True)
        if rows.size
    }
