"""Findings written from a run's numbers: which design costs what, and where the difference
comes from (by xDS type, by Envoy object). Every figure in a sentence is read from the tables;
a sentence whose comparison cannot be made (a design or the push model did not run, the churn
pushed nothing) is left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.headline import RATIO_COLUMNS, pushed_anything
from dsim.pushsim.metrics import BINS_PER_DECADE
from dsim.report.labels import object_label
from dsim.report.numbers import percent, quantity, ratio, signed_quantity, significant
from dsim.xds.vocabulary import COUNT_COLUMNS, XDS_TYPES

BASELINE = "single-stack"
SHIPPED = "additional-addresses"
# Differences smaller than this share are "the same" in words (the tables keep the exact values).
SAME = 0.005
FIT_DIFFERENCE = "fit_difference"
"""The ``envoy_memory_by_object`` row that is not an object but the design's own fit's prices."""


def cell(summary: pd.DataFrame, metric: str, design: str, column: str = "value") -> float:
    """One figure of the design summary (NaN when that metric or design is not there)."""
    row = summary[(summary["metric"] == metric) & (summary["design"] == design)]
    return float(row[column].iloc[0]) if len(row) else float("nan")


def ratio_to(summary: pd.DataFrame, metric: str, design: str, baseline: str = BASELINE) -> str:
    """The design summary's ratio of ``design`` to ``baseline`` for ``metric``, in words ("n/a"
    when the base is zero)."""
    return ratio(cell(summary, metric, design, RATIO_COLUMNS[baseline]))


def config_finding(summary: pd.DataFrame, design: str) -> str | None:
    """Config per proxy against single-stack, with the difference split by xDS type."""
    total, base = (cell(summary, "config bytes per proxy", d) for d in (design, BASELINE))
    if np.isnan(total) or np.isnan(base) or design == BASELINE:
        return None
    extra = total - base
    deltas = {
        t: cell(summary, f"{t} bytes per proxy", design) - cell(summary, f"{t} bytes per proxy", BASELINE)
        for t in XDS_TYPES
    }
    parts = []
    for xds_type, delta in sorted(deltas.items(), key=lambda item: -abs(item[1])):
        if abs(delta) >= SAME * base:
            # A share only where it reads as one: above 100%, other types offset it, and "111%" of
            # a difference says less than the signed bytes beside it.
            share = f" ({percent(delta / extra)})" if abs(extra) >= SAME * base and 0 < delta / extra <= 1 else ""
            parts.append(f"{xds_type} {signed_quantity(delta, 'bytes')}{share}")
    where = f": {signed_quantity(extra, 'bytes')}, from " + ", ".join(parts) if parts else ", the same within 0.5%"
    return (
        f"Config: `{design}` sends each sidecar {quantity(total, 'bytes')} of config, "
        f"{ratio_to(summary, 'config bytes per proxy', design)} "
        f"`{BASELINE}`'s {quantity(base, 'bytes')}{where}."
    )


def objects_finding(counts: pd.DataFrame, design: str) -> str | None:
    """Which Envoy objects a design has more or fewer of than single-stack, per proxy."""
    designs = set(counts["design"])
    if design == BASELINE or BASELINE not in designs or design not in designs:
        return None
    columns = [c for c in COUNT_COLUMNS if c in counts.columns]
    means = counts.groupby("design")[columns].mean()
    mine, base = means.loc[design].astype(float).to_dict(), means.loc[BASELINE].astype(float).to_dict()
    ratios, absent = [], []
    for column in columns:
        if base[column] > 0 and abs(mine[column] / base[column] - 1) >= SAME:
            ratios.append(f"{ratio(mine[column] / base[column])} the {object_label(column)}")
        elif base[column] == 0 and mine[column] > 0:
            absent.append(f"{significant(mine[column], whole=True)} {object_label(column)}")
    if not ratios and not absent:
        return f"Objects: `{design}` gives Envoy the same objects as `{BASELINE}` (within 0.5%)."
    # "of single-stack" closes the ratios only: after objects single-stack has none of, it would
    # read as a ratio to nothing, so those are named apart.
    parts = [f"{listing(ratios)} of `{BASELINE}`"] if ratios else []
    if absent:
        parts.append(f"{'plus ' if ratios else ''}{listing(absent)}, which `{BASELINE}` has none of")
    return f"Objects: per sidecar, `{design}` has " + ", ".join(parts) + "."


def listing(items: list[str]) -> str:
    """ "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _memory_sources(by_object: pd.DataFrame, design: str, extra: float) -> str:
    """The objects the extra memory sits in, largest first (MiB per proxy at one price list),
    then what the design's own fit adds beyond those prices."""
    mib = by_object.pivot(index="object", columns="design", values="mib_per_proxy").fillna(0.0)
    if BASELINE not in mib.columns or design not in mib.columns:
        return ""
    deltas = (mib[design] - mib[BASELINE]).sort_values(key=lambda d: -d.abs())
    shown = deltas[deltas.abs() >= max(SAME * abs(extra), 0.05)]
    parts = [
        f"{object_label(str(name))} {signed_quantity(delta, 'MiB')}"
        for name, delta in shown.items()
        if name != FIT_DIFFERENCE
    ]
    if FIT_DIFFERENCE in shown.index:
        # Every design's memory is fitted on its own measurements; the rows above price its objects
        # at single-stack's fit, so what its own measurements say beyond that is named as such.
        delta = float(shown[FIT_DIFFERENCE])
        cheaper = "cheaper" if delta < 0 else "dearer"
        lead = "and " if parts else ""  # alone, it opens the list: no "and" before it
        parts.append(
            f"{lead}{signed_quantity(delta, 'MiB')} because its own calibration measured these objects {cheaper} "
            f"than `{BASELINE}`'s prices"
        )
    return ": " + ", ".join(parts) if parts else ""


def memory_finding(summary: pd.DataFrame, by_object: pd.DataFrame, design: str, proxies: int) -> str | None:
    """Envoy memory per proxy and over the fleet against single-stack, and which objects hold it."""
    mean, base = (cell(summary, "Envoy memory per proxy, mean", d) for d in (design, BASELINE))
    fleet, fleet_base = (cell(summary, "Envoy memory, fleet", d) for d in (design, BASELINE))
    if design == BASELINE or np.isnan(mean) or np.isnan(base):
        return None
    return (
        f"Memory: Envoy holds {quantity(mean, 'MiB')} per sidecar under `{design}`, "
        f"{ratio_to(summary, 'Envoy memory per proxy, mean', design)} `{BASELINE}` "
        f"({signed_quantity(mean - base, 'MiB')}{_memory_sources(by_object, design, mean - base)}); "
        f"over the fleet of {proxies:,} sidecars, {quantity(fleet, 'GiB')} "
        f"({signed_quantity(fleet - fleet_base, 'GiB')})."
    )


def istiod_finding(summary: pd.DataFrame, designs: list[str]) -> str | None:
    """istiod's CPU for one full push to every proxy, per design."""
    if BASELINE not in designs:
        return None
    metric = "istiod CPU per full push"
    base = cell(summary, metric, BASELINE)
    parts = [
        f"`{d}` {quantity(cell(summary, metric, d), 's')} ({ratio_to(summary, metric, d)})"
        for d in designs
        if d != BASELINE
    ]
    return (
        f"istiod: one full push to every sidecar (no cache) costs {quantity(base, 's')} of CPU under `{BASELINE}`; "
        + ", ".join(parts)
        + ". It scales with the bytes generated."
    )


def same_convergence(values: list[float]) -> bool:
    """Whether convergence quantiles are the same: within one bin of the push model's latency
    histogram (quantiles are read to a bin, 1.2%; a one-bin step is not a difference)."""
    low, high = min(values), max(values)
    return high <= low * 10 ** (1.0001 / BINS_PER_DECADE)


def push_finding(tables: dict[str, pd.DataFrame], designs: list[str]) -> str | None:
    """Convergence and bytes pushed under churn, and whether istiod saturated."""
    push_summary = tables.get("push_summary")
    if push_summary is None or BASELINE not in designs:
        return None
    if not pushed_anything(tables):
        return None  # the verdict says the push model had nothing to push
    summary = tables["design_summary"]
    p99 = {d: cell(summary, "convergence p99", d) for d in designs}
    if same_convergence(list(p99.values())):
        latency = f"convergence p99 is {quantity(p99[BASELINE], 's')} in every design"
    else:
        latency = "convergence p99 " + ", ".join(f"`{d}` {quantity(v, 's')}" for d, v in p99.items())
    rate = cell(summary, "bytes pushed per second", BASELINE)
    traffic = ", ".join(f"`{d}` {ratio_to(summary, 'bytes pushed per second', d)}" for d in designs if d != BASELINE)
    busy = float(push_summary.set_index("design")["istiod_utilization_mean"].max())
    load = (
        f"istiod is saturated (mean utilization {percent(busy)}): pushes merge in its queue, so latency, not CPU, grows"
        if busy >= 0.8
        else f"istiod's mean utilization stays at or below {percent(busy)}"
    )
    text = (
        f"Under churn: {latency}; istiod sends {quantity(rate, 'bytes/s')} under `{BASELINE}`, "
        f"{traffic} of that; {load}."
    )
    over = push_summary.set_index("design")["proxies_over_grpc_limit"]
    if float(over.sum()) > 0:
        text += " Proxies over the 4 MiB gRPC limit: " + ", ".join(f"`{d}` {int(n):,}" for d, n in over.items()) + "."
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
    parts = [f"{ratio_to(summary, metric, 'duplicate', SHIPPED)} the {what}" for what, metric in pairs]
    return f"The RFC's design against the shipped one: `duplicate` costs {listing(parts)} of `{SHIPPED}`."


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
    lines += [istiod_finding(summary, designs), push_finding(tables, designs)]
    return [line for line in lines if line]
