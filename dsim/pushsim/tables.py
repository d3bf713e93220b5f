"""The push model's results as tidy tables, with Istio's metric names where Istio has one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.pushsim.metrics import CPU_BIN_S, UPPER_EDGES_S, Histogram
from dsim.pushsim.simulate import DesignRun, PushRecord
from dsim.xds.vocabulary import XDS_SHORT, XDS_TYPES

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def push_records(run: DesignRun) -> pd.DataFrame:
    """One row per push: what triggered it, its debounce and build time, how many proxies it
    reached, and (for the proxy pushes whose newest content it was) bytes sent and last convergence."""
    rec = run.recorder
    columns = [f.name for f in dataclasses.fields(PushRecord)]
    # A record's fields are plain values: read them as they are (asdict would deep-copy each).
    frame = pd.DataFrame([[getattr(p, c) for c in columns] for p in run.pushes], columns=columns)
    n = len(run.pushes)

    def per_push(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, values.dtype)
        out[: min(n, len(values))] = values[:n]
        return out

    frame.insert(0, "design", run.design)
    frame["proxies_pushed"] = np.cumsum(per_push(rec.push_cover))
    frame["proxy_pushes_latest"] = per_push(rec.push_latest_jobs)
    latest_bytes = np.zeros((n, len(XDS_TYPES)), np.int64)
    latest_bytes[: min(n, len(rec.push_latest_bytes))] = rec.push_latest_bytes[:n]
    for i, t in enumerate(XDS_TYPES):
        frame[f"{XDS_SHORT[t]}_bytes"] = latest_bytes[:, i]
    last = per_push(rec.push_last_converged)
    frame["last_converged_s"] = np.where(frame["proxy_pushes_latest"] > 0, last, np.nan)
    return frame


def proxy_records(run: DesignRun) -> pd.DataFrame:
    """One row per proxy that was ever connected: pushes received, bytes, convergence."""
    rec = run.recorder
    seen = np.flatnonzero(rec.proxy_jobs > 0)
    jobs = rec.proxy_jobs[seen]
    return pd.DataFrame(
        {
            "design": run.design,
            "proxy": seen,
            "workload": run.proxy_workload[seen],
            "connected_at_end": run.connected[seen],
            "pushes": jobs,
            "bytes": rec.proxy_bytes[seen],
            "convergence_mean_s": rec.proxy_convergence_sum[seen] / jobs,
            "convergence_max_s": rec.proxy_convergence_max[seen],
            "last_converged_s": rec.proxy_last_converged[seen],
            "over_grpc_limit": rec.proxy_over_limit[seen],
        }
    )


def cpu_timeline(run: DesignRun, cores: int) -> pd.DataFrame:
    """istiod CPU seconds per second of simulated time, and utilization of all replicas' cores."""
    bins = run.recorder.cpu_bins
    end = int(np.ceil(run.end_s / CPU_BIN_S)) + 1
    cpu = np.zeros(end)
    cpu[: min(end, len(bins))] = bins[:end]
    return pd.DataFrame(
        {
            "design": run.design,
            "second": np.arange(end) * CPU_BIN_S,
            "cpu_s": cpu,
            "utilization": cpu / (CPU_BIN_S * cores),
        }
    )


def convergence_histogram(run: DesignRun) -> pd.DataFrame:
    """``pilot_proxy_convergence_time`` as its histogram: the non-empty log bins, each with its
    upper edge (seconds) and count of proxy pushes, so a CDF can be drawn over every proxy push."""
    counts = run.recorder.convergence.counts
    filled = np.flatnonzero(counts)
    return pd.DataFrame(
        {
            "design": run.design,
            "upper_s": np.minimum(UPPER_EDGES_S[filled], run.recorder.convergence.maximum),
            "proxy_pushes": counts[filled],
        }
    )


def _histogram_rows(name: str, label: str, histogram: Histogram, stats: tuple[str, ...]) -> list[tuple]:
    rows = []
    for stat in stats:
        value = histogram.maximum if stat == "max" else histogram.quantile(QUANTILES[stat])
        rows.append((name, label, stat, value if histogram.count else np.nan))
    rows.append((name, label, "count", float(histogram.count)))
    return rows


def metrics(run: DesignRun, records: pd.DataFrame, cpu: pd.DataFrame) -> pd.DataFrame:
    """Summary metrics, one row per (metric, label, statistic); times in seconds."""
    rec = run.recorder
    rows: list[tuple] = []
    debounce = records.loc[records["debounced"], "debounce_s"].to_numpy() if len(records) else np.empty(0)
    builds = records.loc[records["full"], "build_s"].to_numpy() if len(records) else np.empty(0)
    for name, values in (("pilot_debounce_time", debounce), ("pilot_pushcontext_init_seconds", builds)):
        for stat, q in QUANTILES.items():
            rows.append((name, "", stat, float(np.quantile(values, q)) if len(values) else np.nan))
        rows.append((name, "", "max", float(values.max()) if len(values) else np.nan))
        rows.append((name, "", "count", float(len(values))))
    rows += _histogram_rows("pilot_proxy_queue_time", "", rec.queue_time, ("p50", "p99", "max"))
    for t in XDS_TYPES:
        label = f"type={XDS_SHORT[t]}"
        rows += _histogram_rows("pilot_xds_push_time", label, rec.push_time[t], ("p50", "p99", "max"))
        rows.append(("pilot_xds_pushes", label, "count", float(rec.pushes_by_type[XDS_TYPES.index(t)])))
        rows.append(("dsim_xds_bytes_sent", label, "sum", float(rec.bytes_by_type[XDS_TYPES.index(t)])))
    rows += _histogram_rows("pilot_proxy_convergence_time", "", rec.convergence, ("p50", "p90", "p99", "max"))
    rows += _histogram_rows("dsim_change_to_proxy_seconds", "", rec.change_to_proxy, ("p50", "p99", "max"))
    rows.append(("dsim_xds_bytes_sent", "", "per_second", float(rec.bytes_by_type.sum() / max(run.end_s, 1e-9))))
    rows.append(("istiod_cpu_seconds", "", "sum", float(cpu["cpu_s"].sum())))
    rows.append(("istiod_cpu_utilization", "", "mean", float(cpu["utilization"].mean())))
    rows.append(("istiod_cpu_utilization", "", "max", float(cpu["utilization"].max())))
    rows.append(("dsim_proxies_over_grpc_limit", "", "count", float(rec.proxy_over_limit.sum())))
    rows.append(("dsim_push_queue_peak", "", "max", float(run.queue_peak)))
    rows.append(("pilot_xds", "", "end", float(run.connected.sum())))
    rows.append(("dsim_connections", "", "count", float(run.connections)))
    frame = pd.DataFrame(rows, columns=["metric", "label", "stat", "value"])
    frame.insert(0, "design", run.design)
    return frame


def summary(metric_rows: pd.DataFrame) -> pd.DataFrame:
    """Per design, the headline push figures (one row each)."""
    pick = {
        ("pilot_proxy_convergence_time", "p50"): "convergence_p50_s",
        ("pilot_proxy_convergence_time", "p99"): "convergence_p99_s",
        ("pilot_proxy_convergence_time", "max"): "convergence_max_s",
        ("dsim_change_to_proxy_seconds", "p99"): "change_to_proxy_p99_s",
        ("pilot_proxy_queue_time", "p99"): "queue_time_p99_s",
        ("istiod_cpu_seconds", "sum"): "istiod_cpu_s",
        ("istiod_cpu_utilization", "mean"): "istiod_utilization_mean",
        ("dsim_xds_bytes_sent", "per_second"): "bytes_sent_per_s",
        ("dsim_proxies_over_grpc_limit", "count"): "proxies_over_grpc_limit",
    }
    rows = metric_rows[metric_rows["label"] == ""]
    keyed = rows.set_index(["design", "metric", "stat"])["value"]
    out = pd.DataFrame(
        {column: [keyed.get((d, m, s), np.nan) for d in rows["design"].unique()] for (m, s), column in pick.items()}
    )
    out.insert(0, "design", rows["design"].unique())
    return out
