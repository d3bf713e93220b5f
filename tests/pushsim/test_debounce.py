"""The debouncer against Istio's ``TestDebounce`` (pilot/pkg/xds/discovery_test.go), as exact event
traces: debounce after 50 ms of quiet, at most 100 ms, a full push takes 200 ms, EDS debounce off
(the Go test's settings) unless a case says otherwise."""

from __future__ import annotations

import itertools
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from dsim.pushsim.debounce import DebounceOptions, Debouncer
from dsim.pushsim.requests import ConfigKey, PushRequest

AFTER = 0.050
MAX = 2 * AFTER
PUSH_TIME = 2 * MAX
GO_TEST = DebounceOptions(after_s=AFTER, max_s=MAX, eds_debounce=False)


def simulate(
    events: list[tuple[float, bool]], options: DebounceOptions = GO_TEST, until: float = 2.0
) -> tuple[list[tuple[float, str, int]], list[tuple[float, float]]]:
    """Feed ``(time, full)`` events; return the pushes ``(start, full|partial, events)`` and the
    ``(start, end)`` of every full push."""
    env = simpy.Environment()
    spans: list[tuple[float, float]] = []

    def push(request: PushRequest) -> Generator[simpy.Event, Any, None]:
        if request.full:
            start = env.now
            yield env.timeout(PUSH_TIME)
            spans.append((start, env.now))
        else:
            yield env.timeout(0)

    debouncer = Debouncer(env, options, push)

    def feed() -> Generator[simpy.Event, Any, None]:
        for at, full in events:
            yield env.timeout(at - env.now)
            debouncer.receive(PushRequest(full=full, start=env.now))

    env.process(feed())
    env.run(until=until)
    pushes = [(round(p.time, 6), "full" if p.request.full else "partial", p.request.events) for p in debouncer.pushes]
    return pushes, spans


def test_partial_pushes_are_not_debounced_when_eds_debounce_is_off() -> None:
    pushes, _ = simulate([(0.0, False)] * 5)
    assert pushes == [(0.0, "partial", 1)] * 5


def test_a_full_push_waits_for_quiet() -> None:
    pushes, _ = simulate([(0.0, True)])
    assert pushes == [(AFTER, "full", 1)]


def test_full_updates_are_sent_in_batches() -> None:
    pushes, _ = simulate([(0.0, True), (0.0, True)])
    assert pushes == [(AFTER, "full", 2)]


def test_full_updates_batch_while_partial_ones_go_at_once() -> None:
    pushes, _ = simulate([(0.0, True), (0.0, True), (0.0, False), (0.0, False), (0.2, False)])
    assert pushes == [(0.0, "partial", 1), (0.0, "partial", 1), (AFTER, "full", 2), (0.2, "partial", 1)]


def test_a_push_is_forced_after_debounce_max() -> None:
    # An event every 30 ms never leaves 50 ms of quiet; the batch goes at 100 ms from its first event
    # (at the first timer after it: 50 → 80 → 110 ms), not at 50 ms after the last (140 ms).
    pushes, _ = simulate([(0.0, True), (0.03, True), (0.06, True), (0.09, True)])
    assert pushes == [(0.11, "full", 4)]
    unbounded, _ = simulate(
        [(0.0, True), (0.03, True), (0.06, True), (0.09, True)], DebounceOptions(after_s=AFTER, max_s=10.0)
    )
    assert unbounded == [(0.14, "full", 4)]


def test_pushes_never_overlap_a_later_batch_waits_for_the_running_push() -> None:
    # Push 1 runs 50–250 ms; the event at 60 ms is ready at 110 ms but waits for it (single flight).
    pushes, spans = simulate([(0.0, True), (0.06, True)])
    assert pushes == [(AFTER, "full", 1), (AFTER + PUSH_TIME, "full", 1)]
    assert spans == [(AFTER, AFTER + PUSH_TIME), (AFTER + PUSH_TIME, AFTER + 2 * PUSH_TIME)]


def test_events_during_a_push_merge_into_one_next_push() -> None:
    pushes, spans = simulate(
        [(0.0, True), (0.06, True), (0.07, False), (0.12, True)], DebounceOptions(after_s=AFTER, max_s=MAX)
    )
    assert pushes == [(AFTER, "full", 1), (AFTER + PUSH_TIME, "full", 3)]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end


@pytest.mark.parametrize("eds_debounce", [True, False])
def test_eds_debounce_decides_whether_incremental_requests_wait(eds_debounce: bool) -> None:
    options = DebounceOptions(after_s=AFTER, max_s=MAX, eds_debounce=eds_debounce)
    pushes, _ = simulate([(0.0, False), (0.01, False)], options)
    if eds_debounce:
        assert pushes == [(0.06, "partial", 2)]  # 50 ms after the last event
    else:
        assert pushes == [(0.0, "partial", 1), (0.01, "partial", 1)]


def test_merging_keeps_the_oldest_start_ors_full_and_unions_configs() -> None:
    endpoints = ConfigKey(kind="endpoints", target=3)
    routes = ConfigKey(kind="virtual_service", target=3)
    first = PushRequest(full=False, configs=frozenset({endpoints}), start=1.0)
    second = PushRequest(
        full=True, configs=frozenset({routes, ConfigKey(kind="endpoints", target=3)}), start=0.5, events=2
    )
    merged = first.merge(second)
    assert merged == PushRequest(full=True, configs=frozenset({endpoints, routes}), start=0.5, events=3)
    assert first.merge(PushRequest(full=False, configs=None, start=2.0)).configs is None
