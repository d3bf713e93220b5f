"""A real Envoy process, run the way a sidecar runs, for measuring: ADS from a server on
127.0.0.1, admin on 127.0.0.1 at a port the kernel picks, worker threads set explicitly, no
hot restart (so no shared memory and no base id to collide), always stopped (by the kernel when
dsim itself is killed: :mod:`dsim.tied_process`)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.metrics.v3 import stats_pb2
from envoy.type.matcher.v3 import string_pb2

from dsim.errors import EnvoyRunError
from dsim.tied_process import tied_to_this_process
from dsim.xds.common import SDS_CLUSTER
from dsim.xds.envoy import XDS_CLUSTER, grpc_cluster, use_ads

STATS_PROFILES = ("istio", "envoy-default")
# Istio's sidecar bootstrap (tools/packaging/common/envoy_bootstrap.json, default proxyStatsMatcher):
# stats outside these are rejected at creation, which drops almost every per-cluster stat.
ISTIO_STATS_INCLUSION = (
    ("prefix", "reporter="),
    ("prefix", "cluster_manager"),
    ("prefix", "listener_manager"),
    ("prefix", "server"),
    ("prefix", "cluster.xds-grpc"),
    ("prefix", "wasm"),
    ("suffix", "rbac.allowed"),
    ("suffix", "rbac.denied"),
    ("suffix", "shadow_allowed"),
    ("suffix", "shadow_denied"),
    ("prefix", "component"),
)
START_TIMEOUT_S = 30.0


def stats_config(profile: str) -> stats_pb2.StatsConfig | None:
    """The bootstrap's ``stats_config`` for a stats profile (``None``: Envoy's default, every stat)."""
    if profile not in STATS_PROFILES:
        raise ValueError(f"stats profile {profile!r}: expected one of {', '.join(STATS_PROFILES)}")
    if profile == "envoy-default":
        return None
    config = stats_pb2.StatsConfig(use_all_default_tags={"value": False})
    patterns = config.stats_matcher.inclusion_list.patterns
    for kind, text in ISTIO_STATS_INCLUSION:
        patterns.append(string_pb2.StringMatcher(**{kind: text}))
    return config


def live_bootstrap(
    boot: bootstrap_pb2.Bootstrap, *, xds_port: int, profile: str, stats_flush_interval_s: float | None = None
) -> bootstrap_pb2.Bootstrap:
    """``boot`` (node and admin) completed for a live sidecar: ADS and SDS from ``xds_port``,
    clusters and listeners over ADS, the profile's stats settings, and ``stats_flush_interval_s``
    when given (else Envoy's default, 5 s, which Istio keeps)."""
    live = bootstrap_pb2.Bootstrap()
    live.CopyFrom(boot)
    live.static_resources.clusters.extend([grpc_cluster(XDS_CLUSTER, xds_port), grpc_cluster(SDS_CLUSTER, xds_port)])
    use_ads(live)
    for source in (live.dynamic_resources.cds_config, live.dynamic_resources.lds_config):
        source.ads.SetInParent()
        source.resource_api_version = config_source_pb2.V3
    stats = stats_config(profile)
    if stats is not None:
        live.stats_config.CopyFrom(stats)
    if stats_flush_interval_s is not None:
        live.stats_flush_interval.FromMilliseconds(round(stats_flush_interval_s * 1000))
    return live


def _thread_cpu_ns(pid: int) -> int:
    # schedstat's first field is the thread's time on CPU in ns: the process's utime+stime at
    # nanosecond resolution (utime/stime tick at 10 ms, too coarse for a small config's apply).
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between listing and reading
    return total


class LiveEnvoy:
    """Runs ``envoy`` on a bootstrap in ``workdir`` until the ``with`` block ends."""

    def __init__(self, boot: bootstrap_pb2.Bootstrap, *, binary: Path, concurrency: int, workdir: Path) -> None:
        self._boot, self._binary, self._concurrency, self._workdir = boot, binary, concurrency, workdir
        self._process: subprocess.Popen[bytes] | None = None
        self.admin = ""

    def __enter__(self) -> LiveEnvoy:
        config = self._workdir / "bootstrap.pb"  # binary protobuf, read by the .pb extension
        config.write_bytes(self._boot.SerializeToString())
        address_file = self._workdir / "admin-address"
        command = [
            str(self._binary),
            "-c",
            str(config),
            "--concurrency",
            str(self._concurrency),
            "--disable-hot-restart",
            "--admin-address-path",
            str(address_file),
            "--log-level",
            "warn",
            "--log-path",
            str(self._workdir / "envoy.log"),
        ]
        with open(self._workdir / "envoy.out", "wb") as out:
            self._process = subprocess.Popen(
                tied_to_this_process(command), stdout=out, stderr=subprocess.STDOUT, cwd=self._workdir
            )
        try:
            self.admin = self._wait_for_admin(address_file)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_for_admin(self, address_file: Path) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            text = address_file.read_text().strip() if address_file.exists() else ""
            if text:
                return text
            time.sleep(0.02)
        raise EnvoyRunError(f"Envoy did not open its admin endpoint within {START_TIMEOUT_S:.0f} s: {self.log_tail()}")

    @property
    def pid(self) -> int:
        if self._process is None:
            raise EnvoyRunError("Envoy is not running")
        return self._process.pid

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise EnvoyRunError(f"Envoy exited with code {self._process.returncode}: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        text = ""
        for name in ("envoy.out", "envoy.log"):
            path = self._workdir / name
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(line for line in text.splitlines() if line.strip())[-2000:] or "(no output)"

    def get(self, path: str) -> str:
        """An admin endpoint's body."""
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=30) as reply:
            return str(reply.read().decode())

    def memory(self) -> dict[str, int]:
        """``/memory``: tcmalloc's allocated bytes, heap size and the rest, as integers."""
        return {key: int(value) for key, value in json.loads(self.get("/memory")).items()}

    def stat_count(self) -> int:
        """How many stats (counters, gauges, histograms) exist."""
        return sum(1 for line in self.get("/stats").splitlines() if line.strip())

    def stats_flushed(self) -> bool:
        """Whether Envoy has flushed its stats since it finished initializing: histograms show
        values only once a flush has merged them, and ``server.initialization_time_ms`` is recorded
        when initialization completes (both stats profiles keep ``server.*``). ``server.uptime``
        is no witness: it is also set when the workers start."""
        body = self.get("/stats?filter=^server%5C.initialization_time_ms$")
        return any(
            line.startswith("server.initialization_time_ms:") and "No recorded values" not in line
            for line in body.splitlines()
        )

    def ready(self) -> bool:
        """Whether Envoy finished initializing (every cluster and listener warmed)."""
        try:
            return self.get("/ready").strip() == "LIVE"
        except OSError:
            return False  # /ready answers 503 until then

    def cpu_ns(self) -> int:
        """CPU time the process has used so far, nanoseconds."""
        return _thread_cpu_ns(self.pid)
