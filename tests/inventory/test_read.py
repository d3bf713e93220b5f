"""Objects out of every form users capture: Lists, streams, JSON, folders, archives, stdin; errors name the place."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from dsim.errors import InventoryError
from dsim.inventory.read import read_objects

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "x"}, "spec": {"ports": []}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "x"}, "data": {"x": "one\ntwo\n"}}
INDENTED_LIST = """\
apiVersion: v1
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: a, namespace: x}
    spec:
      ports: []
  -   apiVersion: v1
      kind: Pod
      metadata:
        name: b
        namespace: x
      data:
        x: |
          one
          two
kind: List
"""
LIST = {"apiVersion": "v1", "items": [SERVICE, POD], "kind": "List", "metadata": {"resourceVersion": ""}}


def bodies(sources: list, stdin: str | None = None) -> list:  # type: ignore[type-arg]
    return [o.body for o in read_objects(sources, stdin=io.StringIO(stdin) if stdin is not None else None)]


@pytest.mark.parametrize(
    "text",
    [
        yaml.safe_dump(LIST),  # kubectl get -o yaml
        yaml.safe_dump(SERVICE) + "---\n" + yaml.safe_dump(POD) + "---\n",  # files concatenated
        "---\n" + INDENTED_LIST,  # a List indented unlike kubectl's
        json.dumps(LIST, indent=2),  # kubectl get -o json
        json.dumps(SERVICE) + "\n" + json.dumps(POD) + "\n",  # JSON lines
        json.dumps([SERVICE, POD]),  # a JSON array
        yaml.safe_dump({**LIST, "items": [SERVICE]}) + "---\n" + yaml.safe_dump({**LIST, "items": [POD]}),
    ],
    ids=["yaml-list", "yaml-stream", "yaml-indented-list", "json-list", "json-lines", "json-array", "two-lists"],
)
def test_every_form_gives_the_same_objects(tmp_path: Path, text: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    assert bodies([path]) == [SERVICE, POD]
    assert bodies(["-"], stdin=text) == [SERVICE, POD]


def test_folders_and_archives(tmp_path: Path) -> None:
    folder = tmp_path / "capture"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.yaml").write_text(yaml.safe_dump(SERVICE))
    (folder / "sub" / "b.json").write_text(json.dumps(POD))
    (folder / "notes.txt").write_text("not an inventory")
    assert bodies([folder]) == [SERVICE, POD]
    # A bug report: only its cluster inventory files count, whatever else it holds.
    report = tmp_path / "report" / "bug-report"
    (report / "cluster").mkdir(parents=True)
    (report / "proxies" / "x" / "b").mkdir(parents=True)
    (report / "cluster" / "k8s-resources").write_text(yaml.safe_dump({**LIST, "items": [POD]}))
    (report / "cluster" / "crs").write_text(yaml.safe_dump(SERVICE))
    (report / "proxies" / "x" / "b" / "config_dump").write_text("{}")
    assert bodies([tmp_path / "report"]) == [SERVICE, POD]
    archive = tmp_path / "bug-report.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "report" / "bug-report", arcname="bug-report")
    assert bodies([archive]) == [SERVICE, POD]


def test_origins_name_file_item_and_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(LIST))
    origins = [o.origin for o in read_objects([path])]
    assert origins[0] == f"{path}: document 1 items[0] (line 3)"
    assert origins[1].startswith(f"{path}: document 1 items[1] (line ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: 'x\n", "document 1 items[0], line 4: not valid YAML"),
        ('{"items": [{"kind": "Pod"}, {"kind": ', "line 1 column 38: not valid JSON"),
        ("kind: Pod\n\tmetadata: {}\n", "document 1, line 2: not valid YAML"),
    ],
    ids=["yaml", "json", "tab"],
)
def test_unreadable_text_is_one_line_naming_the_place(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as e:
        bodies([path])
    assert str(e.value).startswith(f"{path}: ")
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_empty_binary_and_broken_archive(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    for source, message in (
        (tmp_path / "missing.yaml", "no such file or folder"),
        (tmp_path / "empty", "holds no inventory file"),
        (tmp_path / "binary.yaml", "is not UTF-8 text"),
    ):
        with pytest.raises(InventoryError, match=message):
            bodies([source])
    with pytest.raises(InventoryError):
        bodies([tmp_path / "broken.tar.gz"])
    with pytest.raises(InventoryError, match="no inventory given"):
        bodies([])
