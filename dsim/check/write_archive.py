"""A bug-report archive built from a dsim cluster, laid out as ``istioctl bug-report`` lays one out.

For the check's tests and for users to try ``dsim check`` without a cluster: the inventory
(``cluster/k8s-resources``, with the Istio objects in ``cluster/crs``, from
:mod:`dsim.inventory.export`), each sidecar's ``config_dump`` (dsim's dump under the design,
with a bootstrap cluster in ``static_clusters`` and an empty secrets section as Envoy's dump has),
istiod's ``discovery.log`` with one full push line per proxy and type carrying dsim's own sizes,
and, when given, each sidecar's ``memory`` file (Envoy's ``/memory`` JSON).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dsim.api import envoy_costs
from dsim.check.archive import ArchiveError
from dsim.check.discovery_log import byte_count
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.inventory.export import inventory_objects
from dsim.xds.dump import dump_json
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for

ROOT = "bug-report"
ISTIOD = "istio-system/istiod-7f9c8d6b5-x2x4z"
LOG_TIME = "2026-11-30T10:00:{second:02d}.{micro:06d}Z"
_SHORT = (("CDS", "clusters"), ("EDS", "endpoints"), ("LDS", "listeners"), ("RDS", "routes"))
"""Types in the order istiod pushes them to a new connection."""
_BOOTSTRAP_CLUSTER = {
    "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "name": "xds-grpc",
    "type": "STATIC",
    "connectTimeout": "1s",
}


def memory_json(counters: Mapping[str, int]) -> str:
    """Envoy's ``/memory`` body: tcmalloc's counters as JSON strings."""
    keys = (
        "allocated",
        "heap_size",
        "pageheap_unmapped",
        "pageheap_free",
        "total_thread_cache",
        "total_physical_bytes",
    )
    body = {key: str(int(counters.get(key, 0))) for key in keys}
    return json.dumps(body, indent=1) + "\n"


def predicted_memory_files(cluster: Cluster, design: str) -> dict[str, dict[str, int]]:
    """Memory files for every proxy from dsim's own prediction (what the model says Envoy holds)."""
    costs = envoy_costs(cluster, design)
    index = index_for(cluster)
    out = {}
    for proxy, allocated, heap in zip(
        costs["proxy"], costs["envoy_memory_bytes"], costs["envoy_heap_bytes"], strict=True
    ):
        view = index.proxy(int(proxy))
        out[f"{view.namespace}/{view.pod_name}"] = {"allocated": int(allocated), "heap_size": int(heap)}
    return out


def envoy_dump(config: ProxyConfig) -> str:
    """dsim's dump of ``config`` as Envoy's admin API would print it with ``?include_eds``: the xDS
    sections, a bootstrap cluster among ``static_clusters`` and an (empty) secrets section."""
    document: dict[str, Any] = json.loads(dump_json(config))
    for section in document["configs"]:
        if section["@type"].endswith(".ClustersConfigDump"):
            section["staticClusters"] = [{"cluster": _BOOTSTRAP_CLUSTER}]
    document["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"})
    return json.dumps(document, indent=2) + "\n"


def push_lines(name: str, config: ProxyConfig, second: int) -> list[str]:
    """istiod's log lines for a new connection's first full push to proxy ``name`` (``ns/pod``)."""
    namespace, pod = name.split("/", 1)
    lines = []
    for micro, (short, xds_type) in enumerate(_SHORT):
        resources = config.resources(xds_type)
        size = byte_count(sum(r.ByteSize() for r in resources))
        stamp = LOG_TIME.format(second=second % 60, micro=micro)
        extra = " empty:0 cached:0/{n}" if xds_type == "endpoints" else ""
        lines.append(
            f"{stamp}\tinfo\tads\t{short}: PUSH request for node:{pod}.{namespace} resources:{len(resources)} "
            f"size:{size}{extra.format(n=len(resources))}"
        )
    return lines


def archive_files(
    cluster: Cluster,
    *,
    design: str = "additional-addresses",
    proxies: Sequence[int] | None = None,
    memory: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, bytes]:
    """The archive's files by path (below ``bug-report/``)."""
    chosen = get_design(design)
    index = index_for(cluster)
    files: dict[str, bytes] = {}
    objects = list(inventory_objects(cluster))
    istio = [o for o in objects if str(o.get("apiVersion", "")).split("/")[0].endswith("istio.io")]
    core = [o for o in objects if o not in istio]
    for name, items in (("k8s-resources", core), ("crs", istio)):
        files[f"cluster/{name}"] = _kubectl_list(items)
    log: list[str] = []
    rows = range(len(cluster.proxies)) if proxies is None else proxies
    for second, row in enumerate(rows):
        config = proxy_config(index, int(row), chosen)
        name = f"{config.proxy.namespace}/{config.proxy.pod_name}"
        files[f"proxies/{name}/config_dump"] = envoy_dump(config).encode()
        if memory is not None and name in memory:
            files[f"proxies/{name}/memory"] = memory_json(memory[name]).encode()
        log.extend(push_lines(name, config, second))
    files[f"istio/{ISTIOD}/discovery.log"] = ("\n".join(log) + "\n").encode()
    return files


class _NoAliases(yaml.SafeDumper):
    """kubectl never writes YAML anchors: objects that share a dict (labels) are written out each time."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _kubectl_list(items: list[dict[str, Any]]) -> bytes:
    listed = {"apiVersion": "v1", "kind": "List", "items": items}
    return yaml.dump(listed, Dumper=_NoAliases, sort_keys=False).encode()


def save_files(files: Mapping[str, bytes], path: str | os.PathLike[str]) -> Path:
    """Write ``files`` under ``bug-report/`` as a ``.tar.gz``/``.tgz`` (by the name) or a folder."""
    target = Path(path)
    if target.exists():
        raise ArchiveError(f"{target}: already exists; choose another path for the archive")
    if target.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(target, "w:gz") as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"{ROOT}/{name}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        return target
    for name, data in sorted(files.items()):
        file = target / ROOT / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
    return target


def write_archive(
    cluster: Cluster,
    path: str | os.PathLike[str],
    *,
    design: str = "additional-addresses",
    proxies: Sequence[int] | None = None,
    memory: Mapping[str, Mapping[str, int]] | None = None,
) -> Path:
    """Build a bug-report of ``cluster``'s sidecars (``proxies`` rows, all by default) under
    ``design`` at ``path``; ``memory``: ``/memory`` counters by ``ns/pod`` for the proxies that get
    a memory file (:func:`predicted_memory_files`, or measured ones)."""
    return save_files(archive_files(cluster, design=design, proxies=proxies, memory=memory), path)
