"""What the CLI and notebooks call: load a scenario, build its cluster, summarize, run."""

from __future__ import annotations

import datetime
from pathlib import Path

from dsim.cluster import Cluster
from dsim.cluster import build_cluster as _build_tables
from dsim.cluster.summary import summarize
from dsim.provenance import provenance
from dsim.results import RunResult
from dsim.scenario import Scenario, load_scenario, scenario_hash

ScenarioLike = Scenario | str | Path


def _scenario_and_source(scenario: ScenarioLike) -> tuple[Scenario, str | None]:
    if isinstance(scenario, Scenario):
        return scenario, None
    return load_scenario(scenario), str(scenario)


def build_cluster(scenario: ScenarioLike) -> Cluster:
    """The cluster a scenario (object or YAML path) describes, as column tables."""
    resolved, source = _scenario_and_source(scenario)
    return _build_tables(resolved, source=source)


def run(scenario: ScenarioLike) -> RunResult:
    """Run the pipeline on a scenario and return the result (not saved; see :meth:`RunResult.save`).

    At this stage the pipeline builds the cluster and summarizes it.
    """
    resolved, source = _scenario_and_source(scenario)
    cluster = _build_tables(resolved, source=source)
    tables = {f"cluster_{name}": frame for name, frame in summarize(cluster).items()}
    return RunResult(scenario=resolved, tables=tables, provenance=provenance(resolved))


def default_output_folder(result: RunResult, root: str | Path = "results") -> Path:
    """``<root>/<scenario name>/<UTC time>-<scenario hash prefix>``."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = result.scenario.name or "scenario"
    return Path(root) / name / f"{stamp}-{scenario_hash(result.scenario)[:8]}"
