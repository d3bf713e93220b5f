"""The push model, wired: churn events → debouncer → push (context build, enqueue) → fan-out.

One simpy environment per design, all fed the same :class:`dsim.pushsim.churn.ChurnStream`, so
designs differ only in what they generate. Event by event, through the fan-out
(:class:`dsim.pushsim.fanout.FanOut`, which commits what it dispatched before the event first):
the config model applies the change, and the change becomes a push request (endpoint changes
incremental, config changes full) or a connection.
New connections are admitted by istiod's token bucket (``PILOT_MAX_REQUESTS_PER_SECOND``): one
every ``1/rate`` seconds; a request that would wait past Istio's 1 s is rejected and retried by
Envoy in Istio — dsim folds the retries into the wait, which keeps the admission rate the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.proxies import DesignAccounting
from dsim.calibration.model import Calibration
from dsim.cluster import Cluster
from dsim.cluster.headless import headless_rows
from dsim.pushsim.churn import ChurnStream
from dsim.pushsim.configs import CDS, EDS, RDS, ConfigModel
from dsim.pushsim.costs import push_costs
from dsim.pushsim.debounce import DebounceOptions, Debouncer
from dsim.pushsim.fanout import FanOut, Limits
from dsim.pushsim.metrics import Recorder
from dsim.pushsim.pushlog import Push
from dsim.pushsim.requests import ConfigKey, ConfigKind, PushRequest
from dsim.pushsim.visibility import Seers
from dsim.randomness import generator

# Per kind of change: the cached xDS types whose entries for the changed services istiod builds once
# again (the cache fill; pilot/pkg/model/xds_cache.go clears the entries depending on the changed
# config). Listeners are never cached: every pushed proxy's are built afresh (work.py charges them
# per proxy), so LDS is in none of these, though a VirtualService's TCP routes or a ServiceEntry
# change listeners too. A DestinationRule's subsets and consistent hash reach routes as well as
# clusters and endpoint sets.
_CHANGED_TYPES: dict[ConfigKind, tuple[int, ...]] = {
    "endpoints": (EDS,),
    "service_create": (CDS, EDS, RDS),
    "service_delete": (),
    "virtual_service": (RDS,),
    "destination_rule": (CDS, EDS, RDS),
    "service_entry": (CDS, EDS, RDS),
}
_KEYED_BY_HOST: frozenset[ConfigKind] = frozenset({"endpoints", "service_create", "service_entry"})
"""Changes istiod keys ``(ServiceEntry, host, namespace)``, a Service's or entry's (endpoint updates
too, ``EDSUpdate``): each also reaches the proxies whose service targets hold the host. Not a
deletion: istiod reads a proxy's targets again before it decides (``computeProxyState``), and the
deleted host is no longer among them."""


@dataclasses.dataclass(kw_only=True)
class PushRecord:
    """One push istiod ran (a debounced batch, or an undebounced incremental request)."""

    push: int
    """Push id, in start order."""
    time: float
    """When its proxies were enqueued, seconds."""
    full: bool
    """A full push (else incremental, endpoints only)."""
    debounced: bool
    """Whether it went through the debouncer (incremental pushes skip it with EDS debounce off)."""
    events: int
    """Churn events merged into it."""
    causes: str
    """The kinds of change it carries, comma-separated."""
    debounce_s: float
    """From its oldest event to its start, seconds (pilot_debounce_time)."""
    build_s: float
    """Push-context build and cache fill before enqueueing, seconds."""
    targets: int
    """Connected proxies it was enqueued for."""
    services: int
    """Services whose resources changed."""


@dataclasses.dataclass(kw_only=True)
class DesignRun:
    """Everything one design's simulation recorded."""

    design: str
    recorder: Recorder
    """Every proxy push's tallies, and istiod's CPU over time."""
    pushes: list[PushRecord]
    connected: np.ndarray
    """Per proxy id: connected at the end."""
    proxy_workload: np.ndarray
    """Per proxy id: the workload whose config it gets."""
    end_s: float
    """When the last proxy converged (or the churn ended, if later), seconds."""
    queue_peak: int
    """Most proxies waiting in the push queues at once, after a push enqueued."""
    connections: int
    """Connections admitted (new sidecars and reconnects)."""


class _Simulation:
    def __init__(
        self,
        cluster: Cluster,
        cols: ClusterColumns,
        stream: ChurnStream,
        seers: Seers,
        accounting: DesignAccounting,
        calibration: Calibration,
        on_time: Callable[[float], None] | None,
    ) -> None:
        scenario = cluster.scenario
        self.on_time = on_time
        istiod = scenario.istiod
        self.env = simpy.Environment()
        self.stream = stream
        self.model = ConfigModel(cluster, cols, accounting, stream, seers)
        self.costs = push_costs(calibration, scenario, accounting)
        self.recorder = Recorder(len(stream.proxy_workload))
        assert istiod.push_throttle is not None  # resolved scenarios fill both
        assert istiod.max_requests_per_second is not None
        limits = Limits(
            throttle=istiod.push_throttle,
            cores=istiod.gomaxprocs,
            delta_xds=istiod.delta_xds,
            max_message_bytes=istiod.max_grpc_message_bytes,
        )
        # Each istiod replica serves its share of the proxies (a proxy's id picks it) with its own
        # queue, throttle, cores, egress and admission limiter; all see every config event.
        self.replicas = istiod.replicas
        self.fanout = FanOut(
            proxy_workload=stream.proxy_workload,
            replicas=istiod.replicas,
            model=self.model,
            costs=self.costs,
            limits=limits,
            recorder=self.recorder,
            rotations=[generator(scenario.seed, f"push-order-{r}") for r in range(istiod.replicas)],
        )
        self.admit_every = 1.0 / istiod.max_requests_per_second if istiod.max_requests_per_second > 0 else 0.0
        self.next_admission = [0.0] * istiod.replicas
        self.restart_order = generator(scenario.seed, "reconnect-order")
        self.debouncer = Debouncer(
            self.env,
            DebounceOptions(
                after_s=istiod.debounce_after_s, max_s=istiod.debounce_max_s, eds_debounce=istiod.eds_debounce
            ),
            self._push,
        )
        self.records: list[PushRecord] = []
        self.queue_peak = 0
        self.connections = 0
        self.design = accounting.design
        self.services_total = len(cluster.services)
        self.headless = headless_rows(cluster.services["entry"].to_numpy(), cluster.istio.service_entries)
        self.fanout.table.connected[: stream.initial_proxies] = True

    # -- pushes ---------------------------------------------------------------------------------------
    def _push(self, request: PushRequest) -> Generator[simpy.Event, Any, None]:
        started = self.env.now
        configs = request.configs or frozenset()
        named = {c.target for c in configs if c.kind != "sidecar" and c.target >= 0}
        for c in configs:  # an edited VirtualService's routes are those of the services it names still alive
            if c.edited >= 0:
                named.update(s for s in self.stream.virtual_service_services[c.edited].tolist() if self.model.alive[s])
        services = np.array(sorted(named), np.int64)
        namespaces = np.array(sorted({c.target for c in configs if c.kind == "sidecar"}), np.int64)
        kinds = sorted({c.kind for c in configs})
        types = tuple(sorted({t for k in kinds for t in _CHANGED_TYPES.get(k, ())}))
        generated = self.model.generated_once(services, types)
        if request.full:
            alive = int(self.model.alive.sum())
            build = self.costs.per_service_context_s * alive + self.costs.per_byte_s * generated
        else:
            build = self.costs.per_byte_s * generated
        if build > 0:
            self.recorder.add_cpu(np.full(self.replicas, started), np.full(self.replicas, build))
            yield self.env.timeout(build)
        workloads = self._importing_workloads(configs)
        everywhere = np.array(
            sorted({c.target for c in configs if c.kind != "sidecar" and c.target >= 0 and c.reach < 0}), np.int64
        )
        if len(everywhere):
            workloads |= self.model.sees_any(everywhere)
        keyed = np.array(sorted({c.target for c in configs if c.kind in _KEYED_BY_HOST and c.target >= 0}), np.int64)
        if len(keyed):  # and the proxies whose own services they are
            workloads |= self.model.targets_any(keyed)
        for c in configs:  # a config only some namespaces depend on reaches their proxies that see its service
            if c.kind != "sidecar" and c.target >= 0 and c.reach >= 0:
                seers = self.model.seers_of(c.target)
                workloads[seers[np.isin(self.model.workload_namespace[seers], self.stream.reaches[c.reach])]] = True
        for namespace in namespaces.tolist():
            workloads[self.model.seers.in_namespace(namespace)] = True
        push = Push(full=request.full, services=services, rescoped=namespaces, start=request.start)
        targets = self.fanout.push(self.env.now, push, workloads)
        self.queue_peak = max(self.queue_peak, self.fanout.queue_length())
        self.records.append(
            PushRecord(
                push=len(self.records),
                time=self.env.now,
                full=request.full,
                debounced=request.full or self.debouncer.options.eds_debounce,
                events=request.events,
                causes=",".join(kinds),
                debounce_s=started - request.start,
                build_s=build,
                targets=targets,
                services=len(services),
            )
        )

    def _importing_workloads(self, configs: frozenset[ConfigKey]) -> np.ndarray:
        """Per workload: whether its scope imports a VirtualService whose edit ``configs`` carry
        (its proxies are pushed whether or not they see a service it names)."""
        every = len(self.model.workload_class)
        imports = {c.imported_by for c in configs if c.edited >= 0}
        if -1 in imports:
            return np.ones(every, bool)
        if not imports:
            return np.zeros(every, bool)
        scopes = np.unique(np.concatenate([self.stream.importers[i] for i in sorted(imports)]))
        assert self.stream.workload_scope is not None  # checked when the feed starts
        return np.isin(self.stream.workload_scope, scopes)

    # -- events ---------------------------------------------------------------------------------------
    def _replica(self, proxy: int) -> int:
        return proxy % self.replicas

    def _admit(self, proxy: int) -> None:
        r = self._replica(proxy)
        at = max(self.env.now, self.next_admission[r])
        self.next_admission[r] = at + self.admit_every
        self.connections += 1
        # A callback on a timeout, not a process: a connection is one simulation event, not three.
        admitted = self.env.timeout(at - self.env.now)
        admitted.callbacks.append(lambda _: self.fanout.connect(self.env.now, proxy))

    def _request(self, full: bool, kind: ConfigKind, targets: list[int], reach: int = -1) -> None:
        configs = frozenset(ConfigKey(kind=kind, target=t, reach=reach) for t in targets)
        self.debouncer.receive(PushRequest(full=full, configs=configs, start=self.env.now))

    def _start_feed(self) -> None:
        """Feed the churn events in, each at its time, by a callback on a timeout to the next one."""
        events = self.stream.events
        edited = events["edited"].to_numpy() if "edited" in events else np.zeros(0, np.int64)
        if (edited >= 0).any() and (
            self.stream.workload_scope is None or len(self.stream.virtual_service_services) <= int(edited.max())
        ):
            raise ValueError(
                "a churn stream with VirtualService edits needs the services each names "
                "(virtual_service_services) and its workloads' import scopes (workload_scope)"
            )
        # As Python values: the loop reads each one once, so no NumPy scalar is worth making.
        names = ("time", "kind", "workload", "service", "namespace", "proxy", "state", "reach", "imported_by", "edited")
        # ``reach``, ``imported_by`` and ``edited`` may be absent from a stream built by hand: every
        # edit then reaches all that see its service.
        self._rows = zip(
            *[events[c].to_numpy().tolist() if c in events else [-1] * len(events) for c in names], strict=True
        )
        self._next_row = next(self._rows, None)
        self._feed(None)

    def _feed(self, _: simpy.Event | None) -> None:
        if _ is not None and self.on_time is not None:
            self.on_time(self.env.now)
        row = self._next_row
        while row is not None and row[0] <= self.env.now:
            self._event(*row[1:])
            row = next(self._rows, None)
        self._next_row = row
        if row is not None:
            self.env.timeout(row[0] - self.env.now).callbacks.append(self._feed)

    def _event(
        self,
        kind: str,
        workload: int,
        service: int,
        namespace: int,
        proxy: int,
        state: int,
        reach: int,
        imported_by: int,
        edited: int,
    ) -> None:
        if kind == "endpoints":
            changed = self.fanout.set_endpoints(self.env.now, workload, state)
            if len(changed):
                self._request(False, "endpoints", changed.tolist())
            headless = changed[self.headless[changed]]
            if len(headless):  # its listeners follow its endpoints: a full push too (HeadlessEndpointUpdate)
                self._request(True, "service_entry", headless.tolist())
        elif kind == "connect":
            self._admit(proxy)
        elif kind == "disconnect":
            self.fanout.disconnect(self.env.now, proxy)
        elif kind == "service_create":
            self.fanout.create_service(self.env.now, service)
            self._request(True, "service_create", [service])
        elif kind == "service_delete":
            self.fanout.delete_service(self.env.now, service)
            self._request(True, "service_delete", [service])
        elif kind == "virtual_service" and edited >= 0:  # the proxies whose scope imports it
            key = ConfigKey(kind="virtual_service", target=-1, edited=edited, imported_by=imported_by)
            self.debouncer.receive(PushRequest(full=True, configs=frozenset([key]), start=self.env.now))
        elif kind in ("virtual_service", "destination_rule"):
            self._request(True, kind, [service], reach)  # type: ignore[arg-type]
        elif kind == "service_entry":
            self._request(True, "service_entry", [service])
        elif kind == "sidecar":
            self._request(True, "sidecar", [namespace])
        elif kind == "istiod_restart":
            was = self.fanout.restart(self.env.now)
            self.next_admission = [self.env.now] * self.replicas
            for p in self.restart_order.permutation(was).tolist():
                self._admit(int(p))

    def run(self) -> DesignRun:
        self._start_feed()
        self.env.run()
        self.fanout.drain()
        self.recorder.flush()
        self.recorder.trim(len(self.records))
        last = np.nanmax(self.recorder.proxy_last_converged) if self.recorder.jobs_by_kind.sum() else 0.0
        return DesignRun(
            design=self.design,
            recorder=self.recorder,
            pushes=self.records,
            connected=self.fanout.table.connected.copy(),
            proxy_workload=self.stream.proxy_workload,
            end_s=max(float(last), self.stream.duration_s),
            queue_peak=self.queue_peak,
            connections=self.connections,
        )


def simulate_design(
    cluster: Cluster,
    cols: ClusterColumns,
    stream: ChurnStream,
    seers: Seers,
    accounting: DesignAccounting,
    calibration: Calibration,
    *,
    on_time: Callable[[float], None] | None = None,
) -> DesignRun:
    """The push simulation over the stream of the design ``accounting`` is of; ``on_time(t)`` is
    told each simulated time (seconds) the churn reaches, for progress reporting."""
    return _Simulation(cluster, cols, stream, seers, accounting, calibration, on_time).run()
