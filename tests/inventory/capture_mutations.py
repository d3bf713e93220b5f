"""Mutated cluster captures for the import fuzz: the repository's captures (``coverage.yaml``, as
``kubectl get -o yaml`` prints a kind cluster, and the small hand-written one of the import tests)
with one to three values replaced by a hostile one, a key removed or a list item repeated.

Case ``n`` of a seed is the same capture on every machine: each case draws from its own
``random.Random(f"{seed}:{n}")``, so a failing case is reproduced from its number alone.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.inventory.test_import import small_inventory

COVERAGE = Path(__file__).resolve().parents[1] / "data" / "inventories" / "coverage.yaml"
HOSTILE: tuple[Any, ...] = (
    None,
    -1,
    0,
    2**70,
    1.5,
    float("nan"),
    True,
    "",
    "-",
    "x" * 5000,
    "é" * 70,
    "\x00",
    "None",
    "True",
    [],
    {},
    [None],
    [1, 2],
    {"a": None},
    {"": ""},
    "10.244.0.5",
    "::1",
    "999.1.1.1",
    "fd00::/8",
    "UDP",
    "SCTP",
    "http-x",
    "kube-system",
    65536,
)


def _bases() -> list[list[dict[str, Any]]]:
    documents = [d for d in yaml.safe_load_all(COVERAGE.read_text(encoding="utf-8")) if d]
    coverage = [obj for d in documents for obj in (d.get("items") or [d])]
    return [coverage, small_inventory()]


def _places(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``node`` below the objects themselves (an object's own fields and deeper)."""
    if len(at) >= 2:
        yield at
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _places(child, (*at, key))


def _mutate(objects: list[Any], rng: random.Random) -> list[str]:
    done = []
    for _ in range(rng.randint(1, 3)):
        places = list(_places(objects))
        at = rng.choice(places)
        parent = objects
        for key in at[:-1]:
            parent = parent[key]
        key, roll = at[-1], rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[key]
            done.append(f"removed {at}")
        elif roll < 0.25 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
            done.append(f"repeated {at}")
        else:
            value = rng.choice(HOSTILE)
            parent[key] = copy.deepcopy(value)
            done.append(f"{at} = {value!r:.40}")
    return done


def cases(count: int, seed: int) -> Iterator[tuple[int, list[str], list[Any]]]:
    """(number, what was mutated, the objects) of ``count`` cases of ``seed``."""
    bases = _bases()
    for number in range(count):
        rng = random.Random(f"{seed}:{number}")
        objects = copy.deepcopy(bases[rng.randrange(len(bases))])
        yield number, _mutate(objects, rng), objects
