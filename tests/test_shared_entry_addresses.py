"""ServiceEntry hosts that share an address (issue 16, ``docs/istio-objects.md`` 3.4): one listener
per address and port, the first host's, as Istio's ``mergeTCPFilterChains`` drops the later hosts'
chains that match the same traffic; a sniffed port's route configuration goes with its listener.
Both paths agree byte for byte, also where a Sidecar lets a proxy see only the later host, and the
real Envoy, which refuses two listeners of one name, accepts every config."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

PORTS = [
    {"number": 5000, "name": "tcp", "protocol": "TCP"},
    {"number": 443, "name": "tls", "protocol": "TLS"},
    {"number": 8000, "name": "sniffed"},
]

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
    "workloads": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"]},
        {"name": "one", "namespace": "b", "ip_families": ["IPv4", "IPv6"]},
    ],
    "service_entries": [
        {
            "name": "pair",
            "namespace": "a",
            "spec": {
                "hosts": ["first.example.com", "second.example.com"],
                "addresses": ["198.51.100.1", "2001:db8::1"],
                "ports": PORTS,
                "resolution": "NONE",
            },
        },
        {
            # Two addresses, the second the pair's: its sniffed port keeps its route configuration
            # through the listener on the address it holds alone.
            "name": "overlap",
            "namespace": "a",
            "spec": {
                "hosts": ["third.example.com"],
                "addresses": ["198.51.100.2", "198.51.100.1"],
                "ports": PORTS,
                "resolution": "STATIC",
                "endpoints": [{"address": "192.0.2.10"}],
            },
        },
    ],
    "sidecars": [
        {
            "name": "default",
            "namespace": "b",
            "spec": {"egress": [{"hosts": ["*/second.example.com", "*/third.example.com"]}]},
        }
    ],
}


def _listener_names(cluster: Cluster, proxy: int, design: str) -> Counter[str]:
    config = proxy_config(index_for(cluster), proxy, get_design(design))
    return Counter(listener.name for listener in config.listeners)


def _routes(cluster: Cluster, proxy: int, design: str) -> set[str]:
    return {r.name for r in proxy_config(index_for(cluster), proxy, get_design(design)).routes}


def test_one_listener_per_address_and_port_the_first_hosts() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    web = 0  # sees every host
    one = 1  # its Sidecar leaves out first.example.com
    for design in design_names():
        for proxy in (web, one):
            names = _listener_names(cluster, proxy, design)
            assert max(names.values()) == 1, (design, proxy, names)
            assert "198.51.100.1_5000" in names
            assert "198.51.100.2_8000" in names
        routes = _routes(cluster, web, design)
        assert "first.example.com:8000" in routes
        assert "second.example.com:8000" not in routes  # its listener went to first's
        assert "third.example.com:8000" in routes  # named by its listener on 198.51.100.2
        assert "second.example.com:8000" in _routes(cluster, one, design)  # first is not in sight


def test_accounting_is_exact_and_envoy_accepts() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    assert_exact_every_design(cluster)
    without_partial_overlap = [d for d in design_names() if d != "additional-addresses-1.24"]
    verdicts = validate_configs(cluster, designs=without_partial_overlap, sample=len(cluster.proxies))
    assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()


def test_partial_overlap_is_refused_under_1_24_as_istio_54207_reports() -> None:
    """Istio 1.24.0 to 1.24.2 gave a host's listener every address of its ServiceEntry: one that
    shares only some addresses with another's listener is a listener Envoy refuses, the NACK
    istio/istio#54207 fixed."""
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    verdicts = validate_configs(cluster, designs=["additional-addresses-1.24"], sample=len(cluster.proxies))
    assert not verdicts["accepted"].any()
    assert verdicts["message"].str.contains("has duplicate address").all()
    alone = dict(SCENARIO, service_entries=SCENARIO["service_entries"][:1])
    assert_envoy_accepts_every_proxy(build_cluster(scenario_from_dict(alone)))
