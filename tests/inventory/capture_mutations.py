"""Mutated cluster captures for the import fuzz: the repository's captures (``coverage.yaml``, a
hand-written stream of every shape the import reads, and the small one of the import tests) with
one to three changes each: a value or a whole object replaced by a hostile one (wrong types, huge,
negative and non-finite numbers, control characters, long text, values the import reads such as
``udp-x`` or ``Local``), a key removed, or an item repeated (an object twice is a capture that
overlaps).

Case ``n`` of a seed is the same capture on every machine: each case draws from its own
``random.Random(f"{seed}:{n}")``, so a failing case is reproduced from its number alone.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Iterator
from typing import Any

from dsim.inventory.read import read_objects
from tests.conftest import DATA
from tests.inventory.captures import small_inventory
from tests.scenario_mutations import _paths

HOSTILE: tuple[Any, ...] = (
    *(None, -1, 0, 2**70, 1.5, float("nan"), True, "", "-", "x" * 5000, "é" * 70, "\x00", "None", "True"),
    *([], {}, [None], [1, 2], {"a": None}, {"": ""}),
    *("10.244.0.5", "::1", "999.1.1.1", "fd00::/8", "UDP", "SCTP", "kube-system", 65536, 53, 3306),
    *("http-x", "udp-x", "Local", "ExternalName", "None", "kubernetes.io/h2c", "Kubernetes.io/H2C"),
    *("PreferSameNode", "web.shop.svc.cluster.local", "corp.example"),
)


@dataclasses.dataclass(frozen=True)
class CaptureCase:
    number: int
    mutations: tuple[str, ...]
    objects: list[Any]


def _bases() -> list[list[Any]]:
    coverage = [obj.body for obj in read_objects([DATA / "inventories" / "coverage.yaml"])]
    return [coverage, small_inventory()]


_BASES = _bases()


def _mutate(objects: list[Any], rng: random.Random) -> str:
    at = rng.choice(_paths(objects))
    parent = objects
    for key in at[:-1]:
        parent = parent[key]
    key, roll = at[-1], rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
        return f"removed {at}"
    if roll < 0.25 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
        return f"repeated {at}"
    value = rng.choice(HOSTILE)
    parent[key] = copy.deepcopy(value)
    return f"{at} = {value!r:.40}"


def case(seed: int, number: int) -> CaptureCase:
    """Case ``number`` of ``seed``'s sequence."""
    rng = random.Random(f"{seed}:{number}")
    objects = copy.deepcopy(_BASES[rng.randrange(len(_BASES))])
    done = tuple(_mutate(objects, rng) for _ in range(rng.choice([1, 1, 2, 3])))
    return CaptureCase(number, done, objects)


def cases(seed: int, count: int, start: int = 0) -> Iterator[CaptureCase]:
    """Cases ``start`` to ``start + count - 1`` of ``seed``'s sequence."""
    for number in range(start, start + count):
        yield case(seed, number)
