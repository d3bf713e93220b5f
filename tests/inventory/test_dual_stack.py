"""`dsim import --dual-stack all|SHARE`: single-stack services and their pods get the other family, with
addresses from the scenario's CIDRs, and the result is a scenario the checker accepts."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
import yaml

from dsim.errors import ScenarioError
from dsim.inventory.dual_stack import make_dual_stack, make_dual_stack_with_summary
from dsim.scenario.load import scenario_from_dict
from tests.conftest import SCENARIOS

HTTP = [{"port": 80, "name": "http"}]


def _mesh() -> dict[str, Any]:
    """Single-stack services of both families, with and without listed addresses, and pods of one family."""
    return {
        "network": {"pod_ip_families": ["IPv4"]},
        "namespaces": [{"name": "shop"}],
        "services": [
            {"name": "web", "namespace": "shop", "cluster_ips": ["10.96.0.10"], "ports": HTTP},
            {"name": "api", "namespace": "shop", "ip_families": ["IPv6"], "cluster_ips": ["fd00:10:96::a"]}
            | {"ports": HTTP},
            {"name": "db", "namespace": "shop", "ports": HTTP},
            {"name": "both", "namespace": "shop", "ip_families": ["IPv4", "IPv6"], "ports": HTTP},
        ],
        "workloads": [
            {"name": "web", "namespace": "shop", "replicas": 3, "pod_ips": [["10.244.0.2"], ["10.244.0.3"]]},
            {"name": "api", "namespace": "shop", "ip_families": ["IPv6"], "pod_ips": [["fd00:10:244::2"]]},
            {"name": "db", "namespace": "shop"},
            {"name": "batch", "namespace": "shop", "pod_ips": [["10.244.0.9"]]},
        ],
    }


def _loads(data: dict[str, Any]) -> None:
    scenario_from_dict(data, source="dual-stack")


def test_all_makes_every_service_and_pod_dual_stack() -> None:
    data = _mesh()
    out, summary = make_dual_stack_with_summary(data, share=1.0, seed=7)
    _loads(out)
    families = [s.get("ip_families") for s in out["services"]]
    assert families == [["IPv4", "IPv6"], ["IPv6", "IPv4"], ["IPv4", "IPv6"], ["IPv4", "IPv6"]]  # primary first
    assert all(w["ip_families"][1] in ("IPv4", "IPv6") for w in out["workloads"])  # batch too: no service needed
    web, api = out["services"][0]["cluster_ips"], out["services"][1]["cluster_ips"]
    assert web[0] == "10.96.0.10"
    assert ipaddress.ip_address(web[1]) in ipaddress.ip_network("fd00:10:96::/112")
    assert ipaddress.ip_address(api[1]) in ipaddress.ip_network("10.96.0.0/16")
    assert "cluster_ips" not in out["services"][2]  # none listed: the builder allocates both
    pods = [pod for w in out["workloads"] for pod in w.get("pod_ips", ())]
    assert [len(pod) for pod in pods] == [2, 2, 2, 2]
    added = [pod[1] for pod in pods]
    assert len(set(added)) == len(added)
    pod_v6 = ipaddress.ip_network("fd00:10:244::/56")
    assert all(ipaddress.ip_address(a) in pod_v6 for a in (added[0], added[1], added[3]))
    assert ipaddress.ip_address(added[2]) in ipaddress.ip_network("10.244.0.0/16")
    assert added[2] not in ("10.244.0.2", "10.244.0.3", "10.244.0.9")
    assert summary.single_stack_services == 3
    assert summary.services_changed == 3
    assert summary.workloads_changed == 4
    assert summary.pods_changed == 3 + 1 + 1 + 1
    assert summary.describe() == "3 of 3 single-stack services and 6 pods (4 workloads) made dual-stack"


def test_a_share_changes_only_the_chosen_services_and_the_pods_they_select() -> None:
    data = _mesh()
    for seed in range(20):
        out, summary = make_dual_stack_with_summary(data, share=0.5, seed=seed)
        _loads(out)
        changed = {s["name"] for s, old in zip(out["services"], data["services"], strict=True) if s != old}
        pods = {w["name"] for w, old in zip(out["workloads"], data["workloads"], strict=True) if w != old}
        assert pods == changed  # each service selects its namesake workload; batch is nobody's
        assert summary.services_changed == len(changed)


def test_the_choice_is_stable_when_the_mesh_grows_and_the_share_rises() -> None:
    small = _mesh()
    grown = copy.deepcopy(small)
    grown["services"] += [{"name": f"new{i}", "namespace": "shop", "ports": HTTP} for i in range(30)]

    def chosen(data: dict[str, Any], share: float) -> set[str]:
        out = make_dual_stack(data, share=share, seed=11)
        return {s["name"] for s in out["services"] if s.get("ip_families", ["IPv4"]) != ["IPv4"] and s["name"] != "api"}

    half = chosen(grown, 0.5)
    assert chosen(small, 0.5) == half & {"web", "db", "both"}
    assert half <= chosen(grown, 0.8)
    assert 5 < len(half - {"both"}) < 27  # about half of the 32 IPv4 ones


def test_zero_share_changes_nothing_and_the_input_is_not_mutated() -> None:
    data = _mesh()
    pristine = copy.deepcopy(data)
    assert make_dual_stack(data, share=0.0, seed=1) == pristine
    make_dual_stack(data, share=1.0, seed=1)
    assert data == pristine
    assert make_dual_stack(data, share=1.0, seed=1) == make_dual_stack(data, share=1.0, seed=1)


@pytest.mark.parametrize(
    ("field", "network"),
    [
        ("network.service_cidrs.ipv6", {"service_cidrs": {"ipv4": "10.96.0.0/16", "ipv6": None}}),
        ("network.pod_cidrs.ipv6", {"pod_cidrs": {"ipv4": "10.244.0.0/16", "ipv6": None}}),
    ],
)
def test_a_family_without_a_cidr_is_refused_by_name(field: str, network: dict[str, Any]) -> None:
    data = _mesh()
    data["services"] = data["services"][2:3]  # db: IPv4 only
    data["workloads"] = data["workloads"][2:3]
    data["network"] = {"pod_ip_families": ["IPv4"], **network}
    _loads(data)
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        make_dual_stack(data, share=1.0, seed=0)


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ScenarioError, match="from 0 to 1"):
        make_dual_stack(_mesh(), share=1.5, seed=0)


def test_the_blog_mesh_all_dual_stack_loads() -> None:
    data = yaml.safe_load((SCENARIOS / "istio-blog-dual-stack.yaml").read_text())
    out, summary = make_dual_stack_with_summary(data, share=1.0, seed=0)
    scenario = scenario_from_dict(out, source="blog")
    assert all(len(s.ip_families) == 2 for s in scenario.services)
    assert out["services"][0] == data["services"][0]  # already dual-stack: untouched
    assert summary.services_changed == 3
