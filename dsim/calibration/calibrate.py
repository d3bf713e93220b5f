"""``dsim calibrate``: measure the real Envoy on a plan, time dsim's generator, fit, write.

Writes three files: the calibration (``envoy-<major.minor>.json``), the raw Envoy measurements
and the generator timings (CSV) it was fitted on, so anyone can refit or question it. A fit whose
term intervals are wider than :data:`MAX_RELATIVE_HALF_WIDTH` allows is not written over the
package's shipped calibration (:func:`interval_failures`).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsim.calibration import model
from dsim.calibration.campaign import run_campaign
from dsim.calibration.fit import LinearFit, fit_grouped
from dsim.calibration.istiod_cost import (
    BYTE_COLUMNS,
    GO_REFERENCE,
    fit_generator_cost,
    generator_timings,
    go_cost_scale,
)
from dsim.calibration.live_envoy import STATS_PROFILES
from dsim.calibration.measure import STATS_FLUSH_INTERVAL_S
from dsim.calibration.model import (
    CERTIFICATE_TERMS,
    ENVOY_TARGETS,
    MEMORY_TERMS,
    Calibration,
    IstiodCost,
    bundle_names,
    load_calibration,
    memory_terms,
    read_bundle_table,
    with_plan_columns,
)
from dsim.calibration.plan import PLANS
from dsim.calibration.twins import twin_price, twinned_terms, without_twins
from dsim.designs import design_names
from dsim.errors import CalibrationError, DsimError, UnknownNameError
from dsim.files import write_text_atomically
from dsim.provenance import dsim_version, git_revision
from dsim.xds.envoy import envoy_binary


def envoy_version(binary: Path) -> str:
    """``1.40.0`` from ``envoy --version``."""
    text = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    found = re.search(r"/(\d+\.\d+\.\d+)/", text)
    return found.group(1) if found else "unknown"


def machine() -> dict[str, Any]:
    """What the measurements ran on."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


REQUIRED_COLUMNS = {
    "measurements": sorted(
        {"design", "stats_profile", *ENVOY_TARGETS, *(term for _, terms in ENVOY_TARGETS.values() for term in terms)}
    ),
    "timings": [*BYTE_COLUMNS, "generate_ns"],
}


def file_names(version: str) -> dict[str, str]:
    stem = "envoy-" + ".".join(version.split(".")[:2])
    return {
        "calibration": f"{stem}.json",
        "measurements": f"{stem}-measurements.csv",
        "timings": f"{stem}-generator-timings.csv",
    }


def fit_calibration(measurements: pd.DataFrame, timings: pd.DataFrame, provenance: dict[str, Any]) -> Calibration:
    """The model from raw measurements (deterministic: the same files give the same model).

    One fit per stats profile and measured quantity, over every design's measurements at once:
    Envoy allocates for a cluster, a route or an endpoint the same whichever design put it there,
    and an empty config is the same in every design; the designs differ in how many objects they
    make, which the counts carry. Fitted design by design, each design got its own fixed part and
    prices from a quarter of the data, and prices that differed between designs for no reason in
    Envoy (the report then attributed memory to "its own calibration measured these objects
    cheaper"). Within it, each certificate profile has its own fixed part and its own price of
    :data:`CERTIFICATE_TERMS`; the other prices are shared, so the profiles measured on a dozen
    meshes are priced with every mesh's help (fitted alone, 12 meshes cannot price 8 terms).
    Each measurement is weighted by 1 / value² (:mod:`dsim.calibration.fit`): the fit minimises
    relative error, which is what a prediction is judged by, so small sidecars are not traded for
    the largest meshes' bytes.
    """
    frame = with_plan_columns(measurements)
    envoy = {}
    for profile, rows in frame.groupby("stats_profile", sort=True):
        measured = rows[["design", "certificate_profile"]].drop_duplicates()
        twinned = twinned_terms(rows)
        for target, (_, terms) in ENVOY_TARGETS.items():
            used = memory_terms(rows) if terms == MEMORY_TERMS else terms
            fits = _fit_with_twins(rows, target, used, twinned)
            for design, certificate in measured.itertuples(index=False):
                envoy[(str(design), str(profile), str(certificate), target)] = fits[str(certificate)]
    generator = fit_generator_cost(timings)
    istiod = IstiodCost(fit=generator, go_cost_scale=go_cost_scale(generator), go_reference=dict(GO_REFERENCE))
    return Calibration(source=provenance["files"]["calibration"], provenance=provenance, envoy=envoy, istiod=istiod)


def _fit_with_twins(
    rows: pd.DataFrame, target: str, used: Sequence[str], twinned: Sequence[str]
) -> dict[str, LinearFit]:
    """Per certificate profile, the fit of ``target`` on the ``used`` terms, each certificate profile
    with its own fixed part and price of :data:`CERTIFICATE_TERMS`.

    The ``twinned`` terms (:func:`dsim.calibration.twins.twinned_terms`) are priced from their twin
    meshes alone (:func:`twin_price`) and every other term, whatever the target, on the measurements
    without them: a twin repeats its mesh, so fitted again it would count that mesh twice and move
    every other price."""
    known = [twin_price(rows, target, t) for t in twinned if t in used]
    fits = fit_grouped(
        without_twins(rows, twinned),
        target,
        [t for t in used if t not in twinned],
        group="certificate_profile",
        group_terms=CERTIFICATE_TERMS,
        relative=True,
    )
    return {g: dataclasses.replace(fit, slopes=(*fit.slopes, *known)) for g, fit in fits.items()}


def calibrate(
    plan: str,
    *,
    designs: Sequence[str] | None = None,
    profiles: Sequence[str] = STATS_PROFILES,
    concurrency: int = 2,
    on_row: Callable[[dict[str, object], int, int], None] | None = None,
) -> tuple[Calibration, pd.DataFrame, pd.DataFrame]:
    """Run a plan (``quick`` or ``full``) on the real Envoy: the model, measurements, timings."""
    if plan not in PLANS:
        raise UnknownNameError("calibration plan", plan, tuple(PLANS))
    for profile in profiles:
        if profile not in STATS_PROFILES:
            raise UnknownNameError("stats profile", profile, STATS_PROFILES)
    if concurrency < 1:
        raise DsimError(f"--concurrency {concurrency}: Envoy needs at least 1 worker thread")
    chosen = list(designs or design_names())
    for name in chosen:
        if name not in design_names():
            raise UnknownNameError("design", name, design_names())
    binary = envoy_binary()
    version = envoy_version(binary)
    the_plan = PLANS[plan]()
    measurements = run_campaign(
        the_plan, designs=chosen, profiles=profiles, concurrency=concurrency, binary=binary, on_row=on_row
    )
    # Points that differ only in certificate profile are the same mesh: time its generator once.
    meshes = tuple({p.mesh_name: p for p in reversed(the_plan.points)}.values())[::-1]
    timings = generator_timings(dataclasses.replace(the_plan, points=meshes), chosen)
    names = file_names(version)
    provenance = {
        "envoy_version": version,
        "envoy_binary": binary.name,
        "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "plan": plan,
        "plan_points": len(the_plan.points),
        "repeats": the_plan.repeats,
        "envoy_concurrency": concurrency,
        "delivery": "ADS state of the world from an in-process gRPC server on 127.0.0.1; SDS certificates",
        "memory": (
            "tcmalloc allocated bytes from /memory once the config is live, Envoy's first stats flush has "
            f"happened (stats flush interval {STATS_FLUSH_INTERVAL_S:g} s) and memory settled "
            "(memory_read_s: seconds after LIVE)"
        ),
        "certificate_profiles": sorted({p.certificate for p in the_plan.points}),
        "cpu": "sum of the process's threads' CPU time (/proc/<pid>/task/*/schedstat) from first response to live",
        "dsim_version": dsim_version(),
        "git_revision": git_revision(),
        "files": names,
    }
    return fit_calibration(measurements, timings, provenance), measurements, timings


# What a fit must meet to replace the shipped calibration. A term's 95% interval may be at most
# ±50% of its estimate: then the price is known to within a factor of three and its sign is
# certain, where today's unidentified terms (an additional address whose count moves with the
# endpoints' or the listeners') span zero. An object that costs (almost) nothing cannot meet a
# relative bound, so a term also passes when its whole interval, at the largest count the plan
# measured, moves the prediction by at most 1% of the median measured value: immaterial to any
# config inside the plan's range. Checked on what runs predict from, memory (allocated bytes) and
# apply CPU; heap size moves in tcmalloc's page-heap steps and stats are counted exactly.
MAX_RELATIVE_HALF_WIDTH = 0.5
IMMATERIAL_SHARE = 0.01
CHECKED_TARGETS = ("allocated_bytes", "apply_cpu_ms")
FAILURE_COLUMNS = [
    "design",
    "stats_profile",
    "certificate_profile",
    "target",
    "term",
    "estimate",
    "half_width",
    "relative_half_width",
    "vif",
]


def interval_failures(calibration: Calibration, measurements: pd.DataFrame) -> pd.DataFrame:
    """The terms (slopes) of the checked fits whose intervals are wider than the bound above."""
    frame = with_plan_columns(measurements)
    rows = []
    for (design, profile, certificate, target), fit in sorted(calibration.envoy.items()):
        if target not in CHECKED_TARGETS:
            continue
        # A fit serving several designs (the same fit under each) is judged on all their measurements.
        designs = calibration.fitted_designs(design, profile, target, certificate)
        measured = frame[
            frame["design"].isin(designs)
            & (frame["stats_profile"] == profile)
            & (frame["certificate_profile"] == certificate)
        ]
        if measured.empty:
            continue
        typical = float(measured[target].abs().median())
        for slope in fit.slopes:
            half = (slope.ci_high - slope.ci_low) / 2
            relative = half / abs(slope.estimate) if slope.estimate else float("inf")
            largest = float(measured[slope.name].abs().max())
            if relative <= MAX_RELATIVE_HALF_WIDTH or half * largest <= IMMATERIAL_SHARE * typical:
                continue
            rows.append(
                {
                    "design": "(pooled)" if len(designs) > 1 else design,
                    "stats_profile": profile,
                    "certificate_profile": certificate,
                    "target": target,
                    "term": slope.name,
                    "estimate": slope.estimate,
                    "half_width": half,
                    "relative_half_width": relative,
                    "vif": slope.vif,
                }
            )
    # One fit serves every design: reported once.
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS).drop_duplicates(ignore_index=True)


def check_identified(calibration: Calibration, measurements: pd.DataFrame) -> None:
    """Refuse (one line naming every failing term) a fit with terms :func:`interval_failures` finds."""
    failures = interval_failures(calibration, measurements)
    if failures.empty:
        return
    listed = "; ".join(
        f"{r.design}/{r.stats_profile}/{r.certificate_profile} {r.target} {r.term} "
        f"{r.estimate:.4g} ± {r.half_width:.3g} ({r.relative_half_width:.0%}"
        + (f", VIF {r.vif:.1f})" if isinstance(r.vif, float) and not np.isnan(r.vif) else ")")
        for r in failures.itertuples()
    )
    raise CalibrationError(
        f"not replacing the shipped calibration: {len(failures)} term(s) have 95% intervals wider than "
        f"±{MAX_RELATIVE_HALF_WIDTH:.0%} of the estimate and move the prediction by more than "
        f"{IMMATERIAL_SHARE:.0%} at the plan's largest count: {listed}; write it elsewhere (--out DIR) to study it"
    )


def is_shipped_folder(folder: Path) -> bool:
    """Whether ``folder`` is where the package's shipped calibration lives."""
    return folder.resolve() == model.shipped_path().parent.resolve()


def write_calibration(
    folder: Path, calibration: Calibration, measurements: pd.DataFrame, timings: pd.DataFrame
) -> Path:
    """Write the three files into ``folder`` (created if needed); each file appears whole or not
    at all. Into the shipped calibration's folder only a fit :func:`check_identified` accepts."""
    if is_shipped_folder(folder):
        check_identified(calibration, measurements)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent on the way is a file, or not writable
        raise DsimError(f"{folder}: cannot create the folder ({e.strerror}: {e.filename})") from None
    names = bundle_names(calibration)
    contents = {
        names["measurements"]: measurements.to_csv(index=False, lineterminator="\n"),
        names["timings"]: timings.to_csv(index=False, lineterminator="\n"),
        names["calibration"]: calibration.to_json(),  # last: a model never points at missing data
    }
    for name, text in contents.items():
        write_text_atomically(folder / name, text)
    return folder / names["calibration"]


def load_measurements(folder: Path, calibration: Calibration) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw files a calibration names, from ``folder`` (and only from there)."""
    measurements = read_bundle_table(folder, calibration, "measurements", REQUIRED_COLUMNS["measurements"])
    return measurements, read_bundle_table(folder, calibration, "timings", REQUIRED_COLUMNS["timings"])


def refit(path: Path) -> tuple[Calibration, pd.DataFrame, pd.DataFrame]:
    """Fit again, with this dsim's model, the measurements a calibration file was made from
    (no Envoy runs): the model, measurements, timings. The measurement provenance is kept and the
    refit is recorded."""
    previous = load_calibration(path)
    measurements, timings = load_measurements(path.parent, previous)
    provenance = {k: v for k, v in previous.provenance.items() if k != "refit"}
    provenance["refit"] = {"dsim_version": dsim_version(), "git_revision": git_revision()}
    return fit_calibration(measurements, timings, provenance), measurements, timings


def _backfilled(measurements: pd.DataFrame, points: dict[str, Any]) -> pd.DataFrame:
    """``measurements`` with the object counts dsim counts now but did not when they were taken
    (columns of :data:`dsim.calibration.campaign.MEASUREMENT_COLUMNS` they lack), recounted from
    each row's plan point (known before Envoy runs: counts depend on the mesh and design alone)."""
    from dsim.calibration.campaign import MEASUREMENT_COLUMNS
    from dsim.calibration.plan import point_facts
    from dsim.xds.vocabulary import COUNT_COLUMNS

    missing = [c for c in COUNT_COLUMNS if c not in measurements.columns]
    if not missing:
        return measurements
    unknown = sorted(set(measurements["point"]) - set(points))
    if unknown:
        raise CalibrationError(
            f"the measurements lack the counts {', '.join(missing)} and their points {', '.join(unknown[:3])} "
            "are not in the plan, so they cannot be recounted"
        )
    facts = pd.concat(
        [point_facts(points[name]).assign(point=name) for name in sorted(set(measurements["point"]))],
        ignore_index=True,
    )[["point", "design", *missing]]
    filled = measurements.merge(facts, on=["point", "design"], how="left", validate="many_to_one")
    return filled[[c for c in MEASUREMENT_COLUMNS if c in filled.columns]]


def complete(
    path: Path,
    *,
    concurrency: int = 2,
    on_row: Callable[[dict[str, object], int, int], None] | None = None,
) -> tuple[Calibration, pd.DataFrame, pd.DataFrame]:
    """Measure the full plan's points the bundle beside ``path`` lacks (a plan grown since, or a
    campaign cut short), under the designs and stats profiles it has, add them to its
    measurements and generator timings (counts dsim added since are recounted for the older rows),
    and fit again: the model, measurements, timings. The provenance keeps the first campaign's
    and records what was added, when and on which Envoy."""
    previous = load_calibration(path)
    measurements, timings = load_measurements(path.parent, previous)
    plan = PLANS["full"]()
    by_name = {p.name: p for p in plan.points}
    missing = tuple(p for p in plan.points if p.name not in set(measurements["point"]))
    if not missing:
        raise CalibrationError(
            f"{path}: its measurements have every point of the full plan; nothing to measure "
            "(`dsim calibrate --refit` fits them again)"
        )
    designs = sorted(set(measurements["design"]))
    profiles = sorted(set(measurements["stats_profile"]))
    binary = envoy_binary()
    version = envoy_version(binary)
    if version != previous.provenance.get("envoy_version"):
        raise CalibrationError(
            f"{path}: measured on Envoy {previous.provenance.get('envoy_version')}, this machine has {version}; "
            "measurements of two Envoy versions are not one calibration (run `dsim calibrate` afresh)"
        )
    added = run_campaign(
        dataclasses.replace(plan, points=missing),
        designs=designs,
        profiles=profiles,
        concurrency=concurrency,
        binary=binary,
        on_row=on_row,
    )
    meshes = tuple({p.mesh_name: p for p in reversed(missing)}.values())[::-1]
    timed = set(timings["point"]) if "point" in timings else set()
    new_meshes = tuple(p for p in meshes if p.name not in timed)
    new_timings = generator_timings(dataclasses.replace(plan, points=new_meshes), designs)
    merged = pd.concat([_backfilled(measurements, by_name), added], ignore_index=True)
    provenance = {k: v for k, v in previous.provenance.items() if k != "refit"}
    provenance["plan_points"] = len(plan.points)
    provenance["completed"] = [
        *previous.provenance.get("completed", []),
        {
            "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "points": [p.name for p in missing],
            "envoy_version": version,
            "machine": machine(),
            "dsim_version": dsim_version(),
            "git_revision": git_revision(),
        },
    ]
    all_timings = pd.concat([timings, new_timings], ignore_index=True)
    return fit_calibration(merged, all_timings, provenance), merged, all_timings
