"""The churn of a scenario as one event stream, drawn once and shared by every design.

What happens to the mesh (``churn`` in the scenario) becomes timed events: endpoint-set changes,
sidecars connecting and disconnecting, services created and deleted, VirtualService /
DestinationRule / Sidecar edits, istiod restarts. Pods and services that appear are **clones**
of existing ones (a replacement pod of the pod it replaces, a surge or scale-up pod of a pod of
its workload, a new service of a service with its workloads): same namespace, families,
locality, name and address lengths (an IPAM hands out addresses of the same text length), so
every config byte they add is exactly what their original adds — the size model stays exact
without re-pricing the whole mesh.

Endpoint sets are tracked per workload as the multiset of original pods present (a clone counts
as its original); each distinct multiset is a *membership state* the size model prices once.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from dsim.cluster import Cluster
from dsim.cluster.discovery import discovered_namespaces
from dsim.cluster.grouping import grouped
from dsim.cluster.headless import service_entry_rows
from dsim.cluster.import_scopes import import_scopes
from dsim.pushsim.reach import destination_rule_reach, virtual_service_reach
from dsim.pushsim.visibility import services_by_workload
from dsim.randomness import generator

# Changes that are their own cause: each is one event of the same name.
MESH_EDITS = (
    "service_create",
    "service_delete",
    "virtual_service",
    "destination_rule",
    "service_entry",
    "sidecar",
    "istiod_restart",
)
EVENT_KINDS = ("endpoints", "connect", "disconnect", *MESH_EDITS)
CAUSES = ("pod_replacement", "rollout", "scale", *MESH_EDITS)
EVENT_COLUMNS = (
    "time",
    "seq",
    "kind",
    "cause",
    "workload",
    "service",
    "namespace",
    "proxy",
    "state",
    "reach",
    "imported_by",
    "edited",
)
"""The columns of :attr:`ChurnStream.events`."""


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ChurnStream:
    """Every change over the simulated time, in time order, and what it refers to."""

    events: pd.DataFrame
    """One row per event: ``time`` (s), ``kind`` (:data:`EVENT_KINDS`), ``cause`` (:data:`CAUSES`),
    ``workload``, ``service``, ``namespace``, ``proxy``, ``state`` (membership state), ``reach``
    (of a DestinationRule edit's service: the index in :attr:`reaches` of the namespaces whose
    proxies that see the service it reaches), ``edited`` (of a VirtualService edit, one row: the
    VirtualService's row, the services it names in :attr:`virtual_service_services`),
    ``imported_by`` (of that row: the index in :attr:`importers` of the import scopes that
    import it); -1 where not applicable (``reach``: every proxy that sees the service;
    ``imported_by``: every proxy)."""
    states: list[tuple[int, tuple[int, ...]]]
    """Membership state id → (workload, the original pods behind it, with repeats)."""
    proxy_workload: np.ndarray
    """Proxy id → the workload whose config it gets (a cloned workload maps to its original)."""
    initial_proxies: int
    """Proxy ids below this are the cluster's sidecars, connected at time 0."""
    service_source: np.ndarray
    """Service id → the original it is a clone of (itself for the cluster's services)."""
    service_namespace: np.ndarray
    """Service id → namespace row."""
    duration_s: float
    """The simulated time the stream covers, seconds."""
    reaches: tuple[np.ndarray, ...] = ()
    """The namespace sets an event's ``reach`` points into: the namespaces whose proxies depend on
    an edited DestinationRule that not every namespace applies."""
    importers: tuple[np.ndarray, ...] = ()
    """The import scope sets an event's ``imported_by`` points into (scopes of
    :attr:`workload_scope`)."""
    virtual_service_services: tuple[np.ndarray, ...] = ()
    """Per VirtualService row: the services its hosts name."""
    workload_scope: np.ndarray | None = None
    """Per workload row: its import scope (:func:`dsim.cluster.import_scopes.import_scopes`);
    ``None`` where no VirtualService was edited."""

    def count(self, cause: str) -> int:
        """How many times ``cause`` happened (a rollout counts once, however many waves)."""
        return int(self.events.loc[self.events["cause"] == cause, "seq"].nunique())


class _ObjectEdit(NamedTuple):
    """What an edit of one Istio object touches."""

    parts: list[tuple[list[int], int]]
    """Services it shapes, with which namespaces' proxies that see them depend on it for them (an
    index into the stream's ``reaches``; -1: every proxy that sees them). Only a DestinationRule
    has several parts: a wildcard rule may be applied by other namespaces for each service it
    covers."""
    imported_by: int | None = None
    """A VirtualService's: the import scopes that import it (an index into the
    stream's ``importers``; -1: every import scope)."""
    edited: int = -1
    """A VirtualService's: its row."""
    namespace: int = -1
    """A VirtualService's: its namespace row."""


class _Mesh:
    """The mutable facts the stream is drawn against: who is present, connected, alive."""

    def __init__(self, cluster: Cluster) -> None:
        pods = cluster.pods
        self.pod_workload = pods["workload"].to_numpy()
        self.sidecar = cluster.workloads["sidecar"].to_numpy()
        self.workload_namespace = cluster.workloads["namespace"].to_numpy()
        proxy_of_pod = np.full(len(pods), -1, np.int64)
        proxy_of_pod[cluster.proxies["pod"].to_numpy()] = np.arange(len(cluster.proxies))
        # Per workload: [original pod, proxy id or -1] of every pod present.
        self.present: list[list[list[int]]] = [[] for _ in range(len(cluster.workloads))]
        for pod, workload in enumerate(self.pod_workload.tolist()):
            self.present[workload].append([pod, int(proxy_of_pod[pod])])
        self.proxy_workload = list(cluster.proxies["workload"].to_numpy().tolist())
        sw = cluster.endpoint_workloads("service")
        self.services_of = services_by_workload(cluster)
        self.workloads_of: list[list[int]] = [[] for _ in range(len(cluster.services))]
        for s, w in zip(sw["service"].tolist(), sw["workload"].tolist(), strict=True):
            self.workloads_of[s].append(w)
        self.service_source = list(range(len(cluster.services)))
        self.service_namespace = list(cluster.services["namespace"].to_numpy().tolist())
        self.service_alive = [True] * len(cluster.services)
        self.workload_alive = [True] * len(cluster.workloads)
        self.busy_until = [0.0] * len(cluster.workloads)  # a rollout in progress
        self.state_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        self.states: list[tuple[int, tuple[int, ...]]] = []

    def new_proxy(self, workload: int) -> int:
        self.proxy_workload.append(workload)
        return len(self.proxy_workload) - 1

    def state(self, workload: int) -> int:
        key = (workload, tuple(sorted(pod for pod, _ in self.present[workload])))
        if key not in self.state_ids:
            self.state_ids[key] = len(self.states)
            self.states.append(key)
        return self.state_ids[key]


class _Builder:
    """Draws the stream: Poisson arrivals per cause, each acted out against :class:`_Mesh`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.churn = cluster.scenario.churn
        self.mesh = _Mesh(cluster)
        self.rng = generator(cluster.scenario.seed, "churn")
        self.rows: list[tuple[float, int, str, str, int, int, int, int, int, int, int, int]] = []
        """One tuple per event, its values in :data:`EVENT_COLUMNS`' order."""
        self.actions: list[tuple[float, int, Callable[[float], None]]] = []
        self.reaches: list[np.ndarray] = []
        self.reach_ids: dict[tuple[int, ...], int] = {}
        self.importers: list[np.ndarray] = []
        self.importer_ids: dict[tuple[int, ...], int] = {}
        self.vs_services: list[np.ndarray] = []  # per VirtualService row, once one is edited
        self.order = 0
        self.seq = 0

    # -- emitting -------------------------------------------------------------------------------
    def emit(
        self,
        t: float,
        kind: str,
        cause: str,
        *,
        seq: int | None = None,
        workload: int = -1,
        service: int = -1,
        proxy: int = -1,
        namespace: int = -1,
        reach: int = -1,
        imported_by: int = -1,
        edited: int = -1,
    ) -> None:
        m = self.mesh
        if service >= 0:
            namespace = m.service_namespace[service]
        elif workload >= 0:
            namespace = int(m.workload_namespace[workload])
        state = m.state(workload) if kind == "endpoints" else -1
        row = (
            t, self.seq if seq is None else seq, kind, cause, workload, service, namespace, proxy, state, reach,
            imported_by, edited,
        )  # fmt: skip
        self.rows.append(row)

    def later(self, t: float, action: Callable[[float], None]) -> None:
        self.order += 1
        heapq.heappush(self.actions, (t, self.order, action))

    def connect(self, t: float, cause: str, workload: int, pod: int, seq: int | None = None) -> list[int]:
        entry = [pod, self.mesh.new_proxy(workload) if self.mesh.sidecar[workload] else -1]
        if entry[1] >= 0:
            self.emit(t, "connect", cause, seq=seq, workload=workload, proxy=entry[1])
        return entry

    def endpoints(self, t: float, cause: str, workload: int, seq: int | None = None) -> None:
        if len(self.mesh.services_of[workload]):
            self.emit(t, "endpoints", cause, seq=seq, workload=workload)

    def disconnect(self, t: float, cause: str, workload: int, entry: list[int], seq: int | None = None) -> None:
        if entry[1] >= 0:
            self.emit(t, "disconnect", cause, seq=seq, workload=workload, proxy=entry[1])

    # -- causes ---------------------------------------------------------------------------------
    def pick_workload(self, candidates: Callable[[int], bool]) -> int | None:
        alive = [w for w in range(len(self.mesh.present)) if candidates(w)]
        return int(alive[self.rng.integers(len(alive))]) if alive else None

    def pod_replacement(self, t: float) -> None:
        m = self.mesh
        base = int(self.rng.integers(len(m.pod_workload)))
        workload = int(m.pod_workload[base])
        if not m.workload_alive[workload] or not m.present[workload]:
            return
        mine = [e for e in m.present[workload] if e[0] == base] or m.present[workload]
        old = mine[int(self.rng.integers(len(mine)))]
        m.present[workload].remove(old)
        self.disconnect(t, "pod_replacement", workload, old)
        self.endpoints(t, "pod_replacement", workload)
        new = self.connect(t, "pod_replacement", workload, old[0])

        def ready(when: float) -> None:
            if m.workload_alive[workload]:
                m.present[workload].append(new)
                self.endpoints(when, "pod_replacement", workload)

        self.later(t + self.churn.pod_startup_s, ready)

    def rollout(self, t: float) -> None:
        m = self.mesh
        workload = self.pick_workload(lambda w: m.workload_alive[w] and bool(m.present[w]) and m.busy_until[w] <= t)
        if workload is None:
            return
        waiting = list(m.present[workload])
        surge = max(1, math.ceil(self.churn.rollout_surge * len(waiting)))
        waves = math.ceil(len(waiting) / surge)
        m.busy_until[workload] = t + waves * self.churn.pod_startup_s
        seq = self.seq

        def wave(when: float) -> None:
            if not m.workload_alive[workload]:
                return
            old = [e for e in waiting[:surge] if e in m.present[workload]]
            del waiting[:surge]
            fresh = [self.connect(when, "rollout", workload, e[0], seq) for e in old]

            def ready(at: float) -> None:
                if not m.workload_alive[workload]:
                    return
                for e in old:
                    if e in m.present[workload]:  # a pod replacement or scale-down may have taken it since
                        m.present[workload].remove(e)
                        self.disconnect(at, "rollout", workload, e, seq)
                m.present[workload].extend(fresh)
                self.endpoints(at, "rollout", workload, seq)
                if waiting:
                    wave(at)

            self.later(when + self.churn.pod_startup_s, ready)

        wave(t)

    def scale(self, t: float) -> None:
        m = self.mesh
        workload = self.pick_workload(lambda w: m.workload_alive[w] and bool(m.present[w]))
        if workload is None:
            return
        step = self.churn.scale_step
        if self.rng.random() < 0.5 or len(m.present[workload]) <= step:  # up (a workload keeps one pod)
            sources = [m.present[workload][i % len(m.present[workload])][0] for i in range(step)]
            fresh = [self.connect(t, "scale", workload, pod) for pod in sources]

            def ready(when: float) -> None:
                if m.workload_alive[workload]:
                    m.present[workload].extend(fresh)
                    self.endpoints(when, "scale", workload)

            self.later(t + self.churn.pod_startup_s, ready)
            return
        for entry in m.present[workload][-step:]:
            self.disconnect(t, "scale", workload, entry)
        del m.present[workload][-step:]
        self.endpoints(t, "scale", workload)

    def service_create(self, t: float) -> None:
        m = self.mesh
        alive = [s for s in range(len(m.service_source)) if m.service_alive[s] and m.service_source[s] == s]
        if not alive:
            return
        source = int(alive[self.rng.integers(len(alive))])
        service = len(m.service_source)
        m.service_source.append(source)
        m.service_namespace.append(m.service_namespace[source])
        m.service_alive.append(True)
        m.workloads_of.append([])
        self.emit(t, "service_create", "service_create", service=service)
        # Its pods: copies of the original's (the original's own workloads' pods get sidecars).
        for workload in m.workloads_of[source]:
            for pod, _ in m.present[workload]:
                self.connect(t, "service_create", workload, pod)

    def service_delete(self, t: float) -> None:
        m = self.mesh
        alive = [s for s in range(len(m.service_source)) if m.service_alive[s]]
        if not alive:
            return
        service = int(alive[self.rng.integers(len(alive))])
        m.service_alive[service] = False
        self.emit(t, "service_delete", "service_delete", service=service)
        if m.service_source[service] != service:
            return  # a created copy: its pods stay (dsim does not track them beyond their config)
        for workload in m.workloads_of[service]:
            if all(not m.service_alive[s] for s in m.services_of[workload]):
                m.workload_alive[workload] = False
                for entry in m.present[workload]:
                    self.disconnect(t, "service_delete", workload, entry)
                m.present[workload] = []

    def config_edit(self, kind: str) -> Callable[[float], None]:
        """An edit of a VirtualService, DestinationRule or ServiceEntry. Where the mesh has such
        objects, one of them, touching the services whose configuration it shapes (a
        VirtualService: the services its hosts name, whose routes istiod regenerates, and the
        proxies whose scope imports it; a DestinationRule: its service's clusters and endpoint
        sets; a ServiceEntry: its hosts' rows); else one over a service drawn at random (a mesh
        without ServiceEntries refuses their edits when it is built)."""
        objects: list[_ObjectEdit] | None = None  # found at the first edit: a rate of zero costs nothing

        def edit(t: float) -> None:
            nonlocal objects
            if objects is None:
                objects = self._object_edits(kind)
            m = self.mesh
            if objects:
                chosen = objects[int(self.rng.integers(len(objects)))]
                if chosen.imported_by is not None:  # the proxies whose scope imports it, whatever they see
                    self.emit(
                        t, kind, kind, imported_by=chosen.imported_by, edited=chosen.edited, namespace=chosen.namespace
                    )
                for services, reach in chosen.parts:
                    for service in [s for s in services if m.service_alive[s]]:
                        # one full push: the debouncer merges edits made at once
                        self.emit(t, kind, kind, service=service, reach=reach)
                return
            alive = [s for s in range(len(m.service_source)) if m.service_alive[s]]
            if alive:
                self.emit(t, kind, kind, service=int(alive[self.rng.integers(len(alive))]))

        return edit

    def _object_edits(self, kind: str) -> list[_ObjectEdit]:
        """Per VirtualService, DestinationRule or ServiceEntry of the mesh, what an edit of it
        touches. A DestinationRule or ServiceEntry that shapes no service (whose host names none)
        has no effect on a sidecar and is left out; a VirtualService bound to the mesh, or a
        delegate one merges, is kept (its proxies are pushed, and its hosts may be ``"80"``'s
        virtual hosts)."""
        cluster = self.cluster
        if kind == "service_entry":
            entry = cluster.services["entry"].to_numpy()
            rows = service_entry_rows(entry, cluster.istio.service_entries)
            by_object = grouped(entry[rows], rows, len(cluster.istio.service_entries))
            return [_ObjectEdit([(group.tolist(), -1)]) for group in by_object if len(group)]
        if kind == "virtual_service":
            reach = virtual_service_reach(cluster)
            self.vs_services = [np.zeros(0, np.int64) if r is None else r.services for r in reach]
            namespace_row = {name: i for i, name in enumerate(cluster.namespaces["name"].tolist())}
            virtual_services = cluster.istio.virtual_services
            return [
                _ObjectEdit([], self.importers_id(r.importers), v, namespace_row.get(virtual_services[v].namespace, -1))
                for v, r in enumerate(reach)
                if r is not None
            ]
        return [
            _ObjectEdit([(services, self.reach_id(namespaces)) for services, namespaces in parts])
            for parts in destination_rule_reach(cluster)
        ]

    def importers_id(self, groups: np.ndarray | None) -> int:
        """The index of ``groups`` (import scopes) in :attr:`importers`; -1 for ``None`` (all)."""
        if groups is None:
            return -1
        key = tuple(groups.tolist())
        if key not in self.importer_ids:
            self.importer_ids[key] = len(self.importers)
            self.importers.append(groups)
        return self.importer_ids[key]

    def reach_id(self, namespaces: np.ndarray | None) -> int:
        """The index of ``namespaces`` (namespace rows) in :attr:`reaches`; -1 for ``None`` (all)."""
        if namespaces is None:
            return -1
        key = tuple(sorted(int(n) for n in namespaces))
        if key not in self.reach_ids:
            self.reach_ids[key] = len(self.reaches)
            self.reaches.append(np.asarray(key, dtype=np.int64))
        return self.reach_ids[key]

    @functools.cached_property
    def discovered_namespaces(self) -> np.ndarray:
        """Rows of the namespaces istiod discovers: a Sidecar edited elsewhere is ignored, as istiod
        ignores the object (mesh.discovery_selectors)."""
        return np.flatnonzero(discovered_namespaces(self.cluster.scenario, self.cluster.namespaces))

    def sidecar_edit(self, t: float) -> None:
        rows = self.discovered_namespaces
        if not rows.size:
            return
        # Without selectors every namespace is a row, and the draw is the one it always was.
        namespace = int(rows[self.rng.integers(len(rows))])
        self.emit(t, "sidecar", "sidecar", namespace=namespace)

    def restart(self, t: float) -> None:
        self.emit(t, "istiod_restart", "istiod_restart")

    # -- driving --------------------------------------------------------------------------------
    def arrivals(self, per_second: float, cause: str) -> np.ndarray:
        """Poisson arrival times over the duration, from this cause's own stream."""
        duration = self.churn.duration_s
        rng = generator(self.cluster.scenario.seed, f"churn-{cause}")
        if per_second <= 0 or duration <= 0:
            return np.empty(0)
        count = rng.poisson(per_second * duration)
        return np.sort(rng.uniform(0.0, duration, size=count))

    def build(self) -> ChurnStream:
        c = self.churn
        causes: list[tuple[float, Callable[[float], None], str]] = [
            (c.pod_replacements_per_s, self.pod_replacement, "pod_replacement"),
            (c.rollouts_per_hour / 3600, self.rollout, "rollout"),
            (c.scale_events_per_hour / 3600, self.scale, "scale"),
            (c.service_creations_per_hour / 3600, self.service_create, "service_create"),
            (c.service_deletions_per_hour / 3600, self.service_delete, "service_delete"),
            (c.virtual_service_changes_per_hour / 3600, self.config_edit("virtual_service"), "virtual_service"),
            (c.destination_rule_changes_per_hour / 3600, self.config_edit("destination_rule"), "destination_rule"),
            (c.service_entry_changes_per_hour / 3600, self.config_edit("service_entry"), "service_entry"),
            (c.sidecar_changes_per_hour / 3600, self.sidecar_edit, "sidecar"),
        ]
        starts: list[tuple[float, int, Callable[[float], None]]] = []
        for rate, action, cause in causes:
            for t in self.arrivals(rate, cause).tolist():
                starts.append((t, len(starts), action))
        for t in c.istiod_restarts_s:
            if t < c.duration_s:
                starts.append((float(t), len(starts), self.restart))
        starts.sort(key=lambda item: (item[0], item[1]))
        for t, _, action in starts:
            self.run_until(t)
            self.seq += 1
            action(t)
        self.run_until(c.duration_s)
        return self.result()

    def run_until(self, t: float) -> None:
        """Act out the follow-ups (a pod getting ready, the next rollout wave) due before ``t``."""
        while self.actions and self.actions[0][0] < t:
            when, _, action = heapq.heappop(self.actions)
            action(when)

    def result(self) -> ChurnStream:
        columns = list(EVENT_COLUMNS)
        events = pd.DataFrame(self.rows, columns=columns)
        events = events.astype({c: "int64" for c in columns if c not in ("time", "kind", "cause")})
        events = events.astype({"time": "float64"}).sort_values(["time", "seq"], kind="stable", ignore_index=True)
        m = self.mesh
        return ChurnStream(
            events=events,
            states=m.states,
            proxy_workload=np.asarray(m.proxy_workload, dtype=np.int64),
            initial_proxies=len(self.cluster.proxies),
            service_source=np.asarray(m.service_source, dtype=np.int64),
            service_namespace=np.asarray(m.service_namespace, dtype=np.int64),
            duration_s=float(self.churn.duration_s),
            reaches=tuple(self.reaches),
            importers=tuple(self.importers),
            workload_scope=import_scopes(self.cluster).of_workload if self.vs_services else None,
            virtual_service_services=tuple(self.vs_services),
        )


def churn_stream(cluster: Cluster) -> ChurnStream:
    """The scenario's churn over ``churn.duration_s``, drawn from its seed (the same for every design)."""
    return _Builder(cluster).build()
