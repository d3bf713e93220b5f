"""A Service's traffic distribution as istiod 1.30 reads it (``GetTrafficDistribution`` in
``pilot/pkg/model/service.go``), for ``dsim import`` (docs/import.md, docs/istio-objects.md 2.5):
its ``spec.trafficDistribution`` first, then Istio's ``networking.istio.io/traffic-distribution``
annotation on the Service, then on its namespace."""

from __future__ import annotations

from collections.abc import Iterable

ANNOTATION = "networking.istio.io/traffic-distribution"

_ZONE = ("PreferClose", "PreferSameZone")
_NODE = "PreferSameNode"
_KNOWN = (*_ZONE, _NODE)


def known(annotation: object) -> bool:
    """Whether a namespace's annotation names a distribution (its Services' default)."""
    return traffic_distribution(None, None, annotation) is not None


def traffic_distribution(spec: object, service_annotation: object, namespace_annotation: object) -> str | None:
    """The distribution istiod gives the Service, as the scenario's ``traffic_distribution``
    (``None``: Any). The field takes its values as written, and an unknown one passes to the
    annotations; an annotation is read without case, and an unknown non-empty one means Any
    (istiod logs a warning and looks no further)."""
    if spec in _KNOWN:
        return str(spec)
    for annotation in (service_annotation, namespace_annotation):
        text = annotation.lower() if isinstance(annotation, str) else ""
        if text:
            return next((value for value in _KNOWN if value.lower() == text), None)
    return None


SAME_NODE_NOTE = (
    "trafficDistribution PreferSameNode imported as PreferSameZone (dsim places pods in zones, not on "
    "nodes: it misses the priority Istio gives endpoints on the proxy's own node)"
)


def modelled(value: str | None) -> str | None:
    """``value`` as dsim models it: ``PreferSameNode`` becomes ``PreferSameZone``
    (:data:`SAME_NODE_NOTE`; the only difference is the endpoints on a proxy's own node)."""
    return "PreferSameZone" if value == _NODE else value


def unmodelled_notes(annotated: Iterable[str], entry_namespaces: Iterable[str]) -> list[str]:
    """What an imported mesh's distributions do in Istio that dsim leaves out: the ServiceEntries of
    namespaces whose annotation gives them one (``annotated``; dsim reads no distribution for
    entries)."""
    both = sorted(set(annotated) & set(entry_namespaces))
    if not both:
        return []
    return [
        f"namespaces {', '.join(both[:3])}{', ...' if len(both) > 3 else ''} annotate a trafficDistribution, "
        "which Istio 1.30 gives their ServiceEntries too; dsim reads none for entries (their clusters are "
        "built without it)"
    ]
