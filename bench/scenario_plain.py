"""What writing a scenario back in plain form costs (``scenario_to_plain``: every run's
``scenario_hash`` for its provenance, ``dsim.scenario.load.checked_scenario`` for a Scenario built
in Python, ``scenario_to_yaml``), with the Istio objects' type hints resolved once per class, and
per record, the baseline, in the same run.

Prints, for a mesh of 5,000 services and 5,000 VirtualServices and DestinationRules (50
namespaces), the wall time of ``scenario_hash`` and of ``checked_scenario`` on a changed copy,
with and without, and their ratios (each side run twice, alternately; the shorter time), and
whether both give the same hash.

Run: ``python bench/scenario_plain.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import typing
from pathlib import Path
from typing import Any

from dsim.scenario import Scenario, scenario_from_dict, scenario_hash
from dsim.scenario.istio import reader
from dsim.scenario.load import checked_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternated import replaced

SERVICES = 5_000
NAMESPACES = 50


def mesh() -> dict[str, Any]:
    """One service per workload, each with a VirtualService (a match, a retry) and a DestinationRule."""
    names = [(f"s{i}", f"ns{i % NAMESPACES}") for i in range(SERVICES)]
    return {
        "name": "plain",
        "namespaces": [{"name": f"ns{i}"} for i in range(NAMESPACES)],
        "services": [
            {"name": n, "namespace": ns, "ports": [{"name": "http", "port": 80}, {"name": "tcp-db", "port": 5432}]}
            for n, ns in names
        ],
        "workloads": [{"name": n, "namespace": ns} for n, ns in names],
        "virtual_services": [
            {
                "name": n,
                "namespace": ns,
                "spec": {
                    "hosts": [n],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/v2"}}],
                            "route": [{"destination": {"host": n, "subset": "v2"}}],
                            "retries": {"attempts": 3, "perTryTimeout": "2s"},
                        },
                        {"route": [{"destination": {"host": n}}], "timeout": "10s"},
                    ],
                },
            }
            for n, ns in names
        ],
        "destination_rules": [
            {
                "name": n,
                "namespace": ns,
                "spec": {
                    "host": n,
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 100}}},
                    "subsets": [{"name": "v2", "labels": {"version": "v2"}}],
                },
            }
            for n, ns in names
        ],
    }


def measure(scenario: Scenario) -> dict[str, Any]:
    start = time.perf_counter()
    digest = scenario_hash(scenario)
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    checked_scenario(dataclasses.replace(scenario, seed=scenario.seed + 1))
    checked = time.perf_counter() - start
    return {"hash": hashed, "checked": checked, "digest": digest}


def per_record(cls: type) -> dict[str, Any]:
    """The baseline: hints resolved for every record written."""
    return typing.get_type_hints(cls, include_extras=True)


def main() -> None:
    scenario = scenario_from_dict(mesh())
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for _ in range(2):
        runs[True].append(measure(scenario))
        with replaced(reader, "_hints", per_record):
            runs[False].append(measure(scenario))
    new = {k: min(r[k] for r in runs[True]) for k in ("hash", "checked")}
    old = {k: min(r[k] for r in runs[False]) for k in ("hash", "checked")}
    print(f"{SERVICES:,} services, VirtualServices and DestinationRules in {NAMESPACES} namespaces:")
    for key, label in (("hash", "scenario_hash"), ("checked", "checked_scenario")):
        print(f"  {label}: {new[key]:.2f} s, hints per record {old[key]:.2f} s ({old[key] / new[key]:.1f}x faster)")
    same = {r["digest"] for r in runs[True] + runs[False]}
    print(f"  same hash either way: {len(same) == 1}")


if __name__ == "__main__":
    main()
