"""The scenario language: typed model, YAML loading, validation and defaults."""

from dsim.scenario.load import (
    load_scenario,
    scenario_from_dict,
    scenario_hash,
    scenario_to_plain,
    scenario_to_yaml,
)
from dsim.scenario.model import Scenario

__all__ = [
    "Scenario",
    "load_scenario",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_to_plain",
    "scenario_to_yaml",
]
