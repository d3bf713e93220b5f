"""What the benches that measure one synthetic mesh under several mesh settings share
(``bench/access_logs_memory.py``, ``bench/mesh_defaults_memory.py``): the mesh, the options, and the
loop that measures the first sidecar of each variant on the real Envoy beside the shipped model.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from typing import Any

import dsim
from dsim.calibration.campaign import Checked, check_against
from dsim.calibration.model import Calibration
from dsim.xds.envoy import envoy_binary
from dsim.xds.generate import ProxyConfig

DESIGN = "additional-addresses"  # the design Istio ships; the settings measured are family-blind


def synthetic(
    name: str, services: int, mesh: Mapping[str, Any], protocols: Mapping[str, float], ports: int
) -> dsim.Scenario:
    """``services`` dual-stack services of ``protocols`` and ``ports`` ports each over four namespaces,
    one pod each, no calls (every sidecar sees every service), under the ``mesh`` settings."""
    return dsim.scenario_from_dict(
        {
            "name": name,
            "seed": 7,
            "mesh": dict(mesh),
            "synthetic": {
                "namespaces": 4,
                "services": services,
                "protocols": dict(protocols),
                "ports_per_service": {ports: 1.0},
                "families": {"dual_ipv4_primary": 1.0},
                "replicas": {"distribution": "fixed", "mean": 1, "max": 1},
                "call_graph": {"model": "none"},
            },
        }
    )


def options(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--services", type=int, default=400)
    parser.add_argument("--profile", default="istio", help="stats profile (istio or envoy-default)")
    return parser.parse_args()


def measured(
    variants: Mapping[str, Mapping[str, Any]], scenario: Any, profile: str, calibration: Calibration
) -> Iterator[tuple[str, ProxyConfig, Checked]]:
    """Per variant (label → mesh settings): its label, the first sidecar's config under :data:`DESIGN`
    (``scenario(mesh)`` builds the mesh), and that config measured and predicted by ``calibration``."""
    binary = envoy_binary()
    print(f"the first sidecar; {DESIGN}, stats profile {profile}, Envoy {binary}, predicted by {calibration.source}")
    for label, mesh in variants.items():
        config = dsim.generate(dsim.build_cluster(scenario(mesh)), 0, DESIGN)
        yield label, config, check_against(config, calibration, profile=profile, binary=binary)
