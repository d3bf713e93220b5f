"""What a route's actions cost a real Envoy, against what the memory model prices them at.

The calibrated model prices a route's header operations, fault, CORS policy and mirrors
(``dsim.xds.vocabulary.ROUTE_ACTIONS``, fitted on the plan's ``ACTION_POINTS``). This measures, on
one sidecar of a mesh whose every service has a VirtualService written out (no plan mesh is one),
the real Envoy 1.40's allocated memory with each action on every route and with none, beside the
model's prediction: per action, the bytes it adds to each route, measured and predicted, and the
model's error on the whole sidecar.

Run: ``python bench/route_actions_memory.py [--services 60] [--routes 8] [--profile istio]``.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

import dsim
from dsim.calibration.campaign import check_against
from dsim.interrupts import stop_cleanly
from dsim.xds.envoy import envoy_binary

ACTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "header operations": {
        "headers": {
            "request": {"set": {"x-team": "shop", "x-tier": "gold"}, "add": {"x-trace": "on"}, "remove": ["x-debug"]},
            "response": {"set": {"x-served-by": "mesh"}, "remove": ["server"]},
        }
    },
    "fault": {
        "fault": {
            "delay": {"fixedDelay": "50ms", "percentage": {"value": 1}},
            "abort": {"httpStatus": 503, "percentage": {"value": 0.5}},
        }
    },
    "cors": {
        "corsPolicy": {
            "allowOrigins": [{"exact": "https://shop.example.com"}, {"prefix": "https://admin."}],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["authorization", "content-type"],
            "maxAge": "24h",
        }
    },
    "mirror": {"mirror": {"host": "svc-0"}, "mirrorPercentage": {"value": 5}},
}
ACTIONS["all of them"] = {key: value for action in list(ACTIONS.values()) for key, value in action.items()}


def scenario(services: int, routes: int, action: dict[str, Any]) -> dsim.Scenario:
    """``services`` HTTP services in one namespace, each with a VirtualService of ``routes`` prefix
    routes carrying ``action``; one caller workload whose sidecar sees them all."""
    names = [f"svc-{i}" for i in range(services)]
    virtual_services = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "hosts": [name],
                "http": [
                    {"match": [{"uri": {"prefix": f"/api/{r}"}}], "route": [{"destination": {"host": name}}], **action}
                    for r in range(routes)
                ],
            },
        }
        for name in names
    ]
    return dsim.scenario_from_dict(
        {
            "name": "route-actions",
            "seed": 1,
            "visibility": "all",
            "namespaces": [{"name": "shop"}],
            "services": [{"name": n, "namespace": "shop", "ports": [{"port": 8080, "name": "http"}]} for n in names],
            "workloads": [
                {"name": "caller", "namespace": "shop", "calls": [f"shop/{n}" for n in names]},
                *({"name": n, "namespace": "shop", "labels": {"app": n}} for n in names),
            ],
            "virtual_services": virtual_services,
        }
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--services", type=int, default=60)
    options.add_argument("--routes", type=int, default=8)
    options.add_argument("--profile", default="istio", help="stats profile (istio or envoy-default)")
    arguments = options.parse_args()
    binary = envoy_binary()
    calibration = dsim.load_calibration()
    rows = []
    for label, action in ACTIONS.items():
        cluster = dsim.build_cluster(scenario(arguments.services, arguments.routes, action))
        config = dsim.generate(cluster, "shop/caller-0", "single-stack")
        checked = check_against(config, calibration, profile=arguments.profile, binary=binary)
        rows.append(
            {
                "actions on every route": label,
                "routes": int(checked.facts["routes"].iloc[0]),
                "measured_mib": checked.measured_bytes / 2**20,
                "predicted_mib": checked.predicted_bytes / 2**20,
            }
        )
    frame = pd.DataFrame(rows)
    frame["error_pct"] = 100 * (frame["predicted_mib"] / frame["measured_mib"] - 1)
    baseline = frame.loc[frame["actions on every route"] == "none", "measured_mib"].iloc[0]
    frame["measured_bytes_per_route"] = (frame["measured_mib"] - baseline) * 2**20 / frame["routes"]
    predicted_baseline = frame.loc[frame["actions on every route"] == "none", "predicted_mib"].iloc[0]
    frame["predicted_bytes_per_route"] = (frame["predicted_mib"] - predicted_baseline) * 2**20 / frame["routes"]
    print(
        f"{arguments.services} services, a VirtualService of {arguments.routes} routes each; "
        f"single-stack, stats profile {arguments.profile}, Envoy {binary}"
    )
    print(frame.round(2).to_string(index=False))
    print(
        "bytes_per_route: what the action adds to each route against the mesh with none (measured in "
        f"this run, and predicted by {calibration.source})"
    )


if __name__ == "__main__":
    with stop_cleanly():  # SIGTERM stops the Envoy it runs as Ctrl-C does
        main()
