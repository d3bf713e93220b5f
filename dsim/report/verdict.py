"""The review's verdict: three plain sentences computed from a run's tables, read before
anything else (at the top of the report and of what ``dsim run`` prints).

1. What separates the designs most on this mesh — Envoy memory per sidecar, push traffic under
   churn or convergence, whichever differs most beyond noise (a push figure resting on too few
   pushes, or a difference within the model's own error, never leads) — and what each design
   costs against the reference design (``single-stack`` when it ran).
2. The other two, or "the same in every design", or why the push model has nothing to say.
3. How sure the model is: how closely the memory fit reproduces its own measurements against
   the differences found, whether this mesh lies inside the configs the calibration measured,
   and where the push model's costs come from.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from dsim.headline import pushed_anything
from dsim.report.findings import BASELINE, SAME, SHIPPED, cell, listing, same_convergence
from dsim.report.labels import object_label
from dsim.report.numbers import percent, quantity, ratio, scale, significant


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Measure:
    metric: str
    """The design-summary metric."""
    title: str
    """What it is, in words, as in mid-sentence."""
    unit: str
    """Its unit in the design summary."""


MEMORY = _Measure(metric="Envoy memory per proxy, mean", title="Envoy memory per sidecar", unit="MiB")
TRAFFIC = _Measure(metric="bytes pushed per second", title="push traffic under the scenario's churn", unit="bytes/s")
CONVERGENCE = _Measure(
    metric="convergence p99", title="convergence (p99, from a push queued to Envoy applied)", unit="s"
)


def reference_design(designs: list[str]) -> str:
    """The design the others are set against: single-stack, else the shipped design, else the first."""
    return next((d for d in (BASELINE, SHIPPED) if d in designs), designs[0])


# Push traffic and convergence are ranked only when every design's figure rests on at least this
# many proxy pushes. A p99 of fewer than 100 samples is the slowest of them, a single push; and a
# rate counted from n events carries about 1/√n of counting error (Poisson), more than 10% under
# 100: more than most differences between the designs, so such a figure says nothing about them.
MIN_PROXY_PUSHES = 100
# Memory differences below this many residual SDs of the memory fit (at this run's sidecars:
# ``calibration_coverage.memory_error_mib``) are within the model's error (the How-sure sentence
# says so in the same words).
MEMORY_ERRORS = 2


def _values(summary: pd.DataFrame, measure: _Measure, designs: list[str]) -> dict[str, float]:
    return {d: cell(summary, measure.metric, d) for d in designs}


def memory_error(tables: dict[str, pd.DataFrame]) -> float:
    """The memory fit's residual SD at this run's sidecars (MiB), the largest over the designs; 0
    when not stated."""
    coverage = tables.get("calibration_coverage")
    return 0.0 if coverage is None else float(coverage["memory_error_mib"].max())


def _same(measure: _Measure, values: dict[str, float], tables: dict[str, pd.DataFrame]) -> bool:
    """Whether the designs' figures are the same in words: within 0.5%, or within the model's own
    error (one bin of the latency histogram for convergence, the fit's residual error for memory)."""
    low, high = min(values.values()), max(values.values())
    if measure is CONVERGENCE:
        return same_convergence([low, high])
    if measure is MEMORY and high - low < MEMORY_ERRORS * memory_error(tables):
        return True
    return high <= low * (1 + SAME)


def _proxy_pushes(tables: dict[str, pd.DataFrame]) -> int:
    """The fewest proxy pushes any design's push figures rest on."""
    return int(tables["push_convergence"].groupby("design")["proxy_pushes"].sum().min())


def _too_few(measure: _Measure, tables: dict[str, pd.DataFrame]) -> bool:
    return measure is not MEMORY and _proxy_pushes(tables) < MIN_PROXY_PUSHES


def _spread(values: dict[str, float]) -> float:
    low, high = min(values.values()), max(values.values())
    return high / low if low > 0 else math.inf


def _pair(value: float, base: float, unit: str) -> str:
    """ "61.5 against 42.7 MiB": two values in one unit."""
    shown, size = scale(unit, [value, base])
    return f"{significant(value / size)} against {significant(base / size)} {shown}"


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _against(values: dict[str, float], reference: str, unit: str, *, pair: bool) -> str:
    """Every other design's ratio to the reference, costliest first; ``pair``: the first with
    both values, else the reference's value last."""
    others = sorted((d for d in values if d != reference), key=lambda d: -values[d])
    base = values[reference]
    parts = [f"`{d}` {ratio(values[d] / base if base else math.nan)}" for d in others]
    if pair:
        parts[0] += f" `{reference}`'s ({_pair(values[others[0]], base, unit)})"
        return listing(parts)
    return f"{listing(parts)} `{reference}`'s {quantity(base, unit)}"


_NOT_COMPARED = "so push traffic and convergence are not compared"


def _push_state(tables: dict[str, pd.DataFrame]) -> str | None:
    """Why the push model has no figures, or None when it has."""
    if "push_summary" not in tables:
        return f"the push model did not run, {_NOT_COMPARED}"
    events = len(tables.get("churn_events", ()))
    if events == 0:
        return f"the push model had no events (the scenario's churn drew none), {_NOT_COMPARED}"
    if not pushed_anything(tables):
        return f"the push model's {events:,} churn events reached no sidecar, {_NOT_COMPARED}"
    return None


def _measures(tables: dict[str, pd.DataFrame]) -> list[_Measure]:
    """What the verdict weighs: memory always; push traffic and convergence when there are pushes."""
    return [MEMORY, TRAFFIC, CONVERGENCE] if pushed_anything(tables) else [MEMORY]


def _lead(tables: dict[str, pd.DataFrame], designs: list[str], ranked: list[_Measure]) -> str:
    summary = tables["design_summary"]
    reference = reference_design(designs)
    top = ranked[0]
    values = _values(summary, top, designs)
    shown = quantity(values[reference], top.unit)
    if len(designs) == 1:
        return _sentence(f"only `{reference}` ran, so no design is compared: {top.title} is {shown}")
    if _same(top, values, tables):
        within = "" if top is not MEMORY or _same_exactly(values) else ", within the model's error"
        return _sentence(f"the designs cost this mesh the same: {top.title} is {shown} in every design{within}")
    return _sentence(
        f"{top.title} differs most between the designs on this mesh: {_against(values, reference, top.unit, pair=True)}"
    )


def _same_exactly(values: dict[str, float]) -> bool:
    return max(values.values()) <= min(values.values()) * (1 + SAME)


def _others(tables: dict[str, pd.DataFrame], designs: list[str], ranked: list[_Measure]) -> str:
    summary = tables["design_summary"]
    reference = reference_design(designs)
    clauses = []
    scant = [m for m in ranked[1:] if _too_few(m, tables)]
    for measure in ranked[1:]:
        if measure in scant:
            continue
        values = _values(summary, measure, designs)
        if len(designs) == 1 or _same(measure, values, tables):
            clause = f"{measure.title} is the same in every design ({quantity(values[reference], measure.unit)})"
        else:
            clause = f"{measure.title} follows ({_against(values, reference, measure.unit, pair=False)})"
        if measure is CONVERGENCE:
            busy = float(tables["push_summary"]["istiod_utilization_mean"].max())
            clause += f", with istiod at most {percent(busy)} busy on average"
        clauses.append(clause)
    if scant:
        pushes = _proxy_pushes(tables)
        what = " and ".join(m.title.split(" (")[0] for m in scant)
        verb, rest = ("are", "they rest") if len(scant) > 1 else ("is", "it rests")
        clauses.append(
            f"{what} {verb} not compared: {rest} on as few as {pushes:,} proxy push{'es' if pushes != 1 else ''} "
            f"per design, too few to mean anything (at least {MIN_PROXY_PUSHES} are needed)"
        )
    state = _push_state(tables)
    if state:
        clauses.append(state)
    return _sentence("; ".join(clauses))


def _memory_difference(summary: pd.DataFrame, designs: list[str]) -> float:
    values = _values(summary, MEMORY, designs)
    return max(values.values()) - min(values.values())


def _range(coverage: pd.DataFrame) -> str:
    """Whether this mesh's sidecars lie inside the configs the calibration measured."""
    rows = coverage.to_dict("records")
    if all(math.isnan(float(row["proxies_outside_share"])) for row in rows):
        return "and the range of configs it measured is unknown (no measurements file beside the calibration)"
    worst = max(rows, key=lambda row: float(np.nan_to_num(row["proxies_outside_share"], nan=-1.0)))
    share = float(worst["proxies_outside_share"])
    if share == 0:
        return "and every sidecar here lies inside the range of configs it measured"
    term = object_label(str(worst["furthest_term"]))
    count, bound = float(worst["furthest_count"]), float(worst["furthest_calibrated"])
    mine, measured = significant(count, whole=True), significant(bound, whole=True)
    where = (
        f"up to {mine} {term} against at most {measured} measured"
        if count > bound
        else f"as few as {mine} {term} against at least {measured} measured"
    )
    under = (
        "every design" if all(float(row["proxies_outside_share"]) == share for row in rows) else f"`{worst['design']}`"
    )
    return (
        f"but {percent(share)} of the sidecars under {under} lie outside the configs it measured "
        f"({where}), so their figures extrapolate its straight lines"
    )


def _certainty(tables: dict[str, pd.DataFrame], designs: list[str]) -> str:
    coverage = tables.get("calibration_coverage")
    if coverage is None:
        return "How sure: this result has no `calibration_coverage` table, so the model's fit is not stated."
    error = memory_error(tables)
    r_squared = math.floor(float(coverage["memory_r_squared"].min()) * 1e5) / 1e5
    observations = int(coverage["memory_observations"].min())
    relative = coverage["memory_relative_residual_sd"].max() if "memory_relative_residual_sd" in coverage else np.nan
    if pd.isna(relative):  # a calibration fitted design by design, for absolute error
        text = (
            f"How sure: the memory model reproduces the {observations} Envoy measurements each design was fitted on "
            f"within {quantity(error, 'MiB')} (residual SD; R² at least {r_squared:.5f})"
        )
    else:
        text = (
            f"How sure: the memory model, one price per object for every design, reproduces the {observations} "
            f"Envoy measurements it was fitted on within {percent(float(relative))} (relative residual SD; R² at "
            f"least {r_squared:.5f}), {quantity(error, 'MiB')} at these sidecars"
        )
    difference = _memory_difference(tables["design_summary"], designs)
    if len(designs) > 1 and difference > 0:
        words = "far below" if difference >= 10 * error else "below" if difference >= 2 * error else "about"
        text += f", {words} the {quantity(difference, 'MiB')} between the designs here"
        if difference < 2 * error:
            text += ", so their memory is the same within the model's error"
    text += f", {_range(coverage)}"
    if pushed_anything(tables):
        text += (
            "; the push model's istiod costs are carried to Go from one published benchmark, so read its CPU and "
            "latency as ratios between designs, not as a forecast"
        )
    return text + "."


def verdict_sentences(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """The three sentences, in order."""
    summary = tables["design_summary"]
    measures = _measures(tables)
    # What differs most is what differs beyond noise: a figure resting on too few pushes, or whose
    # difference is within the model's error, ranks after every figure that does not.
    ranked = sorted(
        measures,
        key=lambda m: (
            _too_few(m, tables),
            _same(m, _values(summary, m, designs), tables),
            -_spread(_values(summary, m, designs)),
        ),
    )
    return [_lead(tables, designs, ranked), _others(tables, designs, ranked), _certainty(tables, designs)]
