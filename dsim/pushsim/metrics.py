"""What the push model records: per-push and per-proxy tallies, and latency distributions as
fixed log-spaced histograms (bounded memory for millions of proxy pushes; quantiles to within
one bin, 1/200 of a decade ≈ 1.2%), plus exact maxima."""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.pushsim.work import Variants
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

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Count ``values`` (each ``weights`` times, positive integers, if given)."""
        if len(values) == 0:
            return
        scaled = np.maximum(values, LOWEST_S)  # in place from here: these run over millions of values
        scaled /= LOWEST_S
        np.log10(scaled, out=scaled)
        scaled *= BINS_PER_DECADE
        np.ceil(scaled, out=scaled)
        index = scaled.astype(np.int64)
        np.minimum(index, len(self.counts) - 1, out=index)
        if weights is None:
            self.counts += np.bincount(index, minlength=len(self.counts))
            self.total += float(values.sum())
        else:  # integer weights: float sums of them are exact far beyond any count here
            self.counts += np.bincount(index, weights=weights, minlength=len(self.counts)).astype(np.int64)
            self.total += float(values @ weights)
        self.maximum = max(self.maximum, float(values.max()))

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Committed:
    """Proxy pushes the fan-out committed, one row each (times in seconds)."""

    proxy: np.ndarray
    variant: np.ndarray
    """Row of the cost table it was priced at (:class:`dsim.pushsim.work.Variants`)."""
    first: np.ndarray
    """First push it carries (-1: a new connection's whole config)."""
    latest: np.ndarray
    """Latest push it carries (-1 likewise)."""
    enqueued: np.ndarray
    start: np.ndarray
    """When the oldest change it carries happened."""
    dispatch: np.ndarray
    converged: np.ndarray
    """When Envoy finished applying it."""


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
        self._pending: list[Committed] = []
        self._tables: list[tuple[Variants, np.ndarray]] = []
        self._pending_rows = 0
        self._pending_variants = 0
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
        # The rare span over several bins gives each bin the part of it inside that bin.
        start, end, first_bin = start[~same], end[~same], first_bin[~same]
        spans = last_bin[~same] - first_bin + 1
        row = np.repeat(np.arange(len(start)), spans)
        index = np.arange(len(row)) - np.repeat(np.cumsum(spans) - spans, spans) + first_bin[row]
        inside = np.minimum((index + 1) * CPU_BIN_S, end[row]) - np.maximum(index * CPU_BIN_S, start[row])
        self.cpu_bins += np.bincount(index, weights=inside, minlength=len(self.cpu_bins))

    def record(self, rows: Committed, variants: Variants, over_limit: np.ndarray) -> None:
        """Tally committed proxy pushes, row ``i`` costing ``variants[rows.variant[i]]`` (whose
        ``over_limit`` marks a message over the gRPC limit). Batches are buffered and tallied
        together, as the tallies' cost is mostly per call."""
        self._pending.append(dataclasses.replace(rows, variant=rows.variant + self._pending_variants))
        self._tables.append((variants, over_limit))
        self._pending_variants += len(variants)
        self._pending_rows += len(rows.proxy)
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Tally everything buffered (call before reading the tallies)."""
        if self._pending:
            rows = Committed(
                **{
                    f.name: np.concatenate([getattr(b, f.name) for b in self._pending])
                    for f in dataclasses.fields(Committed)
                }
            )
            variants = Variants.concat([v for v, _ in self._tables])
            over = np.concatenate([o for _, o in self._tables])
            self._pending, self._tables, self._pending_rows, self._pending_variants = [], [], 0, 0
            self._tally(rows, variants, over)
        if self._cpu_pending:
            starts, seconds = zip(*self._cpu_pending, strict=True)
            self._cpu_pending = []
            self._add_cpu(np.concatenate(starts), np.concatenate(seconds))

    def _tally(self, rows: Committed, variants: Variants, over_limit: np.ndarray) -> None:
        proxy, variant, first, latest = rows.proxy, rows.variant, rows.first, rows.latest
        enqueued, start, dispatch, converged = rows.enqueued, rows.start, rows.dispatch, rows.converged
        pushes = int(latest.max()) + 2 if len(latest) else 0
        self.push_latest_jobs = _grow(self.push_latest_jobs, pushes)
        self.push_latest_bytes = _grow(self.push_latest_bytes, pushes)
        self.push_last_converged = _grow(self.push_last_converged, pushes)
        self.push_cover = _grow(self.push_cover, pushes)
        self.queue_time.add(dispatch - enqueued)
        convergence = converged - enqueued
        self.convergence.add(convergence)
        self.change_to_proxy.add(converged - start)
        # What depends on a row's cost alone is tallied per variant, weighted by its rows.
        uses = np.bincount(variant, minlength=len(variants))
        used = uses > 0
        carried = variants.type_bytes > 0
        for i, t in enumerate(XDS_TYPES):
            mine = carried[:, i] & used
            self.push_time[t].add(variants.type_seconds[mine, i], uses[mine])
        self.pushes_by_type += uses @ carried
        self.bytes_by_type += uses @ variants.type_bytes
        self.jobs_by_kind += np.bincount(variants.kind, weights=uses, minlength=3).astype(np.int64)
        total = variants.type_bytes.sum(axis=1)
        size = len(self.proxy_jobs)
        self.proxy_jobs += np.bincount(proxy, minlength=size)
        self.proxy_bytes += np.bincount(proxy, weights=total[variant], minlength=size).astype(np.int64)
        self.proxy_convergence_sum += np.bincount(proxy, weights=convergence, minlength=size)
        np.maximum.at(self.proxy_convergence_max, proxy, convergence)
        np.fmax.at(self.proxy_last_converged, proxy, converged)
        if over_limit.any():
            self.proxy_over_limit[proxy[over_limit[variant]]] = True
        pushed = latest >= 0
        latest, variant, first, converged = latest[pushed], variant[pushed], first[pushed], converged[pushed]
        self.push_latest_jobs += np.bincount(latest, minlength=len(self.push_latest_jobs))
        # Rows per (push, variant): counted directly when the pairs span few bins, else sorted.
        lowest = int(latest.min(initial=0))
        pairs = (latest - lowest) * len(variants) + variant
        if len(pairs) and int(pairs.max()) < 4 * len(pairs) + 4096:
            count = np.bincount(pairs)
            pairs = np.flatnonzero(count)
            count = count[pairs]
        else:
            pairs, count = np.unique(pairs, return_counts=True)
        np.add.at(
            self.push_latest_bytes,
            pairs // len(variants) + lowest,
            count[:, None] * variants.type_bytes[pairs % len(variants)],
        )
        np.maximum.at(self.push_last_converged, latest, converged)
        self.push_cover += np.bincount(first, minlength=len(self.push_cover))
        self.push_cover -= np.bincount(latest + 1, minlength=len(self.push_cover))
