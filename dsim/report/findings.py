"""Findings written from a run's numbers: which design costs what, and where the difference
comes from (by xDS type, by Envoy object). Every figure in a sentence is read from the tables;
a sentence whose comparison cannot be made (a design or the push model did not run) is left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.headline import RATIO_COLUMNS
from dsim.report.labels import object_label
from dsim.xds.generate import XDS_TYPES
from dsim.xds.sizes import COUNT_COLUMNS

BASELINE = "single-stack"
SHIPPED = "additional-addresses"
# Differences smaller than this share are "the same" in words (the tables keep the exact values).
SAME = 0.005


def _cell(summary: pd.DataFrame, metric: str, design: str, column: str) -> float:
    row = summary[(summary["metric"] == metric) & (summary["design"] == design)]
    return float(row[column].iloc[0]) if len(row) else float("nan")


def _value(summary: pd.DataFrame, metric: str, design: str) -> float:
    return _cell(summary, metric, design, "value")


def _ratio(summary: pd.DataFrame, metric: str, design: str, baseline: str = BASELINE) -> str:
    """The design summary's ratio of ``design`` to ``baseline`` for ``metric``, in words."""
    ratio = _cell(summary, metric, design, RATIO_COLUMNS[baseline])
    return "no ratio (zero base)" if np.isnan(ratio) else f"{ratio:.2f}×"


def _kb(value: float) -> str:
    return f"{value / 1e3:,.1f} kB"


def _signed_kb(value: float) -> str:
    return f"{'+' if value >= 0 else '−'}{abs(value) / 1e3:,.1f} kB"


def config_finding(summary: pd.DataFrame, design: str) -> str | None:
    """Config per proxy against single-stack, with the difference split by xDS type."""
    total, base = (_value(summary, "config bytes per proxy", d) for d in (design, BASELINE))
    if np.isnan(total) or np.isnan(base) or design == BASELINE:
        return None
    extra = total - base
    deltas = {
        t: _value(summary, f"{t} bytes per proxy", design) - _value(summary, f"{t} bytes per proxy", BASELINE)
        for t in XDS_TYPES
    }
    parts = []
    for xds_type, delta in sorted(deltas.items(), key=lambda item: -abs(item[1])):
        if abs(delta) >= SAME * base:
            share = f" ({delta / extra:.0%})" if abs(extra) >= SAME * base and delta * extra > 0 else ""
            parts.append(f"{xds_type} {_signed_kb(delta)}{share}")
    where = f": {_signed_kb(extra)}, from " + ", ".join(parts) if parts else ", the same within 0.5%"
    return (
        f"Config: `{design}` sends each sidecar {_kb(total)} of config, "
        f"{_ratio(summary, 'config bytes per proxy', design)} "
        f"`{BASELINE}`'s {_kb(base)}{where}."
    )


def objects_finding(counts: pd.DataFrame, design: str) -> str | None:
    """Which Envoy objects a design has more or fewer of than single-stack, per proxy."""
    designs = set(counts["design"])
    if design == BASELINE or BASELINE not in designs or design not in designs:
        return None
    columns = [c for c in COUNT_COLUMNS if c in counts.columns]
    means = counts.groupby("design")[columns].mean()
    mine, base = means.loc[design], means.loc[BASELINE]
    changes = []
    for column in columns:
        if base[column] > 0 and abs(mine[column] / base[column] - 1) >= SAME:
            changes.append(f"{mine[column] / base[column]:.2f}× the {object_label(column)}")
        elif base[column] == 0 and mine[column] > 0:
            changes.append(f"{mine[column]:,.0f} {object_label(column)} (none in `{BASELINE}`)")
    if not changes:
        return f"Objects: `{design}` gives Envoy the same objects as `{BASELINE}` (within 0.5%)."
    return f"Objects: per sidecar, `{design}` has " + ", ".join(changes) + f" of `{BASELINE}`."


def _memory_sources(by_object: pd.DataFrame, design: str, extra: float) -> str:
    """The objects the extra memory sits in, largest first (MiB per proxy at one price list)."""
    mib = by_object.pivot(index="object", columns="design", values="mib_per_proxy")
    if BASELINE not in mib.columns or design not in mib.columns:
        return ""
    deltas = (mib[design] - mib[BASELINE]).sort_values(key=lambda d: -d.abs())
    words = {"other": "objects and fit of its own"}
    parts = [
        f"{words.get(str(name), object_label(str(name)))} {delta:+,.1f} MiB"
        for name, delta in deltas.items()
        if abs(delta) >= max(SAME * abs(extra), 0.05)
    ]
    return ": " + ", ".join(parts) if parts else ""


def memory_finding(summary: pd.DataFrame, by_object: pd.DataFrame, design: str, proxies: int) -> str | None:
    """Envoy memory per proxy and over the fleet against single-stack, and which objects hold it."""
    mean, base = (_value(summary, "Envoy memory per proxy, mean", d) for d in (design, BASELINE))
    fleet, fleet_base = (_value(summary, "Envoy memory, fleet", d) for d in (design, BASELINE))
    if design == BASELINE or np.isnan(mean) or np.isnan(base):
        return None
    return (
        f"Memory: Envoy holds {mean:,.1f} MiB per sidecar under `{design}`, "
        f"{_ratio(summary, 'Envoy memory per proxy, mean', design)} `{BASELINE}` "
        f"({mean - base:+,.1f} MiB{_memory_sources(by_object, design, mean - base)}); over the fleet of "
        f"{proxies:,} sidecars, {fleet:,.1f} GiB ({fleet - fleet_base:+,.1f} GiB)."
    )


def istiod_finding(summary: pd.DataFrame, designs: list[str]) -> str | None:
    """istiod's CPU for one full push to every proxy, per design."""
    if BASELINE not in designs:
        return None
    base = _value(summary, "istiod CPU per full push", BASELINE)
    costs = {d: _value(summary, "istiod CPU per full push", d) for d in designs if d != BASELINE}
    parts = [f"`{d}` {cost:,.1f} s ({_ratio(summary, 'istiod CPU per full push', d)})" for d, cost in costs.items()]
    return (
        f"istiod: one full push to every sidecar (no cache) costs {base:,.1f} CPU-s under `{BASELINE}`; "
        + ", ".join(parts)
        + ". It scales with the bytes generated."
    )


def push_finding(summary: pd.DataFrame, designs: list[str], push_summary: pd.DataFrame | None) -> str | None:
    """Convergence and bytes pushed under churn, and whether istiod saturated."""
    if push_summary is None or BASELINE not in designs:
        return None
    if float(push_summary["bytes_sent_per_s"].max()) == 0:
        return "Under churn: nothing to push; the scenario's churn changes nothing in its window."
    p99 = {d: _value(summary, "convergence p99", d) for d in designs}
    spread = (max(p99.values()) - min(p99.values())) / max(min(p99.values()), 1e-12)
    if spread < SAME:
        latency = f"convergence p99 is {p99[BASELINE]:.3f} s in every design"
    else:
        latency = "convergence p99 " + ", ".join(f"`{d}` {v:.3f} s" for d, v in p99.items())
    rate = _value(summary, "bytes pushed per second", BASELINE)
    traffic = ", ".join(f"`{d}` {_ratio(summary, 'bytes pushed per second', d)}" for d in designs if d != BASELINE)
    utilization = push_summary.set_index("design")["istiod_utilization_mean"]
    busy = float(utilization.max())
    load = (
        f"istiod is saturated (mean utilization {busy:.0%}): pushes merge in its queue, so latency, not CPU, grows"
        if busy >= 0.8
        else f"istiod's mean utilization stays at or below {busy:.0%}"
    )
    text = f"Under churn: {latency}; istiod sends {rate / 1e6:,.2f} MB/s under `{BASELINE}`, {traffic} of that; {load}."
    over = push_summary.set_index("design")["proxies_over_grpc_limit"]
    if float(over.sum()) > 0:
        text += " Proxies over the 4 MiB gRPC limit: " + ", ".join(f"`{d}` {int(n)}" for d, n in over.items()) + "."
    return text


def versus_shipped(summary: pd.DataFrame, designs: list[str]) -> str | None:
    """The original RFC's design against what Istio shipped."""
    if "duplicate" not in designs or SHIPPED not in designs:
        return None
    pairs = [
        ("config per proxy", "config bytes per proxy"),
        ("Envoy memory", "Envoy memory per proxy, mean"),
        ("istiod CPU per full push", "istiod CPU per full push"),
    ]
    if "bytes pushed per second" in set(summary["metric"]):
        pairs.append(("bytes pushed under churn", "bytes pushed per second"))
    parts = [f"{_ratio(summary, metric, 'duplicate', SHIPPED)} the {what}" for what, metric in pairs]
    return "The RFC's design against the shipped one: `duplicate` costs " + ", ".join(parts) + f" of `{SHIPPED}`."


def findings(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """Every finding the run's tables support, in the review's order."""
    summary = tables["design_summary"]
    proxies = int(tables["proxy_cost_totals"]["proxies"].max())
    lines: list[str | None] = [versus_shipped(summary, designs)]
    for design in designs:
        lines += [
            config_finding(summary, design),
            objects_finding(tables["config_counts"], design),
            memory_finding(summary, tables["envoy_memory_by_object"], design, proxies),
        ]
    lines += [istiod_finding(summary, designs), push_finding(summary, designs, tables.get("push_summary"))]
    return [line for line in lines if line]
