"""An ``istioctl bug-report`` archive, read once: the files ``dsim check`` needs, by role.

istioctl writes ``bug-report/cluster/...`` (the cluster's resources), ``bug-report/proxies/<ns>/<pod>/...``
(each sidecar's Envoy admin outputs) and ``bug-report/istio/<ns>/<istiod pod>/...`` (istiod's logs
and debug pages), then tars and gzips the folder. Users rename the top folder, unpack it, or
keep a file's extension (``config_dump.json``), so the layout is found by its role folders
(``cluster``, ``proxies``, ``istio``) wherever they sit, and a file by its name without extension.

A real archive holds every container's log (hundreds of MB): only the files a check reads are
kept in memory, in one pass over a ``.tar.gz``; the rest are only listed.
"""

from __future__ import annotations

import dataclasses
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from dsim.errors import DsimError
from dsim.inventory.read import BUG_REPORT_INVENTORY

CLUSTER, PROXIES, ISTIO = "cluster", "proxies", "istio"
EXTENSIONS = (".json", ".yaml", ".yml", ".txt", ".log")
"""Extensions a file may carry beside its bug-report name (``config_dump.json`` is ``config_dump``)."""

KEPT = {
    CLUSTER: frozenset(PurePosixPath(name).name for name in BUG_REPORT_INVENTORY),
    PROXIES: frozenset({"config_dump", "memory", "server_info"}),
    ISTIO: frozenset({"discovery"}),
}
"""Per role folder, the files read (by name without extension); everything else is only listed."""


class ArchiveError(DsimError):
    """An archive that is missing, unreadable, or not an istioctl bug-report (names the file)."""


def file_key(name: str) -> str:
    """A bug-report file's name without the extension a user or tool may have added."""
    for extension in EXTENSIONS:
        if name.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name


@dataclasses.dataclass(frozen=True)
class PodFiles:
    """One pod's folder of the archive (a sidecar under ``proxies/``, an istiod under ``istio/``)."""

    namespace: str
    pod: str
    files: dict[str, bytes]
    """The kept files' contents, by file key (``config_dump``, ``memory``, ``discovery``)."""
    listed: tuple[str, ...]
    """Every file of the folder, by its path below the pod folder (``stats/prometheus``...)."""
    where: dict[str, str]
    """Each kept file's path in the archive, for messages."""

    @property
    def name(self) -> str:
        """``<namespace>/<pod>``, as dsim names a proxy."""
        return f"{self.namespace}/{self.pod}"


@dataclasses.dataclass(frozen=True)
class Archive:
    """What ``dsim check`` reads of one bug-report."""

    source: Path
    cluster: dict[str, bytes]
    """``k8s-resources`` and ``crs``, when present, by file key."""
    cluster_where: dict[str, str]
    proxies: dict[str, PodFiles]
    """By ``<namespace>/<pod>``, sorted."""
    istiods: dict[str, PodFiles]

    def location(self, member: str) -> str:
        """A member's place for a message: ``archive.tar.gz:bug-report/proxies/...``."""
        return f"{self.source}:{member}"


def _role(parts: tuple[str, ...]) -> int | None:
    """The position of the role folder in a member's path (the first ``cluster``/``proxies``/``istio``
    with the right depth below it), or ``None`` for a file outside the layout."""
    for position, part in enumerate(parts[:-1]):
        below = len(parts) - position - 1
        if (part == CLUSTER and below >= 1) or (part in (PROXIES, ISTIO) and below >= 3):
            return position
    return None


def _tar_members(path: Path) -> Iterator[tuple[str, bytes | None]]:
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = PurePosixPath(member.name).parts
                yield member.name, (_read_member(tar, member) if _wanted(parts) else None)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        # tarfile's own reason lists every compression it tried, over several lines: say what was expected.
        kind = "not a tar archive" if isinstance(e, tarfile.ReadError) else f"cannot be read ({type(e).__name__})"
        raise ArchiveError(
            f"{path}: {kind}; expected an istioctl bug-report archive (.tar.gz) or the folder it unpacks to"
        ) from None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _directory_members(path: Path) -> Iterator[tuple[str, bytes | None]]:
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        parts = PurePosixPath(relative).parts
        try:
            yield relative, (file.read_bytes() if _wanted(parts) else None)
        except OSError as e:
            raise ArchiveError(f"{file}: cannot read ({e.strerror})") from None


def _wanted(parts: tuple[str, ...]) -> bool:
    position = _role(parts)
    if position is None:
        return False
    role = parts[position]
    if role == CLUSTER:
        return file_key(parts[-1]) in KEPT[CLUSTER]
    return len(parts) == position + 4 and file_key(parts[-1]) in KEPT[role]


def read_archive(path: str | Path) -> Archive:
    """The bug-report at ``path``: a ``.tar.gz``/``.tgz`` (any tar compression) or an unpacked folder."""
    source = Path(path)
    if not source.exists():
        raise ArchiveError(f"{source}: no such archive or folder")
    members = _directory_members(source) if source.is_dir() else _tar_members(source)
    cluster: dict[str, bytes] = {}
    cluster_where: dict[str, str] = {}
    pods: dict[str, dict[tuple[str, str], PodFiles]] = {PROXIES: {}, ISTIO: {}}
    listed: dict[tuple[str, str, str], list[str]] = {}
    for name, data in members:
        parts = PurePosixPath(name).parts
        position = _role(parts)
        if position is None:
            continue
        role = parts[position]
        if role == CLUSTER:
            if data is not None:
                key = file_key(parts[-1])
                cluster[key], cluster_where[key] = data, name
            continue
        namespace, pod = parts[position + 1], parts[position + 2]
        entry = pods[role].setdefault((namespace, pod), PodFiles(namespace, pod, {}, (), {}))
        listed.setdefault((role, namespace, pod), []).append("/".join(parts[position + 3 :]))
        if data is not None:
            key = file_key(parts[-1])
            entry.files[key], entry.where[key] = data, name
    if not cluster and not pods[PROXIES] and not pods[ISTIO]:
        raise ArchiveError(
            f"{source}: not an istioctl bug-report (no cluster/, proxies/<ns>/<pod>/ or istio/<ns>/<pod>/ inside)"
        )
    return Archive(
        source=source,
        cluster=cluster,
        cluster_where=cluster_where,
        proxies=_by_name(pods[PROXIES], listed, PROXIES),
        istiods=_by_name(pods[ISTIO], listed, ISTIO),
    )


def _by_name(
    found: dict[tuple[str, str], PodFiles], listed: dict[tuple[str, str, str], list[str]], role: str
) -> dict[str, PodFiles]:
    return {
        f.name: dataclasses.replace(f, listed=tuple(sorted(listed[(role, f.namespace, f.pod)])))
        for _, f in sorted(found.items())
    }
