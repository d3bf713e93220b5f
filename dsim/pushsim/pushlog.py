"""The pushes istiod started, as the fan-out needs them: a proxy push carries the merge of pushes
``first..latest`` (ids into the log), and what that merge carries is looked up here."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Push:
    """One push istiod started: what it carries to the proxies it reaches."""

    full: bool
    """A full push (every type) rather than an incremental (EDS) one."""
    services: np.ndarray
    """The services whose resources changed."""
    rescoped: np.ndarray
    """Namespaces whose Sidecar scope changed (their proxies get every type whole)."""
    start: float
    """When the oldest event it carries happened."""


_CACHE_LIMIT = 4096


def _room(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    """``array``, or a copy at least twice as long padded with ``fill``, to hold ``size`` values."""
    if size <= len(array):
        return array
    grown = np.full(max(size, 2 * len(array)), fill, array.dtype)
    grown[: len(array)] = array
    return grown


class PushLog:
    """Every push so far, with running counts that make "does ``first..latest`` include a full
    push" and "was service s named since push p" array lookups."""

    def __init__(self, services: int) -> None:
        self.pushes: list[Push] = []
        self._full_prefix = np.zeros(1024, np.int64)  # pushes before id i that were full
        self._last_push_of = np.full(services, -1, np.int64)  # per service: last push naming it
        self._merged: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._service_offsets = np.zeros(1024, np.int64)  # push i named _named[offsets[i]:offsets[i + 1]]
        self._named = np.zeros(1024, np.int64)

    def __len__(self) -> int:
        return len(self.pushes)

    def add(self, push: Push) -> int:
        """Log ``push``; returns its id."""
        pid = len(self.pushes)
        self.pushes.append(push)
        if pid + 2 > len(self._full_prefix):
            self._full_prefix = np.concatenate([self._full_prefix, np.zeros(len(self._full_prefix) + 2, np.int64)])
        self._full_prefix[pid + 1] = self._full_prefix[pid] + int(push.full)
        if pid + 2 > len(self._service_offsets):
            self._service_offsets = np.concatenate(
                [self._service_offsets, np.zeros(len(self._service_offsets), np.int64)]
            )
        begin = int(self._service_offsets[pid])
        end = begin + len(push.services)
        if end > len(self._named):
            self._named = np.concatenate(
                [self._named, np.zeros(max(end, 2 * len(self._named)) - len(self._named), np.int64)]
            )
        self._named[begin:end] = push.services
        self._service_offsets[pid + 1] = end
        if len(push.services):
            self._last_push_of = _room(self._last_push_of, int(push.services.max()) + 1, -1)
            self._last_push_of[push.services] = pid
        return pid

    @property
    def full_prefix(self) -> np.ndarray:
        """Per push id ``i`` (and one past the last): how many pushes before it were full."""
        return self._full_prefix[: len(self.pushes) + 1]

    @property
    def named(self) -> tuple[np.ndarray, np.ndarray]:
        """The services each push named, as offsets (per push id, and one past the last) into one
        array: push ``i`` named ``services[offsets[i]:offsets[i + 1]]``."""
        return self._service_offsets[: len(self.pushes) + 1], self._named

    def carries_full(self, first: np.ndarray | int, latest: np.ndarray | int) -> np.ndarray:
        """Per merge ``first..latest``: whether one of its pushes was full."""
        return self._full_prefix[latest + 1] - self._full_prefix[first] > 0

    def last_naming(self, services: np.ndarray) -> int:
        """The last push that named one of ``services`` (-1 if none did)."""
        # A workload's few services: Python's max costs less than NumPy's calls on them.
        last, known = self._last_push_of, len(self._last_push_of)
        return max((int(last[s]) for s in services.tolist() if s < known), default=-1)

    def merged(self, first: int, latest: int) -> tuple[np.ndarray, np.ndarray]:
        """The services and the rescoped namespaces the merge of pushes ``first..latest`` carries
        (distinct, sorted)."""
        key = (first, latest)
        found = self._merged.get(key)
        if found is None:
            if len(self._merged) >= _CACHE_LIMIT:  # merges in flight are recent: start afresh
                self._merged.clear()
            pushes = self.pushes[first : latest + 1]
            found = (
                np.unique(np.concatenate([p.services for p in pushes])),
                np.unique(np.concatenate([p.rescoped for p in pushes])),
            )
            self._merged[key] = found
        return found
