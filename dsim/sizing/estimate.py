"""What a scenario needs in memory, estimated from the resolved scenario alone, before anything
is allocated.

The estimate counts what the scenario makes — pods, sidecars, services, endpoints, route groups,
call-graph edges, churn events — from its numbers (no random draws; expected values where a
distribution decides) and prices each in bytes with constants measured on dsim's own peaks (see
:data:`BYTES`). Each count remembers the scenario field that drives it most, so a refusal names
what to change: ``synthetic.replicas.mean: needs about 3.1 TiB ...``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from dsim.cluster.headless import with_headless_services
from dsim.cluster.labels import WorkloadIndex, endpoint_labels, pod_selector, selects
from dsim.cluster.service_entries import listens_per_endpoint
from dsim.scenario.discovery import scenario_discovery
from dsim.scenario.istio.rules import HTTP_PROTOCOLS, canonical_protocol
from dsim.scenario.model import Replicas, Scenario
from dsim.sizing.amount import Amount, total
from dsim.sizing.istio_counts import ScopeRows, envoy_routes
from dsim.sizing.machine import resident_memory
from dsim.xds.access_logs import AccessLogging

Stage = Literal["cluster", "config", "run", "push"]
"""What is about to be done: build the cluster (``dsim inspect``), generate a sidecar's config
messages (``dsim dump``, ``dsim validate``), run the accounting and write the review (``dsim run
--no-pushsim``), or run the push model as well (``dsim run``)."""

# Bytes per object at the peak of each stage: the process's peak RSS (``/usr/bin/time -v``) on
# scenarios that scale one count at a time, less the same command's on a small scenario, over
# that count (2 cores, Python 3.11, numpy 2, pandas 2, one run at a time). The base is what the
# process holds when the guard runs (its imports: ~145-275 MB), read then, not assumed:
#   cluster extra: `dsim inspect` of a one-service mesh against `import dsim.cli`, +14-15 MB (what
#     building a cluster imports and keeps beyond the command line's modules; bench/size_prices.py).
#   run extra: `dsim run --no-pushsim` of quickstart.yaml against `dsim inspect` of it, +31-57 MB
#     (matplotlib, the calibration, the report); push extra: `dsim run` of it, +68-139 MB more
#     (simpy, the compiled kernels; it grew as the push model did).
#   pod: 200,000 pods behind 1,000 services, `inspect` 231 MB -> ~370 B (tables, address
#     allocation, the concatenation's copies).
#   namespace: 200,000 namespaces with a service and a pod each, `inspect` 395 MB -> ~800 B per
#     namespace with its service and workload (the summary's by-namespace table is printed whole).
#   call-graph edge: Barabási–Albert m=50 over 20,000 services (10^6 edges), `inspect` 452 MB ->
#     ~290 B (networkx's dict of dicts, then the dependencies table).
#   proxy and design: 200,000 sidecars behind 1,000 services, `run --no-pushsim` under 4 designs
#     against 1 (bench/size_prices.py) -> 1,284 B measured with the 29 count columns of
#     PRICED_COUNT_COLUMNS (sizes, counts and costs per proxy, their concatenation, CSV and
#     Parquet), priced 1,300 B below: each column is 8 B a row in several copies, so more columns
#     need a new measurement (a test says so; with 10 it was ~900-1,000 B, with 23 ~1,180 B, with
#     25 ~1,210 B, with 26 1,254 B, with 27 1,234 B, with 28 1,255 B: runs differ by a few tens of bytes).
#   route group pair: 20,000 workloads seeing 2,000 HTTP ports (4,000 route groups under
#     `duplicate`), `run --no-pushsim` 3.3 GB -> ~40 B per workload, group and copy (the
#     accounting's (workload, group) table and its weighted sums).
#   endpoint: 1.2 million endpoint rows (100 services of 2,000 pods, 3 ports, 4 subsets) add no
#     visible peak over 200,000 sidecars' tables; priced at 100 B per row and family copy.
#   cluster seen, endpoint seen: `dsim dump` (JSON, additional-addresses) of one sidecar that sees
#     1,000 clusters and 200,000 endpoints: 2.9 GB; 1,500 and 1.2 million: 14.4 GB; 14,000 and
#     42,000 (large.yaml): 1.8 GB; 70,000 and 280,000 (fleet-50k.yaml): 9.2 GB -> ~13.5 KB per
#     endpoint and ~75 KB per cluster with its listener and routes (the messages, their dict for
#     JSON, and the JSON text: the peak is ~10x the output), priced 7% higher so that no dump
#     measured is above its estimate.
#   push proxy and design, push event: fleet-50k.yaml without churn adds 87 MB to `run` (200,000
#     sidecars, 4 designs) -> ~110 B per sidecar and design; large.yaml's churn for 300 s (30,000
#     sidecars, ~6,000 events) adds 91 MB, at 10x the pod replacements (~120,000 events) 194 MB
#     -> ~700 B per sidecar and design once anything churns (pushes to every sidecar), ~1 KB per
#     event.
#   push state: a workload's endpoint set is a tuple of its pods per state the churn reaches
#     (8 B per pod); push second: istiod CPU bins per second, replica and design; push lane: a
#     throttle slot or core of a replica, as float64 in the lane state and the few copies a
#     dispatch makes of it (counted, not measured: throttles of 100 cost nothing visible).
#   route, scope row (bench/size_prices.py prints each): an Envoy route of a VirtualService (one
#     per match) ~670 B in the cluster and ~55 B more in the accounting, under one design or four
#     (it keeps their sizes, not their messages: ~7.3 KB a route per design when it kept them),
#     ~33 KB in one sidecar's dump (messages, dict and JSON, as for a cluster seen); the HTTP route
#     holding it ~640 B more in the cluster and ~675 B in the accounting's stage, whatever its
#     matches (paid once: 1,000 routes of one match against 11 of 100); ~11.4 KB more
#     for each copy in another port's route configuration of its service (1 against 3 HTTP ports); a weighted
#     destination and a request header set on a route ~10 B in the cluster, nothing visible in the
#     accounting, ~3.0 KB and ~3.5 KB in a dump (a removed header is priced as a set one); a
#     route's fault, CORS policy or mirror nothing visible in the cluster or the accounting, ~8.8 KB
#     each in a dump; a (group, service) row of the scope table ~60 B in the
#     cluster (~74 B under Sidecars whose scopes share no base) and, in the accounting, nothing
#     visible where the groups see nearly the same services (it sums over the base they share and
#     each group's differences: dsim/accounting/holder_sets.py), ~56 B where they share none; not
#     per design (it keeps one set of differences per cluster). Priced ~5% above the larger (the
#     route ~12%, so that no probe's cluster is above its estimate).
#   endpoint listener seen, endpoint listener run: a NONE entry of three TCP, TLS and sniffed
#     ports selecting 300 and 3,000 dual-stack pods (a listener per address under
#     `additional-addresses`: 1,800 and 18,000 per host): `dsim dump` of a sidecar seeing them
#     273 MB and 904 MB with one host, 278 MB and 914 MB with two (the second's listeners share
#     the first's names and are dropped) -> ~39 KB per listener kept, whatever the hosts; the
#     accounting (`design_accounting`) of 600 and 3,000 such pods with two hosts (7,200 and 36,000
#     listeners built) +93 MB and +461 MB -> ~12.8 KB per listener built. Priced ~7-9% above.
#   access log byte seen (bench/size_prices.py's access log probe): Istio's default text access log
#     (660 B as a message) in every chain of a sidecar seeing 2,000 TCP services, `dump` +3.5 KB a
#     log -> ~5.3 B per byte of the log's message (messages, dict, JSON); priced per cluster seen
#     (a chain each at most: HTTP services share theirs) at 5.6 B per byte, ~7% above.
PRICED_COUNT_COLUMNS = 29
"""``len(dsim.xds.vocabulary.COUNT_COLUMNS)`` when ``proxy and design`` was measured."""
BYTES = {
    "cluster extra": 16e6,
    "run extra": 60e6,
    "push extra": 130e6,
    "pod": 400.0,
    "namespace": 800.0,
    "service": 300.0,
    "service port": 100.0,
    "workload": 200.0,
    "call-graph edge": 300.0,
    "proxy and design": 1_300.0,
    "route group pair": 40.0,
    "endpoint": 100.0,
    "cluster seen": 80e3,
    "endpoint seen": 14.5e3,
    "push proxy and design": 110.0,
    "push proxy and design under churn": 590.0,
    "push event": 1_000.0,
    "push state pod": 8.0,
    "push second": 100.0,
    "push lane": 64.0,
    "route": 750.0,
    "HTTP route": 710.0,
    "route seen": 34_700.0,
    "route port copy seen": 12_000.0,
    "route run": 60.0,
    "weighted destination seen": 3_150.0,
    "route header seen": 3_650.0,
    "route action seen": 9_300.0,
    "access log byte seen": 5.6,
    "endpoint listener seen": 42e3,
    "endpoint listener run": 14e3,
    "scope row": 78.0,
    "scope row run": 59.0,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SizeEstimate:
    """What a scenario makes and the memory a stage of it needs (expected values, not draws)."""

    pods: float
    """Pods."""
    proxies: float
    """Sidecars."""
    services: float
    """Services."""
    endpoints: float
    """Endpoints over every outbound cluster (a pod once per port and subset that selects it)."""
    clusters_seen_per_proxy: float
    """Outbound clusters in one sidecar's config (the one that sees the most)."""
    endpoints_seen_per_proxy: float
    """Endpoints in one sidecar's config (the one that sees the most)."""
    churn_events: float
    """Events of the push model's churn stream."""
    memory: dict[str, float]
    """Bytes by what holds them at the stage's peak, beyond what the process holds already."""
    resident: float
    """What the process held when the estimate was made (its base), bytes."""
    bytes: float
    """The stage's estimated peak resident memory of the process, base included, bytes."""
    field: str
    """The scenario field that drives the estimate most."""


def _replicas(spec: Replicas) -> Amount:
    """Expected pods per synthetic workload after clipping to [min, max], and the field deciding it."""
    if spec.distribution == "uniform":
        return Amount((spec.min + spec.max) / 2, "synthetic.replicas.max")
    mean = float(round(spec.mean)) if spec.distribution == "fixed" else spec.mean
    if mean <= spec.min:
        return Amount(float(spec.min), "synthetic.replicas.min")
    if mean >= spec.max:
        return Amount(float(spec.max), "synthetic.replicas.max")
    return Amount(mean, "synthetic.replicas.mean")


def _weighted_mean(weights: dict[int, float]) -> float:
    weight_sum = sum(weights.values())
    return sum(k * w for k, w in weights.items()) / weight_sum if weight_sum > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class _Outbound:
    """Outbound clusters or endpoints: the mesh's total, the busiest explicit namespace's, and the
    synthetic mesh's (spread evenly over its namespaces)."""

    total: Amount
    """Clusters (or endpoints) over the whole mesh."""
    busiest_namespace: float
    """Clusters (or endpoints) of the explicit namespace with the most."""
    synthetic: float
    """Clusters (or endpoints) of the synthetic mesh, over all its namespaces."""

    def seen_per_proxy(self, s: Scenario, services: float, calls: float, namespaces: float) -> Amount:
        """What one sidecar sees of them: everything, its namespace's, or its call-graph dependencies'."""
        if s.visibility == "all":
            return self.total
        if s.visibility == "namespace":
            return Amount(self.busiest_namespace + self.synthetic / max(namespaces, 1.0), self.total.field)
        return Amount(self.total.value / max(services, 1.0) * calls, self.total.field)


class ScenarioCounts:
    """The objects a resolved scenario makes, explicit and synthetic, each with its driving field."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.discovery = scenario_discovery(s)
        """The declared namespaces istiod discovers (``mesh.discovery_selectors``)."""
        self.synthetic_services = Amount(0.0, "synthetic.services")
        """The services the generators of VirtualServices and DestinationRules draw from."""
        self.explicit()
        self.synthetic()
        self.rules()
        self.entries()
        self.routes = envoy_routes(s, self.synthetic_services)
        self.scope_rows = ScopeRows(s, self).rows()

    def explicit(self) -> None:
        s = self.s
        replicas = [Amount(float(wl.replicas), f"workloads[{i}].replicas") for i, wl in enumerate(s.workloads)]
        self.pods = total(replicas, "workloads")
        self.proxies = total([r for r, wl in zip(replicas, s.workloads, strict=True) if wl.sidecar], "workloads")
        self.widest_workload = max(replicas, key=lambda r: r.value, default=Amount(0.0, "workloads"))
        self.namespaces = Amount(float(len(s.namespaces)), "namespaces")
        # Headless Services are counted with the entries (entries()), as the registry holds them.
        self.services = Amount(float(sum(not svc.headless for svc in s.services)), "services")
        self.ports = Amount(float(sum(len(svc.ports) for svc in s.services if not svc.headless)), "services")
        self.workloads = Amount(float(len(s.workloads)), "workloads")
        self.edges = Amount(float(sum(len(wl.calls) for wl in s.workloads)), "workloads")
        index = self.workload_index = WorkloadIndex([(wl.namespace, wl.labels or {}) for wl in s.workloads])
        clusters, endpoints = [], []
        by_namespace = {ns.name: [0.0, 0.0] for ns in s.namespaces}  # clusters, endpoints
        # A Service of a namespace istiod does not discover is in no sidecar's config (built, then
        # dropped: counted in services, not in what a sidecar sees). Synthetic namespaces count as
        # discovered (an upper bound: which of them inject is drawn).
        found = self.discovery
        for i, svc in enumerate(s.services):
            if not found.discovers(svc.namespace) or svc.headless:  # a headless one: priced as an entry
                continue
            selector = pod_selector(svc)
            chosen = [] if selector is None else index.matches(svc.namespace, selector)
            ports = Amount(float(len(svc.ports)), f"services[{i}].ports")
            written = Amount(float(len(svc.endpoints or ())), f"services[{i}].endpoints")
            rows = (total([replicas[w] for w in chosen], "workloads") + written) * ports
            for sub in svc.subsets:
                picked = [
                    replicas[w] for w in chosen if selects(sub.labels, endpoint_labels(s.workloads[w].labels or {}))
                ]
                rows = rows + total(picked, "workloads") * ports
            clusters.append(ports * float(1 + len(svc.subsets)))
            endpoints.append(rows)
            by_namespace[svc.namespace][0] += clusters[-1].value
            by_namespace[svc.namespace][1] += rows.value
        self.clusters = _Outbound(
            total(clusters, "services"), max((c for c, _ in by_namespace.values()), default=0.0), 0.0
        )
        self.endpoints = _Outbound(
            total(endpoints, "services"), max((e for _, e in by_namespace.values()), default=0.0), 0.0
        )
        self.http_ports = {p.port for svc in s.services for p in svc.ports if p.protocol in HTTP_PROTOCOLS}
        self.http_field = "services"

    def synthetic(self) -> None:
        syn = self.s.synthetic
        self.synthetic_namespaces = 0.0
        if not syn.services:
            return
        services = self.synthetic_services = Amount(float(syn.services), "synthetic.services")
        versions = Amount(1 + syn.subsets.fraction * (syn.subsets.versions - 1), "synthetic.subsets.versions")
        workloads = services * versions
        replicas = _replicas(syn.replicas)
        pods = workloads * replicas
        injected = round(syn.sidecar_injection * syn.namespaces) / syn.namespaces
        ports = Amount(_weighted_mean(syn.ports_per_service), "synthetic.ports_per_service")
        # Every port is a cluster of the service's pods, and each subset's cluster holds its version's.
        subsets = Amount(1 + syn.subsets.fraction * syn.subsets.versions, "synthetic.subsets.versions")
        clusters = services * ports * subsets
        endpoints = pods * ports * Amount(1 + syn.subsets.fraction, "synthetic.subsets.fraction")
        self.namespaces = self.namespaces + Amount(float(syn.namespaces), "synthetic.namespaces")
        self.synthetic_namespaces = float(syn.namespaces)
        self.services = self.services + services
        self.ports = self.ports + services * ports
        self.workloads = self.workloads + workloads
        self.pods = self.pods + pods
        self.proxies = self.proxies + pods * injected
        # A random pod's workload holds about twice the mean (pods weight workloads by their size).
        widest = Amount(min(2 * replicas.value, float(syn.replicas.max)), replicas.field)
        self.widest_workload = max(self.widest_workload, widest, key=lambda r: r.value)
        self.clusters = _Outbound(self.clusters.total + clusters, self.clusters.busiest_namespace, clusters.value)
        self.endpoints = _Outbound(self.endpoints.total + endpoints, self.endpoints.busiest_namespace, endpoints.value)
        self.edges = self.edges + self.call_graph_edges() * versions
        # Route groups are the distinct HTTP port numbers: the widest source of them names the field.
        pools = {
            "http": syn.protocols.http + syn.protocols.http2 > 0,
            "grpc": syn.protocols.grpc + syn.protocols.grpc_web > 0,
        }
        most = len(self.http_ports)
        for pool, used in pools.items():
            numbers = set(getattr(syn.port_pools, pool)) if used else set()
            self.http_ports |= numbers
            if len(numbers) > most:
                most, self.http_field = len(numbers), f"synthetic.port_pools.{pool}"

    def rules(self) -> None:
        """DestinationRule subsets: a cluster per subset and port of the rule's service, each holding
        the pods its labels select (subsets of one label share a service's pods out: the service's
        endpoints once more, at most)."""
        s = self.s
        ports = self.ports.value / max(self.services.value, 1.0)  # a Kubernetes service's, on average
        pods = self.pods.value / max(self.services.value, 1.0)
        gen = s.istio_objects.destination_rules
        chosen = self.synthetic_services * Amount(gen.share, "istio_objects.destination_rules.share")
        with_rules = Amount(float(round(chosen.value)), chosen.field)
        subsets = with_rules * Amount(float(gen.subsets), "istio_objects.destination_rules.subsets")
        pasted = Amount(float(sum(len(rule.spec.subsets) for rule in s.destination_rules)), "destination_rules")
        clusters = (subsets + pasted) * ports
        endpoints = (with_rules * (1.0 if gen.subsets else 0.0) + pasted) * (pods * ports)
        # Spread over the namespaces as the synthetic services are (an upper bound for the busiest).
        self.clusters = _Outbound(
            self.clusters.total + clusters,
            self.clusters.busiest_namespace + pasted.value * ports,
            self.clusters.synthetic + subsets.value * ports,
        )
        self.endpoints = _Outbound(
            self.endpoints.total + endpoints,
            self.endpoints.busiest_namespace + pasted.value * pods * ports,
            self.endpoints.synthetic + (endpoints.value - pasted.value * pods * ports),
        )

    def entries(self) -> None:
        """ServiceEntries: a service per host with the entry's ports, a cluster per host and port,
        the entry's endpoints behind each (its own, or the pods its selector picks among the
        explicit workloads), and the per-endpoint listeners of a ``NONE`` entry that selects
        workloads without an address (one per address of each endpoint on every TCP, TLS or
        sniffed port), all as seen by every proxy: the upper bound."""
        s = self.s
        hosts, clusters, endpoints = 0.0, 0.0, 0.0
        listeners: list[Amount] = []
        kept: list[Amount] = []
        headless = [i for i, svc in enumerate(s.services) if svc.headless]
        for i, entry in enumerate(with_headless_services(s).service_entries):
            if not self.discovery.discovers(entry.namespace):
                continue
            field = f"services[{headless[i]}]" if i < len(headless) else f"service_entries[{i - len(headless)}].spec"
            spec = entry.spec
            selected = 0.0
            if spec.workload_selector is not None:
                chosen = self.workload_index.matches(entry.namespace, spec.workload_selector.labels)
                selected = float(sum(s.workloads[w].replicas for w in chosen))
            hosts += len(spec.hosts)
            clusters += len(spec.hosts) * len(spec.ports)
            endpoints += len(spec.hosts) * len(spec.ports) * max(len(spec.endpoints), selected, 1)
            if listens_per_endpoint(entry):
                ports = sum(1 for p in spec.ports if canonical_protocol(p.protocol) not in (*HTTP_PROTOCOLS, "UDP"))
                per_endpoint = Amount(selected, f"{field}.{'selector' if entry.headless else 'workloadSelector'}")
                listeners.append(per_endpoint * float(len(spec.hosts) * ports * 2))
                kept.append(per_endpoint * float(ports * 2))  # the entry's hosts share their names: the first's stand
        self.endpoint_listeners = total(listeners, "service_entries")
        """Per-endpoint listeners built, every host's (at most two addresses a pod)."""
        self.endpoint_listeners_kept = total(kept, "service_entries")
        """Those a sidecar keeps: one host's per entry, the others' sharing their names."""
        pasted = Amount(hosts, "service_entries")
        gen = self.s.istio_objects.service_entries
        generated = Amount(float(gen.count * gen.hosts_per_entry), "istio_objects.service_entries.count")
        self.services = self.services + pasted + generated
        self.ports = self.ports + Amount(clusters, "service_entries") + generated
        added = Amount(clusters, "service_entries") + generated
        self.clusters = _Outbound(self.clusters.total + added, self.clusters.busiest_namespace, self.clusters.synthetic)
        behind = Amount(endpoints, "service_entries") + generated * float(max(gen.endpoints_per_entry, 1))
        self.endpoints = _Outbound(
            self.endpoints.total + behind, self.endpoints.busiest_namespace, self.endpoints.synthetic
        )

    def call_graph_edges(self) -> Amount:
        syn = self.s.synthetic
        spec, n = syn.call_graph, float(syn.services)
        if spec.model == "edge-list":
            return Amount(float(len(spec.edges)), "synthetic.call_graph.edges")
        if spec.model == "none" or n < 2:
            return Amount(0.0, "synthetic.call_graph.model")
        # Edges grow with both the services and the degree; once the degree nears the services (a
        # dense graph), the degree is what was set too high.
        if spec.model == "barabasi-albert":
            m = min(float(spec.m), n - 1)
            return Amount(m * (n - m), "synthetic.call_graph.m" if m >= n / 2 else "synthetic.services")
        degree = min(spec.mean_degree, n - 1)
        return Amount(n * degree, "synthetic.call_graph.mean_degree" if degree >= n / 2 else "synthetic.services")

    def seen_per_proxy(self, outbound: _Outbound) -> Amount:
        calls = self.edges.value / max(self.workloads.value, 1.0)  # services a workload calls, on average
        return outbound.seen_per_proxy(self.s, self.services.value, calls, self.synthetic_namespaces)


def _churn(s: Scenario, counts: ScenarioCounts) -> tuple[Amount, Amount]:
    """Expected events of the churn stream, and how many of them are endpoint-set changes (each a
    membership state of its workload). A pod replaced is four events: gone, endpoints, new, ready."""
    c = s.churn
    hours = Amount(c.duration_s / 3600, "churn.duration_s")
    per_workload = counts.pods.value / max(counts.workloads.value, 1.0)
    per_service = counts.pods.value / max(counts.services.value, 1.0)
    replaced = Amount(c.pod_replacements_per_s, "churn.pod_replacements_per_s") * (hours * 3600.0)
    rollouts = Amount(c.rollouts_per_hour, "churn.rollouts_per_hour") * hours
    scaled = Amount(c.scale_events_per_hour, "churn.scale_events_per_hour") * hours
    created = Amount(c.service_creations_per_hour, "churn.service_creations_per_hour") * hours
    deleted = Amount(c.service_deletions_per_hour, "churn.service_deletions_per_hour") * hours
    edits = c.config_edits_per_hour
    waves = 1 / max(c.rollout_surge, 1 / max(per_workload, 1.0))
    events = total(
        [
            replaced * 4.0,
            rollouts * (3 * per_workload + waves),
            scaled * Amount(c.scale_step + 1.0, "churn.scale_step"),
            (created + deleted) * (1 + per_service),
            Amount(edits, "churn") * hours,
            Amount(float(len(c.istiod_restarts_s)), "churn.istiod_restarts_s"),
        ],
        "churn.duration_s",
    )
    endpoint_changes = total([replaced * 2.0, rollouts * waves, scaled], "churn.duration_s")
    return events, endpoint_changes


def estimate_counts(scenario: Scenario) -> ScenarioCounts:
    """The objects ``scenario`` makes, as the estimate counts them."""
    return ScenarioCounts(scenario)


def estimate(scenario: Scenario, *, stage: Stage = "cluster", designs: int | None = None) -> SizeEstimate:
    """What ``scenario`` makes, and the peak memory ``stage`` needs with ``designs`` designs
    (default: the scenario's)."""
    counts = ScenarioCounts(scenario)
    d = float(designs if designs is not None else len(scenario.designs))
    memory: dict[str, Amount] = {
        "pods": counts.pods * BYTES["pod"],
        "namespaces": counts.namespaces * BYTES["namespace"],
        "services": counts.services * BYTES["service"] + counts.ports * BYTES["service port"],
        "workloads": counts.workloads * BYTES["workload"],
        "call graph": counts.edges * BYTES["call-graph edge"],
    }
    clusters_seen = counts.seen_per_proxy(counts.clusters)
    endpoints_seen = counts.seen_per_proxy(counts.endpoints)
    events, endpoint_changes = _churn(scenario, counts)
    routes = counts.routes
    memory["scope"] = counts.scope_rows * BYTES["scope row"]
    memory["routes"] = routes.routes * BYTES["route"] + routes.http_routes * BYTES["HTTP route"]
    if stage == "config":
        memory["one sidecar's config"] = (
            clusters_seen * BYTES["cluster seen"]
            + endpoints_seen * BYTES["endpoint seen"]
            + routes.seen * BYTES["route seen"]
            + routes.port_copies * BYTES["route port copy seen"]
            + routes.destinations * BYTES["weighted destination seen"]
            + routes.headers * BYTES["route header seen"]
            + routes.actions * BYTES["route action seen"]
            + counts.endpoint_listeners_kept * BYTES["endpoint listener seen"]
        )
        logging = AccessLogging.of(scenario.mesh)
        if logging is not None:  # one per chain, a chain per cluster seen at most
            log_bytes = Amount(float(logging.listener_entry.ByteSize()), "mesh.access_log_format")
            memory["one sidecar's config"] = (
                memory["one sidecar's config"] + clusters_seen * log_bytes * BYTES["access log byte seen"]
            )
    fixed = {"cluster code": BYTES["cluster extra"]}
    if stage in ("run", "push"):
        fixed["report"] = BYTES["run extra"]
    if stage in ("run", "push"):
        copies = 2.0  # dual-stack designs price each family's copy of a cluster's endpoints and routes
        route_groups = Amount(float(len(counts.http_ports)) * copies, counts.http_field)
        memory["sidecar tables"] = counts.proxies * d * BYTES["proxy and design"]
        memory["route groups"] = counts.workloads * route_groups * BYTES["route group pair"]
        memory["endpoints"] = counts.endpoints.total * copies * BYTES["endpoint"]
        # Each host's per-endpoint listeners are built as messages per family class, one class at a time.
        memory["per-endpoint listeners"] = counts.endpoint_listeners * BYTES["endpoint listener run"]
        # The accounting keeps the routes' sizes, not their messages, and lets the scope's
        # expansions go between designs: neither is paid per design.
        memory["routes"] = memory["routes"] + routes.routes * BYTES["route run"]
        memory["scope"] = memory["scope"] + counts.scope_rows * BYTES["scope row run"]
    if stage == "push":
        istiod = scenario.istiod
        replicas = Amount(float(istiod.replicas), "istiod.replicas")
        lanes = "istiod.push_throttle" if (istiod.push_throttle or 0) >= istiod.gomaxprocs else "istiod.gomaxprocs"
        seconds = Amount(scenario.churn.duration_s, "churn.duration_s")
        fixed["push model code"] = BYTES["push extra"]
        per_proxy = BYTES["push proxy and design"] + (BYTES["push proxy and design under churn"] if events.value else 0)
        memory["push model"] = (
            counts.proxies * d * per_proxy
            + events * BYTES["push event"]
            + endpoint_changes * counts.widest_workload * BYTES["push state pod"]
            + seconds * replicas * d * BYTES["push second"]
            + replicas * Amount(float(istiod.push_throttle or 0) + istiod.gomaxprocs, lanes) * BYTES["push lane"]
        )
    summed = total(memory.values(), "synthetic.services")
    resident = resident_memory()
    return SizeEstimate(
        pods=counts.pods.value,
        proxies=counts.proxies.value,
        services=counts.services.value,
        endpoints=counts.endpoints.total.value,
        clusters_seen_per_proxy=clusters_seen.value,
        endpoints_seen_per_proxy=endpoints_seen.value,
        churn_events=events.value,
        memory={key: m.value for key, m in memory.items()} | fixed,
        resident=resident,
        bytes=resident + sum(fixed.values()) + summed.value,
        field=summed.field,
    )
