"""``dsim check ARCHIVE``: dsim's generated config, push sizes and Envoy memory held against the
numbers an ``istioctl bug-report`` archive carries for the same mesh, before any what-if is trusted.

Entry point: :func:`check_archive` → :class:`CheckResult` (``.table``, ``.summary()``,
``.write(folder)``). :func:`write_archive` builds such an archive from a dsim cluster.
"""

from dsim.check.archive import Archive, ArchiveError, read_archive
from dsim.check.config_dump import ConfigDumpError, read_config_dump
from dsim.check.discovery_log import byte_count, latest_full_pushes, parse_byte_count, read_pushes
from dsim.check.report import CheckResult
from dsim.check.run import DEFAULT_DESIGN, check_archive
from dsim.check.source import cluster_for
from dsim.check.write_archive import predicted_memory_files, write_archive

__all__ = [
    "DEFAULT_DESIGN",
    "Archive",
    "ArchiveError",
    "CheckResult",
    "ConfigDumpError",
    "byte_count",
    "check_archive",
    "cluster_for",
    "latest_full_pushes",
    "parse_byte_count",
    "predicted_memory_files",
    "read_archive",
    "read_config_dump",
    "read_pushes",
    "write_archive",
]
