"""Reading one proxy's generated config in tests: by proxy name, and what its chains proxy to."""

from __future__ import annotations

from typing import Any

from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for


def config_of(cluster: Cluster, proxy: str, design: str = "single-stack") -> ProxyConfig:
    """The config of proxy ``proxy`` (``namespace/workload``) under ``design``."""
    index = index_for(cluster)
    return proxy_config(index, index.find_proxy(proxy), get_design(design))


def route_vhosts(cluster: Cluster, proxy: str, route_name: str, design: str = "single-stack") -> dict[str, Any]:
    """The virtual hosts of ``proxy``'s route configuration ``route_name``, by name (none where it has none)."""
    found = [r for r in config_of(cluster, proxy, design).routes if r.name == route_name]
    return {vhost.name: vhost for vhost in (found[0].virtual_hosts if found else ())}


def tcp_proxy_of(chain: Any) -> tcp_proxy_pb2.TcpProxy:
    """The ``tcp_proxy`` a filter chain ends with."""
    found = tcp_proxy_pb2.TcpProxy()
    chain.filters[-1].typed_config.Unpack(found)
    return found


def dual_stack_service(name: str, namespace: str, *ports: tuple[int, str], **more: Any) -> dict[str, Any]:
    """A scenario's dual-stack service with ``ports`` as (number, name), and any other fields."""
    return {
        "name": name,
        "namespace": namespace,
        "ip_families": ["IPv4", "IPv6"],
        "ports": [{"port": number, "name": port_name} for number, port_name in ports],
        **more,
    }


def app_sidecar(name: str, namespace: str, app: str, **spec: Any) -> dict[str, Any]:
    """A scenario's Sidecar selecting the workloads labelled ``app: <app>``, with the rest of its
    ``spec`` (``egress``, ``ingress``, ...) as given."""
    return {"name": name, "namespace": namespace, "spec": {"workloadSelector": {"labels": {"app": app}}, **spec}}
