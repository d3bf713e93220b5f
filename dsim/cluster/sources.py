"""Which of a VirtualService's matches a proxy keeps: their source conditions (``sourceLabels``,
``sourceNamespace``, ``gateways``), as Istio checks them against the proxy it builds routes for
(``docs/istio-objects.md`` 1.5, "Source conditions").

- An HTTP match (``sourceMatchHTTP``, ``pilot/pkg/networking/core/route/route.go``, 1.17 and 1.24):
  with ``gateways``, it holds where they name ``mesh`` (a sidecar's only gateway) and the source
  fields are not read; without, where the proxy's labels hold ``sourceLabels`` and its namespace is
  ``sourceNamespace`` (when set).
- A TCP or TLS match (``matchTCP``, ``matchTLS``): every condition at once (no ``gateways`` or one
  naming ``mesh``; the labels; the namespace). Its port is the listener's business, checked apart.

A proxy is known here by its :class:`Source`: its namespace and the label pairs that matter. The
base view's source is a proxy of no namespace named anywhere with no label (:data:`BASE_SOURCE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dsim.scenario.istio.rules import MESH_GATEWAY
from dsim.scenario.istio.virtual_service import HTTPMatchRequest, L4MatchAttributes, TLSMatchAttributes, VirtualService

Selector = frozenset[tuple[str, str]]
"""Labels a selector asks for, as (key, value) pairs."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """A match's source conditions."""

    http: bool
    """An HTTP match (``gateways`` then replace the rest), else TCP or TLS (all must hold)."""
    labels: Selector
    namespace: str
    gateways: tuple[str, ...]

    @staticmethod
    def of(match: HTTPMatchRequest | L4MatchAttributes | TLSMatchAttributes) -> Condition:
        return Condition(
            http=isinstance(match, HTTPMatchRequest),
            labels=frozenset(match.source_labels.items()),
            namespace=match.source_namespace,
            gateways=match.gateways,
        )

    @property
    def bites(self) -> bool:
        """Whether it can leave some proxy out."""
        return bool(self.labels or self.namespace or self.gateways)


@dataclasses.dataclass(frozen=True)
class Source:
    """What a proxy's routes depend on: its namespace (``None``: one no match names) and its labels."""

    namespace: str | None
    labels: Selector

    def holds(self, condition: Condition) -> bool:
        """Whether a match with ``condition`` applies to this proxy."""
        at_mesh = not condition.gateways or MESH_GATEWAY in condition.gateways
        if condition.http and condition.gateways:
            return at_mesh
        return at_mesh and condition.labels <= self.labels and condition.namespace in ("", self.namespace)

    def keeps(self, match: HTTPMatchRequest | L4MatchAttributes | TLSMatchAttributes | None) -> bool:
        """Whether a match (``None``: a route without one) applies to this proxy."""
        return match is None or self.holds(Condition.of(match))

    def signature(self, conditions: Sequence[Condition]) -> tuple[bool, ...]:
        """Which of ``conditions`` hold: two sources with equal signatures get equal routes."""
        return tuple(self.holds(c) for c in conditions)


BASE_SOURCE = Source(namespace=None, labels=frozenset())


def conditions(vs: VirtualService) -> tuple[Condition, ...]:
    """The source conditions of ``vs``'s matches that can leave some proxy out, in spec order."""
    spec = vs.spec
    matches: list[HTTPMatchRequest | L4MatchAttributes | TLSMatchAttributes] = [
        *(m for route in spec.http for m in route.match),
        *(m for route in spec.tcp for m in route.match),
        *(m for route in spec.tls for m in route.match),
    ]
    return tuple(c for m in matches if (c := Condition.of(m)).bites)


def selectors(vs: VirtualService) -> set[Selector]:
    """The ``sourceLabels`` of ``vs``'s matches (pods holding one see other routes than the rest)."""
    return {c.labels for c in conditions(vs) if c.labels}
