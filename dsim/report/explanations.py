"""Figures that look wrong, each explained in one line from its cause in the model.

A dual-stack design with fewer filter chains or listener bytes than single-stack, a design with
more objects than the reference but less apply CPU, one that pushes more bytes but converges
faster, or one that pushes more bytes for less istiod CPU: each check below finds such a figure
in the run's tables and names what in the model produces it (merged passthrough chains, a
calibration whose apply-CPU fits differ by design, pushes merging in istiod's queue), with the
numbers that show it. A figure the checks find but cannot trace is said to be so, never left
unexplained.
"""

from __future__ import annotations

import pandas as pd

from dsim.calibration.model import CPU_TERMS
from dsim.designs import design_names, get_design
from dsim.designs.base import ProxyFacts
from dsim.report.findings import BASELINE, SAME, cell, listing, same_convergence
from dsim.report.labels import object_label
from dsim.report.numbers import MINUS, percent, quantity, ratio, significant
from dsim.report.verdict import reference_design

APPLY = "Envoy config apply CPU, mean"
TRAFFIC = "bytes pushed per second"


Fits = dict[str, dict[str, float]]
"""``calibration_coverage`` by design and column."""


def _fits(tables: dict[str, pd.DataFrame]) -> Fits | None:
    coverage = tables.get("calibration_coverage")
    if coverage is None:
        return None
    return {
        str(row["design"]): {str(k): float(v) for k, v in row.items() if str(k).startswith("apply_cpu")}
        for row in coverage.to_dict("records")
    }


def _bound(value: float) -> str:
    return f"{MINUS}{significant(-value)}" if value < 0 else significant(value)


def _fixed_parts(fits: Fits, design: str, reference: str) -> str:
    """The two designs' apply-CPU fixed parts with their intervals, and what telling them apart is."""
    parts = [
        f"`{d}` {quantity(fits[d]['apply_cpu_intercept_ms'], 'ms')}, 95% interval "
        f"{_bound(fits[d]['apply_cpu_intercept_ci_low_ms'])} to {_bound(fits[d]['apply_cpu_intercept_ci_high_ms'])}"
        for d in (design, reference)
    ]
    low = max(fits[d]["apply_cpu_intercept_ci_low_ms"] for d in (design, reference))
    high = min(fits[d]["apply_cpu_intercept_ci_high_ms"] for d in (design, reference))
    what = "fit noise, as the intervals overlap" if low <= high else "a calibration artifact"
    return (
        f"each design's apply-CPU fit has its own fixed part ({'; '.join(parts)}) though an empty config is the same "
        f"in every design: {what}"
    )


def apply_cpu(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """A design with at least the reference's clusters but less predicted apply CPU."""
    fits = _fits(tables)
    reference = reference_design(designs)
    if fits is None or len(designs) < 2:
        return []
    summary = tables["design_summary"]
    clusters = {str(d): float(n) for d, n in tables["config_counts"].groupby("design")["clusters"].mean().items()}
    base = cell(summary, APPLY, reference)
    lines = []
    for design in designs:
        mine = cell(summary, APPLY, design)
        if design == reference or clusters[design] < clusters[reference] or mine >= base * (1 - SAME):
            continue
        error = max(fits[d]["apply_cpu_residual_sd_ms"] for d in (design, reference))
        within = (
            f"within the fits' residual error ({quantity(error, 'ms')} per config)"
            if base - mine <= error
            else f"beyond the fits' residual error ({quantity(error, 'ms')} per config)"
        )
        more = clusters[design] / clusters[reference]
        head = f"Apply CPU: `{design}` shows less than `{reference}` ({_pair(mine, base)}) with " + (
            "as many clusters" if more < 1 + SAME else f"{ratio(more)} its clusters"
        )
        if _fixed_parts_decide(summary, fits, design, reference):
            lines.append(f"{head}: {_fixed_parts(fits, design, reference)}; the difference is {within}.")
        elif _shared_fit(fits, design, reference):
            # One fit prices both designs (the shipped calibration fits apply CPU over every
            # design at once): with as many clusters, only its other terms can make it cheaper.
            others = listing([object_label(t) for t in CPU_TERMS if t != "clusters"])
            lines.append(
                f"{head}: one apply-CPU fit prices both designs, so the difference comes from the other objects "
                f"it prices ({others}), not from the clusters; the difference is {within}."
            )
        else:
            cheaper = f"its own apply-CPU fit prices a cluster lower than `{reference}`'s"
            lines.append(f"{head}: {cheaper}; the difference is {within}.")
    return lines


def _pair(value: float, base: float) -> str:
    return f"{quantity(value, 'ms')} against {quantity(base, 'ms')}"


def _proxy_pushes(tables: dict[str, pd.DataFrame]) -> pd.Series:
    return tables["push_proxies"].groupby("design")["pushes"].sum()


def _heavier(summary: pd.DataFrame, designs: list[str], reference: str) -> dict[str, float]:
    """The designs that push more bytes per second than the reference, with that ratio."""
    base = cell(summary, TRAFFIC, reference)
    ratios = {d: cell(summary, TRAFFIC, d) / base for d in designs if d != reference and base > 0}
    return {d: r for d, r in ratios.items() if r > 1 + SAME}


def _merged(pushes: pd.Series, design: str, reference: str) -> str:
    return f"{percent(1 - pushes[design] / pushes[reference])} fewer proxy pushes"


def _shared_fit(fits: Fits, design: str, reference: str) -> bool:
    """Whether the calibration prices both designs' apply CPU with one fit (every fit figure equal)."""
    return fits[design] == fits[reference]


def _fixed_parts_decide(summary: pd.DataFrame, fits: Fits, design: str, reference: str) -> bool:
    """Whether the designs' own apply-CPU fixed parts, not their objects, make most of the
    difference in predicted apply CPU between them."""
    apply = cell(summary, APPLY, design) - cell(summary, APPLY, reference)
    fixed = fits[design]["apply_cpu_intercept_ms"] - fits[reference]["apply_cpu_intercept_ms"]
    return apply * fixed > 0 and abs(fixed) >= abs(apply) / 2


def convergence(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """A convergence difference the apply-CPU fits' fixed parts make, or a design that pushes
    more bytes than the reference but converges faster (p99)."""
    summary = tables["design_summary"]
    reference = reference_design(designs)
    if "convergence p99" not in set(summary["metric"]):
        return []
    fits = _fits(tables)
    pushes = _proxy_pushes(tables)
    heavier = _heavier(summary, designs, reference)
    lines = []
    for design in designs:
        p99, base = (cell(summary, "convergence p99", d) for d in (design, reference))
        if design == reference or same_convergence([p99, base]):
            continue
        faster = p99 < base
        head = (
            f"Convergence: `{design}` converges {'faster' if faster else 'slower'} than `{reference}` "
            f"(p99 {quantity(p99, 's')} against {quantity(base, 's')})"
        )
        if fits is not None and _fixed_parts_decide(summary, fits, design, reference):
            lines.append(
                f"{head} through Envoy's apply of a new sidecar's first config, where "
                f"{_fixed_parts(fits, design, reference)}; on configs this small it decides, not the design."
            )
        elif faster and design in heavier:
            why = (
                f": its longer pushes let more changes merge in the push queue ({_merged(pushes, design, reference)})."
                if pushes[design] < pushes[reference] * (1 - SAME)
                else "; neither its apply CPU nor fewer proxy pushes explains it."
            )
            lines.append(f"{head} while pushing {ratio(heavier[design])} its bytes{why}")
    return lines


def churn_cpu(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """A design that pushes more bytes than the reference under churn for less istiod CPU."""
    summary = tables["design_summary"]
    reference = reference_design(designs)
    metric = "istiod CPU under churn"
    if metric not in set(summary["metric"]):
        return []
    pushes = _proxy_pushes(tables)
    lines = []
    for design, more in _heavier(summary, designs, reference).items():
        cpu, base = (cell(summary, metric, d) for d in (design, reference))
        if cpu >= base * (1 - SAME):
            continue
        head = (
            f"istiod under churn: `{design}` pushes {ratio(more)} the bytes of `{reference}` for less CPU "
            f"({quantity(cpu, 's')} against {quantity(base, 's')})"
        )
        if pushes[design] < pushes[reference]:
            lines.append(
                f"{head}: istiod is busy, and its longer pushes let more changes merge in the push queue, where a "
                f"proxy is never queued twice; {_merged(pushes, design, reference)}, each with a fixed cost, "
                "outweigh the extra bytes."
            )
        else:
            lines.append(f"{head}; fewer proxy pushes do not explain it.")
    return lines


DUAL = ProxyFacts(families=("IPv4", "IPv6"))


def _passthrough(design: str) -> tuple[int, int]:
    """How many inbound passthrough chain sets and clusters ``design`` gives a dual-stack sidecar."""
    plugin = get_design(design)
    return len(plugin.passthrough_chains(DUAL)), len(plugin.passthrough_clusters(DUAL))


def cheaper_than_single_stack(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """A design with fewer filter chains or listener bytes per sidecar than single-stack."""
    if BASELINE not in designs:
        return []
    summary = tables["design_summary"]
    chains = tables["config_counts"].groupby("design")["filter_chains"].mean()
    dual = int(tables["cluster_totals"]["dual_stack_sidecars"].iloc[0])
    listeners = "listeners bytes per proxy"
    lines = []
    for design in designs:
        fewer_chains = chains[design] < chains[BASELINE] * (1 - SAME)
        fewer_bytes = cell(summary, listeners, design) < cell(summary, listeners, BASELINE) * (1 - SAME)
        if design == BASELINE or not (fewer_chains or fewer_bytes):
            continue
        head = (
            f"Less listener config than `{BASELINE}`: `{design}` has "
            f"{ratio(cell(summary, listeners, design) / cell(summary, listeners, BASELINE))} its listener bytes "
            f"and {ratio(chains[design] / chains[BASELINE])} its filter chains per sidecar"
        )
        # The cause is read from the design plugins themselves (results of a design no longer
        # registered cannot be traced, and say so).
        known = {design, BASELINE} <= set(design_names())
        (sets, clusters), (base_sets, base_clusters) = (
            (_passthrough(design), _passthrough(BASELINE)) if known else ((0, 0), (0, 0))
        )
        if known and dual > 0 and sets < base_sets:
            merged = clusters < base_clusters
            one = f"{'one inbound passthrough cluster and ' if merged else ''}one set of passthrough chains"
            if sets != 1 or (merged and clusters != 1):
                one = f"{clusters} passthrough clusters and {sets} sets of passthrough chains"
            lines.append(
                f"{head}: on the mesh's {dual:,} dual-stack sidecars it serves both families with {one} "
                f"without `prefix_ranges`, where `{BASELINE}` on a dual-stack pod builds "
                f"{'a cluster and a set' if merged else 'a set'} per family."
            )
        else:
            lines.append(f"{head}; fewer inbound passthrough chains do not explain it.")
    return lines


def explanations(tables: dict[str, pd.DataFrame], designs: list[str]) -> list[str]:
    """Every counter-intuitive figure of the run, one line each."""
    return (
        cheaper_than_single_stack(tables, designs)
        + apply_cpu(tables, designs)
        + convergence(tables, designs)
        + churn_cpu(tables, designs)
    )
