"""What pricing per-endpoint listeners costs: the accounting of a ``NONE`` ServiceEntry of two hosts
and three TCP, TLS or sniffed ports that selects a workload of N dual-stack pods (every pod's proxy
takes its own listeners off: ``dsim/accounting/own_endpoints.py``), against the same entry with
``STATIC`` resolution and one host (the baseline: its pods as EDS endpoints, no per-endpoint
listener), in the same run.

Prints, per N (300, 1,000, 3,000) under ``additional-addresses`` (a listener per pod address): the
per-endpoint listeners built per family class, the wall time of ``design_accounting`` for both
entries, their difference per listener (which should stay flat as N grows: nothing is joined
pod by pod), and the ratio.

Run: ``python bench/per_endpoint_pricing.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import time
from typing import Any

from dsim import build_cluster, scenario_from_dict
from dsim.accounting.proxies import design_accounting
from dsim.designs import get_design

PORTS = [
    {"number": 5000, "name": "tcp", "protocol": "TCP"},
    {"number": 7000, "name": "sniffed"},
    {"number": 8443, "name": "tls", "protocol": "TLS"},
]


def mesh(pods: int, resolution: str) -> dict[str, Any]:
    hosts = ["db.internal", "db2.internal"] if resolution == "NONE" else ["db.internal"]
    ports = PORTS if resolution == "NONE" else [{"number": 8443, "name": "tls", "protocol": "TLS"}]
    return {
        "namespaces": [{"name": "ext"}],
        "workloads": [
            {
                "name": "db",
                "namespace": "ext",
                "labels": {"app": "db"},
                "replicas": pods,
                "ip_families": ["IPv4", "IPv6"],
            },
            {"name": "client", "namespace": "ext", "ip_families": ["IPv4", "IPv6"]},
        ],
        "service_entries": [
            {
                "name": "db",
                "namespace": "ext",
                "spec": {
                    "hosts": hosts,
                    "ports": ports,
                    "resolution": resolution,
                    "location": "MESH_INTERNAL",
                    "workloadSelector": {"labels": {"app": "db"}},
                },
            }
        ],
    }


def accounting_seconds(scenario: dict[str, Any], design: str) -> float:
    """The best of two wall times of ``design_accounting`` of the scenario's cluster under ``design``."""
    cluster = build_cluster(scenario_from_dict(scenario))
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        design_accounting(cluster, get_design(design))
        best = min(best, time.perf_counter() - start)
    return best


def timed(pods: int, resolution: str) -> float:
    return accounting_seconds(mesh(pods, resolution), "additional-addresses")


def main() -> None:
    print("additional-addresses, a NONE entry of 2 hosts x 3 ports selecting N dual-stack pods:")
    for pods in (300, 1_000, 3_000):
        listeners = 2 * 3 * pods * 2  # hosts x ports x pods x addresses
        with_listeners, baseline = timed(pods, "NONE"), timed(pods, "STATIC")
        per = (with_listeners - baseline) / listeners * 1e6
        print(
            f"  N={pods:,}: {listeners:,} listeners, accounting {with_listeners:.2f} s, STATIC baseline "
            f"{baseline:.2f} s ({with_listeners / baseline:.1f}x), {per:.0f} us per listener"
        )


if __name__ == "__main__":
    main()
