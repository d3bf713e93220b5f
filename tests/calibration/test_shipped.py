"""The shipped calibration: complete, for the Envoy that is installed, reproducible from the raw
measurements shipped beside it, and physically sensible."""

from __future__ import annotations

import pytest

import dsim
from dsim.calibration.calibrate import envoy_version, fit_calibration, load_measurements
from dsim.calibration.certificate_profiles import (
    CERTIFICATE_PROFILES,
    DEFAULT_CERTIFICATE_PROFILE,
    LEGACY_CERTIFICATE_PROFILE,
)
from dsim.calibration.live_envoy import STATS_PROFILES
from dsim.calibration.model import (
    ACCESS_LOG_TERMS,
    CERTIFICATE_TERMS,
    CLUSTER_TERMS,
    ENVOY_TARGETS,
    FAILOVER_TERM,
    MEMORY_TERMS,
    ROUTE_ACTION_TERMS,
    ROUTE_TERMS,
    ZONE_TERM,
    load_calibration,
    shipped_path,
)
from dsim.xds.envoy import envoy_binary
from tests.calibration.same_model import assert_same_model


@pytest.fixture(scope="module")
def shipped() -> dsim.Calibration:
    return load_calibration(shipped_path())


def test_every_design_and_stats_profile_is_calibrated(shipped: dsim.Calibration) -> None:
    assert shipped.designs == tuple(sorted(dsim.design_names()))
    assert shipped.profiles == tuple(sorted(STATS_PROFILES))
    # The full plan measures every profile but the legacy one (kept to read older files).
    assert set(shipped.certificates) == set(CERTIFICATE_PROFILES) - {LEGACY_CERTIFICATE_PROFILE}
    expected = len(dsim.design_names()) * len(STATS_PROFILES) * len(shipped.certificates) * len(ENVOY_TARGETS)
    assert len(shipped.envoy) == expected


def test_one_fit_serves_every_design_and_certificates_differ_only_in_fixed_part_and_cluster_price(
    shipped: dsim.Calibration,
) -> None:
    for profile in shipped.profiles:
        for target in ENVOY_TARGETS:
            default = shipped.envoy_fit("single-stack", profile, target, DEFAULT_CERTIFICATE_PROFILE)
            for certificate in shipped.certificates:
                fits = {shipped.envoy_fit(d, profile, target, certificate) for d in shipped.designs}
                assert len(fits) == 1, (profile, target, certificate)
                (fit,) = fits
                assert fit.weighting == "relative"
                shared = [s for s in fit.slopes if s.name not in CERTIFICATE_TERMS]
                assert shared == [s for s in default.slopes if s.name not in CERTIFICATE_TERMS]


def test_it_was_measured_on_the_installed_envoy(shipped: dsim.Calibration) -> None:
    assert shipped.provenance["envoy_version"] == envoy_version(envoy_binary())
    for key in ("created_utc", "machine", "plan", "files", "envoy_concurrency", "dsim_version", "git_revision"):
        assert shipped.provenance[key], key
    assert shipped.provenance["plan"] == "full"


def test_refitting_the_shipped_measurements_gives_the_shipped_model(shipped: dsim.Calibration) -> None:
    measurements, timings = load_measurements(shipped_path().parent, shipped)
    refit = fit_calibration(measurements, timings, shipped.provenance)
    assert_same_model(refit, shipped, measurements, timings)


def test_memory_fits_explain_the_measurements_and_every_object_costs_memory(shipped: dsim.Calibration) -> None:
    for (design, profile, _, target), fit in shipped.envoy.items():
        if target != "allocated_bytes":
            continue
        assert fit.r_squared > 0.99, (design, profile)
        terms = {
            *MEMORY_TERMS,
            ZONE_TERM,
            *ROUTE_TERMS,
            *ROUTE_ACTION_TERMS,
            *CLUSTER_TERMS,
            *ACCESS_LOG_TERMS,
            FAILOVER_TERM,
        }
        assert {s.name for s in fit.slopes} <= terms
        for slope in fit.slopes:
            if slope.name in (
                "filter_chains",
                "clusters",
                "virtual_hosts",
                "endpoints",
                "routes",
                FAILOVER_TERM,
                *ACCESS_LOG_TERMS,
            ):
                assert slope.ci_low > 0, (design, profile, slope)


def test_keeping_every_stat_costs_more_per_cluster(shipped: dsim.Calibration) -> None:
    for design in shipped.designs:
        istio = shipped.envoy_fit(design, "istio", "allocated_bytes").slope("clusters")
        every = shipped.envoy_fit(design, "envoy-default", "allocated_bytes").slope("clusters")
        assert istio is not None
        assert every is not None
        assert every.ci_low > istio.ci_high, design


def test_the_go_scale_reproduces_istios_published_cds_cost(shipped: dsim.Calibration) -> None:
    reference = shipped.istiod.go_reference
    go_ns_per_byte = reference["ns_per_op"] / reference["bytes_per_op"]
    scaled = shipped.istiod.go_cost_scale * shipped.istiod.ns_per_byte
    assert scaled == pytest.approx(go_ns_per_byte, rel=0.01)
    assert "istio/istio" in reference["source"]
    assert reference["reasoning"]
