"""What pricing the ServiceEntry listeners a proxy does not get costs (``_shadowed`` in
``dsim/accounting/proxies.py``: hosts sharing an address and port, or per-endpoint listeners on the
same pods, keep the first host's listener), found once per group of workloads that see the same
services, and per workload, the baseline kept below, in the same run.

Prints, for a mesh of 2,000 synthetic services in 20 namespaces plus a ``NONE`` ServiceEntry of two
hosts selecting a 300-pod workload (three ports: 900 per-endpoint listeners per host under
``single-stack``, every name shared), the wall time of the single-stack accounting with and
without, their ratio (each side run twice, alternately; the shorter time), and whether both give
the same sizes and counts.

Run: ``python bench/shadowed_listeners.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsim import build_cluster, scenario_from_dict
from dsim.accounting import proxies
from dsim.accounting.outbound import OutboundPrices
from dsim.accounting.visibility import Visibility
from dsim.designs import get_design

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternated import replaced

MESH: dict[str, Any] = {
    "namespaces": [{"name": "ext"}],
    "workloads": [
        {"name": "db", "namespace": "ext", "labels": {"app": "db"}, "replicas": 300, "ip_families": ["IPv4", "IPv6"]}
    ],
    "service_entries": [
        {
            "name": "db",
            "namespace": "ext",
            "spec": {
                "hosts": ["db.internal", "db2.internal"],
                "ports": [
                    {"number": 5000, "name": "tcp", "protocol": "TCP"},
                    {"number": 7000, "name": "sniffed"},
                    {"number": 8443, "name": "tls", "protocol": "TLS"},
                ],
                "resolution": "NONE",
                "location": "MESH_INTERNAL",
                "workloadSelector": {"labels": {"app": "db"}},
            },
        }
    ],
    "synthetic": {"services": 2000, "namespaces": 20},
}


def per_workload(prices: OutboundPrices, seen: Visibility, tau: np.ndarray, allow: np.ndarray) -> dict[str, np.ndarray]:
    """The baseline: the dropped listeners found for every workload that sees their hosts."""
    workloads = len(allow)
    shared = prices.shared_listeners
    if not len(shared):
        return {}
    rows = seen.pairs(np.unique(shared["service"].to_numpy())).merge(shared, on="service")
    rows = rows.sort_values(["workload", "service"], kind="stable")
    dropped = rows[rows.duplicated(["workload", "name"])]
    w = dropped["workload"].to_numpy()
    own_tau = tau[w]
    listener_bytes = np.zeros(len(dropped), np.int64)
    for key in prices.auto_listener_bytes:
        listener_bytes[own_tau == key] = dropped[f"bytes_{key}"].to_numpy()[own_tau == key]
    listener_bytes += np.where(allow[w] != prices.listener_policy, dropped["fallthrough"].to_numpy(), 0)

    def summed(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.bincount(where, weights=values, minlength=workloads).astype(np.int64)

    out = {
        "lds_resources": summed(np.ones(len(dropped)), w),
        "lds_bytes": summed(listener_bytes, w),
        "filter_chains": summed(dropped["filter_chains"].to_numpy(), w),
        "listener_additional_addresses": summed(dropped["additional"].to_numpy(), w),
    }
    named = dropped[dropped["route"] != ""]
    metrics = ("rds_bytes", "virtual_hosts", "domains", *proxies.ROUTE_COUNTS)
    gone = named.groupby(["workload", "service", "route"], as_index=False).agg(
        count=("name", "size"), routed=("routed", "first"), **{c: (c, "first") for c in metrics}
    )
    gone = gone[gone["count"] == gone["routed"]]
    wg = gone["workload"].to_numpy()
    out["rds_resources"] = summed(np.ones(len(gone)), wg)
    for column in metrics:
        out[column] = summed(gone[column].to_numpy(), wg)
    return out


def measure(cluster: Any) -> tuple[float, pd.DataFrame, pd.DataFrame]:
    start = time.perf_counter()
    sizes, counts = proxies.vectorized_sizes(cluster, get_design("single-stack"))
    return time.perf_counter() - start, sizes, counts


def main() -> None:
    cluster = build_cluster(scenario_from_dict(MESH))
    runs: dict[bool, list[tuple[float, pd.DataFrame, pd.DataFrame]]] = {True: [], False: []}
    for _ in range(2):
        runs[True].append(measure(cluster))
        with replaced(proxies, "_shadowed", per_workload):
            runs[False].append(measure(cluster))
    new = min(r[0] for r in runs[True])
    old = min(r[0] for r in runs[False])
    print(f"{len(cluster.services):,} services, {len(cluster.proxies):,} proxies, 2 hosts sharing 900 listeners:")
    print(f"  accounting {new:.2f} s, per workload {old:.2f} s ({old / new:.1f}x faster)")
    same = all(runs[True][0][i].equals(run[i]) for run in runs[True][1:] + runs[False] for i in (1, 2))
    print(f"  same sizes and counts either way: {same}")


if __name__ == "__main__":
    main()
