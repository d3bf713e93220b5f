"""Kubernetes objects out of whatever a user captured: files, folders, standard input, archives.

Accepted, as ``kubectl`` and ``istioctl`` write them:

- ``kubectl get ... -o yaml``: a ``kind: List`` whose ``items`` are the objects, or a stream of
  documents separated by ``---`` (files concatenated), or both;
- ``kubectl get ... -o json``: a List in JSON, several JSON values one after another, or JSON lines;
- a folder: every ``*.yaml``, ``*.yml`` and ``*.json`` below it, in name order;
- an ``istioctl bug-report`` archive (``.tar.gz``) or its unpacked folder: its ``cluster/k8s-resources``
  and ``cluster/crs`` files (the inventory part; the proxies' dumps are ``dsim check``'s).

Objects come out one at a time, each with where it came from, so an inventory of 200,000 pods is
never held twice and every error can name the file, the item and the line. YAML Lists are split
item by item on the text (kubectl prints each item as ``- `` at the List's indent) and each item is
read by :mod:`dsim.scenario.block_yaml`, or by PyYAML when it leaves kubectl's corner of YAML.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import tarfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from dsim.errors import InventoryError, TooLargeError
from dsim.scenario.block_yaml import TOO_MANY_DIGITS, OutsideSubsetError, load_block
from dsim.scenario.yaml_reader import CaptureLoader
from dsim.sizing.machine import available_memory, format_bytes

SUFFIXES = (".yaml", ".yml", ".json")
"""Files a folder contributes."""
BUG_REPORT_INVENTORY = ("cluster/k8s-resources", "cluster/crs")
"""The files of an ``istioctl bug-report`` archive that hold the cluster's objects."""
JSON_MEMORY_FACTOR = 12
"""Peak memory of reading a JSON inventory per byte of it: the text, and the largest value parsed at
once (a List's items are parsed one by one, but a single huge object is parsed whole)."""
_BLANK = re.compile(r"\s*")
TOO_DEEP = "nested too deeply for a Kubernetes object"


@dataclasses.dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object as captured, and where: ``inventory.yaml: items[17] (line 402)``."""

    body: Any
    origin: str

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "")) if isinstance(self.body, dict) else ""


def read_objects(sources: Sequence[str | Path], *, stdin: TextIO | None = None) -> Iterator[KubeObject]:
    """Every object in ``sources`` (paths, or ``-`` for standard input), in order."""
    if not sources:
        raise InventoryError("dsim import", "sources", "no inventory given (a file, a folder, an archive or -)")
    for source in sources:
        if str(source) == "-":
            # Read whole: JSON needs its text at once, and the format is told by the first character.
            yield from _objects_in_text(io.StringIO((stdin or sys.stdin).read()), "<stdin>")
            continue
        path = Path(source)
        if path.is_dir():
            yield from _objects_in_folder(path)
        elif path.is_file():
            if tarfile.is_tarfile(path):
                yield from _objects_in_archive(path)
            else:
                with _open_text(path) as text:
                    yield from _objects_in_text(text, str(path))
        else:
            raise InventoryError(str(path), "", "no such file or folder")


def _open_text(path: Path) -> TextIO:
    try:
        return path.open(encoding="utf-8")
    except OSError as e:
        raise InventoryError(str(path), "", f"cannot be read ({e.strerror or e})") from None


def inventory_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that hold objects: a bug-report's inventory files, else every YAML/JSON file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    report = [p for p in files if any(p.as_posix().endswith(tail) for tail in _bug_report_tails())]
    if report:
        return report
    return [p for p in files if p.suffix in SUFFIXES]


def _bug_report_tails() -> list[str]:
    return [tail + suffix for tail in BUG_REPORT_INVENTORY for suffix in ("", ".yaml")]


def _objects_in_folder(folder: Path) -> Iterator[KubeObject]:
    files = inventory_files(folder)
    if not files:
        raise InventoryError(str(folder), "", f"holds no inventory file ({', '.join(SUFFIXES)}, or a bug report)")
    for path in files:
        with _open_text(path) as text:
            yield from _objects_in_text(text, str(path))


def _objects_in_archive(path: Path) -> Iterator[KubeObject]:
    try:
        with tarfile.open(path, "r:*") as archive:
            members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.name)
            report = [m for m in members if any(m.name.endswith(tail) for tail in _bug_report_tails())]
            chosen = report or [m for m in members if Path(m.name).suffix in SUFFIXES]
            if not chosen:
                raise InventoryError(str(path), "", "holds no inventory file (YAML, JSON, or a bug report)")
            for member in chosen:
                raw = archive.extractfile(member)
                if raw is None:
                    continue
                with io.TextIOWrapper(raw, encoding="utf-8") as text:
                    yield from _objects_in_text(text, f"{path}!{member.name}")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InventoryError(str(path), "", f"is not a readable archive ({e})") from None


def _objects_in_text(text: TextIO, name: str) -> Iterator[KubeObject]:
    try:
        first = _first_character(text)
        if first in "{[":
            yield from _json_objects(text, name)
        else:
            yield from _yaml_objects(text, name)
    except UnicodeDecodeError as e:
        raise InventoryError(name, "", f"is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _first_character(text: TextIO) -> str:
    """The first character that is not blank or part of a YAML comment, without consuming it."""
    start = text.tell()
    for line in text:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            text.seek(start)
            return stripped[0]
    text.seek(start)
    return ""


# JSON


def _json_objects(text: TextIO, name: str) -> Iterator[KubeObject]:
    """JSON values one after another; a List's items are decoded one at a time."""
    size = _remaining_bytes(text)
    available = available_memory()
    if available is not None and size * JSON_MEMORY_FACTOR > available:
        raise TooLargeError(
            name,
            "",
            f"a {format_bytes(size)} JSON inventory needs about {format_bytes(size * JSON_MEMORY_FACTOR)} to read; "
            f"{format_bytes(available)} is available (split it, or capture it as YAML, which is read as a stream)",
        )
    scanner = _JsonScanner(text.read(), name)
    number = 0
    while scanner.more():
        number += 1
        where = f"value {number}"
        if scanner.peek() == "{":
            yield from scanner.object_or_items(where)
        else:
            value = scanner.value()
            for k, item in enumerate(value if isinstance(value, list) else [value]):
                yield KubeObject(item, f"{name}: {where}[{k}]")


class _JsonScanner:
    """Walks a JSON text: whole values by the C decoder, a List's ``items`` one item at a time."""

    def __init__(self, document: str, name: str) -> None:
        self.document = document
        self.name = name
        self.decoder = json.JSONDecoder()
        self.position = 0

    def skip(self) -> None:
        self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]

    def more(self) -> bool:
        self.skip()
        return self.position < len(self.document)

    def peek(self) -> str:
        return self.document[self.position]

    def expect(self, character: str) -> None:
        self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
        if not self.document.startswith(character, self.position):
            self.fail(f"expected {character!r}")
        self.position += 1

    def fail(self, message: str) -> None:
        line = self.document.count("\n", 0, self.position) + 1
        column = self.position - self.document.rfind("\n", 0, self.position)
        raise InventoryError(self.name, f"line {line} column {column}", f"not valid JSON ({message})")

    def value(self) -> Any:
        self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
        try:
            value, self.position = self.decoder.raw_decode(self.document, self.position)
        except json.JSONDecodeError as e:
            raise InventoryError(self.name, f"line {e.lineno} column {e.colno}", f"not valid JSON ({e.msg})") from None
        except ValueError:  # Python's cap on the digits of an integer it converts
            self.fail(TOO_MANY_DIGITS)
        except RecursionError:
            self.fail(TOO_DEEP)
        return value

    def object_or_items(self, where: str) -> Iterator[KubeObject]:
        """The object at the cursor; when it is a List, its items instead, decoded one by one."""
        start_line = self.document.count("\n", 0, self.position) + 1
        self.expect("{")
        head: dict[str, Any] = {}
        listed = False
        self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
        if self.document.startswith("}", self.position):
            self.position += 1
            yield KubeObject(head, f"{self.name}: {where} (line {start_line})")
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                self.fail("expected a key")
            self.expect(":")
            self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
            if key == "items" and self.document.startswith("[", self.position):
                listed = True
                yield from self.items(where)
            else:
                head[key] = self.value()
            self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
            if self.document.startswith(",", self.position):
                self.position += 1
                continue
            self.expect("}")
            break
        if not listed:
            yield KubeObject(head, f"{self.name}: {where} (line {start_line})")

    def items(self, where: str) -> Iterator[KubeObject]:
        self.expect("[")
        k = 0
        while True:
            self.position = _BLANK.match(self.document, self.position).end()  # type: ignore[union-attr]
            if self.document.startswith("]", self.position):
                self.position += 1
                return
            if k:
                self.expect(",")
            line = self.document.count("\n", 0, self.position) + 1 if k < 1 else None
            item = self.value()
            suffix = f" (line {line})" if line else ""
            yield KubeObject(item, f"{self.name}: {where} items[{k}]{suffix}")
            k += 1


def _remaining_bytes(text: TextIO) -> int:
    try:
        start = text.tell()
        end = text.seek(0, io.SEEK_END)
        text.seek(start)
        return end - start
    except (OSError, ValueError):
        return 0


# YAML


@dataclasses.dataclass
class Chunk:
    """Lines of one document or one List item, and where they start."""

    lines: list[str]
    first_line: int
    where: str


def _yaml_objects(text: Iterable[str], name: str) -> Iterator[KubeObject]:
    for chunk in yaml_chunks(text):
        value = _load_chunk(chunk, name)
        if value is None:
            continue  # an empty document (a trailing ---)
        if isinstance(value, dict) and isinstance(value.get("items"), list) and chunk.where.startswith("document"):
            # A List the splitter did not split (its items indented unlike kubectl's): unroll it here.
            for k, item in enumerate(value["items"]):
                yield KubeObject(item, f"{name}: {chunk.where} items[{k}]")
        elif isinstance(value, list):
            for k, item in enumerate(value):
                yield KubeObject(item, f"{name}: {chunk.where}[{k}] (line {chunk.first_line})")
        else:
            yield KubeObject(value, f"{name}: {chunk.where} (line {chunk.first_line})")


def _load_chunk(chunk: Chunk, name: str) -> Any:
    try:
        return _parsed(chunk)
    except RecursionError:
        raise InventoryError(name, f"{chunk.where}, line {chunk.first_line}", f"not valid YAML ({TOO_DEEP})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        last = chunk.first_line + len(chunk.lines) - 1  # an unexpected end is on the last line, not after it
        line = min(chunk.first_line + mark.line, last) if mark is not None else chunk.first_line
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InventoryError(name, f"{chunk.where}, line {line}", f"not valid YAML ({problem})") from None


def _parsed(chunk: Chunk) -> Any:
    """The chunk's value: by the fast reader where it reads it, else by libyaml."""
    try:
        return load_block(chunk.lines)
    except OutsideSubsetError:
        return yaml.load("\n".join(chunk.lines) + "\n", Loader=CaptureLoader)


def _is_separator(line: str) -> bool:
    return line.startswith("---") and (len(line) == 3 or line[3] in " \t")


def yaml_chunks(text: Iterable[str]) -> Iterator[Chunk]:
    """Documents, and the items of top-level ``items:`` sequences, as separate chunks of lines."""
    splitter = _Splitter()
    for number, raw in enumerate(text, 1):
        line = raw.rstrip("\r\n")
        if line[:1] == " ":  # an indented line continues what it is in: most lines, taken here at once
            if splitter.item is not None and line.startswith(splitter.continuation):
                splitter.item.append(line)
                continue
            if not splitter.in_items:
                splitter.document.append(line)
                continue
        yield from splitter.line(line, number)
    yield from splitter.end_document(0)


class _Splitter:
    """Cuts a YAML stream into chunks as its lines go by.

    A document is one chunk, unless it has a top-level ``items:`` sequence (a List): then each item
    is a chunk, and the rest of the document (``apiVersion: v1``, ``kind: List``, ``metadata``) is
    dropped, as kubectl's List wrapper carries nothing of the cluster."""

    def __init__(self) -> None:
        self.document_number = 0
        self.reset(1)

    def reset(self, document_start: int) -> None:
        """Ready for the next document, which starts at line ``document_start``."""
        self.document: list[str] = []
        self.document_start = document_start
        self.document_number += 1
        self.split = False  # this document's items were cut out
        self.in_items = False
        self.indent = -1  # the indent of the ``- `` that starts each item; -1 until the first item
        self.continuation = "\0"  # what an item's later lines start with: more indent than its ``- ``
        self.item: list[str] | None = None
        self.item_start = 0
        self.item_number = 0

    def line(self, line: str, number: int) -> Iterator[Chunk]:
        if _is_separator(line) or line == "...":
            yield from self.end_document(number + 1)
            return
        if self.in_items:
            taken = yield from self.item_line(line, number)
            if taken:
                return
        if line.rstrip() == "items:":
            self.in_items, self.indent = True, -1
            return
        self.document.append(line)

    def item_line(self, line: str, number: int) -> Generator[Chunk, None, bool]:
        """Takes ``line`` into the current item, or starts the next; False when the items have ended."""
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            if self.item is not None:
                self.item.append(line)
            return True
        indent = len(line) - len(content)
        starts_item = content == "-" or content.startswith("- ")
        if self.indent < 0:
            if not starts_item:
                self.in_items = False  # ``items:`` holding a mapping: not a List's items
                self.document.append("items:")
                return False
            self.indent = indent
            self.continuation = " " * (indent + 1)
        if indent == self.indent and starts_item:
            yield from self.end_item()
            self.item, self.item_start, self.split = [line], number, True
            return True
        if indent > self.indent and self.item is not None:
            self.item.append(line)
            return True
        yield from self.end_item()
        self.in_items = False
        return False

    def end_item(self) -> Iterator[Chunk]:
        if self.item is not None:
            yield _item_chunk(self.item, self.item_start, self.document_number, self.item_number, self.indent)
            self.item_number += 1
            self.item = None

    def end_document(self, next_start: int) -> Iterator[Chunk]:
        yield from self.end_item()
        if not self.split and any(part.strip() for part in self.document):
            yield Chunk(self.document, self.document_start, f"document {self.document_number}")
        self.reset(next_start)


def _item_chunk(lines: list[str], first_line: int, document: int, number: int, indent: int) -> Chunk:
    """An item's lines shifted left to where its content starts after ``- ``, so the item stands alone."""
    head = lines[0][indent + 1 :].lstrip(" ")
    shift = len(lines[0]) - len(head) if head else indent + 2
    body = [head] + [line[shift:] if line[:shift].strip() == "" else "" for line in lines[1:]]
    return Chunk(body, first_line, f"document {document} items[{number}]")
