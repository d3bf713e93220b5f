"""What the mesh config gives every cluster and route istiod builds, beside what an object says.

``meshConfig.h2UpgradePolicy``, ``connectTimeout``, ``tcpKeepalive`` and ``defaultHttpRetryPolicy``
(docs/istio-objects.md 4.11): the builders take them as one hashable value, so the clusters the
generator caches across proxies and the accounting's templates are built from the same settings.
"""

from __future__ import annotations

import dataclasses

from dsim.scenario.istio.destination_rule import LocalityLbSetting, TcpKeepalive
from dsim.scenario.istio.virtual_service import HTTPRetry
from dsim.scenario.model import Mesh

ISTIO_CONNECT_TIMEOUT_MS = Mesh().connect_timeout
"""Istio's ``connectTimeout``, 10 s (``mesh.DefaultMeshConfig``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshDefaults:
    """The mesh-wide settings the cluster and route builders read; Istio's defaults unless given."""

    h2_upgrade: bool = False
    """``h2UpgradePolicy`` is ``UPGRADE``: HTTP ports' outbound clusters speak HTTP/2."""
    connect_timeout: int = ISTIO_CONNECT_TIMEOUT_MS
    """Every cluster's connect timeout, milliseconds, unless a DestinationRule sets its own."""
    tcp_keepalive: TcpKeepalive | None = None
    """Keepalive on every cluster's upstream sockets but the black hole's (``applyTCPKeepalive``)."""
    http_retry: HTTPRetry | None = None
    """The retry policy of routes whose VirtualService sets none (``None``: Istio's own)."""
    locality: LocalityLbSetting | None = None
    """The locality setting of clusters whose DestinationRule sets none (``None``: Istio's
    ``{enabled: true}``)."""

    @classmethod
    def of(cls, mesh: Mesh) -> MeshDefaults:
        return cls(
            h2_upgrade=mesh.h2_upgrade_policy == "UPGRADE",
            connect_timeout=mesh.connect_timeout,
            tcp_keepalive=mesh.tcp_keepalive,
            http_retry=mesh.default_http_retry_policy,
            locality=mesh.locality_lb_setting,
        )


ISTIO_MESH = MeshDefaults()
"""Istio's defaults, for callers (tests, benches) that build a resource outside a mesh: every
builder requires its ``mesh``, so the generator and the accounting cannot fall back to it unnoticed."""
