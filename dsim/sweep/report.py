"""The sweep report, in the run report's style: a verdict first, then the sweep, the capacity
formulas, growth exponents, crossovers, headroom, failures, the growth curves, and method and
provenance; Markdown and one self-contained HTML page from the same blocks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dsim.report.document import Block, Bullets, Heading, Image, Paragraph, Table
from dsim.report.numbers import quantity, significant
from dsim.report.plots import ReviewFigure
from dsim.sweep.analysis import curve, numeric_axes, ok_rows, power_axis
from dsim.sweep.execute import FAILED
from dsim.sweep.metrics import METRICS
from dsim.sweep.spec import Sweep

_SIZE = (7.5, 4.4)
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D")
CREATED = "created (UTC; differs between two sweeps of one file, as does the wall time)"


def _unit_text(unit: str) -> str:
    return {"share": "share of istiod's cores", "proxies": "proxies"}.get(unit, unit)


def value_text(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit in ("share", "proxies", ""):
        return significant(value)
    return quantity(value, unit)


def interval_text(estimate: float, low: float, high: float, digits: int = 3) -> str:
    if math.isnan(low) or math.isnan(high):
        return f"{significant(estimate, digits)} (too few points for an interval)"
    return f"{significant(estimate, digits)} [{significant(low, digits)}, {significant(high, digits)}]"


def _growth_label(row: pd.Series) -> str:
    if row["form"] == "flat":
        return "flat"
    if row["form"] == "power":
        return f"∝ x^{interval_text(row['estimate'], row['ci_low'], row['ci_high'])}"
    return f"slope {interval_text(row['estimate'], row['ci_low'], row['ci_high'])} {row['unit']} per unit"


def growth_figures(table: pd.DataFrame, sweep: Sweep, growth: pd.DataFrame) -> dict[str, Figure]:
    """One figure per plotted metric and numeric axis: the metric's mean per axis value, one line
    per design (the raw points behind it when sampled at random), its exponent in the legend."""
    out: dict[str, Figure] = {}
    ok = ok_rows(table)
    random = sweep.sampling == "random"
    for axis in numeric_axes(sweep, table):
        log_x = power_axis(ok[axis.path]) and ok[axis.path].max() / ok[axis.path].min() >= 10
        for metric, info in METRICS.items():
            if not info.plotted or ok[metric].notna().sum() == 0:
                continue
            lines = {d: curve(ok[ok["design"] == d], axis.path, metric, binned=random) for d in sweep.designs}
            ys = np.concatenate([c["y"].to_numpy() for c in lines.values()])
            if not len(ys) or np.nanmax(ys) == np.nanmin(ys):
                continue  # flat along this axis for every design: the table says so, a plot adds nothing
            figure = ReviewFigure(figsize=_SIZE, layout="constrained")
            axes = figure.add_subplot()
            axes.set_title(f"{info.label} against {axis.path}", fontsize=11)
            axes.grid(True, alpha=0.3)
            axes.set_axisbelow(True)
            for i, (design, line) in enumerate(lines.items()):
                fitted = growth[
                    (growth["metric"] == metric) & (growth["axis"] == axis.path) & (growth["design"] == design)
                ]
                label = design + (f": {_growth_label(fitted.iloc[0])}" if len(fitted) else "")
                axes.plot(
                    line["x"],
                    line["y"],
                    label=label,
                    color=f"C{i}",
                    linestyle=_STYLES[i % 4],
                    marker=_MARKERS[i % 4],
                    markersize=4,
                )
                if random:
                    raw = ok[ok["design"] == design]
                    axes.scatter(raw[axis.path], raw[metric], s=8, alpha=0.35, color=f"C{i}", marker=_MARKERS[i % 4])
            positive = bool((ys > 0).all())
            if log_x:
                axes.set_xscale("log")
            if positive and np.nanmax(ys) / np.nanmin(ys) >= 10:
                axes.set_yscale("log")
            axes.set_xlabel(axis.path)
            axes.set_ylabel(f"{info.label} ({_unit_text(info.unit)})", fontsize=9)
            handles, labels = axes.get_legend_handles_labels()
            figure.legend(
                handles,
                labels,
                loc="outside lower center",
                ncols=1 if len(labels) > 2 else 2,
                fontsize=8,
                frameon=False,
            )
            out[f"{metric}-vs-{axis.path.replace('.', '-')}"] = figure
    return out


def headroom_figures(table: pd.DataFrame, sweep: Sweep, summary: pd.DataFrame) -> dict[str, Figure]:
    """Per target metric: every evaluated point (axis value, figure), per design, the target's
    bound, and each design's headroom estimate."""
    h = sweep.headroom
    assert h is not None
    out: dict[str, Figure] = {}
    ok = ok_rows(table)
    for target in h.targets:
        figure = ReviewFigure(figsize=_SIZE, layout="constrained")
        axes = figure.add_subplot()
        info = METRICS[target.metric]
        axes.set_title(f"{info.label} along {h.axis.path}: the search's points", fontsize=11)
        axes.grid(True, alpha=0.3)
        axes.set_axisbelow(True)
        for i, design in enumerate(sweep.designs):
            rows = ok[ok["design"] == design].sort_values(h.axis.path)
            found = summary[summary["design"] == design]
            estimate = float(found["estimate"].iloc[0]) if len(found) else math.nan
            label = design + (f": {significant(estimate)}" if not math.isnan(estimate) else "")
            axes.plot(
                rows[h.axis.path],
                rows[target.metric],
                linestyle="none",
                marker=_MARKERS[i % 4],
                color=f"C{i}",
                label=label,
                alpha=0.8,
            )
            if not math.isnan(estimate):
                axes.axvline(estimate, color=f"C{i}", linestyle=_STYLES[i % 4], linewidth=1)
        axes.axhline(target.bound, color="black", linewidth=1, label=str(target))
        if h.scale == "log":
            axes.set_xscale("log")
        values = ok[target.metric].dropna().to_numpy()
        if len(values) and (values > 0).all() and values.max() / values.min() >= 10:
            axes.set_yscale("log")
        axes.set_xlabel(h.axis.path)
        axes.set_ylabel(f"{info.label} ({_unit_text(info.unit)})", fontsize=9)
        handles, labels = axes.get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        out[f"headroom-{target.metric}"] = figure
    return out


def _formula_text(rows: pd.DataFrame) -> str:
    parts: list[str] = []
    for _, c in rows.iterrows():
        if c["term"] == "intercept":
            parts.insert(0, significant(c["estimate"], 4))
        else:
            sign = "−" if c["estimate"] < 0 else "+"
            parts.append(f"{sign} {significant(abs(c['estimate']), 4)}·{c['term']}")
    return " ".join(parts)


def _coefficient_text(c: pd.Series) -> str:
    return interval_text(c["estimate"], c["ci_low"], c["ci_high"], 4)


def verdict(tables: dict[str, pd.DataFrame], sweep: Sweep) -> list[str]:
    """The report's first paragraph, from the numbers."""
    sentences = []
    points = tables["points"]
    if sweep.headroom is not None:
        summary = tables["headroom"]
        h = sweep.headroom
        found = summary[summary["found"] > 0]
        targets = " and ".join(f"`{t}`" for t in h.targets)
        if len(found):
            parts = [
                f"{interval_text(r['estimate'], r['ci_low'], r['ci_high'])} under `{r['design']}`"
                for _, r in found.iterrows()
            ]
            word = (
                "up to"
                if (found["direction"] == "up to").all()
                else "from"
                if (found["direction"] == "from").all()
                else "at"
            )
            sentences.append(
                f"{targets} {'hold' if len(h.targets) > 1 else 'holds'} {word} {h.axis.path} = "
                + ", ".join(parts)
                + " (95% intervals over the replicates)."
            )
            if len(found) > 1:
                ordered = found.sort_values("estimate", ascending=word == "from")
                best, worst = ordered.iloc[0], ordered.iloc[-1]
                if best["design"] != worst["design"]:
                    sentences.append(
                        f"`{best['design']}` has the most headroom, "
                        f"{significant(best['estimate'] / worst['estimate'])}× "
                        f"`{worst['design']}`'s."
                    )
        missing = summary[summary["found"] == 0]
        for _, r in missing.iterrows():
            sentences.append(f"`{r['design']}`: {r['outcome']} between {significant(h.low)} and {significant(h.high)}.")
    else:
        growth, formulas = tables["growth"], tables["formulas"]
        told = 0
        for metric in ("envoy_memory_mean_mib", "config_bytes_per_proxy", "convergence_p99_s", "bytes_sent_per_s"):
            rows = growth[(growth["metric"] == metric) & (growth["form"] == "power")]
            if len(rows) and told < 2:
                told += 1
                axis = rows["axis"].iloc[0]
                mine = rows[rows["axis"] == axis]
                listed = ", ".join(
                    f"`{r['design']}` {interval_text(r['estimate'], r['ci_low'], r['ci_high'])}"
                    for _, r in mine.iterrows()
                )
                sentences.append(f"{METRICS[metric].label.capitalize()} grows as {axis} to the power {listed}.")
        memory = formulas[formulas["metric"] == "envoy_memory_mean_mib"]
        if len(memory):
            design = (
                "additional-addresses" if "additional-addresses" in set(memory["design"]) else memory["design"].iloc[0]
            )
            mine = memory[memory["design"] == design]
            sentences.append(
                f"Capacity formula under `{design}`: Envoy MiB per sidecar ≈ {_formula_text(mine)} "
                f"(R² {significant(mine['r_squared'].iloc[0], 4)}; every design's below)."
            )
        crossings = tables["crossovers"]
        if len(crossings):
            first = crossings.iloc[0]
            sentences.append(
                f"{len(crossings)} crossover(s): first, `{first['design']}` overtakes `{first['overtakes']}` in "
                f"{METRICS[first['metric']].label} at {first['axis']} ≈ {significant(first['at'])}."
            )
        elif len(numeric_axes(sweep, points)):
            sentences.append("No design overtakes another on any figure within the swept range.")
    if not sentences:  # no numeric axis to grow along: say what each value of the first axis gives
        sentences.extend(_by_value(points, sweep))
    failed = points[points["status"] == FAILED]["point"].nunique()
    total = points["point"].nunique()
    if failed:
        sentences.append(
            f"{failed} of {total} points failed (listed below); the figures use the other {total - failed}."
        )
    return sentences


def _by_value(points: pd.DataFrame, sweep: Sweep) -> list[str]:
    """Per design, Envoy memory per sidecar at each value of the sweep's first axis (mean over the
    other axes and the replicates), and its ratio to the first value's."""
    ok = ok_rows(points)
    metric = "envoy_memory_mean_mib"
    if not sweep.axes or metric not in ok or not len(ok):
        return []
    axis = sweep.axes[0].path
    means = ok.groupby(["design", axis], sort=False)[metric].mean()
    parts = []
    for design in sweep.designs:
        if design not in means.index.get_level_values(0):
            continue
        mine = means.loc[design]
        values = ", ".join(f"{quantity(v, 'MiB')} at {key}" for key, v in mine.items())
        ratio = mine.iloc[-1] / mine.iloc[0] if mine.iloc[0] else float("nan")
        parts.append(f"`{design}` {values} ({significant(ratio)}× the first)")
    return [f"{METRICS[metric].label.capitalize()} by {axis}: " + "; ".join(parts) + "."] if parts else []


def _sweep_blocks(tables: dict[str, pd.DataFrame], sweep: Sweep) -> list[Block]:
    points = tables["points"]
    rows = [(f"`{a.path}`", a.kind, a.describe()) for a in sweep.axes]
    if sweep.headroom is not None:
        h = sweep.headroom
        rows.append(
            (
                f"`{h.axis.path}`",
                h.axis.kind,
                f"bisection from {significant(h.low)} to {significant(h.high)} ({h.scale}, {h.steps} steps)",
            )
        )
    if sweep.headroom is not None:
        sampling = "the values the bisection chose, per design"
    elif sweep.sampling == "grid":
        sampling = "every combination of the axes' values (grid)"
    else:
        sampling = f"{sweep.samples} random samples (seed {sweep.sample_seed})"

    bullets = [
        f"Base scenario: `{sweep.base_source}` (`{sweep.base.name}`).",
        f"Points: {sampling}, each under {len(sweep.seeds)} seed(s) ({', '.join(str(s) for s in sweep.seeds)}): "
        f"{points['point'].nunique()} points, {len(points)} rows (one per point and design).",
        f"Designs: {', '.join(f'`{d}`' for d in sweep.designs)}; push model {'on' if sweep.pushsim else 'off'}.",
    ]
    blocks: list[Block] = [Heading(text="The sweep")]
    if sweep.description:
        blocks.append(Paragraph(text=sweep.description))
    if rows:
        blocks.append(
            Table(header=("axis", "kind", "values"), rows=tuple(rows), caption="Swept scenario fields, by dotted path.")
        )
    blocks.append(Bullets(items=tuple(bullets)))
    return blocks


def _formula_blocks(formulas: pd.DataFrame, sweep: Sweep) -> list[Block]:
    if not len(formulas):
        return []
    blocks: list[Block] = [
        Heading(text="Capacity formulas"),
        Paragraph(
            text="Each figure as an intercept plus a cost per object, fitted per design by least squares over "
            f"the sweep's points (terms: {', '.join(f'`{t}`' for t in sweep.formula)}, those the points vary); "
            "95% intervals are HC3-robust Student t, as dsim's Envoy calibration. Apply them without dsim: put "
            "your mesh's counts in; inside the swept range only."
        ),
    ]
    for metric, rows in formulas.groupby("metric", sort=False):
        info = METRICS[str(metric)]
        terms = list(dict.fromkeys(rows["term"]))
        table_rows = []
        for design in sweep.designs:
            mine = rows[rows["design"] == design]
            if not len(mine):
                continue
            by_term = mine.set_index("term")
            cells = [_coefficient_text(by_term.loc[t]) if t in by_term.index else "" for t in terms]
            first = mine.iloc[0]
            table_rows.append(
                (
                    f"`{design}`",
                    *cells,
                    significant(first["r_squared"], 4),
                    significant(first["residual_sd"]),
                    str(first["observations"]),
                )
            )
        blocks.append(
            Table(
                header=("design", *terms, "R²", f"residual SD ({info.unit})", "points"),
                rows=tuple(table_rows),
                align_right=(False, *(True for _ in terms), True, True, True),
                caption=f"{info.label} ({info.unit}) ≈ intercept + Σ coefficient·term; "
                "each cell: estimate [95% interval].",
            )
        )
    return blocks


def _growth_blocks(growth: pd.DataFrame) -> list[Block]:
    if not len(growth):
        return []
    rows = []
    for _, r in growth.iterrows():
        kind = {"power": "exponent", "flat": "does not vary"}.get(r["form"], f"slope ({r['unit']} per unit)")
        rows.append(
            (
                METRICS[r["metric"]].label,
                f"`{r['axis']}`",
                f"`{r['design']}`",
                kind,
                interval_text(r["estimate"], r["ci_low"], r["ci_high"]),
                f"{significant(r['x_min'], whole=True)} to {significant(r['x_max'], whole=True)}",
            )
        )
    return [
        Heading(text="Growth"),
        Table(
            header=("figure", "axis", "design", "fitted", "estimate [95% interval]", "swept"),
            rows=tuple(rows),
            align_right=(False, False, False, False, True, True),
            caption="Exponent b of figure ∝ axis^b (a log-log fit) where figure and axis are positive and the "
            "axis spans 2× or more; otherwise the slope. Other axes held by fixed effects (grid) or as "
            "regressors (random samples).",
        ),
    ]


def _crossover_blocks(crossings: pd.DataFrame, sweep: Sweep, table: pd.DataFrame) -> list[Block]:
    if not len(numeric_axes(sweep, table)):
        return []
    if not len(crossings):
        return [
            Heading(text="Crossovers"),
            Paragraph(text="No design's curve crosses another's on any figure within the swept range."),
        ]
    items = tuple(
        f"`{r['design']}` overtakes `{r['overtakes']}` in {METRICS[r['metric']].label} at {r['axis']} ≈ "
        f"{significant(r['at'])} (between the swept {significant(r['between_low'])} and "
        f"{significant(r['between_high'])})"
        for _, r in crossings.iterrows()
    )
    return [Heading(text="Crossovers"), Bullets(items=items)]


def _headroom_blocks(summary: pd.DataFrame, sweep: Sweep) -> list[Block]:
    h = sweep.headroom
    assert h is not None
    rows = []
    for _, r in summary.iterrows():
        estimate = (
            f"{r['direction']} {significant(r['estimate'])} [{significant(r['ci_low'])}, {significant(r['ci_high'])}]"
            if r["found"]
            else "n/a"
        )
        every = significant(r["holds_in_every_replicate_at"]) if r["found"] else "n/a"
        rows.append((f"`{r['design']}`", estimate, every, f"{r['found']} of {r['replicates']}", r["outcome"]))
    return [
        Heading(text="Headroom"),
        Table(
            header=(
                "design",
                f"{h.axis.path} where the targets hold",
                "held in every replicate at",
                "replicates bounded",
                "outcome",
            ),
            rows=tuple(rows),
            align_right=(False, True, True, True, False),
            caption=f"Targets: {' and '.join(str(t) for t in h.targets)}. Per design and seed, bisection over "
            f"{h.axis.path} ({h.scale} scale, up to {h.steps} steps after both ends); the estimate is the mean "
            "of the replicates' last bracket midpoints (geometric on a log scale), with a 95% Student-t "
            "interval over replicates widened by half the last bracket.",
        ),
    ]


def _failed_blocks(table: pd.DataFrame) -> list[Block]:
    failed = table[table["status"] == FAILED].drop_duplicates("point")
    if not len(failed):
        return []
    rows = tuple((str(r["point"]), str(r["seed"]), r["error"]) for _, r in failed.head(50).iterrows())
    more = f" (the first 50 of {len(failed)})" if len(failed) > 50 else ""
    return [
        Heading(text="Failed points"),
        Table(
            header=("point", "seed", "error"),
            rows=rows,
            caption=f"Points that raised an error{more}; the others went on.",
        ),
    ]


def _method_blocks(provenance: dict[str, Any]) -> list[Block]:
    p = provenance
    rows = [
        ("dsim version", str(p.get("dsim_version"))),
        ("git revision", str(p.get("git_revision"))),
        ("sweep file", str(p.get("sweep_file"))),
        ("sweep hash", str(p.get("sweep_hash"))),
        ("base scenario hash", str(p.get("scenario_hash"))),
        ("calibration", str(p.get("calibration"))),
        ("computed on", str(p.get("computed_on"))),
        (CREATED, f"{p.get('created_utc')}; {p.get('wall_s')} s, {p.get('computed_this_time')} points computed, "
                  f"{p.get('reused_from_folder')} reused"),
        ("platform", str(p.get("platform"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in sorted(p.get("packages", {}).items()))),
    ]  # fmt: skip
    method = [
        "Each point is `dsim run` of its resolved scenario (the base with the point's axis values and seed), its "
        "figures as the run's own tables give them (`proxy_cost_totals`, `config_size_totals`, `push_summary`), "
        "one row per design in `points.parquet`, kept under the hash of the resolved scenario, the push model "
        "switch and the calibration.",
        "Fits: ordinary least squares, HC3-robust standard errors, 95% Student-t intervals "
        "(`dsim/calibration/fit.py`).",
    ]
    return [
        Heading(text="Method and provenance"),
        Bullets(items=tuple(method)),
        Table(header=("", "value"), rows=tuple(rows)),
    ]


def report_blocks(
    tables: dict[str, pd.DataFrame],
    sweep: Sweep,
    provenance: dict[str, Any],
    pngs: dict[str, bytes],
    captions: dict[str, str],
) -> list[Block]:
    blocks: list[Block] = [
        Heading(text=f"dsim sweep: {sweep.name}", level=1),
        Paragraph(text=" ".join(verdict(tables, sweep))),
        *_sweep_blocks(tables, sweep),
    ]
    if sweep.headroom is not None:
        blocks += _headroom_blocks(tables["headroom"], sweep)
    else:
        blocks += _formula_blocks(tables["formulas"], sweep)
        blocks += _growth_blocks(tables["growth"])
        blocks += _crossover_blocks(tables["crossovers"], sweep, tables["points"])
    blocks += _failed_blocks(tables["points"])
    if pngs:
        blocks.append(Heading(text="Plots"))
        blocks += [Image(name=name, caption=captions[name], png=data) for name, data in pngs.items()]
    return blocks + _method_blocks(provenance)


def figures_and_captions(tables: dict[str, pd.DataFrame], sweep: Sweep) -> tuple[dict[str, Figure], dict[str, str]]:
    if sweep.headroom is not None:
        figures = headroom_figures(tables["points"], sweep, tables["headroom"])
        captions = dict.fromkeys(
            figures,
            "Every point the search evaluated (one marker per design and seed), the target (black) and each "
            "design's headroom estimate (vertical lines).",
        )
        return figures, captions
    figures = growth_figures(tables["points"], sweep, tables["growth"])
    random = sweep.sampling == "random"
    binned = " (quantile bins; the faint markers are the points)" if random else ""
    captions = dict.fromkeys(
        figures,
        f"Mean per axis value over replicates and the other axes{binned}; the legend gives each design's "
        "fitted exponent (or slope) with its 95% interval.",
    )
    return figures, captions
