"""One measurement: a fresh Envoy receives one sidecar config over ADS; how much memory and CPU
did it take?

The config is the generated one, with two changes: the filters only Istio's proxy has are
stripped (:func:`dsim.xds.upstream.upstream_config`: this Envoy has no extension for them, so the
measured memory lacks theirs), and listeners that bind a socket (the virtual outbound and inbound
listeners, on 0.0.0.0/:: and ports 15001/15006 in a pod) bind free ports on 127.0.0.1/::1
instead, so a measurement never listens beyond loopback or collides with anything.

Memory is read once Envoy has flushed its stats after finishing initialization
(:meth:`LiveEnvoy.stats_flushed`): the first flush frees a little (about 10 KiB on an idle
Envoy), so a reading before it would depend on how fast the config went live. Envoy flushes every
5 s from start by default (Istio keeps it); the measured Envoy flushes every
:data:`STATS_FLUSH_INTERVAL_S` instead, so a run waits about a second for that flush rather than
up to five. What the flush frees does not depend on when it comes: ``bench/calibration_flush.py``
measures the same configs both ways (memory equal within run-to-run noise, each run about 3.6x
shorter). The reading's time after ``LIVE`` is recorded (``memory_read_s``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf.message import Message

from dsim.calibration.certificate_profiles import DEFAULT_CERTIFICATE_PROFILE
from dsim.calibration.live_envoy import LiveEnvoy, live_bootstrap
from dsim.calibration.secrets import mesh_certificates
from dsim.calibration.xds_server import XdsServer, type_url
from dsim.errors import EnvoyRunError
from dsim.xds.envoy import free_port, sidecar_bootstrap
from dsim.xds.generate import ProxyConfig
from dsim.xds.upstream import upstream_config

APPLY_TIMEOUT_S = 300.0
_QUIET_S = 0.3  # after the config is live, before reading CPU: lets the workers finish adding listeners
_STABLE_POLLS = 3  # memory readings in a row that must agree before it counts as settled
_STABLE_TOLERANCE = 0.002
_POLL_S = 0.1
STATS_FLUSH_INTERVAL_S = 1.0
"""The measured Envoy's stats flush interval (Envoy's and Istio's default is 5 s: see the module's notes)."""
FLUSH_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Measurement:
    """What one config cost one fresh Envoy."""

    idle_allocated_bytes: int
    """tcmalloc allocated bytes with only the bootstrap loaded."""
    allocated_bytes: int
    """tcmalloc allocated bytes once the config is live and memory has settled."""
    heap_size_bytes: int
    """tcmalloc heap size (allocated + free + fragmentation) at the same moment."""
    stats: int
    """Number of stats Envoy holds."""
    apply_cpu_ms: float
    """Process CPU time (all threads, user + system) from the first response to live config."""
    apply_wall_ms: float
    """Wall time from the first response until every resource was ACKed and Envoy was live."""
    memory_read_s: float
    """When ``allocated_bytes`` was read: seconds after Envoy reported ``LIVE`` (after its first
    stats flush since initializing: up to the stats flush interval)."""


def _to_loopback(address: address_pb2.Address) -> None:
    socket = address.socket_address
    socket.address = "::1" if ":" in socket.address else "127.0.0.1"
    socket.port_value = free_port(socket.address)


def loopback_listeners(listeners: tuple[listener_pb2.Listener, ...]) -> list[listener_pb2.Listener]:
    """The listeners, with every bound address moved to a free loopback port (copies; the rest untouched)."""
    moved = []
    for listener in listeners:
        if listener.HasField("bind_to_port") and not listener.bind_to_port.value:
            moved.append(listener)
            continue
        copy = listener_pb2.Listener()
        copy.CopyFrom(listener)
        _to_loopback(copy.address)
        for extra in copy.additional_addresses:
            _to_loopback(extra.address)
        moved.append(copy)
    return moved


def _named(messages: Sequence[Message], key: str) -> dict[str, Message]:
    return {getattr(m, key): m for m in messages}


def measure(
    config: ProxyConfig,
    *,
    profile: str,
    concurrency: int,
    binary: Path,
    certificate: str = DEFAULT_CERTIFICATE_PROFILE,
    stats_flush_interval_s: float = STATS_FLUSH_INTERVAL_S,
) -> Measurement:
    """Start an Envoy, deliver ``config`` (Istio-only filters stripped) over ADS with SDS
    certificates of the ``certificate`` profile, wait until it is live, its first stats flush has
    happened and memory settles, read."""
    config = upstream_config(config)
    listeners = loopback_listeners(config.listeners)
    resources: dict[str, dict[str, Message]] = {}
    kinds: tuple[tuple[Sequence[Message], str], ...] = (
        (config.clusters, "name"),
        (config.endpoints, "cluster_name"),
        (listeners, "name"),
        (config.routes, "name"),
    )
    for messages, key in kinds:
        if messages:
            resources[type_url(messages[0])] = _named(messages, key)
    secrets = mesh_certificates(profile=certificate).secrets()
    with tempfile.TemporaryDirectory(prefix="dsim-calibrate-") as work:
        boot = sidecar_bootstrap(config, admin_port=0)
        server = XdsServer(
            resources,
            served={type_url(next(iter(secrets.values()))): secrets},
        )
        with (
            server,
            LiveEnvoy(
                live_bootstrap(
                    boot, xds_port=server.port, profile=profile, stats_flush_interval_s=stats_flush_interval_s
                ),
                binary=binary,
                concurrency=concurrency,
                workdir=Path(work),
            ) as envoy,
        ):
            if not server.wait_connected(30):
                envoy.check_alive()
                raise EnvoyRunError(f"Envoy did not connect to the xDS server: {envoy.log_tail()}")
            idle = _settled_memory(envoy)
            cpu_before = envoy.cpu_ns()
            server.release()
            deadline = time.perf_counter() + APPLY_TIMEOUT_S
            while not (server.wait_accepted(_POLL_S) and envoy.ready()):
                envoy.check_alive()
                if server.rejections or time.perf_counter() > deadline:
                    break
            if server.rejections:
                first = server.rejections[0]
                reason = " ".join(first.message.split())
                raise EnvoyRunError(f"Envoy rejected {first.type_url.rsplit('.', 1)[-1]}: {reason}")
            if time.perf_counter() > deadline:
                raise EnvoyRunError(f"config not live after {APPLY_TIMEOUT_S:.0f} s: {envoy.log_tail()}")
            live_at = time.perf_counter()
            time.sleep(_QUIET_S)
            cpu_after = envoy.cpu_ns()
            _wait_for_flush(envoy)
            memory = _settled_memory(envoy)
            read_at = time.perf_counter()
            stats = envoy.stat_count()
    return Measurement(
        idle_allocated_bytes=idle["allocated"],
        allocated_bytes=memory["allocated"],
        heap_size_bytes=memory["heap_size"],
        stats=stats,
        apply_cpu_ms=(cpu_after - cpu_before) / 1e6,
        apply_wall_ms=(live_at - server.released_at) * 1e3,
        memory_read_s=read_at - live_at,
    )


def _wait_for_flush(envoy: LiveEnvoy) -> None:
    deadline = time.perf_counter() + FLUSH_TIMEOUT_S
    while not envoy.stats_flushed():
        envoy.check_alive()
        if time.perf_counter() > deadline:
            raise EnvoyRunError(f"Envoy did not flush its stats within {FLUSH_TIMEOUT_S:.0f} s")
        time.sleep(_POLL_S)


def _settled_memory(envoy: LiveEnvoy) -> dict[str, int]:
    readings = [envoy.memory()]
    while len(readings) < _STABLE_POLLS or not _agree(readings[-_STABLE_POLLS:]):
        if len(readings) > 100:
            raise EnvoyRunError("Envoy's memory did not settle within 10 s")
        time.sleep(_POLL_S)
        readings.append(envoy.memory())
    return readings[-1]


def _agree(readings: list[dict[str, int]]) -> bool:
    values = [r["allocated"] for r in readings]
    return max(values) - min(values) <= _STABLE_TOLERANCE * max(values)
