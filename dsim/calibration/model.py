"""The calibrated cost model, as shipped data: Envoy memory, stats and config-apply CPU per
sidecar from its object counts, and istiod's generation CPU per xDS type from config bytes.

A calibration file (JSON) holds, per design, stats profile and workload certificate profile, one
linear fit per measured quantity (coefficients with confidence intervals, R², VIFs), the istiod
cost fit, and its provenance: Envoy version, date, machine, plan, the raw measurements file
beside it. Fits written before certificate profiles existed read as the legacy profile's. Since
the full plan's refit one fit serves every design of a stats profile, and certificate profiles
share every price but their own fixed part and cluster price
(:func:`dsim.calibration.calibrate.fit_calibration` says why).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsim.calibration.certificate_profiles import (
    CERTIFICATE_PROFILES,
    DEFAULT_CERTIFICATE_PROFILE,
    LEGACY_CERTIFICATE_PROFILE,
)
from dsim.calibration.fit import LinearFit
from dsim.errors import CalibrationError, UnknownNameError
from dsim.xds.vocabulary import CLUSTER_OBJECTS, ROUTE_ACTIONS

# What memory is fitted on: the objects Envoy instantiates. Every listener comes with its filter
# chains, and domains and locality groups follow virtual hosts and clusters, in every sidecar
# config; priced separately they are nearly collinear with those (their fitted costs swing sign
# between plans), so their cost is carried by the terms kept, which the held-out tests check.
MEMORY_TERMS = (
    "filter_chains",
    "clusters",
    "route_configurations",
    "virtual_hosts",
    "endpoints",
    "listener_additional_addresses",
    "endpoint_additional_addresses",
)
# Locality groups follow clusters in a one-zone mesh, so they are priced separately only when the
# measurements vary the zones (a ``zones`` column with more than one value: plans since zones
# were added); on older measurements their cost stays carried by the terms above.
ZONE_TERM = "locality_groups"


# Without VirtualServices every virtual host has one route (its service's default, or the
# catch-all) and none has a weighted cluster: routes are then the virtual hosts, priced together.
# Measurements of meshes with VirtualServices (routes differ from virtual hosts somewhere) price
# a route and a weighted cluster of their own, and the virtual host is priced through its routes:
# on the full plan a virtual host's own price beside them came out 0.44 KiB, interval 0.01 to 0.87
# under Istio's stats and 0.26 KiB, −0.34 to 0.86, under Envoy's (bench/calibration_report.py
# prints it, 2026-12-06): at the edge of what the measurements resolve, a tenth of what a route
# with its retry policy costs (4.3 KiB); every virtual host has a route.
CLUSTER_TERMS = tuple(t for t in CLUSTER_OBJECTS if t != "dns_clusters")
"""What a cluster holds, priced (:data:`dsim.xds.vocabulary.CLUSTER_OBJECTS`) where some measured
cluster held it. A DNS cluster is priced as the plaintext EDS cluster it replaces: its own price
against one, a few KiB less, stays beyond the shipping bound under Istio's stats (−1.9 KiB ±65% on
three meshes of 80 to 300 entries; ``bench/calibration_report.py`` prints it). A keepalive's socket
options (``keepalive_options``) are priced from the differences between the plan's ``KEEPALIVE_POINTS``
and the meshes they are twins of (:mod:`dsim.calibration.twins`), not fitted with the others."""
ROUTE_TERMS = ("routes", "weighted_clusters", "header_matchers", "regex_matchers")
"""A route, and what it holds (:data:`dsim.xds.routes.ROUTE_OBJECTS`): a fit prices those that vary."""
ROUTE_ACTION_TERMS = ROUTE_ACTIONS
"""What a route does beside forwarding (:data:`dsim.xds.vocabulary.ROUTE_ACTIONS`), priced where some
measured route did it: measurements taken before the plan had route actions fit without them. A retry
policy's retry priority (``retry_priorities``) is priced from the differences between the plan's
``RETRY_PRIORITY_POINTS`` and the meshes they are twins of (:mod:`dsim.calibration.twins`)."""
RETRY_TERM = "retry_policies"
"""A route's retry policy: every measured route that forwards to a service has one but on meshes whose
retries are off (the plan's ``RETRY_POINTS``), so it is priced only where such a mesh was measured
(:func:`memory_terms`); elsewhere its price is the route's."""
FAILOVER_TERM = "failover_priorities"
"""An endpoint set's priorities past the first (locality failover, docs/istio-objects.md 2.5): a host
set more each, in the main thread and every worker. Priced where some measured set failed over, from
the differences between the plan's ``FAILOVER_POINTS`` and their ``FAILOVER_BASES``
(:mod:`dsim.calibration.twins`); measurements taken before the plan had them fit without it."""
ACCESS_LOG_TERMS = ("access_logs", "access_log_operators")
"""An access log, and the command operators of its format (:mod:`dsim.xds.access_logs`): Envoy
builds a formatter for each operator of each log, so a log's price grows with its format. Priced
where some measured mesh had access logs."""


def memory_terms(measurements: pd.DataFrame) -> tuple[str, ...]:
    """The memory terms a fit of ``measurements`` prices: :data:`MEMORY_TERMS`; :data:`ZONE_TERM`
    when the measured meshes had different numbers of zones; :data:`ROUTE_TERMS` in place of
    ``virtual_hosts`` when some had VirtualServices (a virtual host with other than one route); each
    of :data:`CLUSTER_TERMS` some measured cluster held (a DestinationRule policy, a
    ServiceEntry's location, a keepalive's socket options) and each of :data:`ROUTE_ACTION_TERMS`
    some measured route did, the retry policy (:data:`RETRY_TERM`) only where some measured mesh had
    routes forwarding without one, and :data:`FAILOVER_TERM` where some measured endpoint set failed
    over. A fit prices those of :data:`dsim.calibration.twins.TWIN_TERMS`
    from twin meshes where it has them, the others on the meshes without them."""
    terms: tuple[str, ...] = MEMORY_TERMS
    if "zones" in measurements.columns and measurements["zones"].nunique() > 1:
        terms = (*terms, ZONE_TERM)
    if "routes" in measurements.columns and (measurements["routes"] != measurements["virtual_hosts"]).any():
        terms = (*(t for t in terms if t != "virtual_hosts"), *ROUTE_TERMS)
    held = (
        t
        for t in (*CLUSTER_TERMS, *ROUTE_ACTION_TERMS, *ACCESS_LOG_TERMS, FAILOVER_TERM)
        if t in measurements.columns and measurements[t].any() and (t != RETRY_TERM or _retries_off(measurements))
    )
    return (*terms, *held)


def _retries_off(measurements: pd.DataFrame) -> bool:
    """Whether some measured sidecar had more routes without a retry policy than route
    configurations: a configuration's catch-all is the one route that never has one, so only then
    did routes to services go without (retries off), and the retry policy's price comes apart from
    the route's (without, the two counts move together and a fit cannot tell them apart)."""
    needed = ("routes", RETRY_TERM, "route_configurations")
    if not all(c in measurements.columns for c in needed):
        return False
    bare = measurements["routes"] - measurements[RETRY_TERM]
    return bool((bare > measurements["route_configurations"]).any())


# What apply CPU is fitted on: clusters (Envoy builds a TLS context, load balancer and stats scope
# for each, and in a sidecar config the endpoints, chains and routes grow with them) and listener
# additional addresses. Finer terms, or config bytes beside clusters, are not separable in CPU
# time's noise: they come out with intervals straddling zero and flip sign between plans. An
# endpoint's additional address is below that noise too: on the full plan's measurements its price
# came out negative (−0.008 ms under Istio's stats, −0.012 under Envoy's, both intervals wholly
# below zero: bench/calibration_report.py prints them), which no object can cost, so it is priced
# at zero rather than let absorb what else moves with it.
CPU_TERMS = ("clusters", "listener_additional_addresses")
# What the workload certificate changes: each cluster's TLS context holds the certificate chain
# and key, so a cluster's price (memory and apply CPU) and the fixed part are the profile's own;
# a route, an endpoint or a filter chain costs the same under any certificate. A cluster without a
# TLS context saves what the profile's context holds, so its own price is the profile's too.
CERTIFICATE_TERMS = ("clusters", "plaintext_clusters")
# Measured quantity → (the column a prediction has in dsim's tables, the terms it is fitted on).
ENVOY_TARGETS = {
    "allocated_bytes": ("envoy_memory_bytes", MEMORY_TERMS),
    "heap_size_bytes": ("envoy_heap_bytes", MEMORY_TERMS),
    "stats": ("envoy_stats", MEMORY_TERMS),
    "apply_cpu_ms": ("envoy_apply_cpu_ms", CPU_TERMS),
}
SHIPPED = "envoy-1.40.json"
FILE_ROLES = ("calibration", "measurements", "timings")
"""The files of a calibration bundle (``provenance.files``): the model, its raw measurements and generator timings."""
CALIBRATION_ENV = "DSIM_CALIBRATION"


@dataclasses.dataclass(frozen=True, kw_only=True)
class IstiodCost:
    """istiod's CPU to generate and serialize one proxy's resources of one xDS type.

    Per type ``ms = go_cost_scale × ns_per_byte × bytes / 1e6``, plus the fit's intercept once per
    pushed proxy; the fit is of dsim's own generator (build + serialize, cold caches), the scale
    carries it to istiod's Go.
    """

    fit: LinearFit
    """dsim generator time per proxy (ns) on its config bytes (slope ``config_bytes``)."""
    go_cost_scale: float
    """Default ratio of istiod's Go cost to dsim's measured cost (scenario ``istiod.go_cost_scale``)."""
    go_reference: dict[str, Any]
    """The published Go measurement the scale is anchored to, and the reasoning."""

    @property
    def ns_per_byte(self) -> float:
        """dsim's generator nanoseconds per config byte (any xDS type)."""
        slope = self.fit.slope("config_bytes")
        if slope is None:
            raise CalibrationError("the calibration's istiod fit has no config_bytes term")
        return slope.estimate


@dataclasses.dataclass(frozen=True, kw_only=True)
class Calibration:
    """A fitted cost model and where it came from."""

    source: str
    """Where it was loaded from (file name), for provenance."""
    provenance: dict[str, Any]
    """Envoy version, date, machine, plan, measurements file, concurrency, dsim version."""
    envoy: dict[tuple[str, str, str, str], LinearFit]
    """(design, stats profile, workload certificate profile, measured quantity) → fit."""
    istiod: IstiodCost

    def describe(self, certificate: str | None = None) -> str:
        """One line for provenance: file, Envoy version, date (and the latest completion's), plan,
        machine, the certificate profiles measured; with ``certificate`` (a run's ``envoy.workload_certificate``), which
        profile's coefficients price it."""
        p = self.provenance
        completed = p.get("completed") or []
        # A completion refits the whole model: its time tells two fits of one first campaign apart
        # (a sweep keys its cached points on this line).
        latest = f", completed {completed[-1].get('created_utc')}" if completed else ""
        text = (
            f"{self.source} (Envoy {p.get('envoy_version')}, {p.get('created_utc')}{latest}, plan {p.get('plan')}, "
            f"concurrency {p.get('envoy_concurrency')}, {p.get('machine', {}).get('cpu_model')}; "
            f"certificate profiles measured: {', '.join(self.certificates)})"
        )
        return text if certificate is None else f"{text}; {self.certificate_note(certificate)}"

    def certificate_note(self, certificate: str) -> str:
        """Which profile's coefficients price a run asking for ``certificate``, in words."""
        used = self.certificate_for(certificate)
        if used == certificate:
            return f"workload certificate {certificate}, priced with its own coefficients"
        return (
            f"workload certificate {certificate}, priced with {used}'s coefficients: this calibration has no "
            f"{certificate} measurements (run `dsim calibrate` to measure it)"
        )

    @property
    def certificates(self) -> tuple[str, ...]:
        """The workload certificate profiles measured, in :data:`CERTIFICATE_PROFILES` order."""
        present = {c for _, _, c, _ in self.envoy}
        return tuple(c for c in CERTIFICATE_PROFILES if c in present) + tuple(
            sorted(present - set(CERTIFICATE_PROFILES))
        )

    def certificate_for(self, certificate: str | None) -> str:
        """The certificate profile whose coefficients price ``certificate`` (``None``: Istio's
        default): itself when measured, else Istio's default when measured, else the first
        profile measured. Callers say so when it is not the one asked for
        (:meth:`certificate_note`)."""
        wanted = certificate or DEFAULT_CERTIFICATE_PROFILE
        if wanted not in CERTIFICATE_PROFILES:
            raise UnknownNameError("certificate profile", wanted, CERTIFICATE_PROFILES)
        measured = self.certificates
        if wanted in measured:
            return wanted
        return DEFAULT_CERTIFICATE_PROFILE if DEFAULT_CERTIFICATE_PROFILE in measured else measured[0]

    @property
    def designs(self) -> tuple[str, ...]:
        return tuple(sorted({d for d, _, _, _ in self.envoy}))

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(sorted({p for _, p, _, _ in self.envoy}))

    def envoy_fit(self, design: str, profile: str, target: str, certificate: str | None = None) -> LinearFit:
        """The fit of ``target`` for a design, stats profile and workload certificate profile
        (``None``: Istio's default), falling back as :meth:`certificate_for` says."""
        if design not in self.designs:
            raise CalibrationError(
                f"design {design!r} is not in the calibration {self.source} "
                f"(it has {', '.join(self.designs)}); run `dsim calibrate` to include it"
            )
        if profile not in self.profiles:
            raise UnknownNameError("stats profile", profile, self.profiles)
        used = self.certificate_for(certificate)
        key = (design, profile, used, target)
        if key not in self.envoy:
            raise CalibrationError(
                f"the calibration {self.source} has no {design} / {profile} fit under certificate profile {used}"
            )
        return self.envoy[key]

    def fitted_designs(self, design: str, profile: str, target: str, certificate: str | None = None) -> tuple[str, ...]:
        """The designs whose measurements the fit of ``design`` was made from: every design that
        has the same fit (one fit serves every design since the full plan's refit), else itself."""
        fit = self.envoy_fit(design, profile, target, certificate)
        used = self.certificate_for(certificate)
        return tuple(
            sorted(
                d for (d, p, c, t), other in self.envoy.items() if (p, c, t) == (profile, used, target) and other == fit
            )
        )

    def predict_envoy(
        self, counts: pd.DataFrame, design: str, profile: str, certificate: str | None = None
    ) -> pd.DataFrame:
        """Per row of ``counts`` (object counts per proxy): predicted memory, heap, stats and apply
        CPU, under ``certificate`` (as :meth:`envoy_fit` resolves it)."""
        out = pd.DataFrame(index=counts.index)
        for target, (column, _) in ENVOY_TARGETS.items():
            value = self.envoy_fit(design, profile, target, certificate).predict(counts)
            out[column] = np.rint(value).astype(np.int64) if target != "apply_cpu_ms" else value.round(3)
        return out

    def to_json(self) -> str:
        data = {
            "provenance": self.provenance,
            "envoy": [
                {"design": d, "stats_profile": p, "certificate_profile": c, "fit": fit.to_dict()}
                for (d, p, c, _), fit in sorted(self.envoy.items())
            ],
            "istiod": {
                "fit": self.istiod.fit.to_dict(),
                "go_cost_scale": self.istiod.go_cost_scale,
                "go_reference": self.istiod.go_reference,
            },
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @staticmethod
    def from_json(text: str, *, source: str) -> Calibration:
        try:
            data = json.loads(text)
            envoy = {}
            for entry in data["envoy"]:
                fit = LinearFit.from_dict(entry["fit"])
                # Fits written before certificate profiles were measured under the legacy one.
                certificate = entry.get("certificate_profile", LEGACY_CERTIFICATE_PROFILE)
                envoy[(entry["design"], entry["stats_profile"], certificate, fit.target)] = fit
            istiod = IstiodCost(
                fit=LinearFit.from_dict(data["istiod"]["fit"]),
                go_cost_scale=float(data["istiod"]["go_cost_scale"]),
                go_reference=dict(data["istiod"]["go_reference"]),
            )
            return Calibration(source=source, provenance=dict(data["provenance"]), envoy=envoy, istiod=istiod)
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as e:
            raise CalibrationError(f"{source}: not a dsim calibration file ({type(e).__name__}: {e})") from None


_NAMED_SIZE = r"^s(\d+)-"  # a plan point's name starts with its service count


def with_plan_columns(measurements: pd.DataFrame) -> pd.DataFrame:
    """``measurements`` with the columns older files lack, filled with what those were measured
    with: ``certificate_profile`` the legacy profile (an EC P-256 leaf without the root: what
    :mod:`dsim.calibration.secrets` served then), ``zones`` 1, ``services`` from the point's name,
    ``memory_read_s`` unknown (memory was read as soon as it settled, before the first stats
    flush for most configs)."""
    frame = measurements.copy()
    if "certificate_profile" not in frame:
        frame["certificate_profile"] = LEGACY_CERTIFICATE_PROFILE
    if "zones" not in frame:
        frame["zones"] = 1
    if "services" not in frame and "point" in frame:
        frame["services"] = pd.to_numeric(frame["point"].astype(str).str.extract(_NAMED_SIZE)[0], errors="coerce")
    if "memory_read_s" not in frame:
        frame["memory_read_s"] = np.nan
    return frame


def bundle_names(calibration: Calibration) -> dict[str, str]:
    """The bundle's file names (``provenance.files``), each a plain name of a file in its folder.

    They come from the calibration file, so from anyone: a path (``/etc/…``, ``../…``,
    ``sub/…``) would make dsim read, and a refit write, outside the bundle's folder.
    """
    files = calibration.provenance.get("files")
    names = {}
    for role in FILE_ROLES:
        name = files.get(role) if isinstance(files, dict) else None
        where = f"{calibration.source}: provenance.files.{role}"
        if not isinstance(name, str):
            raise CalibrationError(f"{where}: missing (the name of the bundle's {role} file)")
        if name in ("", ".", "..") or Path(name).name != name:
            raise CalibrationError(f"{where}: {name!r} is not a plain file name (no folder, no '..')")
        names[role] = name
    return names


def bundle_file(folder: Path, calibration: Calibration, role: str) -> Path:
    """The bundle's ``role`` file in ``folder``, refused if it is missing or, through a symbolic
    link, is a file outside ``folder``."""
    path = folder / bundle_names(calibration)[role]
    where = f"{calibration.source}: provenance.files.{role}"
    if not path.is_file():
        raise CalibrationError(f"{where}: {path}: no such file")
    if path.resolve().parent != folder.resolve():
        raise CalibrationError(f"{where}: {path} is a link to {path.resolve()}, outside the folder {folder}")
    return path


def read_bundle_table(folder: Path, calibration: Calibration, role: str, required: Iterable[str]) -> pd.DataFrame:
    """The bundle's ``role`` CSV table in ``folder`` (as :func:`bundle_file` finds it), refused in
    one line when it is no CSV table or lacks a ``required`` column."""
    path = bundle_file(folder, calibration, role)
    try:
        table = pd.read_csv(path)
    # pandas' ParserError and EmptyDataError, and UnicodeDecodeError, are ValueErrors
    except (ValueError, OSError) as e:
        raise CalibrationError(f"{path}: not a CSV table ({type(e).__name__}: {e})") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise CalibrationError(f"{path}: no column {', '.join(missing)} (the fit needs them)")
    return table


def shipped_path() -> Path:
    """The calibration file that ships in the package."""
    return Path(str(resources.files("dsim.calibration").joinpath("data", SHIPPED)))


@functools.lru_cache(maxsize=8)
def _load(path: str, version: tuple[int, int]) -> Calibration:
    file = Path(path)
    return Calibration.from_json(file.read_text(), source=file.name if file == shipped_path() else str(file))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """A calibration file: ``path``, else ``$DSIM_CALIBRATION``, else the shipped one. Kept once
    read, until the file changes (``dsim calibrate --out`` may replace it in the same process)."""
    file = Path(path or os.environ.get(CALIBRATION_ENV) or shipped_path())
    if not file.is_file():
        raise CalibrationError(f"{file}: no such calibration file")
    stat = file.stat()
    return _load(str(file), (stat.st_mtime_ns, stat.st_size))
