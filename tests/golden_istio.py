"""Istio's own single-stack sidecar dumps (extracts in ``tests/data/istio-golden``), parsed with xds-protos.

Istio-private ``typed_config`` types (``stats.PluginConfig``, ``MetadataExchange``, the ALPN
``FilterConfig``) are parsed with their real message definitions
(:mod:`dsim.xds.istio_filters`), so a golden resource's ``ByteSize()`` is its wire size.
Where each extract comes from: ``tests/data/istio-golden/README.md``.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

from envoy.admin.v3 import config_dump_pb2, config_dump_shared_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf import json_format
from udpa.type.v1 import typed_struct_pb2  # noqa: F401 — registers TypedStruct (istio_authn's config)

import dsim.xds.dump  # noqa: F401 — registers every Envoy type dsim uses
from dsim.xds import istio_filters
from tests.conftest import DATA

GOLDEN = DATA / "istio-golden"


@functools.cache
def _register_every_envoy_type() -> None:
    """Import every xds-protos module so the descriptor pool resolves any ``@type`` in a dump."""
    import envoy

    for module in pkgutil.walk_packages(envoy.__path__, "envoy."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)


def load_dump(name: str) -> config_dump_pb2.ConfigDump:
    """A golden dump, every field known (an unknown one fails: its bytes would be lost)."""
    _register_every_envoy_type()
    istio_filters.register()
    path: Path = GOLDEN / name
    return json_format.ParseDict(json.loads(path.read_text()), config_dump_pb2.ConfigDump())


def _dynamic(dump: str, part_type: Any, entries: str, field: str, resource_type: Any) -> list[Any]:
    """The resources of one kind in a golden dump (``part.<entries>[].<field>``, unpacked)."""
    found = []
    for config in load_dump(dump).configs:
        part = part_type()
        if config.Unpack(part):
            for entry in getattr(part, entries):
                resource = resource_type()
                packed = entry
                for step in field.split("."):
                    packed = getattr(packed, step)
                packed.Unpack(resource)
                found.append(resource)
    return found


def golden_listeners() -> dict[str, listener_pb2.Listener]:
    listeners = _dynamic(
        "listeners.json",
        config_dump_shared_pb2.ListenersConfigDump,
        "dynamic_listeners",
        "active_state.listener",
        listener_pb2.Listener,
    )
    return {listener.name: listener for listener in listeners}


def golden_clusters() -> list[cluster_pb2.Cluster]:
    return _dynamic(
        "clusters.json",
        config_dump_shared_pb2.ClustersConfigDump,
        "dynamic_active_clusters",
        "cluster",
        cluster_pb2.Cluster,
    )


def golden_assignments() -> list[endpoint_pb2.ClusterLoadAssignment]:
    return _dynamic(
        "endpoints.json",
        config_dump_shared_pb2.EndpointsConfigDump,
        "dynamic_endpoint_configs",
        "endpoint_config",
        endpoint_pb2.ClusterLoadAssignment,
    )
