"""The review's Sidecar-scoping finding (``what_if.sidecar_scoping``) and its memory-by-object table.

The finding is written from the ``scoping_what_if`` table alone (:mod:`dsim.whatif`), for the
reference design, with the other designs' memory saving after it. As in the verdict: a memory
saving below the memory fit's error is "the same within the model's error", a figure within 0.5%
(a convergence quantile within one histogram bin) is "the same", and push traffic and convergence
are given only when each rests on at least :data:`dsim.report.verdict.MIN_PROXY_PUSHES` proxy pushes
in both runs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dsim.calibration.predict import REFERENCE_PRICES
from dsim.report.document import Table
from dsim.report.findings import FIT_DIFFERENCE, SAME, listing, same_convergence
from dsim.report.labels import object_label
from dsim.report.numbers import percent, quantity, scale, significant
from dsim.report.verdict import MEMORY_ERRORS, MIN_PROXY_PUSHES, memory_error, reference_design
from dsim.whatif import (
    CONFIG_MEAN,
    CONFIG_P99,
    CONVERGENCE,
    ISTIOD,
    MEMORY_FLEET,
    MEMORY_MEAN,
    SCOPING_TABLE,
    TRAFFIC,
)

LEAD = "Scoping every namespace to what it calls"


def _span(before: float, after: float, unit: str) -> str:
    """ "41.2 to 5.3 kB": two values in one unit."""
    shown, size = scale(unit, [before, after])
    return f"{significant(before / size)} to {significant(after / size)} {shown}"


class _Clauses:
    """What scoping does to each figure, sorted into cut, raised and unchanged."""

    def __init__(self) -> None:
        self.cut: list[str] = []
        self.raised: list[str] = []
        self.same: list[str] = []

    def add(self, title: str, parts: list[tuple[float, float, str, str]], *, same: bool) -> None:
        """``parts``: (as given, with Sidecars, unit, what it is) to show, the first the one compared."""
        before, after = parts[0][0], parts[0][1]
        if same:  # one value each: "30.3 kB mean", not "30.3 to 30.3 kB mean"
            detail = "; ".join(f"{quantity(a, unit)}{what}" for a, _, unit, what in parts)
            self.same.append(f"{title} ({detail})")
            return
        detail = "; ".join(f"{_span(a, b, unit)}{what}" for a, b, unit, what in parts)
        if after < before:
            self.cut.append(f"{title} by {percent((before - after) / before)} ({detail})")
        else:
            rise = f"by {percent((after - before) / before)}" if before > 0 else "from nothing"
            self.raised.append(f"{title} {rise} ({detail})")

    def sentence(self) -> str:
        parts = []
        if self.cut:
            parts.append(f"cut {listing(self.cut)}")
        if self.raised:
            parts.append(f"raise {listing(self.raised)}")
        if self.same:
            parts.append(f"leave {listing(self.same)} the same")
        return "; it would ".join(parts)


def _within(before: float, after: float) -> bool:
    return abs(after - before) <= SAME * max(abs(before), abs(after))


def scoping_finding(tables: dict[str, pd.DataFrame], designs: list[str]) -> str | None:
    """The what-if in one finding, or None when the run has no ``scoping_what_if`` table."""
    table = tables.get(SCOPING_TABLE)
    if table is None or not len(table):
        return None
    reference = reference_design(designs)
    rows = table[table["design"] == reference].set_index("metric")

    figures = dict(
        zip(rows.index, zip(rows["as_given"].tolist(), rows["with_sidecars"].tolist(), strict=True), strict=True)
    )

    def pair(metric: str) -> tuple[float, float]:
        before, after = figures[metric]
        return float(before), float(after)

    clauses = _Clauses()
    (mean_a, mean_b), (p99_a, p99_b) = pair(CONFIG_MEAN), pair(CONFIG_P99)
    config = [(mean_a, mean_b, "bytes", " mean"), (p99_a, p99_b, "bytes", " p99")]
    clauses.add("config per sidecar", config, same=_within(mean_a, mean_b))
    (mem_a, mem_b), (fleet_a, fleet_b) = pair(MEMORY_MEAN), pair(MEMORY_FLEET)
    error = memory_error(tables)
    within_error = abs(mem_a - mem_b) < MEMORY_ERRORS * error
    if within_error and not _within(mem_a, mem_b):
        clauses.same.append(
            f"Envoy memory per sidecar ({_span(mem_a, mem_b, 'MiB')}, within the model's error of "
            f"{quantity(error, 'MiB')})"
        )
    else:
        memory = [(mem_a, mem_b, "MiB", ""), (fleet_a, fleet_b, "GiB", " over the fleet")]
        clauses.add("Envoy memory per sidecar", memory, same=_within(mem_a, mem_b))
    cpu_a, cpu_b = pair(ISTIOD)
    clauses.add("istiod CPU per full push", [(cpu_a, cpu_b, "s", "")], same=_within(cpu_a, cpu_b))
    scant = ""
    if TRAFFIC in rows.index:
        pushes = int(rows.loc[[TRAFFIC, CONVERGENCE], "proxy_pushes"].min())
        if pushes >= MIN_PROXY_PUSHES:
            rate_a, rate_b = pair(TRAFFIC)
            traffic = [(rate_a, rate_b, "bytes/s", "")]
            clauses.add("push traffic under churn", traffic, same=_within(rate_a, rate_b))
            conv_a, conv_b = pair(CONVERGENCE)
            convergence = [(conv_a, conv_b, "s", "")]
            clauses.add("convergence p99", convergence, same=same_convergence([conv_a, conv_b]))
        else:
            scant = (
                f" Push traffic and convergence are not compared: they rest on as few as {pushes:,} proxy "
                f"push{'es' if pushes != 1 else ''}, too few to mean anything (at least {MIN_PROXY_PUSHES} are needed)."
            )
    text = (
        f"{LEAD} (a Sidecar per namespace importing `./*`, `istio-system/*` and the services its workloads "
        f"call) would, under `{reference}`, {clauses.sentence()}."
    )
    others = [d for d in designs if d != reference]
    if others and not within_error:
        shares = []
        for design in others:
            mine = table[(table["design"] == design) & (table["metric"] == MEMORY_MEAN)]
            before, after = float(mine["as_given"].iloc[0]), float(mine["with_sidecars"].iloc[0])
            shares.append(f"`{design}` {percent((before - after) / before) if before else 'n/a'}")
        text += f" The Envoy memory it saves per sidecar under the other designs: {listing(shares)}."
    return text + scant


def memory_by_object_table(by_object: pd.DataFrame, designs: list[str]) -> Table:
    """Where Envoy's memory sits, per object kind and design: MiB per sidecar and objects per sidecar
    (route configurations and virtual hosts included), priced as ``envoy_memory_by_object`` prices them."""
    frame = by_object[by_object["design"].isin(designs)]
    objects = [o for o in dict.fromkeys(frame["object"].tolist()) if o != FIT_DIFFERENCE]
    objects += [FIT_DIFFERENCE] if FIT_DIFFERENCE in set(frame["object"]) else []
    # {design: {object: value}}; an object a design's rows leave out (additional addresses under
    # single-stack) it has none of.
    mib = frame.pivot(index="object", columns="design", values="mib_per_proxy").fillna(0.0).to_dict()
    count = frame.pivot(index="object", columns="design", values="per_proxy").fillna(0.0).to_dict()
    rows = []
    for name in objects:
        cells = []
        for design in designs:
            value = float(mib.get(design, {}).get(name, math.nan))
            n = float(count.get(design, {}).get(name, math.nan))
            shown = significant(value)
            if name not in (FIT_DIFFERENCE, "idle sidecar") and not np.isnan(n):
                shown += f" ({significant(n, whole=True)})"
            cells.append(shown)
        label = "own fit beyond these prices" if name == FIT_DIFFERENCE else object_label(str(name))
        rows.append((label, *cells))
    return Table(
        header=("object", *designs),
        rows=tuple(rows),
        align_right=(False, *(True,) * len(designs)),
        caption=f"Each cell: MiB per sidecar (objects per sidecar), each object priced at `{REFERENCE_PRICES}`'s "
        "fitted cost per object (at the design's own where that fit has no price for it); the last row is what "
        "each design's own fit adds beyond those prices.",
    )
