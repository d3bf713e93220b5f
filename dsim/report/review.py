"""The design-review report of a run: the scenario, the headline table, the plots, findings
written from the numbers, and how they were obtained (method and provenance)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dsim.headline import BASELINES, RATIO_COLUMNS
from dsim.report.document import Block, Bullets, Heading, Image, Paragraph, Table, html_fragment, to_html, to_markdown
from dsim.report.findings import findings
from dsim.report.images import save_figures
from dsim.results import RunResult
from dsim.scenario.model import Churn

PLOTS_FOLDER = "plots"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"

CAPTIONS = {
    "bytes_per_proxy": "Serialized config per sidecar, by xDS type (mean over the fleet; Istio's kb/msg).",
    "envoy_memory_cdf": "Envoy memory per sidecar, predicted from its exact objects by the calibrated model.",
    "convergence_cdf": "Time from a proxy being queued to Envoy having applied its push, over every proxy push.",
    "istiod_cpu": "istiod CPU utilization over the churn, all replicas' cores.",
    "resource_counts": "Envoy objects per sidecar, by kind (log scale).",
}

# How a headline unit is shown: (shown unit, divisor, decimals).
_DISPLAY = {
    "resources": ("", 1.0, 1),
    "bytes": ("kB", 1e3, 1),
    "bytes, fleet": ("GB", 1e9, 2),
    "bytes/s": ("MB/s", 1e6, 3),
    "MiB": ("MiB", 1.0, 1),
    "GiB": ("GiB", 1.0, 2),
    "ms": ("ms", 1.0, 1),
    "s": ("s", 1.0, 3),
}


def _display(metric: str, unit: str) -> tuple[str, float, int]:
    key = "bytes, fleet" if unit == "bytes" and "fleet" in metric else unit
    return _DISPLAY.get(key, (unit, 1.0, 3))


def _number(value: float, decimals: int) -> str:
    return "—" if math.isnan(value) else f"{value:,.{decimals}f}"


def headline_table(summary: pd.DataFrame) -> Table:
    """Metrics × designs; each cell the value and its ratios to the baselines that ran."""
    designs = list(summary["design"].unique())
    present = [b for b in BASELINES if b in designs]
    rows = []
    for (metric, unit), group in summary.groupby(["metric", "unit"], sort=False):
        shown, divisor, decimals = _display(str(metric), str(unit))
        cells = []
        ratio_columns = [RATIO_COLUMNS[b] for b in present]
        for value, *ratio_values in group[["value", *ratio_columns]].to_numpy(dtype=float).tolist():
            ratios = " · ".join(f"{r:.2f}×" for r in ratio_values)
            shown_value = _number(value / divisor, decimals)
            cells.append(f"{shown_value} ({ratios})" if ratios and not math.isnan(value) else shown_value)
        rows.append((str(metric), shown, *cells))
    ratio_words = " · ".join(f"to `{b}`" for b in present)
    return Table(
        header=("metric", "unit", *designs),
        rows=tuple(rows),
        align_right=(False, False, *(True,) * len(designs)),
        caption=f"Each cell: the value (its ratio {ratio_words})." if present else "",
    )


def _config_edits_per_hour(churn: Churn) -> float:
    return (
        churn.virtual_service_changes_per_hour
        + churn.destination_rule_changes_per_hour
        + churn.sidecar_changes_per_hour
    )


def _visibility_words(visibility: str) -> str:
    return "every service" if visibility == "all" else f"what its Sidecar scope ({visibility}) admits"


def _scenario_blocks(result: RunResult) -> list[Block]:
    s = result.scenario
    totals = result.tables["cluster_totals"].iloc[0]
    churn, istiod = s.churn, s.istiod
    text = (
        f"{s.description.strip() or 'No description.'} The mesh has {int(totals['services']):,} services "
        f"({int(totals['dual_stack_services']):,} dual-stack) in {int(totals['namespaces']):,} namespaces and "
        f"{int(totals['sidecars']):,} sidecars ({int(totals['dual_stack_sidecars']):,} with both families); every "
        f"sidecar sees {_visibility_words(s.visibility)}. "
        f"Designs compared: {', '.join(f'`{d}`' for d in s.designs)}."
    )
    rows = [
        ("namespaces", f"{int(totals['namespaces']):,}"),
        ("services (dual-stack)", f"{int(totals['services']):,} ({int(totals['dual_stack_services']):,})"),
        ("service ports", f"{int(totals['service_ports']):,}"),
        ("workloads", f"{int(totals['workloads']):,}"),
        ("pods / sidecars", f"{int(totals['pods']):,} / {int(totals['sidecars']):,}"),
        ("localities", f"{int(totals['localities']):,}"),
        ("visibility (Sidecar scope)", s.visibility),
        ("mTLS", s.mesh.mtls),
        ("Envoy stats profile", s.envoy.stats_profile),
        (
            "istiod",
            f"{istiod.replicas} × {istiod.gomaxprocs} cores, throttle {istiod.push_throttle}, "
            f"debounce {istiod.debounce_after_s:g}/{istiod.debounce_max_s:g} s, "
            f"{'delta' if istiod.delta_xds else 'SotW'} xDS, {istiod.send_bandwidth_mbps:g} Mbit/s",
        ),
        (
            "churn",
            f"{churn.duration_s:g} s: {churn.pod_replacements_per_s:g} pod replacements/s, "
            f"{churn.rollouts_per_hour:g} rollouts/h, {churn.scale_events_per_hour:g} scale events/h, "
            f"{churn.service_creations_per_hour + churn.service_deletions_per_hour:g} service changes/h, "
            f"{_config_edits_per_hour(churn):g} config edits/h, {len(churn.istiod_restarts_s)} istiod restarts",
        ),
        ("seed", str(s.seed)),
    ]
    families = result.tables["cluster_by_ip_family"]
    return [
        Heading(text="Scenario"),
        Paragraph(text=text),
        Table(header=("", "value"), rows=tuple(rows)),
        Table(
            header=("objects", "IP families", "count", "share"),
            rows=tuple(
                (str(kind), str(ip_families), f"{int(count):,}", f"{float(share):.1%}")
                for kind, ip_families, count, share in families[["object", "ip_families", "count", "share"]].to_numpy()
            ),
            align_right=(False, False, True, True),
            caption="Services and pods by IP family (the first family is the primary one).",
        ),
    ]


def _method_blocks(result: RunResult) -> list[Block]:
    p = result.provenance
    method = [
        "Config sizes: every proxy's config under each design, as real Envoy v3 messages, counted in exact "
        "serialized bytes (vectorized on columns; equal to the byte to serializing the messages, which the "
        "tests check).",
        "Envoy memory and apply CPU: the calibrated model (per-object costs fitted on the real Envoy 1.40, "
        f"measured over ADS): {p.get('calibration', 'unknown')}.",
        "istiod CPU per full push: dsim's generator cost per byte of each xDS type, scaled to Go by "
        "`istiod.go_cost_scale` (anchored to Istio's published generation benchmark).",
    ]
    if "push_summary" in result.tables:
        method.append(
            "Push model: the scenario's churn drawn once from its seed and played through a discrete-event "
            "model of istiod (debounce, push context, push queue, throttle, cores, egress, Envoy apply) under "
            "every design, so differences are the design's alone."
        )
    packages = p.get("packages", {})
    rows = [
        ("dsim version", str(p.get("dsim_version"))),
        ("git revision", str(p.get("git_revision"))),
        ("seed", str(p.get("seed"))),
        ("scenario hash", str(p.get("scenario_hash"))),
        ("calibration", str(p.get("calibration"))),
        ("created (UTC)", str(p.get("created_utc"))),
        ("platform", str(p.get("platform"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))),
    ]
    return [
        Heading(text="Method and provenance"),
        Bullets(items=tuple(method)),
        Table(header=("", "value"), rows=tuple(rows)),
    ]


def report_blocks(result: RunResult, pngs: dict[str, bytes]) -> list[Block]:
    """The whole review, block by block; ``pngs`` are the plots by name."""
    designs = list(result.scenario.designs)
    name = result.scenario.name or "scenario"
    blocks: list[Block] = [
        Heading(text=f"Dual-stack design review: {name}", level=1),
        Paragraph(
            text=f"What each dual-stack design costs this mesh, computed by dsim "
            f"{result.provenance.get('dsim_version')} "
            "from the exact xDS config istiod would push to every sidecar."
        ),
        *_scenario_blocks(result),
        Heading(text="Headline"),
        headline_table(result.tables["design_summary"]),
        Heading(text="Findings"),
        Bullets(items=tuple(findings(result.tables, designs))),
        Heading(text="Plots"),
    ]
    blocks += [Image(name=plot, caption=CAPTIONS[plot], png=data) for plot, data in pngs.items()]
    return blocks + _method_blocks(result)


def write_report(result: RunResult, folder: Path) -> None:
    """Write ``plots/`` (PNG and SVG), ``report.md`` and the self-contained ``report.html``."""
    pngs = save_figures(result.figures, folder / PLOTS_FOLDER)
    blocks = report_blocks(result, pngs)
    (folder / REPORT_MD).write_text(to_markdown(blocks, plots_folder=PLOTS_FOLDER))
    title = f"dsim design review: {result.scenario.name or 'scenario'}"
    (folder / REPORT_HTML).write_text(to_html(blocks, title=title))


def notebook_html(result: RunResult) -> str:
    """What a notebook shows for a result: the title, the headline table and what else it holds."""
    name = result.scenario.name or "scenario"
    blocks: list[Block] = [
        Heading(text=f"dsim run: {name}", level=3),
        headline_table(result.tables["design_summary"]),
        Paragraph(
            text="Tables: " + ", ".join(f"`{t}`" for t in result.tables) + "; plots: `result.figures`; "
            f"seed {result.provenance.get('seed')}, scenario hash `{str(result.provenance.get('scenario_hash'))[:12]}`."
        ),
    ]
    return html_fragment(blocks)
