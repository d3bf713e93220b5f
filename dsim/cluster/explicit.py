"""Tables for the objects a scenario writes out one by one (namespaces, services, workloads).

A scenario lists tens of explicit objects, not thousands, so building rows with Python loops
here is fine; the synthetic generator is the path that scales. Fixed IPs are kept in scratch
columns (``*_fixed``) for the allocator in ``build.py``.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from dsim.addresses import split_ipv6
from dsim.cluster.labels import (
    WorkloadIndex,
    canonical_revision,
    canonical_service,
    endpoint_labels,
    pod_selector,
    selects,
    takes_written,
)
from dsim.cluster.tables import make_table
from dsim.scenario import Scenario
from dsim.scenario.istio.rules import served_protocol
from dsim.scenario.model import Locality

WRITTEN_LOCALITY = Locality()
"""The locality of an endpoint written by hand: istiod finds no pod, so no node, behind it."""


def _ip_columns(prefix4: str, prefix6: str, texts: list[list[str]]) -> dict[str, np.ndarray]:
    """Fixed-address columns from lists of IP texts (one list per row, any order)."""
    n = len(texts)
    v4 = np.zeros(n, dtype=np.uint32)
    v6_hi = np.zeros(n, dtype=np.uint64)
    v6_lo = np.zeros(n, dtype=np.uint64)
    fixed4 = np.zeros(n, dtype=bool)
    fixed6 = np.zeros(n, dtype=bool)
    for row, addresses in enumerate(texts):
        for text in addresses:
            ip = ipaddress.ip_address(text)
            if ip.version == 4:
                v4[row], fixed4[row] = int(ip), True
            else:
                (v6_hi[row], v6_lo[row]), fixed6[row] = split_ipv6(int(ip)), True
    return {
        prefix4: v4,
        f"{prefix4}_fixed": fixed4,
        f"{prefix6}_hi": v6_hi,
        f"{prefix6}_lo": v6_lo,
        f"{prefix6}_fixed": fixed6,
    }


def explicit_tables(s: Scenario) -> dict[str, pd.DataFrame]:
    """The explicit objects of ``s`` as tables (ids local to this part)."""
    ns_id = {ns.name: i for i, ns in enumerate(s.namespaces)}
    # A headless Service joins the registry as an entry (dsim.cluster.headless), the calls to it too.
    cluster_ip_services = [svc for svc in s.services if not svc.headless]
    namespaces = make_table(
        "namespaces",
        {
            "name": [ns.name for ns in s.namespaces],
            "sidecar_injection": [ns.sidecar_injection for ns in s.namespaces],
            "synthetic": np.zeros(len(s.namespaces), dtype=bool),
        },
    )

    services = make_table(
        "services",
        {
            "name": [svc.name for svc in cluster_ip_services],
            "namespace": [ns_id[svc.namespace] for svc in cluster_ip_services],
            "ip_families": [",".join(svc.ip_families) for svc in cluster_ip_services],
            "has_ipv4": ["IPv4" in svc.ip_families for svc in cluster_ip_services],
            "has_ipv6": ["IPv6" in svc.ip_families for svc in cluster_ip_services],
            "primary_ipv6": [svc.ip_families[0] == "IPv6" for svc in cluster_ip_services],
            "synthetic": np.zeros(len(cluster_ip_services), dtype=bool),
            "entry": np.full(len(cluster_ip_services), -1),
            "prefer_close": [svc.traffic_distribution is not None for svc in cluster_ip_services],
            "publish_not_ready": [svc.publish_not_ready_addresses for svc in cluster_ip_services],
        }
        | _ip_columns("vip4", "vip6", [list(svc.cluster_ips) for svc in cluster_ip_services]),
    )
    ports = [(i, p) for i, svc in enumerate(cluster_ip_services) for p in svc.ports]
    service_ports = make_table(
        "service_ports",
        {
            "service": [i for i, _ in ports],
            "name": [p.name for _, p in ports],
            "port": [p.port for _, p in ports],
            "target_port": [p.target_port for _, p in ports],
            # TLS, HTTPS and Mongo are served as TCP, gRPC-Web as gRPC; ``istio_protocol`` keeps their own.
            "protocol": [served_protocol(str(p.protocol)) for _, p in ports],
            "istio_protocol": [p.protocol for _, p in ports],
        },
    )
    subset_rows = [(i, sub) for i, svc in enumerate(cluster_ip_services) for sub in svc.subsets]
    subsets = make_table(
        "subsets",
        {
            "service": [i for i, _ in subset_rows],
            "name": [sub.name for _, sub in subset_rows],
            "rule": np.full(len(subset_rows), -1),
            "takes_written": [takes_written(sub.labels) for _, sub in subset_rows],
        },
    )

    workloads = make_table(
        "workloads",
        {
            "name": [wl.name for wl in s.workloads],
            "namespace": [ns_id[wl.namespace] for wl in s.workloads],
            "service_account": [wl.service_account for wl in s.workloads],
            "replicas": [wl.replicas for wl in s.workloads],
            "sidecar": [bool(wl.sidecar) for wl in s.workloads],
            "canonical_service": [canonical_service(wl.labels or {}, wl.name) for wl in s.workloads],
            "canonical_revision": [canonical_revision(wl.labels or {}) for wl in s.workloads],
            "synthetic": np.zeros(len(s.workloads), dtype=bool),
            "ready": [wl.ready for wl in s.workloads],
            "terminating": [wl.terminating for wl in s.workloads],
        },
    )
    label_rows = [(w, k, v) for w, wl in enumerate(s.workloads) for k, v in (wl.labels or {}).items()]
    workload_labels = make_table(
        "workload_labels",
        {
            "workload": [w for w, _, _ in label_rows],
            "key": [k for _, k, _ in label_rows],
            "value": [v for _, _, v in label_rows],
        },
    )

    index = WorkloadIndex([(wl.namespace, wl.labels or {}) for wl in s.workloads])
    # Unready workloads too: a Service selects its pods whatever their readiness (their proxies
    # get its inbound side, its SANs their accounts); Cluster.endpoint_workloads leaves them out of
    # the endpoint sets.
    selected_by_service = [
        [] if (selector := pod_selector(svc)) is None else index.matches(svc.namespace, selector)
        for svc in cluster_ip_services
    ]
    selected = [(i, w) for i, ws in enumerate(selected_by_service) for w in ws]
    service_workloads = make_table(
        "service_workloads",
        {"service": [i for i, _ in selected], "workload": [w for _, w in selected]},
    )
    subset_selected = [
        (k, w)
        for k, (i, sub) in enumerate(subset_rows)
        for w in selected_by_service[i]
        if selects(sub.labels, endpoint_labels(s.workloads[w].labels or {}))
    ]
    subset_workloads = make_table(
        "subset_workloads",
        {"subset": [k for k, _ in subset_selected], "workload": [w for _, w in subset_selected]},
    )

    locality_ids: dict[Locality, int] = {}
    written = [(i, e) for i, svc in enumerate(cluster_ip_services) for e in svc.endpoints or ()]
    if written:
        locality_ids[WRITTEN_LOCALITY] = 0  # the endpoints written by hand have none
    for wl in s.workloads:
        for locality in (wl.locality, *wl.pod_localities):
            locality_ids.setdefault(locality, len(locality_ids))
    localities = make_table(
        "localities",
        {"region": [loc.region for loc in locality_ids], "zone": [loc.zone for loc in locality_ids]},
    )
    replicas = np.array([wl.replicas for wl in s.workloads], dtype=np.int64)
    pod_workload = np.repeat(np.arange(len(s.workloads)), replicas)
    first_pod = np.cumsum(replicas) - replicas
    fixed_texts: list[list[str]] = [[] for _ in range(int(replicas.sum()))]
    for w, wl in enumerate(s.workloads):
        for r, addresses in enumerate(wl.pod_ips):
            fixed_texts[int(first_pod[w]) + r] = list(addresses)
    families = [wl.ip_families or () for wl in s.workloads]
    workload_locality = np.array([locality_ids[wl.locality] for wl in s.workloads], dtype=np.int64)
    pod_locality = workload_locality[pod_workload]
    for w, wl in enumerate(s.workloads):
        for r, locality in enumerate(wl.pod_localities):
            pod_locality[int(first_pod[w]) + r] = locality_ids[locality]
    pods = make_table(
        "pods",
        {
            "workload": pod_workload,
            "ordinal": np.arange(pod_workload.size) - first_pod[pod_workload],
            "locality": pod_locality,
            "has_ipv4": np.array(["IPv4" in f for f in families], dtype=bool)[pod_workload],
            "has_ipv6": np.array(["IPv6" in f for f in families], dtype=bool)[pod_workload],
        }
        | _ip_columns("ipv4", "ipv6", fixed_texts),
    )

    written_endpoints = make_table(
        "written_endpoints",
        {
            "service": [i for i, _ in written],
            "ready": [e.ready for _, e in written],
            "has_ipv4": [":" not in e.address for _, e in written],
            "has_ipv6": [":" in e.address for _, e in written],
        }
        | _ip_columns("ipv4", "ipv6", [[e.address] for _, e in written]),
    )

    service_id = {f"{svc.namespace}/{svc.name}": i for i, svc in enumerate(cluster_ip_services)}
    # A call listed twice is one dependency (the sums over what a workload sees count each once).
    calls = list(
        dict.fromkeys((w, service_id[c]) for w, wl in enumerate(s.workloads) for c in wl.calls if c in service_id)
    )
    dependencies = make_table("dependencies", {"workload": [w for w, _ in calls], "service": [c for _, c in calls]})
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
        "written_endpoints": written_endpoints,
        "dependencies": dependencies,
    }
