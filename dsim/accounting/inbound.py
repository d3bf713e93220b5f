"""A sidecar's own side, priced per workload (per proxy where a Sidecar's ingress listeners name
chains after the pod's address): virtualInbound (its ports' chains, its tracing), inbound clusters,
and the fixed listeners and clusters every sidecar of a family class has."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3.listener_pb2 import Listener

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.inbound_metadata import InboundRules, ingress_metadata, override_bytes, port_metadata
from dsim.accounting.shape import Columns, Number, Ragged, ragged, serialized_sizes, text
from dsim.cluster import Cluster
from dsim.cluster.ingress import ingress_rows, ingress_workloads
from dsim.cluster.service_targets import service_targets
from dsim.designs.base import Design, ProxyFacts
from dsim.scenario.istio.rules import H2_PROTOCOLS
from dsim.xds import clusters, listeners
from dsim.xds.access_logs import AccessLogging, add_access_logs
from dsim.xds.chains import PASSTHROUGH_CHAINS, PORT_CHAINS
from dsim.xds.cluster_objects import keepalive_options
from dsim.xds.common import tracing
from dsim.xds.policy import ClusterPolicy
from dsim.xds.view import InboundEndpoint, InboundPort

PORT_KINDS = ("http", "http2", "grpc_web", "tcp", "mongo", "auto")
"""How an own port's chains are built: ``http2`` is an HTTP port whose connection manager says HTTP/2,
``grpc_web`` one whose connection manager also carries a ``grpc_web`` filter, ``mongo`` a TCP port
whose chains proxy through a ``mongo_proxy``."""
CHAIN_KIND = {"http2": "http", "grpc_web": "http", "mongo": "tcp"}
"""The chain set (:data:`dsim.xds.chains.PORT_CHAINS`) a port kind other than the usual ones uses."""
TEMPLATE_PROTOCOL = {
    "http": "HTTP",
    "http2": "HTTP2",
    "grpc_web": "GRPC-Web",
    "tcp": "TCP",
    "mongo": "TCP",
    "auto": "auto",
}
UPSTREAM = {"": "", "h2": "HTTP2", "auto": "auto"}
"""How an inbound cluster speaks upstream (``setUpstreamProtocol``), by a protocol standing for it."""
INGRESS = "ingress-"
"""Prefix of the port groups of Sidecar ingress listeners (their chains carry more than a Service port's)."""
PORT_GROUPS = (*PORT_KINDS, *(INGRESS + k for k in PORT_KINDS))
ENDPOINT_KINDS = ("", "static", "bound", "pipe")
"""An inbound cluster's shape: the design's, or a ``defaultEndpoint``'s (:mod:`dsim.cluster.ingress`)."""
# Module constants: each Number is registered with the engine once.
PORT = Number("port")
ENDPOINT_PORT = Number("endpoint_port")
TARGET = {g: Number(f"*{g}.target") for g in PORT_GROUPS}
SERVICE_PORT = {g: Number(f"*{g}.service") for g in PORT_GROUPS}


def _own_pairs(cols: ClusterColumns, targets: pd.DataFrame) -> pd.DataFrame:
    """Every (workload, port of one of its service targets), the targets in their order
    (:func:`dsim.cluster.service_targets.service_targets`), then each one's ports."""
    ports = cols.target_ports.reset_index(names="port_row")
    return targets.reset_index(names="pair").merge(ports, on="service").sort_values(["pair", "port_row"])


def own_ports(cols: ClusterColumns, targets: pd.DataFrame) -> pd.DataFrame:
    """Each workload's inbound ports: the target ports of its service targets (``targets``, in
    order), the first naming the host and service port, as the generator does."""
    ports = _own_pairs(cols, targets).drop_duplicates(["workload", "target_port"], keep="first")
    return ports.assign(host=cols.host_length[ports["service"].to_numpy()])[
        ["workload", "target_port", "port", "kind", "mongo", "grpc_web", "protocol", "host"]
    ].reset_index(drop=True)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class OwnRows:
    """What the own side is priced over: a row per workload, and one per proxy whose Sidecar has ingress
    listeners (their chain names and cluster endpoints hold the pod's own address)."""

    ports: pd.DataFrame
    """Per (row, port): ``row``, ``target_port``, ``port`` (the service port), ``group`` (of
    :data:`PORT_GROUPS`), ``chained`` (``False``: a cluster but no chains), ``endpoint`` (of
    :data:`ENDPOINT_KINDS`), ``upstream`` (of :data:`UPSTREAM`), ``endpoint_port`` and the byte lengths
    ``host``, ``chain4``, ``chain6``, ``config``, ``endpoint_address``; ``metadata``, the bytes of its
    inbound cluster's ``istio`` metadata, ``policy``, the connection pool a DestinationRule gives
    it (an index into ``policies``; -1: none), and ``override``, the port an original-destination one
    sends to (0: its own) (:mod:`.inbound_metadata`)."""
    workload: np.ndarray
    """Per row: its workload."""
    proxy_row: np.ndarray
    """Per proxy: its row."""
    policies: list[ClusterPolicy]
    """The connection pools ``ports`` names."""


def _port_kind(grpc_web: np.ndarray, h2: np.ndarray, kind: Any) -> np.ndarray:
    """Per port: its kind of :data:`PORT_KINDS`, from whether it is gRPC-Web, whether its protocol is
    HTTP/2, and its chains' kind (``http``, ``tcp``, ``mongo``, ``auto``)."""
    return np.where(grpc_web, "grpc_web", np.where(h2, "http2", kind))


def own_rows(cluster: Cluster, cols: ClusterColumns) -> OwnRows:
    """The own side's rows and ports: a workload's service targets' ports (:func:`own_ports`), or for
    each proxy of a workload whose Sidecar has ingress listeners, those listeners' ports (:func:`ingress_rows`)."""
    workloads = len(cluster.workloads)
    proxy_workload = cluster.proxies["workload"].to_numpy()
    with_ingress = ingress_workloads(cluster)
    workload_ns = cluster.workloads["namespace"].to_numpy()
    rules = InboundRules(cluster=cluster)
    targets = service_targets(cluster)
    pairs = _own_pairs(cols, targets)
    service = own_ports(cols, targets)
    service = service.merge(port_metadata(cols, pairs, rules, workload_ns), on=["workload", "target_port"])
    service = service[~with_ingress[service["workload"].to_numpy()]]
    service = service.assign(
        policy=rules.with_sidecar_pools(
            service["workload"].to_numpy(), service["target_port"].to_numpy(), service["policy"].to_numpy(np.int64)
        )
    )
    protocol = service["protocol"].to_numpy()
    h2 = np.isin(protocol, list(H2_PROTOCOLS))
    kind = np.where(service["mongo"].to_numpy(bool), "mongo", service["kind"].to_numpy())
    service = pd.DataFrame(
        {
            "row": service["workload"].to_numpy(),
            "target_port": service["target_port"].to_numpy(),
            "port": service["port"].to_numpy(),
            "group": _port_kind(service["grpc_web"].to_numpy(bool), h2, kind),
            "chained": True,
            "endpoint": "",
            "upstream": np.where(h2, "h2", np.where(protocol == "auto", "auto", "")),
            "endpoint_port": 0,
            "metadata": service["metadata"].to_numpy(np.int64),
            "policy": service["policy"].to_numpy(np.int64),
            "override": service["override"].to_numpy(np.int64),
            "host": service["host"].to_numpy(),
            "chain4": 0,
            "chain6": 0,
            "config": 0,
            "endpoint_address": 0,
        }
    )
    proxies = np.flatnonzero(with_ingress[proxy_workload])
    proxy_row = proxy_workload.copy()
    proxy_row[proxies] = workloads + np.arange(len(proxies))
    row_workload = np.concatenate([np.arange(workloads), proxy_workload[proxies]])
    ingress = ingress_rows(cluster)
    if not len(ingress):
        return OwnRows(ports=service, workload=row_workload, proxy_row=proxy_row, policies=rules.policies)
    text = ingress[["host", "chain4", "chain6", "config", "endpoint_address"]].apply(
        lambda c: c.str.encode("utf-8").str.len()  # bytes: a unix socket's path may be any text
    )
    endpoint = ingress["endpoint"].to_numpy(dtype=object)
    ingress_h2 = ingress["h2"].to_numpy(bool)
    number = ingress["number"].to_numpy(np.int64)
    ingress_workload = proxy_workload[ingress["proxy"].to_numpy(np.int64)]
    firsts = pairs.drop_duplicates(["workload", "target_port"], keep="first")
    metadata, policy, override = ingress_metadata(
        cols, firsts, rules, ingress_workload, workload_ns[ingress_workload], number
    )
    policy = rules.with_sidecar_pools(ingress_workload, number, policy)
    own = pd.DataFrame(
        {
            "row": proxy_row[ingress["proxy"].to_numpy(np.int64)],
            "target_port": number,
            "port": number,
            "group": INGRESS + _port_kind(ingress["grpc_web"].to_numpy(bool), ingress_h2, ingress["kind"].astype(str)),
            "chained": ingress["chained"].to_numpy(bool),
            "upstream": np.where(ingress_h2, "h2", np.where(ingress["kind"].to_numpy() == "auto", "auto", "")),
            "endpoint": np.where((endpoint == "bound") & (ingress["endpoint_port"].to_numpy() == 0), "pipe", endpoint),
            "endpoint_port": ingress["endpoint_port"].to_numpy(np.int64),
            "metadata": metadata,
            "policy": policy,
            "override": override,
            **{name: text[name].to_numpy(np.int64) for name in text.columns},
        }
    )
    return OwnRows(
        ports=pd.concat([service, own], ignore_index=True),
        workload=row_workload,
        proxy_row=proxy_row,
        policies=rules.policies,
    )


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class InboundPrices:
    """Per own-side row (:class:`OwnRows`), for proxies of one family class."""

    lds_bytes: np.ndarray
    lds_resources: int
    cds_bytes: np.ndarray
    cds_resources: np.ndarray
    keepalive_options: np.ndarray
    """Socket options the TCP keepalive of its inbound, passthrough and black-hole clusters makes
    Envoy build (:func:`dsim.xds.cluster_objects.keepalive_options`)."""
    filter_chains: np.ndarray
    listener_additional_addresses: int
    access_logs: np.ndarray
    """Access logs in its listeners: one per chain's connection manager or ``tcp_proxy`` but the
    virtual listeners' blackhole chains', and each virtual listener's own
    (:mod:`dsim.xds.access_logs`)."""

    def metrics(self) -> dict[str, np.ndarray | int]:
        """What the own side adds to each proxy metric the outbound side also has."""
        return {
            "lds_resources": self.lds_resources,
            "lds_bytes": self.lds_bytes,
            "cds_resources": self.cds_resources,
            "cds_bytes": self.cds_bytes,
            "keepalive_options": self.keepalive_options,
            "filter_chains": self.filter_chains,
            "listener_additional_addresses": self.listener_additional_addresses,
            "access_logs": self.access_logs,
        }


def _template_port(group: str) -> InboundPort:
    """The stand-in of one port of ``group``: a Sidecar ingress port names its chains after its own
    address and carries the Sidecar as metadata."""
    kind = group.removeprefix(INGRESS)
    ingress = group != kind
    return InboundPort(
        target_port=TARGET[group],
        protocol=TEMPLATE_PROTOCOL[kind],
        mongo=kind == "mongo",
        grpc_web=kind == "grpc_web",
        service_port=SERVICE_PORT[group],
        host=ragged(group, "host"),
        chain_address=(ragged(group, "chain4"), ragged(group, "chain6")) if ingress else None,
        config=ragged(group, "config") if ingress else "",
    )


def _chain_kind(group: str) -> str:
    kind = group.removeprefix(INGRESS)
    return CHAIN_KIND.get(kind, kind)


def _endpoint(kind: str) -> InboundEndpoint | None:
    """The stand-in of a ``defaultEndpoint`` of one of :data:`ENDPOINT_KINDS`."""
    if not kind:
        return None
    return InboundEndpoint(
        address=text("endpoint_address"), port=0 if kind == "pipe" else ENDPOINT_PORT, bound=kind != "static"
    )


def inbound_prices(
    cols: ClusterColumns,
    rows: OwnRows,
    design: Design,
    proxy: ProxyFacts,
    *,
    mtls: str,
    allow_any: bool,
    trust_domain: str,
) -> InboundPrices:
    """Per own-side row (:class:`OwnRows`), for proxies of one family class."""
    trace = tracing(text("tsvc"), text("trev"), trust_domain, text("tns"))

    def _logged(listener: Listener) -> Listener:
        add_access_logs(listener, cols.access_logging, virtual=True)
        return listener

    ports = rows.ports
    count = len(rows.workload)
    chained = ports[ports["chained"].to_numpy(bool)]
    per_group = {group: chained[chained["group"] == group] for group in PORT_GROUPS}
    template_ports = [(_template_port(g), _chain_kind(g)) for g in PORT_GROUPS]
    columns = Columns(
        count=count,
        lengths={
            "tsvc": cols.canonical_service_length[rows.workload],
            "trev": cols.canonical_revision_length[rows.workload],
            "tns": cols.workload_namespace_length[rows.workload],
        },
        ragged={
            g: Ragged(
                elements=Columns(
                    count=len(part),
                    lengths={name: part[name].to_numpy() for name in ("host", "chain4", "chain6", "config")},
                    numbers={"target": part["target_port"].to_numpy(), "service": part["port"].to_numpy()},
                ),
                owner=part["row"].to_numpy(),
            )
            for g, part in per_group.items()
        },
    )
    specs = design.virtual_inbound(proxy)
    lds = sum(
        (
            serialized_sizes(
                _logged(listeners.virtual_inbound(spec, template_ports, mtls, trace, trust_domain)), columns
            )
            for spec in specs
        ),
        np.zeros(count, np.int64),
    )
    port_chains = sum(
        np.bincount(part["row"].to_numpy(), minlength=count) * len(PORT_CHAINS[(_chain_kind(g), mtls)])
        for g, part in per_group.items()
    )
    chains = sum(1 + len(spec.passthrough) * len(PASSTHROUGH_CHAINS[mtls]) + port_chains for spec in specs)
    unknown = listeners.PASSTHROUGH if allow_any else listeners.BLACKHOLE
    outbound_virtual = [
        _logged(listeners.virtual_outbound(n.name, n.bind, unknown)) for n in design.virtual_outbound(proxy)
    ]
    virtual = [*specs, *outbound_virtual]
    lds = lds + sum(v.ByteSize() for v in outbound_virtual)
    chains = chains + sum(listeners.chain_count(v) for v in outbound_virtual)
    additional = sum(len(s.bind.additional) for s in specs) + sum(
        len(n.bind.additional) for n in design.virtual_outbound(proxy)
    )

    inbound_bytes = np.zeros(count)
    inbound_keepalive = np.zeros(count, np.int64)
    shapes = ports[["endpoint", "upstream", "policy"]].drop_duplicates()
    for kind, upstream, policy in shapes.itertuples(index=False):
        part = ports[
            (ports["endpoint"] == kind).to_numpy()
            & (ports["upstream"] == upstream).to_numpy()
            & (ports["policy"] == policy).to_numpy()
        ]
        port_rows = Columns(
            count=len(part),
            lengths={"endpoint_address": part["endpoint_address"].to_numpy()},
            numbers={"port": part["target_port"].to_numpy(), "endpoint_port": part["endpoint_port"].to_numpy()},
        )
        pool = rows.policies[policy] if policy >= 0 else None
        for spec in design.inbound_clusters(proxy):
            template = clusters.inbound(
                spec, PORT, _endpoint(kind), UPSTREAM[upstream], policy=pool, mesh=cols.mesh_defaults
            )
            sizes = serialized_sizes(template, port_rows) + part["metadata"].to_numpy()  # each copy has it
            if template.type == cluster_pb2.Cluster.ORIGINAL_DST:  # as clusters.inbound sets it
                sizes = sizes + override_bytes(part["override"].to_numpy())
            inbound_bytes += np.bincount(part["row"].to_numpy(), weights=sizes, minlength=count)
            inbound_keepalive += np.bincount(part["row"].to_numpy(), minlength=count) * keepalive_options(template)
    owner = ports["row"].to_numpy()
    fixed = [
        clusters.blackhole(mesh=cols.mesh_defaults),
        clusters.passthrough(mesh=cols.mesh_defaults),
        *(clusters.inbound_passthrough(s, mesh=cols.mesh_defaults) for s in design.passthrough_clusters(proxy)),
    ]
    per_row_ports = np.bincount(owner, minlength=count)
    return InboundPrices(
        lds_bytes=np.asarray(lds, dtype=np.int64),
        lds_resources=len(specs) + len(outbound_virtual),
        cds_bytes=inbound_bytes.astype(np.int64) + sum(c.ByteSize() for c in fixed),
        cds_resources=per_row_ports * len(design.inbound_clusters(proxy)) + len(fixed),
        keepalive_options=inbound_keepalive + sum(keepalive_options(c) for c in fixed),
        filter_chains=np.asarray(chains, dtype=np.int64),
        listener_additional_addresses=additional,
        access_logs=own_access_logs(cols.access_logging, np.asarray(chains, dtype=np.int64), len(virtual)),
    )


def own_access_logs(logging: AccessLogging | None, chains: np.ndarray, virtual: int) -> np.ndarray:
    """Access logs in the own side's listeners, ``virtual`` of them (each with one blackhole chain
    among ``chains``) when ``logging`` is on."""
    if logging is None:
        return np.zeros_like(chains)
    return chains - virtual + (virtual if logging.listener_log else 0)
