"""What the push model records: per-push and per-proxy tallies, and latency distributions as
fixed log-spaced histograms (bounded memory for millions of proxy pushes; quantiles to within
one bin, 1/200 of a decade ≈ 1.2%), plus exact maxima."""

from __future__ import annotations

import numpy as np

from dsim.pushsim import reference
from dsim.pushsim.hotpath import hot_loops
from dsim.pushsim.kernels import BINS_PER_DECADE, CPU_BIN_S, DECADES, HISTOGRAM_BINS, LOWEST_S, UPPER_EDGES
from dsim.xds.vocabulary import XDS_TYPES

__all__ = ["BINS_PER_DECADE", "CPU_BIN_S", "DECADES", "LOWEST_S", "UPPER_EDGES_S", "Histogram", "Recorder"]

FLUSH_ROWS = 1 << 17


def _upper_edges() -> np.ndarray:
    edges = UPPER_EDGES.copy()
    edges[0] = 0.0
    edges.flags.writeable = False
    return edges


UPPER_EDGES_S = _upper_edges()
"""The upper edge (seconds) of every histogram bin; the first bin holds zero and below."""


class Histogram:
    """Counts of durations (seconds) in log-spaced bins; zero and below go to the first bin."""

    def __init__(self, counts: np.ndarray | None = None, stats: np.ndarray | None = None) -> None:
        """Empty, or over the given arrays (``counts`` per bin; ``stats``: maximum and total),
        which the recorder's kernels update in place."""
        self.counts = np.zeros(HISTOGRAM_BINS, np.int64) if counts is None else counts
        self._stats = np.zeros(2) if stats is None else stats

    @property
    def maximum(self) -> float:
        return float(self._stats[0])

    @property
    def total(self) -> float:
        return float(self._stats[1])

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Count ``values`` (each ``weights`` times, positive integers, if given)."""
        reference.count(self.counts, self._stats, values, weights)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float:
        """The upper edge of the bin holding the ``q`` quantile (never above the true maximum)."""
        n = self.count
        if n == 0:
            return float("nan")
        rank = int(np.searchsorted(np.cumsum(self.counts), max(1, int(np.ceil(q * n)))))
        return min(float(UPPER_EDGES_S[rank]), self.maximum)

    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    bigger = np.zeros((max(size, 2 * len(array)), *array.shape[1:]), array.dtype)
    bigger[: len(array)] = array
    return bigger


INTS = ("proxy", "variant", "first", "latest")
"""The integer columns of a dispatch pass's committed proxy pushes (rows of ``ints``, see
:func:`dsim.pushsim.kernels.commit`): the proxy; the row of the pass's cost table it was priced at
(:class:`dsim.pushsim.work.Variants`); the first and latest push it carries (-1: a new
connection's whole config)."""
FLOATS = ("enqueued", "start", "dispatch", "converged", "cpu_start", "cpu")
"""The float columns (seconds; rows of ``floats``): when the proxy was enqueued, when the oldest
change it carries happened, dispatched, when Envoy finished applying it, when istiod's CPU work
began and how long it took."""


class Recorder:
    """Tallies of every proxy push the fan-out commits, and istiod's CPU over time.

    A dispatch pass tallies what it commits at once (:func:`dsim.pushsim.kernels.dispatch_commit`,
    into :meth:`tallies`); istiod's CPU is buffered (:meth:`cpu_buffer`, :meth:`committed`) and
    spread over time bins every ``FLUSH_ROWS`` rows and by :meth:`flush`."""

    def __init__(self, proxies: int) -> None:
        histograms = 3 + len(XDS_TYPES)
        self._histograms = np.zeros((histograms, HISTOGRAM_BINS), np.int64)
        self._histogram_stats = np.zeros((histograms, 2))
        views = [Histogram(self._histograms[h], self._histogram_stats[h]) for h in range(histograms)]
        self.queue_time, self.convergence, self.change_to_proxy = views[:3]
        self.push_time = dict(zip(XDS_TYPES, views[3:], strict=True))
        self.pushes_by_type = np.zeros(len(XDS_TYPES), np.int64)
        self.bytes_by_type = np.zeros(len(XDS_TYPES), np.int64)
        self.jobs_by_kind = np.zeros(3, np.int64)
        self.proxy_jobs = np.zeros(proxies, np.int64)
        self.proxy_bytes = np.zeros(proxies, np.int64)
        self.proxy_convergence_sum = np.zeros(proxies)
        self.proxy_convergence_max = np.zeros(proxies)
        self.proxy_last_converged = np.full(proxies, np.nan)
        self.proxy_over_limit = np.zeros(proxies, bool)
        self.push_latest_jobs = np.zeros(0, np.int64)
        self.push_latest_bytes = np.zeros((0, len(XDS_TYPES)), np.int64)
        self.push_last_converged = np.zeros(0)
        self.push_cover = np.zeros(0, np.int64)
        self.cpu_bins = np.zeros(0)
        self._cpu = np.zeros((2, 1024))  # committed proxy pushes' CPU: start, seconds
        self._fill = 0
        self._cpu_pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._hot = hot_loops()

    def add_cpu(self, start: np.ndarray, seconds: np.ndarray) -> None:
        """CPU seconds spent from ``start`` on, spread over the 1-second bins they cover."""
        self._cpu_pending.append((start, seconds))

    def _add_cpu(self, start: np.ndarray, seconds: np.ndarray) -> None:
        end = start + seconds
        last = int(end.max() // CPU_BIN_S) + 1 if len(end) else 0
        self.cpu_bins = _grow(self.cpu_bins, last + 1)
        self._hot.spread_cpu(self.cpu_bins, start, seconds)

    def tallies(self, pushes: int) -> tuple[np.ndarray, ...]:
        """The tallies a dispatch pass adds to, in :func:`dsim.pushsim.kernels.tally`'s order,
        with room for proxy pushes carrying pushes up to id ``pushes - 1``."""
        self.push_latest_jobs = _grow(self.push_latest_jobs, pushes + 1)
        self.push_latest_bytes = _grow(self.push_latest_bytes, pushes + 1)
        self.push_last_converged = _grow(self.push_last_converged, pushes + 1)
        self.push_cover = _grow(self.push_cover, pushes + 1)
        return (
            self._histograms,
            self._histogram_stats,
            self.pushes_by_type,
            self.bytes_by_type,
            self.jobs_by_kind,
            self.proxy_jobs,
            self.proxy_bytes,
            self.proxy_convergence_sum,
            self.proxy_convergence_max,
            self.proxy_last_converged,
            self.proxy_over_limit,
            self.push_latest_jobs,
            self.push_latest_bytes,
            self.push_last_converged,
            self.push_cover,
        )

    def cpu_buffer(self, rows: int) -> tuple[np.ndarray, int]:
        """Room for the CPU of ``rows`` more committed proxy pushes: the buffer (start, seconds)
        and its first free column."""
        need = self._fill + rows
        if need > self._cpu.shape[1]:
            fresh = np.zeros((2, max(need, 2 * self._cpu.shape[1])))
            fresh[:, : self._fill] = self._cpu[:, : self._fill]
            self._cpu = fresh
        return self._cpu, self._fill

    def committed(self, fill: int) -> None:
        """The CPU buffer is filled up to column ``fill``."""
        before = self._fill
        self._fill = fill
        if fill >= FLUSH_ROWS:
            # This batch's CPU joins the next flush's: so the CPU bins grow as they always did.
            late = (self._cpu[0, before:fill].copy(), self._cpu[1, before:fill].copy())
            self.flush(cpu_rows=before)
            self._cpu_pending.append(late)

    def flush(self, cpu_rows: int | None = None) -> None:
        """Spread the CPU buffered (call before reading ``cpu_bins``); of the buffer, only its
        first ``cpu_rows`` columns (default: all)."""
        cpu_rows = self._fill if cpu_rows is None else cpu_rows
        self._fill = 0
        if cpu_rows or self._cpu_pending:
            starts, seconds = zip(*self._cpu_pending, strict=True) if self._cpu_pending else ((), ())
            self._cpu_pending = []
            start = np.concatenate([self._cpu[0, :cpu_rows], *starts])
            self._add_cpu(start, np.concatenate([self._cpu[1, :cpu_rows], *seconds]))

    def trim(self, pushes: int) -> None:
        """Per-push tallies for pushes ``0..pushes - 1`` exactly (and the one past the last)."""
        for name in ("push_latest_jobs", "push_latest_bytes", "push_last_converged", "push_cover"):
            setattr(self, name, _grow(getattr(self, name), pushes + 1)[: pushes + 1])
