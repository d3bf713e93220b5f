"""The design-review report: valid self-contained HTML whose images decode, Markdown whose links
resolve, and numbers that are the tables' numbers."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import dsim
from dsim.headline import design_summary
from dsim.report.document import Bullets, Heading, Image, Paragraph, Table, to_html, to_markdown
from dsim.report.findings import findings
from dsim.report.numbers import ratio, scale, signed_quantity, significant
from tests.conftest import SCENARIOS

VOID = {"meta", "img", "br", "hr", "link", "input"}


class StrictHtml(HTMLParser):
    """Fails on any tag closed out of order or left open; collects every ``<img src>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: list[str] = []
        self.images: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
            assert dict(attrs).get("alt"), "every image has alternative text"
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}> closes a void element"
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()


def parsed_html(text: str) -> StrictHtml:
    parser = StrictHtml()
    parser.feed(text)
    parser.close()
    assert parser.open == [], f"left open: {parser.open}"
    return parser


def test_html_report_is_valid_self_contained_and_every_image_decodes(
    two_quickstart_runs: tuple[Path, Path, str],
) -> None:
    folder = two_quickstart_runs[0]
    page = parsed_html((folder / "report.html").read_text())
    assert page.doctype.lower() == "doctype html"
    for tag in ("html", "head", "body", "title"):
        assert page.seen.count(tag) == 1, tag
    assert page.seen.count("table") >= 3
    assert len(page.images) == 5
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), "images are embedded, not linked"
        picture = PILImage.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        picture.verify()
        assert picture.format == "PNG"
        assert picture.size[0] > 400
    assert not re.search(r'(src|href)="(?!data:)', (folder / "report.html").read_text()), "nothing outside the page"


def test_markdown_report_links_every_plot_and_the_plots_decode(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    folder = two_quickstart_runs[0]
    text = (folder / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"plots/{p.stem}.png" for p in (folder / "plots").glob("*.png"))
    for link in links:
        PILImage.open(folder / link).verify()
        svg = ET.parse(folder / link.replace(".png", ".svg")).getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    for heading in ("# Dual-stack design review: quickstart", "## Scenario", "## Headline", "## Findings"):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "## Method and provenance" in text


def test_headline_figures_are_the_tables_figures(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    folder = two_quickstart_runs[0]
    tables = dsim.load_result(folder).tables
    summary = tables["design_summary"].set_index(["metric", "design"])
    sizes = tables["config_sizes"]
    for design in ("duplicate", "additional-addresses"):
        per_proxy = sizes.loc[sizes["design"] == design, "bytes"].sum() / sizes["proxy"].nunique()
        assert summary.loc[("config bytes per proxy", design), "value"] == pytest.approx(per_proxy, rel=1e-12)
        base = summary.loc[("config bytes per proxy", "single-stack"), "value"]
        assert summary.loc[("config bytes per proxy", design), "vs_single_stack"] == pytest.approx(per_proxy / base)
    costs = tables["proxy_costs"]
    mean = costs.loc[costs["design"] == "duplicate", "envoy_memory_bytes"].mean() / 2**20
    assert summary.loc[("Envoy memory per proxy, mean", "duplicate"), "value"] == pytest.approx(mean, abs=1e-3)
    push = tables["push_summary"].set_index("design")
    assert summary.loc[("convergence p99", "duplicate"), "value"] == push.loc["duplicate", "convergence_p99_s"]
    markdown = (folder / "report.md").read_text()
    row = summary.xs("config bytes per proxy", level="metric")["value"]
    _, size = scale("bytes", row)  # the row's unit is the one its smallest value reaches
    to_shipped = summary.loc[("config bytes per proxy", "duplicate"), "vs_additional_addresses"]
    assert f"| {significant(row['duplicate'] / size)} (" in markdown
    assert f"`duplicate` costs {ratio(to_shipped)} the config per proxy" in markdown


def test_the_scenario_section_counts_ports_by_protocol_as_the_table_does(
    two_quickstart_runs: tuple[Path, Path, str],
) -> None:
    folder = two_quickstart_runs[0]
    tables = dsim.load_result(folder).tables
    protocols = tables["cluster_by_protocol"]
    markdown = (folder / "report.md").read_text()
    scenario = markdown.split("## Scenario", 1)[1].split("\n## ", 1)[0]
    assert "| protocol | service ports | distinct port numbers | share |" in scenario
    for protocol, ports, numbers in protocols[["protocol", "service_ports", "distinct_port_numbers"]].to_numpy():
        assert f"| {protocol} | {int(ports):,} | {int(numbers):,} |" in scenario
    assert protocols["service_ports"].sum() == tables["cluster_totals"]["service_ports"].iloc[0]


def test_findings_say_where_the_bytes_come_from(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    tables = dsim.load_result(two_quickstart_runs[0]).tables
    lines = findings(tables, list(dsim.design_names()))
    config = next(line for line in lines if line.startswith("Config: `additional-addresses` "))
    totals = tables["config_size_totals"].set_index(["design", "xds_type"])["bytes_per_proxy"]
    endpoints = totals[("additional-addresses", "endpoints")] - totals[("single-stack", "endpoints")]
    assert f"endpoints {signed_quantity(endpoints, 'bytes')}" in config
    objects = next(line for line in lines if line.startswith("Objects: per sidecar, `duplicate` has "))
    counts = tables["config_counts"].groupby("design")["clusters"].mean()
    assert f"{ratio(counts['duplicate'] / counts['single-stack'])} the clusters" in objects
    assert any(line.startswith("Under churn: ") for line in lines)
    # A type's share of the difference is never over 100% (other types then offset it).
    shares = [float(s.replace(",", "")) for line in lines for s in re.findall(r"\(([\d.,]+)%\)", line)]
    assert shares
    assert max(shares) <= 100


def test_design_summary_without_baselines_has_no_ratios() -> None:
    totals = pd.DataFrame(
        {
            "design": ["duplicate"] * 4,
            "xds_type": ["listeners", "clusters", "routes", "endpoints"],
            "proxies": 2,
            "resources": [2, 4, 2, 4],
            "bytes": [100, 200, 300, 400],
        }
    )
    costs = pd.DataFrame(
        {
            "design": ["duplicate"],
            "envoy_memory_mean_mib": [10.0],
            "envoy_memory_p99_mib": [11.0],
            "envoy_memory_fleet_gib": [0.02],
            "envoy_apply_cpu_mean_ms": [5.0],
            "istiod_full_push_cpu_s": [0.1],
        }
    )
    summary = design_summary({"config_size_totals": totals, "proxy_cost_totals": costs}, ["duplicate"])
    assert summary.loc[summary["metric"] == "config bytes per proxy", "value"].item() == 500.0
    assert summary[["vs_single_stack", "vs_additional_addresses"]].isna().all().all()


def test_documents_escape_what_they_render() -> None:
    blocks = [
        Heading(text="A <title>", level=1),
        Paragraph(text="5 < 6 & `a|b`"),
        Bullets(items=("one", "two")),
        Table(header=("x|y", "n"), rows=(("a|b", "1"),), align_right=(False, True), caption="c"),
        Image(name="p", caption='say "hi"', png=b"\x89PNG"),
    ]
    markdown = to_markdown(blocks)
    assert "| a\\|b | 1 |" in markdown
    assert "|---|---:|" in markdown
    assert '![say "hi"](plots/p.png)' in markdown
    page = to_html(blocks, title="t <1>")
    parsed_html(page)
    assert "<h1>A &lt;title&gt;</h1>" in page
    assert "<p>5 &lt; 6 &amp; <code>a|b</code></p>" in page
    assert 'alt="say &quot;hi&quot;"' in page


def test_result_in_a_notebook_shows_the_headline_and_has_figures() -> None:
    result = dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml", pushsim=False, progress=False)
    shown = result._repr_html_()
    parsed_html(shown)
    assert "config bytes per proxy" in shown
    assert "design_summary" in shown
    assert sorted(result.figures) == ["bytes_per_proxy", "envoy_memory_cdf", "resource_counts"]
    assert result.figures is result.figures  # drawn once


def test_progress_bars_only_when_asked_or_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml", pushsim=False)  # captured output is not a terminal
    assert capsys.readouterr().err == ""
    dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml", pushsim=True, progress=True)
    err = capsys.readouterr().err
    for stage in ("cluster", "accounting", "push model"):
        assert stage in err
    assert "100%" in err


def test_saved_tables_load_back_with_their_types(tmp_path: Path) -> None:
    result = dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml", pushsim=False, progress=False)
    loaded = dsim.load_result(result.save(tmp_path / "r", report=False))
    assert not (tmp_path / "r" / "report.html").exists()
    for name, frame in result.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name], frame, check_dtype=True)
    assert np.isfinite(loaded.tables["design_summary"]["value"]).all()


def test_a_run_interrupted_while_writing_its_report_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = dsim.run(SCENARIOS / "istio-blog-dual-stack.yaml", pushsim=False, progress=False)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("dsim.report.review.to_html", interrupted)  # tables and plots are written by then
    with pytest.raises(KeyboardInterrupt):
        result.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
