"""A :class:`dsim.Scenario` built in Python, passed to the API, is checked and resolved as a scenario
file is (:func:`dsim.scenario.load.checked_scenario`): a bad value is refused with its field's path
and the scenario's name, never a failure downstream; a good one builds as the same file would."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import dsim
from dsim.errors import ScenarioError
from dsim.scenario.load import checked_scenario, scenario_to_yaml
from dsim.scenario.model import Namespace, Scenario, Service, ServicePort, Workload

ROOT = Path(__file__).resolve().parents[1]

MESH = {
    "name": "objects",
    "namespaces": [{"name": "a"}],
    "services": [{"name": "db", "namespace": "a", "ports": [{"name": "tcp-db", "port": 3306}]}],
    "workloads": [{"name": "db", "namespace": "a"}],
}


def _with_port(scenario: Scenario, **changes: object) -> Scenario:
    """``scenario`` with its first service's first port changed (as a notebook would)."""
    service = scenario.services[0]
    port = dataclasses.replace(service.ports[0], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(scenario, services=(dataclasses.replace(service, ports=(port,)),))


def test_a_loaded_scenario_is_taken_as_it_is() -> None:
    loaded = dsim.scenario_from_dict(MESH)
    assert checked_scenario(loaded) is loaded


def test_a_changed_scenario_builds_as_the_same_file_would(tmp_path: Path) -> None:
    changed = _with_port(dsim.scenario_from_dict(MESH), port=5432, target_port=5432)
    again = checked_scenario(changed)
    assert again is not changed
    assert again == changed
    file = tmp_path / "objects.yaml"
    file.write_text(scenario_to_yaml(changed))
    assert dsim.load_scenario(file) == again
    assert dsim.build_cluster(changed).service_ports["port"].tolist() == [5432]


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        # Istio never sniffs 3306: a file asking for it is refused, and so is an object.
        ({"protocol": "auto"}, "services[0].ports[0].protocol", "never"),
        ({"port": "80"}, "services[0].ports[0].port", "80"),  # a string where a number belongs
        ({"port": 70000}, "services[0].ports[0].port", "70000"),
        ({"protocol": "SCTP"}, "services[0].ports[0].protocol", "SCTP"),
    ],
)
def test_a_bad_value_is_refused_with_its_path(changes: dict[str, object], field: str, said: str) -> None:
    bad = _with_port(dsim.scenario_from_dict(MESH), **changes)
    for call in (dsim.build_cluster, lambda s: dsim.generate(s, "a/db", "single-stack")):
        with pytest.raises(ScenarioError) as caught:
            call(bad)
        message = str(caught.value)
        assert message.startswith(f"scenario 'objects': {field}:"), message
        assert said in message
        assert "\n" not in message


def test_a_scenario_written_in_python_gets_its_defaults() -> None:
    written = Scenario(
        namespaces=(Namespace(name="a"),),
        services=(Service(name="web", namespace="a", ports=(ServicePort(name="http", port=80),)),),
        workloads=(Workload(name="web", namespace="a"),),
    )
    resolved = checked_scenario(written)
    assert resolved.name == "scenario"
    assert resolved.designs == tuple(dsim.design_names())
    port = resolved.services[0].ports[0]
    assert (port.target_port, port.protocol) == (80, "HTTP")
    assert len(dsim.config_sizes(written, "single-stack")) > 0
    # One without a name is named for what it is.
    unnamed = dataclasses.replace(written, seed=-1)
    with pytest.raises(ScenarioError, match=r"^<Scenario object>: seed: must be >= 0 \(got -1\)$"):
        dsim.build_cluster(unnamed)


def test_something_else_is_refused() -> None:
    with pytest.raises(ScenarioError, match="expected a Scenario"):
        checked_scenario({"name": "x"})  # type: ignore[arg-type]
