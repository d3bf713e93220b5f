"""A sidecar's own side, priced per workload: virtualInbound (its ports' chains, its tracing),
inbound clusters, and the fixed listeners and clusters every sidecar of a family class has."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.shape import Columns, Number, Ragged, ragged, serialized_sizes, text
from dsim.designs.base import Design, ProxyFacts
from dsim.xds import clusters, listeners
from dsim.xds.chains import PASSTHROUGH_CHAINS, PORT_CHAINS
from dsim.xds.common import tracing
from dsim.xds.view import InboundPort

PORT_KINDS = ("http", "tcp", "auto")
# Module constants: each Number is registered with the engine once.
PORT = Number("port")
TARGET = {k: Number(f"*{k}.target") for k in PORT_KINDS}
SERVICE_PORT = {k: Number(f"*{k}.service") for k in PORT_KINDS}


def own_ports(cols: ClusterColumns, service_workloads: pd.DataFrame) -> pd.DataFrame:
    """Each workload's inbound ports: the target ports of the services selecting it, the first
    service (in table order) naming the host and service port, as the generator does."""
    ports = cols.ports.reset_index(names="port_row")
    pairs = service_workloads.reset_index(names="pair").merge(ports, on="service").sort_values(["pair", "port_row"])
    ports = pairs.drop_duplicates(["workload", "target_port"], keep="first")
    return ports.assign(host=cols.host_length[ports["service"].to_numpy()])[
        ["workload", "target_port", "port", "kind", "host"]
    ].reset_index(drop=True)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class InboundPrices:
    """Per workload (rows of ``cluster.workloads``), for proxies of one family class."""

    lds_bytes: np.ndarray
    lds_resources: int
    cds_bytes: np.ndarray
    cds_resources: np.ndarray
    filter_chains: np.ndarray
    listener_additional_addresses: int

    def metrics(self) -> dict[str, np.ndarray | int]:
        """What the own side adds to each proxy metric the outbound side also has."""
        return {
            "lds_resources": self.lds_resources,
            "lds_bytes": self.lds_bytes,
            "cds_resources": self.cds_resources,
            "cds_bytes": self.cds_bytes,
            "filter_chains": self.filter_chains,
            "listener_additional_addresses": self.listener_additional_addresses,
        }


def inbound_prices(
    cols: ClusterColumns,
    ports: pd.DataFrame,
    design: Design,
    proxy: ProxyFacts,
    *,
    workloads: int,
    mtls: str,
    allow_any: bool,
    trust_domain: str,
) -> InboundPrices:
    trace = tracing(text("tsvc"), text("trev"), trust_domain, text("tns"))
    per_kind = {kind: ports[ports["kind"] == kind] for kind in PORT_KINDS}
    template_ports = [
        (
            InboundPort(
                target_port=TARGET[k],
                protocol=k,
                service_port=SERVICE_PORT[k],
                host=ragged(k, "host"),
            ),
            k,
        )
        for k in PORT_KINDS
    ]
    columns = Columns(
        count=workloads,
        lengths={
            "tsvc": cols.canonical_service_length,
            "trev": cols.canonical_revision_length,
            "tns": cols.workload_namespace_length,
        },
        ragged={
            k: Ragged(
                elements=Columns(
                    count=len(part),
                    lengths={"host": part["host"].to_numpy()},
                    numbers={"target": part["target_port"].to_numpy(), "service": part["port"].to_numpy()},
                ),
                owner=part["workload"].to_numpy(),
            )
            for k, part in per_kind.items()
        },
    )
    specs = design.virtual_inbound(proxy)
    lds = sum(
        (
            serialized_sizes(listeners.virtual_inbound(spec, template_ports, mtls, trace, trust_domain), columns)
            for spec in specs
        ),
        np.zeros(workloads, np.int64),
    )
    port_chains = sum(
        np.bincount(part["workload"].to_numpy(), minlength=workloads) * len(PORT_CHAINS[(k, mtls)])
        for k, part in per_kind.items()
    )
    chains = sum(1 + len(spec.passthrough) * len(PASSTHROUGH_CHAINS[mtls]) + port_chains for spec in specs)
    unknown = listeners.PASSTHROUGH if allow_any else listeners.BLACKHOLE
    outbound_virtual = [listeners.virtual_outbound(n.name, n.bind, unknown) for n in design.virtual_outbound(proxy)]
    lds = lds + sum(v.ByteSize() for v in outbound_virtual)
    chains = chains + sum(len(v.filter_chains) for v in outbound_virtual)
    additional = sum(len(s.bind.additional) for s in specs) + sum(
        len(n.bind.additional) for n in design.virtual_outbound(proxy)
    )

    port_rows = Columns(count=len(ports), numbers={"port": ports["target_port"].to_numpy()})
    owner = ports["workload"].to_numpy()
    inbound_bytes = sum(
        (
            np.bincount(owner, weights=serialized_sizes(clusters.inbound(spec, PORT), port_rows), minlength=workloads)
            for spec in design.inbound_clusters(proxy)
        ),
        np.zeros(workloads),
    ).astype(np.int64)
    fixed = [
        clusters.blackhole(),
        clusters.passthrough(),
        *(clusters.inbound_passthrough(s) for s in design.passthrough_clusters(proxy)),
    ]
    per_workload_ports = np.bincount(owner, minlength=workloads)
    return InboundPrices(
        lds_bytes=np.asarray(lds, dtype=np.int64),
        lds_resources=len(specs) + len(outbound_virtual),
        cds_bytes=inbound_bytes + sum(c.ByteSize() for c in fixed),
        cds_resources=per_workload_ports * len(design.inbound_clusters(proxy)) + len(fixed),
        filter_chains=np.asarray(chains, dtype=np.int64),
        listener_additional_addresses=additional,
    )
