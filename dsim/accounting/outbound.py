"""A proxy family's outbound config, priced per service: what each service (and each of its
HTTP ports' route groups) adds to a proxy that sees it, under one design.

For each service family (``IPv4``, ``IPv6,IPv4``, ...) the design is asked, once, for its family
copies, with stand-ins for the VIPs; the copies' templates are built by the real builders and
sized on columns of all the services of that family at once.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from google.protobuf.message import Message

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.entries import (
    DEFAULT_FILTER_CHAIN_FIELD,
    FILTER_CHAINS_FIELD,
    TLS_FALLTHROUGH_DELTA,
    entry_prices,
)
from dsim.accounting.failover import (
    FAILOVER_ENDPOINTS,
    FAILOVER_PRIORITIES,
    FAILOVER_RINGS,
    failover_metric,
    failover_metrics,
    may_fail_over,
)
from dsim.accounting.localised import localised_deltas, locality_keys, rules_of
from dsim.accounting.shape import Columns, Number, Ragged, ragged, serialized_sizes, text
from dsim.accounting.templates import endpoint_kinds, load_assignment_template
from dsim.cluster.alias_scopes import AliasScopes
from dsim.cluster.case_twins import CaseTwins
from dsim.cluster.known_hosts import taken_service_names
from dsim.designs.base import Bind, Design, OutboundCopy, ProxyFacts, ServiceFacts
from dsim.scenario.istio.rules import H2_PROTOCOLS, HTTP_PROTOCOLS
from dsim.scenario.model import IpFamily
from dsim.wire import decimal_digits, tag_size, varint_size
from dsim.xds import clusters, listeners, routes
from dsim.xds.access_logs import AccessLogging, add_access_logs, add_chain_logs
from dsim.xds.cluster_objects import cluster_objects
from dsim.xds.common import tracing
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.names import cluster_name, sni
from dsim.xds.policy import passthrough
from dsim.xds.port80_vhosts import host_vhost_size
from dsim.xds.routes import ROUTE_COUNTS, VHOST_FIELD
from dsim.xds.view import index_for
from dsim.xds.vocabulary import CLUSTER_OBJECTS

PORT = Number("port")  # module constants: each Number is registered with the engine once
VIP_STANDINS: dict[IpFamily, str] = {"IPv4": text("vip4"), "IPv6": text("vip:6")}  # ':' so IPv6 gets brackets
_PROTOCOL_VARIANT = {
    **dict.fromkeys(H2_PROTOCOLS, "GRPC"),  # HTTP/2 options
    **dict.fromkeys(HTTP_PROTOCOLS - H2_PROTOCOLS, "HTTP"),  # none, or HTTP/2 where the mesh upgrades
    "auto": "auto",  # the client's protocol
}
"""A protocol per cluster shape; any other speaks TCP (no upstream options unless a rule upgrades it)."""


TAU_BASE = 1 << 16  # above any name length (Kubernetes names and label values are <= 253 bytes)


def tracing_class(service: np.ndarray, revision: np.ndarray, namespace: np.ndarray) -> np.ndarray:
    """One integer per (canonical service, canonical revision, namespace) length triple: the
    proxy-side lengths its tracing block (and so its HTTP listeners) depends on."""
    return (np.asarray(service, np.int64) * TAU_BASE + revision) * TAU_BASE + namespace


def trace_columns(count: int, tau: int) -> dict[str, np.ndarray]:
    """Lengths of the tracing stand-ins for one tracing class (see :func:`tracing_class`)."""
    service, rest = divmod(int(tau), TAU_BASE * TAU_BASE)
    revision, namespace = divmod(rest, TAU_BASE)
    return {"tsvc": np.full(count, service), "trev": np.full(count, revision), "tns": np.full(count, namespace)}


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class OutboundPrices:
    """What each service adds to a proxy of one family class, under one design."""

    per_service: pd.DataFrame
    """Per service: metrics that do not depend on which proxy sees it (bytes, resources, counts)."""
    auto_listener_bytes: dict[int, np.ndarray]
    """Per tracing class: bytes of the service's auto-detected-port listeners (they carry the proxy's tracing)."""
    http: pd.DataFrame
    """Per (service, HTTP route group): virtual host field bytes and domains, seen from the same
    namespace (``*_same``) or another (``*_other``); ``opens``: an HTTP port's, which opens the group,
    else a sniffed port's, which joins it only where an HTTP port opens it."""
    groups: pd.DataFrame
    """Per HTTP route group (port, route suffix) some row of :attr:`http` names, whether an HTTP row
    opens it here or not (a view pass holds only some services): its listener's additional addresses."""
    group_route_bytes: dict[bool, np.ndarray]
    """Per outbound traffic policy (``True``: ALLOW_ANY): each group's route configuration's own bytes."""
    group_listener_bytes: dict[tuple[int, bool], np.ndarray]
    """Per (tracing class, outbound traffic policy): bytes of each group's shared HTTP listener."""
    group_grpc_web_bytes: dict[tuple[int, bool], np.ndarray] = dataclasses.field(default_factory=dict)
    """The same, what a ``grpc_web`` filter adds to each group's listener: where the first port to
    open it (in service order) is gRPC-Web. Empty where no row of :attr:`http` that opens is."""
    listener_policy: bool = True
    """The outbound traffic policy its service listeners were priced under (``TLS_FALLTHROUGH_DELTA``)."""
    fallthrough_bytes: dict[bool, int] = dataclasses.field(default_factory=dict)
    """Per outbound traffic policy: bytes of an outbound listener's fall-through chain, as its
    ``default_filter_chain`` (:func:`fallthrough_bytes`)."""
    wildcard: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """ServiceEntry chains of wildcard TCP/TLS listeners (:attr:`EntryPrices.wildcard`)."""
    wildcard_groups: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """Those listeners' own bytes per (port, suffix) (:attr:`EntryPrices.wildcard_groups`)."""
    shared_listeners: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """ServiceEntry hosts' own listeners on an address and port other hosts share
    (:attr:`EntryPrices.shared_listeners`)."""
    case_twins: CaseTwins = dataclasses.field(default_factory=dict)
    """Hosts whose virtual host in ``"P"`` gives way where the proxy sees a later host equal to
    theirs but for case (:mod:`dsim.cluster.case_twins`)."""
    aliases: AliasScopes | None = None
    """Where some Service has ExternalName Services naming it: the domains they add to its virtual
    host per import scope (:mod:`dsim.cluster.alias_scopes`; :attr:`http`'s ``main_*`` columns hold
    the virtual host they grow)."""


def fallthrough_bytes(allow: bool, logging: AccessLogging | None) -> int:
    """Bytes of an outbound listener's fall-through chain, as its ``default_filter_chain``, under
    outbound traffic policy ``allow`` (``True``: ALLOW_ANY) and the mesh's access logs."""
    listener = listener_pb2.Listener(
        default_filter_chain=listeners.fallthrough(listeners.PASSTHROUGH if allow else listeners.BLACKHOLE)
    )
    add_access_logs(listener, logging)
    return listener.ByteSize()


def _row_columns(cols: ClusterColumns, rows: pd.DataFrame, extra: dict[str, np.ndarray] | None = None) -> Columns:
    """Stand-in columns of port-level rows (each row names its ``service``)."""
    service = rows["service"].to_numpy()
    lengths = {
        "host": cols.host_length[service],
        "svc": cols.name_length[service],
        "ns": cols.namespace_length[service],
        "vip4": cols.vip_length["IPv4"][service],
        "vip:6": cols.vip_length["IPv6"][service],
    }
    return Columns(count=len(rows), lengths=lengths | (extra or {}), numbers={"port": rows["port"].to_numpy()})


def _identities(cols: ClusterColumns, rows: pd.DataFrame) -> Ragged:
    """Each row's service's SPIFFE identities, as elements owned by the row."""
    pairs = pd.DataFrame({"service": rows["service"].to_numpy(), "row": np.arange(len(rows))}).merge(
        cols.identities, on="service"
    )
    lengths = pairs["length"].to_numpy(dtype=np.int64)
    return Ragged(elements=Columns(count=len(lengths), lengths={"value": lengths}), owner=pairs["row"].to_numpy())


def _cluster_rows(cols: ClusterColumns, ports: pd.DataFrame) -> pd.DataFrame:
    """One row per outbound cluster: each port, plain and per subset of its service; ``policy``
    numbers its DestinationRule policy (-1: none) in :func:`_policies`' order."""
    plain = ports.assign(subset=-1, subset_length=0, name="")
    with_subsets = ports.merge(cols.subsets.rename(columns={"length": "subset_length"}), on="service")
    rows = pd.concat([plain, with_subsets], ignore_index=True)
    return rows.assign(policy=_policies(cols, rows))


def _policies(cols: ClusterColumns, rows: pd.DataFrame) -> np.ndarray:
    """Each cluster row's DestinationRule policy as an index into ``cols.objects``' policy list."""
    policy = np.full(len(rows), -1, dtype=np.int64)
    ruled = np.flatnonzero(cols.rule_length[rows["service"].to_numpy()] > 0)
    if not ruled.size:
        return policy
    services = rows["service"].to_numpy()[ruled].tolist()
    names = rows["name"].to_numpy()[ruled].tolist()
    numbers = rows["port"].to_numpy()[ruled].tolist()
    for k, service, name, number in zip(ruled.tolist(), services, names, numbers, strict=True):
        found = cols.objects.policy(service, name, number)
        if found is not None:
            policy[k] = cols.objects.policy_id(found)
    return policy


def _cluster_sizes(
    cols: ClusterColumns, rows: pd.DataFrame, copy: OutboundCopy, mtls: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per cluster row: its bytes and, per :data:`CLUSTER_OBJECTS`, what it holds (the same for
    every row of one shape: its template's; a hash ring as if it had hosts, which the caller checks)."""
    out = np.zeros(len(rows), dtype=np.int64)
    objects = {name: np.zeros(len(rows), dtype=np.int64) for name in CLUSTER_OBJECTS}
    port = PORT
    host, subset = text("host"), text("subset")
    variant = rows["protocol"].map(lambda p: _PROTOCOL_VARIANT.get(p, "TCP")).to_numpy()
    ruled = cols.rule_length[rows["service"].to_numpy()] > 0
    policy = rows["policy"].to_numpy()
    has_subset = rows["subset"].to_numpy() >= 0
    close = cols.service_prefer_close[rows["service"].to_numpy()]
    # A passthrough cluster's mTLS is all or nothing over its service's endpoints (docs 3.5).
    inferred = [p for p in np.unique(policy[policy >= 0]).tolist() if cols.objects.policy_list[p].passthrough_tls]
    secured = mtls & (~np.isin(policy, inferred) | cols.service_meshed[rows["service"].to_numpy()])
    shapes = pd.DataFrame(
        {"v": variant, "s": has_subset, "r": ruled, "p": policy, "c": close, "m": secured}
    ).drop_duplicates()
    for protocol, with_subset, with_rule, policy_id, prefer_close, with_mtls in shapes.itertuples(index=False):
        pick = (
            (variant == protocol)
            & (has_subset == with_subset)
            & (ruled == with_rule)
            & (policy == policy_id)
            & (close == prefer_close)
            & (secured == with_mtls)
        )
        sub = subset if with_subset else ""
        template = clusters.outbound(
            cluster_name(copy.cluster_prefix, port, sub, host),
            host=host,
            service=text("svc"),
            namespace=text("ns"),
            port=port,
            protocol=str(protocol),
            subset=sub,
            identities=[ragged("san", "value")],
            sni=sni(port, sub, host),
            mtls=bool(with_mtls),
            rule=text("rule") if with_rule else "",
            policy=cols.objects.policy_list[policy_id] if policy_id >= 0 else None,
            mesh=cols.mesh_defaults,
            prefer_close=bool(prefer_close),
        )
        chosen = rows[pick]
        rule_length = cols.rule_length[chosen["service"].to_numpy()]
        columns = _row_columns(cols, chosen, {"subset": chosen["subset_length"].to_numpy(), "rule": rule_length})
        columns = dataclasses.replace(columns, ragged={"san": _identities(cols, chosen)})
        out[pick] = serialized_sizes(template, columns)
        for name, value in zip(CLUSTER_OBJECTS, cluster_objects(template, hosts=1), strict=True):
            objects[name][pick] = value
    return out, objects


def _endpoint_elements(cols: ClusterColumns, rows: pd.DataFrame, copy: OutboundCopy) -> pd.DataFrame:
    """One row per endpoint of each cluster row: row, locality, kind and its lengths."""
    row_ids = pd.DataFrame(
        {"row": np.arange(len(rows)), "service": rows["service"].to_numpy(), "subset": rows["subset"].to_numpy()}
    )
    plain = row_ids[row_ids["subset"] < 0].merge(cols.service_pods, on="service")
    subsetted = row_ids[row_ids["subset"] >= 0].merge(cols.subset_pods, on="subset")
    members = pd.concat([plain, subsetted], ignore_index=True)
    pod, row = members["pod"].to_numpy(), members["row"].to_numpy()
    has = [cols.pod_has[f][pod] for f in copy.endpoint_families]
    length = [cols.pod_address_length[f][pod] for f in copy.endpoint_families]
    if copy.endpoint_additional:
        # One endpoint per pod: the first family it has, the second (if it has both) as additional.
        both = has[0] & has[1] if len(has) == 2 else np.zeros_like(has[0])
        keep = has[0] | has[-1]
        address = np.where(has[0], length[0], length[-1])
        parts = [(row[keep], pod[keep], address[keep], np.where(both, length[-1], 0)[keep], both[keep])]
    else:
        # One endpoint per address of each family the pod has.
        parts = [
            (row[h], pod[h], n[h], np.zeros(h.sum(), np.int64), np.zeros(h.sum(), bool))
            for h, n in zip(has, length, strict=True)
        ]
    row, pod, address, other, extra = (np.concatenate(p) for p in zip(*parts, strict=True))
    return pd.DataFrame(
        {
            "row": row,
            "address": address,
            "other": other,
            "extra": extra,
            "locality": cols.pod_locality[pod],
            "workload": cols.pod_workload_length[pod],
            "sidecar": cols.pod_sidecar[pod],
        }
    )


def _assignment_columns(
    cols: ClusterColumns, rows: pd.DataFrame, copy: OutboundCopy
) -> tuple[Columns, pd.DataFrame, pd.DataFrame]:
    """Columns of each cluster row's ClusterLoadAssignment (its groups at priority 0), its groups
    (row, locality, group: ``columns.ragged["group"]``) and its endpoints (row, group, extra)."""
    elements = _endpoint_elements(cols, rows, copy)
    group_keys = elements[["row", "locality"]].drop_duplicates().sort_values(["row", "locality"], ignore_index=True)
    group_keys["group"] = np.arange(len(group_keys))
    elements = elements.merge(group_keys, on=["row", "locality"])
    locality = group_keys["locality"].to_numpy()
    group_columns = Columns(
        count=len(group_keys),
        lengths={"region": cols.region_length[locality], "zone": cols.zone_length[locality]},
        numbers={
            "weight": np.bincount(elements["group"].to_numpy(), minlength=len(group_keys)),
            "priority": np.zeros(len(group_keys), np.int64),
        },
        ragged={
            kind.family: Ragged(
                elements=Columns(
                    count=len(part),
                    lengths={
                        "address": part["address"].to_numpy(),
                        "other": part["other"].to_numpy(),
                        "workload": part["workload"].to_numpy(),
                    },
                ),
                owner=part["group"].to_numpy(),
            )
            for kind in endpoint_kinds(copy.endpoint_additional)
            for part in [elements[(elements["sidecar"] == kind.sidecar) & (elements["extra"] == kind.additional)]]
        },
    )
    name_length = (
        len(copy.cluster_prefix)
        + 3
        + decimal_digits(rows["port"].to_numpy())
        + rows["subset_length"].to_numpy()
        + cols.host_length[rows["service"].to_numpy()]
    )
    columns = Columns(
        count=len(rows),
        lengths={"cluster": name_length},
        numbers={"port": rows["target_port"].to_numpy()},
        ragged={"group": Ragged(elements=group_columns, owner=group_keys["row"].to_numpy())},
    )
    return columns, group_keys, elements[["row", "group", "extra"]]


def _assignments(
    cols: ClusterColumns, rows: pd.DataFrame, copy: OutboundCopy
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bytes of each cluster row's ClusterLoadAssignment, and its endpoint counts; with the
    failover metrics of each proxy locality where some row fails over or distributes by locality."""
    columns, group_keys, elements = _assignment_columns(cols, rows, copy)
    template = load_assignment_template(copy.endpoint_additional)
    sizes = serialized_sizes(template, columns)
    counts = {
        "locality_groups": np.bincount(group_keys["row"].to_numpy(), minlength=len(rows)),
        "endpoints": np.bincount(elements["row"].to_numpy(), minlength=len(rows)),
        "endpoint_additional_addresses": np.bincount(
            elements["row"].to_numpy(), weights=elements["extra"].to_numpy(), minlength=len(rows)
        ).astype(np.int64),
    }
    return sizes, counts | _localised_deltas(cols, rows, copy, template, sizes)


def _localised_deltas(
    cols: ClusterColumns, rows: pd.DataFrame, copy: OutboundCopy, template: Message, base: np.ndarray
) -> dict[str, np.ndarray]:
    """Per proxy locality, each row's metrics there where its rule fails over or distributes by
    locality (:func:`dsim.accounting.localised.localised_deltas`; zero elsewhere)."""
    keys = locality_keys(rows["policy"].to_numpy(), cols.service_prefer_close[rows["service"].to_numpy()])
    chosen = np.flatnonzero(np.isin(keys, list(rules_of(cols, keys))))
    if not len(chosen) or not may_fail_over(cols.objects.cluster):
        return {}  # none localised (outbound_prices holds every failover metric, zero, where some may be)
    columns, group_keys, elements = _assignment_columns(cols, rows.iloc[chosen], copy)
    found = localised_deltas(
        cols, keys[chosen], columns, group_keys["locality"].to_numpy(), elements, template, base[chosen]
    )
    out = {}
    for metric, values in found.items():
        out[metric] = np.zeros(len(rows), np.int64)
        out[metric][chosen] = values
    return out


@dataclasses.dataclass(frozen=True)
class _Routed:
    """Per port row, what its service's VirtualService gives the virtual host of one copy."""

    bytes: np.ndarray
    """Bytes of its routes (-1: the default route, where its service has no VirtualService or the
    VirtualService has no HTTP route for this port; 0: the family copy kept none of them, no virtual host)."""
    counts: dict[str, np.ndarray]
    """Per :data:`ROUTE_COUNTS`: its routes (1 where no VirtualService: the default route) and
    what they hold (the default route: its retry policy, unless the mesh's has ``attempts: 0``)."""
    domain_hosts: dict[int, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Per row with a virtual host of routes: the VirtualService's hosts that are other domains of
    the service (:meth:`dsim.xds.mesh_objects.ObjectView.domain_hosts`), where it has any."""


def _routed(
    cols: ClusterColumns, ports: pd.DataFrame, copy: OutboundCopy, design: Design, proxy: ProxyFacts
) -> _Routed:
    """Per port row: the routes its service's VirtualServices give the virtual host of this copy (the
    first of its chain with an HTTP route for the port, :meth:`ObjectView.routing_vs`)."""
    default = routes.default_route_objects(cols.mesh_defaults)
    out = _Routed(
        bytes=np.full(len(ports), -1, dtype=np.int64),
        counts={name: np.full(len(ports), default[name], dtype=np.int64) for name in ROUTE_COUNTS},
    )
    owner = cols.objects.vs_of_service
    services = ports["service"].to_numpy()
    numbers = ports["port"].to_numpy()
    for k in np.flatnonzero(np.isin(services, list(owner))).tolist() if owner else ():
        found = cols.objects.routed(int(services[k]), int(numbers[k]), copy.route_suffix, design, proxy)
        if found is not None:
            out.bytes[k] = found[0]
            for name, value in found[1].items():
                out.counts[name][k] = value
            if found[0] and (own := cols.objects.domain_hosts(int(services[k]), int(numbers[k]))):
                out.domain_hosts[k] = own
    return out


@dataclasses.dataclass(frozen=True)
class _RoutedChains:
    """Per port row, what its service's VirtualServices put in its listener copy in place of the
    default chain: a TCP route's chain, or a TLS route's SNI chains with the TLS inspector and the
    fall-through chain (:func:`dsim.xds.listeners.tls_routing`)."""

    bytes: dict[bool, np.ndarray]
    """Per outbound traffic policy (``True``: ALLOW_ANY, whose fall-through goes to the passthrough
    cluster): its bytes as the listener's fields; -1: the default chain stays."""
    chains: np.ndarray
    """Its filter chains, the default one counted (1 where the default chain stays)."""


def _routed_chains(
    cols: ClusterColumns, ports: pd.DataFrame, copy: OutboundCopy, design: Design, proxy: ProxyFacts, *, sniffed: bool
) -> _RoutedChains:
    """Per port row: what the TCP or TLS routes of its service's VirtualServices give its listener copy."""
    out = _RoutedChains(
        bytes={allow: np.full(len(ports), -1, dtype=np.int64) for allow in (False, True)},
        chains=np.ones(len(ports), dtype=np.int64),
    )
    owner = cols.objects.vs_of_service
    services = ports["service"].to_numpy()
    rows = np.flatnonzero(np.isin(services, list(owner))) if owner else np.empty(0, np.int64)
    numbers = ports["port"].to_numpy()
    for k in rows.tolist():
        service, number = int(services[k]), int(numbers[k])
        routed = cols.objects.tcp_chain(service, number, copy.route_suffix, design, proxy)
        if routed is not None:
            chain = listeners.service_tcp_chain("", routed)
            add_chain_logs(chain, cols.access_logging)
            size = np.asarray(chain.ByteSize())
            for values in out.bytes.values():
                values[k] = int(vhost_field(size, DEFAULT_FILTER_CHAIN_FIELD if sniffed else FILTER_CHAINS_FIELD))
            continue
        sni = () if sniffed else cols.objects.tls_chains(service, number, copy.route_suffix, design, proxy)
        if sni:
            for allow, values in out.bytes.items():
                routing = listeners.tls_routing(sni, listeners.PASSTHROUGH if allow else listeners.BLACKHOLE)
                add_access_logs(routing, cols.access_logging)
                values[k] = routing.ByteSize()
                out.chains[k] = listeners.chain_count(routing)
    return out


def _tcp_listener_sizes(template: Message, columns: Columns, routed: np.ndarray) -> np.ndarray:
    """Per row: bytes of a service port listener ``template`` (its TCP chain last, or its default
    chain where it has one: a sniffed port's), with the rows of ``routed`` >= 0 holding that chain
    instead of the template's default one."""
    sizes = serialized_sizes(template, columns)
    if (routed >= 0).any():
        bare = type(template)()
        bare.CopyFrom(template)
        if bare.HasField("default_filter_chain"):
            bare.ClearField("default_filter_chain")
        else:
            del bare.filter_chains[-1]
        sizes = np.where(routed >= 0, serialized_sizes(bare, columns) + routed, sizes)
    return sizes


def _sniffed_routes(name: str, target: str, hashed: rc.RouteAction.HashPolicy | None, mesh: MeshDefaults) -> Message:
    """A sniffed port's own route configuration: its service's default route, for any host."""
    vhost = routes.service_vhost(text("host"), PORT, ["*"], target, hashed, mesh=mesh)
    return routes.route_configuration(name, [vhost])


def _default_route_sizes(
    cols: ClusterColumns, rows: pd.DataFrame, build: Callable[[rc.RouteAction.HashPolicy | None], Message]
) -> np.ndarray:
    """Per port row: bytes of ``build``'s message for its service's default route, whose hash
    policy (a DestinationRule's consistent hash) ``build`` is given: one template per distinct policy."""
    hashes = np.full(len(rows), -1, dtype=np.int64)
    services, numbers = rows["service"].to_numpy(), rows["port"].to_numpy()
    for k in np.flatnonzero(cols.rule_length[services] > 0).tolist():
        hashes[k] = cols.objects.hash_id(int(services[k]), int(numbers[k]))
    out = np.zeros(len(rows), dtype=np.int64)
    for h in np.unique(hashes).tolist():
        pick = hashes == h
        template = build(cols.objects.hash_list[h] if h >= 0 else None)
        out[pick] = serialized_sizes(template, _row_columns(cols, rows[pick]))
    return out


def vhost_field(size: np.ndarray, number: int = VHOST_FIELD) -> np.ndarray:
    return tag_size(number) + varint_size(size) + size


def _shared_vhosts(
    cols: ClusterColumns,
    rows: pd.DataFrame,
    copy: OutboundCopy,
    design: Design,
    proxy: ProxyFacts,
    target: str,
    *,
    opens: bool,
) -> pd.DataFrame:
    """Per port row (HTTP ports, which open the shared ``"<port><suffix>"`` route configuration, or
    sniffed ones, which only join it where it is open: ``opens``): the virtual host its service adds
    there, seen from the same namespace or another (docs/istio-objects.md 1.2)."""
    vhost: dict[str, np.ndarray] = {}
    main: dict[str, np.ndarray] = {}  # the service's own virtual host's inner bytes, which aliases grow
    domain_count: dict[str, np.ndarray] = {}
    routed = _routed(cols, rows, copy, design, proxy)
    pick = routed.bytes >= 0
    present = np.where(pick, routed.bytes > 0, True)
    port, host = PORT, text("host")
    # The same service seen from its own namespace also answers to its short name.
    taken = _taken_names(cols, rows)
    for variant, proxy_namespace in (("same", text("ns")), ("other", "\x00")):
        domains = routes.domains(host, text("svc"), text("ns"), proxy_namespace, copy.domain_vips)
        build = functools.partial(routes.service_vhost, host, port, domains, target, mesh=cols.mesh_defaults)
        inner = _default_route_sizes(cols, rows, build)
        if pick.any():  # a VirtualService's routes instead of the default route
            bare = routes.virtual_host(f"{host}:{port}", domains, [])
            inner[pick] = serialized_sizes(bare, _row_columns(cols, rows[pick])) + routed.bytes[pick]
        inner -= taken[variant][0]
        vhost[variant] = vhost_field(inner)
        main[variant] = inner.copy()
        if pick.any():
            _add_domain_hosts(
                vhost[variant], main[variant], inner[pick], np.flatnonzero(pick), routed, rows["port"].to_numpy()
            )
        vhost[variant] = np.where(present, vhost[variant], 0)
        main[variant] = np.where(present, main[variant], 0)
        domain_count[variant] = np.where(present, len(domains) - taken[variant][1], 0)
    # Each domain host is a virtual host of one domain, taken from the service's: as many domains.
    beside = np.zeros(len(rows), np.int64)
    for k, own in routed.domain_hosts.items():
        beside[k] = len(own)
    return pd.DataFrame(
        {
            "service": rows["service"].to_numpy(),
            "port": rows["port"].to_numpy(),
            "suffix": copy.route_suffix,
            "vhost_same": vhost["same"],
            "vhost_other": vhost["other"],
            "domains_same": domain_count["same"],
            "domains_other": domain_count["other"],
            "main_same": main["same"],
            "main_other": main["other"],
            "vhosts": present.astype(np.int64) + beside,
            "opens": np.full(len(rows), opens),
            "grpc_web": rows["grpc_web"].to_numpy(bool) & opens,
            **{name: np.where(present, routed.counts[name] * (1 + beside), 0) for name in ROUTE_COUNTS},
        }
    )


def _taken_names(cols: ClusterColumns, rows: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per variant (``same``, ``other``), per port row: the bytes and number of the short names its
    service's virtual host leaves out because a ServiceEntry host bears them
    (:func:`dsim.cluster.known_hosts.taken_service_names`)."""
    zeros = np.zeros(len(rows), np.int64)
    out = {"same": (zeros, zeros), "other": (zeros, zeros)}
    taken = taken_service_names(cols.objects.cluster)
    if not taken:
        return out
    services = cols.objects.real_services(rows["service"].to_numpy()).astype(np.int64)
    numbers = rows["port"].to_numpy().astype(np.int64)
    keys = services * 65536 + numbers
    hit = np.flatnonzero(np.isin(keys, [service * 65536 + port for service, port in taken]))
    for v, variant in enumerate(("same", "other")):
        size, count = zeros.copy(), zeros.copy()
        for k in hit.tolist():
            names = taken[(int(services[k]), int(numbers[k]))][v]
            size[k] = sum(domain_entry(name) for name in names)
            count[k] = len(names)
        out[variant] = (size, count)
    return out


def _add_domain_hosts(
    vhost: np.ndarray, main: np.ndarray, inner: np.ndarray, picked: np.ndarray, routed: _Routed, port: np.ndarray
) -> None:
    """Where a row's VirtualService lists other domains of its service as hosts
    (:attr:`_Routed.domain_hosts`), its virtual host (``inner`` bytes, for the rows ``picked``) loses
    those domains (``main``: what it then holds) and each becomes a virtual host of its own with the
    same routes."""
    if not routed.domain_hosts:
        return
    position = {k: i for i, k in enumerate(picked.tolist())}
    for k, own in routed.domain_hosts.items():
        fewer = int(inner[position[k]]) - sum(domain_entry(h) for h in own)
        beside = sum(host_vhost_size(h, int(port[k]), int(routed.bytes[k])) for h in own)
        vhost[k] = int(vhost_field(np.asarray(fewer))) + beside
        main[k] = fewer


def domain_entry(domain: str) -> int:
    """Bytes one entry of a virtual host's ``domains`` takes (tag, length, text)."""
    size = len(domain.encode())
    return tag_size(rc.VirtualHost.DOMAINS_FIELD_NUMBER) + int(varint_size(size)) + size


def _service_copies(
    cols: ClusterColumns, design: Design, proxy: ProxyFacts, ports: pd.DataFrame
) -> Iterator[tuple[pd.DataFrame, OutboundCopy]]:
    """Each family copy the design makes of ``ports``' services, with the ports of that family class."""
    for families in np.unique(cols.service_families[ports["service"].to_numpy()]):
        facts = ServiceFacts(families=tuple(families.split(",")), vips=dict(VIP_STANDINS))
        in_class = cols.service_families[ports["service"].to_numpy()] == families
        for copy in design.outbound_copies(facts, proxy):
            yield ports[in_class].reset_index(drop=True), copy


def _add_assignments(
    add: Callable[[str, np.ndarray, np.ndarray | int], None],
    cols: ClusterColumns,
    rows: pd.DataFrame,
    copy: OutboundCopy,
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Add each cluster row's endpoint set to the service's metrics; return each row's endpoints and,
    per proxy locality where some set is localised, each row's priorities past the first and
    endpoints there."""
    policies = rows["policy"].to_numpy()
    through = [p for p in np.unique(policies[policies >= 0]).tolist() if passthrough(cols.objects.policy_list[p])]
    kept = ~np.isin(policies, through)  # ORIGINAL_DST clusters have no endpoint set
    service = rows["service"].to_numpy()[kept]
    assignment_bytes, counts = _assignments(cols, rows[kept], copy)
    add("eds_resources", service, 1)
    add("eds_bytes", service, assignment_bytes)
    for metric, values in counts.items():
        add(metric, service, values)
    hosts = np.zeros(len(rows), dtype=np.int64)
    hosts[kept] = counts["endpoints"]
    localised = {}
    for at in cols.proxy_localities.tolist():
        if (metric := failover_metric(FAILOVER_PRIORITIES, at)) in counts:
            past_first, there = np.zeros(len(rows), dtype=np.int64), hosts.copy()
            past_first[kept] = counts[metric]
            there[kept] += counts[failover_metric(FAILOVER_ENDPOINTS, at)]
            localised[at] = (past_first, there)
    return hosts, localised


def _summing(per_service: dict[str, np.ndarray], n: int) -> Callable[[str, np.ndarray, np.ndarray | int], None]:
    """``add(metric, services, values)``: sum ``values`` into ``per_service[metric]`` by service."""

    def add(metric: str, services: np.ndarray, values: np.ndarray | int) -> None:
        weights = np.broadcast_to(np.asarray(values, dtype=np.int64), services.shape)
        per_service[metric] = per_service.get(metric, np.zeros(n, np.int64)) + np.bincount(
            services, weights=weights, minlength=n
        ).astype(np.int64)

    return add


ENDPOINT_METRICS = ("eds_resources", "eds_bytes", "locality_groups", "endpoints", "endpoint_additional_addresses")


def endpoint_prices(cols: ClusterColumns, design: Design, proxy: ProxyFacts, services: np.ndarray) -> pd.DataFrame:
    """What ``services``' endpoint sets add to a ``proxy``-family sidecar under ``design``, from
    the pods ``cols.service_pods`` / ``cols.subset_pods`` put behind them (one row per service
    of ``services``, columns :data:`ENDPOINT_METRICS`). A membership table may list a pod twice:
    that prices a second pod identical to it in every byte (a clone)."""
    n = len(cols.host_length)
    per_service: dict[str, np.ndarray] = {m: np.zeros(n, np.int64) for m in ENDPOINT_METRICS}
    add = _summing(per_service, n)
    ports = cols.ports[np.isin(cols.ports["service"].to_numpy(), services)]
    for class_ports, copy in _service_copies(cols, design, proxy, ports):
        _add_assignments(add, cols, _cluster_rows(cols, class_ports), copy)
    return pd.DataFrame({m: per_service[m][services] for m in ENDPOINT_METRICS})


def _shared_http_listener(
    bind: Bind,
    suffix: str,
    trace: listeners.Tracing,
    unknown: str,
    logging: AccessLogging | None,
    *,
    grpc_web: bool = False,
) -> listener_pb2.Listener:
    """The stand-in of a route group's shared HTTP listener (its port a :data:`PORT` number), with the
    mesh's access logs; ``grpc_web``: its connection manager built for a gRPC-Web port."""
    template = listeners.outbound_http(bind, PORT, f"{PORT}{suffix}", trace, unknown, grpc_web=grpc_web)
    add_access_logs(template, logging)
    return template


def outbound_prices(
    cols: ClusterColumns,
    design: Design,
    proxy: ProxyFacts,
    *,
    mtls: bool,
    policies: tuple[bool, ...],
    mesh_id: str,
    taus: list[int],
    entries: bool = True,
    entry_services: np.ndarray | None = None,
    listener_policy: bool = True,
) -> OutboundPrices:
    """What each service adds to a ``proxy``-family sidecar that sees it, under ``design``
    (``entries``: ServiceEntry hosts too, those of ``entry_services`` if given, shaped by the rules
    of ``cols.objects``; the view passes of :mod:`.proxies` price Services and entries apart),
    its route groups under each outbound traffic policy of ``policies`` (``True``: ALLOW_ANY).
    Its listeners are priced under ``listener_policy`` (the mesh's): where TLS routes give one a
    fall-through chain, ``TLS_FALLTHROUGH_DELTA`` holds what the other policy adds to it."""
    n = len(cols.host_length)
    # Every cluster metric is there even when no service is (a sidecar of a mesh without services).
    per_service: dict[str, np.ndarray] = {
        m: np.zeros(n, np.int64)
        for m in (
            "cds_resources",
            "cds_bytes",
            *CLUSTER_OBJECTS,
            *ENDPOINT_METRICS,
            *failover_metrics(cols.objects.cluster),
        )
    }
    add = _summing(per_service, n)

    trace = tracing(text("tsvc"), text("trev"), mesh_id, text("tns"))
    auto_bytes = {tau: np.zeros(n, np.int64) for tau in taus}
    http_parts = []
    port, host = PORT, text("host")
    for ports, copy in _service_copies(cols, design, proxy, cols.ports):
        rows = _cluster_rows(cols, ports)
        service = rows["service"].to_numpy()
        add("cds_resources", service, 1)
        sizes, objects = _cluster_sizes(cols, rows, copy, mtls)
        add("cds_bytes", service, sizes)
        hosts, localised = _add_assignments(add, cols, rows, copy)
        rings = objects["hash_rings"]
        objects["hash_rings"] = rings * (hosts > 0)  # a ring is built over hosts only
        for at, (past_first, there) in localised.items():  # one per priority, where a proxy there has hosts
            add(
                failover_metric(FAILOVER_RINGS, at),
                service,
                rings * (there > 0) * (1 + past_first) - objects["hash_rings"],
            )
        for name, values in objects.items():
            add(name, service, values)
        target = cluster_name(copy.cluster_prefix, port, "", host)
        extra = len(copy.bind.additional)
        for mongo in (False, True):  # a Mongo port's chain proxies through a mongo_proxy
            tcp = ports[(ports["kind"] == "tcp").to_numpy() & (ports["mongo"].to_numpy() == mongo)]
            if not len(tcp):
                continue
            services = tcp["service"].to_numpy()
            template = listeners.outbound_tcp(copy.bind, port, target, mongo=mongo)
            columns = _row_columns(cols, tcp)
            add_access_logs(template, cols.access_logging)
            routed_tcp = _routed_chains(cols, tcp, copy, design, proxy, sniffed=False)
            mine = _tcp_listener_sizes(template, columns, routed_tcp.bytes[listener_policy])
            add("lds_resources", services, 1)
            add("lds_bytes", services, mine)
            if (routed_tcp.bytes[True] != routed_tcp.bytes[False]).any():
                other = _tcp_listener_sizes(template, columns, routed_tcp.bytes[not listener_policy])
                add(TLS_FALLTHROUGH_DELTA, services, other - mine)
            add("filter_chains", services, routed_tcp.chains)
            add("listener_additional_addresses", services, extra)
        auto = ports[ports["kind"] == "auto"]
        if len(auto):
            route_name = f"{host}:{port}{copy.route_suffix}"
            services = auto["service"].to_numpy()
            template = listeners.outbound_auto(copy.bind, port, route_name, target, trace)
            add_access_logs(template, cols.access_logging)
            routed_chain = _routed_chains(cols, auto, copy, design, proxy, sniffed=True).bytes[listener_policy]
            for tau in taus:
                columns = _row_columns(cols, auto, trace_columns(len(auto), tau))
                auto_bytes[tau] += np.bincount(
                    services, weights=_tcp_listener_sizes(template, columns, routed_chain), minlength=n
                ).astype(np.int64)
            add("lds_resources", services, 1)
            add("filter_chains", services, 2)
            add("listener_additional_addresses", services, extra)
            build = functools.partial(_sniffed_routes, route_name, target, mesh=cols.mesh_defaults)
            sizes = _default_route_sizes(cols, auto, build)
            present = np.ones(len(auto), np.int64)
            routed = _routed(cols, auto, copy, design, proxy)
            if (routed.bytes >= 0).any():  # a VirtualService's routes instead of the default route
                pick = routed.bytes >= 0
                empty = routes.route_configuration(route_name, [])
                bare = routes.virtual_host(f"{host}:{port}", ["*"], [])
                columns = _row_columns(cols, auto[pick])
                vhost_size = serialized_sizes(bare, columns) + routed.bytes[pick]
                present[pick] = routed.bytes[pick] > 0
                sizes[pick] = serialized_sizes(empty, columns) + np.where(present[pick] > 0, vhost_field(vhost_size), 0)
            add("rds_resources", services, 1)
            add("rds_bytes", services, sizes)
            add("virtual_hosts", services, present)
            add("domains", services, present)
            for name in ROUTE_COUNTS:
                add(name, services, present * routed.counts[name])
        for kind, opens in (("http", True), ("auto", False)):
            shared = ports[ports["kind"] == kind]
            if len(shared):
                http_parts.append(_shared_vhosts(cols, shared, copy, design, proxy, target, opens=opens))
    priced = (
        entry_prices(
            index_for(cols.objects.cluster),
            design,
            proxy,
            taus,
            cols.objects,
            entry_services,
            listener_policy=listener_policy,
        )
        if entries
        else None
    )
    if priced is not None:
        for metric, values in priced.per_service.items():
            per_service[metric] = per_service.get(metric, np.zeros(n, np.int64)) + values
        for tau in taus:
            auto_bytes[tau] += priced.auto_listener_bytes[tau]
        if len(priced.http):
            http_parts.append(priced.http)
    if not http_parts:  # no HTTP port in sight: an empty frame, typed like a full one
        empty = np.empty(0, np.int64)
        http_parts.append(
            pd.DataFrame(
                {
                    "service": empty,
                    "port": empty,
                    "suffix": np.empty(0, str),
                    "vhost_same": empty,
                    "vhost_other": empty,
                    "domains_same": empty,
                    "domains_other": empty,
                    "vhosts": empty,
                    "opens": np.empty(0, bool),
                    "grpc_web": np.empty(0, bool),
                    **dict.fromkeys(ROUTE_COUNTS, empty),
                }
            )
        )
    http_rows = pd.concat(http_parts, ignore_index=True)
    # Every row holds its own virtual host's size (for its aliases, proxies.py); an empty frame has none.
    for column in ("main_same", "main_other"):
        held = http_rows[column] if column in http_rows else pd.Series(0, index=http_rows.index)
        http_rows[column] = held.fillna(0).to_numpy(np.int64)
    groups = http_rows[["port", "suffix"]].drop_duplicates().sort_values(["port", "suffix"], ignore_index=True)
    groups["group"] = np.arange(len(groups))
    http_rows = http_rows.merge(groups, on=["port", "suffix"])
    group_route = {allow: np.zeros(len(groups), np.int64) for allow in policies}
    group_listener = {(tau, allow): np.zeros(len(groups), np.int64) for tau in taus for allow in policies}
    # Priced only where some port that opens a group is gRPC-Web.
    web = bool(http_rows["grpc_web"].any())
    group_web = {key: np.zeros(len(groups), np.int64) for key in group_listener} if web else {}
    additional = np.zeros(len(groups), np.int64)
    for suffix in groups["suffix"].unique():
        pick = (groups["suffix"] == suffix).to_numpy()
        numbers = {"port": groups["port"].to_numpy()[pick]}
        bind = design.http_bind(proxy, suffix)
        additional[pick] = len(bind.additional)
        for allow in policies:
            own = routes.route_configuration(f"{port}{suffix}", [routes.catch_all(allow)])
            group_route[allow][pick] = serialized_sizes(own, Columns(count=int(pick.sum()), numbers=numbers))
            unknown = listeners.PASSTHROUGH if allow else listeners.BLACKHOLE
            template = _shared_http_listener(bind, suffix, trace, unknown, cols.access_logging)
            web_template = (
                _shared_http_listener(bind, suffix, trace, unknown, cols.access_logging, grpc_web=True) if web else None
            )
            for tau in taus:
                columns = Columns(count=int(pick.sum()), lengths=trace_columns(int(pick.sum()), tau), numbers=numbers)
                group_listener[(tau, allow)][pick] = serialized_sizes(template, columns)
                if web_template is not None:
                    with_filter = serialized_sizes(web_template, columns)
                    group_web[(tau, allow)][pick] = with_filter - group_listener[(tau, allow)][pick]
    groups["listener_additional_addresses"] = additional
    frame = pd.DataFrame(per_service)
    return OutboundPrices(
        per_service=frame,
        auto_listener_bytes=auto_bytes,
        http=http_rows,
        groups=groups,
        group_route_bytes=group_route,
        group_listener_bytes=group_listener,
        group_grpc_web_bytes=group_web,
        listener_policy=listener_policy,
        fallthrough_bytes={allow: fallthrough_bytes(allow, cols.access_logging) for allow in (False, True)},
        wildcard=priced.wildcard if priced is not None else pd.DataFrame(),
        wildcard_groups=priced.wildcard_groups if priced is not None else pd.DataFrame(),
        shared_listeners=priced.shared_listeners if priced is not None else pd.DataFrame(),
    )
