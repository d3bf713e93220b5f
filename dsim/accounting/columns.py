"""The lengths and numbers config sizes depend on, as columns of the cluster's tables.

Each array mirrors a text the generator writes: a service's FQDN, a pod's address as text, a
workload's ``istio.workload`` metadata. Lengths are bytes (every name dsim handles is ASCII:
Kubernetes names and labels, IP text, ports).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsim.accounting.failover import proxy_localities
from dsim.cluster import Cluster
from dsim.cluster.headless import telemetry_names
from dsim.cluster.hostnames import host_namespace, route_host
from dsim.cluster.labels import endpoint_revision
from dsim.cluster.passthrough_tls import every_endpoint_meshed
from dsim.cluster.service_targets import inbound_protocol
from dsim.scenario.istio.rules import GRPC_WEB
from dsim.scenario.model import IpFamily
from dsim.wire import ipv4_text_length, ipv6_text_length
from dsim.xds.access_logs import AccessLogging
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.mesh_objects import ObjectView, StackedView, mesh_objects
from dsim.xds.view import CLUSTER_ID, WRITTEN_METADATA, port_kind

FAMILIES: tuple[IpFamily, IpFamily] = ("IPv4", "IPv6")
SPIFFE = len("spiffe://") + len("/ns/") + len("/sa/")


def _lengths(series: pd.Series) -> np.ndarray:
    return series.astype(str).str.len().to_numpy(dtype=np.int64)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ClusterColumns:
    """Per-row lengths and numbers of a cluster's tables (one array per fact; see the field docs)."""

    service_families: np.ndarray
    """``ip_families`` text per service (``IPv6,IPv4``)."""
    service_namespace: np.ndarray
    service_home_namespace: np.ndarray
    """Per service: the namespace whose proxies its virtual hosts give its shortest names (its own for
    a Service; for a ServiceEntry host, the one its text names inside ``svc.<cluster domain>``;
    -1 where no proxy's: :func:`home_namespaces`)."""
    service_prefer_close: np.ndarray
    """Per service: whether it has a ``trafficDistribution`` (dsim/xds/failover.py)."""
    service_meshed: np.ndarray
    """Per service: a passthrough cluster of it gets Istio mTLS (:func:`every_endpoint_meshed`)."""
    name_length: np.ndarray
    """Service name, bytes."""
    namespace_length: np.ndarray
    """Service namespace name, bytes."""
    host_length: np.ndarray
    """Service FQDN, bytes."""
    vip_length: dict[IpFamily, np.ndarray]
    """ClusterIP text per family, bytes (0 where the service has none)."""
    ports: pd.DataFrame
    """Kubernetes Service ports: service, port, target_port, protocol, kind (``http``/``tcp``/``auto``)."""
    target_ports: pd.DataFrame
    """Every service's ports as :attr:`ports`, ServiceEntry hosts' too: what a pod's service targets
    give its inbound side (:mod:`dsim.cluster.service_targets`)."""
    host_id: np.ndarray
    """Per service: its FQDN as a number, the same for the same host (a Kubernetes Service and an
    entry may share one)."""
    subsets: pd.DataFrame
    """Subsets in ``objects``' view: service, subset (row id), length (name bytes), name."""
    rule_length: np.ndarray
    """Per service: bytes of the ``istio.config`` path of the DestinationRule shaping it (0: none)."""
    objects: ObjectView
    """The cluster's VirtualServices and DestinationRules by service (routes and policies), as
    one view sees them (the base view unless :func:`view_columns` chose another)."""
    all_subsets: pd.DataFrame
    """Every subset row, as ``subsets`` plus ``rule`` (its DestinationRule entry; -1: the Service's own)."""
    identities: pd.DataFrame
    """Distinct (service, SPIFFE identity length) of each service's workloads."""
    mesh_defaults: MeshDefaults
    """The mesh's settings every cluster and default route template is built with."""
    access_logging: AccessLogging | None
    """The mesh's access logs, which every listener template carries (``None``: off)."""
    pod_has: dict[IpFamily, np.ndarray]
    """Per endpoint source, whether it has an address of the family. The sources are the pods, then
    the endpoints written by hand (source ``pods + k`` is ``written_endpoints`` row ``k``: one family,
    no sidecar, no locality, the metadata :data:`dsim.xds.view.WRITTEN_METADATA`)."""
    pod_address_length: dict[IpFamily, np.ndarray]
    """Per endpoint source, IP text per family, bytes (0 where none)."""
    pod_locality: np.ndarray
    pod_sidecar: np.ndarray
    pod_workload_length: np.ndarray
    """``istio.workload`` endpoint metadata, bytes."""
    service_pods: pd.DataFrame
    """Endpoint sources behind each service: service, pod (a pod, or a written endpoint past the pods)."""
    subset_pods: pd.DataFrame
    """Endpoint sources behind each subset: subset, pod (as in :attr:`service_pods`)."""
    region_length: np.ndarray
    zone_length: np.ndarray
    locality_region: np.ndarray
    """Per locality: its region's code (localities are distinct (region, zone) pairs)."""
    proxy_localities: np.ndarray
    """The localities proxies run in, ascending: endpoint sets that fail over are priced for each."""
    workload_namespace: np.ndarray
    canonical_service_length: np.ndarray
    canonical_revision_length: np.ndarray
    workload_namespace_length: np.ndarray


def home_namespaces(c: Cluster) -> np.ndarray:
    """Per service row, the namespace (row) whose proxies see it by its shortest names
    (:func:`dsim.cluster.hostnames.short_names`): a Service's own; a ServiceEntry host's, the namespace its
    text names (``reviews.bookinfo.svc.cluster.local``: ``bookinfo``, whichever namespace the entry
    is in), -1 where that is no namespace of the mesh or the host has no short names."""
    services = c.services
    home = services["namespace"].to_numpy().astype(np.int64)
    ns_id = {name: i for i, name in enumerate(c.namespaces["name"].tolist())}
    domain = c.scenario.mesh.cluster_domain
    names = services["name"].tolist()
    for row in np.flatnonzero(services["entry"].to_numpy() >= 0).tolist():
        named = host_namespace(route_host(str(names[row])), domain)  # short names come from its lower-cased host
        home[row] = ns_id.get(named, -1) if named is not None else -1
    return home


def cluster_columns(c: Cluster) -> ClusterColumns:
    s = c.scenario
    services = c.services
    ns_length = _lengths(c.namespaces["name"])
    service_ns = services["namespace"].to_numpy()
    row_name_length = _lengths(services["name"])
    entry = services["entry"].to_numpy() >= 0
    host_length = np.where(
        entry, row_name_length, row_name_length + 1 + ns_length[service_ns] + len(f".svc.{s.mesh.cluster_domain}")
    )
    names = telemetry_names(services["name"].tolist(), services["entry"].to_numpy(), c.istio.service_entries)
    name_length = _lengths(pd.Series(names, dtype=object))
    vip_length: dict[IpFamily, np.ndarray] = {
        "IPv4": np.where(services["has_ipv4"], ipv4_text_length(services["vip4"].to_numpy()), 0),
        "IPv6": np.where(
            services["has_ipv6"], ipv6_text_length(services["vip6_hi"].to_numpy(), services["vip6_lo"].to_numpy()), 0
        ),
    }
    target_ports = _port_frame(
        c.service_ports.assign(protocol=c.service_ports["protocol"].astype(str).map(inbound_protocol))
    )
    port_frame = target_ports[~entry[target_ports["service"].to_numpy()]]  # ServiceEntry hosts: accounting/entries.py
    all_subsets = pd.DataFrame(
        {
            "service": c.subsets["service"].to_numpy(),
            "subset": np.arange(len(c.subsets)),
            "length": _lengths(c.subsets["name"]),
            "name": c.subsets["name"].to_numpy(),
            "rule": c.subsets["rule"].to_numpy(np.int64),
        }
    )
    objects = mesh_objects(c).base
    workloads = c.workloads
    selected = c.service_workloads.merge(
        pd.DataFrame({"workload": np.arange(len(workloads)), "sa": workloads["service_account"].to_numpy()}),
        on="workload",
    )[["service", "sa"]].drop_duplicates()
    identities = pd.DataFrame(
        {
            "service": selected["service"].to_numpy(),
            "length": SPIFFE
            + len(s.mesh.trust_domain)
            + ns_length[service_ns[selected["service"].to_numpy()]]
            + _lengths(selected["sa"]),
        }
    )
    pods = c.pods
    pod_workload = pods["workload"].to_numpy()
    workload_ns = workloads["namespace"].to_numpy()
    workload_length = (
        _lengths(workloads["name"])
        + ns_length[workload_ns]
        + _lengths(workloads["canonical_service"])
        + _lengths(workloads["canonical_revision"].map(endpoint_revision))
        + len(CLUSTER_ID)
        + 4
    )
    pod_rows = pd.DataFrame({"pod": np.arange(len(pods)), "workload": pod_workload})
    written = c.written_endpoints
    sent = c.sent_written_endpoints()
    written_pods = pd.DataFrame({"service": sent["service"].to_numpy(), "pod": len(pods) + sent["endpoint"].to_numpy()})
    taking = c.subsets[c.subsets["takes_written"].to_numpy()]
    written_subset_pods = pd.DataFrame(
        {"subset": taking.index.to_numpy(), "service": taking["service"].to_numpy()}
    ).merge(written_pods, on="service")[["subset", "pod"]]
    return ClusterColumns(
        service_families=services["ip_families"].astype(str).to_numpy(),
        service_namespace=service_ns,
        service_home_namespace=home_namespaces(c),
        service_prefer_close=services["prefer_close"].to_numpy(bool),
        service_meshed=every_endpoint_meshed(c),
        name_length=name_length,
        namespace_length=ns_length[service_ns],
        host_length=host_length,
        vip_length=vip_length,
        ports=port_frame.reset_index(drop=True),
        target_ports=target_ports,
        host_id=pd.factorize(c.service_hosts())[0],
        subsets=_view_subsets(all_subsets, objects),
        rule_length=_rule_lengths(objects, len(services)),
        objects=objects,
        all_subsets=all_subsets,
        identities=identities,
        mesh_defaults=mesh_objects(c).defaults,
        access_logging=AccessLogging.of(s.mesh),
        pod_has={
            family: np.concatenate([pods[has].to_numpy(), written[has].to_numpy()]) for family, has in HAS.items()
        },
        pod_address_length={
            family: np.concatenate([_address_lengths(pods, family), _address_lengths(written, family)])
            for family in HAS
        },
        pod_locality=np.concatenate(
            [pods["locality"].to_numpy(), np.full(len(written), c.written_locality(), np.int64)]
        ),
        pod_sidecar=np.concatenate([workloads["sidecar"].to_numpy()[pod_workload], np.zeros(len(written), bool)]),
        pod_workload_length=np.concatenate(
            [workload_length[pod_workload], np.full(len(written), len(WRITTEN_METADATA), np.int64)]
        ),
        service_pods=pd.concat(
            [c.endpoint_workloads("service").merge(pod_rows, on="workload")[["service", "pod"]], written_pods],
            ignore_index=True,
        ).sort_values(["service", "pod"], ignore_index=True),
        subset_pods=pd.concat(
            [c.endpoint_workloads("subset").merge(pod_rows, on="workload")[["subset", "pod"]], written_subset_pods],
            ignore_index=True,
        ).sort_values(["subset", "pod"], ignore_index=True),
        region_length=_lengths(c.localities["region"]),
        zone_length=_lengths(c.localities["zone"]),
        locality_region=pd.factorize(c.localities["region"])[0],
        proxy_localities=proxy_localities(c),
        workload_namespace=workload_ns,
        canonical_service_length=_lengths(workloads["canonical_service"]),
        canonical_revision_length=_lengths(workloads["canonical_revision"]),
        workload_namespace_length=ns_length[workload_ns],
    )


def _port_frame(ports: pd.DataFrame) -> pd.DataFrame:
    """``service_ports`` rows as :attr:`ClusterColumns.ports` holds them."""
    protocol = ports["protocol"].astype(str)
    return pd.DataFrame(
        {
            "service": ports["service"].to_numpy(),
            "port": ports["port"].to_numpy(),
            "target_port": ports["target_port"].to_numpy(),
            "protocol": protocol.to_numpy(),
            "kind": protocol.map(port_kind).to_numpy(),
            "mongo": (ports["istio_protocol"].astype(str) == "Mongo").to_numpy(),
            "grpc_web": (ports["istio_protocol"].astype(str) == GRPC_WEB).to_numpy(),
        }
    )


HAS: dict[IpFamily, str] = {"IPv4": "has_ipv4", "IPv6": "has_ipv6"}


def _address_lengths(frame: pd.DataFrame, family: IpFamily) -> np.ndarray:
    """Bytes of each row's address of ``family`` as text (0 where it has none): pods', or written endpoints'."""
    if family == "IPv4":
        return np.where(frame["has_ipv4"], ipv4_text_length(frame["ipv4"].to_numpy()), 0)
    return np.where(frame["has_ipv6"], ipv6_text_length(frame["ipv6_hi"].to_numpy(), frame["ipv6_lo"].to_numpy()), 0)


def _view_subsets(all_subsets: pd.DataFrame, view: ObjectView) -> pd.DataFrame:
    """The subset rows ``view`` builds clusters for: each service's own, then its rule entry's."""
    rule = all_subsets["rule"].to_numpy()
    entry = np.fromiter(
        (view.rule_of_service.get(s, -1) for s in all_subsets["service"].tolist()), np.int64, len(all_subsets)
    )
    kept = all_subsets[(rule < 0) | (rule == entry)]
    ordered = kept.assign(from_rule=kept["rule"].to_numpy() >= 0).sort_values(["service", "from_rule"], kind="stable")
    return ordered[["service", "subset", "length", "name"]].reset_index(drop=True)


def _rule_lengths(view: ObjectView, services: int, only: np.ndarray | None = None) -> np.ndarray:
    """Per service (of ``only``, if given): bytes of its rule's ``istio.config`` path in ``view``."""
    lengths = np.zeros(services, np.int64)
    for service in view.rule_of_service if only is None else only.tolist():
        lengths[service] = len(view.rule(service))
    return lengths


def view_columns(cols: ClusterColumns, view: ObjectView, services: np.ndarray) -> ClusterColumns:
    """``cols`` as proxies of ``view``'s namespace see ``services`` (Kubernetes Services only): their
    ports, subsets, rule lengths and objects in that view, and no other service's ports."""
    ports = cols.ports[np.isin(cols.ports["service"].to_numpy(), services)].reset_index(drop=True)
    mine = cols.all_subsets[np.isin(cols.all_subsets["service"].to_numpy(), services)]
    targets = cols.target_ports[np.isin(cols.target_ports["service"].to_numpy(), services)]
    return dataclasses.replace(
        cols,
        ports=ports,
        target_ports=targets.reset_index(drop=True),
        subsets=_view_subsets(mine, view),
        rule_length=_rule_lengths(view, len(cols.rule_length), services),
        objects=view,
    )


def stacked_columns(
    cols: ClusterColumns, groups: Sequence[tuple[ObjectView, np.ndarray]]
) -> tuple[ClusterColumns, np.ndarray, np.ndarray]:
    """:func:`view_columns` of every (view, services) group at once, for one pricing pass: stand-in
    service ``k`` is service ``real[k]`` seen in view ``group[k]`` (its ports, subsets, rule and
    endpoints; :class:`dsim.xds.mesh_objects.StackedView` answers for its objects). Returns the
    columns, ``real`` and ``group``."""
    real = np.concatenate([services for _, services in groups]).astype(np.int64)
    group = np.repeat(np.arange(len(groups)), [len(services) for _, services in groups])
    stand_in = pd.DataFrame({"stand_in": np.arange(len(real)), "real": real})

    def restack(frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows (keyed by ``service``) once per stand-in of their service."""
        merged = stand_in.merge(frame.rename(columns={"service": "real"}), on="real", sort=False)
        return merged.drop(columns="real").rename(columns={"stand_in": "service"}).reset_index(drop=True)

    subsets = []
    for g, (view, services) in enumerate(groups):
        mine = cols.all_subsets[np.isin(cols.all_subsets["service"].to_numpy(), services)]
        first = int(np.flatnonzero(group == g)[0])
        offset = pd.Series(np.arange(first, first + len(services)), index=services)
        found = _view_subsets(mine, view)
        subsets.append(found.assign(service=offset[found["service"].to_numpy()].to_numpy()))
    views = [view for view, _ in groups]
    return (
        dataclasses.replace(
            cols,
            service_families=cols.service_families[real],
            service_namespace=cols.service_namespace[real],
            service_home_namespace=cols.service_home_namespace[real],
            service_prefer_close=cols.service_prefer_close[real],
            service_meshed=cols.service_meshed[real],
            name_length=cols.name_length[real],
            namespace_length=cols.namespace_length[real],
            host_length=cols.host_length[real],
            vip_length={family: lengths[real] for family, lengths in cols.vip_length.items()},
            ports=restack(cols.ports),
            target_ports=restack(cols.target_ports),
            host_id=cols.host_id[real],
            subsets=pd.concat(subsets, ignore_index=True),
            rule_length=np.fromiter(
                (len(views[g].rule(s)) for g, s in zip(group.tolist(), real.tolist(), strict=True)),
                np.int64,
                len(real),
            ),
            objects=StackedView(views, group, real),
            all_subsets=restack(cols.all_subsets),
            identities=restack(cols.identities),
            service_pods=restack(cols.service_pods),
        ),
        real,
        group,
    )
