"""What the push model records: per-push and per-proxy tallies, and latency distributions as
fixed log-spaced histograms (bounded memory for millions of proxy pushes; quantiles to within
one bin, 1/200 of a decade ≈ 1.2%), plus exact maxima."""

from __future__ import annotations

import numpy as np

from dsim.pushsim import reference
from dsim.pushsim.hotpath import hot_loops
from dsim.pushsim.kernels import (
    BIN_LOOKUP,
    BINS_PER_DECADE,
    CPU_BIN_S,
    DECADES,
    HISTOGRAM_BINS,
    LOWEST_S,
    UPPER_EDGES,
)
from dsim.pushsim.work import Variants
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

    def __init__(self) -> None:
        self.counts = np.zeros(HISTOGRAM_BINS, np.int64)
        self.maximum = 0.0
        self.total = 0.0

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Count ``values`` (each ``weights`` times, positive integers, if given)."""
        stats = np.array([self.maximum, self.total])
        reference.count(self.counts, stats, values, weights)
        self.maximum, self.total = float(stats[0]), float(stats[1])

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
"""The integer columns of the recorder's buffer of committed proxy pushes (rows of ``ints``): the
proxy; the row of the cost table it was priced at (:class:`dsim.pushsim.work.Variants`, the
buffered tables concatenated); the first and latest push it carries (-1: a new connection's whole
config)."""
FLOATS = ("enqueued", "start", "dispatch", "converged", "cpu_start", "cpu")
"""The float columns (seconds; rows of ``floats``): when the proxy was enqueued, when the oldest
change it carries happened, dispatched, when Envoy finished applying it, when istiod's CPU work
began and how long it took."""


class Recorder:
    """Tallies of every proxy push the fan-out commits, and istiod's CPU over time.

    The fan-out writes committed proxy pushes into a buffer (:meth:`buffer`, :meth:`committed`;
    columns :data:`INTS` and :data:`FLOATS`), tallied every ``FLUSH_ROWS`` rows and by
    :meth:`flush`, as the tallies' cost is mostly per call."""

    def __init__(self, proxies: int) -> None:
        self.queue_time = Histogram()
        self.convergence = Histogram()
        self.change_to_proxy = Histogram()
        self.push_time = {t: Histogram() for t in XDS_TYPES}
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
        self._ints = np.zeros((len(INTS), 1024), np.int64)
        self._floats = np.zeros((len(FLOATS), 1024))
        self._fill = 0
        self._tables: list[tuple[Variants, np.ndarray]] = []
        self._pending_variants = 0
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

    def buffer(self, rows: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Room for ``rows`` more committed proxy pushes: the buffer (``ints``, ``floats``), its
        first free row, and the offset of the next cost table's variants."""
        need = self._fill + rows
        if need > self._ints.shape[1]:
            size = max(need, 2 * self._ints.shape[1])
            for name in ("_ints", "_floats"):
                old = getattr(self, name)
                fresh = np.zeros((old.shape[0], size), old.dtype)
                fresh[:, : self._fill] = old[:, : self._fill]
                setattr(self, name, fresh)
        return self._ints, self._floats, self._fill, self._pending_variants

    def committed(self, fill: int, variants: Variants, over_limit: np.ndarray) -> None:
        """The buffer is filled up to row ``fill`` with proxy pushes priced at ``variants`` (whose
        ``over_limit`` marks a message over the gRPC limit)."""
        before = self._fill
        self._tables.append((variants, over_limit))
        self._pending_variants += len(variants)
        self._fill = fill
        if fill >= FLUSH_ROWS:
            # This batch's CPU joins the next flush's: so the CPU bins grow as they always did.
            late = (self._floats[4, before:fill].copy(), self._floats[5, before:fill].copy())
            self.flush(cpu_rows=before)
            self._cpu_pending.append(late)

    def flush(self, cpu_rows: int | None = None) -> None:
        """Tally everything buffered (call before reading the tallies); of the buffer's CPU, only
        its first ``cpu_rows`` rows (default: all)."""
        fill = self._fill
        cpu_rows = fill if cpu_rows is None else cpu_rows
        if self._tables:
            variants = Variants.concat([v for v, _ in self._tables])
            over = np.concatenate([o for _, o in self._tables])
            self._tables, self._pending_variants, self._fill = [], 0, 0
            self._tally(self._ints[:, :fill], self._floats[:, :fill], variants, over)
        if cpu_rows or self._cpu_pending:
            starts, seconds = zip(*self._cpu_pending, strict=True) if self._cpu_pending else ((), ())
            self._cpu_pending = []
            start = np.concatenate([self._floats[4, :cpu_rows], *starts])
            self._add_cpu(start, np.concatenate([self._floats[5, :cpu_rows], *seconds]))

    def _tally(self, ints: np.ndarray, floats: np.ndarray, variants: Variants, over_limit: np.ndarray) -> None:
        pushes = int(ints[3].max()) + 2 if ints.shape[1] else 0
        self.push_latest_jobs = _grow(self.push_latest_jobs, pushes)
        self.push_latest_bytes = _grow(self.push_latest_bytes, pushes)
        self.push_last_converged = _grow(self.push_last_converged, pushes)
        self.push_cover = _grow(self.push_cover, pushes)
        # The histograms as rows of one table (queue time, convergence, change to proxy, then
        # istiod's time per xDS type), for the kernel; copied back after.
        histograms = [self.queue_time, self.convergence, self.change_to_proxy, *self.push_time.values()]
        counts = np.stack([h.counts for h in histograms])
        stats = np.array([[h.maximum, h.total] for h in histograms])
        self._hot.tally(
            *ints,
            *floats[:4],
            variants.kind,
            variants.type_bytes,
            variants.type_seconds,
            over_limit,
            counts,
            stats,
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
            UPPER_EDGES,
            BIN_LOOKUP,
        )
        for h, row, (maximum, total) in zip(histograms, counts, stats.tolist(), strict=True):
            h.counts[:] = row
            h.maximum, h.total = maximum, total
