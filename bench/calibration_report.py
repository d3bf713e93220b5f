"""The calibrated Envoy model: its coefficients, whether each is identified, whether prices drift
with mesh size, and how well it predicts configs it never saw.

Prints, in one run:
1. per design, stats profile and certificate profile, the fitted cost of one more object
   (memory bytes and config-apply CPU ms) with 95% confidence intervals, R², and each term's
   variance inflation factor (VIF), from the calibration in use (the shipped one, or
   ``$DSIM_CALIBRATION``; a calibration written before VIFs were recorded gets them by fitting
   its measurements again);
2. the terms whose intervals are wider than ``dsim calibrate`` accepts for shipping
   (:func:`dsim.calibration.calibrate.interval_failures`);
3. per-object memory prices by mesh-size band (:func:`dsim.calibration.tables.price_by_band`);
4. istiod's generation-cost fit and its Go scale;
5. what the model's choices buy, on the same measurements (no Envoy; as the fit, on the meshes
   without a twin term): the VirtualService meshes'
   error when routes are not priced, a virtual host's own price beside its routes, an endpoint
   additional address's apply-CPU price, the DestinationRule-policy and ServiceEntry meshes'
   error when what a cluster holds is not priced, a cluster with and without a TLS context per
   certificate profile, the DISABLE and ServiceEntry meshes' residuals (one price for a cluster
   without TLS, whatever made it so), the connection-pool meshes' residual (a pool adds no object, so no term),
   a DNS cluster's own price if priced, and the generator's fixed part from one line over every
   timing; and per mesh keepalive setting, what a cluster's keepalive measured on the plan's twin
   meshes beside what the one price per socket option gives it, and per retry-priority and
   failover twin mesh what a route's retry priority and an endpoint set's priority past the first
   measured beside its price;
6. held-out errors: a fresh real-Envoy measurement of configs no fit used (the quickstart
   scenario's first sidecar, the meshes of ``HELD_OUT_POINTS`` and, unless ``--no-scale``, the
   2,000-service ``HELD_OUT_SCALE_POINT``) against the prediction, for memory and apply CPU, per
   design, stats profile and certificate profile (naming the profile whose coefficients priced
   it); and each design's measured and predicted memory as a ratio to ``single-stack``;
7. what a consistent-hash ring costs on a cluster with and without TLS, measured (why the plan
   keeps the two apart).
Run: ``python bench/calibration_report.py [--profiles istio,envoy-default] [--certificates A,B]
[--no-scale] [--no-measure]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

import dsim
from dsim.calibration.calibrate import fit_calibration, interval_failures, load_measurements
from dsim.calibration.campaign import config_facts
from dsim.calibration.fit import fit_grouped, fit_linear
from dsim.calibration.istiod_cost import BYTE_COLUMNS
from dsim.calibration.measure import measure
from dsim.calibration.model import (
    CERTIFICATE_TERMS,
    CPU_TERMS,
    RETRY_TERM,
    ROUTE_ACTION_TERMS,
    ROUTE_TERMS,
    load_calibration,
    memory_terms,
    shipped_path,
    with_plan_columns,
)
from dsim.calibration.plan import (
    HELD_OUT_POINTS,
    HELD_OUT_SCALE_POINT,
    KEEPALIVE_POINTS,
    MESH_KEEPALIVES,
    POLICY_POINTS,
)
from dsim.calibration.tables import coefficient_table, price_by_band
from dsim.calibration.twins import twin_pairs, without_twins
from dsim.interrupts import stop_cleanly
from dsim.xds.envoy import envoy_binary
from dsim.xds.vocabulary import CLUSTER_OBJECTS

ROOT = Path(__file__).resolve().parent.parent


def _bundle_folder(calibration: dsim.Calibration) -> Path:
    shipped = shipped_path()
    return shipped.parent if calibration.source == shipped.name else Path(calibration.source).parent


def with_vifs(calibration: dsim.Calibration, measurements: pd.DataFrame) -> dsim.Calibration:
    """``calibration``, or, when it records no VIFs, the same fits again from its measurements
    (which carry them)."""
    if any(s.vif is not None for fit in calibration.envoy.values() for s in fit.slopes):
        return calibration
    print("(this calibration records no VIFs: they come from fitting its measurements again)")
    _, timings = load_measurements(_bundle_folder(calibration), calibration)
    return fit_calibration(measurements, timings, calibration.provenance)


def coefficients(calibration: dsim.Calibration) -> None:
    table = coefficient_table(calibration, shared=True)
    keys = ["design", "stats_profile", "certificate_profile"]
    for target, unit, scale in (("allocated_bytes", "KiB", 1 / 1024), ("apply_cpu_ms", "ms", 1.0)):
        rows = table[table["target"] == target].copy()
        rows["value"] = [
            f"{e * scale:9.2f} [{lo * scale:8.2f}, {hi * scale:8.2f}]" + ("" if pd.isna(v) else f" VIF {v:5.1f}")
            for e, lo, hi, v in zip(rows["estimate"], rows["ci_low"], rows["ci_high"], rows["vif"], strict=True)
        ]
        wide = rows.pivot(index=keys, columns="term", values="value")
        r2 = rows.groupby(keys)["r_squared"].first().round(4)
        print(f"\n{target} per object, {unit} (estimate [95% CI] VIF); R² per fit")
        print(wide.assign(r_squared=r2).to_string())


def vif_table(calibration: dsim.Calibration) -> None:
    table = coefficient_table(calibration, shared=True)
    rows = table[(table["target"] == "allocated_bytes") & (table["term"] != "intercept")]
    wide = rows.pivot_table(index="term", columns=["design", "stats_profile", "certificate_profile"], values="vif")
    print("\nvariance inflation factor of each memory term (1 = varied independently; above 10 = poorly identified)")
    print(wide.round(1).to_string())
    twins = sorted(set(rows.loc[rows["vif"].isna(), "term"]))
    if twins:
        print(f"(no VIF: {', '.join(twins)}, priced from twin meshes alone, dsim/calibration/twins.py)")


def identification(calibration: dsim.Calibration, measurements: pd.DataFrame) -> None:
    failures = interval_failures(calibration, measurements)
    if failures.empty:
        print("\nevery term's interval is within the bound `dsim calibrate` ships under")
        return
    print(f"\n{len(failures)} term(s) with intervals wider than `dsim calibrate` ships (it would refuse this fit):")
    print(failures.round(3).to_string(index=False))


def drift(calibration: dsim.Calibration, measurements: pd.DataFrame) -> None:
    # A twin repeats its mesh: a band would count that mesh twice.
    bands = price_by_band(calibration, without_twins(with_plan_columns(measurements)))
    if bands.empty:
        return
    bands = bands[bands["stats_profile"] == "istio"]
    bands["price"] = [
        f"{e / 1024:8.2f} [{lo / 1024:8.2f}, {hi / 1024:8.2f}]" if term != "intercept" else f"{e / 2**20:8.2f} MiB"
        for e, lo, hi, term in zip(
            bands["band_estimate"], bands["band_ci_low"], bands["band_ci_high"], bands["term"], strict=True
        )
    ]
    keys = ["design", "certificate_profile", "band", "meshes", "measured_over_predicted"]
    wide = bands.pivot_table(index=keys, columns="term", values="price", aggfunc="first")
    print(
        "\nmemory per object by mesh-size band, KiB (istio stats; the band's own price [95% CI] of clusters "
        "and endpoints, other terms at their all-sizes price; measured/predicted = the all-sizes fit's mean ratio)"
    )
    print(wide.to_string())


def ring_on_plaintext(profiles: list[str]) -> None:
    """Why the plan keeps consistent hashing off clusters without TLS: one 300-service mesh (half
    the services with a rule of one host each), measured plain, with the rules' ``tls.mode:
    DISABLE``, with their consistent hash, and with both; single-stack, Istio's default certificate."""
    binary = envoy_binary()
    base = next(p for p in POLICY_POINTS if p.services == 300 and p.dr_policy == "disable")
    base = dataclasses.replace(base, dr_subsets=0)
    print("\nconsistent hash with and without TLS (the 300-service policy mesh, single-stack): KiB per cluster")
    for profile in profiles:
        memory = {}
        for policy in ("", "disable", "ring_hash", "disable+ring_hash"):
            point = dataclasses.replace(base, dr_policy=policy or "pool", dr_share=0.5 if policy else 0.0)
            config = dsim.generate(point.cluster(), 0, "single-stack")
            memory[policy] = measure(config, profile=profile, concurrency=2, binary=binary).allocated_bytes
        ruled = round(base.dr_share * base.services)
        print(
            f"  {profile}: no TLS saves {(memory[''] - memory['disable']) / ruled / 1024:.1f}; a ring adds "
            f"{(memory['ring_hash'] - memory['']) / ruled / 1024:.1f} with TLS, "
            f"{(memory['disable+ring_hash'] - memory['disable']) / ruled / 1024:.1f} without"
        )


def held_out(calibration: dsim.Calibration, profiles: list[str], certificates: list[str], scale: bool) -> pd.DataFrame:
    binary = envoy_binary()
    targets = [("quickstart sidecar 0", dsim.build_cluster(ROOT / "scenarios" / "quickstart.yaml"))]
    targets += [(point.name, point.cluster()) for point in HELD_OUT_POINTS]
    if scale:
        targets.append((HELD_OUT_SCALE_POINT.name, HELD_OUT_SCALE_POINT.cluster()))
    rows = []
    for label, cluster in targets:
        for design in dsim.design_names():
            config = dsim.generate(cluster, 0, design)
            counts = pd.DataFrame([config_facts(config)])
            for profile in profiles:
                for certificate in certificates:
                    predicted = calibration.predict_envoy(counts, design, profile, certificate).iloc[0]
                    taken = measure(config, profile=profile, concurrency=2, binary=binary, certificate=certificate)
                    rows.append(
                        {
                            "config": label,
                            "design": design,
                            "profile": profile,
                            "certificate": certificate,
                            "priced_with": calibration.certificate_for(certificate),
                            "measured_mib": taken.allocated_bytes / 2**20,
                            "predicted_mib": predicted["envoy_memory_bytes"] / 2**20,
                            "memory_error_pct": 100 * (predicted["envoy_memory_bytes"] / taken.allocated_bytes - 1),
                            "measured_cpu_ms": taken.apply_cpu_ms,
                            "predicted_cpu_ms": predicted["envoy_apply_cpu_ms"],
                            "cpu_error_pct": 100 * (predicted["envoy_apply_cpu_ms"] / taken.apply_cpu_ms - 1),
                        }
                    )
    frame = pd.DataFrame(rows)
    print("\nheld-out configs: fresh real-Envoy measurement vs the model")
    print(frame.round(2).to_string(index=False))
    errors = frame.assign(absolute=frame["memory_error_pct"].abs())
    summary = errors.groupby(["design", "profile", "certificate", "priced_with"])["absolute"].agg(["mean", "max"])
    print(
        "\nmemory error per design, stats profile and certificate profile, % "
        "(goal: mean within 3, every config within 5)"
    )
    print(summary.round(2).to_string())
    cpu = frame["cpu_error_pct"].abs().max()
    print(f"largest memory error {errors['absolute'].max():.2f}%; largest apply-CPU error {cpu:.1f}%")
    keys = ["config", "profile", "certificate"]
    base = frame[frame["design"] == "single-stack"].set_index(keys)[["measured_mib", "predicted_mib"]]
    ratio = frame.merge(base.reset_index(), on=keys, suffixes=("", "_baseline"))
    ratio["measured_vs_single_stack"] = ratio["measured_mib"] / ratio["measured_mib_baseline"]
    ratio["predicted_vs_single_stack"] = ratio["predicted_mib"] / ratio["predicted_mib_baseline"]
    print("\nmemory relative to single-stack on the same sidecar (baseline measured in this run)")
    print(
        ratio[[*keys, "design", "measured_vs_single_stack", "predicted_vs_single_stack"]]
        .round(3)
        .to_string(index=False)
    )
    return frame


def _grouped(rows: pd.DataFrame, target: str, terms: list[str]) -> dict[str, dsim.LinearFit]:
    return fit_grouped(rows, target, terms, group="certificate_profile", group_terms=CERTIFICATE_TERMS, relative=True)


def cluster_objects(profile: str, rows: pd.DataFrame, terms: list[str]) -> None:
    """What the terms of what a cluster holds buy, what a cluster without TLS costs under each
    certificate profile, and whether a connection pool (no term: no object) leaves a residual."""
    held = [t for t in CLUSTER_OBJECTS if t in terms]
    points = rows["point"].astype(str)
    shaped = points.str.contains("-dr|-se", regex=True) & (rows["certificate_profile"] == "istio-default")
    if not held or not shaped.any():
        return
    measured = rows["allocated_bytes"].to_numpy()
    without = _grouped(rows, "allocated_bytes", [t for t in terms if t not in CLUSTER_OBJECTS])["istio-default"]
    error = without.predict(rows[shaped]) / measured[shaped.to_numpy()] - 1
    print(
        f"  {profile}: without terms for what a cluster holds, the DestinationRule-policy and ServiceEntry "
        f"meshes' memory comes out {100 * error.min():+.1f}% to {100 * error.max():+.1f}% of measured"
    )
    dns = _grouped(rows, "allocated_bytes", [*terms, "dns_clusters"])["istio-default"].slope("dns_clusters")
    if dns is not None:
        print(
            f"  {profile}: a DNS cluster's own price against a plaintext EDS one, if priced: "
            f"{dns.estimate / 1024:.2f} KiB [{dns.ci_low / 1024:.2f}, {dns.ci_high / 1024:.2f}]"
        )
    fits = _grouped(rows, "allocated_bytes", terms)
    for certificate, fit in sorted(fits.items()):
        tls, plain = fit.slope("clusters"), fit.slope("plaintext_clusters")
        if tls is not None and plain is not None:
            print(
                f"  {profile}, {certificate}: a cluster {tls.estimate / 1024:.1f} KiB with a TLS context, "
                f"{(tls.estimate + plain.estimate) / 1024:.1f} KiB without"
            )
    fit = fits["istio-default"]
    for label, kind in (("DestinationRule DISABLE", "-disable"), ("ServiceEntry", "-se")):
        chosen = (shaped & points.str.contains(kind)).to_numpy()
        error = fit.predict(rows[chosen]) / measured[chosen] - 1
        print(
            f"  {profile}: the {label} meshes predicted {100 * error.mean():+.2f}% on average "
            f"({100 * error.min():+.1f}% to {100 * error.max():+.1f}%)"
        )
    pooled = shaped & points.str.contains("-pool-")
    if pooled.any():
        residual = fit.predict(rows[pooled]) / measured[pooled.to_numpy()] - 1
        others = fit.predict(rows[shaped & ~pooled]) / measured[(shaped & ~pooled).to_numpy()] - 1
        print(
            f"  {profile}: meshes with connection pools (priced at nothing) predicted {100 * residual.mean():+.2f}% "
            f"on average (largest {100 * abs(residual).max():.2f}%); the other policy and entry meshes "
            f"{100 * others.mean():+.2f}% (largest {100 * abs(others).max():.2f}%)"
        )


def _single_stack_prices(calibration: dsim.Calibration, profiles: pd.Series, term: str) -> dict[str, float]:
    """Per stats profile: ``term``'s memory price in bytes (one for every design; NaN where unpriced)."""
    prices = {}
    for profile in profiles.unique():
        slope = calibration.envoy_fit("single-stack", str(profile), "allocated_bytes").slope(term)
        prices[str(profile)] = float("nan") if slope is None else slope.estimate
    return prices


def keepalive_twins(calibration: dsim.Calibration, measurements: pd.DataFrame) -> None:
    """Per mesh keepalive setting of the plan's twins, what a cluster's keepalive measured (each
    twin against its mesh, same design, profiles and repeat) beside what the one price per socket
    option gives it: that price is the settings' weighted average."""
    pairs = twin_pairs(with_plan_columns(measurements), "keepalive_options")
    if pairs.empty:
        return
    setting = {p.name: p.mesh_keepalive for p in KEEPALIVE_POINTS}
    pairs["setting"] = pairs["point"].map(setting)
    pairs["options_per_cluster"] = pairs["setting"].map(lambda k: 1 + len(MESH_KEEPALIVES[k]["tcp_keepalive"]))
    # A mesh keepalive gives every cluster the same options, so they divide into the clusters that
    # carry one (all but the black hole).
    with_keepalive = pairs["keepalive_options"] / pairs["options_per_cluster"]
    pairs["measured_kib"] = (pairs["allocated_bytes"] - pairs["allocated_bytes_twin"]) / with_keepalive / 1024
    price = _single_stack_prices(calibration, pairs["stats_profile"], "keepalive_options")
    pairs["priced_kib"] = pairs["stats_profile"].map(price) * pairs["options_per_cluster"] / 1024
    table = pairs.groupby(["stats_profile", "setting", "options_per_cluster"]).agg(
        pairs=("measured_kib", "size"),
        measured_kib=("measured_kib", "mean"),
        lowest=("measured_kib", "min"),
        highest=("measured_kib", "max"),
        priced_kib=("priced_kib", "first"),
    )
    print("\na cluster's TCP keepalive on the twin meshes, KiB per cluster: measured (twin against mesh), priced")
    print(table.round(2).to_string())


def twins_per_mesh(calibration: dsim.Calibration, measurements: pd.DataFrame, term: str, what: str) -> None:
    """Per twin mesh of the plan, what one of ``term`` (``what``, in words) measured (each twin
    against its mesh, same design, profiles and repeat) beside its one price: whether it holds
    across the meshes' counts."""
    pairs = twin_pairs(with_plan_columns(measurements), term)
    if pairs.empty:
        return
    added = pairs["allocated_bytes"] - pairs["allocated_bytes_twin"]
    pairs["measured_kib"] = added / pairs[term] / 1024
    price = _single_stack_prices(calibration, pairs["stats_profile"], term)
    # A twin's count differs by design (duplicate's family copies); single-stack's names the mesh.
    single = pairs[pairs["design"] == "single-stack"].groupby("point_twin")[term].first()
    table = pairs.groupby(["stats_profile", "point_twin"], sort=False).agg(
        pairs=("measured_kib", "size"),
        measured_kib=("measured_kib", "mean"),
        lowest=("measured_kib", "min"),
        highest=("measured_kib", "max"),
    )
    table.insert(0, f"single_stack_{term}", table.index.get_level_values("point_twin").map(single))
    table = table.sort_values(["stats_profile", f"single_stack_{term}"])
    table["priced_kib"] = [price[profile] / 1024 for profile, _ in table.index]
    print(f"\n{what} on the twin meshes, KiB each: measured (twin against mesh), priced")
    print(table.round(2).to_string())


def choices(measurements: pd.DataFrame, timings: pd.DataFrame) -> None:
    """Each choice of the model against the alternative it replaced, fitted on the same rows."""
    # The fit prices every term but the twins' on the meshes without theirs; so do its alternatives.
    frame = without_twins(with_plan_columns(measurements))
    print("\nwhat the model's choices buy (the same measurements fitted the other way; Istio's default certificate)")
    for profile, rows in frame.groupby("stats_profile", sort=True):
        terms = list(memory_terms(rows))
        routed = rows["point"].astype(str).str.contains("-vs") & (rows["certificate_profile"] == "istio-default")
        if routed.any():
            plain = [t for t in terms if t not in (*ROUTE_TERMS, *ROUTE_ACTION_TERMS)] + ["virtual_hosts"]
            without = _grouped(rows, "allocated_bytes", plain)["istio-default"]
            error = without.predict(rows[routed]) / rows.loc[routed, "allocated_bytes"].to_numpy() - 1
            print(
                f"  {profile}: without route terms, the VirtualService meshes' memory comes out "
                f"{100 * error.min():+.1f}% to {100 * error.max():+.1f}% of measured"
            )
            # A retry policy is on nearly every route: it is no action that sets some meshes apart.
            actions = [t for t in ROUTE_ACTION_TERMS if t in terms and t != RETRY_TERM]
            acting = routed & rows[actions].any(axis=1)
            if acting.any():
                kept = [t for t in terms if t not in actions]
                unpriced = _grouped(rows, "allocated_bytes", kept)["istio-default"]
                error = unpriced.predict(rows[acting]) / rows.loc[acting, "allocated_bytes"].to_numpy() - 1
                print(
                    f"  {profile}: without route-action terms, the meshes whose routes carry actions come out "
                    f"{100 * error.min():+.1f}% to {100 * error.max():+.1f}% of measured"
                )
            beside = _grouped(rows, "allocated_bytes", [*terms, "virtual_hosts"])["istio-default"].slope(
                "virtual_hosts"
            )
            if beside is not None:
                print(
                    f"  {profile}: a virtual host's own price beside its routes "
                    f"{beside.estimate / 1024:.2f} KiB [{beside.ci_low / 1024:.2f}, {beside.ci_high / 1024:.2f}]"
                )
        cluster_objects(profile, rows, terms)
        cpu = _grouped(rows, "apply_cpu_ms", [*CPU_TERMS, "endpoint_additional_addresses"])["istio-default"]
        price = cpu.slope("endpoint_additional_addresses")
        if price is not None:
            print(
                f"  {profile}: an endpoint additional address's apply CPU, if priced: "
                f"{price.estimate:.4f} ms [{price.ci_low:.4f}, {price.ci_high:.4f}]"
            )
    line = fit_linear(timings.assign(config_bytes=timings[BYTE_COLUMNS].sum(axis=1)), "generate_ns", ["config_bytes"])
    print(
        "  istiod: one line over every generator timing puts the fixed part at "
        f"{line.intercept.estimate / 1e6:+.2f} ms per proxy; the smallest config measured takes "
        f"{timings['generate_ns'].min() / 1e6:.2f} ms in all"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--profiles", default="istio,envoy-default")
    options.add_argument("--certificates", help="certificate profiles to measure (default: the calibration's)")
    options.add_argument("--no-scale", action="store_true", help="leave out the 2,000-service held-out sidecar")
    options.add_argument("--no-measure", action="store_true", help="coefficients, VIFs and bands only: no Envoy")
    args = options.parse_args()
    calibration = load_calibration()
    print(f"calibration: {calibration.describe()}")
    measurements, timings = load_measurements(_bundle_folder(calibration), calibration)
    fitted = with_vifs(calibration, measurements)
    coefficients(fitted)
    vif_table(fitted)
    identification(fitted, measurements)
    drift(calibration, measurements)
    generator = calibration.istiod.fit
    slope = generator.slopes[0]
    print(
        f"\nistiod: dsim generator {slope.estimate:.1f} ns per config byte [{slope.ci_low:.1f}, {slope.ci_high:.1f}], "
        f"fixed {generator.intercept.estimate / 1e6:.2f} ms per proxy, R² {generator.r_squared:.3f}; "
        f"go_cost_scale {calibration.istiod.go_cost_scale} → {slope.estimate * calibration.istiod.go_cost_scale:.1f} "
        "ns per byte in istiod"
    )
    choices(measurements, timings)
    keepalive_twins(calibration, measurements)
    twins_per_mesh(calibration, measurements, "retry_priorities", "a route's retry priority")
    twins_per_mesh(calibration, measurements, "failover_priorities", "an endpoint set's priority past the first")
    if not args.no_measure:
        certificates = args.certificates.split(",") if args.certificates else list(calibration.certificates)
        held_out(calibration, args.profiles.split(","), certificates, scale=not args.no_scale)
        ring_on_plaintext(args.profiles.split(","))


if __name__ == "__main__":
    with stop_cleanly():  # SIGTERM stops the Envoy it runs as Ctrl-C does
        main()
