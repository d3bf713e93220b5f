"""Endpoint sets hold exactly the pods behind their service or subset (read from the tables)."""

from __future__ import annotations

import pytest

from dsim import build_cluster, generate, scenario_from_dict
from tests.designs.test_contract import VARIETY


@pytest.mark.parametrize("design", ["single-stack", "duplicate", "additional-addresses", "additional-addresses-1.24"])
def test_every_endpoint_set_holds_the_pods_behind_it(design: str) -> None:
    c = build_cluster(scenario_from_dict(VARIETY))
    ips = c.pod_ip_text()
    hosts = c.service_hosts().tolist()
    subsets = c.subsets
    config = generate(c, 0, design)
    checked = 0
    for assignment in config.endpoints:
        _, _, subset, host = assignment.cluster_name.split("|")
        service = hosts.index(host)
        if subset:
            (subset_id,) = subsets.index[(subsets["service"] == service) & (subsets["name"] == subset)]
            workloads = c.subset_workloads[c.subset_workloads["subset"] == subset_id]["workload"]
        else:
            workloads = c.service_workloads[c.service_workloads["service"] == service]["workload"]
        pods = c.pods.index[c.pods["workload"].isin(workloads)]
        expected = {a for p in pods for a in ips.loc[p] if a}
        got = {
            a.address.socket_address.address
            for g in assignment.endpoints
            for lb in g.lb_endpoints
            for a in (lb.endpoint, *lb.endpoint.additional_addresses)
        }
        assert got <= expected, assignment.cluster_name
        assert got, assignment.cluster_name  # every service here has pods
        checked += 1
    assert checked > 20
