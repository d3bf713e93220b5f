"""What the CLI and notebooks call: load a scenario, build its cluster, generate and check
configs, summarize, run."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dsim.accounting.proxies import DesignAccounting, design_accounting, vectorized_sizes
from dsim.calibration.coverage import calibration_coverage
from dsim.calibration.model import Calibration, load_calibration
from dsim.calibration.predict import cost_totals, memory_by_object, proxy_costs
from dsim.cluster import Cluster, require_sidecars
from dsim.cluster import build_cluster as _build_tables
from dsim.cluster.istio import istio_record
from dsim.cluster.summary import summarize
from dsim.designs import get_design
from dsim.errors import DsimError, UnknownNameError
from dsim.headline import design_summary
from dsim.parallel import Compute
from dsim.progress import progress_bar
from dsim.provenance import provenance
from dsim.pushsim.runner import push_tables
from dsim.randomness import generator
from dsim.results import RunResult
from dsim.scenario import Scenario, load_scenario, scenario_hash
from dsim.scenario.load import checked_scenario
from dsim.sizing import Stage, check_fits
from dsim.whatif import SCOPING_TABLE, scoped_scenario, scoping_table, sidecar_coverage
from dsim.xds.envoy import Verdict, envoy_binary, validate
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.sizes import protobuf_sizes_and_counts
from dsim.xds.view import index_for

ScenarioLike = Scenario | str | Path
SIZE_METHODS = ("vectorized", "protobuf")


def _scenario_and_source(scenario: ScenarioLike) -> tuple[Scenario, str | None]:
    if isinstance(scenario, Scenario):
        return checked_scenario(scenario), None  # one built in Python is checked as a file is
    return load_scenario(scenario), str(scenario)


def build_cluster(scenario: ScenarioLike) -> Cluster:
    """The cluster a scenario (object or YAML path) describes, as column tables."""
    resolved, source = _scenario_and_source(scenario)
    return _build_tables(resolved, source=source)


def _cluster(target: Cluster | ScenarioLike, stage: Stage = "cluster") -> Cluster:
    if isinstance(target, Cluster):
        return target
    resolved, source = _scenario_and_source(target)
    check_fits(resolved, source=source, stage=stage)  # dump and validate build a sidecar's messages too
    return _build_tables(resolved, source=source)


def generate(target: Cluster | ScenarioLike, proxy: str | int, design: str) -> ProxyConfig:
    """The xDS config of one sidecar (``<namespace>/<pod or workload>``, or a proxy row) under ``design``.

    Its messages may be shared with other configs; copy one before changing it.
    """
    cluster = _cluster(target, "config")
    index = index_for(cluster)
    row = index.find_proxy(proxy) if isinstance(proxy, str) else proxy
    if not 0 <= row < len(cluster.proxies):
        raise UnknownNameError("proxy row", str(row), [f"0 to {len(cluster.proxies) - 1}"])
    return proxy_config(index, row, get_design(design))


def _sizes_and_counts(
    target: Cluster | ScenarioLike, design: str, method: str, proxies: Sequence[int] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if method not in SIZE_METHODS:
        raise UnknownNameError("method", method, SIZE_METHODS)
    cluster = _cluster(target)
    chosen = get_design(design)
    if method == "protobuf":
        rows = list(range(len(cluster.proxies))) if proxies is None else [int(p) for p in proxies]
        return protobuf_sizes_and_counts(index_for(cluster), chosen, rows)
    sizes, counts = vectorized_sizes(cluster, chosen)
    if proxies is not None:
        wanted = np.asarray(proxies, dtype=np.int64)
        sizes = sizes[sizes["proxy"].isin(wanted)].reset_index(drop=True)
        counts = counts[counts["proxy"].isin(wanted)].reset_index(drop=True)
    return sizes, counts


def config_sizes(
    target: Cluster | ScenarioLike,
    design: str,
    *,
    method: str = "vectorized",
    proxies: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Per proxy and xDS type: resources and serialized bytes (Istio's size metric), exact.

    One row per (design, proxy, xds_type); ``proxies`` are rows of ``cluster.proxies`` (all by
    default). ``method="vectorized"`` computes on columns; ``"protobuf"`` builds and serializes
    every message (slow: the reference the vectorized method is tested against).
    """
    return _sizes_and_counts(target, design, method, proxies)[0]


def config_counts(
    target: Cluster | ScenarioLike,
    design: str,
    *,
    method: str = "vectorized",
    proxies: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Per proxy: the object counts Envoy's memory depends on (listeners, additional addresses,
    filter chains, clusters and what they hold, route configurations, virtual hosts, domains,
    routes and what they hold and do, locality groups, endpoint priorities past the first (locality
    failover), endpoints, endpoint additional addresses:
    :data:`dsim.xds.vocabulary.COUNT_COLUMNS`)."""
    return _sizes_and_counts(target, design, method, proxies)[1]


def envoy_costs(
    target: Cluster | ScenarioLike,
    design: str,
    *,
    calibration: Calibration | str | Path | None = None,
    proxies: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Per proxy: predicted Envoy memory (tcmalloc allocated bytes), heap, stats and config-apply
    CPU, and istiod's CPU per xDS type for a full push to it, from the calibrated model
    (default: the shipped calibration, or ``$DSIM_CALIBRATION``) under the scenario's
    ``envoy.stats_profile`` and ``istiod.go_cost_scale``."""
    cluster = _cluster(target)
    sizes, counts = _sizes_and_counts(cluster, design, "vectorized", proxies)
    model = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    return proxy_costs(sizes, counts, design=design, scenario=cluster.scenario, calibration=model)


def fleet_totals(sizes: pd.DataFrame) -> pd.DataFrame:
    """Per design and xDS type: proxies, resources and bytes summed over the fleet, and per proxy."""
    totals = sizes.groupby(["design", "xds_type"], sort=False).agg(
        proxies=("proxy", "nunique"), resources=("resources", "sum"), bytes=("bytes", "sum")
    )
    totals["bytes_per_proxy"] = (totals["bytes"] / totals["proxies"]).round(1)
    return totals.reset_index()


def sample_proxies(cluster: Cluster, sample: int) -> list[int]:
    """Up to ``sample`` proxy rows, chosen with the scenario's seed, in row order."""
    count = len(cluster.proxies)
    if sample >= count:
        return list(range(count))
    rng = generator(cluster.scenario.seed, "validate-sample")
    return sorted(rng.choice(count, size=sample, replace=False).tolist())


def validate_configs(
    target: Cluster | ScenarioLike,
    *,
    designs: Sequence[str] | None = None,
    sample: int = 5,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> pd.DataFrame:
    """Run the real Envoy on a sample of proxies' configs per design: one row per (design, proxy),
    whether Envoy accepted it, whether it answered in time at all, and its message.

    ``on_verdict`` is called with each verdict as it arrives (a big config takes Envoy seconds).
    """
    cluster = _cluster(target, "config")
    chosen = [get_design(d) for d in (designs or cluster.scenario.designs)]
    binary = envoy_binary()
    index = index_for(cluster)
    rows = []
    for design in chosen:
        for proxy in sample_proxies(cluster, sample):
            rows.append(validate(proxy_config(index, proxy, design), binary=binary))
            if on_verdict is not None:
                on_verdict(rows[-1])
    return pd.DataFrame(
        {
            "design": [v.design for v in rows],
            "proxy": [v.proxy for v in rows],
            "accepted": np.array([v.accepted for v in rows], dtype=bool),
            "answered": np.array([v.answered for v in rows], dtype=bool),
            "message": [v.message for v in rows],
        }
    )


def push_simulation(
    target: Cluster | ScenarioLike,
    designs: Sequence[str] | None = None,
    *,
    calibration: Calibration | str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate istiod's push pipeline under the scenario's ``churn`` for each design, on one
    shared event stream: the churn events, a record per push, per-proxy convergence, istiod's CPU
    per second, and summary metrics with Istio's names (``push_summary``: one row per design)."""
    cluster = _cluster(target)
    chosen = list(designs or cluster.scenario.designs)
    for name in chosen:
        get_design(name)
    model = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    return push_tables(cluster, chosen, model)


def _with_designs(scenario: Scenario, designs: Sequence[str] | None) -> Scenario:
    if designs is None:
        return scenario
    names = list(dict.fromkeys(designs))  # keep the order asked for, once each
    if not names:
        raise DsimError("--designs: no design named; `dsim designs` lists them")
    for name in names:
        get_design(name)
    return dataclasses.replace(scenario, designs=tuple(names))


def run(
    scenario: ScenarioLike,
    *,
    designs: Sequence[str] | None = None,
    pushsim: bool = True,
    progress: bool | None = None,
    compute: Compute | None = None,
) -> RunResult:
    """Run the whole pipeline on a scenario and return the result (not saved; see :meth:`RunResult.save`).

    The cluster and its summary; every proxy's exact config size and object counts under each
    design (the scenario's, or ``designs``); its predicted Envoy memory and CPU and istiod's CPU
    to push it (the shipped calibration, or ``$DSIM_CALIBRATION``), and how well that calibration
    covers this mesh (``calibration_coverage``); unless ``pushsim`` is off, the
    push model under the scenario's churn (:func:`push_simulation`); and the design summary
    (``design_summary``: every headline figure with its ratios to the baselines).
    With the scenario's ``what_if.sidecar_scoping`` on, the same mesh runs again with each
    namespace's minimal Sidecar, and ``scoping_what_if`` holds what that saves (:func:`scoping_what_if`).
    ``progress``: bars for the long stages; None shows them only on a terminal. ``compute``: where
    the designs' push simulations run (default: one after another in this process; see
    :class:`dsim.parallel.Compute` — the results are the same wherever they run).
    """
    resolved, source = _scenario_and_source(scenario)
    resolved = _with_designs(resolved, designs)
    # The first run's cluster is dropped before the second is built.
    result = _run_resolved(resolved, source, pushsim=pushsim, progress=progress, compute=compute)[0]
    if resolved.what_if.sidecar_scoping:
        scoped, scoped_cluster = _run_resolved(
            scoped_scenario(resolved), source, pushsim=pushsim, progress=progress, compute=compute
        )
        result.tables[SCOPING_TABLE] = scoping_table(result.tables, scoped.tables, resolved.designs)
        result.provenance["what_if"] = {"sidecar_scoping": sidecar_coverage(scoped_cluster)}
    return result


def _run_resolved(
    resolved: Scenario, source: str | None, *, pushsim: bool, progress: bool | None, compute: Compute | None
) -> tuple[RunResult, Cluster]:
    chosen = list(resolved.designs)
    check_fits(resolved, source=source, stage="push" if pushsim else "run", designs=len(chosen))
    with progress_bar("cluster", 1, "step", show=progress) as bar:
        cluster = _build_tables(resolved, source=source)
        require_sidecars(cluster, source)
        model = load_calibration()
        bar.update(1)
    tables = {f"cluster_{name}": frame for name, frame in summarize(cluster).items()}
    per_design = []
    accounting: dict[str, DesignAccounting] = {}  # computed once per design, for the push model too
    with progress_bar("accounting", len(chosen), "designs", show=progress) as bar:
        for name in chosen:
            accounting[name] = design_accounting(cluster, get_design(name))
            sizes, counts = accounting[name].sizes, accounting[name].counts
            costs = proxy_costs(sizes, counts, design=name, scenario=resolved, calibration=model)
            per_design.append((sizes, counts, costs))
            bar.update(1)
    tables["config_sizes"] = pd.concat([s for s, _, _ in per_design], ignore_index=True)
    tables["config_counts"] = pd.concat([c for _, c, _ in per_design], ignore_index=True)
    tables["config_size_totals"] = fleet_totals(tables["config_sizes"])
    tables["proxy_costs"] = pd.concat([c for _, _, c in per_design], ignore_index=True)
    tables["proxy_cost_totals"] = cost_totals(tables["proxy_costs"])
    tables["envoy_memory_by_object"] = memory_by_object(tables["config_counts"], scenario=resolved, calibration=model)
    tables["calibration_coverage"] = calibration_coverage(tables["config_counts"], scenario=resolved, calibration=model)
    compute = compute or Compute()
    if pushsim:
        tables |= _push_with_progress(cluster, chosen, model, progress, compute, accounting)
    tables["design_summary"] = design_summary(tables, chosen)
    record = provenance(
        resolved,
        calibration=model.describe(resolved.envoy.workload_certificate),
        computed_on=compute.describe() if pushsim else None,
    )
    if (
        len(cluster.virtual_services)
        or len(cluster.destination_rules)
        or len(cluster.service_entries)
        or cluster.istio.ignored
    ):
        record["istio_objects"] = istio_record(cluster)
    return RunResult(scenario=resolved, tables=tables, provenance=record), cluster


def scoping_what_if(
    scenario: ScenarioLike,
    *,
    designs: Sequence[str] | None = None,
    pushsim: bool = True,
    progress: bool | None = None,
    compute: Compute | None = None,
) -> pd.DataFrame:
    """What Sidecar scoping buys: run the mesh as given and the same mesh with each namespace's
    minimal Sidecar (egress hosts ``./*``, ``istio-system/*`` and what its workloads call; same seed
    and churn), and return per design and metric the figure as given, with Sidecars, ``saved`` and
    their ``ratio`` (:data:`dsim.whatif.COLUMNS`): config bytes per proxy (mean, p99), Envoy memory
    per proxy (mean, p99) and over the fleet, istiod CPU per full push, and, when the push model ran
    and pushed in both, bytes pushed per second and convergence p99 under churn. The scenario's own
    Sidecars stay in force where they apply (:mod:`dsim.whatif`). The same table as ``dsim.run`` of
    the scenario with ``what_if.sidecar_scoping`` on."""
    resolved, _ = _scenario_and_source(scenario)
    switched = dataclasses.replace(resolved, what_if=dataclasses.replace(resolved.what_if, sidecar_scoping=True))
    result = run(switched, designs=designs, pushsim=pushsim, progress=progress, compute=compute)
    return result.tables[SCOPING_TABLE]


def _push_with_progress(
    cluster: Cluster,
    designs: list[str],
    model: Calibration,
    progress: bool | None,
    compute: Compute,
    accounting: dict[str, DesignAccounting],
) -> dict[str, pd.DataFrame]:
    duration = cluster.scenario.churn.duration_s
    with progress_bar("push model", duration * len(designs), "sim s", show=progress) as bar:
        order = {name: i for i, name in enumerate(designs)}
        shown = [0.0]  # simulated seconds the bar has been told of, over all designs

        def reached(design: str, t: float) -> None:
            done = order[design] * duration + min(t, duration)
            bar.set_description_str(f"push model {design}", refresh=False)
            bar.update(done - shown[0])
            shown[0] = done

        tables = push_tables(cluster, designs, model, on_time=reached, compute=compute, accounting=accounting)
        bar.update(duration * len(designs) - shown[0])
    return tables


def default_output_parent(scenario: Scenario, root: str | Path = "results") -> Path:
    """``<root>/<scenario name>``: where :func:`default_output_folder` puts a run of ``scenario``."""
    return Path(root) / (scenario.name or "scenario")


def default_output_folder(result: RunResult, root: str | Path = "results") -> Path:
    """``<root>/<scenario name>/<UTC time>-<scenario hash prefix>``."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return default_output_parent(result.scenario, root) / f"{stamp}-{scenario_hash(result.scenario)[:8]}"
