"""``meshConfig.discoverySelectors``: the namespaces istiod discovers, and what it ignores in the others.

Istio's discovery filter (``pkg/kube/namespace/filter.go``) keeps a namespace whose labels match
any selector (no selector: every namespace), each selector read as Kubernetes reads one
(``pkg/config/mesh/labelselector``: an empty selector matches everything). Every informer of a
namespaced kind is filtered by it (``kubelib.SetObjectFilter`` in ``pilot/pkg/bootstrap/server.go``):
the Services, EndpointSlices and Pods of the other namespaces, and, through the config store
(``pilot/pkg/config/kube/crdclient``), their VirtualServices, DestinationRules, ServiceEntries and
Sidecars (``ENABLE_ENHANCED_RESOURCE_SCOPING``, on by default since Istio 1.22). Injection does not
ask the filter: a pod there still runs a sidecar, which connects and gets the config of what
istiod discovers. ``docs/istio-objects.md`` (discovery selectors) says how dsim follows it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

from dsim.scenario.discovery import Discovery, scenario_discovery
from dsim.scenario.model import Scenario

UNDISCOVERED_SERVICES = (
    "Service in a namespace meshConfig.discoverySelectors leaves out: not in the registry, so in no config "
    "(its pods' sidecars still get theirs), as istiod ignores it"
)


def discovery(s: Scenario, namespaces: pd.DataFrame) -> Discovery:
    """The namespaces ``s``'s ``mesh.discovery_selectors`` discover, ``namespaces`` the cluster's table
    (the synthetic namespaces' injection with the declared ones')."""
    rows = zip(namespaces["name"].tolist(), namespaces["sidecar_injection"].tolist(), strict=True)
    return scenario_discovery(s, list(rows))


def discovered_namespaces(s: Scenario, namespaces: pd.DataFrame) -> np.ndarray:
    """Per row of the cluster's ``namespaces`` table, whether istiod discovers it."""
    found = discovery(s, namespaces)
    return np.array([found.discovers(name) for name in namespaces["name"].tolist()], dtype=bool)


class _Namespaced(Protocol):
    @property
    def namespace(self) -> str: ...


Obj = TypeVar("Obj", bound=_Namespaced)


def discovered(objects: Sequence[Obj], found: Discovery, kind: str, notes: Counter[str]) -> list[Obj]:
    """``objects`` (VirtualServices, DestinationRules, ServiceEntries, Sidecars or ExternalName
    Services) in the namespaces istiod discovers; those left out are counted in ``notes``."""
    kept = [obj for obj in objects if found.discovers(obj.namespace)]
    if len(kept) < len(objects):
        notes[f"{kind} in a namespace meshConfig.discoverySelectors leaves out: ignored, as istiod ignores it"] += len(
            objects
        ) - len(kept)
    return kept


def with_discovered_objects(s: Scenario, found: Discovery, notes: Counter[str]) -> Scenario:
    """``s`` with only the pasted VirtualServices, DestinationRules, ServiceEntries, Sidecars and
    ExternalName Services of the namespaces istiod discovers (the generated ones are filtered where they are made)."""
    if not s.mesh.discovery_selectors:
        return s
    return dataclasses.replace(
        s,
        virtual_services=tuple(discovered(s.virtual_services, found, "VirtualService", notes)),
        destination_rules=tuple(discovered(s.destination_rules, found, "DestinationRule", notes)),
        service_entries=(
            *discovered([e for e in s.service_entries if e.headless], found, "headless Service", notes),
            *discovered([e for e in s.service_entries if not e.headless], found, "ServiceEntry", notes),
        ),
        sidecars=tuple(discovered(s.sidecars, found, "Sidecar", notes)),
        external_name_services=tuple(discovered(s.external_name_services, found, "ExternalName Service", notes)),
    )


def drop_undiscovered_services(s: Scenario, tables: dict[str, pd.DataFrame]) -> int:
    """Remove from ``tables`` the Services of namespaces istiod does not discover, with their ports,
    subsets, endpoints' memberships and the calls to them; the other rows keep their order and the
    ids are renumbered. Returns how many were removed. Workloads and pods stay: they run sidecars."""
    if not s.mesh.discovery_selectors:
        return 0
    seen = discovered_namespaces(s, tables["namespaces"])
    services = tables["services"]
    keep = seen[services["namespace"].to_numpy()] if len(services) else np.ones(0, dtype=bool)
    if keep.all():
        return 0
    tables["services"] = services[keep].reset_index(drop=True)
    subsets_kept = keep[tables["subsets"]["service"].to_numpy()]
    for name in ("service_ports", "subsets", "service_workloads", "written_endpoints", "dependencies"):
        _keep_rows(tables, name, "service", keep)
    _keep_rows(tables, "subset_workloads", "subset", subsets_kept)
    return int((~keep).sum())


def _keep_rows(tables: dict[str, pd.DataFrame], name: str, column: str, kept: np.ndarray) -> None:
    """Keep the rows of ``tables[name]`` whose ``column`` id is ``kept``, renumbering the ids as the
    kept rows of the table it points into are numbered."""
    frame = tables[name]
    ids = frame[column].to_numpy()
    held = kept[ids]
    renumbered = (np.cumsum(kept) - 1)[ids[held]]
    tables[name] = frame[held].assign(**{column: renumbered.astype(frame[column].dtype)}).reset_index(drop=True)
