"""The compiled kernels against their NumPy twins (the form the push model had before them), on
small hand-checked inputs and randomized ones, and a whole run both ways.

Under ``NUMBA_DISABLE_JIT=1`` the kernels' Python bodies run here instead of their compiled forms.
Where the two sum floats in a different order (histogram totals; the NumPy dispatcher's closed
forms accumulate from a batch's start), costs are multiples of 2⁻¹⁰ s so that every sum is exact
and results must be identical; with arbitrary floats they agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dsim import push_simulation
from dsim.pushsim import kernels, reference
from dsim.pushsim.hotpath import ENV
from dsim.pushsim.metrics import FLOATS, INTS
from dsim.xds.vocabulary import XDS_TYPES

TICK = 2.0**-10  # costs on this grid add up exactly


def _copies(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return {k: v.copy() for k, v in arrays.items()}, {k: v.copy() for k, v in arrays.items()}


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray], exact: bool = True) -> None:
    for key in a:
        if exact or a[key].dtype.kind != "f":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12, err_msg=key)


# -- the dispatcher ----------------------------------------------------------------------------------
def _lanes(rng: np.random.Generator, replicas: int, throttle: int, cores: int, grid: bool) -> dict[str, np.ndarray]:
    """A lane state per replica: recent pushes done and CPU ends, in dispatch order."""
    draw = (lambda *shape: rng.integers(0, 512, shape) * TICK) if grid else (lambda *shape: rng.uniform(0, 0.5, shape))
    return {
        "slots": np.sort(draw(replicas, throttle), axis=1),
        "cores": np.sort(draw(replicas, cores), axis=1),
        "dispatched": draw(replicas),
        "link": draw(replicas),
    }


def _batches(rng: np.random.Generator, lengths: list[int], grid: bool) -> dict[str, np.ndarray]:
    n = sum(lengths)
    if grid:
        ready = np.concatenate([np.sort(rng.integers(0, 4096, k)) * TICK for k in lengths])
        cpu, send = rng.integers(1, 64, n) * TICK, rng.integers(0, 8, n) * TICK
    else:
        ready = np.concatenate([np.sort(rng.uniform(0, 4, k)) for k in lengths])
        cpu, send = rng.uniform(0.001, 0.06, n), rng.uniform(0, 0.008, n)
    return {"ready": ready, "cpu": cpu, "send": send, "offsets": np.concatenate([[0], np.cumsum(lengths)])}


def _scan(
    hot: Any, lanes: dict[str, np.ndarray], batch: dict[str, np.ndarray], which: np.ndarray, until: float
) -> dict:
    n = len(batch["ready"])
    out = {"dispatch": np.full(n, np.nan), "cpu_start": np.full(n, np.nan), "done": np.full(n, np.nan)}
    counts = hot.scan(
        lanes["slots"], lanes["cores"], lanes["dispatched"], lanes["link"], which, batch["offsets"],
        batch["ready"], batch["cpu"], batch["send"], until, out["dispatch"], out["cpu_start"], out["done"],
    )  # fmt: skip
    return {"counts": counts, **out, **lanes}


def test_scan_dispatches_through_slots_cores_and_the_link() -> None:
    # Throttle 2, one core, 4 pushes ready at 0 costing 1 s of CPU and 0.5 s of send: the core
    # is the bottleneck (pushes end CPU at 1, 2, 3, 4); the second slot frees when push 0 is sent.
    lanes = {"slots": np.zeros((1, 2)), "cores": np.zeros((1, 1)), "dispatched": np.zeros(1), "link": np.zeros(1)}
    batch = {"ready": np.zeros(4), "cpu": np.ones(4), "send": np.full(4, 0.5), "offsets": np.array([0, 4])}
    got = _scan(kernels, lanes, batch, np.array([0]), np.inf)
    assert got["counts"].tolist() == [4]
    assert got["dispatch"].tolist() == [0.0, 0.0, 1.5, 2.5]
    assert got["cpu_start"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert got["done"].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert got["slots"].tolist() == [[3.5, 4.5]]
    assert got["cores"].tolist() == [[4.0]]
    assert (got["dispatched"][0], got["link"][0]) == (2.5, 4.5)


def test_scan_stops_at_the_first_dispatch_at_or_after_until() -> None:
    lanes = {"slots": np.zeros((1, 1)), "cores": np.zeros((1, 1)), "dispatched": np.zeros(1), "link": np.zeros(1)}
    batch = {"ready": np.zeros(5), "cpu": np.ones(5), "send": np.zeros(5), "offsets": np.array([0, 5])}
    got = _scan(kernels, lanes, batch, np.array([0]), 2.0)  # dispatched at 0, 1, then 2: not before 2
    assert got["counts"].tolist() == [2]
    assert np.isnan(got["done"][2:]).all()
    assert got["slots"].tolist() == [[2.0]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("grid", [True, False])
def test_scan_equals_the_max_plus_closed_forms(seed: int, grid: bool) -> None:
    rng = np.random.default_rng(seed)
    replicas, throttle, cores = int(rng.integers(1, 5)), int(rng.integers(1, 12)), int(rng.integers(1, 6))
    lanes = _lanes(rng, replicas, throttle, cores, grid)
    which = np.sort(rng.choice(replicas, int(rng.integers(1, replicas + 1)), replace=False))
    batch = _batches(rng, [int(k) for k in rng.integers(1, 300, len(which))], grid)
    until = float(rng.choice([np.inf, 2.0, 0.7]))
    fast_lanes, slow_lanes = _copies(lanes)
    fast = _scan(kernels, fast_lanes, batch, which, until)
    slow = _scan(reference, slow_lanes, batch, which, until)
    assert fast["counts"].tolist() == slow["counts"].tolist()
    _assert_same(fast, slow, exact=grid)


def test_scan_in_two_batches_equals_one_exactly() -> None:
    # A sequential scan carries its state whole: no running sum restarts with the second batch.
    rng = np.random.default_rng(11)
    lanes = _lanes(rng, 1, 7, 3, grid=False)
    batch = _batches(rng, [400], grid=False)
    whole = _scan(kernels, {k: v.copy() for k, v in lanes.items()}, batch, np.array([0]), np.inf)
    parts = []
    for rows in (slice(0, 150), slice(150, 400)):
        part = {k: batch[k][rows] for k in ("ready", "cpu", "send")} | {
            "offsets": np.array([0, rows.stop - rows.start])
        }
        parts.append(_scan(kernels, lanes, part, np.array([0]), np.inf))
    for key in ("dispatch", "cpu_start", "done"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key], err_msg=key)


# -- committing and tallying -------------------------------------------------------------------------
def _proxy_state(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "cache_of": rng.integers(0, 6, n),
        "envoy_free": rng.integers(0, 2048, n) * TICK,
        "busy_until": rng.integers(0, 2048, n) * TICK,
        "queued": np.ones(n, bool),
        "connecting": rng.random(n) < 0.2,
        "warm": rng.random(6) < 0.5,
        "first": rng.integers(0, 20, n),
        "latest": rng.integers(20, 40, n),
        "enqueued": rng.integers(0, 2048, n) * TICK,
        "start": rng.integers(0, 2048, n) * TICK,
    }


@pytest.mark.parametrize("seed", range(4))
def test_commit_equals_its_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, variants = 200, 9
    lengths = [int(k) for k in rng.integers(0, 40, 3)]
    rows = sum(lengths)
    proxies = rng.choice(n, rows, replace=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    counts = np.array([int(rng.integers(0, k + 1)) for k in lengths])
    batch = {
        "variant": rng.integers(0, variants, rows),
        "dispatch": rng.integers(0, 4096, rows) * TICK,
        "cpu_start": rng.integers(0, 4096, rows) * TICK,
        "done": rng.integers(0, 4096, rows) * TICK,
    }
    cpu, apply = rng.integers(1, 64, variants) * TICK, rng.integers(0, 64, variants) * TICK
    state = _proxy_state(rng, n)
    results = []
    for hot in (kernels, reference):
        mine = {k: v.copy() for k, v in state.items()}
        ints, floats = np.full((len(INTS), rows + 3), -7), np.full((len(FLOATS), rows + 3), -7.0)
        fill = hot.commit(
            proxies, offsets, counts, batch["variant"], batch["dispatch"], batch["cpu_start"], batch["done"],
            cpu, apply, 5, mine["cache_of"], mine["envoy_free"], mine["busy_until"], mine["queued"],
            mine["connecting"], mine["warm"], mine["first"], mine["latest"], mine["enqueued"], mine["start"],
            ints, floats, 3,
        )  # fmt: skip
        assert fill == 3 + counts.sum()
        results.append({**mine, "ints": ints, "floats": floats})
    _assert_same(*results)
    committed = int(counts.sum())
    assert (~results[0]["queued"]).sum() == committed
    assert (results[0]["ints"][3, 3:] == -1).sum() == state["connecting"][results[0]["ints"][0, 3:]].sum()


def _tallies(proxies: int, pushes: int, bins: int) -> dict[str, np.ndarray]:
    types = len(XDS_TYPES)
    return {
        "counts": np.zeros((3 + types, bins), np.int64),
        "stats": np.zeros((3 + types, 2)),
        "pushes_by_type": np.zeros(types, np.int64),
        "bytes_by_type": np.zeros(types, np.int64),
        "jobs_by_kind": np.zeros(3, np.int64),
        "proxy_jobs": np.zeros(proxies, np.int64),
        "proxy_bytes": np.zeros(proxies, np.int64),
        "proxy_convergence_sum": np.zeros(proxies),
        "proxy_convergence_max": np.zeros(proxies),
        "proxy_last_converged": np.full(proxies, np.nan),
        "proxy_over_limit": np.zeros(proxies, bool),
        "push_latest_jobs": np.zeros(pushes + 2, np.int64),
        "push_latest_bytes": np.zeros((pushes + 2, types), np.int64),
        "push_last_converged": np.zeros(pushes + 2),
        "push_cover": np.zeros(pushes + 2, np.int64),
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("grid", [True, False])
def test_tally_equals_its_twin(seed: int, grid: bool) -> None:
    rng = np.random.default_rng(seed)
    rows, proxies, pushes, variants = 3000, 150, 60, 12
    seconds = (lambda k: rng.integers(0, 1 << 14, k) * TICK) if grid else (lambda k: rng.lognormal(-4, 2, k))
    enqueued = seconds(rows)
    first = rng.integers(0, pushes, rows)
    latest = np.minimum(first + rng.integers(0, 5, rows), pushes - 1)
    connecting = rng.random(rows) < 0.1
    columns = (
        rng.integers(0, proxies, rows),
        rng.integers(0, variants, rows),
        np.where(connecting, -1, first),
        np.where(connecting, -1, latest),
        enqueued,
        enqueued - seconds(rows),
        enqueued + seconds(rows),
        enqueued + seconds(rows) + seconds(rows),
    )
    type_bytes = rng.integers(0, 5000, (variants, len(XDS_TYPES))) * (rng.random((variants, len(XDS_TYPES))) < 0.7)
    table = (
        rng.integers(0, 3, variants),
        type_bytes,
        seconds(variants * 4).reshape(variants, 4),
        rng.random(variants) < 0.3,
    )
    results = []
    for hot in (kernels, reference):
        tallies = _tallies(proxies, pushes, bins=2401)
        hot.tally(*columns, *table, *tallies.values(), kernels.UPPER_EDGES, kernels.BIN_LOOKUP)
        results.append(tallies)
    _assert_same(*results, exact=grid)
    assert results[0]["counts"][:3].sum() == 3 * rows
    assert results[0]["jobs_by_kind"].sum() == rows


def test_bin_lookup_equals_binary_search_at_every_edge() -> None:
    # The kernel finds a bin by a lookup on the value's exponent and top mantissa bits, then one
    # comparison; the twin by binary search over the edges. Every edge, the doubles either side of
    # it, and values spread over every decade (and beyond both ends) must land alike.
    edges = kernels.UPPER_EDGES
    values = np.concatenate(
        [
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            10 ** np.random.default_rng(7).uniform(-9, 7, 200_000),
            [0.0, -1.0, np.inf, np.nan, 5e-324],
        ]
    )
    scratch = np.empty(1)
    fast = np.array([kernels._bin(v, edges, kernels.BIN_LOOKUP, scratch, scratch.view(np.int64)) for v in values])
    counts, stats = np.zeros(len(edges), np.int64), np.zeros(2)
    slow = np.minimum(np.searchsorted(edges, values, side="left"), len(edges) - 1)
    slow[np.isnan(values)] = 0
    assert (fast == slow).all(), values[fast != slow][:5]
    finite = values[np.isfinite(values)]
    reference.count(counts, stats, finite)
    assert (counts == np.bincount(slow[np.isfinite(values)], minlength=len(edges))).all()


def test_histogram_bins_are_log_spaced() -> None:
    # 200 bins a decade from 100 ns: a value goes to the bin whose upper edge is the first at or
    # above it; zero and below to the first, beyond the last edge to the last.
    values = (0.0, 1e-7, 1.001e-7, 1e-6, 1.0, 1e9)
    scratch = np.empty(1)
    bins = [kernels._bin(v, kernels.UPPER_EDGES, kernels.BIN_LOOKUP, scratch, scratch.view(np.int64)) for v in values]
    assert bins == [0, 0, 1, 200, 1400, 2400]
    counts, stats = np.zeros(2401, np.int64), np.zeros(2)
    reference.count(counts, stats, np.array(values))
    assert np.flatnonzero(counts).tolist() == [0, 1, 200, 1400, 2400]


@pytest.mark.parametrize("grid", [True, False])
def test_spread_cpu_equals_its_twin(grid: bool) -> None:
    rng = np.random.default_rng(8)
    n = 500
    start = rng.integers(0, 40 << 10, n) * TICK if grid else rng.uniform(0, 40, n)
    seconds = rng.integers(0, 3 << 10, n) * TICK if grid else rng.exponential(0.4, n)
    fast, slow = np.zeros(45), np.zeros(45)
    kernels.spread_cpu(fast, start, seconds)
    reference.spread_cpu(slow, start, seconds)
    if grid:
        np.testing.assert_array_equal(fast, slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    assert fast.sum() == pytest.approx(seconds.sum())


# -- a push reaching the proxies ---------------------------------------------------------------------
def _empty_lines(replicas: int, room: int) -> dict[str, np.ndarray]:
    """Queue lines (one row per replica) with ``room`` entries each, all empty."""
    return {
        "line_order": np.zeros((replicas, room), np.int64),
        "line_token": np.zeros((replicas, room), np.int64),
        "line_ready": np.zeros((replicas, room)),
        "tail": np.zeros(replicas, np.int64),
    }


@pytest.mark.parametrize("seed", range(6))
def test_reach_and_enqueue_equal_their_twins(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, workloads, replicas = 300, 12, int(rng.integers(1, 5))
    t, push, push_start = 5.0, 17, 4.5
    state = {
        "connected": rng.random(n) < 0.9,
        "queued": rng.random(n) < 0.3,
        "busy_until": rng.uniform(3, 7, n),
        "first": rng.integers(0, 10, n),
        "latest": rng.integers(10, 17, n),
        "enqueued": rng.uniform(0, 5, n),
        "start": rng.uniform(0, 5, n),
        "again_first": np.where(rng.random(n) < 0.5, -1, rng.integers(0, 17, n)),
        "again_latest": rng.integers(0, 17, n),
        "again_start": rng.uniform(0, 5, n),
        "token": rng.integers(0, 3, n),
    }
    seen, proxy_workload = rng.random(workloads) < (0.6 if seed % 2 else 1.0), rng.integers(0, workloads, n)
    results = []
    for hot in (kernels, reference):
        s = {k: v.copy() for k, v in state.items()}
        targets, flagged, idle, bounds = hot.reach(
            seen, bool(seen.all()), proxy_workload, s["connected"], s["queued"], s["busy_until"], t, push,
            push_start, s["latest"], s["start"], s["again_first"], s["again_latest"], s["again_start"], replicas,
        )  # fmt: skip
        turning = np.random.default_rng(seed)  # the same turns for the twin
        turns = np.array([int(turning.integers(k)) if k else 0 for k in np.diff(bounds)])
        lines = _empty_lines(replicas, len(idle))
        hot.enqueue(
            idle, bounds, turns, t, push, push_start, s["queued"], s["first"], s["latest"], s["enqueued"],
            s["start"], s["token"], lines["line_order"], lines["line_token"], lines["line_ready"], lines["tail"],
        )  # fmt: skip
        results.append(
            {**s, "targets": np.array(targets), "flagged": np.sort(flagged), "idle": idle, "bounds": bounds} | lines
        )
    _assert_same(*results)
    fast = results[0]
    for r in range(replicas):  # each replica's idle proxies, turned, in its line, with their new tokens
        mine = fast["idle"][fast["bounds"][r] : fast["bounds"][r + 1]]
        line = fast["line_order"][r, : fast["tail"][r]]
        assert sorted(line.tolist()) == mine.tolist()
        assert line.tolist() == np.roll(mine, -int(np.nonzero(mine == line[0])[0][0]) if len(line) else 0).tolist()
        np.testing.assert_array_equal(fast["token"][line], state["token"][line] + 1)
        np.testing.assert_array_equal(fast["line_token"][r, : fast["tail"][r]], fast["token"][line])
        assert (fast["line_ready"][r, : fast["tail"][r]] == t).all()
    reached = state["connected"] & seen[proxy_workload]
    assert int(results[0]["targets"]) == reached.sum()
    assert (results[0]["idle"] % replicas == np.repeat(np.arange(replicas), np.diff(results[0]["bounds"]))).all()


@pytest.mark.parametrize("seed", range(12))
def test_depends_on_equals_its_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, pushes, replicas = 80, 30, int(rng.integers(1, 5))
    full_prefix = np.concatenate([[0], np.cumsum(rng.random(pushes) < 0.05)])
    queued = rng.random(n) < rng.uniform(0, 0.3)
    first = rng.integers(0, pushes, n)
    latest = np.minimum(first + rng.integers(0, 4, n), pushes - 1)
    connecting = queued & (rng.random(n) < 0.02)
    again_first = np.where(~queued & (rng.random(n) < 0.1), rng.integers(0, pushes, n), -1)
    again_latest = np.minimum(np.maximum(again_first, 0) + rng.integers(0, 4, n), pushes - 1)
    flagged = np.flatnonzero(again_first >= 0)
    summary = kernels.pending(queued, first, connecting, flagged, again_first, replicas)
    twin = reference.pending(queued, first, connecting, flagged, again_first, replicas)
    for got, want in zip(summary, twin, strict=True):
        np.testing.assert_array_equal(got, want)
    for named in (-1, int(rng.integers(0, pushes)), pushes - 1):
        args = (named, full_prefix, *summary, queued, first, latest, flagged, again_first, again_latest)
        fast, slow = kernels.depends_on(*args), reference.depends_on(*args)
        np.testing.assert_array_equal(fast, slow, err_msg=f"named {named}")


def test_depends_on_a_pending_full_push_or_a_named_service() -> None:
    # Two replicas; proxy 0 (replica 0) waits with pushes 3..4, proxy 3 (replica 1) with 1..1;
    # push 2 was full.
    full_prefix = np.array([0, 0, 0, 1, 1, 1])
    queued = np.array([True, False, False, True])
    first, latest = np.array([3, 0, 0, 1]), np.array([4, 0, 0, 1])
    idle = np.zeros(4, bool)
    none, minus = np.zeros(0, np.int64), np.full(4, -1)

    def needs(named: int) -> list[bool]:
        oldest, joining = kernels.pending(queued, first, idle, none, minus, 2)
        assert oldest.tolist() == [3, 1]
        return kernels.depends_on(
            named, full_prefix, oldest, joining, queued, first, latest, none, minus, minus
        ).tolist()

    assert needs(4) == [True, True]  # named by push 4: both merges may carry it
    assert needs(2) == [False, True]  # replica 0's merge starts after it
    assert needs(0) == [False, False]  # before both; and neither merge holds the full push 2


@pytest.mark.parametrize("seed", range(6))
def test_queue_lines_equal_their_twins(seed: int) -> None:
    # Entries joining the lines (line_append), then each chosen replica's next batch (live_batches):
    # its live connections in front, then its live entries within the scan, past runs of stale ones.
    rng = np.random.default_rng(seed)
    proxies, replicas = 40, int(rng.integers(1, 4))
    token, queued = rng.integers(0, 3, proxies), np.zeros(proxies, bool)
    lines = _empty_lines(replicas, 200)
    front = {
        "order": np.zeros((replicas, 8), np.int64),
        "token": np.zeros((replicas, 8), np.int64),
        "ready": np.zeros((replicas, 8)),
        "len": np.zeros(replicas, np.int64),
    }
    for _ in range(4):  # four rounds of joining; some proxies dropped or queued again between
        joining = rng.choice(proxies, int(rng.integers(0, 15)), replace=False)
        kernels.line_append(
            lines["line_order"], lines["line_token"], lines["line_ready"], lines["tail"], joining,
            rng.random(len(joining)), token,
        )  # fmt: skip
        queued[joining] = True
        queued[rng.choice(proxies, 3)] = False
    for p in rng.choice(proxies, 5, replace=False).tolist():  # connections waiting in front
        r = p % replicas
        token[p] += 1
        queued[p] = True
        n = front["len"][r]
        front["order"][r, n], front["token"][r, n], front["ready"][r, n] = p, token[p], rng.random()
        front["len"][r] += 1
    queued[rng.choice(proxies, 4)] = False
    head = rng.integers(0, 5, replicas)
    which = rng.permutation(replicas)[: int(rng.integers(1, replicas + 1))]
    sizes = rng.integers(1, 12, len(which))
    results = []
    for hot in (kernels, reference):
        s = {**{k: v.copy() for k, v in lines.items()}, **{f"front_{k}": v.copy() for k, v in front.items()}}
        s["head"] = head.copy()
        found = hot.live_batches(
            s["line_order"], s["line_token"], s["line_ready"], s["head"], s["tail"], s["front_order"],
            s["front_token"], s["front_ready"], s["front_len"], which, sizes, token, queued,
        )  # fmt: skip
        names = ("taken", "offsets", "proxies", "ready", "fronts", "raw_end", "spans")
        results.append(s | dict(zip(names, found, strict=True)))
    _assert_same(*results)
    fast = results[0]
    for j, r in enumerate(fast["taken"].tolist()):
        batch = fast["proxies"][fast["offsets"][j] : fast["offsets"][j + 1]]
        n = front["len"][r]
        waiting = zip(front["order"][r, :n].tolist(), front["token"][r, :n].tolist(), strict=True)
        live_front = [p for p, tok in waiting if queued[p] and tok == token[p]]
        assert batch[: fast["fronts"][j]].tolist() == live_front
        raw = range(fast["head"][r], fast["raw_end"][j])
        entries = [(fast["line_order"][r, i], fast["line_token"][r, i]) for i in raw]
        live = [p for p, tok in entries if queued[p] and tok == token[p]]
        assert batch[fast["fronts"][j] :].tolist() == live
    untaken = set(which.tolist()) - set(fast["taken"].tolist())
    for r in untaken:  # nothing live: the line was scanned to its end
        assert fast["head"][r] == fast["tail"][r]
        assert fast["front_len"][r] == 0


@pytest.mark.parametrize("seed", range(4))
def test_union_sorted_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ascending = np.sort(rng.choice(50, int(rng.integers(0, 20)), replace=False))
    more = rng.choice(50, int(rng.integers(0, 20)), replace=False)
    np.testing.assert_array_equal(kernels.union_sorted(ascending, more), np.union1d(ascending, more))
    np.testing.assert_array_equal(reference.union_sorted(ascending, more), np.union1d(ascending, more))


@pytest.mark.parametrize("seed", range(4))
def test_endpoint_change_equals_its_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes, services = 3, 12
    changed = rng.choice(services, 4, replace=False)
    delta = (changed, rng.integers(-500, 500, (classes, 4)), rng.integers(-3, 3, (classes, 4)))
    other = rng.choice(services, 3, replace=False)
    second = (other, rng.integers(-500, 500, (classes, 3)), rng.integers(-3, 3, (classes, 3)))
    nothing = (np.zeros(0, np.int64), np.zeros((classes, 0), np.int64), np.zeros((classes, 0), np.int64))
    alive = rng.random(services) < 0.7
    state = {
        "eds_now": rng.integers(0, 10_000, (classes, services)),
        "eaa_now": rng.integers(0, 10, (classes, services)),
        "class_bytes": rng.integers(0, 100_000, classes),
        "class_additional": rng.integers(0, 100, classes),
    }

    def change(hot: Any, s: dict[str, np.ndarray], old: tuple, new: tuple) -> None:
        hot.endpoint_change(*old, *new, alive, s["eds_now"], s["eaa_now"], s["class_bytes"], s["class_additional"])

    results = []
    for hot in (kernels, reference):
        s = {k: v.copy() for k, v in state.items()}
        change(hot, s, nothing, delta)  # into a state
        change(hot, s, delta, second)  # from it to another
        change(hot, s, second, nothing)  # back to the pods' own
        results.append(s)
    _assert_same(*results)
    for key in state:  # there and back: as it was
        np.testing.assert_array_equal(results[0][key], state[key], err_msg=key)
    before = {k: v.copy() for k, v in state.items()}
    change(kernels, state, delta, second)  # one call: the old state's change out, the new one's in
    expected = before["eds_now"].copy()
    expected[:, changed] -= delta[1]
    expected[:, other] += second[1]
    np.testing.assert_array_equal(state["eds_now"], expected)
    moved = second[1][:, alive[other]].sum(axis=1) - delta[1][:, alive[changed]].sum(axis=1)
    np.testing.assert_array_equal(state["class_bytes"] - before["class_bytes"], moved)
    moved_additional = second[2][:, alive[other]].sum(axis=1) - delta[2][:, alive[changed]].sum(axis=1)
    np.testing.assert_array_equal(state["class_additional"] - before["class_additional"], moved_additional)


@pytest.mark.parametrize("seed", range(4))
def test_variant_costs_equal_their_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = 50
    type_bytes = rng.integers(0, 200_000, (rows, 4)) * (rng.random((rows, 4)) < 0.6)
    generated = type_bytes * (rng.random((rows, 4)) < 0.5)
    apply_counts, whole = rng.integers(0, 400, (rows, 3)), rng.random(rows) < 0.2
    units = (2e-5, 3e-9, 1.25e9, np.array([0.01, 0.002, -0.0004]), 1.5)
    fast = kernels.variant_costs(type_bytes, generated.astype(float), apply_counts, whole, *units)
    slow = reference.variant_costs(type_bytes, generated.astype(float), apply_counts, whole, *units)
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)  # a dot product may round otherwise
    # istiod's time per type adds up to its CPU and send (the per-proxy part only where a type is carried)
    cpu, send, _, type_seconds = fast
    expected = cpu + send - np.where((type_bytes > 0).any(axis=1), 0.0, units[0])
    np.testing.assert_allclose(type_seconds.sum(axis=1), expected, rtol=1e-12)


# -- a whole run -------------------------------------------------------------------------------------
BUSY = {
    "name": "busy",
    "seed": 3,
    "visibility": "namespace",
    "synthetic": {"namespaces": 3, "services": 30, "replicas": {"distribution": "fixed", "mean": 3}},
    "churn": {
        "duration_s": 400,
        "pod_replacements_per_s": 0.5,
        "rollouts_per_hour": 30,
        "scale_events_per_hour": 40,
        "service_creations_per_hour": 30,
        "service_deletions_per_hour": 30,
        "virtual_service_changes_per_hour": 40,
        "destination_rule_changes_per_hour": 40,
        "sidecar_changes_per_hour": 30,
        "istiod_restarts_s": [200],
    },
    "istiod": {"replicas": 2, "push_throttle": 3, "gomaxprocs": 2},
}


def test_a_run_on_the_kernels_equals_one_on_their_twins(
    write_scenario: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_scenario(BUSY)
    fast = push_simulation(path, ["single-stack", "duplicate"])
    monkeypatch.setenv(ENV, "1")
    slow = push_simulation(path, ["single-stack", "duplicate"])
    for name, frame in fast.items():
        pd.testing.assert_frame_equal(frame, slow[name], obj=name, check_exact=False, rtol=1e-9)
    assert fast["push_records"]["targets"].sum() > 0


@pytest.mark.parametrize("seed", range(4))
def test_requeue_equals_its_twin(seed: int) -> None:
    # Proxies asked for while being pushed: those of the chosen replicas whose push is done
    # re-join (if still connected) in the order they became free, with what they were asked for.
    rng = np.random.default_rng(seed)
    proxies, replicas = 60, 3
    flagged = np.sort(rng.choice(proxies, 35, replace=False))
    chosen = rng.random(replicas) < 0.7
    busy_until = np.round(rng.random(proxies) * 4, 1)  # ties, so the order's tie rule counts
    columns = {
        "connected": rng.random(proxies) < 0.8,
        "busy_until": busy_until,
        "queued": np.zeros(proxies, bool),
        "first": rng.integers(0, 9, proxies),
        "latest": rng.integers(0, 9, proxies),
        "enqueued": rng.random(proxies),
        "start": rng.random(proxies),
        "again_first": np.where(rng.random(proxies) < 0.2, -1, rng.integers(0, 9, proxies)),
        "again_latest": rng.integers(9, 12, proxies),
        "again_start": rng.random(proxies),
    }
    results = []
    for hot in (kernels, reference):
        state = {name: column.copy() for name, column in columns.items()}
        returned = hot.requeue(flagged, chosen, 2.0, *state.values())
        results.append((returned, state))
    (fast, fast_state), (slow, slow_state) = results
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, want)
    for name in columns:
        np.testing.assert_array_equal(fast_state[name], slow_state[name], err_msg=name)
    kept, joining, ready = fast
    live = flagged[columns["again_first"][flagged] >= 0]
    due = live[(busy_until[live] < 2.0) & chosen[live % replicas]]
    assert set(kept.tolist()) == set(live.tolist()) - set(due.tolist())
    assert sorted(joining.tolist()) == sorted(due[columns["connected"][due]].tolist())
    assert (np.diff(ready) >= 0).all()
    assert fast_state["queued"][joining].all()
    assert (fast_state["again_first"][due] == -1).all()


@pytest.mark.parametrize("seed", range(4))
def test_incremental_table_equals_its_twin(seed: int) -> None:
    # Each merge of pushes first..latest carries the endpoint sets of the services those pushes
    # named, each once, only the alive ones, as they are now, class by class.
    rng = np.random.default_rng(seed)
    classes, services, pushes = 3, 30, 12
    named = [np.sort(rng.choice(services, int(rng.integers(0, 5)), replace=False)) for _ in range(pushes)]
    offsets = np.concatenate([[0], np.cumsum([len(n) for n in named])])
    flat = np.concatenate(named).astype(np.int64)
    stride = pushes + 1
    firsts = rng.integers(0, pushes, 6)
    merges = np.unique(firsts * stride + np.minimum(firsts + rng.integers(0, 4, 6), pushes - 1))
    alive = rng.random(services) < 0.8
    eds_now, eaa_now = rng.integers(0, 900, (classes, services)), rng.integers(0, 4, (classes, services))
    costs = (1e-4, 2e-9, 1.25e9, rng.random(3), 0.3, 4e-10)
    results = []
    for hot in (kernels, reference):
        mark = np.full(services, -1, np.int64)
        *table, tag = hot.incremental_table(
            merges, stride, offsets, flat, alive, eds_now, eaa_now, mark, 5, 3, 2, 3, *costs
        )
        results.append((table, tag, mark))
    (fast, fast_tag, fast_mark), (slow, slow_tag, slow_mark) = results
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert fast_tag == slow_tag == 5 + len(merges)
    np.testing.assert_array_equal(fast_mark, slow_mark)
    type_bytes = fast[3]
    for m, key in enumerate(merges.tolist()):
        first, latest = divmod(key, stride)
        carried = np.unique(np.concatenate(named[first : latest + 1]).astype(np.int64))
        carried = carried[alive[carried]]
        assert type_bytes[m * classes : (m + 1) * classes, 3].tolist() == eds_now[:, carried].sum(axis=1).tolist()


@pytest.mark.parametrize("seed", range(6))
def test_concerned_equals_its_twin_and_keeps_the_bounds_true(seed: int) -> None:
    # Which replicas an endpoint change concerns: those with a connection waiting (counted
    # exactly), and those whose pending proxy pushes may carry the change, decided from the bound
    # alone when it can, else from the proxies (recomputing the bound); both forms alike, and
    # always the answer a proxy-by-proxy look gives.
    rng = np.random.default_rng(seed)
    proxies, replicas, pushes = 40, 3, 10
    full_prefix = np.concatenate([[0], np.cumsum(rng.random(pushes) < 0.2)])
    queued = rng.random(proxies) < 0.5
    first = rng.integers(0, pushes, proxies)
    latest = np.minimum(first + rng.integers(0, 3, proxies), pushes - 1)
    connecting = queued & (rng.random(proxies) < 0.05)
    joining_count = np.bincount(np.flatnonzero(connecting) % replicas, minlength=replicas)
    again_first = np.where(rng.random(proxies) < 0.2, rng.integers(0, pushes, proxies), -1)
    again_latest = np.maximum(again_first, pushes - 1)
    flagged = np.flatnonzero(again_first >= 0)
    exact_oldest, exact_joining = kernels.pending(queued, first, connecting, flagged, again_first, replicas)
    for named in range(-1, pushes):
        truth = kernels.depends_on(
            named, full_prefix, exact_oldest, exact_joining, queued, first, latest, flagged, again_first, again_latest
        )
        answers = []
        loose = rng.random() < 0.5  # a bound that is true but loose (older than the truth), or exact
        for hot in (kernels, reference):
            bound = np.minimum(exact_oldest, 0) if loose else exact_oldest.copy()
            needs, recomputed = hot.concerned(
                named, full_prefix, bound, joining_count, queued, first, latest, connecting, flagged, again_first,
                again_latest,
            )  # fmt: skip
            np.testing.assert_array_equal(needs, truth)
            if recomputed:
                np.testing.assert_array_equal(bound, exact_oldest)
            answers.append(recomputed)
        assert answers[0] == answers[1]
