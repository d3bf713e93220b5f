"""Which services' passthrough clusters get Istio mTLS: those whose endpoints all run a sidecar.

A passthrough cluster (``ORIGINAL_DST``: a headless Service's, a ``NONE`` entry's, or any under a
``PASSTHROUGH`` load balancer) sends each connection where the application dialled, so auto mTLS
cannot pick a socket per endpoint. Istio 1.30 decides for all of them at once
(``BestEffortInferServiceMTLSMode`` in ``pilot/pkg/model/push_context.go``, for a Passthrough host
or where the policy it reads asks for ``PASSTHROUGH``: ``ClusterPolicy.passthrough_tls``): over
every endpoint of the service's shards (``ServiceEndpointsByPort``: ready or not, every family),
mTLS only where there is one and none has ``tlsMode: disabled``; a pod has ``istio`` with a sidecar
(the injector's label), ``disabled`` without (``docs/istio-objects.md`` 3.5).
"""

from __future__ import annotations

import numpy as np

from dsim.cluster.tables import Cluster


def every_endpoint_meshed(cluster: Cluster) -> np.ndarray:
    """Per ``services`` row: whether its selected pods (a Service's, ready or not; an entry's
    selector's) exist and all run a sidecar (a Service with endpoints written by hand selects none:
    never). An entry's listed endpoints are read where its clusters
    are built (:func:`dsim.xds.service_entries.entry_endpoints_meshed`)."""

    def make() -> np.ndarray:
        links = cluster.service_workloads
        workload = links["workload"].to_numpy()
        service = links["service"].to_numpy()
        pods = np.bincount(cluster.pods["workload"].to_numpy(), minlength=len(cluster.workloads))
        running = pods[workload] > 0
        plain = running & ~cluster.workloads["sidecar"].to_numpy(bool)[workload]
        n = len(cluster.services)
        return (np.bincount(service[running], minlength=n) > 0) & (np.bincount(service[plain], minlength=n) == 0)

    return cluster.keep("every_endpoint_meshed", make)
