"""Workload certificate profiles: made and chained as Istio's agent and CA do, chosen by the
scenario, measured as a calibration dimension, and priced with a named fallback when the
calibration has no measurements of the profile asked for."""

from __future__ import annotations

import json
import typing

import pandas as pd
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import dsim
from dsim.calibration.certificate_profiles import (
    CERTIFICATE_PROFILES,
    DEFAULT_CERTIFICATE_PROFILE,
    LEGACY_CERTIFICATE_PROFILE,
    MAX_INTERMEDIATES,
    certificate_profile,
)
from dsim.calibration.coverage import calibration_coverage
from dsim.calibration.model import Calibration, load_calibration, shipped_path, with_plan_columns
from dsim.calibration.secrets import mesh_certificates
from dsim.errors import ScenarioError, UnknownNameError
from dsim.scenario import scenario_from_dict
from dsim.scenario.model import Envoy


def _chain(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


@pytest.mark.parametrize("name", CERTIFICATE_PROFILES)
def test_each_profile_serves_the_chain_and_keys_it_names(name: str) -> None:
    profile = certificate_profile(name)
    made = mesh_certificates(profile=name)
    chain = _chain(made.workload_chain_pem)
    root = _chain(made.root_pem)[0]
    assert len(chain) == 1 + profile.intermediates + profile.root_in_chain
    leaf_key = chain[0].public_key()
    if profile.leaf_key == "rsa-2048":
        assert isinstance(leaf_key, rsa.RSAPublicKey)
        assert leaf_key.key_size == 2048
    else:
        assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
        assert leaf_key.curve.name == "secp256r1"
    assert isinstance(
        root.public_key(), rsa.RSAPublicKey if profile.ca_key == "rsa-2048" else ec.EllipticCurvePublicKey
    )
    for child, parent in zip(chain, [*chain[1:], root], strict=False):  # each signed by the next, up to the root
        child.verify_directly_issued_by(parent)
    assert (chain[-1] == root) is profile.root_in_chain


def test_istios_default_is_rsa_2048_with_the_root_and_is_the_default() -> None:
    profile = certificate_profile(DEFAULT_CERTIFICATE_PROFILE)
    assert (profile.leaf_key, profile.ca_key, profile.intermediates, profile.root_in_chain) == (
        "rsa-2048",
        "rsa-2048",
        0,
        True,
    )
    assert Envoy().workload_certificate == DEFAULT_CERTIFICATE_PROFILE
    legacy = certificate_profile(LEGACY_CERTIFICATE_PROFILE)
    assert (legacy.leaf_key, legacy.root_in_chain) == ("ecdsa-p256", False)
    assert MAX_INTERMEDIATES == 3
    with pytest.raises(UnknownNameError, match="unknown certificate profile 'rsa-4096'"):
        certificate_profile("rsa-4096")


def test_the_scenario_setting_offers_exactly_the_profiles() -> None:
    hints = typing.get_type_hints(Envoy)
    assert typing.get_args(hints["workload_certificate"]) == CERTIFICATE_PROFILES


def test_a_scenario_picks_a_profile_and_a_bad_one_is_refused() -> None:
    base = {"synthetic": {"services": 3}}
    chosen = scenario_from_dict({**base, "envoy": {"workload_certificate": "intermediate-ca-2"}})
    assert chosen.envoy.workload_certificate == "intermediate-ca-2"
    with pytest.raises(ScenarioError, match="workload_certificate"):
        scenario_from_dict({**base, "envoy": {"workload_certificate": "intermediate-ca-9"}})


@pytest.fixture(scope="module")
def shipped() -> Calibration:
    return load_calibration(shipped_path())


def test_the_shipped_calibration_prices_istios_default_with_its_own_coefficients(shipped: Calibration) -> None:
    assert shipped.certificate_for(None) == DEFAULT_CERTIFICATE_PROFILE
    assert shipped.certificate_for("intermediate-ca-2") == "intermediate-ca-2"
    assert "priced with its own coefficients" in shipped.describe(DEFAULT_CERTIFICATE_PROFILE)
    # The legacy profile is not in the full plan: Istio's default prices it, and says so.
    assert shipped.certificate_for(LEGACY_CERTIFICATE_PROFILE) == DEFAULT_CERTIFICATE_PROFILE
    assert (
        "workload certificate ecdsa-p256-leaf-only, priced with istio-default's coefficients: this calibration "
        "has no ecdsa-p256-leaf-only measurements" in shipped.describe(LEGACY_CERTIFICATE_PROFILE)
    )
    with pytest.raises(UnknownNameError):
        shipped.certificate_for("none")


def _legacy_json(shipped: Calibration) -> str:
    """The shipped calibration as a file written before certificate profiles: Istio's default's
    fits only, without the ``certificate_profile`` key."""
    data = json.loads(shipped.to_json())
    data["envoy"] = [e for e in data["envoy"] if e.pop("certificate_profile") == DEFAULT_CERTIFICATE_PROFILE]
    return json.dumps(data)


def _only(calibration: Calibration, certificates: tuple[str, ...]) -> Calibration:
    """``calibration`` with Istio's default's fits under each of ``certificates`` instead."""
    envoy = {
        (design, profile, certificate, target): fit
        for (design, profile, measured, target), fit in calibration.envoy.items()
        if measured == DEFAULT_CERTIFICATE_PROFILE
        for certificate in certificates
    }
    return Calibration(
        source=calibration.source, provenance=calibration.provenance, envoy=envoy, istiod=calibration.istiod
    )


def test_a_measured_profile_is_priced_with_its_own_fits_and_others_fall_back_to_istios(
    shipped: Calibration,
) -> None:
    legacy = _only(shipped, (LEGACY_CERTIFICATE_PROFILE,))
    assert legacy.certificates == (LEGACY_CERTIFICATE_PROFILE,)
    assert legacy.certificate_for(None) == LEGACY_CERTIFICATE_PROFILE, "the one profile measured"
    both = _only(shipped, (LEGACY_CERTIFICATE_PROFILE, DEFAULT_CERTIFICATE_PROFILE))
    assert both.certificates == (DEFAULT_CERTIFICATE_PROFILE, LEGACY_CERTIFICATE_PROFILE)
    assert both.certificate_for("ecdsa-p256") == DEFAULT_CERTIFICATE_PROFILE
    assert both.certificate_for(LEGACY_CERTIFICATE_PROFILE) == LEGACY_CERTIFICATE_PROFILE
    again = Calibration.from_json(both.to_json(), source="x")
    assert again.envoy.keys() == both.envoy.keys()


def test_fits_written_before_certificate_profiles_load_as_the_legacy_profile(shipped: Calibration) -> None:
    text = _legacy_json(shipped)
    assert not any("certificate_profile" in entry for entry in json.loads(text)["envoy"])
    old = Calibration.from_json(text, source="old.json")
    assert {c for _, _, c, _ in old.envoy} == {LEGACY_CERTIFICATE_PROFILE}
    assert f'"certificate_profile": "{LEGACY_CERTIFICATE_PROFILE}"' in old.to_json()


def test_old_measurements_read_as_the_legacy_profile_one_zone() -> None:
    shipped = pd.read_csv(shipped_path().parent / "envoy-1.40-measurements.csv")
    columns_since = ["certificate_profile", "zones", "services", "memory_read_s"]
    old = shipped[(shipped["zones"] == 1) & (shipped["services"] <= 300)].drop(columns=columns_since)
    filled = with_plan_columns(old)
    assert set(filled["certificate_profile"]) == {LEGACY_CERTIFICATE_PROFILE}
    assert set(filled["zones"]) == {1}
    assert filled["services"].between(6, 300).all()
    assert filled["services"].tolist() == shipped.loc[old.index, "services"].tolist(), "read from the point's name"
    assert filled["memory_read_s"].isna().all()
    assert "certificate_profile" not in old, "the frame read is left as measured"


def test_a_runs_coverage_names_the_profile_asked_for_and_whose_coefficients_priced_it(shipped: Calibration) -> None:
    cluster = dsim.build_cluster(scenario_from_dict({"synthetic": {"services": 4}}))
    counts = pd.concat([dsim.config_counts(cluster, design=d) for d in ("single-stack", "duplicate")])
    coverage = calibration_coverage(counts, scenario=cluster.scenario, calibration=shipped)
    assert set(coverage["certificate_profile"]) == {DEFAULT_CERTIFICATE_PROFILE}
    assert set(coverage["certificate_coefficients"]) == {DEFAULT_CERTIFICATE_PROFILE}
    legacy = _only(shipped, (LEGACY_CERTIFICATE_PROFILE,))
    fallback = calibration_coverage(counts, scenario=cluster.scenario, calibration=legacy)
    assert set(fallback["certificate_coefficients"]) == {LEGACY_CERTIFICATE_PROFILE}


def test_a_runs_coverage_gives_the_memory_error_at_its_own_sidecars(shipped: Calibration) -> None:
    """A fit for relative error spreads in proportion to memory: its error at a run's sidecars is
    its relative residual SD times their predicted memory, not the residual SD of the largest
    meshes it was fitted on."""
    cluster = dsim.build_cluster(scenario_from_dict({"synthetic": {"services": 4}}))
    counts = dsim.config_counts(cluster, design="single-stack")
    coverage = calibration_coverage(counts, scenario=cluster.scenario, calibration=shipped).iloc[0]
    memory = shipped.envoy_fit("single-stack", "istio", "allocated_bytes")
    assert memory.relative_residual_sd is not None
    assert coverage["memory_relative_residual_sd"] == memory.relative_residual_sd
    predicted_mib = float(memory.predict(counts).mean()) / 2**20
    assert coverage["memory_error_mib"] == pytest.approx(memory.relative_residual_sd * predicted_mib)
    assert coverage["memory_error_mib"] < coverage["memory_residual_sd_mib"] / 5
