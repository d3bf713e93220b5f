"""What a service adds to the workloads of the viewers that see it through their own view.

The class prices the config model starts from are the base view's
(:mod:`dsim.cluster.object_views`). Where a viewer (a namespace, or some of its pods) applies
another VirtualService or DestinationRule to a service, or gets other routes from it
(``Cluster.object_views``), that service adds something else to its workloads: its clusters,
endpoint sets and routes as that view builds them. Each such (viewer group, service) is an
:class:`Override`, priced by the accounting's own pricing in that view, its endpoint bytes
following every membership state as the base's do.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.accounting.columns import ClusterColumns, view_columns
from dsim.accounting.proxies import PROXY_CLASSES, class_prices
from dsim.cluster import Cluster
from dsim.designs.base import Design, ProxyFacts
from dsim.pushsim.membership import Membership, state_endpoint_prices
from dsim.xds.mesh_objects import ObjectView, mesh_objects

# Per-service prices an override replaces, by the config model's names (:mod:`dsim.pushsim.configs`).
PRICED = {
    "cds": "cds_bytes",
    "clusters": "cds_resources",
    "eds": "eds_bytes",
    "lds": "lds_bytes",
    "rds": "rds_bytes",
    "laa": "listener_additional_addresses",
    "eaa": "endpoint_additional_addresses",
}


@dataclasses.dataclass(eq=False)
class Override:
    """One service as the workloads of some namespaces see it, per proxy family class."""

    service: int
    view: ObjectView
    """The view it is priced in."""
    workloads: np.ndarray
    """Mask over workloads: those of the viewers whose view this is."""
    values: dict[str, np.ndarray]
    """Per name of :data:`PRICED` and ``same``/``other`` (its virtual hosts' bytes seen from its own
    namespace or another): one value per class. ``eds`` and ``eaa`` follow the membership states."""
    auto: np.ndarray
    """Per class and tracing class: bytes of its auto-detected ports' listeners."""
    state_deltas: dict[int, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    """Per membership state that changes its endpoints: (endpoint bytes, endpoint additional
    addresses) added per class, in this view."""
    initial: tuple[np.ndarray, np.ndarray] = dataclasses.field(init=False)
    """Endpoint bytes and additional addresses per class with every workload's own pods."""


def view_overrides(
    cluster: Cluster,
    cols: ClusterColumns,
    design: Design,
    classes: np.ndarray,
    taus: list[int],
    workload_viewer: np.ndarray,
) -> dict[int, list[Override]]:
    """Per service with a view other than the base for some viewer (a namespace, or the proxies a
    DestinationRule's workloadSelector or a match's sourceLabels picks, or whose import scope
    leaves some VirtualService out: ``workload_viewer``): its overrides."""
    objects = mesh_objects(cluster)
    out: dict[int, list[Override]] = {}
    k_count = len(PROXY_CLASSES)
    for services, viewers in objects.view_groups():
        workloads = np.isin(workload_viewer, viewers)
        if not workloads.any():
            continue
        view = objects.view(viewers[0])
        seen_from = view_columns(cols, view, services)
        found = {
            int(s): Override(
                service=int(s),
                view=view,
                workloads=workloads,
                values={name: np.zeros(k_count, np.int64) for name in (*PRICED, "same", "other")},
                auto=np.zeros((k_count, max(len(taus), 1)), np.int64),
            )
            for s in services.tolist()
        }
        for k in classes.tolist():
            # ServiceEntry hosts among them are priced from their messages in this view (accounting/entries.py).
            prices = class_prices(
                cluster, seen_from, design, ProxyFacts(families=PROXY_CLASSES[k]), taus, entry_services=services
            )
            ps = prices.per_service
            http = prices.http
            for s, override in found.items():
                for name, column in PRICED.items():
                    if column in ps:
                        override.values[name][k] = int(ps[column].to_numpy()[s])
                mine = http[http["service"].to_numpy() == s]
                override.values["same"][k] = int(mine["vhost_same"].sum())
                override.values["other"][k] = int(mine["vhost_other"].sum())
                for i, t in enumerate(taus):
                    override.auto[k, i] = int(prices.auto_listener_bytes[t][s])
        for s, override in found.items():
            override.initial = (override.values["eds"].copy(), override.values["eaa"].copy())
            out.setdefault(s, []).append(override)
    return out


def state_delta(
    state: Membership, override: Override, design: Design, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The endpoint change of membership ``state`` to ``override``'s service, in its view, against
    its own pods (:attr:`Override.initial`)."""
    only = np.array([override.service], dtype=np.int64)
    eds = np.zeros(len(PROXY_CLASSES), np.int64)
    eaa = np.zeros(len(PROXY_CLASSES), np.int64)
    seen = view_columns(state.cols, override.view, only)
    for k in classes.tolist():
        priced = state_endpoint_prices(state, seen, design, ProxyFacts(families=PROXY_CLASSES[k]), only)
        eds[k] = int(priced["eds_bytes"].to_numpy()[0]) - override.initial[0][k]
        eaa[k] = int(priced["endpoint_additional_addresses"].to_numpy()[0]) - override.initial[1][k]
    return eds, eaa
