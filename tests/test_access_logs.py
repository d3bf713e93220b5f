"""The mesh's access logs (``meshConfig.accessLogFile``, docs/istio-objects.md 4.10,
:mod:`dsim.xds.access_logs`): where istiod puts them (every connection manager and ``tcp_proxy``
but the virtual listeners' blackhole chains, and both virtual listeners for connections no chain
takes), in the formats Istio's own test wants (``tests/data/istio-access-logs``), counted and sized
alike by both paths, accepted by the real Envoy."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import json_format

from dsim import build_cluster, load_scenario, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import design_names, get_design
from dsim.scenario.model import Scenario
from dsim.xds.access_logs import AccessLogging, command_operators
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.listeners import VIRTUAL_INBOUND_PORT, VIRTUAL_OUTBOUND_PORT
from dsim.xds.sizes import config_count_row
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.conftest import DATA, SCENARIOS

CASES = json.loads((DATA / "istio-access-logs" / "formats.json").read_text())["cases"]


def _logging(scenario: Scenario, **mesh: Any) -> Scenario:
    return dataclasses.replace(scenario, mesh=dataclasses.replace(scenario.mesh, **mesh))


def _cluster(path: str = "quickstart.yaml", **mesh: Any) -> Cluster:
    return build_cluster(_logging(load_scenario(SCENARIOS / path), **mesh))


def _virtual(listener: listener_pb2.Listener) -> bool:
    return listener.address.socket_address.port_value in (VIRTUAL_OUTBOUND_PORT, VIRTUAL_INBOUND_PORT)


def _chain_logs(listener: listener_pb2.Listener) -> list[tuple[str, list[accesslog_pb2.AccessLog]]]:
    """Per connection manager or ``tcp_proxy`` of ``listener``: its chain's name and its access logs."""
    found = []
    chains = [*listener.filter_chains]
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for network_filter in chain.filters:
            kinds = {"http_connection_manager": hcm_pb2.HttpConnectionManager, "tcp_proxy": tcp_proxy_pb2.TcpProxy}
            kind = kinds.get(network_filter.name.rsplit(".", 1)[-1])
            if kind is not None:
                message = kind()
                network_filter.typed_config.Unpack(message)
                found.append((chain.name, list(message.access_log)))
    return found


def _file_log(entry: accesslog_pb2.AccessLog) -> file_pb2.FileAccessLog:
    assert entry.name == "envoy.access_loggers.file"
    log = file_pb2.FileAccessLog()
    entry.typed_config.Unpack(log)
    return log


def _config(cluster: Cluster, design: str = "duplicate", proxy: int = 0) -> ProxyConfig:
    return proxy_config(index_for(cluster), proxy, get_design(design))


MESHES = {
    "quickstart.yaml": ("quickstart.yaml", {}),
    "quickstart.yaml REGISTRY_ONLY": ("quickstart.yaml", {"outbound_traffic_policy": "REGISTRY_ONLY"}),
    "istio-objects.yaml": ("istio-objects.yaml", {}),
}
"""Meshes whose every chain kind dsim builds is checked: service ports of every protocol; fall-through
chains to the passthrough and (REGISTRY_ONLY) the blackhole cluster; ServiceEntry listeners, wildcard
and TLS-routed chains, VirtualService TCP and TLS routes, Sidecar egress listeners (istio-objects.yaml)."""


@pytest.mark.parametrize("mesh", list(MESHES))
@pytest.mark.parametrize("design", design_names())
def test_every_chain_but_the_blackholes_and_both_virtual_listeners_log(design: str, mesh: str) -> None:
    """As ``setHTTPAccessLog``, ``setTCPAccessLog`` and ``setListenerAccessLog`` place them (Istio's
    ``TestListenerAccessLog`` checks the same: no log on a blackhole chain's ``tcp_proxy``, a filtered
    one on each virtual listener, none filtered in a chain)."""
    path, settings = MESHES[mesh]
    cluster = _cluster(path, access_log_file="/dev/stdout", **settings)
    for proxy in range(0, len(cluster.proxies), max(1, len(cluster.proxies) // 8)):
        config = _config(cluster, design, proxy)
        virtual = [x for x in config.listeners if _virtual(x)]
        assert len(virtual) >= 2
        blackholes = 0
        for listener in config.listeners:
            for chain, logs in _chain_logs(listener):
                if _virtual(listener) and chain.endswith("-blackhole"):
                    blackholes += 1
                    assert logs == [], chain
                    continue
                assert len(logs) == 1, (listener.name, chain)
                assert not logs[0].HasField("filter")
                assert _file_log(logs[0]).path == "/dev/stdout"
            if _virtual(listener):
                (own,) = listener.access_log
                assert list(own.filter.response_flag_filter.flags) == ["NR"]
            else:
                assert not listener.access_log, listener.name
        assert blackholes == len(virtual)


def test_off_by_default_and_the_listener_logs_go_with_disable_envoy_listener_log() -> None:
    config = _config(_cluster())
    assert all(logs == [] for x in config.listeners for _, logs in _chain_logs(x))
    assert not any(x.access_log for x in config.listeners)
    counts = config_count_row(config)
    assert counts["access_logs"] == counts["access_log_operators"] == 0
    quiet = _config(_cluster(access_log_file="/dev/stdout", disable_envoy_listener_log=True))
    assert not any(x.access_log for x in quiet.listeners)
    virtual = sum(_virtual(x) for x in quiet.listeners)
    logged = config_count_row(quiet)
    assert logged["access_logs"] == logged["filter_chains"] - virtual  # all chains but the blackholes
    assert config_count_row(_config(_cluster(access_log_file="/dev/stdout")))["access_logs"] == logged["filter_chains"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_formats_are_those_istios_test_wants(case: dict[str, Any]) -> None:
    config = _config(
        _cluster(access_log_file="/dev/stdout", access_log_encoding=case["encoding"], access_log_format=case["format"]),
        "single-stack",
    )
    logs = [_file_log(e) for x in config.listeners for e in x.access_log]
    logs += [_file_log(e) for x in config.listeners for _, entries in _chain_logs(x) for e in entries]
    assert logs
    for log in logs:
        if case["encoding"] == "JSON":
            assert json_format.MessageToDict(log.log_format.json_format) == case["want_json"]
            assert log.log_format.HasField("json_format_options")  # Istio writes it, empty
        else:
            assert log.log_format.text_format_source.inline_string == case["want_text"]
        assert not log.log_format.formatters


def test_a_text_format_gets_its_newline_and_req_without_query_its_formatter() -> None:
    """Istio appends the newline a text format lacks; ``%REQ_WITHOUT_QUERY`` needs Envoy's formatter
    extension, which Istio adds for a text format and for a JSON format's top-level values."""
    text = AccessLogging(path="/dev/stdout", encoding="TEXT", format="%REQ_WITHOUT_QUERY(:PATH)%", listener_log=True)
    log = _file_log(text.entry)
    assert log.log_format.text_format_source.inline_string == "%REQ_WITHOUT_QUERY(:PATH)%\n"
    assert [f.name for f in log.log_format.formatters] == ["envoy.formatter.req_without_query"]
    top = AccessLogging(path="/x", encoding="JSON", format='{"p": "%REQ_WITHOUT_QUERY(:PATH)%"}', listener_log=True)
    assert [f.name for f in _file_log(top.entry).log_format.formatters] == ["envoy.formatter.req_without_query"]
    nested = dataclasses.replace(top, format='{"n": {"p": "%REQ_WITHOUT_QUERY(:PATH)%"}}')
    assert not _file_log(nested.entry).log_format.formatters  # Istio looks no deeper (Envoy then refuses it)


@pytest.mark.parametrize(
    ("encoding", "text", "operators"),
    [
        ("TEXT", "", 24),
        ("JSON", "", 24),
        ("TEXT", "[%START_TIME%] %RESPONSE_CODE% 100%", 2),
        ("TEXT", "%START_TIME(%s.%3f)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH):10%", 2),
        ("JSON", '{"a": "%BYTES_SENT% of %BYTES_RECEIVED%", "n": {"b": "%PROTOCOL%"}, "c": 3}', 3),
    ],
)
def test_command_operators_are_counted_as_envoy_parses_them(encoding: str, text: str, operators: int) -> None:
    logging = AccessLogging(path="/dev/stdout", encoding=encoding, format=text, listener_log=True)
    assert logging.operators == command_operators(_file_log(logging.entry)) == operators


@pytest.mark.parametrize(
    ("path", "mesh"),
    [
        ("quickstart.yaml", {"access_log_file": "/dev/stdout"}),
        (
            "istio-objects.yaml",
            {
                "access_log_file": "/var/log/istio/access.log",
                "access_log_encoding": "JSON",
                "access_log_format": '{"code": "%RESPONSE_CODE%", "up": {"host": "%UPSTREAM_HOST%"}}',
                "disable_envoy_listener_log": True,
            },
        ),
    ],
)
def test_both_paths_agree_byte_for_byte(path: str, mesh: dict[str, Any]) -> None:
    """Sizes and counts (``access_logs``, ``access_log_operators``) of the vectorized accounting against
    real messages, under every design: ServiceEntry listeners, TCP and TLS routes and Sidecars included
    (istio-objects.yaml)."""
    cluster = _cluster(path, **mesh)
    step = max(1, len(cluster.proxies) // 12)
    for design in design_names():
        assert assert_methods_agree(cluster, design, range(0, len(cluster.proxies), step)) > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "mesh",
    [
        {"access_log_file": "/dev/stdout"},
        {
            "access_log_file": "/dev/stdout",
            "access_log_encoding": "JSON",
            "access_log_format": '{"path": "%REQ_WITHOUT_QUERY(:PATH)%", "n": {"d": "%DURATION%"}, "c": 3}',
        },
    ],
)
def test_envoy_accepts_every_logging_config(mesh: dict[str, Any]) -> None:
    assert_envoy_accepts_every_proxy(_cluster("istio-objects.yaml", **mesh))


WILDCARD_ENTRY: dict[str, Any] = {
    "name": "wildcard-entry",
    "seed": 1,
    "visibility": "all",
    "mesh": {"access_log_file": "/dev/stdout"},
    "namespaces": [{"name": "shop"}],
    "services": [{"name": "frontend", "namespace": "shop", "ports": [{"port": 80, "name": "http"}]}],
    "workloads": [{"name": "frontend", "namespace": "shop", "replicas": 2}],
    "service_entries": [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "hosts": ["db.example.com"],
                "ports": [{"number": 5432, "name": "tcp-db", "protocol": "TCP"}],
                "resolution": "DNS",
                "location": "MESH_EXTERNAL",
            },
        }
    ],
    "virtual_services": [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "hosts": ["db.example.com"],
                "tcp": [{"route": [{"destination": {"host": "db.example.com", "port": {"number": 5432}}}]}],
            },
        }
    ],
}


def test_the_accounting_logs_a_copy_of_the_chains_the_mesh_objects_share() -> None:
    """An address-less ServiceEntry port's chain is its VirtualService's routed chain, which the mesh
    objects keep and hand to every caller: the accounting, run before the messages and twice, must
    leave it as it found it (each run logged it once more, and so did every later config)."""
    cluster = build_cluster(scenario_from_dict(WILDCARD_ENTRY, source="wildcard entry"))
    for design in design_names():
        assert assert_methods_agree(cluster, design, fast_first=True) > 0
        assert assert_methods_agree(cluster, design) > 0
    config = _config(cluster, "single-stack")
    (listener,) = [x for x in config.listeners if x.address.socket_address.port_value == 5432]
    assert [len(logs) for _, logs in _chain_logs(listener)] == [1]
