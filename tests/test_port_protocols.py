"""A Kubernetes Service port's protocol as Istio reads it (``docs/dual-stack-designs.md``, "A port's
protocol"; ``ConvertProtocol``, Istio 1.30's ``pkg/config/kube/conversion.go``): a port on 25, 53,
3306 or 27017 whose name (or ``appProtocol``) names no protocol is TCP, never sniffed; a port read
as UDP is left out; TLS and HTTPS by name or protocol. Through the generator, the accounting,
``dsim import``, the export and ``dsim inspect``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import dsim
from dsim.cluster.summary import by_protocol
from dsim.errors import ScenarioError
from dsim.inventory.export import inventory_objects
from tests.accounting_check import assert_exact_every_design
from tests.config_helpers import config_of
from tests.inventory.captures import imported_from, small_inventory
from tests.inventory.test_export import _round_trip

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"


def _mesh() -> dsim.Cluster:
    """A client and four one-port services: an unnamed port on 3306 (to 13306), one named ``db`` on
    27017, and unnamed ones on 3307 and 8080 (to 3306): the service port decides, not the target."""
    services = [("mysql", 3306, "", 13306), ("mongo", 27017, "db", 27017), ("cache", 3307, "", 3307)]
    services.append(("web", 8080, "", 3306))
    return dsim.build_cluster(
        dsim.scenario_from_dict(
            {
                "namespaces": [{"name": "a"}],
                "services": [
                    {"name": name, "namespace": "a", "ports": [{"port": port, "name": port_name, "target_port": to}]}
                    for name, port, port_name, to in services
                ],
                "workloads": [{"name": name, "namespace": "a"} for name, *_ in services]
                + [{"name": "client", "namespace": "a", "labels": {"app": "client"}}],
            },
            source="well-known ports",
        )
    )


def _chain_ends_by_port(config: Any, direction: int) -> dict[int, list[str]]:
    """The last filter's name of each chain (the default chain last) of each listener of
    ``direction``, by the listener's port."""
    found: dict[int, list[str]] = {}
    for listener in config.listeners:
        if listener.traffic_direction != direction or not listener.address.socket_address.port_value:
            continue
        chains = [
            *listener.filter_chains,
            *([listener.default_filter_chain] if listener.HasField("default_filter_chain") else []),
        ]
        found[listener.address.socket_address.port_value] = [chain.filters[-1].name for chain in chains]
    return found


def _inbound_chain_ends(cluster: dsim.Cluster, proxy: str, port: int) -> set[str]:
    """What the chains of ``proxy``'s ``virtualInbound`` for ``port`` end with."""
    (inbound,) = [listener for listener in config_of(cluster, proxy).listeners if listener.name == "virtualInbound"]
    return {c.filters[-1].name for c in inbound.filter_chains if c.filter_chain_match.destination_port.value == port}


def test_a_port_istio_never_sniffs_is_tcp_where_its_name_names_nothing() -> None:
    cluster = _mesh()
    protocols = dict(
        zip(cluster.service_ports["port"].tolist(), cluster.service_ports["protocol"].astype(str), strict=True)
    )
    assert protocols == {3306: "TCP", 27017: "TCP", 3307: "auto", 8080: "auto"}
    client = config_of(cluster, "a/client-0")
    outbound = _chain_ends_by_port(client, direction=2)
    assert outbound[3306] == outbound[27017] == [TCP_PROXY]
    assert outbound[3307] == [HCM, TCP_PROXY]  # detected: an HTTP chain, and TCP as the default
    assert {r.name for r in client.routes} >= {"cache.a.svc.cluster.local:3307"}
    assert not {r.name for r in client.routes} & {"mysql.a.svc.cluster.local:3306", "mongo.a.svc.cluster.local:27017"}
    # The pod's own side: TCP chains only on its target port; on 3307, HTTP ones too (detected).
    assert _inbound_chain_ends(cluster, "a/mysql-0", 13306) == {TCP_PROXY}
    assert _inbound_chain_ends(cluster, "a/web-0", 3306) == {TCP_PROXY, HCM}
    assert _inbound_chain_ends(cluster, "a/cache-0", 3307) == {TCP_PROXY, HCM}
    assert_exact_every_design(cluster)


def _import_ports(ports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The scenario's ports of web given ``ports``, and the ports left out, by why."""
    objects = copy.deepcopy(small_inventory())
    (service,) = [o for o in objects if o["kind"] == "Service"]
    service["spec"]["ports"] = ports
    imported = imported_from(objects)
    (web,) = imported.scenario["services"]
    return web["ports"], {why: n for (kind, why), n in imported.skipped().items() if kind == "Service port"}


def test_the_import_reads_the_number_with_the_name_or_app_protocol() -> None:
    ports, _ = _import_ports(
        [
            {"name": "db", "port": 3306, "protocol": "TCP", "targetPort": 13306},
            {"name": "web", "port": 8080, "protocol": "TCP", "targetPort": 3306},  # the service port decides
            {"name": "smtp", "port": 25, "protocol": "TCP", "appProtocol": "tcp"},
            # appProtocol is read instead of the name: it names nothing, and 27018 is no well-known port ...
            {"name": "tcp-x", "port": 27018, "protocol": "TCP", "appProtocol": "mongodb"},
            # ... and 27017 is.
            {"name": "http-x", "port": 27017, "protocol": "TCP", "appProtocol": "mongodb"},
            {"name": "tcp-dns", "port": 53, "protocol": "TCP", "targetPort": 5353, "appProtocol": "dns"},
            # Kubernetes' own appProtocol values count as written only (Istio compares them case-sensitively).
            {"name": "tcp-h2c", "port": 8081, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
            {"name": "web-b", "port": 8082, "protocol": "TCP", "appProtocol": "Kubernetes.io/H2C"},
            # TLS by appProtocol, whatever the name says, and not TLS where the appProtocol says TCP.
            {"name": "web-c", "port": 8443, "protocol": "TCP", "appProtocol": "tls"},
            {"name": "web-d", "port": 8444, "protocol": "TCP", "appProtocol": "kubernetes.io/wss"},
            {"name": "https-e", "port": 8445, "protocol": "TCP", "appProtocol": "tcp"},
            {"name": "https-f", "port": 8446, "protocol": "TCP"},
            # Mongo by appProtocol or name; "mongodb" names nothing (Istio knows "mongo" alone).
            {"name": "db-g", "port": 9017, "protocol": "TCP", "appProtocol": "mongo"},
            {"name": "mongo-h", "port": 9018, "protocol": "TCP"},
        ]
    )
    assert ports == [
        {"port": 3306, "name": "db", "target_port": 13306},  # the name and number say TCP already ...
        {"port": 8080, "name": "web", "target_port": 3306},
        {"port": 25, "name": "smtp"},  # ... as the appProtocol does
        {"port": 27018, "name": "tcp-x", "protocol": "auto"},
        {"port": 27017, "name": "http-x", "protocol": "TCP"},
        {"port": 53, "name": "tcp-dns", "target_port": 5353},  # TCP by its number, as its name says
        {"port": 8081, "name": "tcp-h2c", "protocol": "HTTP2"},
        {"port": 8082, "name": "web-b"},  # detected, as its name says
        {"port": 8443, "name": "web-c", "protocol": "TLS"},
        {"port": 8444, "name": "web-d", "protocol": "HTTPS"},
        {"port": 8445, "name": "https-e", "protocol": "TCP"},
        {"port": 8446, "name": "https-f"},
        {"port": 9017, "name": "db-g", "protocol": "Mongo"},
        {"port": 9018, "name": "mongo-h"},
    ]


def test_a_port_istio_reads_as_udp_is_left_out_by_the_import_and_refused_in_a_scenario() -> None:
    """Istio builds no outbound listener or cluster for it, and dsim does not model its own side."""
    ports, skipped = _import_ports(
        [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "udp-statsd", "port": 8125, "protocol": "TCP"},
            {"name": "tcp-x", "port": 8126, "protocol": "TCP", "appProtocol": "udp"},
            {"name": "udp-y", "port": 8127, "protocol": "TCP", "appProtocol": "tcp"},  # appProtocol first
            {"name": "udp-z", "port": 8128, "protocol": "TCP", "appProtocol": "statsd"},  # detected
            {"name": "dns", "port": 53, "protocol": "UDP"},
            # SCTP is read by the name as TCP is (ConvertProtocol singles out UDP alone).
            {"name": "tcp-s", "port": 9999, "protocol": "SCTP"},
            {"name": "udp-s", "port": 9998, "protocol": "SCTP"},
        ]
    )
    assert ports == [
        {"port": 80, "name": "http"},
        {"port": 8127, "name": "udp-y", "protocol": "TCP"},
        {"port": 8128, "name": "udp-z", "protocol": "auto"},  # said, though the name gives dsim auto
        {"port": 9999, "name": "tcp-s"},
    ]
    assert {why.split(" (")[0]: n for why, n in skipped.items()} == {
        "TCP, UDP by its name": 1,
        "TCP, UDP by its appProtocol": 1,
        "UDP": 1,
        "SCTP, UDP by its name": 1,
    }
    scenario = {
        "namespaces": [{"name": "a"}],
        "services": [{"name": "web", "namespace": "a", "ports": [{"port": 8125, "name": "udp-statsd"}]}],
    }
    with pytest.raises(ScenarioError, match=r"services\[0\]\.ports\[0\]\.name: Istio reads a port named 'udp-statsd'"):
        dsim.scenario_from_dict(scenario, source="udp")
    scenario["services"][0]["ports"][0]["protocol"] = "TCP"  # as its appProtocol would say
    assert dsim.build_cluster(dsim.scenario_from_dict(scenario, source="udp")).service_ports["protocol"].tolist() == [
        "TCP"
    ]


def _db(ports: list[dict[str, Any]], source: str, **more: Any) -> dsim.Cluster:
    """A mesh of one service ``db`` (namespace ``a``) with ``ports``, its workload, and ``more``."""
    scenario = {
        "namespaces": [{"name": "a"}],
        "services": [{"name": "db", "namespace": "a", "ports": ports}],
        "workloads": [{"name": "db", "namespace": "a"}],
        **more,
    }
    return dsim.build_cluster(dsim.scenario_from_dict(scenario, source=source))


def test_the_export_writes_an_app_protocol_where_the_name_and_number_do_not_say_it(tmp_path: Path) -> None:
    original = _db(
        [
            {"port": 3306, "name": "db"},
            {"port": 3307, "name": "db-b", "protocol": "TCP"},
            {"port": 8080, "name": "http-web", "protocol": "auto"},  # detected, whatever its name
            {"port": 3308, "name": "db-c", "target_port": 3306},  # the service port decides
            {"port": 25, "name": "mail", "target_port": 2525},
            {"port": 8125, "name": "udp-stats", "protocol": "auto"},  # Istio would read UDP
            {"port": 8443, "name": "web", "protocol": "TLS"},
            {"port": 8444, "name": "https-x", "protocol": "HTTPS"},
            {"port": 8445, "name": "https-y", "protocol": "TCP"},
            {"port": 9017, "name": "db-m", "protocol": "Mongo"},
            {"port": 9018, "name": "mongo-n", "protocol": "TCP"},
            {"port": 9019, "name": "api", "protocol": "GRPC-Web"},
            {"port": 9020, "name": "grpc-web", "protocol": "GRPC"},
        ],
        "export",
    )
    (service,) = [o for o in inventory_objects(original) if o["kind"] == "Service"]
    app_protocols = [(p["port"], p.get("appProtocol")) for p in service["spec"]["ports"]]
    assert app_protocols == [
        *[(3306, None), (3307, "tcp"), (8080, "auto"), (3308, None), (25, None), (8125, "auto")],
        *[(8443, "tls"), (8444, None), (8445, "tcp"), (9017, "mongo"), (9018, "tcp")],
        *[(9019, "grpc-web"), (9020, "grpc")],
    ]
    again = _round_trip(original, tmp_path)
    for column in ("protocol", "istio_protocol"):
        assert again.service_ports[column].astype(str).tolist() == original.service_ports[column].astype(str).tolist()
    assert again.service_ports["istio_protocol"].astype(str).tolist()[-7:] == [
        *["TLS", "HTTPS", "TCP", "Mongo", "TCP", "GRPC-Web", "GRPC"]
    ]
    assert again.service_ports["protocol"].astype(str).tolist()[-2:] == ["GRPC", "GRPC"]


def test_inspect_counts_ports_by_the_protocol_istio_reads() -> None:
    """``dsim inspect``'s protocol table names a Service's TLS, HTTPS and Mongo ports as such, not as
    the TCP they are served as, as it does a ServiceEntry's."""
    entry = {
        "name": "ext",
        "namespace": "a",
        "spec": {
            "hosts": ["api.example.com"],
            "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}],
            "resolution": "DNS",
        },
    }
    ports = [
        {"port": 5432, "name": "tcp-pg"},
        {"port": 8443, "name": "web", "protocol": "TLS"},
        {"port": 8444, "name": "https-x"},
        {"port": 8445, "name": "db", "protocol": "Mongo"},
    ]
    cluster = _db(ports, "inspect", service_entries=[entry])
    counted = by_protocol(cluster).set_index("protocol")["service_ports"].to_dict()
    assert counted == {"HTTPS": 2, "Mongo": 1, "TCP": 1, "TLS": 1}
