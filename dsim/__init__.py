"""dsim: offline simulation of what Istio's dual-stack designs cost a service mesh."""

from dsim.api import (
    build_cluster,
    config_counts,
    config_sizes,
    envoy_costs,
    fleet_totals,
    generate,
    push_simulation,
    run,
    scoping_what_if,
    validate_configs,
)
from dsim.calibration.model import Calibration, load_calibration
from dsim.cluster import Cluster
from dsim.designs import all_designs, design_names, get_design
from dsim.errors import DsimError, ScenarioError, UnknownNameError
from dsim.parallel import Compute
from dsim.provenance import dsim_version
from dsim.results import RunResult, load_result
from dsim.scenario import Scenario, load_scenario, scenario_from_dict, scenario_hash

__version__ = dsim_version()

__all__ = [
    "Calibration",
    "Cluster",
    "Compute",
    "DsimError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "UnknownNameError",
    "__version__",
    "all_designs",
    "build_cluster",
    "config_counts",
    "config_sizes",
    "design_names",
    "envoy_costs",
    "fleet_totals",
    "generate",
    "get_design",
    "load_calibration",
    "load_result",
    "load_scenario",
    "push_simulation",
    "run",
    "scenario_from_dict",
    "scenario_hash",
    "scoping_what_if",
    "validate_configs",
]
