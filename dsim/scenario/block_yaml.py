"""A fast reader for the block YAML ``kubectl get -o yaml`` prints, equal to PyYAML's where it answers.

libyaml through PyYAML builds about 600 pods a second here (every scalar goes through Python's
resolver and constructor), so a 200,000-pod inventory would take minutes. kubectl's output is a
small corner of YAML: block mappings and sequences (sequences in a mapping not indented), plain or
quoted one-line scalars, ``|`` blocks, and ``{}``/``[]`` for empty collections. This module reads
exactly that corner line by line and raises :class:`OutsideSubsetError` for anything else (flow
collections with content, anchors, tags, folded or multi-line scalars...), and the caller then hands
the same text to PyYAML. Plain scalars are typed by PyYAML's own YAML 1.1 resolver and constructors,
so ``true``, ``0x1F``, ``1:30`` or ``~`` mean what they mean to ``yaml.safe_load``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

STR_TAG = "tag:yaml.org,2002:str"


class OutsideSubsetError(Exception):
    """The text uses YAML this reader does not handle; PyYAML must read it."""


MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
"""Python's cap on the digits of an integer it converts from or to decimal text (4,300 unless set)."""
TOO_MANY_DIGITS = f"a number longer than the {MAX_INT_DIGITS:,} digits Python reads"
_INT_BOUND = 10**MAX_INT_DIGITS


def too_long(value: object) -> bool:
    """Whether ``value`` is an integer Python could not write out in decimal (YAML's hexadecimal,
    octal and binary forms are read past the cap, and fail only where they are printed)."""
    return isinstance(value, int) and not -_INT_BOUND < value < _INT_BOUND


_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_CONSTRUCT = SafeConstructor()
# Characters that start a YAML indicator this reader leaves to PyYAML when they open a value.
_SPECIAL_START = frozenset("&*!%@`?>[]{},\"'|")


_SCALARS: dict[str, Any] = {}
"""Plain scalars already typed: kinds, protocols, label values and keys repeat across every object."""
_SCALARS_LIMIT = 200_000


def plain_scalar(text: str) -> Any:
    """A plain scalar typed as YAML 1.1 (PyYAML's SafeLoader) types it."""
    try:
        return _SCALARS[text]
    except KeyError:
        pass
    value = _typed(text)
    if len(_SCALARS) >= _SCALARS_LIMIT:
        _SCALARS.clear()  # names and addresses rarely repeat: keep the cache to what does
    if not isinstance(value, dict | list):  # immutable values only: a cached one is shared
        _SCALARS[text] = value
    return value


def _typed(text: str) -> Any:
    for tag, pattern in _RESOLVERS.get(text[:1] if text else "", ()):
        if pattern.match(text):
            if tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value", "tag:yaml.org,2002:yaml"):
                raise OutsideSubsetError(text)
            try:
                value = _CONSTRUCT.construct_object(ScalarNode(tag, text), deep=True)
            except (ValueError, TypeError, OverflowError):
                raise OutsideSubsetError(text) from None  # PyYAML's own error, with its place, is wanted
            if too_long(value):
                raise OutsideSubsetError(text)  # the same
            return value
    return text


def _double_quoted(text: str) -> str:
    if "\\" in text:  # escapes: rare in kubectl output, and YAML's differ from Python's
        try:
            value = yaml.load(f'"{text}"', Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            raise OutsideSubsetError(text) from None  # a bad escape: PyYAML reports it, with its place
        if not isinstance(value, str):
            raise OutsideSubsetError(text)
        return value
    return text


def _quoted(text: str) -> tuple[str, str]:
    """A quoted scalar at the start of ``text``: (its value, what follows the closing quote)."""
    quote = text[0]
    if quote == "'":
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:
                raise OutsideSubsetError(text)  # continues on the next line
            if text[end + 1 : end + 2] == "'":
                end += 2
                continue
            return text[1:end].replace("''", "'"), text[end + 1 :]
    end = 1
    while True:
        end = text.find('"', end)
        if end < 0:
            raise OutsideSubsetError(text)
        backslashes = len(text[:end]) - len(text[:end].rstrip("\\"))
        if backslashes % 2 == 0:
            return _double_quoted(text[1:end]), text[end + 1 :]
        end += 1


def _rest_is_empty(rest: str) -> None:
    stripped = rest.strip()
    if stripped and not stripped.startswith("#"):
        raise OutsideSubsetError(rest)


def _value(text: str) -> Any:
    """A one-line value (after ``key: `` or ``- ``)."""
    first = text[0]
    if first in _SPECIAL_START:
        if first in "\"'":
            value, rest = _quoted(text)
            _rest_is_empty(rest)
            return value
        stripped = text.split(" #", 1)[0].rstrip()
        if stripped == "{}":
            return {}
        if stripped == "[]":
            return []
        raise OutsideSubsetError(text)
    if first == "-" and (len(text) == 1 or text[1] in " \t"):
        raise OutsideSubsetError(text)  # a sequence where a scalar was expected: PyYAML's error to give
    cut = text.find(" #")
    if cut >= 0:
        text = text[:cut]
    text = text.rstrip()
    if ": " in text or text.endswith(":") or "\t" in text:
        raise OutsideSubsetError(text)  # a mapping on one line, or an ambiguous plain scalar
    return plain_scalar(text)


def _key(text: str) -> tuple[str, str] | None:
    """``key: rest`` → (key, rest); None when the line is no mapping entry."""
    if text[0] in "\"'":
        key, rest = _quoted(text)
        if not (rest.startswith(": ") or rest == ":" or rest.startswith(":\t")):
            return None  # a quoted scalar, not a key
        return key, rest[1:].strip()
    cut = text.find(": ")
    if cut < 0:
        if text.endswith(":"):
            return _plain_key(text[:-1]), ""
        return None
    return _plain_key(text[:cut]), text[cut + 2 :].strip()


_KEYS: dict[str, str] = {}
"""Keys already checked: every object repeats ``name``, ``labels``, ``spec``..."""


def _plain_key(text: str) -> str:
    try:
        return _KEYS[text]
    except KeyError:
        pass
    key = _checked_key(text)
    if len(_KEYS) < _SCALARS_LIMIT:
        _KEYS[text] = key
    return key


def _checked_key(text: str) -> str:
    if not text or text[0] in _SPECIAL_START or text[0] in "-#" or " #" in text or text != text.strip() or "\t" in text:
        raise OutsideSubsetError(text)  # odd keys (``name :``, tabs, comments) are PyYAML's to read
    key = plain_scalar(text)
    if not isinstance(key, str):
        raise OutsideSubsetError(text)  # PyYAML would key it by an int or bool: leave that to PyYAML
    return key


class _Reader:
    """One document's lines, read top-down; ``lines[i]`` is (indent, content) or None when blank."""

    def __init__(self, raw: list[str], *, terminated: bool = True) -> None:
        self.raw = raw
        self.terminated = terminated
        """Whether the document's last line ends in a line break (a file's may not)."""
        self.lines: list[tuple[int, str] | None] = []
        for line in raw:
            content = line.lstrip(" ")
            if not content or content[0] == "#" or content.isspace():
                self.lines.append(None)
            elif content[0] == "\t" or "\t" in content[len(content.rstrip()) :]:
                raise OutsideSubsetError(line)  # a tab PyYAML may refuse, even trailing (``-\t``)
            else:
                self.lines.append((len(line) - len(content), content.rstrip()))
        self.n = len(raw)

    def next_line(self, i: int) -> int:
        while i < self.n and self.lines[i] is None:
            i += 1
        return i

    def node(self, i: int) -> tuple[Any, int]:
        line = self.lines[i]
        assert line is not None
        indent, text = line
        if text == "-" or text.startswith("- "):
            return self.sequence(i, indent)
        return self.mapping(i, indent)

    def nested(self, i: int, indent: int, *, item: bool = False) -> tuple[Any, int]:
        """The value under a ``key:`` or (``item``) a ``-`` with nothing after it, at line ``i`` on. A
        sequence may sit at a key's own indent; after a ``-``, a ``-`` there is the next item, and
        this one is null."""
        j = self.next_line(i)
        if j < self.n:
            below = self.lines[j]
            assert below is not None
            deeper = below[0] > indent
            same_level_sequence = not item and below[0] == indent and (below[1] == "-" or below[1].startswith("- "))
            if deeper or same_level_sequence:
                return self.node(j)
        return None, j

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        i = self.next_line(i)
        while i < self.n:
            line = self.lines[i]
            assert line is not None
            if line[0] < indent:
                break
            if line[0] > indent:
                raise OutsideSubsetError(line[1])  # continuation of a plain scalar
            entry = _key(line[1])
            if entry is None:
                if line[1] == "-" or line[1].startswith("- "):
                    break  # a sequence at the parent's indent ends this mapping
                raise OutsideSubsetError(line[1])
            key, rest = entry
            if key in out:
                raise OutsideSubsetError(key)  # PyYAML keeps the last; kubectl never repeats one
            if not rest or rest.startswith("#"):
                out[key], i = self.nested(i + 1, indent)
            elif rest[0] == "|":
                out[key], i = self.block(i + 1, indent, rest)
            else:
                out[key] = _value(rest)
                i = self.next_line(i + 1)
        return out, i

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        i = self.next_line(i)
        while i < self.n:
            line = self.lines[i]
            assert line is not None
            if line[0] != indent or not (line[1] == "-" or line[1].startswith("- ")):
                if line[0] > indent:
                    raise OutsideSubsetError(line[1])
                break
            item = line[1][1:].lstrip(" ")
            if not item or item.startswith("#"):
                value, i = self.nested(i + 1, indent, item=True)
                out.append(value)
                continue
            inner = indent + len(line[1]) - len(item)
            if item == "-" or item.startswith("- ") or _key(item) is not None:
                self.lines[i] = (inner, item)  # the item's first line, moved to its own indent
                value, i = self.node(i)
            elif item[0] == "|":
                value, i = self.block(i + 1, indent, item)
            else:
                value = _value(item)
                i = self.next_line(i + 1)
            out.append(value)
        return out, i

    def block(self, i: int, parent_indent: int, header: str) -> tuple[str, int]:
        """A literal block scalar (``|`` or ``|-``) whose lines start at ``i``."""
        style = header.split(" #", 1)[0].strip()
        if style not in ("|", "|-"):
            raise OutsideSubsetError(header)
        start = self.next_line(i)
        if start >= self.n or self.lines[start][0] <= parent_indent:  # type: ignore[index]
            raise OutsideSubsetError(header)  # an empty block: leave its chomping to PyYAML
        content_indent = self.lines[start][0]  # type: ignore[index]
        if any(self.raw[k].strip() for k in range(i, start)):
            raise OutsideSubsetError(header)  # comment-looking text before the block's first line
        end = start
        while end < self.n:
            raw = self.raw[end]
            content = raw.lstrip(" ")
            if content and not content.isspace() and len(raw) - len(content) < content_indent:
                break
            end += 1
        body = [self.raw[k][content_indent:] for k in range(start, end)]
        while body and not body[-1].strip():
            body.pop()
        if any("\t" in line[:1] for line in body):
            raise OutsideSubsetError(header)
        text = "\n".join(body)
        # ``|`` keeps the line break after the block's last line: none where that is the document's
        # last line and the document ends without one.
        breaks = self.terminated or start + len(body) < self.n
        return (text + "\n" if style == "|" and breaks else text), self.next_line(end)


def load_block(lines: list[str], *, terminated: bool = True) -> Any:
    """One YAML document from its lines (no ``---``), as ``yaml.safe_load`` reads it (``terminated``:
    the last line ends in a line break, as every line of a stream's chunk does).

    Raises :class:`OutsideSubsetError` when the text leaves kubectl's corner of YAML."""
    reader = _Reader(lines, terminated=terminated)
    start = reader.next_line(0)
    if start >= reader.n:
        return None
    value, end = reader.node(start)
    if reader.next_line(end) < reader.n:
        raise OutsideSubsetError("text after the document's top level")
    first = reader.lines[start]
    assert first is not None
    if first[0] != 0 and not isinstance(value, list):
        raise OutsideSubsetError("an indented top level")
    return value


# Writing


def _plain_is_safe(text: str) -> bool:
    """Whether ``text`` can be written unquoted and read back as the same string."""
    if not text or text != text.strip() or text[0] in _SPECIAL_START or text[0] in "-#,%@`?:~]}":
        return False
    if ": " in text or " #" in text or text.endswith(":") or any(c < " " or c == "\x7f" for c in text):
        return False
    if not text.isascii():
        return False  # quoted: the writer need not know which characters YAML lets stand alone
    try:
        return plain_scalar(text) == text and isinstance(plain_scalar(text), str)
    except OutsideSubsetError:
        return False


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.1 reads an exponent without a dot as text: 1e-05 must be written 1.0e-05.
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, str):
        return value if _plain_is_safe(value) else json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")  # a dsim bug: plain data only


def _dump_lines(value: Any, indent: int, out: list[str]) -> None:
    """``value`` (a non-empty mapping or list) as block lines at ``indent``."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise TypeError(f"cannot write a {type(key).__name__} key as YAML")
            head = f"{pad}{_scalar_text(key)}:"
            if isinstance(item, dict | list) and item:
                out.append(head)
                _dump_lines(item, indent + 2 if isinstance(item, dict) else indent, out)
            else:
                out.append(f"{head} {_inline(item)}")
        return
    for item in value:
        if isinstance(item, dict | list) and item:
            start = len(out)
            _dump_lines(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2 :]}"  # the item's first line after its dash
        else:
            out.append(f"{pad}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar_text(value)


def dump_block(value: Mapping[str, Any]) -> str:
    """Plain data (mappings keyed by str or int, lists, str, int, float, bool, None) as block YAML that
    ``yaml.safe_load`` (and :func:`load_block`) read back equal; many times faster than PyYAML's writer."""
    out: list[str] = []
    if value:
        _dump_lines(dict(value), 0, out)
    else:
        out.append("{}")
    return "\n".join(out) + "\n"
