"""The size guard: refuse, in one line, a scenario whose estimated peak memory is more than the
machine has available, or more than a limit set with :func:`memory_limit` (``--max-memory``)."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

from dsim.errors import TooLargeError
from dsim.scenario.load import source_name
from dsim.scenario.model import Scenario
from dsim.sizing.estimate import SizeEstimate, Stage, estimate
from dsim.sizing.machine import available_memory, format_bytes


@dataclasses.dataclass(frozen=True)
class _Limit:
    bytes: float
    """The most memory a command may use, bytes."""
    described: str
    """How the message names the limit (``--max-memory``, the machine's available memory)."""


_LIMIT: contextvars.ContextVar[_Limit | None] = contextvars.ContextVar("dsim_memory_limit", default=None)


@contextlib.contextmanager
def memory_limit(max_bytes: float | None, *, described: str = "the memory limit") -> Iterator[None]:
    """Within the block, refuse scenarios whose estimate exceeds ``max_bytes`` (None: the machine's
    available memory only); ``described`` names the limit in the message (``--max-memory``)."""
    token = _LIMIT.set(_Limit(max_bytes, described) if max_bytes is not None else None)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def _count(value: float) -> str:
    return f"{value:,.0f}" if value < 1e12 else f"{value:.1e}"


_DOING = {
    "cluster": "to build its cluster",
    "config": "to generate a sidecar's config",
    "run": "to run it",
    "push": "to run it with the push model",
}


def check_fits(
    scenario: Scenario, *, source: str | None = None, stage: Stage = "cluster", designs: int | None = None
) -> SizeEstimate:
    """Raise :class:`TooLargeError` when ``stage`` of ``scenario`` would need more memory than the
    limit of :func:`memory_limit` or, without one, than the machine has available; ``source``
    names the scenario in the message."""
    found = estimate(scenario, stage=stage, designs=designs)
    limit = _LIMIT.get()
    machine = available_memory()
    # The process's own memory counts against a limit; the machine's available memory is what the
    # stage may still allocate.
    short = []
    if limit is not None and not found.bytes <= limit.bytes:
        short.append(
            (found.bytes, f"{limit.described} allows {format_bytes(limit.bytes)}", f" or raise {limit.described}")
        )
    if machine is not None and not found.bytes - found.resident <= machine:
        short.append((found.bytes - found.resident, f"this machine has {format_bytes(machine)} available", ""))
    if short:
        needed, said, alternative = short[0]
        raise TooLargeError(
            source_name(scenario, source),
            found.field,
            f"needs about {format_bytes(needed)} {_DOING[stage]} ({_count(found.pods)} pods, "
            f"{_count(found.proxies)} sidecars, {_count(found.endpoints_seen_per_proxy)} endpoints seen by a sidecar) "
            f"but {said}; lower it{alternative}",
        )
    return found
