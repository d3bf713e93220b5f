"""What a cluster's VirtualServices and DestinationRules build, per service: the routes of a
virtual host, the rule and policy of a cluster. Both the protobuf path (:mod:`dsim.xds.generate`)
and the vectorized accounting (:mod:`dsim.accounting.outbound`) ask this one place, so the two
agree by construction on which routes and policies exist; each then builds or prices them.

Routes depend on the VirtualService, the listener port, the route configuration's family suffix
and the design's answer for each destination's family copy (``docs/istio-objects.md`` 1.11): they
are built once per such key and shared by every proxy that asks (istiod caches routes the same way).
"""

from __future__ import annotations

import functools
import weakref

import numpy as np
from envoy.config.route.v3 import route_components_pb2 as rc

from dsim.cluster import Cluster
from dsim.cluster.istio import resolve_host
from dsim.designs.base import Design, ProxyFacts, ServiceFacts
from dsim.scenario.istio.virtual_service import Destination
from dsim.wire import tag_size, varint_size
from dsim.xds.names import cluster_name
from dsim.xds.policy import ClusterPolicy, destination_hash, effective_policy, hash_policy
from dsim.xds.routes import vhost_objects
from dsim.xds.vs_routes import DestinationCluster, Target, config_path, http_routes

ROUTES_FIELD = 3  # VirtualHost.routes


class MeshObjects:
    """The VirtualServices and DestinationRules of one cluster, by service."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        hosts = cluster.service_hosts().tolist()
        self.service_of_host = {host: i for i, host in enumerate(hosts)}
        self.families = [tuple(f.split(",")) for f in cluster.services["ip_families"].astype(str).tolist()]
        ports = cluster.service_ports
        counts = np.bincount(ports["service"].to_numpy(), minlength=len(cluster.services))
        first: dict[int, int] = {}
        for service, number in zip(ports["service"].tolist(), ports["port"].tolist(), strict=True):
            first.setdefault(service, number)
        self.only_port = {s: first[s] for s in np.flatnonzero(counts == 1).tolist()}
        hosts_table = cluster.virtual_service_hosts
        self.vs_of_service: dict[int, int] = dict(
            zip(hosts_table["service"].tolist(), hosts_table["virtual_service"].tolist(), strict=True)
        )
        rules = cluster.destination_rules
        shaping = rules[rules["shapes"].to_numpy()]
        self.rule_of_service: dict[int, int] = dict(
            zip(shaping["service"].tolist(), shaping.index.tolist(), strict=True)
        )
        self.domain = cluster.scenario.mesh.cluster_domain
        self.policy_list: list[ClusterPolicy] = []
        self._policy_ids: dict[ClusterPolicy, int] = {}
        self.hash_list: list[rc.RouteAction.HashPolicy] = []
        self._hash_ids: dict[bytes, int] = {}

    def policy_id(self, policy: ClusterPolicy) -> int:
        """A number for each distinct policy (its index in :attr:`policy_list`)."""
        if policy not in self._policy_ids:
            self._policy_ids[policy] = len(self.policy_list)
            self.policy_list.append(policy)
        return self._policy_ids[policy]

    def rule(self, service: int) -> str:
        """The ``istio.config`` path of the rule shaping ``service``'s clusters (``""``: none)."""
        r = self.rule_of_service.get(service)
        if r is None:
            return ""
        rule = self.cluster.istio.destination_rules[r]
        return config_path("destination-rule", rule.namespace, rule.name)

    @functools.cache  # noqa: B019 — lives as long as its cluster; caching is the point
    def policy(self, service: int, subset: str, port: int) -> ClusterPolicy | None:
        """The traffic policy of ``service``'s cluster of ``port`` and ``subset`` (``None``: no rule)."""
        r = self.rule_of_service.get(service)
        if r is None:
            return None
        policy = effective_policy(self.cluster.istio.destination_rules[r].spec, subset, port)
        return None if policy == ClusterPolicy() else policy

    @functools.cache  # noqa: B019
    def destination_hash(self, service: int, subset: str, port: int | None) -> rc.RouteAction.HashPolicy | None:
        """The hash policy a route to ``service`` (``subset``, the route's own ``port`` or ``None``)
        gets from the rule shaping it (``None``: no rule, or no consistent hash)."""
        r = self.rule_of_service.get(service)
        if r is None:
            return None
        return hash_policy(destination_hash(self.cluster.istio.destination_rules[r].spec, subset, port))

    def hash_id(self, service: int, port: int) -> int:
        """The hash policy of ``service``'s default route on ``port``, as an index into
        :attr:`hash_list` (-1: none); equal policies share one."""
        found = self.destination_hash(service, "", port)
        if found is None:
            return -1
        key = found.SerializeToString(deterministic=True)
        if key not in self._hash_ids:
            self._hash_ids[key] = len(self.hash_list)
            self.hash_list.append(found)
        return self._hash_ids[key]

    def _cluster_of(self, namespace: str, suffix: str, design: Design, proxy: ProxyFacts) -> DestinationCluster:
        def cluster_of(destination: Destination, port: int) -> Target | None:
            host = resolve_host(destination.host, namespace, self.domain)
            service = self.service_of_host.get(host)
            number = destination.port.number if destination.port is not None else None
            if service is None:
                # A host outside the mesh names a cluster anyway; its family is unknown, so it
                # counts as IPv4 (the primary configuration's) (inferred).
                prefix: str | None = "outbound" if suffix == "" else None
                number = number or port
            else:
                facts = ServiceFacts(families=self.families[service], vips={})  # type: ignore[arg-type]
                copies = design.outbound_copies(_with_vips(facts), proxy)
                prefix = next((c.cluster_prefix for c in copies if c.route_suffix == suffix), None)
                number = number or self.only_port.get(service, port)
            if prefix is None:
                return None
            name = cluster_name(prefix, number, destination.subset or "", host)
            explicit = destination.port.number if destination.port is not None else None
            found = self.destination_hash(service, destination.subset or "", explicit) if service is not None else None
            return Target(name, f"{host}:{number}", found)

        return cluster_of

    @functools.cache  # noqa: B019
    def routes(self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts) -> tuple[rc.Route, ...]:
        """The routes VirtualService ``vs`` gives a virtual host in route configuration ``<port><suffix>``."""
        obj = self.cluster.istio.virtual_services[vs]
        return tuple(http_routes(obj, port, self._cluster_of(obj.namespace, suffix, design, proxy)))

    @functools.cache  # noqa: B019
    def routes_bytes(self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts) -> int:
        """Bytes those routes add to their virtual host (each a ``routes`` entry, tag and length)."""
        total = 0
        for route in self.routes(vs, port, suffix, design, proxy):
            size = route.ByteSize()
            total += tag_size(ROUTES_FIELD) + int(varint_size(size)) + size
        return total

    @functools.cache  # noqa: B019
    def routes_counts(self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts) -> dict[str, int]:
        """Those routes' count and what they hold (:func:`dsim.xds.routes.vhost_objects`: Envoy
        objects, not bytes)."""
        found = self.routes(vs, port, suffix, design, proxy)
        return vhost_objects([rc.VirtualHost(routes=found)])


def _with_vips(facts: ServiceFacts) -> ServiceFacts:
    # Designs read VIPs to name listeners; a destination's cluster prefix does not depend on them.
    return ServiceFacts(families=facts.families, vips=dict.fromkeys(facts.families, ""))


_OBJECTS: weakref.WeakKeyDictionary[Cluster, MeshObjects] = weakref.WeakKeyDictionary()


def mesh_objects(cluster: Cluster) -> MeshObjects:
    """The (cached) :class:`MeshObjects` of ``cluster``."""
    if cluster not in _OBJECTS:
        _OBJECTS[cluster] = MeshObjects(cluster)
    return _OBJECTS[cluster]
