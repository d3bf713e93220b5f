"""Headless Kubernetes Services as istiod's registry holds them: passthrough hosts at ``0.0.0.0``.

``ConvertService`` (Istio 1.30, ``pilot/pkg/serviceregistry/kube/conversion.go``) gives a Service with
``clusterIP: None`` the resolution ``Passthrough`` and the address ``0.0.0.0``, which is what a
``NONE`` ServiceEntry with a workload selector and no address becomes too; the sidecar builders
treat both alike (per-endpoint listeners, an ``ORIGINAL_DST`` cluster, no endpoint set) but for
what depends on the registry (``docs/istio-objects.md`` 3.11). dsim builds a headless Service as
such an entry marked :attr:`~dsim.scenario.istio.ServiceEntry.headless`, ahead of every pasted
entry (a Service shadows an entry of its host in its namespace), and the builders read the mark
where Istio reads the registry: no port override, its endpoints' families unmerged, the ``*.``
domains, the Service's name in the cluster metadata, every endpoint of its slices ready or not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from dsim.scenario import Scenario
from dsim.scenario.istio import ServiceEntry
from dsim.scenario.istio.common import WorkloadSelector
from dsim.scenario.istio.service_entry import ServiceEntrySpec, ServicePort
from dsim.scenario.model import ExternalNameService, Service


def service_host(svc: Service | ExternalNameService, cluster_domain: str) -> str:
    """A Service's FQDN (an ExternalName one's too), ``<name>.<namespace>.svc.<cluster domain>``."""
    return f"{svc.name}.{svc.namespace}.svc.{cluster_domain}"


def headless_entry(svc: Service, cluster_domain: str) -> ServiceEntry:
    """One headless Service (resolved: its selector and protocols filled in) as its registry entry."""
    ports = tuple(
        # Sniffed ports are the entry's protocol-less ones; the target port serves the pods' inbound side.
        ServicePort(
            number=p.port,
            name=p.name,
            protocol="" if p.protocol == "auto" else str(p.protocol),
            target_port=p.target_port,
        )
        for p in svc.ports
    )
    spec = ServiceEntrySpec(
        hosts=(service_host(svc, cluster_domain),),
        ports=ports,
        location="MESH_INTERNAL",
        resolution="NONE",
        # As a Service's: app=<name> unless written (the scenario refuses {}, Kubernetes' "no selector").
        workload_selector=WorkloadSelector(
            labels=dict(svc.selector if svc.selector is not None else {"app": svc.name})
        ),
        export_to=tuple(svc.export_to),
    )
    return ServiceEntry(
        name=svc.name, namespace=svc.namespace, spec=spec, headless=True, slice_families=tuple(svc.ip_families)
    )


def headless_entries(s: Scenario) -> tuple[ServiceEntry, ...]:
    """The scenario's headless Services as registry entries, in Service order."""
    return tuple(headless_entry(svc, s.mesh.cluster_domain) for svc in s.services if svc.headless)


def with_headless_services(s: Scenario) -> Scenario:
    """``s`` whose ``service_entries`` start with its headless Services' entries
    (:func:`headless_entries`); every reader of the registry's entries goes through this."""
    found = headless_entries(s)
    return dataclasses.replace(s, service_entries=(*found, *s.service_entries)) if found else s


def telemetry_names(names: Sequence[str], entry_of: np.ndarray, entries: Sequence[ServiceEntry]) -> list[str]:
    """Per ``services`` row, the name Istio's metadata lists it by (``istio.services[].name``): a
    Service's name, a ServiceEntry host's host (its ``name`` column), a headless Service's own name."""
    found = list(names)
    for row in np.flatnonzero(headless_rows(entry_of, entries)).tolist():  # rows of headless Services alone
        found[row] = entries[int(entry_of[row])].name
    return found


def headless_rows(entry_of: np.ndarray, entries: Sequence[ServiceEntry]) -> np.ndarray:
    """Per ``services`` row (by its ``entry`` column, ``entry_of``): whether it is a headless Service's."""
    # One False past the entries: a Service's row (entry -1) reads it.
    headless = np.array([*(e.headless for e in entries), False], dtype=bool)
    return headless[entry_of]


def kubernetes_rows(entry_of: np.ndarray, entries: Sequence[ServiceEntry]) -> np.ndarray:
    """Per ``services`` row: whether it is a Kubernetes Service's (of the Kubernetes registry), a
    headless one's included, rather than a ServiceEntry host's."""
    return (entry_of < 0) | headless_rows(entry_of, entries)


def service_entry_rows(entry_of: np.ndarray, entries: Sequence[ServiceEntry]) -> np.ndarray:
    """The ``services`` rows of ServiceEntry hosts proper: not those of headless Services, which a
    ServiceEntry edit never touches."""
    return np.flatnonzero(~kubernetes_rows(entry_of, entries))
