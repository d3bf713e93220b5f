"""What an inbound cluster takes from the pod's service targets and their DestinationRules, per own
port: the bytes of its ``istio`` metadata (the services it lists, and the rule's config path), the
connection pool the rule gives it, or the proxy's Sidecar in its place (``docs/dual-stack-designs.md``,
inbound clusters; ``docs/istio-objects.md`` 2.2 and 4.7), and the port an original-destination one
sends to where its first target is a ``NONE`` ServiceEntry's port with a ``targetPort``
(``docs/istio-objects.md`` 3.10).

The metadata and the port override are each one top-level field of the cluster, so their bytes add to
the rest exactly; they are those of a real cluster holding only that field, with texts of the same
lengths (values, for the override), one per distinct list of lengths. The pool is an index into
:attr:`InboundRules.policies`, priced by the inbound templates.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
from envoy.config.cluster.v3 import cluster_pb2

from dsim.accounting.columns import ClusterColumns
from dsim.cluster import Cluster
from dsim.cluster.ingress import inbound_pool, pool_sidecars
from dsim.cluster.service_targets import mesh_external, port_overrides
from dsim.xds.clusters import inbound_metadata
from dsim.xds.mesh_objects import mesh_objects
from dsim.xds.policy import ClusterPolicy


@functools.lru_cache(maxsize=1 << 16)
def _override_bytes(port: int) -> int:
    cluster = cluster_pb2.Cluster()
    cluster.original_dst_lb_config.upstream_port_override.value = port
    return cluster.ByteSize()


def override_bytes(ports: np.ndarray) -> np.ndarray:
    """What ``original_dst_lb_config.upstream_port_override`` of each of ``ports`` adds to a cluster
    (0 where the port is 0: no override)."""
    values, inverse = np.unique(ports, return_inverse=True)
    sizes = np.array([_override_bytes(int(v)) if v else 0 for v in values.tolist()], np.int64)
    return sizes[inverse.ravel()]


@functools.lru_cache(maxsize=1 << 16)
def metadata_bytes(services: tuple[tuple[int, int, int], ...], rule: int) -> int:
    """What ``istio`` metadata listing services of these (host, name, namespace) byte lengths, and a
    rule path of ``rule`` bytes (0: none), adds to a cluster."""
    listed = [("h" * h, "n" * n, "s" * s) for h, n, s in services]
    return cluster_pb2.Cluster(metadata=inbound_metadata(listed, "r" * rule)).ByteSize()


@dataclasses.dataclass(kw_only=True, eq=False)
class InboundRules:
    """The DestinationRules the pods' services give their inbound clusters, found per (namespace,
    first listed service, service port)."""

    cluster: Cluster
    ids: dict[ClusterPolicy, int] = dataclasses.field(default_factory=dict)
    """The distinct connection pools, in order found, each with its index."""

    @property
    def policies(self) -> list[ClusterPolicy]:
        """The distinct connection pools, in order found (a policy index points into it)."""
        return list(self.ids)

    def in_scope(self, workload: np.ndarray, service: np.ndarray) -> np.ndarray:
        """``service`` per row, -1 where the Sidecar scope of the row's workload leaves it out: Istio
        looks rules up for the scope's services only (``selectDestinationRules``), so such a pod's
        inbound cluster takes no rule (:class:`dsim.xds.view.InboundPort` ``service``). Without
        Sidecars (``visibility`` stands in for them), every rule is looked up."""
        c = self.cluster
        if not c.istio.scoped:
            return service
        width = len(c.services) + 1
        held = c.scope["group"].to_numpy(np.int64) * width + c.scope["service"].to_numpy(np.int64)
        group = c.workload_scope_groups()[workload.astype(np.int64)]
        return np.where((group >= 0) & np.isin(group * width + service, held), service, -1)

    def lookup(self, namespace: np.ndarray, service: np.ndarray, port: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the rule path's bytes (0: none) and the policy (index into :attr:`policies`; -1:
        none) the rule shaping ``service`` (-1: no service) gives its inbound cluster of ``port``, as
        proxies of ``namespace`` look rules up (:meth:`dsim.xds.mesh_objects.ObjectView.inbound_rule`)."""
        objects = mesh_objects(self.cluster)
        entry = np.full(len(service), -1, np.int64)  # the rule entry each row's view gives its service
        order = np.argsort(namespace, kind="stable")
        values, starts = np.unique(namespace[order], return_index=True)
        for ns, rows in zip(values.tolist(), np.split(order, starts[1:]) if len(order) else [], strict=True):
            found = objects.view(ns).rule_of_service
            entry[rows] = [found.get(s, -1) for s in service[rows].tolist()]
        rule = np.zeros(len(service), np.int64)
        policy = np.full(len(service), -1, np.int64)
        ruled = np.flatnonzero(entry >= 0)
        pairs, inverse = np.unique(np.column_stack([entry[ruled], port[ruled]]), axis=0, return_inverse=True)
        paths, ids = np.zeros(len(pairs), np.int64), np.full(len(pairs), -1, np.int64)
        for k, (e, p) in enumerate(pairs.tolist()):  # once per distinct (rule entry, port)
            path, pool = objects.inbound_rule(e, p)
            paths[k] = len(path.encode())
            if pool is not None:
                ids[k] = self.ids.setdefault(pool, len(self.ids))
        rule[ruled], policy[ruled] = paths[inverse.ravel()], ids[inverse.ravel()]
        return rule, policy

    def first_target(self, service: np.ndarray, port: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per inbound cluster whose first target is ``service`` (-1: none) on service ``port``:
        whether it lists services at all (not when that is a ``MESH_EXTERNAL`` entry's host,
        ``addTelemetryMetadata``), and the port an original-destination one sends to (0: its own;
        :func:`dsim.cluster.service_targets.port_overrides`)."""
        listing = service >= 0
        listing[listing] = ~mesh_external(self.cluster)[service[listing]]
        overrides = port_overrides(self.cluster)
        if not overrides:
            return listing, np.zeros(len(service), np.int64)
        table = pd.DataFrame([(*key, target) for key, target in overrides.items()], columns=["service", "port", "to"])
        found = pd.DataFrame({"service": service, "port": port}).merge(table, on=["service", "port"], how="left")
        return listing, found["to"].fillna(0).to_numpy().astype(np.int64)

    def with_sidecar_pools(self, workload: np.ndarray, port: np.ndarray, policy: np.ndarray) -> np.ndarray:
        """``policy`` (per row, from :meth:`lookup`) with the pool each row's workload's Sidecar gives
        its inbound cluster of ``port`` in its place, where it gives one
        (:func:`dsim.cluster.ingress.inbound_pool`; :class:`dsim.xds.view.InboundPort` ``pool``),
        asked once per (Sidecar, port)."""
        sidecar = pool_sidecars(self.cluster)[workload]
        rows = np.flatnonzero(sidecar >= 0)
        if not rows.size:
            return policy
        pairs, inverse = np.unique(np.column_stack([sidecar[rows], port[rows]]), axis=0, return_inverse=True)
        replaced = np.full(len(pairs), -1, np.int64)
        for k, (row, number) in enumerate(pairs.tolist()):
            pool = inbound_pool(self.cluster.istio.sidecars[row].spec, number)
            if pool is not None:
                replaced[k] = self.ids.setdefault(ClusterPolicy(connection_pool=pool), len(self.ids))
        out = policy.copy()
        by_row = replaced[inverse.ravel()]
        out[rows] = np.where(by_row >= 0, by_row, policy[rows])
        return out


def _priced(lengths: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """:func:`metadata_bytes` of single-service lists (``lengths``: rows of host, name, namespace
    lengths), computed once per distinct row."""
    keys = np.column_stack([lengths, rule])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    values = np.array([metadata_bytes((tuple(map(int, k[:3])),), int(k[3])) for k in unique], np.int64)
    return values[inverse.ravel()]


def _lengths(cols: ClusterColumns, service: np.ndarray) -> np.ndarray:
    return np.stack([cols.host_length[service], cols.name_length[service], cols.namespace_length[service]], axis=1)


def port_metadata(
    cols: ClusterColumns, pairs: pd.DataFrame, rules: InboundRules, namespace: np.ndarray
) -> pd.DataFrame:
    """Per (workload, target port) of ``pairs`` (every workload's service targets' ports, in order):
    the ``metadata`` bytes, ``policy`` and port ``override`` of its inbound cluster, which lists the
    targets with a port of that target port and the first's service port, each host once
    (:func:`dsim.xds.view.telemetry_services`), and takes the first's rule (``namespace``: per
    workload)."""
    keys = ["workload", "target_port"]
    first_port = pairs.groupby(keys, sort=False)["port"].transform("first").to_numpy()
    listed = pairs[pairs["port"].to_numpy() == first_port]
    listed = listed.assign(host_id=cols.host_id[listed["service"].to_numpy()]).drop_duplicates([*keys, "host_id"])
    groups = listed.drop_duplicates(keys, keep="first")  # the order groupby(sort=False) keeps too
    count = listed.groupby(keys, sort=False).size().to_numpy()
    workload, service, port = groups["workload"].to_numpy(), groups["service"].to_numpy(), groups["port"].to_numpy()
    rule, policy = rules.lookup(namespace[workload], rules.in_scope(workload, service), port)
    listing, override = rules.first_target(service, port)
    single = listing & (count == 1)
    metadata = np.zeros(len(groups), np.int64)
    metadata[single] = _priced(_lengths(cols, service[single]), rule[single])
    several = listing & (count > 1)
    if several.any():  # several services on one port (rare): each list priced whole
        members = listed.merge(groups[keys][several], on=keys)
        lengths = map(tuple, _lengths(cols, members["service"].to_numpy()).tolist())
        lists = members[keys].assign(t=list(lengths)).groupby(keys, sort=False)["t"].agg(tuple)
        for k in np.flatnonzero(several).tolist():
            metadata[k] = metadata_bytes(lists[(workload[k], groups["target_port"].iat[k])], int(rule[k]))
    return pd.DataFrame(
        {
            "workload": workload,
            "target_port": groups["target_port"].to_numpy(),
            "metadata": metadata,
            "policy": policy,
            "override": override,
        }
    )


def ingress_metadata(
    cols: ClusterColumns,
    firsts: pd.DataFrame,
    rules: InboundRules,
    workload: np.ndarray,
    namespace: np.ndarray,
    number: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per Sidecar ingress port (its ``workload``, their ``namespace``, port ``number``; ``firsts`` the
    first service target of each (workload, target port)): the ``metadata`` bytes, ``policy`` and port
    override of its inbound cluster, which lists the first target with a port of that target port
    (``findOrCreateService``) and takes its rule; with none, a stand-in marked mesh-external: no
    metadata and no rule."""
    matched = pd.DataFrame({"workload": workload, "target_port": number}).merge(
        firsts[["workload", "target_port", "service"]], on=["workload", "target_port"], how="left"
    )
    service = matched["service"].fillna(-1).to_numpy().astype(np.int64)
    rule, policy = rules.lookup(namespace, rules.in_scope(workload, service), number)
    # Istio builds the cluster with the listener's port as the service port: the override is that port's.
    listing, override = rules.first_target(service, number)
    metadata = np.zeros(len(service), np.int64)
    if listing.any():
        metadata[listing] = _priced(_lengths(cols, service[listing]), rule[listing])
    return metadata, policy, override
