"""What calibration feeds Envoy: small synthetic meshes that vary one thing at a time as little
as possible, so the fit can tell a listener's cost from a cluster's or an endpoint's.

Each point is a scenario (services, protocol mix, IP families, replicas, ports per service,
subsets); the measured sidecar is the first pod of the first workload, which has every family
the point gives pods. Points are a seeded sample of the grid, always with its smallest and
largest corners, so a plan is the same on every run.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from dsim.cluster import Cluster, build_cluster
from dsim.randomness import generator
from dsim.scenario import scenario_from_dict

_PROTOCOLS: dict[str, dict[str, float]] = {
    "http": {"http": 1.0, "grpc": 0.0, "tcp": 0.0},
    "tcp": {"http": 0.0, "grpc": 0.0, "tcp": 1.0},
    "mixed": {"http": 0.5, "http2": 0.05, "grpc": 0.15, "tcp": 0.2, "auto": 0.1},
}
_FAMILIES: dict[str, dict[str, float]] = {
    "ipv4": {"ipv4": 1.0, "dual_ipv4_primary": 0.0},
    "dual": {"ipv4": 0.0, "dual_ipv4_primary": 1.0},
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlanPoint:
    """One calibration mesh."""

    services: int
    protocols: str
    families: str
    replicas: int
    ports: int
    subsets: float

    @property
    def name(self) -> str:
        subsets = int(self.subsets * 100)
        return f"s{self.services}-{self.protocols}-{self.families}-r{self.replicas}-p{self.ports}-sub{subsets}"

    def scenario(self) -> dict[str, Any]:
        return {
            "name": f"calibration-{self.name}",
            "seed": 1,
            "mesh": {"mtls": "PERMISSIVE"},
            "synthetic": {
                "namespaces": 2,
                "services": self.services,
                "families": _FAMILIES[self.families],
                "ports_per_service": {self.ports: 1.0},
                "protocols": _PROTOCOLS[self.protocols],
                "replicas": {"distribution": "fixed", "mean": self.replicas, "max": self.replicas},
                "subsets": {"fraction": self.subsets, "versions": 2},
                "call_graph": {"model": "none"},
            },
        }

    def cluster(self) -> Cluster:
        return build_cluster(scenario_from_dict(self.scenario(), source=f"<calibration point {self.name}>"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """Which meshes, how many times each."""

    name: str
    points: tuple[PlanPoint, ...]
    repeats: int


def _grid(services: tuple[int, ...]) -> list[PlanPoint]:
    return [
        PlanPoint(services=s, protocols=proto, families=fam, replicas=r, ports=p, subsets=sub)
        for s, proto, fam, r, p, sub in itertools.product(
            services, tuple(_PROTOCOLS), tuple(_FAMILIES), (1, 3), (1, 2), (0.0, 0.5)
        )
    ]


def _sample(services: tuple[int, ...], count: int, component: str) -> tuple[PlanPoint, ...]:
    grid = _grid(services)
    corners = [grid[0], grid[-1]]
    rest = [p for p in grid if p not in corners]
    rng = generator(0, component)
    chosen = rng.choice(len(rest), size=count - len(corners), replace=False)
    picked = corners + [rest[i] for i in np.sort(chosen)]
    return tuple(sorted(picked, key=lambda p: (p.services, p.name)))


def full_plan() -> Plan:
    """Meshes of 6 to 300 services, each measured twice: what the shipped calibration is fitted on."""
    return Plan(name="full", points=_sample((6, 20, 60, 150, 300), 36, "calibration-full"), repeats=2)


def quick_plan() -> Plan:
    """A seeded sample of the full plan's meshes, one run each: a few minutes for every design
    and stats profile. It samples the same meshes rather than smaller ones because a line fitted
    to Envoy's stepwise memory depends on the range of sizes it is fitted over: a plan of small
    meshes only would price objects a few percent differently from the shipped calibration."""
    full = full_plan().points
    chosen = np.sort(generator(0, "calibration-quick").choice(len(full), size=16, replace=False))
    return Plan(name="quick", points=tuple(full[i] for i in chosen), repeats=1)


PLANS = {"quick": quick_plan, "full": full_plan}

# Replicas, ports and subset shares that no plan's grid has: meshes held out of every fit, on
# which tests and bench/calibration_report.py check the model against a fresh measurement.
HELD_OUT_POINTS = (
    PlanPoint(services=30, protocols="mixed", families="dual", replicas=2, ports=1, subsets=0.25),
    PlanPoint(services=12, protocols="http", families="ipv4", replicas=5, ports=3, subsets=0.0),
)
