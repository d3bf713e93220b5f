"""What headless Services cost to price: H headless Services (a TCP and an HTTP port each, 3 dual-stack
pods behind each, as a StatefulSet's) against the same Services with cluster IPs (the baseline: their
pods as EDS endpoints, no per-endpoint listener), in the same run.

A headless Service's TCP port is a listener per endpoint and family for every proxy that sees it
(``docs/istio-objects.md`` 3.11), each built and sized from real messages, and its HTTP virtual host is
built twice (its own namespace's short names and the others'), so the accounting does more per
headless Service than per ClusterIP one. Prints, per H (30, 100, 300) under
``additional-addresses-1.24``: the per-endpoint listeners each proxy sees, the wall time of
``design_accounting`` for both meshes, the ratio, and the time per headless Service (which should
stay flat as H grows: its listeners are priced once per family class, not per proxy).

Run: ``python bench/headless_services.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

from typing import Any

from per_endpoint_pricing import accounting_seconds  # a sibling script: bench/ is the script's path

PODS = 3


def mesh(services: int, headless: bool) -> dict[str, Any]:
    names = [f"store-{i}" for i in range(services)]
    return {
        "namespaces": [{"name": "data"}, {"name": "app"}],
        "services": [
            {
                "name": name,
                "namespace": "data",
                "headless": headless,
                "ip_families": ["IPv4", "IPv6"],
                "ports": [{"port": 7000, "name": "tcp-peer"}, {"port": 8080, "name": "http-admin"}],
            }
            for name in names
        ],
        "workloads": [
            *({"name": name, "namespace": "data", "replicas": PODS, "ip_families": ["IPv4", "IPv6"]} for name in names),
            {"name": "client", "namespace": "app", "replicas": 2, "ip_families": ["IPv4", "IPv6"]},
        ],
    }


def timed(services: int, headless: bool) -> float:
    return accounting_seconds(mesh(services, headless), "additional-addresses-1.24")


def main() -> None:
    print(f"additional-addresses-1.24, H Services of a TCP and an HTTP port over {PODS} dual-stack pods each:")
    for services in (30, 100, 300):
        listeners = services * PODS * 2  # one per pod and family on the TCP port
        headless, baseline = timed(services, True), timed(services, False)
        print(
            f"  H={services:,}: {listeners:,} per-endpoint listeners a proxy sees, accounting {headless:.2f} s, "
            f"ClusterIP baseline {baseline:.2f} s ({headless / baseline:.1f}x), "
            f"{(headless - baseline) / services * 1e3:.1f} ms per headless Service"
        )


if __name__ == "__main__":
    main()
