"""Which namespaces istiod discovers under ``meshConfig.discoverySelectors`` (the scenario's
``mesh.discovery_selectors``): Kubernetes label selectors over each namespace's labels, as Istio's
``pkg/kube/namespace/filter.go`` and ``pkg/config/mesh/labelselector`` read them. What istiod then
ignores is :mod:`dsim.cluster.discovery`'s."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from dsim.scenario.model import LabelSelector, Scenario

NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server gives every namespace, its name (Kubernetes 1.21 and later)."""
INJECTION_LABEL = "istio-injection"
"""The label that turns Istio's sidecar injection on in a namespace (``enabled``)."""


@dataclasses.dataclass(frozen=True)
class _Compiled:
    """A selector as it is evaluated: each requirement's values as a set (a long ``In`` list costs
    one lookup per namespace)."""

    labels: tuple[tuple[str, str], ...]
    expressions: tuple[tuple[str, str, frozenset[str]], ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.labels):
            return False
        for key, operator, values in self.expressions:
            value = labels.get(key)
            if operator == "In":
                met = value is not None and value in values
            elif operator == "NotIn":
                met = value is None or value not in values
            else:
                met = (value is not None) == (operator == "Exists")
            if not met:
                return False
        return True


def _compiled(selector: LabelSelector) -> _Compiled:
    return _Compiled(
        tuple(selector.match_labels.items()),
        tuple((r.key, r.operator, frozenset(r.values)) for r in selector.match_expressions),
    )


def matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether ``selector`` matches a namespace with ``labels`` (an empty selector matches all)."""
    return _compiled(selector).matches(labels)


@dataclasses.dataclass(frozen=True)
class Discovery:
    """Which namespaces istiod discovers under a scenario's selectors."""

    selectors: tuple[_Compiled, ...]
    labels: Mapping[str, Mapping[str, str]]
    """Each known namespace's labels (one unknown has its name's alone)."""
    known: dict[str, bool] = dataclasses.field(default_factory=dict)
    """Answers so far, by namespace (objects by the thousand share a few namespaces)."""

    def discovers(self, namespace: str) -> bool:
        if not self.selectors:
            return True
        found = self.known.get(namespace)
        if found is None:
            labels = {**self.labels.get(namespace, {}), NAME_LABEL: namespace}
            found = self.known[namespace] = any(selector.matches(labels) for selector in self.selectors)
        return found


def namespace_labels(s: Scenario, rows: Sequence[tuple[str, bool]] | None = None) -> dict[str, dict[str, str]]:
    """The labels each namespace carries: its own, and ``istio-injection: enabled`` where it injects
    sidecars (``sidecar_injection``, the label Istio's injector reads) unless it sets the label
    itself. ``rows``: (name, injects) of every namespace, the synthetic ones included; without
    them, the scenario's declared namespaces."""
    declared = {ns.name: ns for ns in s.namespaces}
    if rows is None:
        rows = [(ns.name, ns.sidecar_injection) for ns in s.namespaces]
    found = {}
    for name, injects in rows:
        own = dict(declared[name].labels) if name in declared else {}
        if injects:
            own.setdefault(INJECTION_LABEL, "enabled")
        found[name] = own
    return found


def scenario_discovery(s: Scenario, rows: Sequence[tuple[str, bool]] | None = None) -> Discovery:
    """The namespaces ``s``'s ``mesh.discovery_selectors`` discover (``rows``: as
    :func:`namespace_labels` takes them)."""
    selectors = tuple(_compiled(selector) for selector in s.mesh.discovery_selectors)
    return Discovery(selectors, namespace_labels(s, rows))
