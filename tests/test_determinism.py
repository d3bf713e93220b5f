"""Same scenario and seed ⇒ identical tables; two spellings of one scenario ⇒ identical tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dsim import build_cluster, load_scenario, scenario_hash
from dsim.cluster import Cluster
from dsim.scenario import scenario_to_yaml
from tests.conftest import SCENARIOS


def assert_same_tables(a: Cluster, b: Cluster) -> None:
    for name, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, b.tables()[name], check_exact=True, obj=name)


def test_same_seed_same_tables() -> None:
    assert_same_tables(build_cluster(SCENARIOS / "quickstart.yaml"), build_cluster(SCENARIOS / "quickstart.yaml"))


def test_another_seed_other_tables(write_scenario: Callable[..., Path]) -> None:
    text = (SCENARIOS / "quickstart.yaml").read_text().replace("seed: 7", "seed: 8")
    a = build_cluster(SCENARIOS / "quickstart.yaml")
    b = build_cluster(write_scenario(text, name="quickstart"))
    assert not a.services.equals(b.services)


def test_resolved_copy_is_the_same_scenario(write_scenario: Callable[..., Path]) -> None:
    for name in ("istio-blog-dual-stack", "quickstart"):
        original = load_scenario(SCENARIOS / f"{name}.yaml")
        copy = load_scenario(write_scenario(scenario_to_yaml(original), name="copy"))
        assert copy == original
        assert scenario_hash(copy) == scenario_hash(original)
        assert_same_tables(build_cluster(original), build_cluster(copy))


IMPLICIT = """
seed: 4
namespaces: [{name: shop}]
services:
  - {name: cart, namespace: shop, ip_families: [IPv6, IPv4], ports: [{name: http, port: 80}]}
workloads:
  - {name: cart, namespace: shop, replicas: 3}
synthetic: {services: 50, namespaces: 2}
"""

EXPLICIT = """
name: shop
seed: 4
designs: [single-stack, duplicate, additional-addresses, additional-addresses-1.24]
visibility: all
mesh:
  mtls: PERMISSIVE
  outbound_traffic_policy: ALLOW_ANY
network:
  service_cidrs:
    ipv4: 10.96.0.0/16
    ipv6: "fd00:10:96::/112"
  pod_cidrs:
    ipv4: 10.244.0.0/16
    ipv6: "fd00:10:244::/56"
  pod_ip_families: [IPv4, IPv6]
namespaces:
  - name: shop
    sidecar_injection: true
services:
  - name: cart
    namespace: shop
    ip_families: [IPv6, IPv4]
    selector: {app: cart}
    ports:
      - name: http
        port: 80
        target_port: 80
        protocol: HTTP
workloads:
  - name: cart
    namespace: shop
    replicas: 3
    labels: {app: cart}
    service_account: default
    sidecar: true
synthetic:
  services: 50
  namespaces: 2
  replicas: {distribution: geometric, mean: 2.0, min: 1, max: 100}
  call_graph: {model: barabasi-albert, m: 2}
istiod:
  push_throttle: 35
"""


def test_two_spellings_of_one_scenario_give_identical_tables(write_scenario: Callable[..., Path]) -> None:
    implicit = load_scenario(write_scenario(IMPLICIT, name="shop"))
    explicit = load_scenario(write_scenario(EXPLICIT, name="other-file-name"))
    assert implicit == explicit
    assert scenario_hash(implicit) == scenario_hash(explicit)
    assert_same_tables(build_cluster(implicit), build_cluster(explicit))
