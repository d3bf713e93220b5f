"""The contract every dual-stack design plugin fulfils.

A design is one file in ``dsim/designs/`` defining a :class:`Design` subclass; the registry
finds it by itself. The config generator and the accounting ask each design for its
dual-stack rules only: everything else about a sidecar's config is shared code, so that a
comparison between designs measures the dual-stack rules and nothing else.
"""

from __future__ import annotations

from typing import ClassVar


class Design:
    """One way of configuring Envoy for dual-stack services."""

    name: ClassVar[str]
    """Registry name, as scenarios and the CLI spell it."""
    description: ClassVar[str]
    """One line: what the design is and where it comes from."""
    order: ClassVar[int]
    """Position in listings and reports (chronological: the baseline first)."""

    def __repr__(self) -> str:
        return f"<design {self.name}>"
