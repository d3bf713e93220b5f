"""Every proxy's exact config size and object counts under one design, from the priced pieces.

A proxy's outbound config is the sum of what each service it sees adds (:mod:`.outbound`),
plus one route configuration and one listener per HTTP route group among them; its own side
comes from its workload (:mod:`.inbound`). What it sees follows the scenario's visibility:
``all`` services, its ``namespace``'s, or its workload's call-graph ``dependencies``; where Sidecars
or exportTo apply, the cluster's ``scope`` pairs (:mod:`dsim.cluster.sidecars`). Sums run
per workload with ``bincount``; proxies of a workload share them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.accounting.by_messages import replace_message_priced_proxies
from dsim.accounting.columns import ClusterColumns, cluster_columns, stacked_columns, view_columns
from dsim.accounting.cross_port import cross_port_deltas
from dsim.accounting.entries import ROUTE_METRICS
from dsim.accounting.failover import FAILOVER_TARGETS, failover_metric, is_failover_metric, may_fail_over
from dsim.accounting.inbound import inbound_prices, own_rows
from dsim.accounting.outbound import (
    ENDPOINT_METRICS,
    TLS_FALLTHROUGH_DELTA,
    OutboundPrices,
    domain_entry,
    outbound_prices,
    tracing_class,
    vhost_field,
)
from dsim.accounting.own_endpoints import own_endpoint_deltas
from dsim.accounting.port80 import port80_deltas
from dsim.accounting.visibility import Visibility
from dsim.cluster import Cluster
from dsim.cluster.alias_scopes import alias_scopes
from dsim.cluster.sidecars import allow_any_by_workload
from dsim.designs.base import Design, ProxyFacts
from dsim.scenario.model import IpFamily
from dsim.xds.mesh_objects import mesh_objects
from dsim.xds.routes import ROUTE_COUNTS
from dsim.xds.service_entries import SERVER_FIRST_PROTOCOLS, SNIFFED, per_endpoint_pods
from dsim.xds.view import index_for
from dsim.xds.vocabulary import CLUSTER_OBJECTS, COUNT_COLUMNS, XDS_SHORT

# Counts that are a type's resource count, by the metric that holds it.
_COUNT_SOURCE = {"listeners": "lds_resources", "clusters": "cds_resources", "route_configurations": "rds_resources"}
PROXY_CLASSES: tuple[tuple[IpFamily, ...], ...] = (("IPv4",), ("IPv6",), ("IPv4", "IPv6"))


#: Per-service metrics of clusters and endpoint sets (what a service only a VirtualService's
#: destination brings into scope still costs).
_CLUSTER_METRICS = frozenset({"cds_resources", "cds_bytes", *CLUSTER_OBJECTS, *ENDPOINT_METRICS})


def _who_http_ports(seen: Visibility, opening: pd.DataFrame) -> pd.DataFrame:
    """(who, port, suffix): the shared HTTP listeners the workloads of each :meth:`Visibility.who`
    number have, from the rows of the HTTP ports that open them (``opening``: service, port, suffix)."""
    return seen.who_groups(opening["service"].to_numpy(), opening[["port", "suffix"]])


def _http_ports(seen: Visibility, opening: pd.DataFrame) -> pd.DataFrame:
    """(workload, port, suffix): :func:`_who_http_ports` for each workload."""
    return seen.pairs_of_workloads(_who_http_ports(seen, opening))


def _wildcard(
    prices: OutboundPrices, seen: Visibility, http_ports: pd.DataFrame, allow: np.ndarray
) -> dict[str, np.ndarray]:
    """Per workload: what the address-less ServiceEntry TCP/TLS ports it sees add (as
    :func:`dsim.xds.service_entries.wildcard_listeners` builds them, under its outbound traffic
    policy ``allow``): listeners, bytes, chains, additional addresses. Per (port, suffix), the first
    TCP chain and the first TLS chain of each set of server names; a wildcard listener of their own
    (the TCP chain the default one beside SNI chains, SNI chains alone falling through), or, where an
    HTTP port holds the wildcard listener, their chains in it (the TCP one replacing its
    fall-through); a Mongo or MySQL port's chain only on a listener of its own protocol. All of it
    depends on what a workload sees alone but the fall-through: computed once per
    :meth:`Visibility.who` number (``http_ports``: theirs, :func:`_who_http_ports`), under each policy."""
    workloads = len(allow)
    out = {k: np.zeros(workloads, np.int64) for k in ("listeners", "bytes", "chains", "additional")}
    wild = prices.wildcard
    if not len(wild):
        return out
    rows = seen.who_pairs(np.unique(wild["service"].to_numpy())).merge(wild, on="service")
    rows = rows.merge(http_ports.assign(http=True), on=["who", "port", "suffix"], how="left")
    rows["http"] = rows["http"].notna().astype(bool)
    keys = ["who", "port", "suffix"]
    # The listener's protocol: the shared HTTP one's, else its first chain's (service order).
    rows = rows.sort_values(["who", "service"], kind="stable")
    held = np.where(rows["http"], SNIFFED, rows.groupby(keys)["protocol"].transform("first"))
    protocol = rows["protocol"].to_numpy()
    server_first = np.isin(protocol, SERVER_FIRST_PROTOCOLS) | np.isin(held, SERVER_FIRST_PROTOCOLS)
    rows = rows[~(server_first & (protocol != held))]
    tcp = rows[~rows["tls"]].drop_duplicates(keys)
    tls = rows[rows["tls"]].drop_duplicates([*keys, "sni"])
    per = (
        tls.groupby(keys, as_index=False)
        .agg(tls_bytes=("bytes", "sum"), tls_chains=("service", "size"), http=("http", "first"))
        .merge(
            tcp[[*keys, "bytes", "default_bytes", "http"]].rename(columns={"bytes": "tcp_bytes", "http": "tcp_http"}),
            on=keys,
            how="outer",
        )
        .merge(prices.wildcard_groups, on=["port", "suffix"])
    )
    if not len(per):
        return out
    who = per["who"].to_numpy()
    on_http = per["http"].fillna(per["tcp_http"]).to_numpy(bool)
    has_tls = per["tls_chains"].notna().to_numpy()
    has_tcp = per["tcp_bytes"].notna().to_numpy()
    tls_bytes = per["tls_bytes"].fillna(0).to_numpy(np.int64)
    tls_chains = per["tls_chains"].fillna(0).to_numpy(np.int64)
    as_default = per["default_bytes"].fillna(0).to_numpy(np.int64)
    as_chain = per["tcp_bytes"].fillna(0).to_numpy(np.int64)
    mine = seen.who()

    def summed(values: np.ndarray) -> np.ndarray:
        """Per workload: the sum of ``values`` (per row of ``per``) over its number's rows."""
        return np.bincount(who, weights=values, minlength=seen.whos())[mine].astype(np.int64)

    by_policy = []
    for policy in (False, True):
        fall = prices.fallthrough_bytes[policy]
        # The last chain: the TCP one (the default one beside others, else the only one), or the fall-through.
        last = np.where(has_tcp, np.where(has_tls, as_default, as_chain), fall)
        own = per["bare"].to_numpy() + np.where(has_tls, per["inspector"].to_numpy(), 0) + tls_bytes + last
        joined = tls_bytes + np.where(has_tcp, as_default - fall, 0)  # the HTTP listener has its fall-through
        by_policy.append(summed(np.where(on_http, joined, own)))
    out["bytes"] = np.where(allow, by_policy[1], by_policy[0])
    out["listeners"] = summed(np.where(on_http, 0, 1))
    out["chains"] = summed(tls_chains + np.where(on_http, 0, 1))
    out["additional"] = summed(np.where(on_http, 0, per["additional"].to_numpy()))
    return out


def _grpc_web_filters(
    prices: OutboundPrices,
    seen: Visibility,
    opening: pd.DataFrame,
    groups: pd.DataFrame,
    tau: np.ndarray,
    allow: np.ndarray,
) -> np.ndarray:
    """Per workload: what the ``grpc_web`` filters of its shared HTTP listeners add, on each of its
    route groups (``groups``: workload, group) whose first port to open it among the services it sees,
    in service order, is gRPC-Web (``opening``: the HTTP rows that open, of the whole mesh). Istio
    builds the listener's connection manager for that port; a later one finds the listener built."""
    workloads = len(allow)
    out = np.zeros(workloads, np.int64)
    if not prices.group_grpc_web_bytes or not opening["grpc_web"].any():
        return out
    keys = ["port", "suffix"]
    rows = opening[["service", *keys, "grpc_web"]].drop_duplicates(["service", *keys])
    first = seen.first_of_groups(rows["service"].to_numpy(), rows[keys]).merge(rows, on=["service", *keys])
    web = first.loc[first["grpc_web"].to_numpy(bool), ["who", *keys]]
    pairs = (
        seen.pairs_of_workloads(web)
        .merge(prices.groups[[*keys, "group"]], on=keys)
        .merge(groups[["workload", "group"]], on=["workload", "group"])
    )
    w, g = pairs["workload"].to_numpy(), pairs["group"].to_numpy()
    for (key, policy), added in prices.group_grpc_web_bytes.items():
        chosen = (tau[w] == key) & (allow[w] == policy)
        out += np.bincount(w[chosen], weights=added[g[chosen]], minlength=workloads).astype(np.int64)
    return out


def _shadowed(prices: OutboundPrices, seen: Visibility, tau: np.ndarray, allow: np.ndarray) -> dict[str, np.ndarray]:
    """Per workload: what the ServiceEntry hosts' listeners it does not get would have added (under
    its outbound traffic policy ``allow``), on addresses and ports an earlier host it sees holds (as
    :func:`dsim.xds.service_entries.kept_parts` drops them), with the route configurations only
    those listeners name. Which listeners go depends only on what a workload sees: found once per
    :meth:`Visibility.who` number, summed per tracing class, and read per workload."""
    shared = prices.shared_listeners
    if not len(shared):
        return {}
    rows = seen.who_pairs(np.unique(shared["service"].to_numpy())).merge(shared, on="service")
    rows = rows.sort_values(["who", "service"], kind="stable")
    dropped = rows[rows.duplicated(["who", "name"]) & ~rows["holder"].to_numpy(bool)]
    mine = seen.who()

    def summed(values: np.ndarray | int, frame: pd.DataFrame = dropped) -> np.ndarray:
        """Per workload: the sum of ``values`` (per row of ``frame``) over its number's rows."""
        weights = np.broadcast_to(np.asarray(values, np.float64), (len(frame),))
        return np.bincount(frame["who"].to_numpy(), weights=weights, minlength=seen.whos())[mine].astype(np.int64)

    listener_bytes = np.zeros(len(mine), np.int64)
    for key in prices.auto_listener_bytes:  # the tracing classes of workloads that have proxies
        chosen = tau == key
        listener_bytes[chosen] = summed(dropped[f"bytes_{key}"].to_numpy())[chosen]
    fallthrough = summed(dropped["fallthrough"].to_numpy())
    out = {
        "lds_resources": summed(1),
        "lds_bytes": listener_bytes + np.where(allow != prices.listener_policy, fallthrough, 0),
        "filter_chains": summed(dropped["filter_chains"].to_numpy()),
        "listener_additional_addresses": summed(dropped["additional"].to_numpy()),
    }
    # A route configuration goes when every listener of its host that names it does.
    named = dropped[dropped["route"] != ""]
    gone = named.groupby(["who", "service", "route"], as_index=False).agg(
        count=("name", "size"), routed=("routed", "first"), **{c: (c, "first") for c in ROUTE_METRICS}
    )
    gone = gone[gone["count"] == gone["routed"]]
    out["rds_resources"] = summed(1, gone)
    for column in ROUTE_METRICS:
        out[column] = summed(gone[column].to_numpy(), gone)
    return out


def workload_tracing_classes(cols: ClusterColumns) -> np.ndarray:
    """Each workload's tracing class (:func:`dsim.accounting.outbound.tracing_class`)."""
    return tracing_class(cols.canonical_service_length, cols.canonical_revision_length, cols.workload_namespace_length)


_VHOST_COLUMNS = {
    "rds_bytes": ("vhost_same", "vhost_other"),
    "virtual_hosts": ("vhosts", "vhosts"),
    "domains": ("domains_same", "domains_other"),
    **{name: (name, name) for name in ROUTE_COUNTS},
}
"""What a row of :attr:`OutboundPrices.http` adds to each metric, seen from its home namespace and another."""


def _case_twin_drops(prices: OutboundPrices, seen: Visibility, openers: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per workload, per metric of :data:`_VHOST_COLUMNS`: what the virtual hosts it does not get
    would have added, those of hosts equal to a later one but for case that it sees with the port
    (:mod:`dsim.cluster.case_twins`; the generator drops them alike). A sniffed port's counts only
    where an HTTP port opens its route configuration, as it would have ridden there."""
    out = {metric: np.zeros(seen.workloads, np.int64) for metric in _VHOST_COLUMNS}
    twins = prices.case_twins
    http = prices.http
    for k in np.flatnonzero(http["service"].isin(list(twins)).to_numpy()).tolist() if twins else ():
        row = http.iloc[[k]]
        sees_twin = _sees_later_twin(prices, seen, int(row["service"].iloc[0]), int(row["port"].iloc[0]))
        if sees_twin is None:
            continue
        columns = list(_VHOST_COLUMNS.values())
        if bool(row["opens"].iloc[0]):
            service = row["service"].to_numpy()
            added = [seen.by_namespace(service, row[a].to_numpy(), row[b].to_numpy()) for a, b in columns]
        else:
            added = seen.riding(row, openers, columns)
        for metric, values in zip(_VHOST_COLUMNS, added, strict=True):
            out[metric] += np.where(sees_twin, values, 0)
    return out


def _sees_later_twin(prices: OutboundPrices, seen: Visibility, service: int, port: int) -> np.ndarray | None:
    """Per workload, whether it sees a later host equal to ``service``'s but for case with ``port``,
    whose virtual host in ``"<port>"`` then stands instead (``None``: the service has no such twin)."""
    later = prices.case_twins.get(service, {}).get(port, ())
    if not later:
        return None
    sees_twin = np.zeros(seen.workloads, bool)
    sees_twin[seen.pairs(np.asarray(later, np.int64))["workload"].to_numpy()] = True
    return sees_twin


def _alias_domains(
    prices: OutboundPrices, seen: Visibility, openers: pd.DataFrame, workload_ids: np.ndarray
) -> dict[str, np.ndarray]:
    """Per workload (``workload_ids``: the ``workloads`` row of each of ``seen``'s), the bytes and
    domains its Services' ExternalName Services add to their virtual hosts in ``"P"``
    (:mod:`dsim.cluster.alias_scopes`): per row of a Service with aliases, the names its scope keeps,
    as its namespace names them, grow the virtual host it gets (``main_same`` or ``main_other``,
    and its length prefix with it). A sniffed port's counts only where an HTTP port opens its route
    configuration, as its virtual host rides there."""
    out = {metric: np.zeros(seen.workloads, np.int64) for metric in ("rds_bytes", "domains")}
    aliases = prices.aliases
    if aliases is None:
        return out
    http = prices.http
    rows = http[http["service"].map(aliases.has_aliases).to_numpy(bool)].reset_index(drop=True)
    scope = aliases.scopes.of_workload[workload_ids]
    variants = [("one", "none"), ("none", "one")]  # where the workload is at the service's home, and not
    seen_by: dict[int, list[np.ndarray]] = {}  # per service: who gets its HTTP ports' virtual hosts, by home
    priced: dict[tuple[int, int, int], tuple[int, int]] = {}  # (scope, service, port) -> (bytes, names)
    entries: dict[tuple[str, ...], int] = {}  # the bytes of each list of names as domains
    mains = {variant: rows[variant].to_numpy(np.int64) for variant in ("main_same", "main_other")}
    keys = zip(rows["service"].tolist(), rows["port"].tolist(), rows["opens"].tolist(), strict=True)
    for k, (service, port, opens) in enumerate(keys):
        if opens:
            if service not in seen_by:
                one, none, row = np.ones(1), np.zeros(1), np.array([service])
                seen_by[service] = [seen.by_namespace(row, one, none), seen.by_namespace(row, none, one)]
            homes = seen_by[service]
        else:
            homes = seen.riding(rows.iloc[[k]].assign(one=1, none=0), openers, variants)
        scopes = np.unique(scope[(homes[0] + homes[1]) > 0]).tolist()
        if not scopes:  # no workload here gets its virtual host
            continue
        for s in scopes:
            if (s, service, port) not in priced:
                names = aliases.aliases.with_prefixes(service, aliases.for_scope(s, service, port))
                if names not in entries:  # shared by scopes alike: priced once
                    entries[names] = sum(domain_entry(name) for name in names)
                priced[(s, service, port)] = (entries[names], len(names))
        position = np.searchsorted(np.asarray(scopes), scope).clip(0, len(scopes) - 1)
        sizes = np.array([priced[(s, service, port)][0] for s in scopes], np.int64)[position]
        counts = np.array([priced[(s, service, port)][1] for s in scopes], np.int64)[position]
        twin = _sees_later_twin(prices, seen, service, port)  # its virtual host gives way there
        for home, variant in zip(homes, ("main_same", "main_other"), strict=True):
            main = int(mains[variant][k])
            if main == 0:  # no virtual host of its own here
                continue
            gets = (home > 0) if twin is None else (home > 0) & ~twin
            out["rds_bytes"] += np.where(gets, vhost_field(main + sizes) - vhost_field(np.asarray(main)), 0)
            out["domains"] += np.where(gets, counts, 0)
    return out


def _per_workload(
    prices: OutboundPrices,
    seen: Visibility,
    tau: np.ndarray,
    allow: np.ndarray,
    openers: pd.DataFrame | None = None,
    workload_ids: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Outbound totals per workload, for the proxies of one family class (``allow``: per workload,
    whether its outbound traffic policy is ALLOW_ANY). Sniffed ports' virtual hosts join the shared
    route configurations HTTP ports open among all the services a workload sees: ``openers``, the
    HTTP rows of the whole mesh's prices where ``prices`` holds only some services.
    ``workload_ids``: the ``workloads`` row of each of ``seen``'s (default: all, in order)."""
    workloads = len(allow)
    per_service = prices.per_service

    def summed(metric: str) -> np.ndarray:
        values = per_service[metric].to_numpy()
        if not is_failover_metric(metric):
            return (seen.cluster_total if metric in _CLUSTER_METRICS else seen.total)(values)
        # One per locality proxies run in, all zero where no set in the view fails over: summed only if not.
        return seen.cluster_total(values) if values.any() else np.zeros(workloads, np.int64)

    total = {m: summed(m) for m in per_service.columns}
    opens = prices.http["opens"].to_numpy(bool)
    http = prices.http[opens]
    riders = prices.http[~opens]
    opening = http if openers is None else openers  # what opens route configurations, mesh-wide where given
    ridden = dict(
        zip(
            ["vhost", "vhosts", "domains", *ROUTE_COUNTS],
            seen.riding(
                riders,
                opening,
                [("vhost_same", "vhost_other"), ("vhosts", "vhosts"), ("domains_same", "domains_other")]
                + [(name, name) for name in ROUTE_COUNTS],
            ),
            strict=True,
        )
    )
    gone = _case_twin_drops(prices, seen, opening)
    named = _alias_domains(prices, seen, opening, np.arange(workloads) if workload_ids is None else workload_ids)
    groups = seen.groups(http)
    g = groups["group"].to_numpy()
    w = groups["workload"].to_numpy()

    def over_groups(values: np.ndarray) -> np.ndarray:
        return np.bincount(w, weights=values[g], minlength=workloads).astype(np.int64)

    present = np.bincount(w, minlength=workloads)
    service = http["service"].to_numpy()
    auto = np.zeros(workloads, np.int64)
    http_listeners = np.zeros(workloads, np.int64)
    route_bytes = np.zeros(workloads, np.int64)
    for policy, values in prices.group_route_bytes.items():
        route_bytes = np.where(allow == policy, over_groups(values), route_bytes)
    for key in prices.auto_listener_bytes:  # the tracing classes of workloads that have proxies
        mine = tau == key
        auto[mine] = seen.total(prices.auto_listener_bytes[key])[mine]
        for policy in prices.group_route_bytes:
            chosen = mine & (allow == policy)
            http_listeners[chosen] = over_groups(prices.group_listener_bytes[(key, policy)])[chosen]
    http_listeners += _grpc_web_filters(prices, seen, opening, groups, tau, allow)
    zeros = np.zeros(workloads, np.int64)
    vhosts = http["vhosts"].to_numpy()  # 0 where a family copy kept none of a VirtualService's routes
    # Whether a chain joins an HTTP listener depends on every HTTP port the workload sees.
    wild = _wildcard(prices, seen, _who_http_ports(seen, opening), allow)
    shadowed = _shadowed(prices, seen, tau, allow)
    found = {
        "lds_resources": total.get("lds_resources", zeros) + present + wild["listeners"],
        "lds_bytes": total.get("lds_bytes", zeros)
        + auto
        + http_listeners
        + wild["bytes"]
        + np.where(allow != prices.listener_policy, total.get(TLS_FALLTHROUGH_DELTA, zeros), 0),
        "cds_resources": total["cds_resources"],
        "cds_bytes": total["cds_bytes"],
        **{name: total[name] for name in CLUSTER_OBJECTS},
        "rds_resources": total.get("rds_resources", zeros) + present,
        "rds_bytes": total.get("rds_bytes", zeros)
        + route_bytes
        + seen.by_namespace(service, http["vhost_same"].to_numpy(), http["vhost_other"].to_numpy())
        + ridden["vhost"]
        - gone["rds_bytes"]
        + named["rds_bytes"],
        "eds_resources": total["eds_resources"],
        "eds_bytes": total["eds_bytes"],
        "listener_additional_addresses": total.get("listener_additional_addresses", zeros)
        + over_groups(prices.groups["listener_additional_addresses"].to_numpy())
        + wild["additional"],
        "filter_chains": total.get("filter_chains", zeros)
        + 2 * present  # an HTTP listener: its chain and the default
        + wild["chains"],
        "virtual_hosts": total.get("virtual_hosts", zeros)
        + present
        + seen.by_namespace(service, vhosts, vhosts)
        + ridden["vhosts"]
        - gone["virtual_hosts"],
        "domains": total.get("domains", zeros)
        + present
        + seen.by_namespace(service, http["domains_same"].to_numpy(), http["domains_other"].to_numpy())
        + ridden["domains"]
        - gone["domains"]
        + named["domains"],
        # Each route configuration's catch-all virtual host has one route (passthrough or 502),
        # which holds nothing more.
        **{
            name: total.get(name, zeros)
            + (present if name == "routes" else 0)
            + seen.by_namespace(service, http[name].to_numpy(), http[name].to_numpy())
            + ridden[name]
            - gone[name]
            for name in ROUTE_COUNTS
        },
        "locality_groups": total["locality_groups"],
        "endpoints": total["endpoints"],
        "endpoint_additional_addresses": total["endpoint_additional_addresses"],
        **{m: value for m, value in total.items() if is_failover_metric(m)},
    }
    for metric, value in shadowed.items():
        found[metric] = found[metric] - value
    return found


def class_prices(
    cluster: Cluster,
    cols: ClusterColumns,
    design: Design,
    proxy: ProxyFacts,
    taus: list[int],
    *,
    entries: bool = True,
    entry_services: np.ndarray | None = None,
    policies: tuple[bool, ...] | None = None,
) -> OutboundPrices:
    """What each service adds to a ``proxy``-family sidecar that sees it, under the scenario's mesh
    settings; its route groups under each of ``policies`` (ALLOW_ANY or not; default the mesh's);
    ServiceEntry hosts where ``entries`` (those of ``entry_services``, if given)."""
    mesh = cluster.scenario.mesh
    prices = outbound_prices(
        cols,
        design,
        proxy,
        mtls=mesh.mtls != "DISABLE",
        policies=(mesh.outbound_traffic_policy == "ALLOW_ANY",) if policies is None else policies,
        mesh_id=mesh.trust_domain,
        taus=taus,
        entries=entries,
        entry_services=entry_services,
        listener_policy=mesh.outbound_traffic_policy == "ALLOW_ANY",
    )
    aliases = alias_scopes(cluster)
    return dataclasses.replace(prices, case_twins=cluster.istio.case_twins, aliases=aliases if aliases.any else None)


def _only(prices: OutboundPrices, services: np.ndarray) -> OutboundPrices:
    """``prices`` with every service but ``services`` priced at nothing."""
    keep = np.zeros(len(prices.per_service), bool)
    keep[services] = True
    return dataclasses.replace(
        prices,
        per_service=prices.per_service.where(pd.Series(keep, index=prices.per_service.index), 0),
        auto_listener_bytes={tau: np.where(keep, values, 0) for tau, values in prices.auto_listener_bytes.items()},
        http=prices.http[keep[prices.http["service"].to_numpy()]].reset_index(drop=True),
    )


def _view_deltas(
    cluster: Cluster,
    cols: ClusterColumns,
    design: Design,
    proxy: ProxyFacts,
    seen: Visibility,
    tau: np.ndarray,
    taus: list[int],
    allow: np.ndarray,
    openers: pd.DataFrame,
    class_wide: OutboundPrices,
) -> dict[str, np.ndarray]:
    """Per workload: what its viewer's view of the VirtualServices and DestinationRules
    (:mod:`dsim.cluster.object_views`: its namespace's, as its DestinationRule workloadSelectors
    and its routes' source conditions make it) changes in its outbound config against the base
    view the class prices (``class_wide``) hold. The services each view changes are priced in that
    view (every view in one pass: :func:`stacked_columns`) and in the base, by the same pricing;
    viewers with equal views share a group."""
    objects = mesh_objects(cluster)
    workloads = len(cluster.workloads)
    viewer = cluster.workload_viewers()
    policies = tuple(sorted(set(allow.tolist())))
    groups = [
        (services, mine, viewers[0])
        for services, viewers in objects.view_groups()
        if (mine := np.isin(viewer, viewers)).any()
    ]
    out: dict[str, np.ndarray] = {}
    if not groups:
        return out
    every = np.unique(np.concatenate([services for services, _, _ in groups]))
    base = class_prices(
        cluster, view_columns(cols, objects.base, every), design, proxy, taus, entries=False, policies=policies
    )
    stacked, real, group = stacked_columns(cols, [(objects.view(v), services) for services, _, v in groups])
    viewed = class_prices(cluster, stacked, design, proxy, taus, entries=False, policies=policies)
    is_entry = cluster.services["entry"].to_numpy() >= 0
    for g, (services, mine, v) in enumerate(groups):
        chosen = np.flatnonzero(mine)
        theirs = seen.restricted(chosen)
        unstacked = _unstacked(viewed, real, group == g, len(cols.host_length))
        changed = _per_workload(unstacked, theirs, tau[chosen], allow[chosen], openers, chosen)
        before = _per_workload(_only(base, services), theirs, tau[chosen], allow[chosen], openers, chosen)
        entries = services[is_entry[services]]
        # ServiceEntry hosts are priced from their messages (accounting/entries.py), in this view and in the base;
        # view_columns of entries alone holds no Service port.
        for view, sign in ((objects.view(v), 1), (objects.base, -1)) if len(entries) else ():
            alone = view_columns(cols, view, entries)
            priced = class_prices(cluster, alone, design, proxy, taus, entry_services=entries, policies=policies)
            priced = _among_every_wildcard_chain(priced, class_wide, entries)
            for metric, value in _per_workload(priced, theirs, tau[chosen], allow[chosen], openers, chosen).items():
                changed[metric] = changed[metric] + sign * value
        for metric, value in changed.items():
            out.setdefault(metric, np.zeros(workloads, np.int64))[chosen] += value - before[metric]
    return out


def _among_every_wildcard_chain(
    priced: OutboundPrices, class_wide: OutboundPrices, entries: np.ndarray
) -> OutboundPrices:
    """``priced`` (``entries`` alone, in some view) with the wildcard-listener chains of every other
    entry as ``class_wide`` (the base view) has them: whether a chain stays depends on the chains and
    HTTP ports before it on its listener (:func:`_wildcard`), so a view's chain is priced among them
    all, in that view and in the base alike, and their difference is the view's."""
    if not len(class_wide.wildcard):
        return priced
    others = class_wide.wildcard[~class_wide.wildcard["service"].isin(entries)]
    return dataclasses.replace(
        priced,
        wildcard=pd.concat([others, priced.wildcard], ignore_index=True),
        wildcard_groups=pd.concat(
            [class_wide.wildcard_groups, priced.wildcard_groups], ignore_index=True
        ).drop_duplicates(["port", "suffix"]),
    )


def _unstacked(prices: OutboundPrices, real: np.ndarray, pick: np.ndarray, services: int) -> OutboundPrices:
    """The stand-ins ``pick`` of stacked ``prices`` (:func:`stacked_columns`) as prices of their
    real services (every other service priced at nothing)."""
    rows = np.flatnonzero(pick)
    per_service = pd.DataFrame(0, index=np.arange(services), columns=prices.per_service.columns, dtype=np.int64)
    per_service.iloc[real[rows]] = prices.per_service.iloc[rows].to_numpy()
    http = prices.http[pick[prices.http["service"].to_numpy()]]
    return dataclasses.replace(
        prices,
        per_service=per_service,
        auto_listener_bytes={
            tau: np.bincount(real[rows], weights=values[rows], minlength=services).astype(np.int64)
            for tau, values in prices.auto_listener_bytes.items()
        },
        http=http.assign(service=real[http["service"].to_numpy()]).reset_index(drop=True),
    )


def egress_layout_groups(
    cluster: Cluster, proxy_class: np.ndarray, tau: np.ndarray, allow: np.ndarray
) -> dict[tuple[int, ...], list[int]]:
    """The proxies with an egress layout (port listeners, or trimmed destinations), by what their
    outbound config depends on: (Sidecar, viewer, family class, tracing class, outbound traffic
    policy, locality, the pod where a host listens on it per endpoint); the viewer
    (:meth:`dsim.cluster.Cluster.workload_viewers`) fixes the namespace."""
    layouts = cluster.istio.egress_layouts
    if not layouts:
        return {}
    sidecar_of = cluster.workload_sidecars()
    workloads = cluster.proxies["workload"].to_numpy()
    chosen = np.flatnonzero(np.isin(workloads, list(layouts)))
    w = workloads[chosen]
    pods = cluster.proxies["pod"].to_numpy()[chosen]
    keys = pd.DataFrame(
        {
            "sidecar": sidecar_of[w],
            "viewer": cluster.workload_viewers()[w],
            "class": proxy_class[chosen],
            "tau": tau[w],
            "allow": allow[w].astype(np.int64),
            # Endpoint sets that fail over are prioritised by the proxy's own locality (where some may).
            "locality": cluster.pods["locality"].to_numpy()[cluster.proxies["pod"].to_numpy()[chosen]]
            * may_fail_over(cluster),
            # A pod a host listens on per endpoint has no listener of its own there: its proxy alone.
            "own": np.where(np.isin(pods, list(per_endpoint_pods(index_for(cluster)))), pods, -1),
            "proxy": chosen,
        }
    )
    grouped = keys.groupby(["sidecar", "viewer", "class", "tau", "allow", "locality", "own"], sort=False)["proxy"]
    # Every key column is an integer column: each key is a tuple of integers.
    return {tuple(map(int, key)): members.tolist() for key, members in grouped}  # type: ignore[arg-type]


def proxy_classes(cluster: Cluster) -> np.ndarray:
    """Each proxy's family class (an index into :data:`PROXY_CLASSES`)."""
    pods = cluster.proxies["pod"].to_numpy()
    has4, has6 = cluster.pods["has_ipv4"].to_numpy()[pods], cluster.pods["has_ipv6"].to_numpy()[pods]
    return np.where(has4 & has6, 2, np.where(has4, 0, 1))


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class DesignAccounting:
    """One design's accounting of a cluster: every proxy's sizes and counts, and the prices per
    proxy family class they were summed from (the push model starts from the same)."""

    design: str
    """The design's name."""
    sizes: pd.DataFrame
    """Per proxy and xDS type: resources and bytes (as :data:`dsim.xds.sizes.SIZE_COLUMNS`)."""
    counts: pd.DataFrame
    """Per proxy: the object counts Envoy's memory depends on (:data:`COUNT_COLUMNS`)."""
    class_prices: dict[int, OutboundPrices]
    """Per proxy family class some proxy has (an index into :data:`PROXY_CLASSES`): what each
    service adds to its sidecars, for the tracing classes of the workloads that have proxies."""


def vectorized_sizes(cluster: Cluster, design: Design) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per proxy under ``design``: sizes by xDS type (as :data:`dsim.xds.sizes.SIZE_COLUMNS`) and
    the object counts Envoy's memory depends on (:data:`COUNT_COLUMNS`)."""
    accounting = design_accounting(cluster, design)
    return accounting.sizes, accounting.counts


def design_accounting(cluster: Cluster, design: Design, cols: ClusterColumns | None = None) -> DesignAccounting:
    """:func:`vectorized_sizes` with the class prices behind them (``cols``: the cluster's
    columns, if the caller has them)."""
    cols = cluster_columns(cluster) if cols is None else cols
    mesh = cluster.scenario.mesh
    seen = Visibility.of(cluster, cols)
    tau = workload_tracing_classes(cols)
    own_side = own_rows(cluster, cols)
    pods = cluster.proxies["pod"].to_numpy()
    proxy_class = proxy_classes(cluster)
    proxy_workload = cluster.proxies["workload"].to_numpy()
    proxy_locality = cluster.pods["locality"].to_numpy()[pods]
    failing = may_fail_over(cluster)
    taus = np.unique(tau[proxy_workload]).tolist()
    allow = allow_any_by_workload(cluster)
    row_allow = allow[own_side.workload]
    policies = tuple(sorted(set(allow[proxy_workload].tolist())))
    from_messages = np.isin(proxy_workload, list(cluster.istio.egress_layouts))  # by_messages.py prices them
    metrics: dict[str, np.ndarray] = {}
    own_per_proxy: dict[str, np.ndarray] = {}
    priced: dict[int, OutboundPrices] = {}
    for k in np.unique(proxy_class).tolist():
        facts = ProxyFacts(families=PROXY_CLASSES[k])
        prices = priced[k] = class_prices(cluster, cols, design, facts, taus, policies=policies)
        outbound = _per_workload(prices, seen, tau, allow)
        openers = prices.http[prices.http["opens"].to_numpy(bool)]
        for metric, delta in _view_deltas(
            cluster, cols, design, facts, seen, tau, taus, allow, openers, prices
        ).items():
            outbound[metric] = outbound[metric] + delta
        http_ports = _http_ports(seen, openers)
        for deltas in (port80_deltas, cross_port_deltas):
            for metric, delta in deltas(cluster, design, facts, seen, http_ports).items():
                outbound[metric] = outbound[metric] + delta
        # Every outbound chain holds one connection manager or tcp_proxy, each with the mesh's access log.
        chains = outbound["filter_chains"]
        outbound["access_logs"] = chains if cols.access_logging is not None else np.zeros_like(chains)
        own_side_metrics: dict[str, np.ndarray] = {}
        for policy in policies:
            own = inbound_prices(
                cols, own_side, design, facts, mtls=mesh.mtls, allow_any=policy, trust_domain=mesh.trust_domain
            )
            for metric, value in own.metrics().items():
                chosen = np.where(row_allow == policy, value, 0)
                own_side_metrics[metric] = own_side_metrics.get(metric, np.zeros(len(row_allow), np.int64)) + chosen
        mine = proxy_class == k
        rows = own_side.proxy_row[mine]
        for metric, values in outbound.items():
            if is_failover_metric(metric):
                continue
            value = np.asarray(values)[proxy_workload[mine]]
            if metric in own_side_metrics:
                value = value + own_side_metrics[metric][rows]
            metrics.setdefault(metric, np.zeros(len(pods), np.int64))[mine] = value
        # What endpoint sets that fail over add depends on the proxy's own locality, not its workload's.
        for at in np.unique(proxy_locality[mine]).tolist() if failing else ():
            chosen = np.flatnonzero(mine & (proxy_locality == at))
            for prefix, target in FAILOVER_TARGETS.items():
                summed = metrics.setdefault(target, np.zeros(len(pods), np.int64))
                summed[chosen] += outbound[failover_metric(prefix, at)][proxy_workload[chosen]]
        for metric, values in own_side_metrics.items():
            own_per_proxy.setdefault(metric, np.zeros(len(pods), np.int64))[mine] = values[rows]
        own_endpoints = own_endpoint_deltas(
            cluster,
            design,
            facts,
            seen,
            np.flatnonzero(mine & ~from_messages),  # those priced from their messages skip their own already
            tau=tau,
            allow=allow,
            listener_policy=prices.listener_policy,
            logged=cols.access_logging is not None,
        )
        for metric, delta in own_endpoints.items():
            metrics[metric] = metrics.get(metric, np.zeros(len(pods), np.int64)) + delta
    replace_message_priced_proxies(
        cluster, design, metrics, own_per_proxy, egress_layout_groups(cluster, proxy_class, tau, allow), _COUNT_SOURCE
    )
    proxies = np.arange(len(pods))
    zeros = np.zeros(len(pods), np.int64)
    # Every access log has the mesh's one format.
    operators = cols.access_logging.operators if cols.access_logging is not None else 0
    metrics["access_log_operators"] = metrics.get("access_logs", zeros) * operators
    sizes = pd.concat(
        [
            pd.DataFrame(
                {
                    "design": design.name,
                    "proxy": proxies,
                    "xds_type": name,
                    "resources": metrics.get(f"{short}_resources", zeros),
                    "bytes": metrics.get(f"{short}_bytes", zeros),
                }
            )
            for name, short in XDS_SHORT.items()
        ],
        ignore_index=True,
    ).sort_values(["proxy"], kind="stable", ignore_index=True)
    counts = pd.DataFrame({"design": design.name, "proxy": proxies})
    for column in COUNT_COLUMNS:
        counts[column] = metrics.get(_COUNT_SOURCE.get(column, column), zeros)
    return DesignAccounting(design=design.name, sizes=sizes, counts=counts, class_prices=priced)
