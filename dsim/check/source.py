"""Which cluster an archive is checked against, and what the archive holds that dsim does not model.

:func:`cluster_for` is the one place that decides: a scenario when the caller names one (how the
tests and ``write_archive``'s archives are checked today), else the archive's own
``cluster/k8s-resources`` and ``crs`` through dsim's importer (:mod:`dsim.inventory`), which keeps
the real pod names so each ``proxies/<ns>/<pod>`` finds its proxy.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from dsim.api import build_cluster
from dsim.check.archive import Archive
from dsim.cluster import Cluster
from dsim.inventory import ImportOptions, import_inventory
from dsim.scenario import Scenario

UNMODELED_KINDS = ("EnvoyFilter", "Telemetry", "WasmPlugin")
"""Istio objects that change the config istiod sends and dsim does not model."""


@dataclasses.dataclass(frozen=True)
class MeshSource:
    """The cluster a check compares with, where it came from, and what its import left out."""

    cluster: Cluster
    origin: str
    skipped: dict[str, int]
    """Objects the import skipped, counted by ``"<kind>: <reason>"``."""
    imported: bool = False
    """Whether the mesh was imported from the archive (else a scenario was given)."""


def cluster_for(
    archive: Archive, scenario: Scenario | str | Path | None = None, options: ImportOptions | None = None
) -> MeshSource:
    """The cluster to generate configs from: ``scenario`` when given, else the archive's inventory
    (imported with ``options``: the cluster's CIDRs when the archive does not state them)."""
    if scenario is not None:
        origin = f"scenario {scenario}" if not isinstance(scenario, Scenario) else f"scenario {scenario.name}"
        return MeshSource(build_cluster(scenario), origin, {})
    imported = import_inventory([archive.source], options)
    skipped = {f"{kind}: {why}": count for (kind, why), count in imported.skipped().items()}
    return MeshSource(build_cluster(imported.load()), "the mesh imported from its inventory", skipped, imported=True)


_KIND = re.compile(
    rb"^\s*(?:- )?kind:\s*[\"']?(" + b"|".join(k.encode() for k in UNMODELED_KINDS) + rb")[\"']?\s*$", re.M
)


def unmodeled_objects(archive: Archive, source: MeshSource) -> dict[str, int]:
    """How many EnvoyFilters, Telemetry and WasmPlugin objects the archive's ``crs`` holds: the import's
    own counts when the mesh was imported from it, else counted by their ``kind:`` lines (YAML or JSON
    alike, without parsing a file that may be large)."""
    counts = dict.fromkeys(UNMODELED_KINDS, 0)
    if source.imported:
        for key, n in source.skipped.items():
            kind = key.split(":", 1)[0]
            if kind in counts:
                counts[kind] += n
        return counts
    text = archive.cluster.get("crs", b"")
    for match in _KIND.finditer(text):
        counts[match[1].decode()] += 1
    for match in re.finditer(rb'"kind":\s*"(' + b"|".join(k.encode() for k in UNMODELED_KINDS) + rb')"', text):
        counts[match[1].decode()] += 1
    return counts
