"""YAML text → plain Python data, safely: the only place dsim parses a scenario's YAML.

Plain block YAML (what dsim and kubectl write) goes through :mod:`dsim.scenario.block_yaml`, which
reads it as PyYAML would, many times faster; anything else goes through the strict loader below.

PyYAML's ``SafeLoader`` builds no arbitrary objects, but left alone it still lets bad input
escape as Python errors or eat the machine: a repeated key silently wins, an unhashable key
(``? [a]: 1``) or a tag it cannot read (``!!float x``) raises a ``TypeError`` or ``ValueError``,
deep nesting a ``RecursionError``, an alias to its own node builds a recursive structure, and a
few lines of aliases (billion laughs) stand for billions of values once expanded. Each of these
becomes a :class:`~dsim.errors.ScenarioError` here, with the line and column where the parser
has one.
"""

from __future__ import annotations

from typing import Any

import yaml

from dsim.errors import ScenarioError, quote
from dsim.scenario.block_yaml import MAX_INT_DIGITS, TOO_MANY_DIGITS, OutsideSubsetError, load_block, too_long

#: Flow collections (``[...]``, ``{...}``) nested deeper are refused while scanning: a scenario needs
#: a few levels, and PyYAML's scanner slows down with the square of the depth.
MAX_FLOW_DEPTH = 100
_TOO_DEEP = "nested too deeply (a scenario needs a few levels)"

#: Values aliases may add beyond what is written: a shipped scenario repeats a few dozen
#: (a list of ports); a billion-laughs document, billions.
MAX_REPEATED_VALUES = 1_000_000

# What each standard tag reads, for "cannot be read as ..." messages.
_TAG_WORDS = {
    "tag:yaml.org,2002:int": "a whole number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "base64 bytes",
}


def _kind(value: object) -> str:
    kinds: dict[type, str] = {list: "a list", dict: "a mapping", set: "a set"}
    return kinds.get(type(value), type(value).__name__)


def _node_text(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return quote(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose every failure is a YAML error with a place, and whose documents are checked
    for recursive and alias-amplified structure before anything is built from them."""

    def fetch_flow_collection_start(self, token_class: type) -> None:
        if self.flow_level >= MAX_FLOW_DEPTH:
            raise yaml.scanner.ScannerError(None, None, _TOO_DEEP, self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        return placed_construct(super().construct_object, node, deep)


def placed_construct(construct: Any, node: yaml.Node, deep: bool) -> Any:
    """``construct(node, deep=deep)`` (a loader's ``construct_object``) whose every failure to read a
    value by its tag is a ``ConstructorError`` at the node's place: PyYAML's scalar constructors raise
    ``ValueError`` and the like on values their tag cannot read (``!!float x``, a month 13, a decimal
    number past Python's digit cap), and a hexadecimal one past it is refused too (it fails only
    where it is printed)."""
    try:
        value = construct(node, deep=deep)
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        words = _TAG_WORDS.get(node.tag, node.tag)
        why = f" ({TOO_MANY_DIGITS})" if _too_many_digits(node) else ""
        raise yaml.constructor.ConstructorError(
            None, None, f"{_node_text(node)} cannot be read as {words}{why}", node.start_mark
        ) from None
    if too_long(value):
        raise yaml.constructor.ConstructorError(
            None, None, f"{_node_text(node)} cannot be read as a whole number ({TOO_MANY_DIGITS})", node.start_mark
        )
    return value


def _too_many_digits(node: yaml.Node) -> bool:
    """Whether an integer node's text is past Python's digit cap (what its ``ValueError`` means)."""
    return node.tag == "tag:yaml.org,2002:int" and len(str(node.value)) > MAX_INT_DIGITS


class CaptureLoader(yaml.CSafeLoader):
    """libyaml's safe loader whose values its tags cannot read fail at their place
    (:func:`placed_construct`), for cluster captures, where speed matters and nothing else does."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        return placed_construct(super().construct_object, node, deep)


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping whose keys are plain values, each once (PyYAML keeps the last of a repeated key silently).

    Merge keys (``<<: *defaults``) work as in PyYAML's SafeLoader: the merged mappings' keys come
    first and a key written in the mapping itself overrides them, so only the written keys must be
    unique. Their expansion was counted by :func:`_check_expansion` before anything was built.
    """
    merges = sum(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value)
    written = len(node.value) - merges
    loader.flatten_mapping(node)  # puts the merged pairs first, the written ones last
    seen: set[Any] = set()
    for key_node, _ in node.value[len(node.value) - written :]:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)  # not `key in seen`: a set finds itself in a set as a frozenset would
        except TypeError:  # a list, mapping or set as a key
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, not {_kind(key)}", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {quote(key)} appears twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node that contains itself, or aliases that repeat more than :data:`MAX_REPEATED_VALUES`.

    Aliases make the composed document a graph whose nodes are shared; its expanded size (every
    alias written out) is counted once per node, iteratively (a deep document must not recurse).
    """
    expanded: dict[int, int] = {}  # node id -> values in its expansion
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            ancestors.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            continue
        if key in expanded:
            continue
        if key in ancestors:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to a node that contains it (a recursive structure)", node.start_mark
            )
        ancestors.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in expanded)
    repeated = expanded[id(root)] - len(expanded)
    if repeated > MAX_REPEATED_VALUES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"its aliases repeat {repeated:,} values (at most {MAX_REPEATED_VALUES:,}); write fewer repetitions",
            None,
        )


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _read_fast(text: str) -> Any:
    """``text`` read by the fast reader of plain block YAML, or :data:`NOT_PLAIN` when it is anything
    more (aliases, tags, flow collections, duplicate keys, odd characters...), which only the strict
    loader below reads. An imported mesh's scenario is tens of megabytes of plain block YAML."""
    if yaml.reader.Reader.NON_PRINTABLE.search(text) or any(c in text for c in _OTHER_LINE_BREAKS):
        return NOT_PLAIN
    try:
        return load_block(text.splitlines(), terminated=text.endswith(("\n", "\r")))
    except (OutsideSubsetError, RecursionError):
        return NOT_PLAIN


NOT_PLAIN = object()
_OTHER_LINE_BREAKS = ("\x85", "\u2028", "\u2029")  # line breaks to YAML 1.1, not to the fast reader


def parse_yaml(text: str, source: str) -> Any:
    """The data of the one YAML document in ``text``; ``source`` names it in errors."""
    fast = _read_fast(text)
    if fast is not NOT_PLAIN:
        return fast
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.reader.ReaderError as e:  # its own text spans two lines
        character = e.character if isinstance(e.character, int) else ord(e.character)
        raise ScenarioError(
            f"{source}:{_position(text, e.position)}",
            "",
            f"invalid YAML: character U+{character:04X} is not allowed ({e.reason}); "
            "write it as an escape in a double-quoted string",
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError(where, "", f"invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(source, "", f"invalid YAML: {e}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ScenarioError(source, "", f"invalid YAML: {_TOO_DEEP}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as e:  # a constructor's own failure
        raise ScenarioError(source, "", f"invalid YAML: a value cannot be read ({quote(str(e))})") from None
