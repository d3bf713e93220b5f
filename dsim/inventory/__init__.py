"""A real cluster in: ``dsim import`` reads the inventory a platform team already captures
(``kubectl get ... -A -o yaml|json`` streams and ``istioctl bug-report`` archives) into a scenario
with every object explicit (``docs/import.md``).

::

    imported = import_inventory(["cluster.yaml"])
    print("\\n".join(imported.summary()))   # what was imported, what was skipped and why
    scenario = imported.load()             # a Scenario, as `dsim run` loads its file
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dsim.inventory.assemble import Imported, ImportOptions, import_objects
from dsim.inventory.read import KubeObject, read_objects


def import_inventory(
    sources: Sequence[str | Path], options: ImportOptions | None = None, *, stdin: TextIO | None = None
) -> Imported:
    """The scenario of the cluster captured in ``sources`` (files, folders, archives, ``-`` for stdin)."""
    return import_objects(read_objects(sources, stdin=stdin), options)


__all__ = ["ImportOptions", "Imported", "KubeObject", "import_inventory", "import_objects", "read_objects"]
