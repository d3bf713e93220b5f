"""What calibration feeds Envoy: synthetic meshes chosen so the fit can tell every object's cost
from every other's.

Each point is a scenario (services, protocol mix, IP families, replicas, ports per service,
subsets, zones) and the workload certificate profile the sidecar is served; the measured sidecar
is the first pod of the first workload.

The quick plan is a fixed seeded sample of small meshes (one certificate profile, one zone). The
full plan is a D-optimal design: from a seeded pool of candidate meshes it picks, greedily and
then by exchange, the meshes that maximise Σ over designs of log det(XᵀX), X being the
standardised object counts (every fitted term and an intercept) of each design's measured
sidecar. That is the design that makes the terms' joint confidence region smallest, and so keeps
every term's variance inflation factor (VIF) low: a term that moves with another (as additional
addresses with endpoints, when every pod is dual-stack) cannot be priced apart from it. Scale
points of 1,000 to 5,000 services are added (chosen for low VIFs: :data:`SCALE_POINTS`), meshes
with Istio's own objects laid out by hand (VirtualServices: :data:`ROUTE_POINTS`, and with route
actions: :data:`ACTION_POINTS`; DestinationRule policies and ServiceEntries: :data:`POLICY_POINTS`),
and each other certificate profile gets its own smaller D-optimal subset of the small meshes. All
of it is deterministic: the same plan on every run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dsim.calibration.certificate_profiles import (
    CERTIFICATE_PROFILES,
    DEFAULT_CERTIFICATE_PROFILE,
    LEGACY_CERTIFICATE_PROFILE,
)
from dsim.calibration.model import ZONE_TERM, memory_terms
from dsim.cluster import Cluster, build_cluster
from dsim.randomness import generator
from dsim.scenario import scenario_from_dict

_PROTOCOLS: dict[str, dict[str, float]] = {
    "http": {"http": 1.0, "grpc": 0.0, "tcp": 0.0},
    "tcp": {"http": 0.0, "grpc": 0.0, "tcp": 1.0},
    "mixed": {"http": 0.5, "http2": 0.05, "grpc": 0.15, "tcp": 0.2, "auto": 0.1},
}
_FAMILIES: dict[str, dict[str, float]] = {
    "ipv4": {"ipv4": 1.0, "dual_ipv4_primary": 0.0},
    "dual": {"ipv4": 0.0, "dual_ipv4_primary": 1.0},
    # Half the services dual-stack: additional addresses then stop moving in step with the
    # listeners, clusters and endpoints they belong to.
    "mixed": {"ipv4": 0.5, "dual_ipv4_primary": 0.5},
}
MAX_ZONES = 3
NAME_ROOM = 63  # a scenario name is a Kubernetes name (an RFC 1123 label: dsim.scenario.convert)
DR_POLICIES: dict[str, dict[str, Any]] = {
    "pool": {"connection_pool": 1.0},
    "outlier": {"outlier_detection": 1.0},
    "ring_hash": {"load_balancer": "consistent_hash"},
    "disable": {"tls_mode": "DISABLE"},
    "nofailover": {"locality_failover": False},
}
"""The DestinationRule policies a calibration mesh's rules can carry (``istio_objects.destination_rules``)."""
_LONG_FORMAT = " ".join(f"%REQ(X-FIELD-{i})% %RESP(X-FIELD-{i})%" for i in range(24))
ACCESS_LOG_FORMATS: dict[str, dict[str, str]] = {
    "text": {"access_log_file": "/dev/stdout"},
    "json": {"access_log_file": "/dev/stdout", "access_log_encoding": "JSON"},
    "short": {"access_log_file": "/dev/stdout", "access_log_format": "[%START_TIME%] %RESPONSE_CODE%"},
    "long": {"access_log_file": "/dev/stdout", "access_log_format": _LONG_FORMAT},
}
"""The access logs a calibration mesh can have (``mesh.access_log_*``): Istio's default text and JSON
formats (24 command operators each, as the ``demo`` profile and a JSON-encoding mesh write them), a
short text format of 2 operators and a long one of 48, so that an access log's price and its
operators' come apart."""
MESH_RETRIES: dict[str, dict[str, Any]] = {
    "off": {"default_http_retry_policy": {"attempts": 0}},
    "remote": {"default_http_retry_policy": {"attempts": 2, "retryRemoteLocalities": True}},
    "rich": {
        "default_http_retry_policy": {
            "attempts": 3,
            "retryOn": "5xx,gateway-error,reset,503",
            "perTryTimeout": "2s",
            "retryRemoteLocalities": True,
            "backoff": "50ms",
        }
    },
}
"""The mesh retry policies a calibration mesh can have (``mesh.default_http_retry_policy``): ``off``
leaves every route that sets no retries of its own without a retry policy; ``remote`` is Istio's
default policy (2 attempts) with a retry priority (``retryRemoteLocalities``, ``retry_priorities``);
``rich`` sets every field besides, only on a mesh held out of every fit (:data:`HELD_OUT_POINTS`): a
retry policy's other fields are not priced."""
MESH_KEEPALIVES: dict[str, dict[str, Any]] = {
    "bare": {"tcp_keepalive": {}},
    "time": {"tcp_keepalive": {"time": "300s"}},
    "probes": {"tcp_keepalive": {"probes": 5, "interval": "30s"}},
    "full": {"tcp_keepalive": {"probes": 9, "time": "7200s", "interval": "75s"}},
    "idle": {"tcp_keepalive": {"time": "600s", "interval": "60s"}},
}
"""The mesh TCP keepalives a calibration mesh can have (``mesh.tcp_keepalive``), on every cluster but the
black hole: with none of its fields (the OS's settings), one, two and all three, so that each socket
option Envoy builds for it (``keepalive_options``: one more than the fields) varies apart from the
clusters; ``idle`` (``time`` and ``interval``, a combination no plan mesh has) only on a mesh held out
of every fit (:data:`HELD_OUT_POINTS`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlanPoint:
    """One calibration mesh, and the certificate profile its sidecar is served."""

    services: int
    protocols: str
    families: str
    replicas: int
    ports: int
    subsets: float
    zones: int = 1
    """Zones pods are spread over (one region); each extra zone an endpoint set reaches adds a
    locality group to it."""
    certificate: str = DEFAULT_CERTIFICATE_PROFILE
    vs_share: float = 0.0
    """Share of services with a generated VirtualService (``istio_objects.virtual_services``)."""
    vs_routes: int = 1
    """HTTP routes per VirtualService (one match each but the last)."""
    vs_destinations: int = 1
    """Weighted destinations per route, over the service's subsets (one where it has none)."""
    vs_match: str = "uri_prefix"
    """What every match of its routes tests (``istio_objects.virtual_services.match_kinds``)."""
    vs_matches_per_route: int = 1
    """Matches of every route but the last (Istio makes each match a route of its own)."""
    vs_headers: int = 0
    """Request headers every route sets (``istio_objects.virtual_services.request_headers``)."""
    vs_removed_headers: int = 0
    """Request headers every route removes (``removed_headers``)."""
    vs_actions: str = ""
    """What every route also does, ``+``-joined: ``fault``, ``cors``, ``mirror`` (the generator's flags)."""
    dr_share: float = 0.0
    """Share of services with a generated DestinationRule carrying :attr:`dr_policy`."""
    dr_policy: str = ""
    """Its traffic policy, ``+``-joined parts of :data:`DR_POLICIES`."""
    dr_subsets: int = 0
    """Its version subsets (each a cluster of its own, with the rule's policy)."""
    se_count: int = 0
    """Generated ServiceEntries (outside the mesh: plaintext clusters), half on HTTP, half on TLS ports."""
    se_resolution: str = "static"
    """Their resolution: ``static``, ``dns`` or ``none``."""
    se_endpoints: int = 1
    """Endpoints of each (STATIC: IPs, priced as endpoints; DNS: names, which the measured Envoy cannot resolve)."""
    access_log: str = ""
    """The mesh's access logs: a key of :data:`ACCESS_LOG_FORMATS` (empty: none, Istio's default)."""
    mesh_retry: str = ""
    """The mesh's default retry policy: a key of :data:`MESH_RETRIES` (empty: Istio's own)."""
    mesh_keepalive: str = ""
    """The mesh's TCP keepalive: a key of :data:`MESH_KEEPALIVES` (empty: none, Istio's default)."""

    @property
    def mesh_name(self) -> str:
        subsets = int(self.subsets * 100)
        name = f"s{self.services}-{self.protocols}-{self.families}-r{self.replicas}-p{self.ports}-sub{subsets}"
        name += f"-z{self.zones}" if self.zones > 1 else ""
        if self.vs_share > 0:
            name += f"-vs{int(self.vs_share * 100)}r{self.vs_routes}d{self.vs_destinations}"
            if self.vs_match != "uri_prefix" or self.vs_matches_per_route > 1:
                name += f"-{self.vs_match.replace('_', '')}{self.vs_matches_per_route}"
            if self.vs_headers or self.vs_removed_headers:
                name += f"-h{self.vs_headers}x{self.vs_removed_headers}"
            if self.vs_actions:
                name += "-" + self.vs_actions.replace("+", "-")
        if self.dr_share > 0:
            policy = self.dr_policy.replace("_", "").replace("+", "-")
            name += f"-dr{int(self.dr_share * 100)}-{policy}-s{self.dr_subsets}"
        if self.se_count > 0:
            name += f"-se{self.se_count}{self.se_resolution}e{self.se_endpoints}"
        if self.access_log:
            name += f"-al{self.access_log}"
        if self.mesh_retry:
            name += f"-retry{self.mesh_retry}"
        if self.mesh_keepalive:
            name += f"-ka{self.mesh_keepalive}"
        return name

    @property
    def scenario_name(self) -> str:
        """``calibration-<mesh name>``, shortened with a digest of it where longer than a scenario
        name may be (63 characters)."""
        name = f"calibration-{self.mesh_name}"
        if len(name) <= NAME_ROOM:
            return name
        return f"{name[: NAME_ROOM - 13]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"

    @property
    def name(self) -> str:
        cert = "" if self.certificate == DEFAULT_CERTIFICATE_PROFILE else f"-{self.certificate}"
        return self.mesh_name + cert

    def scenario(self) -> dict[str, Any]:
        synthetic: dict[str, Any] = {
            "namespaces": 2,
            "services": self.services,
            "families": _FAMILIES[self.families],
            "ports_per_service": {self.ports: 1.0},
            "protocols": _PROTOCOLS[self.protocols],
            "replicas": {"distribution": "fixed", "mean": self.replicas, "max": self.replicas},
            "subsets": {"fraction": self.subsets, "versions": 2},
            "call_graph": {"model": "none"},
        }
        if self.zones > 1:
            synthetic["localities"] = [{"region": "region-1", "zone": f"zone-{z + 1}"} for z in range(self.zones)]
        scenario: dict[str, Any] = {
            "name": self.scenario_name,
            "seed": 1,
            "mesh": {
                "mtls": "PERMISSIVE",
                **ACCESS_LOG_FORMATS.get(self.access_log, {}),
                **MESH_RETRIES.get(self.mesh_retry, {}),
                **MESH_KEEPALIVES.get(self.mesh_keepalive, {}),
            },
            "envoy": {"workload_certificate": self.certificate},
            "synthetic": synthetic,
        }
        if self.vs_share > 0:
            objects: dict[str, Any] = {
                "virtual_services": {
                    "share": self.vs_share,
                    "routes": self.vs_routes,
                    "destinations": self.vs_destinations,
                    **(
                        {
                            "match_kinds": {"uri_prefix": 0, self.vs_match: 1},
                            "matches_per_route": self.vs_matches_per_route,
                        }
                        if self.vs_match != "uri_prefix" or self.vs_matches_per_route > 1
                        else {}
                    ),
                    **({"request_headers": self.vs_headers} if self.vs_headers else {}),
                    **({"removed_headers": self.vs_removed_headers} if self.vs_removed_headers else {}),
                    **{action: True for action in self.vs_actions.split("+") if action},
                }
            }
            if self.vs_destinations > 1:  # a route's destinations are drawn over DestinationRule subsets
                objects["destination_rules"] = {"share": self.vs_share, "subsets": self.vs_destinations}
            scenario["istio_objects"] = objects
        if self.dr_share > 0:
            rules = {"share": self.dr_share, "subsets": self.dr_subsets}
            for part in self.dr_policy.split("+"):
                rules |= DR_POLICIES[part]
            scenario.setdefault("istio_objects", {})["destination_rules"] = rules
        if self.se_count > 0:
            scenario.setdefault("istio_objects", {})["service_entries"] = {
                "count": self.se_count,
                "resolution": {"static": 0, "dns": 0, self.se_resolution: 1},
                "endpoints_per_entry": self.se_endpoints,
                "protocols": {"http": 1, "tls": 1},
            }
        return scenario

    def cluster(self) -> Cluster:
        return build_cluster(scenario_from_dict(self.scenario(), source=f"<calibration point {self.name}>"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """Which meshes, how many times each."""

    name: str
    points: tuple[PlanPoint, ...]
    repeats: int


def _grid(services: tuple[int, ...]) -> list[PlanPoint]:
    return [
        PlanPoint(services=s, protocols=proto, families=fam, replicas=r, ports=p, subsets=sub)
        for s, proto, fam, r, p, sub in itertools.product(
            services, tuple(_PROTOCOLS), ("ipv4", "dual"), (1, 3), (1, 2), (0.0, 0.5)
        )
    ]


def _sample(services: tuple[int, ...], count: int, component: str) -> tuple[PlanPoint, ...]:
    grid = _grid(services)
    corners = [grid[0], grid[-1]]
    rest = [p for p in grid if p not in corners]
    rng = generator(0, component)
    chosen = rng.choice(len(rest), size=count - len(corners), replace=False)
    picked = corners + [rest[i] for i in np.sort(chosen)]
    return tuple(sorted(picked, key=lambda p: (p.services, p.name)))


SMALL_SERVICES = (6, 20, 60, 150, 300)
SCALE_CANDIDATES = tuple(
    PlanPoint(services=s, protocols=proto, families=fam, replicas=r, ports=1, subsets=sub, zones=z)
    for s, proto, fam, r, sub, z in (
        (1000, "http", "dual", 2, 0.5, 3),
        (1000, "tcp", "ipv4", 1, 0.0, 1),
        (1000, "mixed", "mixed", 2, 0.0, 2),
        (2000, "tcp", "ipv4", 1, 0.0, 1),
        (2000, "http", "mixed", 2, 0.0, 3),
        (2000, "mixed", "dual", 1, 0.5, 1),
        (2000, "tcp", "mixed", 2, 0.5, 3),
        (3500, "mixed", "ipv4", 1, 0.0, 1),
        (3500, "http", "mixed", 2, 0.0, 2),
        (5000, "tcp", "mixed", 1, 0.0, 3),
        (5000, "mixed", "mixed", 2, 0.0, 3),
        (5000, "http", "ipv4", 1, 0.0, 1),
    )
)
"""Meshes of 1,000 to 5,000 services the scale points are chosen from: one port and at most two
replicas each, so the largest sidecar stays within a few hundred MiB under Envoy's default stats
(a few seconds each in Envoy)."""
SCALE_COUNT = 8
SCALE_POINTS = tuple(SCALE_CANDIDATES[i] for i in (0, 1, 2, 3, 4, 5, 7, 11))
"""The full plan's scale points: the :data:`SCALE_COUNT` of :data:`SCALE_CANDIDATES`, with a
5,000-service mesh and at least four sizes, whose object counts together with the full plan's
small meshes have the largest Σ over designs of log det(correlation matrix) (the product of the
terms' 1 / VIF, roughly): :func:`select_scale_points` recomputes it. A few large meshes of similar
composition make every count move with the mesh's size, so which large meshes matters more to
the terms' VIFs than how many; five gave VIFs up to 27, these eight up to 21 (clusters, whose
interval stays within ±3%)."""
ROUTE_POINTS = tuple(
    PlanPoint(
        services=s,
        protocols=proto,
        families=fam,
        replicas=r,
        ports=p,
        subsets=sub,
        vs_share=share,
        vs_routes=routes,
        vs_destinations=dest,
        vs_match=kind,
        vs_matches_per_route=matches,
    )
    for s, proto, fam, r, p, sub, share, routes, dest, kind, matches in (
        (20, "http", "ipv4", 1, 1, 0.5, 1.0, 32, 2, "uri_prefix", 1),
        (20, "mixed", "dual", 2, 2, 0.5, 0.5, 8, 1, "uri_prefix", 1),
        (20, "http", "mixed", 3, 3, 0.5, 1.0, 2, 2, "uri_prefix", 1),
        (60, "http", "mixed", 1, 1, 0.5, 1.0, 8, 2, "uri_prefix", 1),
        (60, "http", "dual", 2, 1, 0.0, 0.5, 32, 1, "uri_prefix", 1),
        (60, "mixed", "ipv4", 1, 2, 0.5, 1.0, 2, 2, "uri_prefix", 1),
        (150, "http", "ipv4", 1, 1, 0.5, 0.5, 32, 2, "uri_prefix", 1),
        (150, "http", "dual", 1, 1, 0.0, 1.0, 2, 1, "uri_prefix", 1),
        (150, "mixed", "mixed", 2, 1, 0.5, 1.0, 8, 2, "uri_prefix", 1),
        (300, "http", "mixed", 1, 1, 0.5, 0.5, 8, 1, "uri_prefix", 1),
        (300, "http", "ipv4", 1, 1, 0.0, 1.0, 32, 1, "uri_prefix", 1),
        (300, "mixed", "dual", 1, 1, 0.5, 0.5, 2, 2, "uri_prefix", 1),
        (20, "http", "dual", 2, 1, 0.0, 1.0, 32, 1, "uri_regex", 2),
        (60, "http", "ipv4", 1, 1, 0.0, 1.0, 16, 1, "uri_regex", 1),
        (60, "http", "mixed", 2, 1, 0.0, 1.0, 8, 1, "header", 1),
        (150, "http", "mixed", 1, 1, 0.0, 0.5, 8, 1, "header", 3),
        (150, "mixed", "ipv4", 1, 2, 0.0, 1.0, 16, 1, "uri_regex", 1),
        (300, "http", "ipv4", 1, 1, 0.0, 0.5, 4, 1, "header", 2),
    )
)
"""Meshes with VirtualServices, so routes and what they hold vary apart from the virtual hosts
they sit in (without VirtualServices every virtual host has exactly one route, which holds no
weighted cluster, header matcher or regex): 2 to 32 routes per VirtualService on half or all
services, one or two destinations per route, and on six of them regex paths or header matches,
one to three per route. Laid out by hand so routes per virtual host, the VirtualService share,
the destinations and the match kinds cross every mesh size; measured under Istio's default
certificate."""
POLICY_POINTS = tuple(
    PlanPoint(
        services=s,
        protocols=proto,
        families=fam,
        replicas=r,
        ports=p,
        subsets=sub,
        dr_share=share,
        dr_policy=policy,
        dr_subsets=dr_subsets,
        se_count=entries,
        se_resolution=resolution,
        se_endpoints=endpoints,
    )
    for s, proto, fam, r, p, sub, share, policy, dr_subsets, entries, resolution, endpoints in (
        (60, "http", "ipv4", 2, 1, 0.0, 1.0, "outlier", 0, 0, "static", 1),
        (150, "mixed", "mixed", 1, 1, 0.0, 0.5, "outlier", 2, 0, "static", 1),
        (300, "http", "dual", 3, 1, 0.0, 0.5, "outlier+pool", 0, 0, "static", 1),
        (60, "mixed", "dual", 1, 2, 0.0, 1.0, "ring_hash", 2, 0, "static", 1),
        (150, "http", "ipv4", 2, 1, 0.0, 0.5, "ring_hash", 0, 0, "static", 1),
        (20, "http", "mixed", 3, 1, 0.0, 1.0, "pool", 2, 0, "static", 1),
        (60, "http", "mixed", 2, 1, 0.0, 1.0, "disable", 0, 0, "static", 1),
        (150, "mixed", "dual", 1, 1, 0.0, 0.5, "disable+outlier", 2, 0, "static", 1),
        (300, "http", "ipv4", 1, 1, 0.0, 0.5, "disable", 2, 0, "static", 1),
        (20, "http", "ipv4", 1, 1, 0.0, 0.0, "", 0, 100, "static", 2),
        (60, "mixed", "mixed", 2, 1, 0.0, 0.0, "", 0, 300, "dns", 1),
        (150, "http", "dual", 1, 1, 0.0, 0.0, "", 0, 50, "none", 1),
        (60, "http", "ipv4", 1, 1, 0.5, 0.0, "", 0, 200, "static", 1),
        (150, "http", "ipv4", 1, 1, 0.0, 0.0, "", 0, 150, "dns", 2),
        (20, "mixed", "dual", 2, 1, 0.0, 0.0, "", 0, 80, "dns", 1),
    )
)
"""Meshes with DestinationRule policies and ServiceEntries, so what a cluster holds varies apart from
the clusters (:data:`dsim.xds.vocabulary.CLUSTER_OBJECTS` but a keepalive's socket options, which
:data:`KEEPALIVE_POINTS` vary): outlier detection, consistent hashing,
connection pools and ``tls.mode: DISABLE`` on half or all services, some with two subsets; entries
outside the mesh (plaintext clusters) resolved STATIC, DNS or NONE. Laid out by hand so each policy
crosses mesh sizes, replicas (outlier detection watches every host) and IP families; measured under
Istio's default certificate. No mesh puts a consistent hash on a cluster without TLS: measured, such
a ring costs about twice what it costs on a cluster with TLS (``bench/calibration_report.py``
prints it), which one price per ring cannot represent, so the plan keeps the two apart."""
ACTION_POINTS = tuple(
    PlanPoint(
        services=s,
        protocols=proto,
        families=fam,
        replicas=r,
        ports=1,
        subsets=0.0,
        vs_share=share,
        vs_routes=routes,
        vs_headers=headers,
        vs_removed_headers=removed,
        vs_actions=actions,
    )
    for s, proto, fam, r, share, routes, headers, removed, actions in (
        (60, "http", "ipv4", 1, 1.0, 8, 2, 0, ""),
        (150, "http", "mixed", 1, 0.5, 16, 6, 4, ""),
        (20, "http", "dual", 2, 1.0, 32, 0, 8, ""),
        (60, "mixed", "mixed", 2, 1.0, 8, 0, 0, "fault"),
        (150, "http", "ipv4", 1, 0.5, 8, 0, 0, "cors"),
        (300, "http", "dual", 1, 0.5, 4, 0, 0, "mirror"),
        (60, "http", "mixed", 1, 1.0, 16, 1, 0, "fault+cors+mirror"),
        (150, "http", "ipv4", 1, 1.0, 4, 0, 2, "fault+mirror"),
        (20, "http", "ipv4", 1, 1.0, 32, 4, 0, "cors+mirror"),
        (300, "http", "ipv4", 1, 0.5, 8, 3, 1, "fault+cors"),
    )
)
"""Meshes whose VirtualServices' routes carry actions (:data:`dsim.xds.vocabulary.ROUTE_ACTIONS`):
headers set and removed, faults, CORS policies and mirrors, alone and together, on half or all
services, 4 to 32 routes each, so each action varies apart from the routes that carry it. Laid out
by hand across mesh sizes; measured under Istio's default certificate."""
ACCESS_LOG_POINTS = tuple(
    PlanPoint(services=s, protocols=proto, families=fam, replicas=r, ports=p, subsets=0.0, access_log=log)
    for s, proto, fam, r, p, log in (
        (60, "tcp", "ipv4", 1, 1, "text"),
        (150, "mixed", "dual", 1, 1, "text"),
        (300, "http", "mixed", 2, 1, "short"),
        (60, "mixed", "ipv4", 1, 2, "short"),
        (150, "tcp", "mixed", 1, 1, "json"),
        (300, "http", "ipv4", 1, 1, "json"),
        (20, "mixed", "dual", 2, 2, "long"),
        (300, "tcp", "ipv4", 1, 1, "long"),
    )
)
"""Meshes with access logs (:data:`ACCESS_LOG_FORMATS`): every chain's connection manager or
``tcp_proxy`` carries one, so the logs move with the filter chains but for the formats, which
cross mesh sizes and protocol mixes (TCP services bring a chain each, HTTP ones share one). Laid out
by hand; measured under Istio's default certificate."""
RETRY_POINTS = tuple(
    PlanPoint(
        services=s,
        protocols=proto,
        families=fam,
        replicas=r,
        ports=p,
        subsets=0.0,
        vs_share=share,
        vs_routes=routes,
        mesh_retry="off",
    )
    for s, proto, fam, r, p, share, routes in (
        (60, "http", "ipv4", 1, 1, 1.0, 16),
        (150, "http", "dual", 1, 1, 0.5, 8),
        (300, "http", "mixed", 1, 1, 0.0, 1),
        (20, "http", "dual", 2, 1, 1.0, 32),
        (150, "mixed", "ipv4", 2, 1, 0.0, 1),
        (300, "http", "ipv4", 1, 1, 0.5, 4),
        (60, "mixed", "mixed", 1, 2, 1.0, 8),
        (150, "http", "ipv4", 1, 1, 1.0, 4),
    )
)
"""Meshes whose routes carry no retry policy (:data:`MESH_RETRIES` ``off``): elsewhere every route
that forwards has Istio's, so a retry policy's price moves with the routes' but here: default routes
only, or VirtualServices of 4 to 32 routes on half or all services, across mesh sizes and families.
Laid out by hand; measured under Istio's default certificate."""
KEEPALIVE_POINTS = tuple(
    dataclasses.replace(point, mesh_keepalive=keepalive)
    for point, keepalive in (
        (ACCESS_LOG_POINTS[3], "full"),
        (ACCESS_LOG_POINTS[1], "full"),
        (POLICY_POINTS[8], "time"),
        (RETRY_POINTS[4], "time"),
        (POLICY_POINTS[10], "probes"),
        (ROUTE_POINTS[8], "probes"),
        (POLICY_POINTS[11], "bare"),
        (ACCESS_LOG_POINTS[7], "bare"),
    )
)
"""Meshes with a TCP keepalive on every cluster but the black hole (:data:`MESH_KEEPALIVES`), each the
twin of a mesh the plan measures without one: a keepalive adds a few hundred bytes per cluster, well
within what one mesh's residual from the fit may be, so only against the same mesh measured without
it does its price come apart from the mesh's other objects (a first attempt with meshes of their own
priced a socket option at 0.14 KiB ±71%, where the paired ``bench/mesh_defaults_memory.py`` measures
about twice that). Each setting on two meshes of different sizes (20 to 300 services), between them
with inbound ports (two per service), subsets, DNS and NONE ServiceEntries, plaintext clusters,
access logs, retries off, every protocol mix and family. Measured under Istio's default certificate."""
RETRY_PRIORITY_POINTS = tuple(
    dataclasses.replace(point, mesh_retry="remote")
    for point in (
        ROUTE_POINTS[0],
        ROUTE_POINTS[3],
        ROUTE_POINTS[6],
        ROUTE_POINTS[10],
        ROUTE_POINTS[12],
        ACTION_POINTS[6],
        POLICY_POINTS[4],
        ACCESS_LOG_POINTS[5],
    )
)
"""Meshes whose routes' retry policies carry a retry priority (:data:`MESH_RETRIES` ``remote``), each
the twin of a mesh the plan measures with Istio's default policy: a retry priority adds about 0.4 KiB
per route (docs/istio-objects.md 1.7a), a few tenths of a percent of a sidecar of few routes, so it is
priced against the same mesh without it, as a keepalive is (:data:`KEEPALIVE_POINTS`). 20 to 300 services,
150 to 17,152 retry priorities: VirtualServices of 8 to 32 routes, regex paths, route actions, a
consistent hash (routes without the previous-hosts predicate), default routes only. Measured under
Istio's default certificate."""
FAILOVER_POINTS = (
    dataclasses.replace(POLICY_POINTS[0], zones=3),
    dataclasses.replace(POLICY_POINTS[2], zones=2),
    PlanPoint(
        services=150,
        protocols="mixed",
        families="mixed",
        replicas=3,
        ports=1,
        subsets=0.5,
        zones=3,
        dr_share=1.0,
        dr_policy="outlier",
        dr_subsets=2,
    ),
    PlanPoint(
        services=40,
        protocols="http",
        families="dual",
        replicas=4,
        ports=2,
        subsets=0.0,
        zones=2,
        dr_share=1.0,
        dr_policy="outlier",
    ),
)
"""Meshes whose endpoint sets fail over by locality (outlier detection on their rules, pods in two
or three zones: docs/istio-objects.md 2.5), each the twin of its :data:`FAILOVER_BASES` mesh: an
extra priority is a host set more per cluster, 2.6 to 3.0 KiB on a one-off probe (a 400-service
sidecar with 263 and 526 of them, two runs each), about 2% of that sidecar: priced against the same
mesh without it as a keepalive is (:data:`KEEPALIVE_POINTS`). No plan
mesh has pods in several zones and outlier detection both, so the twins' bases are meshes of their
own. 40 to 300 services, two to four replicas, subsets with endpoints, HTTP and mixed protocols,
every family; no consistent hash (a ring-hash cluster builds a ring per priority, which
``hash_rings`` counts: the twins price the host set alone). Measured under Istio's default certificate."""
FAILOVER_BASES = tuple(dataclasses.replace(p, dr_policy=f"{p.dr_policy}+nofailover") for p in FAILOVER_POINTS)
""":data:`FAILOVER_POINTS` with locality failover turned off by their rules (``localityLbSetting:
{enabled: false}``): every other object the same. Measured for the twins alone: the main fit leaves
them out with their twins (:data:`dsim.calibration.twins.TWIN_BASE_MARKS`)."""
PLAINTEXT_POINTS = (POLICY_POINTS[6], POLICY_POINTS[12])
"""The two of them measured under every certificate profile too: a cluster without a TLS context
holds no certificate, so what it saves is each profile's own."""
CANDIDATES = 150
"""Size of the seeded candidate pool the full plan's small meshes are chosen from (counting one
candidate's objects under every design takes ~0.1-0.5 s)."""
FULL_SMALL_POINTS = 40
"""Small meshes (6 to 300 services) in the full plan, under Istio's default certificate."""
CERTIFICATE_POINTS = 12
"""Small meshes measured under each other certificate profile: enough for every term plus a
residual's worth of degrees of freedom (two repeats each)."""
RIDGE = 1e-6
"""Added to XᵀX's diagonal (standardised units) while the selection has fewer meshes than terms."""


def _candidates() -> list[PlanPoint]:
    grid = [
        PlanPoint(services=s, protocols=proto, families=fam, replicas=r, ports=p, subsets=sub, zones=z)
        for s, proto, fam, r, p, sub, z in itertools.product(
            SMALL_SERVICES, tuple(_PROTOCOLS), tuple(_FAMILIES), (1, 2, 3), (1, 2, 3), (0.0, 0.5), (1, 2, 3)
        )
    ]
    chosen = generator(0, "calibration-full-candidates").choice(len(grid), size=CANDIDATES, replace=False)
    return [grid[i] for i in np.sort(chosen)]


@functools.lru_cache(maxsize=512)
def point_facts(point: PlanPoint) -> pd.DataFrame:
    """Every design's measured-sidecar object counts (and config bytes) for ``point``, one row per
    design: what the model is fitted on, known before Envoy runs."""
    from dsim.calibration.campaign import MEASURED_PROXY_ROW, config_facts  # campaign imports this module
    from dsim.designs import design_names, get_design
    from dsim.xds.generate import proxy_config
    from dsim.xds.view import index_for

    index = index_for(point.cluster())
    rows = [config_facts(proxy_config(index, MEASURED_PROXY_ROW, get_design(d))) for d in design_names()]
    return pd.DataFrame(rows)


def design_terms(facts: pd.DataFrame) -> list[str]:
    """The memory terms a fit of these rows would price: those that vary (and ``locality_groups``
    only when the zones do, as :func:`dsim.calibration.model.memory_terms` decides)."""
    terms = memory_terms(facts) if "zones" in facts else (*memory_terms(facts), ZONE_TERM)
    return [t for t in terms if facts[t].nunique() > 1]


SPREAD_LEFT_OUT = ("retry_policies",)
"""Terms the choice of meshes does not spread: without a mesh retry policy or VirtualServices every
route but a catch-all carries Istio's retry policy, so over the candidates the count moves with the
virtual hosts and route configurations and adds no spread of its own; choosing on it as well would
choose other small meshes than the ones the shipped calibration measured (its own meshes,
:data:`RETRY_POINTS`, make it vary)."""


def _spread_terms(facts: pd.DataFrame) -> list[str]:
    """The terms the small and scale meshes are chosen to spread (:data:`SPREAD_LEFT_OUT` aside)."""
    return [t for t in design_terms(facts) if t not in SPREAD_LEFT_OUT]


def _standardised(facts: pd.DataFrame, terms: Sequence[str]) -> np.ndarray:
    values = facts[list(terms)].to_numpy(dtype=np.float64)
    scale = values.std(axis=0)
    return np.column_stack([np.ones(len(values)), (values - values.mean(axis=0)) / np.where(scale > 0, scale, 1.0)])


def _score(blocks: Sequence[np.ndarray], rows: Sequence[int]) -> float:
    total = 0.0
    for x in blocks:
        chosen = x[list(rows)]
        total += float(np.linalg.slogdet(chosen.T @ chosen + RIDGE * np.eye(x.shape[1]))[1])
    return total


def d_optimal(blocks: Sequence[np.ndarray], count: int, forced: Sequence[int] = ()) -> list[int]:
    """Rows (of every block alike: one block per design, one row per candidate) maximising
    Σ log det(XᵀX): greedy additions from ``forced``, then single exchanges until none helps.
    Ties go to the lowest row, so the choice is deterministic."""
    rows = len(blocks[0])
    selected = list(forced)
    while len(selected) < count:
        scores = [(_score(blocks, [*selected, i]), -i) for i in range(rows) if i not in selected]
        selected.append(-max(scores)[1])
    best = _score(blocks, selected)
    improved = True
    while improved:
        improved = False
        for position in range(len(forced), len(selected)):
            for candidate in range(rows):
                if candidate in selected:
                    continue
                trial = [*selected[:position], candidate, *selected[position + 1 :]]
                score = _score(blocks, trial)
                if score > best + 1e-9:
                    selected, best, improved = trial, score, True
    return sorted(selected)


def _blocks(points: Sequence[PlanPoint]) -> list[np.ndarray]:
    facts = [point_facts(p).assign(zones=p.zones) for p in points]
    frame = pd.concat([f.assign(candidate=i) for i, f in enumerate(facts)], ignore_index=True)
    blocks = []
    for _, rows in frame.groupby("design", sort=True):
        rows = rows.sort_values("candidate")
        blocks.append(_standardised(rows, _spread_terms(rows)))
    return blocks


def _small_points() -> list[PlanPoint]:
    candidates = _candidates()
    return [candidates[i] for i in d_optimal(_blocks(candidates), FULL_SMALL_POINTS)]


def select_scale_points() -> tuple[PlanPoint, ...]:
    """:data:`SCALE_POINTS` computed again (counts every scale candidate's objects: a minute)."""
    small = _small_points()
    facts = [point_facts(p).assign(zones=p.zones) for p in (*SCALE_CANDIDATES, *small)]
    frame = pd.concat([f.assign(candidate=i) for i, f in enumerate(facts)], ignore_index=True)
    blocks = []
    for _, rows in frame.groupby("design", sort=True):
        rows = rows.sort_values("candidate")
        blocks.append(rows[_spread_terms(rows)].to_numpy(dtype=np.float64))
    ours = range(len(SCALE_CANDIDATES), len(facts))
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.combinations(range(len(SCALE_CANDIDATES)), SCALE_COUNT):
        sizes = {SCALE_CANDIDATES[i].services for i in combo}
        if max(s.services for s in SCALE_CANDIDATES) not in sizes or len(sizes) < 4:
            continue
        chosen = [*combo, *ours]
        score = sum(float(np.linalg.slogdet(np.corrcoef(x[chosen], rowvar=False))[1]) for x in blocks)
        if best is None or score > best[0]:
            best = (score, combo)
    assert best is not None
    return tuple(SCALE_CANDIDATES[i] for i in best[1])


@functools.lru_cache(maxsize=1)
def full_plan() -> Plan:
    """The D-optimal small meshes, the scale points, the meshes with VirtualServices (with and
    without route actions), those with DestinationRule policies and ServiceEntries, those with
    access logs, those without retry policies, those with a TCP keepalive, those with retry
    priorities and those whose endpoints fail over by locality (with their bases) under Istio's
    default certificate, and a D-optimal subset of the small meshes plus
    :data:`PLAINTEXT_POINTS` under every other certificate profile (but the legacy one), each measured
    twice. Computing it counts the objects of every candidate (half a minute)."""
    small = _small_points()
    subset = [small[i] for i in d_optimal(_blocks(small), CERTIFICATE_POINTS)]
    points = [
        *SCALE_POINTS,
        *small,
        *ROUTE_POINTS,
        *ACTION_POINTS,
        *POLICY_POINTS,
        *ACCESS_LOG_POINTS,
        *RETRY_POINTS,
        *KEEPALIVE_POINTS,
        *RETRY_PRIORITY_POINTS,
        *FAILOVER_POINTS,
        *FAILOVER_BASES,
    ]
    for certificate in CERTIFICATE_PROFILES:
        if certificate not in (DEFAULT_CERTIFICATE_PROFILE, LEGACY_CERTIFICATE_PROFILE):
            points += [dataclasses.replace(p, certificate=certificate) for p in (*subset, *PLAINTEXT_POINTS)]
    return Plan(name="full", points=tuple(sorted(points, key=lambda p: (p.services, p.name))), repeats=2)


def quick_plan() -> Plan:
    """16 meshes of 6 to 300 services, one run each: a few minutes for every design and stats
    profile. The same seeded sample of the grid the first full plan drew from: a line fitted to
    Envoy's stepwise memory depends on the range of sizes it is fitted over, so a plan of small
    meshes only would price objects a few percent differently. The meshes take one, two and three
    zones in turn, so the quick fit prices locality groups as the shipped model does (without, their
    cost lands on the clusters and endpoints they follow, and those prices then differ from the
    shipped ones for that reason alone). Its one certificate profile is the one the shipped
    calibration prices Istio's default with (its own measurements of Istio's default once it has
    them), as the quick plan is how one checks the shipped model against this machine's Envoy:
    coefficients of two profiles may differ for real."""
    from dsim.calibration.model import load_calibration, shipped_path

    certificate = load_calibration(shipped_path()).certificate_for(DEFAULT_CERTIFICATE_PROFILE)
    full = _sample(SMALL_SERVICES, 36, "calibration-full")
    chosen = np.sort(generator(0, "calibration-quick").choice(len(full), size=16, replace=False))
    return Plan(
        name="quick",
        points=tuple(
            dataclasses.replace(full[i], certificate=certificate, zones=1 + n % MAX_ZONES) for n, i in enumerate(chosen)
        ),
        repeats=1,
    )


PLANS: dict[str, Callable[[], Plan]] = {"quick": quick_plan, "full": full_plan}

# Meshes held out of every fit (replicas, ports and subset shares no plan's grid has; VirtualServices,
# policies, access logs, retries, a keepalive and a retry policy with every field in combinations no
# plan mesh has), on which tests and bench/calibration_report.py check the model against a fresh
# measurement.
HELD_OUT_POINTS = (
    PlanPoint(services=30, protocols="mixed", families="dual", replicas=2, ports=1, subsets=0.25),
    PlanPoint(services=12, protocols="http", families="ipv4", replicas=5, ports=3, subsets=0.0),
    PlanPoint(
        services=100,
        protocols="http",
        families="mixed",
        replicas=2,
        ports=1,
        subsets=0.5,
        vs_share=0.7,
        vs_routes=12,
        vs_destinations=3,
        vs_match="uri_regex",
        vs_matches_per_route=2,
    ),
    PlanPoint(
        services=80,
        protocols="mixed",
        families="mixed",
        replicas=2,
        ports=1,
        subsets=0.25,
        dr_share=0.6,
        dr_policy="outlier+ring_hash+pool",
        dr_subsets=1,
        se_count=120,
        se_resolution="dns",
    ),
    PlanPoint(services=120, protocols="mixed", families="dual", replicas=1, ports=2, subsets=0.0, access_log="json"),
    PlanPoint(
        services=90,
        protocols="http",
        families="dual",
        replicas=1,
        ports=1,
        subsets=0.0,
        vs_share=0.6,
        vs_routes=10,
        mesh_retry="off",
    ),
    PlanPoint(
        services=100,
        protocols="mixed",
        families="dual",
        replicas=2,
        ports=1,
        subsets=0.25,
        mesh_keepalive="idle",
    ),
    PlanPoint(
        services=40,
        protocols="http",
        families="mixed",
        replicas=2,
        ports=1,
        subsets=0.0,
        vs_share=0.8,
        vs_routes=20,
        mesh_retry="rich",
    ),
)
HELD_OUT_SCALE_POINT = PlanPoint(services=2000, protocols="mixed", families="mixed", replicas=2, ports=1, subsets=0.25)
"""A 2,000-service sidecar no plan measures (bench/calibration_report.py)."""


def facts_vifs(facts: pd.DataFrame) -> pd.DataFrame:
    """Per design and memory term, the variance inflation factor of a fit on ``facts`` (object counts
    only: VIF depends on the plan, not on what Envoy measures), one row per point and design:
    :func:`point_facts` with ``zones`` and ``point`` (a plan's, counted before it is measured), or a
    measurements file's rows of one repeat, which hold the same. As the fit does, the terms twin
    meshes price are left out with the twins (:func:`dsim.calibration.twins.without_twins`)."""
    from dsim.calibration.fit import variance_inflation
    from dsim.calibration.twins import without_twins

    frame = without_twins(facts)
    rows = []
    for design, found in frame.groupby("design", sort=True):
        terms = design_terms(found)
        for term, vif in zip(terms, variance_inflation(found[terms].to_numpy(dtype=np.float64)), strict=True):
            rows.append({"design": design, "term": term, "vif": vif})
    return pd.DataFrame(rows, columns=["design", "term", "vif"])
