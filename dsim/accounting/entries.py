"""ServiceEntry hosts priced per proxy family class: what each adds to a sidecar that sees it.

A ServiceEntry host's resources do not depend on which proxy of a family class sees it (but its
virtual host domains: a host inside ``svc.<cluster domain>``, a headless Service's too, has short
names, ``docs/istio-objects.md`` 1.3, built twice: for the proxies of the namespace its text names
and for the others'), except its sniffed
ports' listeners (they carry the proxy's tracing, priced per tracing class) and the wildcard
listeners of address-less TCP, TLS and sniffed ports, shared by every entry on the port. So each host is
built once per class by the generator's own :func:`dsim.xds.service_entries.entry_config` and
sized with ``ByteSize()``: exact by construction. The shared wildcard listeners are priced as a
bare listener plus each chain as the field it lands in (``filter_chains``, or
``default_filter_chain`` for a TCP chain beside SNI chains), plus the fall-through where no TCP
chain is, summed per proxy over the chains it sees; where an HTTP port holds the listener, the
chains' fields are added to it instead (``dsim.accounting.proxies._wildcard``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc

from dsim.accounting.failover import (
    FAILOVER_CDS,
    FAILOVER_EDS,
    FAILOVER_ENDPOINTS,
    FAILOVER_EXTRA,
    FAILOVER_PRIORITIES,
    FAILOVER_RINGS,
    failover_metric,
    may_fail_over,
    proxy_localities,
)
from dsim.cluster.hostnames import host_namespace, route_host
from dsim.designs.base import Design, ProxyFacts
from dsim.wire import tag_size, varint_size
from dsim.xds import listeners
from dsim.xds.access_logs import AccessLogging, add_access_logs, add_chain_logs
from dsim.xds.cluster_objects import clusters_objects
from dsim.xds.common import tracing
from dsim.xds.failover import all_failover_priorities
from dsim.xds.mesh_objects import ObjectView
from dsim.xds.routes import ROUTE_COUNTS, VHOST_FIELD, vhost_objects
from dsim.xds.service_entries import (
    EntryConfig,
    entry_config,
    entry_index,
    own_listeners,
    wildcard_listener,
)
from dsim.xds.view import ClusterIndex
from dsim.xds.vocabulary import CLUSTER_OBJECTS

TLS_FALLTHROUGH_DELTA = "tls_fallthrough_delta"
"""A per-service metric: bytes its TLS-routed listeners' fall-through chains add under the outbound
traffic policy other than the one its listeners were priced under (``outbound_prices``)."""
ROUTE_METRICS = ("rds_bytes", "virtual_hosts", "domains", *ROUTE_COUNTS)
"""A route configuration's own metrics (beside ``rds_resources``), as own listener rows carry them."""
FILTER_CHAINS_FIELD = 3  # Listener.filter_chains
DEFAULT_FILTER_CHAIN_FIELD = 25  # Listener.default_filter_chain: where a chain matching everything sits

PER_SERVICE = (
    "cds_resources",
    "cds_bytes",
    *CLUSTER_OBJECTS,
    "eds_resources",
    "eds_bytes",
    "locality_groups",
    "endpoints",
    "endpoint_additional_addresses",
    "lds_resources",
    "lds_bytes",
    "filter_chains",
    "listener_additional_addresses",
    "rds_resources",
    "rds_bytes",
    "virtual_hosts",
    "domains",
    *ROUTE_COUNTS,
)


def _field(size: int, number: int) -> int:
    return tag_size(number) + int(varint_size(size)) + size


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class EntryPrices:
    """What the ServiceEntry hosts add to a proxy of one family class, under one design."""

    per_service: dict[str, np.ndarray]
    """Per ``services`` row (0 for Kubernetes Services): :data:`PER_SERVICE` metrics."""
    auto_listener_bytes: dict[int, np.ndarray]
    """Per tracing class, per service: bytes of its sniffed ports' listeners."""
    http: pd.DataFrame
    """As :attr:`OutboundPrices.http`: the virtual hosts it adds to shared route configurations."""
    wildcard: pd.DataFrame
    """Per chain of a wildcard listener: service, port, suffix, tls, bytes (as a ``filter_chains``
    field), default_bytes (as the ``default_filter_chain`` field), protocol (its port's: a Mongo or
    MySQL one shares no listener with another protocol), sni (its server names, space-separated: the first chain of
    equal names is kept)."""
    wildcard_groups: pd.DataFrame
    """Per (port, suffix) of those listeners: ``bare`` bytes (no chain), ``inspector`` bytes the TLS
    inspector adds, ``additional`` addresses."""
    shared_listeners: pd.DataFrame
    """Per own listener of a host whose name (address and port) other hosts' listeners have too
    (:func:`dsim.xds.service_entries.kept_parts` keeps the first a proxy sees): service, name,
    route (the route configuration it names, ``""`` for none), ``routed`` (how many of the host's
    listeners name that route), ``bytes`` per tracing class (``bytes_<tau>``), ``filter_chains``,
    ``additional``, and the route configuration's ``rds_bytes``, ``virtual_hosts``, ``domains`` and
    route counts; ``holder``: the row is a Kubernetes Service's listener of that name
    (:meth:`EntryIndex.service_listener_names`), priced with the Service, which the hosts' give
    way to where a proxy sees it."""


def _logged_entry_config(index: ClusterIndex, *args: Any, **kwargs: Any) -> EntryConfig:
    """:func:`entry_config`, its listeners and wildcard chains carrying the mesh's access logs, as
    :func:`dsim.xds.generate.proxy_config` adds them to the listeners they end up in."""
    built = entry_config(index, *args, **kwargs)
    logging = AccessLogging.of(index.cluster.scenario.mesh)
    if logging is None:
        return built
    for listener in (*built.listeners, *built.auto_listeners):
        add_access_logs(listener, logging)
    # A wildcard chain may be a VirtualService's routed chain, which the mesh objects keep and hand
    # out to every caller: logged on a copy, so that no later build finds it logged already.
    logged = []
    for wild in built.wildcard:
        chain = lc.FilterChain()
        chain.CopyFrom(wild.chain)
        add_chain_logs(chain, logging)
        logged.append(dataclasses.replace(wild, chain=chain))
    return dataclasses.replace(built, wildcard=tuple(logged))


def _fake_trace(tau: int, mesh_id: str) -> object:
    from dsim.accounting.outbound import trace_columns

    lengths = trace_columns(1, tau)
    return tracing("s" * int(lengths["tsvc"][0]), "r" * int(lengths["trev"][0]), mesh_id, "n" * int(lengths["tns"][0]))


def entry_prices(
    index: ClusterIndex,
    design: Design,
    proxy: ProxyFacts,
    taus: list[int],
    objects: ObjectView,
    only: np.ndarray | None = None,
    *,
    listener_policy: bool,
) -> EntryPrices:
    """What each ServiceEntry host (of ``only``, if given) adds to a ``proxy``-family sidecar under
    ``design``, shaped by the VirtualServices and DestinationRules of ``objects`` (a viewer's view),
    its listeners priced under outbound traffic policy ``listener_policy`` (``True``: ALLOW_ANY) and
    :data:`TLS_FALLTHROUGH_DELTA` holding what the other one changes."""
    n = len(index.cluster.services)
    mesh_id = index.cluster.scenario.mesh.trust_domain
    per: dict[str, np.ndarray] = {m: np.zeros(n, np.int64) for m in (*PER_SERVICE, TLS_FALLTHROUGH_DELTA)}
    build = functools.partial(_logged_entry_config, allow_any=listener_policy)
    auto = {tau: np.zeros(n, np.int64) for tau in taus}
    http_rows: list[tuple[int, int, str, int, int, int, int, int, bool, bool, int, int]] = []
    http_counts: list[dict[str, int]] = []
    wild_rows: list[tuple[int, int, str, bool, int, int, str, str]] = []
    groups: dict[tuple[int, str], None] = {}
    entries = entry_index(index)
    domain = index.cluster.scenario.mesh.cluster_domain
    # Per locality proxies run in, where some set may fail over (else none: failover_metrics).
    localities = proxy_localities(index.cluster) if may_fail_over(index.cluster) else np.zeros(0, np.int64)
    traces = {tau: _fake_trace(tau, mesh_id) for tau in taus}
    first_trace = next(iter(traces.values()), tracing("", "", mesh_id, ""))
    names: dict[str, list[int]] = {}  # own listener name → the hosts that build one of that name
    chosen = entries.services if only is None else sorted(set(entries.services) & set(only.tolist()))
    for service in chosen:
        built = build(index, service, design, proxy, first_trace, objects)
        # Only sniffed ports' listeners carry the tracing: rebuild per tracing class where there are some.
        rebuilt = {
            tau: build(index, service, design, proxy, trace, objects) if built.auto_listeners else built
            for tau, trace in traces.items()
        }
        other = functools.partial(
            _logged_entry_config, index, service, design, proxy, first_trace, objects, allow_any=not listener_policy
        )
        per[TLS_FALLTHROUGH_DELTA][service] = _fallthrough_delta(built, other)
        for listener, _ in own_listeners(built):
            names.setdefault(listener.name, []).append(service)
        per["cds_resources"][service] = len(built.clusters)
        per["cds_bytes"][service] = sum(c.ByteSize() for c in built.clusters)
        for name, value in clusters_objects(built.clusters, built.endpoints).items():
            per[name][service] = value
        per["eds_resources"][service] = len(built.endpoints)
        per["eds_bytes"][service] = sum(e.ByteSize() for e in built.endpoints)
        endpoints = _endpoint_counts(built.endpoints)
        for metric, value in endpoints.items():
            per[metric][service] = value
        if any(_may_localise(c) for c in built.clusters):
            for at in localities.tolist():
                local = build(index, service, design, proxy, first_trace, objects, locality=index.locality(at))
                there = _endpoint_counts(local.endpoints)
                added = {
                    FAILOVER_EDS: sum(e.ByteSize() for e in local.endpoints) - per["eds_bytes"][service],
                    FAILOVER_CDS: sum(c.ByteSize() for c in local.clusters) - per["cds_bytes"][service],
                    FAILOVER_PRIORITIES: all_failover_priorities(local.clusters, local.endpoints),
                    FAILOVER_RINGS: clusters_objects(local.clusters, local.endpoints)["hash_rings"]
                    - per["hash_rings"][service],
                    FAILOVER_ENDPOINTS: there["endpoints"] - endpoints["endpoints"],
                    FAILOVER_EXTRA: there["endpoint_additional_addresses"] - endpoints["endpoint_additional_addresses"],
                }
                for prefix, value in added.items():
                    per.setdefault(failover_metric(prefix, at), np.zeros(n, np.int64))[service] = value
        own = [*built.listeners, *built.auto_listeners]
        per["lds_resources"][service] = len(own)
        per["lds_bytes"][service] = sum(listener.ByteSize() for listener in built.listeners)
        per["filter_chains"][service] = sum(listeners.chain_count(listener) for listener in own)
        per["listener_additional_addresses"][service] = sum(len(listener.additional_addresses) for listener in own)
        per["rds_resources"][service] = len(built.routes)
        per["rds_bytes"][service] = sum(r.ByteSize() for r in built.routes)
        per["virtual_hosts"][service] = sum(len(r.virtual_hosts) for r in built.routes)
        per["domains"][service] = sum(len(v.domains) for r in built.routes for v in r.virtual_hosts)
        for name, value in vhost_objects(v for r in built.routes for v in r.virtual_hosts).items():
            per[name][service] = value
        for tau in taus:
            auto[tau][service] = sum(listener.ByteSize() for listener in rebuilt[tau].auto_listeners)
        # A host inside svc.<domain> (a headless Service's too) has short names, and the proxies of the
        # namespace its text names get others; built above as seen from no namespace.
        same = built
        home = host_namespace(route_host(entries.view(service).host), domain)
        if home is not None and (built.http or built.riding):
            same = build(index, service, design, proxy, first_trace, objects, proxy_namespace=home)
        for vhosts, vhosts_same, opens in ((built.http, same.http, True), (built.riding, same.riding, False)):
            for (port, suffix, vhost), (_, _, vhost_same) in zip(vhosts, vhosts_same, strict=True):
                kept = [] if vhost is None else [vhost]  # None: the port opens "P", adding no virtual host
                kept_same = [] if vhost_same is None else [vhost_same]
                http_rows.append(
                    (
                        service,
                        port,
                        suffix,
                        sum(_field(v.ByteSize(), VHOST_FIELD) for v in kept_same),
                        sum(_field(v.ByteSize(), VHOST_FIELD) for v in kept),
                        sum(len(v.domains) for v in kept_same),
                        sum(len(v.domains) for v in kept),
                        len(kept),
                        opens,
                        opens and (port, suffix) in built.grpc_web,
                        # its virtual host's own bytes, which its ExternalName Services grow (proxies.py)
                        sum(v.ByteSize() for v in kept_same),
                        sum(v.ByteSize() for v in kept),
                    )
                )
                http_counts.append(vhost_objects(kept))
        for chain in built.wildcard:
            size = chain.chain.ByteSize()
            wild_rows.append(
                (
                    service,
                    chain.port,
                    chain.suffix,
                    chain.tls,
                    _field(size, FILTER_CHAINS_FIELD),
                    _field(size, DEFAULT_FILTER_CHAIN_FIELD),
                    chain.protocol,
                    " ".join(chain.server_names),
                )
            )
            groups[(chain.port, chain.suffix)] = None
    http = pd.DataFrame(
        {
            "service": np.array([r[0] for r in http_rows], np.int64),
            "port": np.array([r[1] for r in http_rows], np.int64),
            "suffix": np.array([r[2] for r in http_rows], dtype=object).astype(str),
            "vhost_same": np.array([r[3] for r in http_rows], np.int64),
            "vhost_other": np.array([r[4] for r in http_rows], np.int64),
            "domains_same": np.array([r[5] for r in http_rows], np.int64),
            "domains_other": np.array([r[6] for r in http_rows], np.int64),
            "vhosts": np.array([r[7] for r in http_rows], np.int64),
            "opens": np.array([r[8] for r in http_rows], bool),
            "grpc_web": np.array([r[9] for r in http_rows], bool),
            "main_same": np.array([r[10] for r in http_rows], np.int64),
            "main_other": np.array([r[11] for r in http_rows], np.int64),
            **{name: np.array([c[name] for c in http_counts], np.int64) for name in ROUTE_COUNTS},
        }
    )
    wildcard = pd.DataFrame(
        {
            "service": np.array([r[0] for r in wild_rows], np.int64),
            "port": np.array([r[1] for r in wild_rows], np.int64),
            "suffix": np.array([r[2] for r in wild_rows], dtype=object).astype(str),
            "tls": np.array([r[3] for r in wild_rows], bool),
            "bytes": np.array([r[4] for r in wild_rows], np.int64),
            "default_bytes": np.array([r[5] for r in wild_rows], np.int64),
            "protocol": np.array([r[6] for r in wild_rows], dtype=object).astype(str),
            "sni": np.array([r[7] for r in wild_rows], dtype=object).astype(str),
        }
    )
    group_rows = []
    for port, suffix in sorted(groups):
        bind = design.http_bind(proxy, suffix)
        bare = wildcard_listener(bind, port, [], None, "").ByteSize()
        with_inspector = wildcard_listener(bind, port, [lc.FilterChain()], None, "")
        del with_inspector.filter_chains[:]
        with_inspector.ClearField("default_filter_chain")
        group_rows.append((port, suffix, bare, with_inspector.ByteSize() - bare, len(bind.additional)))
    wildcard_groups = pd.DataFrame(
        {
            "port": np.array([r[0] for r in group_rows], np.int64),
            "suffix": np.array([r[1] for r in group_rows], dtype=object).astype(str),
            "bare": np.array([r[2] for r in group_rows], np.int64),
            "inspector": np.array([r[3] for r in group_rows], np.int64),
            "additional": np.array([r[4] for r in group_rows], np.int64),
        }
    )
    return EntryPrices(
        per_service=per,
        auto_listener_bytes=auto,
        http=http,
        wildcard=wildcard,
        wildcard_groups=wildcard_groups,
        shared_listeners=_shared_listeners(index, design, proxy, traces, names, objects, listener_policy),
    )


def _may_localise(cluster: cluster_pb2.Cluster) -> bool:
    """Whether a cluster's endpoints may differ by the proxy's locality: it fails over (outlier
    detection) or distributes (a locality-weighted balancer without it)."""
    return cluster.HasField("outlier_detection") or cluster.common_lb_config.HasField("locality_weighted_lb_config")


def _endpoint_counts(assignments: Sequence[endpoint_pb2.ClusterLoadAssignment]) -> dict[str, int]:
    """Groups, endpoints and their additional addresses of EDS sets (as the protobuf counts them:
    not DNS clusters' inline ones)."""
    groups = [group for cla in assignments for group in cla.endpoints]
    return {
        "locality_groups": len(groups),
        "endpoints": sum(len(group.lb_endpoints) for group in groups),
        "endpoint_additional_addresses": sum(
            len(e.endpoint.additional_addresses) for group in groups for e in group.lb_endpoints
        ),
    }


def _fallthrough_delta(built: EntryConfig, other: Callable[[], EntryConfig]) -> int:
    """What the other outbound traffic policy changes in the host's own listeners ``built``: the
    fall-through chain of its TLS-routed ones (0 without any; ``other`` builds it under that policy)."""
    if not any(listener.HasField("default_filter_chain") for listener in built.listeners):
        return 0
    return sum(x.ByteSize() for x in other().listeners) - sum(x.ByteSize() for x in built.listeners)


def _shared_listeners(
    index: ClusterIndex,
    design: Design,
    proxy: ProxyFacts,
    traces: dict[int, object],
    names: dict[str, list[int]],
    objects: ObjectView,
    listener_policy: bool,
) -> pd.DataFrame:
    """The rows of :attr:`EntryPrices.shared_listeners`: every own listener of the hosts that build a listener
    name some other host builds too (rare: those hosts are built again)."""
    holders = entry_index(index).service_listener_names(design, proxy)
    sharing = sorted({s for name, hosts in names.items() if len(hosts) > 1 or name in holders for s in hosts})
    frame = _listener_rows(index, sharing, design, proxy, traces, objects, listener_policy).drop(columns="address")
    frame = frame[frame["name"].map(lambda name: len(names[name]) > 1 or name in holders).astype(bool)]
    # A Service's listener on an address an entry lists holds its name first (registry order):
    # a row of its own, which costs nothing and is never dropped.
    held_names = [name for name in names if name in holders]
    held = pd.DataFrame(
        {column: np.zeros(len(held_names), np.int64) for column in frame.columns}
        | {"service": np.array([holders[name] for name in held_names], np.int64), "name": held_names}
        | {"route": [""] * len(held_names)}
    ).astype(frame.dtypes.to_dict())
    frame["holder"] = False
    held["holder"] = True
    return pd.concat([held, frame], ignore_index=True)


def _listener_rows(
    index: ClusterIndex,
    services: Sequence[int],
    design: Design,
    proxy: ProxyFacts,
    traces: dict[int, object],
    objects: ObjectView,
    listener_policy: bool,
) -> pd.DataFrame:
    """:func:`_own_listener_rows` of ``services`` as one typed frame (``address``: the listener's)."""
    rows = [
        row
        for service in services
        for row in _own_listener_rows(index, service, design, proxy, traces, objects, listener_policy)
    ]
    columns = ["service", "name", "route", "routed", *(f"bytes_{tau}" for tau in traces), "fallthrough"]
    columns += ["filter_chains", "additional", *ROUTE_METRICS]
    frame = pd.DataFrame(rows, columns=[*columns, "address"])
    return frame.astype({c: np.int64 for c in columns if c not in ("name", "route")})


def endpoint_listener_rows(
    index: ClusterIndex,
    design: Design,
    proxy: ProxyFacts,
    taus: list[int],
    objects: ObjectView,
    listener_policy: bool,
) -> pd.DataFrame:
    """Every per-endpoint listener of the hosts that listen per endpoint
    (:func:`dsim.cluster.service_entries.listens_per_endpoint`), as :func:`_own_listener_rows` prices
    it for a ``proxy``-family sidecar shaped by ``objects``, with ``pod``: the pod whose first
    address the listener binds (-1: none, as for a dual pod's second address where each address
    has its own listener), whose own proxy does not get it."""
    mesh_id = index.cluster.scenario.mesh.trust_domain
    traces = {tau: _fake_trace(tau, mesh_id) for tau in taus}
    first = np.where(index.pod_ipv4 != "", index.pod_ipv4, index.pod_ipv6)
    pod_of = {str(address): pod for pod, address in enumerate(first.tolist())}
    frame = _listener_rows(index, entry_index(index).per_endpoint, design, proxy, traces, objects, listener_policy)
    frame["pod"] = frame.pop("address").map(lambda address: pod_of.get(address, -1)).astype(np.int64)
    return frame


def _own_listener_rows(
    index: ClusterIndex,
    service: int,
    design: Design,
    proxy: ProxyFacts,
    traces: dict[int, object],
    objects: ObjectView,
    listener_policy: bool,
) -> list[dict[str, object]]:
    """One row per own listener of a host: what it, per tracing class, and the route configuration
    it names cost (``fallthrough``: what the other outbound traffic policy adds to it)."""
    rebuilt = {
        tau: _logged_entry_config(index, service, design, proxy, trace, objects, allow_any=listener_policy)
        for tau, trace in traces.items()
    }
    if not rebuilt:  # no proxy to price for
        return []
    built = next(iter(rebuilt.values()))
    trace = next(iter(traces.values()))
    other = own_listeners(
        _logged_entry_config(index, service, design, proxy, trace, objects, allow_any=not listener_policy)
    )
    own = own_listeners(built)
    routed = Counter(route for _, route in own)
    # A host listening per endpoint names one route configuration from many listeners: each priced once.
    named: dict[str, dict[str, int]] = {"": dict.fromkeys(ROUTE_METRICS, 0)}
    for config in built.routes:
        vhosts = list(config.virtual_hosts)
        named[config.name] = {
            "rds_bytes": config.ByteSize(),
            "virtual_hosts": len(vhosts),
            "domains": sum(len(v.domains) for v in vhosts),
            **vhost_objects(vhosts),
        }
    by_tau = {tau: own_listeners(again) for tau, again in rebuilt.items()}
    rows = []
    for i, (listener, route) in enumerate(own):
        rows.append(
            {
                "service": service,
                "name": listener.name,
                "address": listener.address.socket_address.address,
                "route": route,
                "routed": routed[route],
                **{f"bytes_{tau}": listed[i][0].ByteSize() for tau, listed in by_tau.items()},
                "fallthrough": other[i][0].ByteSize() - listener.ByteSize(),
                "filter_chains": listeners.chain_count(listener),
                "additional": len(listener.additional_addresses),
                **named.get(route, named[""]),
            }
        )
    return rows
