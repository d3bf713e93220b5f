"""Per-protocol details Istio gives outbound clusters, the same in every design."""

from __future__ import annotations

import pytest
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from dsim import build_cluster, design_names, generate, scenario_from_dict
from dsim.xds.common import HTTP_PROTOCOL_OPTIONS

SCENARIO = {
    "namespaces": [{"name": "app"}],
    "services": [
        {
            "name": "api",
            "namespace": "app",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"name": "grpc", "port": 9090},
                {"name": "http2-x", "port": 8081},
                {"name": "http", "port": 80},
                {"name": "web", "port": 8443},
                {"name": "tcp", "port": 5432},
            ],
        },
    ],
    "workloads": [{"name": "api", "namespace": "app"}],
}


@pytest.mark.parametrize("design", design_names())
def test_upstream_http_options_follow_the_port_protocol(design: str) -> None:
    config = generate(build_cluster(scenario_from_dict(SCENARIO)), "app/api", design)
    options = {}
    for cluster in config.clusters:
        if cluster.name.startswith("outbound") and HTTP_PROTOCOL_OPTIONS in cluster.typed_extension_protocol_options:
            parsed = http_protocol_options_pb2.HttpProtocolOptions()
            cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(parsed)
            options[int(cluster.name.split("|")[1])] = parsed.WhichOneof("upstream_protocol_options")
    assert options == {
        9090: "explicit_http_config",
        8081: "explicit_http_config",
        8443: "use_downstream_protocol_config",
    }
