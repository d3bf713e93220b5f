"""``HolderSets`` (a base plus each holder's differences) against its readable twin: each holder's
services as a Python set, every sum made over it row by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsim.accounting import holder_sets
from dsim.accounting.holder_sets import HolderSets


def twin_sets(holder: np.ndarray, service: np.ndarray, holders: int) -> list[set[int]]:
    sets: list[set[int]] = [set() for _ in range(holders)]
    for h, s in zip(holder.tolist(), service.tolist(), strict=True):
        sets[h].add(s)
    return sets


@st.composite
def meshes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Distinct (holder, service) pairs where many holders share most services (as under one
    private object), some lack a few and some see few: every shape the base must handle."""
    holders = draw(st.integers(0, 12))
    services = draw(st.integers(1, 15))
    namespaces = draw(st.integers(1, 4))
    common = draw(st.sets(st.integers(0, services - 1)))
    pairs: set[tuple[int, int]] = set()
    for h in range(holders):
        kind = draw(st.sampled_from(["common", "empty", "own"]))
        mine = set(common) if kind == "common" else set()
        mine -= draw(st.sets(st.integers(0, services - 1), max_size=3))
        mine |= draw(st.sets(st.integers(0, services - 1), max_size=3 if kind != "own" else services))
        pairs |= {(h, s) for s in mine}
    ordered = draw(st.permutations(sorted(pairs)))  # rows not always by holder
    holder = np.array([h for h, _ in ordered], np.int64)
    service = np.array([s for _, s in ordered], np.int64)
    return holder, service, holders, services, namespaces


@settings(max_examples=300, deadline=None)
@given(meshes(), st.data())
def test_sums_and_pairs_agree_with_the_sets(
    mesh: tuple[np.ndarray, np.ndarray, int, int, int], data: st.DataObject
) -> None:
    holder, service, holders, services, namespaces = mesh
    sets = twin_sets(holder, service, holders)
    found = HolderSets.of_pairs(holder, service, holders, services)
    ints = st.integers(-50, 50)
    per_service = np.array(data.draw(st.lists(ints, min_size=services, max_size=services)), np.int64)
    other = np.array(data.draw(st.lists(ints, min_size=services, max_size=services)), np.int64)
    service_ns = np.array(data.draw(st.lists(st.integers(0, namespaces - 1), min_size=services, max_size=services)))
    holder_ns = np.array(data.draw(st.lists(st.integers(0, namespaces - 1), min_size=holders, max_size=holders)))
    holder_ns = holder_ns.astype(np.int64)

    assert found.total(per_service).tolist() == [sum(per_service[s] for s in mine) for mine in sets]
    assert found.by_namespace(per_service, other, service_ns, holder_ns, namespaces).tolist() == [
        sum(per_service[s] if service_ns[s] == holder_ns[h] else other[s] for s in mine) for h, mine in enumerate(sets)
    ]

    asked = np.array(sorted(data.draw(st.sets(st.integers(0, services - 1)))), np.int64)
    h, s = found.pairs(asked)
    assert list(zip(h.tolist(), s.tolist(), strict=True)) == sorted(
        (h, s) for h, mine in enumerate(sets) for s in mine if s in set(asked.tolist())
    )

    rows = data.draw(st.lists(st.tuples(st.integers(0, services - 1), st.integers(0, 4)), max_size=20))
    row_service = np.array([s for s, _ in rows], np.int64)
    row_group = np.array([g for _, g in rows], np.int64)
    h, g = found.group_pairs(row_service, row_group)
    assert list(zip(h.tolist(), g.tolist(), strict=True)) == sorted(
        {(h, g) for h, mine in enumerate(sets) for s, g in rows if s in mine}
    )

    distinct = sorted(set(rows))
    h, g, s = found.first_pairs(
        np.array([s for s, _ in distinct], np.int64).reshape(-1),
        np.array([g for _, g in distinct], np.int64).reshape(-1),
    )
    assert list(zip(h.tolist(), g.tolist(), s.tolist(), strict=True)) == sorted(
        (h, g, min(s for s, gg in distinct if gg == g and s in mine))
        for h, mine in enumerate(sets)
        for g in {gg for s, gg in distinct if s in mine}
    )

    used = np.array(data.draw(st.lists(st.integers(0, holders - 1), unique=True)) if holders else [], np.int64)
    kept = found.restricted(used)
    assert kept.total(per_service).tolist() == [sum(per_service[s] for s in sets[u]) for u in used.tolist()]


def test_holders_sharing_most_services_keep_only_their_differences() -> None:
    """500 namespaces' groups see the same 1,000 public services, one of them a private one too:
    the base holds the public services, the differences one row (the slow way holds 500,000)."""
    holders, services = 500, 1_001
    holder = np.repeat(np.arange(holders), 1_000)
    service = np.tile(np.arange(1_000), holders)
    holder, service = np.append(holder, 7), np.append(service, 1_000)
    found = HolderSets.of_pairs(holder, service, holders + 1, services)  # and an empty holder
    assert found.base.sum() == 1_000
    assert found.based.tolist() == [True] * holders + [False]
    assert list(zip(found.delta_holder, found.delta_service, found.delta_sign, strict=True)) == [(7, 1_000, 1)]


def test_missing_base_services_are_found_a_chunk_of_holders_at_a_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Holders lacking base services, the bitmap of holders by base services in chunks of 2 holders."""
    monkeypatch.setattr(holder_sets, "_BITMAP_CHUNK", 2 * 10 + 5)
    holder = np.repeat(np.arange(10), 10)
    service = np.tile(np.arange(10), 10)
    keep = ~((service == holder) & (holder % 2 == 0))  # even holders lack their own number
    found = HolderSets.of_pairs(holder[keep], service[keep], 10, 10)
    lacking = found.delta_sign < 0
    assert sorted(zip(found.delta_holder[lacking].tolist(), found.delta_service[lacking].tolist(), strict=True)) == [
        (h, h) for h in range(0, 10, 2)
    ]
