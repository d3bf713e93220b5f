"""``meshConfig.discoverySelectors`` from a cluster's ``istio`` ConfigMap, as the scenario's
``mesh.discovery_selectors``, with the namespace labels they read (docs/import.md).

The selectors are Kubernetes label selectors written in the ConfigMap's camelCase
(``matchLabels``, ``matchExpressions``); the scenario spells them in snake case like the rest of
its ``mesh`` block. A namespace keeps only the labels some selector reads, so an imported scenario
carries no label that changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsim.errors import ScenarioError
from dsim.scenario.convert import convert
from dsim.scenario.discovery import NAME_LABEL, matches
from dsim.scenario.model import LabelSelector


def scenario_selectors(config: Mapping[str, Any]) -> list[Any]:
    """The mesh config's ``discoverySelectors`` in the scenario's spelling; an entry that is not a
    mapping is passed on as it is, for the scenario's checks to refuse with its path."""
    found = config.get("discoverySelectors")
    if not isinstance(found, list):
        return []
    renamed = {"matchLabels": "match_labels", "matchExpressions": "match_expressions"}
    return [
        {renamed.get(key, key): value for key, value in item.items()} if isinstance(item, dict) else item
        for item in found
    ]


def read_keys(selectors: list[Any]) -> set[str]:
    """The label keys the selectors read (the name label aside: every namespace has it)."""
    keys: set[str] = set()
    for item in selectors:
        if not isinstance(item, dict):
            continue
        labels = item.get("match_labels")
        keys |= set(labels) if isinstance(labels, dict) else set()
        expressions = item.get("match_expressions")
        for expression in expressions if isinstance(expressions, list) else []:
            if isinstance(expression, dict) and isinstance(expression.get("key"), str):
                keys.add(expression["key"])
    return {key for key in keys if isinstance(key, str)} - {NAME_LABEL}


def discovers(selectors: list[Any], namespace: str, labels: Mapping[str, str]) -> bool | None:
    """Whether istiod discovers ``namespace`` under ``selectors`` (None: a selector dsim refuses,
    which the scenario's checks will name)."""
    if not selectors:
        return True
    try:
        parsed = [convert(LabelSelector, item, source="", path="") for item in selectors]
    except ScenarioError:
        return None
    named = {**labels, NAME_LABEL: namespace}
    return any(matches(selector, named) for selector in parsed)
