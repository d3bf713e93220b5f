"""One proxy's generated config against its real dump: resource by resource, by name, in bytes.

Per xDS type: the resources and bytes on each side, and the resources that differ — only in dsim
(what dsim adds), only in the archive (what dsim lacks), in both with different bytes, or in
the archive but unparsed (their bytes unknown: named instead, and left out of the byte error on
both sides, so ``byte_error`` is over the resources both can size while ``dsim_bytes`` stays what
dsim would push). A type the dump has no section for (endpoints, without ``?include_eds``) is not
compared, and says so.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dsim.check.config_dump import ConfigDump
from dsim.xds.generate import ProxyConfig
from dsim.xds.vocabulary import XDS_TYPES

SAME, DIFFERENT, ONLY_DSIM, ONLY_ARCHIVE, UNPARSED = (
    "same",
    "different bytes",
    "only in dsim",
    "only in archive",
    "unparsed in archive",
)
DIFFERENCE_COLUMNS = ["proxy", "xds_type", "name", "status", "dsim_bytes", "archive_bytes", "detail"]
SUMMARY_COLUMNS = [
    "proxy",
    "xds_type",
    "compared",
    "dsim_resources",
    "archive_resources",
    "dsim_bytes",
    "archive_bytes",
    "byte_error",
    "relative_error",
    "same",
    "different_bytes",
    "only_dsim",
    "only_archive",
    "unparsed",
]


def _generated(config: ProxyConfig, xds_type: str) -> dict[str, int]:
    key = "cluster_name" if xds_type == "endpoints" else "name"
    sizes: dict[str, int] = {}
    for message in config.resources(xds_type):
        name = str(getattr(message, key))
        sizes[name] = sizes.get(name, 0) + message.ByteSize()
    return sizes


def compare_proxy(proxy: str, config: ProxyConfig, dump: ConfigDump) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, differences)`` of one proxy: a row per xDS type, a row per differing resource."""
    summary: list[dict[str, Any]] = []
    differences: list[dict[str, Any]] = []
    for xds_type in XDS_TYPES:
        ours = _generated(config, xds_type)
        compared = xds_type in dump.sections
        counts = dict.fromkeys(("same", "different_bytes", "only_dsim", "only_archive", "unparsed"), 0)
        theirs: dict[str, int] = {}
        archive_resources = 0
        if compared:
            for resource in dump.of_type(xds_type):
                archive_resources += 1
                if resource.bytes is None:
                    counts["unparsed"] += 1
                    detail = ", ".join(resource.unknown_types) or resource.reason
                    differences.append(
                        _row(proxy, xds_type, resource.name, UNPARSED, ours.get(resource.name), None, detail)
                    )
                    ours.pop(resource.name, None)  # named above; not also "only in dsim"
                else:
                    theirs[resource.name] = theirs.get(resource.name, 0) + resource.bytes
            for name in sorted(ours.keys() | theirs.keys()):
                mine, real = ours.get(name), theirs.get(name)
                if mine is None:
                    counts["only_archive"] += 1
                    differences.append(_row(proxy, xds_type, name, ONLY_ARCHIVE, None, real))
                elif real is None:
                    counts["only_dsim"] += 1
                    differences.append(_row(proxy, xds_type, name, ONLY_DSIM, mine, None))
                elif mine != real:
                    counts["different_bytes"] += 1
                    differences.append(_row(proxy, xds_type, name, DIFFERENT, mine, real))
                else:
                    counts["same"] += 1
        dsim_bytes = sum(_generated(config, xds_type).values())
        archive_bytes = sum(theirs.values()) if compared else None
        # Over the resources both sides can size: an unparsed one is named, not counted on either side.
        error = None if archive_bytes is None else sum(ours.values()) - archive_bytes
        summary.append(
            {
                "proxy": proxy,
                "xds_type": xds_type,
                "compared": compared,
                "dsim_resources": len(config.resources(xds_type)),
                "archive_resources": archive_resources if compared else None,
                "dsim_bytes": dsim_bytes,
                "archive_bytes": archive_bytes,
                "byte_error": error,
                "relative_error": None if error is None or not archive_bytes else error / archive_bytes,
                **{k: (v if compared else None) for k, v in counts.items()},
            }
        )
    return pd.DataFrame(summary, columns=SUMMARY_COLUMNS), pd.DataFrame(differences, columns=DIFFERENCE_COLUMNS)


def _row(
    proxy: str, xds_type: str, name: str, status: str, mine: int | None, real: int | None, detail: str = ""
) -> dict[str, Any]:
    return {
        "proxy": proxy,
        "xds_type": xds_type,
        "name": name,
        "status": status,
        "dsim_bytes": mine,
        "archive_bytes": real,
        "detail": detail,
    }


PUSH_CHECK_COLUMNS = [
    "proxy",
    "xds_type",
    "dsim_resources",
    "log_resources",
    "dsim_bytes",
    "log_size",
    "bytes_low",
    "bytes_high",
    "agrees",
]


def compare_pushes(summary: pd.DataFrame, pushes: pd.DataFrame) -> pd.DataFrame:
    """dsim's bytes per proxy and type against istiod's last full push of it: they agree when the
    resource counts match and dsim's bytes print as the logged size (its ByteCount precision)."""
    if pushes.empty or summary.empty:
        return pd.DataFrame(columns=PUSH_CHECK_COLUMNS)
    joined = summary[["proxy", "xds_type", "dsim_resources", "dsim_bytes"]].merge(
        pushes.rename(columns={"resources": "log_resources", "size": "log_size"}), on=["proxy", "xds_type"]
    )
    joined["agrees"] = (
        (joined["dsim_resources"] == joined["log_resources"])
        & (joined["dsim_bytes"] >= joined["bytes_low"])
        & (joined["dsim_bytes"] <= joined["bytes_high"])
    )
    return joined[PUSH_CHECK_COLUMNS].reset_index(drop=True)
