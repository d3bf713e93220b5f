"""Number types the scenario model and the Istio generator parameters share."""

from __future__ import annotations

from typing import Annotated

from dsim.scenario.convert import AtLeast, AtMost

Fraction = Annotated[float, AtLeast(0), AtMost(1)]
Weight = Annotated[float, AtLeast(0)]
"""A relative weight: a mix's shares are its weights over their sum, so they need not add up to 1."""
