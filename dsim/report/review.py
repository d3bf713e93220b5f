"""The design-review report of a run: the verdict, the scenario, the headline table, findings
written from the numbers, counter-intuitive figures explained, the plots, and how they were
obtained (method and provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dsim.headline import pushed_anything
from dsim.report.captions import caption
from dsim.report.document import Block, Bullets, Heading, Image, Paragraph, Table, html_fragment, to_html, to_markdown
from dsim.report.explanations import explanations
from dsim.report.findings import findings
from dsim.report.headline_table import headline_table
from dsim.report.images import save_figures
from dsim.report.scenario_section import scenario_blocks
from dsim.report.scoping import memory_by_object_table, scoping_finding
from dsim.report.verdict import verdict_sentences
from dsim.results import RunResult

PLOTS_FOLDER = "plots"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CREATED = "created (UTC; the one line that differs between two runs)"
"""The provenance row holding the run's time: the report's only part that is not the same for
the same scenario and seed."""


def istio_sentence(istio: dict[str, Any]) -> str:
    """The provenance's ``istio_objects`` record in one sentence: what was built, what was not."""
    text = (
        f"Istio objects: {istio['virtual_services']:,} VirtualServices, {istio['destination_rules']:,} "
        f"DestinationRules and {istio.get('service_entries', 0):,} ServiceEntries built into the listeners, "
        "routes, clusters and endpoints (docs/istio-objects.md)."
    )
    if istio.get("headless_services"):
        text += (
            f" {istio['headless_services']:,} headless Services are built as istiod holds them: a listener per "
            "endpoint on their TCP, TLS and sniffed ports, ORIGINAL_DST clusters (docs/istio-objects.md 3.11)."
        )
    if istio.get("aliases"):
        text += (
            f" {istio['aliases']:,} ExternalName Services alias {istio['aliased_services']:,} hosts of the mesh: "
            "their names join those hosts' virtual hosts (docs/istio-objects.md 3.13)."
        )
    own = istio.get("own_views", {})
    if own.get("namespaces"):
        text += (
            f" {own['namespaces']:,} namespaces apply a VirtualService or DestinationRule of their own (their own "
            f"rules, or objects exported to them) to {own['services']:,} services, as Istio's lookup picks them."
        )
    notes = istio.get("notes", {})
    if notes:
        text += (
            " Counted, not built or of no effect: " + "; ".join(f"{what} ({n:,})" for what, n in notes.items()) + "."
        )
    ignored = istio.get("fields accepted but not modelled", {})
    if ignored:
        total = sum(ignored.values())
        listed = "; ".join(f"{path} ({n:,})" for path, n in ignored.items())
        text += f" Fields accepted but not modelled: {total:,} by kind/path: {listed}."
    return text


def _method_blocks(result: RunResult) -> list[Block]:
    p = result.provenance
    method = [
        "Config sizes: every proxy's config under each design, as real Envoy v3 messages, counted in exact "
        "serialized bytes (vectorized on columns; equal, to the byte, to serializing the messages, which the "
        "tests check).",
        "Envoy memory and apply CPU: the calibrated model (per-object costs fitted on the real Envoy 1.40, "
        f"measured over ADS): {p.get('calibration', 'unknown')}.",
        "istiod CPU per full push: dsim's generator cost per byte of each xDS type, scaled to Go by "
        "`istiod.go_cost_scale` (anchored to Istio's published generation benchmark), plus the CPU to send "
        "each response over TLS (per response and per byte sent, measured by `bench/send_cost.py`; "
        "`istiod.send_cost_scale`).",
    ]
    if "push_summary" in result.tables:
        method.append(
            "Push model: the scenario's churn drawn once from its seed and played through a discrete-event "
            "model of istiod (debounce, push context, push queue, throttle, cores, egress, Envoy apply) under "
            "every design, so differences are the design's alone"
            + ("." if pushed_anything(result.tables) else "; here it had nothing to push, so its figures are left out.")
        )
    istio = p.get("istio_objects")
    if istio:
        method.append(istio_sentence(istio))
    scoping = p.get("what_if", {}).get("sidecar_scoping")
    if scoping:
        kept = scoping["proxies_keeping_their_own_sidecar"]
        method.append(
            "Sidecar scoping what-if: the same mesh run again, same seed and churn, with a Sidecar per namespace "
            "(`istio_objects.sidecars.per_namespace`) importing its own namespace, `istio-system` and what its "
            f"workloads call: {scoping['namespaces_given_a_minimal_sidecar']:,} namespaces got one, scoping "
            f"{scoping['proxies_scoped_by_it']:,} sidecars"
            + (f"; {kept:,} kept a Sidecar of the scenario's own, as Istio would" if kept else "")
            + " (table `scoping_what_if`)."
        )
    packages = p.get("packages", {})
    rows = [
        ("dsim version", str(p.get("dsim_version"))),
        ("git revision", str(p.get("git_revision"))),
        ("seed", str(p.get("seed"))),
        ("scenario hash", str(p.get("scenario_hash"))),
        ("calibration", str(p.get("calibration"))),
        (CREATED, str(p.get("created_utc"))),
        ("platform", str(p.get("platform"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))),
    ]
    return [
        Heading(text="Method and provenance"),
        Bullets(items=tuple(method)),
        Table(header=("", "value"), rows=tuple(rows)),
    ]


def _scoping(result: RunResult, designs: list[str]) -> tuple[str, ...]:
    found = scoping_finding(result.tables, designs)
    return (found,) if found else ()


def report_blocks(result: RunResult, pngs: dict[str, bytes]) -> list[Block]:
    """The whole review, block by block; ``pngs`` are the plots by name."""
    designs = list(result.scenario.designs)
    name = result.scenario.name or "scenario"
    blocks: list[Block] = [
        Heading(text=f"Dual-stack design review: {name}", level=1),
        Paragraph(text=" ".join(verdict_sentences(result.tables, designs))),
        Paragraph(
            text=f"What each dual-stack design costs this mesh, computed by dsim "
            f"{result.provenance.get('dsim_version')} "
            "from the exact xDS config istiod would push to every sidecar."
        ),
        *scenario_blocks(result),
        Heading(text="Headline"),
        headline_table(result.tables["design_summary"]),
        Heading(text="Findings"),
        Bullets(items=tuple(findings(result.tables, designs)) + _scoping(result, designs)),
    ]
    if "envoy_memory_by_object" in result.tables:
        blocks += [
            Heading(text="Where Envoy's memory sits"),
            memory_by_object_table(result.tables["envoy_memory_by_object"], designs),
        ]
    explained = explanations(result.tables, designs)
    if explained:
        blocks += [Heading(text="Figures that look wrong, explained"), Bullets(items=tuple(explained))]
    blocks.append(Heading(text="Plots"))
    blocks += [Image(name=plot, caption=caption(plot, result.tables), png=data) for plot, data in pngs.items()]
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
