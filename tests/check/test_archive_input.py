"""Reading archives as users have them, and bad input as one clear line naming the file."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dsim import Cluster
from dsim.check import ArchiveError, ConfigDumpError, check_archive, read_archive, read_config_dump
from dsim.check.write_archive import archive_files, envoy_dump
from dsim.designs import get_design
from dsim.errors import DsimError
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.check.conftest import DESIGN, SCENARIO


def test_any_top_folder_and_file_extensions(tmp_path: Path, objects_cluster: Cluster) -> None:
    files = archive_files(objects_cluster, design=DESIGN, proxies=[0, 1])
    pod = next(name for name in files if name.endswith("config_dump")).split("/")[1:3]
    archive = tmp_path / "my-mesh-2026-11-30.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            if name.endswith("config_dump"):
                name += ".json"
            info = tarfile.TarInfo(f"tmp/bug-report-20261130/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(f"tmp/bug-report-20261130/proxies/{'/'.join(pod)}/proxy.log")
        tar.addfile(info, io.BytesIO(b""))
    read = read_archive(archive)
    assert set(read.cluster) == {"k8s-resources", "crs"}
    assert [sorted(p.files) for p in read.proxies.values()] == [["config_dump"], ["config_dump"]]
    assert [sorted(p.files) for p in read.istiods.values()] == [["discovery"]]
    assert read.proxies["/".join(pod)].listed == ("config_dump.json", "proxy.log")
    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    assert result.exact()


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=r"nothere\.tar\.gz: no such archive"):
        read_archive(tmp_path / "nothere.tar.gz")


def test_corrupt_archive(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    with pytest.raises(
        ArchiveError, match=r"broken\.tar\.gz: (not a tar archive|cannot be read); expected an istioctl"
    ) as raised:
        read_archive(broken)
    assert "\n" not in str(raised.value)


def test_a_folder_that_is_no_bug_report(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArchiveError, match="not an istioctl bug-report"):
        read_archive(tmp_path)


def test_a_config_dump_that_is_not_json(tmp_path: Path) -> None:
    folder = tmp_path / "bug-report" / "proxies" / "shop" / "frontend-0"
    folder.mkdir(parents=True)
    (folder / "config_dump").write_text("upstream connect error or disconnect/reset before headers")
    with pytest.raises(ConfigDumpError, match=r"proxies/shop/frontend-0/config_dump: not a JSON config_dump"):
        check_archive(tmp_path, design=DESIGN, scenario=SCENARIO)
    assert issubclass(ConfigDumpError, DsimError)
    with pytest.raises(ConfigDumpError, match='no "configs" list'):
        read_config_dump("[1, 2]", "x/config_dump")


def test_a_memory_file_that_is_not_envoys(tmp_path: Path, objects_cluster: Cluster) -> None:
    files = archive_files(objects_cluster, design=DESIGN, proxies=[0])
    for name, data in files.items():
        (tmp_path / "bug-report" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "bug-report" / name).write_bytes(data)
    pod = next(iter(read_archive(tmp_path).proxies))
    (tmp_path / "bug-report" / "proxies" / pod / "memory").write_text('{"heap_size": "12"}')
    with pytest.raises(ArchiveError, match=r"memory: Envoy's /memory without \"allocated\""):
        check_archive(tmp_path, design=DESIGN, scenario=SCENARIO)


def test_a_dump_with_an_unknown_filter_keeps_the_resource(objects_cluster: Cluster) -> None:
    config = proxy_config(index_for(objects_cluster), 0, get_design(DESIGN))
    document = json.loads(envoy_dump(config))
    listeners = next(s for s in document["configs"] if s["@type"].endswith("ListenersConfigDump"))
    listener = listeners["dynamicListeners"][0]["activeState"]["listener"]
    wasm = {"@type": "type.googleapis.com/envoy.extensions.wasm.v3.PluginConfig.acme", "rootId": "x"}
    listener["filterChains"][0]["filters"].insert(0, {"name": "acme", "typedConfig": wasm})
    dump = read_config_dump(json.dumps(document), "config_dump")
    assert len(dump.of_type("listeners")) == len(config.listeners)  # nothing dropped
    (unparsed,) = dump.unparsed
    assert (unparsed.name, unparsed.bytes) == (listener["name"], None)
    assert unparsed.unknown_types == (wasm["@type"],)
    assert "acme" in unparsed.reason
    sized = {r.name: r.bytes for r in dump.of_type("clusters")}
    assert sized == {c.name: c.ByteSize() for c in config.clusters}
    assert dump.static_clusters == 1
    assert dump.sections == {"listeners", "clusters", "routes", "endpoints"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"configs": [], "x": ' + "9" * 5000 + "}", "a number longer than the 4,300 digits Python reads"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["digits", "deep"],
)
def test_a_config_dump_python_cannot_read_is_refused_in_one_line(text: str, expected: str) -> None:
    """Review finds: both ended ``dsim check`` in a traceback."""
    with pytest.raises(ConfigDumpError, match=expected):
        read_config_dump(text, "frontend-0/config_dump.json")
