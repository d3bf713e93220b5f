"""Istio's own config objects in the scenario language: VirtualService, DestinationRule,
ServiceEntry, Sidecar and ``exportTo``, read as users paste them, and generated at scale.

::

    rules.py             Istio's value rules (hosts, labels, ports, exportTo, ...) as problem phrases
    reader.py            Istio field names, ignored fields, durations, the two pasted forms
    common.py            field types and checks every kind shares
    virtual_service.py   VirtualService        parse_virtual_service
    destination_rule.py  DestinationRule       parse_destination_rule
    service_entry.py     ServiceEntry          parse_service_entry
    sidecar.py           Sidecar               parse_sidecar
    generator_params.py  the ``istio_objects`` section   parse_generator_params
    generators.py        objects for a mesh at scale     generate_*

Every parser takes the object as pasted (the whole Kubernetes object or ``{name, namespace,
spec}``), a ``source`` and a field ``path`` for messages, and returns :class:`Parsed`: the
typed object and the fields Istio has that dsim accepted without modelling (``ignored``).
Every bad value raises :class:`~dsim.errors.ScenarioError` naming the field path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dsim.errors import ScenarioError, quote
from dsim.scenario.convert import describe_value, join
from dsim.scenario.istio.common import Checks
from dsim.scenario.istio.destination_rule import DestinationRule, DestinationRuleSpec, parse_destination_rule
from dsim.scenario.istio.generator_params import IstioObjectsGen, parse_generator_params
from dsim.scenario.istio.generators import (
    GeneratedObjects,
    generate_destination_rules,
    generate_entry_virtual_services,
    generate_istio_objects,
    generate_service_entries,
    generate_sidecars,
    generate_virtual_services,
)
from dsim.scenario.istio.reader import (
    API_GROUP,
    API_VERSIONS,
    Ignored,
    Parsed,
    format_duration,
    parse_duration_ms,
    to_istio,
)
from dsim.scenario.istio.service_entry import ServiceEntry, ServiceEntrySpec, parse_service_entry
from dsim.scenario.istio.sidecar import Sidecar, SidecarSpec, parse_sidecar
from dsim.scenario.istio.virtual_service import VirtualService, VirtualServiceSpec, parse_virtual_service

IstioObject = VirtualService | DestinationRule | ServiceEntry | Sidecar

PARSERS: Mapping[str, Callable[..., Parsed[Any]]] = {
    "VirtualService": parse_virtual_service,
    "DestinationRule": parse_destination_rule,
    "ServiceEntry": parse_service_entry,
    "Sidecar": parse_sidecar,
}


def parse_istio_object(raw: Any, *, source: str = "<scenario>", path: str = "") -> Parsed[IstioObject]:
    """Any of the four kinds, as a whole Kubernetes object (its ``kind`` picks the parser)."""
    kind = raw.get("kind") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str) or kind not in PARSERS:
        where = join(path, "kind") if isinstance(raw, Mapping) else path
        got = "nothing" if kind is None else quote(kind)
        raise ScenarioError(source, where, f"expected one of {', '.join(PARSERS)} (got {got})")
    return PARSERS[kind](raw, source=source, path=path)


def as_kubernetes_object(obj: IstioObject, *, api_version: str = "v1") -> dict[str, Any]:
    """``obj`` as the Kubernetes object Istio would store (the inverse of the parsers)."""
    return {
        "apiVersion": f"{API_GROUP}/{api_version}",
        "kind": obj.KIND,
        "metadata": {"name": obj.name, "namespace": obj.namespace},
        "spec": to_istio(obj.spec),
    }


def parse_service_export_to(raw: Any, *, namespace: str, source: str = "<scenario>", path: str = "") -> tuple[str, ...]:
    """A Service's ``export_to``: a list, or the comma-separated text of its
    ``networking.istio.io/exportTo`` annotation. Entries are ``.``, ``*``, ``~`` or namespace names,
    checked as Istio checks a ServiceEntry's (``validateExportTo``)."""
    if isinstance(raw, str):
        values: list[Any] = [part.strip() for part in raw.split(",")]
    elif isinstance(raw, list):
        values = raw
    else:
        raise ScenarioError(source, path, f"expected a list of namespaces or '.', '*', '~' (got {describe_value(raw)})")
    if len(values) > 1_000:
        raise ScenarioError(source, path, f"has {len(values):,} entries; at most 1,000")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ScenarioError(source, join(path, i), f"expected a string (got {quote(value)})")
    Checks(source, namespace, ()).export_to(path, values, service=True)
    return tuple(values)


__all__ = [
    "API_VERSIONS",
    "PARSERS",
    "DestinationRule",
    "DestinationRuleSpec",
    "GeneratedObjects",
    "Ignored",
    "IstioObject",
    "IstioObjectsGen",
    "Parsed",
    "ServiceEntry",
    "ServiceEntrySpec",
    "Sidecar",
    "SidecarSpec",
    "VirtualService",
    "VirtualServiceSpec",
    "as_kubernetes_object",
    "format_duration",
    "generate_destination_rules",
    "generate_entry_virtual_services",
    "generate_istio_objects",
    "generate_service_entries",
    "generate_sidecars",
    "generate_virtual_services",
    "parse_destination_rule",
    "parse_duration_ms",
    "parse_generator_params",
    "parse_istio_object",
    "parse_service_entry",
    "parse_service_export_to",
    "parse_sidecar",
    "parse_virtual_service",
    "to_istio",
]
