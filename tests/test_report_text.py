"""What the review says: a verdict first, no NaN anywhere, a unit on every headline row, "n/a"
for a ratio to zero, counter-intuitive figures explained, coinciding lines named in their
captions, and the same bytes on every run but for one marked timestamp."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dsim
from dsim.calibration.coverage import calibration_coverage
from dsim.calibration.model import load_calibration, shipped_path
from dsim.calibration.predict import memory_by_object
from dsim.cli import main
from dsim.headline import design_summary
from dsim.report.captions import caption
from dsim.report.explanations import explanations
from dsim.report.findings import findings
from dsim.report.headline_table import headline_table
from dsim.report.numbers import significant
from dsim.report.review import CREATED
from dsim.report.series import coinciding, same_series
from dsim.report.verdict import verdict_sentences
from tests.conftest import SCENARIOS

NAN = re.compile(r"\bnan\b", re.IGNORECASE)
EMBEDDED = re.compile(r'src="data:image/png;base64,[^"]*"')
DESIGNS = list(dsim.design_names())
# The blog's mesh with a little churn: a small config under every design, pushed a few hundred times.
CHURN = "churn: {duration_s: 600, pod_replacements_per_s: 0.05, rollouts_per_hour: 6}\n"


@pytest.fixture(scope="module")
def blog_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``dsim run`` on the blog scenario (no churn), and what it printed."""
    out = tmp_path_factory.mktemp("blog") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def blog_with_churn(tmp_path_factory: pytest.TempPathFactory) -> dsim.RunResult:
    text = (SCENARIOS / "istio-blog-dual-stack.yaml").read_text()
    assert "\nchurn:" not in text
    path = tmp_path_factory.mktemp("blog-churn") / "blog-churn.yaml"
    path.write_text(text + CHURN)
    return dsim.run(path, progress=False)


@pytest.fixture(scope="module")
def one_push() -> dsim.RunResult:
    """Two pods, no service, and churn that replaces a pod once or twice: a proxy push or two per design."""
    scenario = dsim.scenario_from_dict(
        {
            "namespaces": [{"name": "a"}],
            "workloads": [{"name": "w", "namespace": "a", "replicas": 2}],
            "churn": {"duration_s": 120, "pod_replacements_per_s": 0.02},
        }
    )
    return dsim.run(scenario, progress=False)


def _headline_rows(markdown: str) -> list[list[str]]:
    section = markdown.split("## Headline\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| metric ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_no_nan_in_the_blog_report_nor_in_what_dsim_run_prints(blog_run: tuple[Path, str]) -> None:
    folder, printed = blog_run
    markdown = (folder / "report.md").read_text()
    page = EMBEDDED.sub("", (folder / "report.html").read_text())
    for text in (markdown, page, printed):
        assert not NAN.search(text), NAN.search(text)
    assert "nothing" in next(line for line in printed.splitlines() if line.startswith("push model: "))
    assert "convergence" not in markdown.split("## Headline", 1)[1].split("## Findings", 1)[0]
    assert sorted(p.stem for p in (folder / "plots").glob("*.png")) == [
        "bytes_per_proxy",
        "envoy_memory_cdf",
        "resource_counts",
    ]


def test_every_headline_row_has_a_unit(blog_run: tuple[Path, str], two_quickstart_runs: tuple[Path, Path, str]) -> None:
    for folder in (blog_run[0], two_quickstart_runs[0]):
        rows = _headline_rows((folder / "report.md").read_text())
        assert len(rows) >= 15
        for metric, unit, *cells in rows:
            assert unit, metric
            assert all(cell and not cell.startswith(("0 ", "-0")) for cell in cells), (metric, cells)
    rows = {row[0]: row for row in _headline_rows((blog_run[0] / "report.md").read_text())}
    # The count of EDS resources is named as such, not as "endpoints".
    assert rows["endpoint sets (ClusterLoadAssignment resources, one per EDS cluster) per proxy"][1] == "resources"
    assert rows["config bytes, fleet"][1] == "kB"  # 85 kB, not 0.00 GB
    assert rows["istiod CPU per full push"][1] == "ms"


def test_the_verdict_comes_first_in_three_sentences_naming_the_designs(
    blog_run: tuple[Path, str], two_quickstart_runs: tuple[Path, Path, str]
) -> None:
    for folder, printed in (blog_run, (two_quickstart_runs[0], two_quickstart_runs[2])):
        result = dsim.load_result(folder)
        sentences = verdict_sentences(result.tables, DESIGNS)
        assert len(sentences) == 3
        assert all(s.endswith(".") and s[0].isupper() for s in sentences)
        assert all(f"`{d}`" in sentences[0] for d in DESIGNS)
        assert sentences[2].startswith(
            "How sure: the memory model, one price per object for every design, reproduces the 1304 Envoy "
            "measurements it was fitted on within 1.48% (relative residual SD; R² at least 0.9995"
        )
        assert re.search(r"\), [\d.]+ [KM]iB at these sidecars", sentences[2]), sentences[2]
        assert "inside the range of configs it measured" in sentences[2]
        markdown = (folder / "report.md").read_text()
        assert markdown.split("\n\n")[1] == " ".join(sentences)  # right under the title
        assert " ".join(printed.split("\n\n")[0].split()) == " ".join(sentences)  # the first thing printed
    blog = verdict_sentences(dsim.load_result(blog_run[0]).tables, DESIGNS)
    assert blog[0].startswith("Envoy memory per sidecar differs most between the designs")
    assert blog[1] == (
        "The push model had no events (the scenario's churn drew none), so push traffic and convergence are not "
        "compared."
    )
    quickstart = verdict_sentences(dsim.load_result(two_quickstart_runs[0]).tables, DESIGNS)
    assert quickstart[0].startswith(
        "Convergence (p99, from a push queued to Envoy applied) differs most between the designs"
    )
    assert quickstart[1].startswith("Push traffic under the scenario's churn follows")


def test_the_verdict_says_when_the_mesh_is_beyond_the_calibrated_configs(blog_run: tuple[Path, str]) -> None:
    result = dsim.load_result(blog_run[0])
    tables = dict(result.tables)
    bigger = tables["config_counts"].copy()
    bigger["clusters"] *= 1000  # 12,000-21,000 clusters per sidecar: past the plan's largest config
    tables["calibration_coverage"] = calibration_coverage(
        bigger, scenario=result.scenario, calibration=load_calibration()
    )
    coverage = tables["calibration_coverage"].set_index("design")
    assert (coverage["proxies_outside_share"] == 1.0).all()
    assert (coverage["furthest_term"] == "clusters").all()
    sure = verdict_sentences(tables, DESIGNS)[2]
    # single-stack's 13 clusters × 1000 against the largest config the calibration measured (a
    # 5,000-service mesh under duplicate: one fit serves every design, so every design's range is it).
    assert sure.endswith(
        ", but 100% of the sidecars under every design lie outside the configs it measured (up to 13,000 clusters "
        "against at most 8,006 measured), so their figures extrapolate its straight lines."
    )


def test_a_zero_base_gives_n_a_not_a_ratio() -> None:
    totals = pd.DataFrame(
        {
            "design": ["single-stack"] * 4 + ["duplicate"] * 4,
            "xds_type": ["listeners", "clusters", "routes", "endpoints"] * 2,
            "proxies": 2,
            "resources": [2, 4, 0, 4, 4, 8, 2, 8],
            "bytes": [100, 200, 0, 400, 200, 400, 60, 800],
        }
    )
    costs = pd.DataFrame(
        {
            "design": ["single-stack", "duplicate"],
            "envoy_memory_mean_mib": [10.0, 12.0],
            "envoy_memory_p99_mib": [11.0, 13.0],
            "envoy_memory_fleet_gib": [0.02, 0.024],
            "envoy_apply_cpu_mean_ms": [5.0, 6.0],
            "istiod_full_push_cpu_s": [0.1, 0.2],
        }
    )
    summary = design_summary({"config_size_totals": totals, "proxy_cost_totals": costs}, ["single-stack", "duplicate"])
    table = headline_table(summary)
    rows = {row[0]: row for row in table.rows}
    assert rows["routes bytes per proxy"][2:] == ("0 (n/a)", "30.0 (n/a)")
    assert rows["config bytes per proxy"][2:] == ("350 (1.00×)", "730 (2.09×)")
    assert "n/a: that design's value is zero" in table.caption
    assert not any(NAN.search(cell) for row in table.rows for cell in row)


def _design_by_design(calibration: dsim.Calibration, design: str, scale: float) -> dsim.Calibration:
    """``calibration`` as one fitted design by design would be: ``design``'s memory fits priced
    ``scale`` times the others' (its fixed part and every object)."""
    envoy = dict(calibration.envoy)
    for key, fit in calibration.envoy.items():
        if key[0] == design and key[3] == "allocated_bytes":
            envoy[key] = dataclasses.replace(
                fit,
                intercept=dataclasses.replace(fit.intercept, estimate=fit.intercept.estimate * scale),
                slopes=tuple(dataclasses.replace(s, estimate=s.estimate * scale) for s in fit.slopes),
            )
    return dataclasses.replace(calibration, envoy=envoy)


DUPLICATE_MEMORY = "Memory: Envoy holds 73.7 MiB per sidecar under `duplicate`"


def test_memory_by_object_sums_to_the_prediction_and_names_a_designs_own_fit(
    two_quickstart_runs: tuple[Path, Path, str],
) -> None:
    result = dsim.load_result(two_quickstart_runs[0])
    shipped = load_calibration()
    by_object = memory_by_object(result.tables["config_counts"], scenario=result.scenario, calibration=shipped)
    sums = by_object.groupby("design")["mib_per_proxy"].sum()
    means = result.tables["proxy_costs"].groupby("design")["envoy_memory_bytes"].mean() / 2**20
    assert np.allclose(sums[means.index], means, atol=1e-3)
    objects = by_object[by_object["object"] != "fit_difference"]
    assert (objects["mib_per_proxy"] >= 0).all()
    assert "other" not in set(by_object["object"])
    # One fit serves every design: no design's own prices to name.
    assert (by_object[by_object["object"] == "fit_difference"]["mib_per_proxy"] == 0).all()
    duplicate = next(line for line in findings(result.tables, DESIGNS) if line.startswith(DUPLICATE_MEMORY))
    assert "its own calibration" not in duplicate
    # A calibration fitted design by design, whose duplicate prices are 3% under single-stack's.
    own = _design_by_design(shipped, "duplicate", 0.97)
    tables = dict(result.tables)
    tables["envoy_memory_by_object"] = memory_by_object(
        result.tables["config_counts"], scenario=result.scenario, calibration=own
    )
    duplicate = next(line for line in findings(tables, DESIGNS) if line.startswith(DUPLICATE_MEMORY))
    assert "because its own calibration measured these objects cheaper than `single-stack`'s prices" in duplicate
    assert "objects and fit of its own" not in duplicate


def _per_design_apply_fits(tables: dict[str, pd.DataFrame], intercepts: dict[str, float]) -> dict[str, pd.DataFrame]:
    """``tables`` as a calibration with its own apply-CPU fit per design would give them: each
    design's fixed part set to ``intercepts`` (the shipped calibration shares one fit) and its
    predicted apply CPU moved with it."""
    out = dict(tables)
    coverage = tables["calibration_coverage"].copy().set_index("design")
    summary = tables["design_summary"].copy()
    for design, intercept in intercepts.items():
        shift = intercept - float(coverage.loc[design, "apply_cpu_intercept_ms"])
        for column in ("apply_cpu_intercept_ms", "apply_cpu_intercept_ci_low_ms", "apply_cpu_intercept_ci_high_ms"):
            coverage.loc[design, column] += shift
        row = (summary["metric"] == "Envoy config apply CPU, mean") & (summary["design"] == design)
        summary.loc[row, "value"] += shift
    out["calibration_coverage"] = coverage.reset_index()
    out["design_summary"] = summary
    return out


def test_apply_cpu_is_explained_by_fixed_parts_only_when_the_fits_have_their_own(
    blog_run: tuple[Path, str], blog_with_churn: dsim.RunResult
) -> None:
    # The shipped calibration fits apply CPU once over every design: no design's fixed part differs.
    for tables in (dsim.load_result(blog_run[0]).tables, blog_with_churn.tables):
        assert not any("fixed part" in line for line in explanations(tables, DESIGNS))
    # A calibration fitted design by design, whose duplicate fit has a lower fixed part.
    tables = dsim.load_result(blog_run[0]).tables
    base = float(tables["calibration_coverage"].set_index("design").loc["single-stack", "apply_cpu_intercept_ms"])
    own = _per_design_apply_fits(tables, {"duplicate": base - 10.0})
    line = next(line for line in explanations(own, DESIGNS) if line.startswith("Apply CPU: `duplicate`"))
    assert line.startswith("Apply CPU: `duplicate` shows less than `single-stack` (")
    assert ") with 1.29× its clusters: each design's apply-CPU fit has its own fixed part (`duplicate` " in line


def test_less_apply_cpu_under_one_shared_fit_is_laid_on_its_other_terms(blog_run: tuple[Path, str]) -> None:
    tables = dict(dsim.load_result(blog_run[0]).tables)
    summary = tables["design_summary"].copy()
    row = (summary["metric"] == "Envoy config apply CPU, mean") & (summary["design"] == "additional-addresses")
    baseline = (summary["metric"] == "Envoy config apply CPU, mean") & (summary["design"] == "single-stack")
    # below single-stack's with as many clusters, under the one shipped fit
    less = round(0.8 * float(summary.loc[baseline, "value"].iloc[0]), 1)
    summary.loc[row, "value"] = less
    tables["design_summary"] = summary
    line = next(line for line in explanations(tables, DESIGNS) if line.startswith("Apply CPU: "))
    assert line.startswith(f"Apply CPU: `additional-addresses` shows less than `single-stack` ({less} ms against ")
    assert "one apply-CPU fit prices both designs, so the difference comes from the other objects it prices" in line
    assert "its own apply-CPU fit" not in line


def test_a_convergence_difference_from_per_design_fixed_parts_is_explained(blog_with_churn: dsim.RunResult) -> None:
    tables = blog_with_churn.tables
    base = float(tables["calibration_coverage"].set_index("design").loc["single-stack", "apply_cpu_intercept_ms"])
    own = _per_design_apply_fits(tables, {"additional-addresses": base - 10.0})
    summary = own["design_summary"].copy()
    p99 = (summary["metric"] == "convergence p99") & (summary["design"] == "additional-addresses")
    baseline = (summary["metric"] == "convergence p99") & (summary["design"] == "single-stack")
    faster = round(0.5 * float(summary.loc[baseline, "value"].iloc[0]), 4)
    summary.loc[p99, "value"] = faster  # as the lower fixed part would make a new sidecar's first apply
    own["design_summary"] = summary
    line = next(line for line in explanations(own, DESIGNS) if line.startswith("Convergence: `additional-addresses`"))
    assert line.startswith(
        f"Convergence: `additional-addresses` converges faster than `single-stack` (p99 {significant(faster * 1e3)} ms"
    )
    assert "through Envoy's apply of a new sidecar's first config" in line
    assert "each design's apply-CPU fit has its own fixed part (`additional-addresses` " in line


def test_a_dual_stack_design_cheaper_than_single_stack_is_explained(blog_run: tuple[Path, str]) -> None:
    markdown = (blog_run[0] / "report.md").read_text()
    section = markdown.split("## Figures that look wrong, explained\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip() == (
        "- Less listener config than `single-stack`: `additional-addresses-1.24` has 0.717× its listener bytes and "
        "0.808× its filter chains per sidecar: on the mesh's 4 dual-stack sidecars it serves both families with "
        "one inbound passthrough cluster and one set of passthrough chains without `prefix_ranges`, where "
        "`single-stack` on a "
        "dual-stack pod builds a cluster and a set per family."
    )


def test_push_figures_from_a_few_pushes_never_lead_the_verdict(one_push: dsim.RunResult) -> None:
    pushes = int(one_push.tables["push_convergence"].groupby("design")["proxy_pushes"].sum().min())
    assert 0 < pushes < 5
    first, second, _ = verdict_sentences(one_push.tables, DESIGNS)
    # Memory leads, as a difference or as the same within the model's error, never a push figure.
    assert first.startswith(
        (
            "Envoy memory per sidecar differs most between the designs on this mesh: ",
            "The designs cost this mesh the same",
        )
    )
    assert second.startswith(
        f"Push traffic under the scenario's churn and convergence are not compared: they rest on as few as {pushes} "
        "proxy push"
    )
    assert second.endswith(" per design, too few to mean anything (at least 100 are needed).")


def test_memory_within_the_fits_error_is_not_what_differs_most(one_push: dsim.RunResult) -> None:
    tables = dict(one_push.tables)
    coverage = tables["calibration_coverage"].copy()
    coverage["memory_error_mib"] = 1.0  # the designs' few hundred KiB are then well within 2 SDs
    tables["calibration_coverage"] = coverage
    first = verdict_sentences(tables, DESIGNS)[0]
    assert first.startswith("The designs cost this mesh the same: Envoy memory per sidecar is 7.")
    assert first.endswith(" in every design, within the model's error.")


def test_a_calibration_fitted_design_by_design_is_described_as_such(one_push: dsim.RunResult) -> None:
    """Calibrations made before the full plan's refit fit each design for absolute error: the
    How-sure sentence gives their residual SD in MiB, per design."""
    tables = dict(one_push.tables)
    coverage = tables["calibration_coverage"].copy()
    coverage["memory_relative_residual_sd"] = float("nan")
    coverage["memory_error_mib"] = 0.164
    coverage["memory_observations"] = 72
    tables["calibration_coverage"] = coverage
    sure = verdict_sentences(tables, DESIGNS)[2]
    assert sure.startswith(
        "How sure: the memory model reproduces the 72 Envoy measurements each design was fitted on within 168 KiB "
        "(residual SD; R² at least"
    )


def test_findings_read_right_where_single_stack_has_none(blog_run: tuple[Path, str], one_push: dsim.RunResult) -> None:
    lines = findings(dsim.load_result(blog_run[0]).tables, DESIGNS)
    assert (
        "Objects: per sidecar, `additional-addresses-1.24` has 0.808× the filter chains and 0.922× the clusters of "
        "`single-stack`, plus 5 listener additional addresses and 2 endpoint additional addresses, which "
        "`single-stack` has none of."
    ) in lines
    assert (
        "Objects: per sidecar, `additional-addresses` has 1.29× the endpoints (LbEndpoints) of `single-stack`, "
        "plus 5 listener additional addresses, which `single-stack` has none of."
    ) in lines
    tiny = findings(one_push.tables, DESIGNS)
    assert (
        "Objects: per sidecar, `additional-addresses` has 2 listener additional addresses, which `single-stack` "
        "has none of." in tiny
    )
    # Where only the design's own fit differs from single-stack's prices, it opens the list, with no "and".
    tables = dict(one_push.tables)
    own = _design_by_design(load_calibration(), "additional-addresses", 1.05)
    tables["envoy_memory_by_object"] = memory_by_object(
        tables["config_counts"], scenario=one_push.scenario, calibration=own
    )
    memory = next(
        line
        for line in findings(tables, DESIGNS)
        if line.startswith("Memory: Envoy holds ") and "additional-addresses`," in line
    )
    assert re.search(
        r"\(\+[\d.]+ KiB: \+[\d.]+ KiB because its own calibration measured these objects dearer", memory
    ), memory


def test_captions_say_when_lines_coincide(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    tables = dsim.load_result(two_quickstart_runs[0]).tables
    # Convergence: single-stack's and the 1.24 design's p99 24.5 and 26.6 ms, the other two 38.9 and 42.2.
    assert "The lines of `single-stack` and `additional-addresses-1.24` coincide" in caption("convergence_cdf", tables)
    assert "coincide" not in caption("envoy_memory_cdf", tables)  # 49.6 to 72.9 MiB: apart
    assert caption("bytes_per_proxy", tables).endswith("kb/msg).")
    x = np.arange(3.0)
    lines = {"a": (x, np.array([1.0, 2.0, 3.0])), "b": (x, np.array([1.0, 2.0, 3.01])), "c": (x, x)}
    assert coinciding(lines, lambda p, q: same_series(p, q, 0.005)) == [["a", "b"]]


def test_reports_are_byte_identical_but_for_the_marked_timestamp(two_quickstart_runs: tuple[Path, Path, str]) -> None:
    a, b, _ = two_quickstart_runs
    for name in ("report.md", "report.html"):
        first, second = ((folder / name).read_text().splitlines() for folder in (a, b))
        assert len(first) == len(second)
        marked = [i for i, line in enumerate(first) if CREATED in line]
        assert len(marked) == 1, name
        differing = [i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y]
        assert set(differing) <= set(marked), name


def test_without_its_measurements_the_calibrated_range_is_said_to_be_unknown(
    blog_run: tuple[Path, str], tmp_path: Path
) -> None:
    alone = tmp_path / "envoy-1.40.json"  # the model without the measurements it names
    alone.write_text(shipped_path().read_text())
    result = dsim.load_result(blog_run[0])
    tables = dict(result.tables)
    tables["calibration_coverage"] = calibration_coverage(
        result.tables["config_counts"], scenario=result.scenario, calibration=load_calibration(alone)
    )
    assert tables["calibration_coverage"]["proxies_outside_share"].isna().all()
    sure = verdict_sentences(tables, DESIGNS)[2]
    assert sure.endswith(
        ", and the range of configs it measured is unknown (no measurements file beside the calibration)."
    )
