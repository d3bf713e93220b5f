"""What the push model records: per-push and per-proxy tallies, and latency distributions as
fixed log-spaced histograms (bounded memory for millions of proxy pushes; quantiles to within
one bin, 1/200 of a decade ≈ 1.2%), plus exact maxima."""

from __future__ import annotations

import numpy as np

from dsim.xds.generate import XDS_TYPES

BINS_PER_DECADE = 200
LOWEST_S = 1e-7
DECADES = 12  # 100 ns .. 100,000 s
CPU_BIN_S = 1.0
FLUSH_ROWS = 1 << 17


def _upper_edges() -> np.ndarray:
    edges = LOWEST_S * 10 ** (np.arange(BINS_PER_DECADE * DECADES + 1) / BINS_PER_DECADE)
    edges[0] = 0.0
    edges.flags.writeable = False
    return edges


UPPER_EDGES_S = _upper_edges()
"""The upper edge (seconds) of every histogram bin; the first bin holds zero and below."""


class Histogram:
    """Counts of durations (seconds) in log-spaced bins; zero and below go to the first bin."""

    def __init__(self) -> None:
        self.counts = np.zeros(BINS_PER_DECADE * DECADES + 1, np.int64)
        self.maximum = 0.0
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        scaled = np.log10(np.maximum(values, LOWEST_S) / LOWEST_S) * BINS_PER_DECADE
        index = np.minimum(np.ceil(scaled).astype(np.int64), len(self.counts) - 1)
        self.counts += np.bincount(index, minlength=len(self.counts))
        self.maximum = max(self.maximum, float(values.max()))
        self.total += float(values.sum())

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


class Recorder:
    """Tallies of every proxy push the fan-out commits, and istiod's CPU over time."""

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
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._cpu_pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add_cpu(self, start: np.ndarray, seconds: np.ndarray) -> None:
        """CPU seconds spent from ``start`` on, spread over the 1-second bins they cover."""
        self._cpu_pending.append((start, seconds))

    def _add_cpu(self, start: np.ndarray, seconds: np.ndarray) -> None:
        end = start + seconds
        last = int(end.max() // CPU_BIN_S) + 1 if len(end) else 0
        self.cpu_bins = _grow(self.cpu_bins, last + 1)
        first_bin = (start // CPU_BIN_S).astype(np.int64)
        last_bin = (end // CPU_BIN_S).astype(np.int64)
        same = first_bin == last_bin
        self.cpu_bins += np.bincount(first_bin[same], weights=seconds[same], minlength=len(self.cpu_bins))
        for s, e in zip(start[~same].tolist(), end[~same].tolist(), strict=True):  # rare: longer than a bin
            edges = np.arange(np.floor(s / CPU_BIN_S), np.floor(e / CPU_BIN_S) + 1)
            lo = np.maximum(edges * CPU_BIN_S, s)
            hi = np.minimum((edges + 1) * CPU_BIN_S, e)
            np.add.at(self.cpu_bins, edges.astype(np.int64), hi - lo)

    def record(self, **batch: np.ndarray) -> None:
        """Tally committed proxy pushes (arguments as :meth:`_tally`); batches are buffered and
        tallied together, as the tallies' cost is mostly per call."""
        self._pending.append(batch)
        self._pending_rows += len(batch["proxy"])
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Tally everything buffered (call before reading the tallies)."""
        if self._pending:
            merged = {key: np.concatenate([b[key] for b in self._pending]) for key in self._pending[0]}
            self._pending, self._pending_rows = [], 0
            self._tally(**merged)
        if self._cpu_pending:
            starts, seconds = zip(*self._cpu_pending, strict=True)
            self._cpu_pending = []
            self._add_cpu(np.concatenate(starts), np.concatenate(seconds))

    def _tally(
        self,
        *,
        proxy: np.ndarray,
        kind: np.ndarray,
        first: np.ndarray,
        latest: np.ndarray,
        enqueued: np.ndarray,
        start: np.ndarray,
        dispatch: np.ndarray,
        converged: np.ndarray,
        type_bytes: np.ndarray,
        type_seconds: np.ndarray,
        over_limit: np.ndarray,
    ) -> None:
        """Tally committed proxy pushes (one row each; ``type_*`` are per xDS type)."""
        pushes = int(latest.max()) + 2 if len(latest) else 0
        self.push_latest_jobs = _grow(self.push_latest_jobs, pushes)
        self.push_latest_bytes = _grow(self.push_latest_bytes, pushes)
        self.push_last_converged = _grow(self.push_last_converged, pushes)
        self.push_cover = _grow(self.push_cover, pushes)
        self.queue_time.add(dispatch - enqueued)
        convergence = converged - enqueued
        self.convergence.add(convergence)
        self.change_to_proxy.add(converged - start)
        carried = type_bytes > 0
        for i, t in enumerate(XDS_TYPES):
            self.push_time[t].add(type_seconds[carried[:, i], i])
        self.pushes_by_type += carried.sum(axis=0)
        self.bytes_by_type += type_bytes.sum(axis=0)
        self.jobs_by_kind += np.bincount(kind, minlength=3)
        total = type_bytes.sum(axis=1)
        size = len(self.proxy_jobs)
        self.proxy_jobs += np.bincount(proxy, minlength=size)
        self.proxy_bytes += np.bincount(proxy, weights=total, minlength=size).astype(np.int64)
        self.proxy_convergence_sum += np.bincount(proxy, weights=convergence, minlength=size)
        np.maximum.at(self.proxy_convergence_max, proxy, convergence)
        np.fmax.at(self.proxy_last_converged, proxy, converged)
        self.proxy_over_limit[proxy[over_limit]] = True
        pushed = latest >= 0
        np.add.at(self.push_latest_jobs, latest[pushed], 1)
        np.add.at(self.push_latest_bytes, latest[pushed], type_bytes[pushed])
        np.maximum.at(self.push_last_converged, latest[pushed], converged[pushed])
        np.add.at(self.push_cover, first[pushed], 1)
        np.add.at(self.push_cover, latest[pushed] + 1, -1)
