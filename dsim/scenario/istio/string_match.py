"""Istio's ``StringMatch``, shared by a route's match conditions and a CORS policy's origins."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from dsim.scenario.istio.reader import Rule
from dsim.scenario.istio.rules import regex_problem


@dataclasses.dataclass(frozen=True, kw_only=True)
class StringMatch:
    """Istio's ``StringMatch``: at most one of exact, prefix or regex (none: the field is present)."""

    exact: str | None = None
    """The whole value."""
    prefix: str | None = None
    """A leading part of the value."""
    regex: Annotated[str, Rule(regex_problem)] | None = None
    """An RE2 regular expression matching the whole value."""
