"""A count (or bytes) that remembers the scenario field driving it, so that a refusal names what to
change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Amount:
    """A count (or bytes) and the scenario field that drives it most: of a product, the field of its
    largest factor; of a sum, the field of its largest term."""

    value: float
    """How many (objects, or bytes where the amount is memory)."""
    field: str
    """The scenario field (dotted path) that drives it most."""

    def __mul__(self, other: Amount | float) -> Amount:
        factor = other if isinstance(other, Amount) else Amount(other, self.field)
        field = self.field if self.value >= factor.value else factor.field
        if self.value == 0 or factor.value == 0:  # none of something, however absurd the rest (not inf * 0)
            return Amount(0.0, field)
        return Amount(self.value * factor.value, field)

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.value + other.value, self.field if self.value >= other.value else other.field)


def total(amounts: Iterable[Amount], field: str) -> Amount:
    result = Amount(0.0, field)
    for amount in amounts:
        result = result + amount
    return result
