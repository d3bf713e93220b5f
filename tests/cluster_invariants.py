"""The invariants every built cluster satisfies, shared by example tests and property tests."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from dsim.cluster import SCHEMA, Cluster
from dsim.cluster.tables import REFERENCES


def _in_cidr(values: list[int], cidr: str) -> bool:
    net = ipaddress.ip_network(cidr)
    low, high = int(net.network_address), int(net.broadcast_address)
    return all(low + 2 <= v < high + (net.version == 6) for v in values)


def _ipv6_ints(frame: pd.DataFrame, hi: str, lo: str) -> list[int]:
    return [(int(h) << 64) | int(low) for h, low in zip(frame[hi], frame[lo], strict=True)]


def check_cluster(c: Cluster) -> None:
    s = c.scenario
    for name, frame in c.tables().items():
        # pandas 3 has a "str" dtype; pandas 2 keeps text as "object".
        dtypes = {k: str(v).replace("object", "str") for k, v in frame.dtypes.items()}
        assert dtypes == SCHEMA[name], name
        assert list(frame.columns) == list(SCHEMA[name]), name
        assert frame.index.equals(pd.RangeIndex(len(frame))), name
        for column, target in REFERENCES.get(name, {}).items():
            ids = frame[column].to_numpy()
            assert ((ids >= 0) & (ids < len(getattr(c, target)))).all(), f"{name}.{column}"

    services = c.services
    families = services["ip_families"].astype(str)
    assert (services["has_ipv4"] == families.str.contains("IPv4")).all()
    assert (services["has_ipv6"] == families.str.contains("IPv6")).all()
    assert (services["primary_ipv6"] == families.str.startswith("IPv6")).all()
    v4 = services[services["has_ipv4"]]
    v6 = services[services["has_ipv6"]]
    assert _in_cidr(v4["vip4"].astype(int).tolist(), s.network.service_cidrs.ipv4 or "")
    assert v4["vip4"].is_unique
    if len(v6):
        v6_ints = _ipv6_ints(v6, "vip6_hi", "vip6_lo")
        assert _in_cidr(v6_ints, s.network.service_cidrs.ipv6 or "")
        assert len(set(v6_ints)) == len(v6_ints)

    pods = c.pods
    p4 = pods[pods["has_ipv4"]]
    p6 = pods[pods["has_ipv6"]]
    assert (pods["has_ipv4"] | pods["has_ipv6"]).all(), "every pod has an address"
    if len(p4):
        assert _in_cidr(p4["ipv4"].astype(int).tolist(), s.network.pod_cidrs.ipv4 or "")
        assert p4["ipv4"].is_unique
    if len(p6):
        p6_ints = _ipv6_ints(p6, "ipv6_hi", "ipv6_lo")
        assert _in_cidr(p6_ints, s.network.pod_cidrs.ipv6 or "")
        assert len(set(p6_ints)) == len(p6_ints)

    # Replicas: each workload has exactly `replicas` pods, numbered 0..replicas-1, grouped in order.
    per_workload = np.bincount(pods["workload"], minlength=len(c.workloads))
    assert (per_workload == c.workloads["replicas"].to_numpy()).all()
    assert (np.diff(pods["workload"].to_numpy()) >= 0).all()
    first = np.cumsum(per_workload) - per_workload
    assert (pods["ordinal"].to_numpy() == np.arange(len(pods)) - first[pods["workload"]]).all()

    # Proxies: one per pod whose workload has a sidecar.
    sidecar_pods = np.flatnonzero(c.workloads["sidecar"].to_numpy()[pods["workload"]])
    assert (c.proxies["pod"].to_numpy() == sidecar_pods).all()
    assert (c.proxies["workload"].to_numpy() == pods["workload"].to_numpy()[sidecar_pods]).all()

    # Ports: sorted by service, every service has ports, numbers and names unique per service.
    ports = c.service_ports
    assert (np.diff(ports["service"].to_numpy()) >= 0).all()
    assert set(ports["service"]) == set(range(len(services)))
    assert not ports.duplicated(["service", "port"]).any()
    named = ports[ports["name"] != ""]
    assert not named.duplicated(["service", "name"]).any()

    # Names unique per namespace; localities distinct.
    assert not services.duplicated(["namespace", "name"]).any()
    assert not c.workloads.duplicated(["namespace", "name"]).any()
    assert c.namespaces["name"].is_unique
    assert not c.localities.duplicated().any()
    # A service selects workloads of its own namespace only; subsets select workloads of their service.
    sw = c.service_workloads
    assert (
        services["namespace"].to_numpy()[sw["service"]] == c.workloads["namespace"].to_numpy()[sw["workload"]]
    ).all()
    subset_service = c.subsets["service"].to_numpy()[c.subset_workloads["subset"]]
    selected = set(zip(sw["service"], sw["workload"], strict=True))
    assert all(pair in selected for pair in zip(subset_service, c.subset_workloads["workload"], strict=True))
