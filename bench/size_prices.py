"""Bytes per object at each stage's peak: what :data:`dsim.sizing.estimate.BYTES` prices a sidecar
per design, VirtualService routes and the ``scope`` table at.

Each price is measured the way the older ones were: the peak resident memory of a fresh ``dsim``
process on two scenarios that differ in one count alone, their difference over the count's. Then
each probe's estimate is printed against its measured peak (ratio above 1: the guard is on the safe
side). Stages: ``inspect`` (the cluster), ``run --no-pushsim`` under single-stack alone (x1) and,
for routes, under all four designs (x4), ``dump`` of one sidecar (its config). Run:
``python bench/size_prices.py [--only PRICE]`` (about 15 minutes on 2 cores).

- **cluster extra**: the fixed cost of building a cluster, ``dsim inspect`` of a one-service mesh
  against the base (``import dsim.cli``).
- **proxy and design**: 200,000 sidecars behind 1,000 services, ``run --no-pushsim`` under one
  design against four (the ratio column: both runs' estimates against their peaks).
- **Envoy route**: a VirtualService's HTTP routes become one Envoy route per match (``routes`` ×
  ``matches_per_route``); 5 against 15 IPv4 services with a VirtualService of 100 routes of 100 matches.
- **HTTP route**: what an HTTP route holds beyond its Envoy routes; 50 services whose
  VirtualService has 11 routes of 100 matches against 1,000 routes of one (as many Envoy routes).
- **route port copy**: the same routes on 10 services of one against three HTTP ports (each port's
  route configuration holds the service's virtual host, every route once more), in one sidecar's dump.
- **weighted destination**, **route header**: the same with 10 destinations over a DestinationRule's
  10 subsets, or 10 request headers set, against one and none, on 10 services of 100 × 20 routes.
- **route action**: the same routes each with a fault, a CORS policy and a mirror, against none.
- **access log**: Istio's default text access log in every chain of a sidecar that sees 2,000 TCP
  services, against none, in one sidecar's dump (priced per byte of the access log's message).
- **scope row**: (group, service) rows of the ``scope`` table; 10,000 services in 200 against 800
  namespaces, one Service exported to its own namespace (a scope for every namespace, every
  namespace's seeing the same public services); **unshared scope row**: the same rows where the
  scopes share no base (``dsim/accounting/holder_sets.py``): 200 against 800 namespaces of one pod
  whose Sidecars each import 40 of 100 namespaces of 10,000 Sidecar-less services.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from fuzz import peak_rss  # type: ignore[import-not-found]  # bench/ is the script's path

from dsim import scenario_from_dict
from dsim.sizing.estimate import Stage, estimate
from dsim.sizing.machine import format_bytes


def mesh(services: int, namespaces: int = 2, **istio_objects: Any) -> dict[str, Any]:
    """A synthetic IPv4 mesh of HTTP services, one pod each, a thin call graph."""
    return {
        "name": "size-prices",
        "seed": 1,
        "visibility": "all",
        "synthetic": {
            "namespaces": namespaces,
            "services": services,
            "families": {"ipv4": 1.0},
            "ports_per_service": {1: 1.0},
            "protocols": {"http": 1.0},
            "replicas": {"distribution": "fixed", "mean": 1, "min": 1, "max": 1},
            "call_graph": {"model": "barabasi-albert", "m": 1},
        },
        "istio_objects": istio_objects,
    }


def routes(services: int) -> dict[str, Any]:
    return mesh(services, virtual_services={"share": 1.0, "routes": 100, "matches_per_route": 100})


def http_routes(count: int) -> dict[str, Any]:
    """``count`` 0: VirtualServices of 11 routes of 100 matches; 1: of 1,000 routes of one match
    (1,001 and 1,000 Envoy routes: 989 more HTTP routes holding them)."""
    vs = {"share": 1.0, "routes": 11, "matches_per_route": 100} if count == 0 else {"share": 1.0, "routes": 1_000}
    return mesh(50, virtual_services=vs)


def port_copies(ports: int) -> dict[str, Any]:
    data = routes(10)
    data["synthetic"]["ports_per_service"] = {ports: 1.0}
    return data


def destinations(count: int) -> dict[str, Any]:
    vs = {"share": 1.0, "routes": 100, "matches_per_route": 20, "destinations": count}
    return mesh(10, virtual_services=vs, destination_rules={"share": 1.0, "subsets": 10})


def headers(count: int) -> dict[str, Any]:
    vs = {"share": 1.0, "routes": 100, "matches_per_route": 20, "request_headers": count}
    return mesh(10, virtual_services=vs)


def actions(count: int) -> dict[str, Any]:
    """``count`` 0: plain routes; 1: each with a fault, a CORS policy and a mirror."""
    flags = dict.fromkeys(("fault", "cors", "mirror"), count == 1)
    vs = {"share": 1.0, "routes": 100, "matches_per_route": 20, **flags}
    return mesh(10, virtual_services=vs)


def access_logs(count: int) -> dict[str, Any]:
    """2,000 TCP services (a listener chain each); ``count`` 1: every chain with Istio's default text
    access log, 0: none."""
    data = mesh(2_000)
    data["synthetic"]["protocols"] = {"tcp": 1.0}
    if count:
        data["mesh"] = {"access_log_file": "/dev/stdout"}
    return data


def scope(namespaces: int) -> dict[str, Any]:
    data = mesh(10_000, namespaces)
    data["namespaces"] = [{"name": "private"}]
    data["services"] = [
        {"name": "private", "namespace": "private", "ports": [{"port": 8080, "protocol": "HTTP"}], "export_to": ["."]}
    ]
    return data


def unshared_scope(teams: int) -> dict[str, Any]:
    """Sidecar-less services in 100 namespaces; ``teams`` namespaces of one pod each, whose Sidecar
    imports a window of 40 of them: each service in 40% of the scopes, no base they share
    (``dsim/accounting/holder_sets.py``), 4,000 rows a team."""
    data = mesh(10_000, 100)
    data["synthetic"]["sidecar_injection"] = 0.0
    names = [f"team-{t:04d}" for t in range(teams)]
    data["namespaces"] = [{"name": n} for n in names]
    data["workloads"] = [{"name": "app", "namespace": n} for n in names]
    data["sidecars"] = [
        {
            "name": "default",
            "namespace": n,
            "spec": {"egress": [{"hosts": [f"ns-{(t + k) % 100:04d}/*" for k in range(40)]}]},
        }
        for t, n in enumerate(names)
    ]
    return data


# (price, scenario of a count, the two counts, objects per count)
PROBES: list[tuple[str, Callable[[int], dict[str, Any]], tuple[int, int], float]] = [
    ("Envoy route", routes, (5, 15), 99 * 100 + 1),
    ("HTTP route", http_routes, (0, 1), 50 * 989),
    ("route port copy", port_copies, (1, 3), 10 * (99 * 100 + 1)),
    ("weighted destination", destinations, (1, 10), 10 * (99 * 20 + 1)),
    ("route header", headers, (0, 10), 10 * (99 * 20 + 1)),
    ("route action", actions, (0, 1), 3 * 10 * (99 * 20 + 1)),
    ("access log", access_logs, (0, 1), 2_000),
    ("scope row", scope, (200, 800), 10_000),
    ("unshared scope row", unshared_scope, (200, 800), 4_000),
]
COMMANDS: list[tuple[Stage, list[str]]] = [
    ("cluster", ["inspect"]),
    ("run", ["run", "--no-pushsim", "--designs", "single-stack", "--out"]),
]
DUMP: tuple[Stage, list[str]] = ("config", ["dump", "--proxy", "ns-0000/svc-00000"])
# Envoy routes also under the four designs: whether the accounting pays per design.
ALL_DESIGNS: tuple[Stage, list[str]] = ("run", ["run", "--no-pushsim", "--out"])


def measure(
    scratch: Path, name: str, data: dict[str, Any], stage: Stage, args: list[str], designs: int | None
) -> tuple[float, float]:
    """The measured peak of ``args`` on the scenario, and its estimate (the same base) for
    ``designs`` designs (None: the scenario's four)."""
    path = scratch / f"{name.replace(' ', '-')}.yaml"
    path.write_text(yaml.safe_dump(data))
    argv = [sys.executable, "-m", "dsim", args[0], str(path), *args[1:]]
    if args[-1] == "--out":
        argv.append(str(scratch / f"out-{name.replace(' ', '-')}-{len(list(scratch.iterdir()))}"))
    found = estimate(scenario_from_dict(data), stage=stage, designs=designs)
    return peak_rss(argv), found.bytes - found.resident


def fleet(sidecars: int) -> dict[str, Any]:
    """``sidecars`` pods with a sidecar behind 1,000 services."""
    data = mesh(1_000, 10)
    data["synthetic"]["replicas"] = {"distribution": "fixed", "mean": sidecars // 1_000, "min": 1, "max": 1_000_000}
    data["network"] = {"pod_cidrs": {"ipv4": "10.0.0.0/8", "ipv6": "fd00:10:244::/56"}}
    return data


def proxy_and_design(scratch: Path, base: float) -> None:
    """What each sidecar costs per design compared (the accounting's per-proxy sizes, counts and
    costs, their concatenation and the files): one mesh run under single-stack alone and under all
    four designs, the difference over three designs' sidecars."""
    data = fleet(200_000)
    one, predicted_one = measure(scratch, "proxies", data, "run", COMMANDS[1][1], 1)
    four, predicted_four = measure(scratch, "proxies", data, "run", ALL_DESIGNS[1], None)
    each = (four - one) / (3 * 200_000)
    peaks = f"{format_bytes(one)} / {format_bytes(four)}"
    ratios = f"{(predicted_one + base) / one:.2f}/{(predicted_four + base) / four:.2f}"
    print(f"{'proxy and design':<22} {'run':<8} {'x1/x4':>12} {peaks:>22} {each:>11,.0f} {ratios:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ["proxy and design", *(name for name, *_ in PROBES)]
    parser.add_argument("--only", choices=names, help="measure this price alone")
    only = parser.parse_args().only
    base = peak_rss([sys.executable, "-c", "import dsim.cli"])
    print(f"base: `import dsim.cli` holds {format_bytes(base)}; run x1: under single-stack alone, x4: all four designs")
    with tempfile.TemporaryDirectory(prefix="dsim-prices-") as folder:
        tiny, _ = measure(Path(folder), "cluster extra", mesh(1), "cluster", ["inspect"], None)
    print(f"cluster extra: `dsim inspect` of a one-service mesh peaks {format_bytes(tiny - base)} above the base")
    print(f"{'price':<22} {'stage':<8} {'counts':>12} {'peaks':>22} {'bytes each':>11} {'est/measured':>13}")
    with tempfile.TemporaryDirectory(prefix="dsim-prices-") as folder:
        scratch = Path(folder)
        if only in (None, "proxy and design"):
            proxy_and_design(scratch, base)
        for name, make, (low, high), per_count in PROBES:
            if only and name != only:
                continue
            # A dump holds Envoy routes, whatever HTTP routes made them: the HTTP route has no dump price.
            undumped = (scope, unshared_scope, http_routes)
            extra = [ALL_DESIGNS, DUMP] if make is routes else [] if make in undumped else [DUMP]
            # A route's copies in its service's other ports' configurations, and access logs (the
            # accounting sizes a template's), are the dump's alone.
            for stage, args in [DUMP] if make in (port_copies, access_logs) else [*COMMANDS, *extra]:
                designs = 1 if "single-stack" in args else None
                small, _ = measure(scratch, name, make(low), stage, args, designs)
                large, predicted = measure(scratch, name, make(high), stage, args, designs)
                each = (large - small) / ((high - low) * per_count)
                ratio = (predicted + base) / large
                peaks = f"{format_bytes(small)} / {format_bytes(large)}"
                label = f"{stage} x{designs or 4}" if stage == "run" else stage
                print(f"{name:<22} {label:<8} {f'{low}/{high}':>12} {peaks:>22} {each:>11,.0f} {ratio:>13.2f}")


if __name__ == "__main__":
    main()
