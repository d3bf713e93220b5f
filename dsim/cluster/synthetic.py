"""Generated tables for a synthetic mesh of any size, vectorized (no Python object per pod).

Shape of what is generated, per the scenario's ``synthetic`` section: services spread evenly
over namespaces; each service has one workload (``app: <svc>, version: v1``) or, when it has
DestinationRule subsets, one workload per version (``<svc>-v<k>``); pods per workload from the
replicas distribution, placed over the weighted localities; the call graph from networkx with
edges oriented from newer to older services (preferential attachment: popular services are
called by many).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from dsim.cluster.tables import SCHEMA, make_table
from dsim.randomness import generator
from dsim.scenario import Scenario
from dsim.scenario.istio.rules import served_protocol
from dsim.scenario.model import Replicas
from dsim.scenario.synthetic_names import synthetic_namespace_name, synthetic_service_name

# Family policies in FamilyMix field order: (ip_families text, has IPv4, has IPv6, IPv6 primary).
_FAMILY_POLICIES = (
    ("IPv4", True, False, False),
    ("IPv6", False, True, True),
    ("IPv4,IPv6", True, True, False),
    ("IPv6,IPv4", True, True, True),
)
# Protocols in ProtocolMix field order: (protocol, port-name prefix, port pool).
_PROTOCOLS = (
    ("HTTP", "http", "http"),
    ("HTTP2", "http2", "http"),
    ("GRPC", "grpc", "grpc"),
    ("TCP", "tcp", "tcp"),
    ("auto", "port", "auto"),  # "port-…" names no protocol, so Istio sniffs it
    ("GRPC-Web", "grpc-web", "grpc"),
)
_POOLS = ("http", "grpc", "tcp", "auto")


def _weights(values: list[float]) -> np.ndarray:
    w = np.asarray(values, dtype=float)
    return w / w.sum()


def _names(prefix: str, numbers: np.ndarray, width: int = 0) -> np.ndarray:
    digits = numbers.astype(str)
    return np.strings.add(prefix, np.strings.zfill(digits, width) if width else digits)


def _replicas(rng: np.random.Generator, spec: Replicas, count: int) -> np.ndarray:
    if spec.distribution == "fixed":
        drawn = np.full(count, round(spec.mean))
    elif spec.distribution == "uniform":
        drawn = rng.integers(spec.min, spec.max + 1, size=count)
    elif spec.distribution == "geometric":
        drawn = rng.geometric(1.0 / spec.mean, size=count)  # support 1, 2, ...; mean 1/p
    else:  # lognormal with the requested mean: E = exp(mu + sigma²/2)
        mu = np.log(spec.mean) - spec.sigma**2 / 2
        drawn = np.rint(rng.lognormal(mu, spec.sigma, size=count))
    return np.clip(drawn, spec.min, spec.max).astype(np.int64)


def _rank_within(*keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each group of equal keys, in row order."""
    return pd.DataFrame(dict(enumerate(keys))).groupby(list(range(len(keys))), sort=False).cumcount().to_numpy()


def _call_graph_edges(s: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(caller, callee) synthetic service indices."""
    spec, n = s.synthetic.call_graph, s.synthetic.services
    if spec.model == "edge-list":
        edges = np.array(spec.edges, dtype=np.int64).reshape(-1, 2)
        return edges[:, 0], edges[:, 1]
    if spec.model == "none" or n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if spec.model == "barabasi-albert":
        graph = nx.barabasi_albert_graph(n, min(spec.m, n - 1), seed=seed)
        pairs = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
        return pairs.max(axis=1), pairs.min(axis=1)
    probability = min(spec.mean_degree / (n - 1), 1.0)
    if 1.0 - probability == 1.0:  # networkx divides by log(1 - p), which is 0 here: no edges anyway
        return np.empty(0, np.int64), np.empty(0, np.int64)
    graph = nx.fast_gnp_random_graph(n, probability, seed=seed, directed=True)
    pairs = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def synthetic_tables(s: Scenario) -> dict[str, pd.DataFrame]:
    """The synthetic part of ``s`` as tables (ids local to this part)."""
    syn = s.synthetic
    n = syn.services

    # Namespaces: a random share of them has injection on.
    n_ns = syn.namespaces
    injected = np.zeros(n_ns, dtype=bool)
    injected[generator(s.seed, "namespace-injection").permutation(n_ns)[: round(syn.sidecar_injection * n_ns)]] = True
    namespaces = make_table(
        "namespaces",
        {
            "name": _names("ns-", np.arange(n_ns), width=len(synthetic_namespace_name(0)) - len("ns-")),
            "sidecar_injection": injected,
            "synthetic": np.ones(n_ns, dtype=bool),
        },
    )

    # Services and their IP family policies.
    ids = np.arange(n)
    service_ns = ids % n_ns
    policy = generator(s.seed, "service-families").choice(
        len(_FAMILY_POLICIES), size=n, p=_weights(list(vars(syn.families).values()))
    )
    table = list(zip(*_FAMILY_POLICIES, strict=True))
    service_names = _names("svc-", ids, width=len(synthetic_service_name(0)) - len("svc-"))
    services = make_table(
        "services",
        {
            "name": service_names,
            "namespace": service_ns,
            "ip_families": np.array(table[0])[policy],
            "has_ipv4": np.array(table[1])[policy],
            "has_ipv6": np.array(table[2])[policy],
            "primary_ipv6": np.array(table[3])[policy],
            "synthetic": np.ones(n, dtype=bool),
            "entry": np.full(n, -1),
            "prefer_close": _chosen(s.seed, "prefer-close", n, syn.prefer_close),
            "publish_not_ready": np.zeros(n, bool),  # synthetic workloads are all ready
        },
        vip4=np.zeros(n, np.uint32),
        vip4_fixed=np.zeros(n, bool),
        vip6_hi=np.zeros(n, np.uint64),
        vip6_lo=np.zeros(n, np.uint64),
        vip6_fixed=np.zeros(n, bool),
    )

    # Ports: protocol per port; numbers distinct within a service, drawn from the protocol's
    # pool starting at a random place (the checks guarantee each pool is wide enough).
    rng = generator(s.seed, "service-ports")
    counts = np.array(list(syn.ports_per_service), dtype=np.int64)
    ports_per = rng.choice(counts, size=n, p=_weights(list(syn.ports_per_service.values())))
    port_service = np.repeat(ids, ports_per)
    protocol = rng.choice(len(_PROTOCOLS), size=port_service.size, p=_weights(list(vars(syn.protocols).values())))
    pool_of = np.array([_POOLS.index(p[2]) for p in _PROTOCOLS])[protocol]
    pools = [getattr(syn.port_pools, name) for name in _POOLS]
    pool_len = np.array([max(len(p), 1) for p in pools])
    pool_start = np.concatenate([[0], np.cumsum([len(p) for p in pools])[:-1]])
    all_ports = np.array([port for pool in pools for port in pool] or [0], dtype=np.int64)
    start = rng.integers(0, np.iinfo(np.int32).max, size=(n, len(_POOLS)))[port_service, pool_of]
    slot = (start + _rank_within(port_service, pool_of)) % pool_len[pool_of]
    port_number = all_ports[pool_start[pool_of] + slot]
    prefix = np.array([p[1] for p in _PROTOCOLS])[protocol]
    service_ports = make_table(
        "service_ports",
        {
            "service": port_service,
            "name": np.strings.add(np.strings.add(prefix, "-"), port_number.astype(str)),
            "port": port_number,
            "target_port": port_number,
            "protocol": np.array([served_protocol(p[0]) for p in _PROTOCOLS])[protocol],
            "istio_protocol": np.array([p[0] for p in _PROTOCOLS])[protocol],
        },
    )

    # Workloads: one per service, or one per version for services with subsets.
    with_subsets = _chosen(s.seed, "subsets", n, syn.subsets.fraction)
    versions = np.where(with_subsets, syn.subsets.versions, 1)
    workload_service = np.repeat(ids, versions)
    version = _rank_within(workload_service) + 1
    n_wl = workload_service.size
    version_text = _names("v", version)
    svc_name = service_names[workload_service]
    workload_names = np.where(
        with_subsets[workload_service], np.strings.add(np.strings.add(svc_name, "-"), version_text), svc_name
    )
    replicas = _replicas(generator(s.seed, "replicas"), syn.replicas, n_wl)
    workloads = make_table(
        "workloads",
        {
            "name": workload_names,
            "namespace": service_ns[workload_service],
            "service_account": svc_name,
            "replicas": replicas,
            "sidecar": injected[service_ns[workload_service]],
            "canonical_service": svc_name,
            "canonical_revision": version_text,
            "synthetic": np.ones(n_wl, dtype=bool),
            "ready": np.ones(n_wl, dtype=bool),
            "terminating": np.zeros(n_wl, dtype=bool),
        },
    )
    workload_ids = np.arange(n_wl)
    workload_labels = make_table(
        "workload_labels",
        {
            "workload": np.repeat(workload_ids, 2),
            "key": np.tile(["app", "version"], n_wl),
            "value": np.stack([svc_name, version_text], axis=1).reshape(-1),
        },
    )
    service_workloads = make_table("service_workloads", {"service": workload_service, "workload": workload_ids})
    subset_workload = workload_ids[with_subsets[workload_service]]
    subsets = make_table(
        "subsets",
        {
            "service": workload_service[subset_workload],
            "name": version_text[subset_workload],
            "rule": np.full(subset_workload.size, -1),
            "takes_written": np.zeros(subset_workload.size, bool),  # no synthetic endpoint is written by hand
        },
    )
    subset_workloads = make_table(
        "subset_workloads", {"subset": np.arange(subset_workload.size), "workload": subset_workload}
    )

    # Pods, placed over the localities.
    pod_workload = np.repeat(workload_ids, replicas)
    n_pods = pod_workload.size
    if syn.localities:
        localities = make_table(
            "localities",
            {"region": [loc.region for loc in syn.localities], "zone": [loc.zone for loc in syn.localities]},
        )
        pod_locality = generator(s.seed, "pod-localities").choice(
            len(syn.localities), size=n_pods, p=_weights([loc.weight for loc in syn.localities])
        )
    else:
        localities = make_table("localities", {"region": [""], "zone": [""]})
        pod_locality = np.zeros(n_pods, dtype=np.int64)
    families = s.network.pod_ip_families
    pods = make_table(
        "pods",
        {
            "workload": pod_workload,
            "ordinal": np.arange(n_pods) - (np.cumsum(replicas) - replicas)[pod_workload],
            "locality": pod_locality,
            "has_ipv4": np.full(n_pods, "IPv4" in families),
            "has_ipv6": np.full(n_pods, "IPv6" in families),
        },
        ipv4=np.zeros(n_pods, np.uint32),
        ipv4_fixed=np.zeros(n_pods, bool),
        ipv6_hi=np.zeros(n_pods, np.uint64),
        ipv6_lo=np.zeros(n_pods, np.uint64),
        ipv6_fixed=np.zeros(n_pods, bool),
    )

    # Call graph: every workload of the caller service calls the callee service.
    graph_seed = int(generator(s.seed, "call-graph").integers(2**31))
    caller, callee = _call_graph_edges(s, graph_seed)
    keep = caller != callee
    caller, callee = caller[keep], callee[keep]
    first_workload = np.cumsum(versions) - versions
    fan = versions[caller]
    dependency_workload = np.repeat(first_workload[caller], fan) + _rank_within(np.repeat(np.arange(caller.size), fan))
    dependencies = (
        make_table("dependencies", {"workload": dependency_workload, "service": np.repeat(callee, fan)})
        .drop_duplicates()
        .sort_values(["workload", "service"], ignore_index=True)
    )

    return {
        "namespaces": namespaces,
        "services": services,
        "service_ports": service_ports,
        "subsets": subsets,
        "workloads": workloads,
        "workload_labels": workload_labels,
        "service_workloads": service_workloads,
        "subset_workloads": subset_workloads,
        "localities": localities,
        "pods": pods,
        "written_endpoints": make_table("written_endpoints", {c: [] for c in SCHEMA["written_endpoints"]}),
        "dependencies": dependencies,
    }


def _chosen(seed: int, component: str, n: int, fraction: float) -> np.ndarray:
    """A ``fraction`` of ``n`` services, drawn from ``component``'s own stream."""
    out = np.zeros(n, dtype=bool)
    out[generator(seed, component).permutation(n)[: round(fraction * n)]] = True
    return out
