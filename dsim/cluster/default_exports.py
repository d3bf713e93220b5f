"""The mesh's default exportTo for objects that set none (``docs/istio-objects.md`` 4.4, "Mesh
defaults"), after Istio's ``PushContext.initDefaultExportMaps`` and where each default is read:

- ``defaultServiceExportTo``: a Service's or ServiceEntry's exportTo when it has none
  (``PushContext.serviceExportTo``);
- ``defaultVirtualServiceExportTo``: a VirtualService's (its delegates' too), ``.`` its own
  namespace (``copyDefaultExportToSet`` in ``virtualservice_controller.go``);
- ``defaultDestinationRuleExportTo``: only ``.`` is honoured, making such a rule private to its
  namespace; anything else leaves it public (``setDestinationRules``: "We only honor . and *").

dsim gives each Service, ServiceEntry and VirtualService without an exportTo the default as its own
before anything reads it, so every reader (the views, the Sidecar scope, the push model) sees the
same exportTo; a DestinationRule keeps its own (empty) and the rule index is told it is private
(:func:`rule_private_by_default`), as Istio merges rules by their exportTo as written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from dsim.cluster.object_views import export_set
from dsim.scenario import Scenario
from dsim.scenario.istio import ServiceEntry, VirtualService
from dsim.scenario.model import Mesh

PUBLIC = ("*",)
"""Istio's own default for every kind."""

Exported = TypeVar("Exported", VirtualService, ServiceEntry)


def with_default(objects: Sequence[Exported], default: Sequence[str]) -> list[Exported]:
    """``objects``, those without an exportTo given ``default`` as theirs (unchanged where the
    default is public, as a missing exportTo already reads)."""
    if tuple(default) == PUBLIC:
        return list(objects)
    return [obj if obj.spec.export_to else _exported(obj, tuple(default)) for obj in objects]


def rule_private_by_default(mesh: Mesh) -> bool:
    """Whether a DestinationRule without an exportTo is private to its namespace: the mesh's
    ``defaultDestinationRuleExportTo`` holds ``.``. Istio keeps such a rule's exportTo empty (it is
    compared as written when rules of one host merge) and only leaves it out of the exported index
    (``setDestinationRules``), so dsim passes this to the index rather than rewriting the rule."""
    return "." in mesh.default_destination_rule_export_to


def service_default(values: Sequence[str], default: Sequence[str]) -> Sequence[str]:
    """A Kubernetes Service's exportTo (its annotation), else the mesh's default."""
    return values or default


def _exported(obj: Any, export_to: tuple[str, ...]) -> Any:
    return dataclasses.replace(obj, spec=dataclasses.replace(obj.spec, export_to=export_to))


def written_service_exports(s: Scenario) -> dict[tuple[str, str], tuple[str, ...]]:
    """(name, namespace) → the ``export_to`` of each explicit Service that writes one."""
    return {(svc.name, svc.namespace): svc.export_to for svc in s.services if svc.export_to}


def kubernetes_service_exports(
    s: Scenario, written: Mapping[tuple[str, str], Sequence[str]], name: str, namespace: str
) -> frozenset[str] | None:
    """The namespaces a Kubernetes Service is exported to (``None``: public): its own ``export_to``
    (``written``: :func:`written_service_exports`) or the mesh's default; empty where it says ``~``,
    which keeps it out of istiod's index."""
    return export_set(service_default(written.get((name, namespace), ()), s.mesh.default_service_export_to), namespace)
