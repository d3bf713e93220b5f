"""What the mesh's defaults for every cluster and route cost a real Envoy, against the memory model.

``meshConfig.defaultHttpRetryPolicy`` gives (or, with ``attempts: 0``, takes away) a retry policy on
every HTTP route without retries of its own; ``tcpKeepalive`` and ``connectTimeout`` change every
cluster (docs/istio-objects.md 4.11). The memory model prices a route's retry policy, its retry
priority (``retryRemoteLocalities``) and the socket options a cluster's keepalive makes Envoy build
(the plan's ``RETRY_POINTS``, ``RETRY_PRIORITY_POINTS`` and ``KEEPALIVE_POINTS``), not what a retry
policy's other fields or the connect timeout add: this measures
one sidecar of a synthetic mesh of HTTP services under each variant, beside the prediction, and
prints what each variant changes against Istio's defaults measured in the same run, per route and
per cluster.

Run: ``python bench/mesh_defaults_memory.py [--services 400] [--profile istio]``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pandas as pd

import dsim
from dsim.calibration.plan import MESH_RETRIES
from dsim.interrupts import stop_cleanly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_variants import measured, options, synthetic

VARIANTS: dict[str, dict[str, Any]] = {
    "Istio's defaults": {},
    # The calibration plan's own mesh retry policies: off, Istio's with a retry priority, every field.
    "retries off (attempts: 0)": MESH_RETRIES["off"],
    "retries, remote localities": MESH_RETRIES["remote"],
    "retries, every field": MESH_RETRIES["rich"],
    "keepalive, time only": {"tcp_keepalive": {"time": "300s"}},
    "keepalive, 1.5s connect": {
        "connect_timeout": "1.5s",
        "tcp_keepalive": {"probes": 3, "time": "600s", "interval": "75s"},
    },
}


def main() -> None:
    arguments = options(__doc__.splitlines()[0])
    rows = []
    build = functools.partial(synthetic, "mesh-defaults", arguments.services, protocols={"http": 1.0}, ports=1)
    for label, config, checked in measured(VARIANTS, build, arguments.profile, dsim.load_calibration()):
        facts = checked.facts
        every_route = [route for routes in config.routes for vhost in routes.virtual_hosts for route in vhost.routes]
        retried = sum(route.route.HasField("retry_policy") for route in every_route)
        rows.append(
            {
                "variant": label,
                "routes": int(facts["routes"].iloc[0]),
                "retried": retried,
                "priorities": int(facts["retry_priorities"].iloc[0]),
                "clusters": int(facts["clusters"].iloc[0]),
                "keepalive_options": int(facts["keepalive_options"].iloc[0]),
                "cds_kib": sum(c.ByteSize() for c in config.clusters) / 1024,
                "rds_kib": sum(r.ByteSize() for r in config.routes) / 1024,
                "measured_mib": checked.measured_bytes / 2**20,
                "predicted_mib": checked.predicted_bytes / 2**20,
            }
        )
    frame = pd.DataFrame(rows)
    frame["error_pct"] = 100 * (frame["predicted_mib"] / frame["measured_mib"] - 1)
    base = frame.iloc[0]
    frame["measured_vs_defaults"] = frame["measured_mib"] / base["measured_mib"]
    change = (frame["measured_mib"] - base["measured_mib"]) * 2**20
    frame["bytes_per_route"] = change / frame["routes"]
    frame["bytes_per_cluster"] = change / frame["clusters"]
    print(f"{arguments.services} HTTP services (dual-stack)")
    print(frame.round(3).to_string(index=False))
    print(
        "predicted: the shipped model prices each route's retry policy (retried) and retry priority (priorities) and "
        "keepalive's socket options, not what a policy's other fields or the connect timeout add; "
        "measured_vs_defaults, bytes_per_route, bytes_per_cluster: each variant against Istio's defaults measured in "
        "this run (retried: routes with a retry policy)"
    )


if __name__ == "__main__":
    with stop_cleanly():  # SIGTERM stops the Envoy it runs as Ctrl-C does
        main()
