"""A push request: what changed, whether it needs a full push, since when, how many events."""

from __future__ import annotations

import dataclasses
from typing import Literal

ConfigKind = Literal[
    "endpoints", "service_create", "service_delete", "virtual_service", "destination_rule", "service_entry", "sidecar"
]
"""The kinds of change a push carries: the churn events that change config."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ConfigKey:
    """One changed config (Istio's ``ConfigKey``): what kind of change, and to what."""

    kind: ConfigKind
    """The kind of change."""
    target: int
    """The service id it changes; for ``sidecar``, the namespace row; for an edited
    VirtualService of the mesh (``edited``), -1."""
    reach: int = -1
    """For a DestinationRule only some namespaces depend on (Istio's ``DependsOnConfig``): the
    index of their set in the churn stream's ``reaches``; -1: every proxy that sees ``target``."""
    edited: int = -1
    """An edited VirtualService's row (the churn stream's ``virtual_service_services`` say which
    services it names); -1 for the other kinds, and for an edit standing in for one where the
    mesh has none (then of ``target``'s routes, reaching every proxy that sees it)."""
    imported_by: int = -1
    """For an ``edited`` VirtualService: the index of the import scopes that import it
    in the churn stream's ``importers`` (Istio's ``DependsOnConfig``); -1: every proxy."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PushRequest:
    """One event, or several merged (``pilot/pkg/model/push_context.go`` ``PushRequest``)."""

    full: bool
    """A full push (push context rebuilt, every type) rather than an incremental EDS push."""
    configs: frozenset[ConfigKey] | None = None
    """Changed configs; ``None`` means everything may have changed."""
    start: float = 0.0
    """Simulated time of the oldest merged event, seconds."""
    events: int = 1
    """How many events this request stands for."""

    def merge(self, other: PushRequest) -> PushRequest:
        """Both requests as one, as Istio merges them: full if either is, the configs' union
        (everything if either says everything), the older start, the events summed."""
        configs = None if self.configs is None or other.configs is None else self.configs | other.configs
        return PushRequest(
            full=self.full or other.full,
            configs=configs,
            start=min(self.start, other.start),
            events=self.events + other.events,
        )
