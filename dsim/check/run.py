"""``dsim check``: every sidecar of a bug-report, dsim's config against the real one.

For each ``proxies/<ns>/<pod>`` with a ``config_dump``: find dsim's proxy of that name in the
cluster (:func:`dsim.check.source.cluster_for`), generate its config under the design, compare it
resource by resource (:mod:`dsim.check.compare`); then dsim's bytes against istiod's logged
pushes, and the predicted Envoy memory against the ``memory`` file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dsim.calibration.model import Calibration
from dsim.check.archive import read_archive
from dsim.check.compare import DIFFERENCE_COLUMNS, SUMMARY_COLUMNS, compare_proxy, compare_pushes
from dsim.check.config_dump import read_config_dump
from dsim.check.discovery_log import latest_full_pushes
from dsim.check.memory import memory_table, predicted_memory, read_memory
from dsim.check.report import PROXY_COLUMNS, CheckResult
from dsim.check.source import cluster_for, unmodeled_objects
from dsim.designs import get_design
from dsim.errors import DsimError
from dsim.inventory import ImportOptions
from dsim.scenario import Scenario
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for

DEFAULT_DESIGN = "additional-addresses"
"""What Istio 1.17 and later ship: a real mesh's dumps are held to it unless told otherwise."""


def check_archive(
    path: str | Path,
    *,
    design: str = DEFAULT_DESIGN,
    scenario: Scenario | str | Path | None = None,
    output: Path | None = None,
    calibration: Calibration | None = None,
    import_options: ImportOptions | None = None,
) -> CheckResult:
    """Check dsim against the bug-report at ``path`` (``.tar.gz`` or folder); write the result
    folder to ``output`` when given. ``scenario``: the cluster to compare with, instead of the
    one imported from the archive."""
    chosen = get_design(design)
    archive = read_archive(path)
    source = cluster_for(archive, scenario, import_options)
    index = index_for(source.cluster)
    summaries, differences, proxies = [], [], []
    rows: dict[str, int] = {}
    observed_memory: dict[str, dict[str, int]] = {}
    for name, files in archive.proxies.items():
        status, row = "compared", None
        if "config_dump" not in files.files:
            status = "no config_dump"
        else:
            try:
                row = index.find_proxy(name)
            except DsimError:  # no proxy of that name: an unknown pod, or one without a sidecar
                status = "no dsim proxy"
        dump = None
        if row is not None:
            dump = read_config_dump(files.files["config_dump"], archive.location(files.where["config_dump"]))
            summary, differing = compare_proxy(name, proxy_config(index, row, chosen), dump)
            summaries.append(summary)
            differences.append(differing)
            rows[name] = row
            if "memory" in files.files:
                observed_memory[name] = read_memory(files.files["memory"], archive.location(files.where["memory"]))
        proxies.append(
            {
                "proxy": name,
                "status": status,
                "static_clusters": None if dump is None else dump.static_clusters,
                "secrets": None if dump is None else dump.secrets,
                "unparsed": None if dump is None else len(dump.unparsed),
                "wasm_resources": None if dump is None else sum(_is_wasm(r.type_urls) for r in dump.resources),
                "endpoints_dumped": None if dump is None else "endpoints" in dump.sections,
            }
        )
    table = _concat(summaries, SUMMARY_COLUMNS)
    pushes = latest_full_pushes(
        (name, files.files["discovery"].decode(errors="replace"))
        for name, files in archive.istiods.items()
        if "discovery" in files.files
    )
    predicted, memory_note = predicted_memory(
        source.cluster, design, [rows[p] for p in observed_memory], calibration=calibration
    )
    by_name = {p: predicted[rows[p]] for p in observed_memory if rows[p] in predicted}
    result = CheckResult(
        archive=str(archive.source),
        design=design,
        origin=source.origin,
        table=table,
        differences=_concat(differences, DIFFERENCE_COLUMNS),
        pushes=compare_pushes(table, pushes),
        logged_pushes=len(pushes),
        memory=memory_table(observed_memory, by_name),
        memory_note=memory_note,
        proxies=pd.DataFrame(proxies, columns=PROXY_COLUMNS),
        skipped=source.skipped,
        unmodeled=unmodeled_objects(archive, source),
    )
    if output is not None:
        result.write(output)
    return result


def _is_wasm(type_urls: tuple[str, ...]) -> bool:
    return any(".wasm." in url for url in type_urls)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    kept = [f for f in frames if not f.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)
