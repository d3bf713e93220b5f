"""Read a scenario from YAML (or a dict), validate it once, and return it resolved.

YAML is parsed by :mod:`dsim.scenario.yaml_reader`, the only module that does. A scenario's
identity is its *resolved* form, so two spellings of one scenario (defaults written out or left
implicit, flow or block style) load equal and hash equal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dsim.errors import ScenarioError
from dsim.scenario.checks import check
from dsim.scenario.convert import convert, describe_value, join
from dsim.scenario.istio import (
    Ignored,
    as_kubernetes_object,
    parse_destination_rule,
    parse_generator_params,
    parse_service_entry,
    parse_service_export_to,
    parse_sidecar,
    parse_virtual_service,
)
from dsim.scenario.istio.destination_rule import DestinationRule
from dsim.scenario.istio.service_entry import ServiceEntry
from dsim.scenario.istio.sidecar import Sidecar
from dsim.scenario.istio.virtual_service import VirtualService
from dsim.scenario.mesh_settings import ISTIO_FORM_FIELDS, mesh_settings_to_istio, read_mesh_settings, split_mesh
from dsim.scenario.model import Mesh, Scenario
from dsim.scenario.resolve import resolve
from dsim.scenario.yaml_reader import parse_yaml


def _name_from_path(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "scenario"


def _known_designs() -> tuple[str, ...]:
    from dsim.designs import design_names  # the registry sits above the scenario layer

    return design_names()


def scenario_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "<scenario>",
    default_name: str = "scenario",
    known_designs: Sequence[str] | None = None,
) -> Scenario:
    """Validate parsed scenario data and return the resolved :class:`Scenario`."""
    designs = tuple(known_designs) if known_designs is not None else _known_designs()
    plain = {key: value for key, value in data.items() if key not in _ISTIO_KEYS}
    plain = _with_service_exports(plain, source)
    mesh_settings: dict[str, Any] = {}
    if isinstance(plain.get("mesh"), Mapping):
        plain["mesh"], mesh_settings = split_mesh(plain["mesh"])
    scenario = convert(Scenario, plain, source=source)
    scenario = _with_istio_objects(scenario, data, source)
    scenario = _with_mesh_settings(scenario, mesh_settings, source)
    check(scenario, source, designs, designs_given="designs" in data)
    resolved = resolve(scenario, default_name=default_name, all_designs=designs)
    _CHECKED[id(resolved)] = resolved
    return resolved


_CHECKED: weakref.WeakValueDictionary[int, Scenario] = weakref.WeakValueDictionary()
"""The scenarios :func:`scenario_from_dict` returned that are still alive, by identity: checked and
resolved already (a dead one's entry goes with it, so a reused id never matches)."""


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def checked_scenario(scenario: Scenario) -> Scenario:
    """A :class:`Scenario` built in Python (``dataclasses.replace`` of a loaded one, say), checked
    and resolved as a scenario file is: its plain form read back by :func:`scenario_from_dict`, so a
    bad value is refused with its field's path, as in a file, instead of failing somewhere
    downstream. One :func:`scenario_from_dict` returned is returned as it is."""
    if _CHECKED.get(id(scenario)) is scenario:
        return scenario
    if not isinstance(scenario, Scenario):
        raise ScenarioError("<Python>", "", f"expected a Scenario (got {describe_value(scenario)})")
    # Settings left empty stand for their defaults, as keys left out of a file do.
    plain = {key: value for key, value in scenario_to_plain(scenario).items() if not _empty(value)}
    source = source_name(scenario, None) if scenario.name else "<Scenario object>"
    return scenario_from_dict(plain, source=source, default_name=scenario.name or "scenario")


# Scenario keys read by the Istio object parsers (Istio's own camelCase field names), not by ``convert``.
_ISTIO_KEYS = ("virtual_services", "destination_rules", "service_entries", "sidecars", "istio_objects")


def _with_service_exports(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` with each service's ``export_to`` read by :func:`parse_service_export_to` (a list, or the
    ``networking.istio.io/exportTo`` annotation's comma-separated text), so ``convert`` sees a list."""
    services = data.get("services")
    if not isinstance(services, list):
        return data
    read = []
    for i, item in enumerate(services):
        if isinstance(item, Mapping) and item.get("export_to") is not None:
            namespace = item.get("namespace")
            values = parse_service_export_to(
                item["export_to"],
                namespace=namespace if isinstance(namespace, str) else "",
                source=source,
                path=join(join("services", i), "export_to"),
            )
            item = {**item, "export_to": list(values)}
        read.append(item)
    return {**data, "services": read}


def _with_istio_objects(scenario: Scenario, data: Mapping[str, Any], source: str) -> Scenario:
    """``scenario`` with the pasted VirtualServices, DestinationRules and ServiceEntries and the ``istio_objects``
    generator section, each read by its parser; the fields they accept without modelling are kept in
    ``istio_ignored`` (the run reports them)."""
    parsed: dict[str, Any] = {}
    ignored: list[Ignored] = []
    parsers = (
        ("virtual_services", parse_virtual_service),
        ("destination_rules", parse_destination_rule),
        ("service_entries", parse_service_entry),
        ("sidecars", parse_sidecar),
    )
    for key, parse in parsers:
        raw = data.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise ScenarioError(source, key, f"expected a list of {key.replace('_', ' ')} (got {describe_value(raw)})")
        objects = []
        for i, item in enumerate(raw):
            result = parse(item, source=source, path=join(key, i))
            objects.append(result.value)
            ignored.extend(result.ignored)
        parsed[key] = tuple(objects)
    if data.get("istio_objects") is not None:
        parsed["istio_objects"] = parse_generator_params(data["istio_objects"], source=source)
    return dataclasses.replace(scenario, **parsed, istio_ignored=tuple(ignored))


def _with_mesh_settings(scenario: Scenario, raw: Mapping[str, Any], source: str) -> Scenario:
    """``scenario`` with the mesh settings written in Istio's form (:mod:`dsim.scenario.mesh_settings`)."""
    if not raw:
        return scenario
    values, ignored = read_mesh_settings(raw, source=source)
    return dataclasses.replace(
        scenario,
        mesh=dataclasses.replace(scenario.mesh, **values),
        istio_ignored=(*scenario.istio_ignored, *ignored),
    )


def read_text_file(path: Path, expected: str) -> str:
    """The UTF-8 text of the file at ``path``; a :class:`ScenarioError` naming it when it cannot be
    read (``expected`` says what a directory there should have been, e.g. "a scenario YAML file")."""
    source = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(source, "", "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(source, "", f"is a directory, expected {expected}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(source, "", f"is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ScenarioError(source, "", f"cannot be read ({e.strerror})") from None


def load_scenario(path: str | Path, *, known_designs: Sequence[str] | None = None) -> Scenario:
    """Read, validate and resolve the scenario file at ``path``."""
    path = Path(path)
    source = str(path)
    text = read_text_file(path, "a scenario YAML file")
    data = parse_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "", "expected a mapping of scenario settings at the top level")
    return scenario_from_dict(data, source=source, default_name=_name_from_path(path), known_designs=known_designs)


def source_name(scenario: Scenario, source: str | None) -> str:
    """How errors name a scenario: its file, or its name when it came from Python."""
    return source or f"scenario {scenario.name!r}"


def scenario_to_plain(value: Any) -> Any:
    """A scenario (or part of one) as plain dicts, lists and scalars, ready for YAML or JSON."""
    if isinstance(value, VirtualService | DestinationRule | ServiceEntry | Sidecar):
        return as_kubernetes_object(value)  # Istio's own form, which the loader reads back
    if isinstance(value, Mesh):
        # Settings in Istio's form, left out at their defaults as Istio writes them: a scenario that
        # sets none keeps the hash it had before they existed.
        plain = {k: v for k, v in _plain_fields(value).items() if k not in ISTIO_FORM_FIELDS}
        return {**plain, **mesh_settings_to_istio(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    if isinstance(value, tuple | list):
        return [scenario_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: scenario_to_plain(v) for k, v in value.items()}
    return value


def _plain_fields(value: Any) -> dict[str, Any]:
    return {
        f.name: scenario_to_plain(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if not f.metadata.get("derived")
    }


def scenario_to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML; loading it back gives an equal scenario."""
    return yaml.safe_dump(scenario_to_plain(scenario), sort_keys=False, allow_unicode=True)


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario's canonical JSON: equal for equal scenarios."""
    canonical = json.dumps(scenario_to_plain(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
