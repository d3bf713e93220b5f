"""The mesh's default exportTo for objects that set none (``docs/istio-objects.md`` 4.4, "Mesh
defaults"), after Istio's ``PushContext.initDefaultExportMaps`` and where each default is read:

- ``defaultServiceExportTo``: a Service's or ServiceEntry's exportTo when it has none
  (``PushContext.serviceExportTo``);
- ``defaultVirtualServiceExportTo``: a VirtualService's (its delegates' too), ``.`` its own
  namespace (``copyDefaultExportToSet`` in ``virtualservice_controller.go``);
- ``defaultDestinationRuleExportTo``: only ``.`` is honoured, making such a rule private to its
  namespace; anything else leaves it public (``initDestinationRules``: "We only honor . and *").

dsim gives each object without an exportTo the default as its own before anything reads it, so every
reader (the views, the Sidecar scope, the push model) sees the same exportTo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from dsim.scenario.istio import DestinationRule, ServiceEntry, VirtualService

PUBLIC = ("*",)
"""Istio's own default for every kind."""

Exported = TypeVar("Exported", VirtualService, ServiceEntry, DestinationRule)


def with_default(objects: Sequence[Exported], default: Sequence[str]) -> list[Exported]:
    """``objects``, those without an exportTo given ``default`` as theirs (unchanged where the
    default is public, as a missing exportTo already reads)."""
    if tuple(default) == PUBLIC:
        return list(objects)
    return [obj if obj.spec.export_to else _exported(obj, tuple(default)) for obj in objects]


def rule_default(default: Sequence[str]) -> tuple[str, ...]:
    """What a DestinationRule without an exportTo takes from ``defaultDestinationRuleExportTo``:
    ``.`` if it holds ``.``, else public."""
    return (".",) if "." in default else PUBLIC


def service_default(values: Sequence[str], default: Sequence[str]) -> Sequence[str]:
    """A Kubernetes Service's exportTo (its annotation), else the mesh's default."""
    return values or default


def _exported(obj: Any, export_to: tuple[str, ...]) -> Any:
    return dataclasses.replace(obj, spec=dataclasses.replace(obj.spec, export_to=export_to))
