"""The fast reader of kubectl's YAML equals PyYAML wherever it answers, and answers for kubectl's output."""

from __future__ import annotations

import io
import random

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dsim.inventory.read import yaml_chunks
from dsim.scenario.block_yaml import OutsideSubsetError, dump_block, load_block
from dsim.scenario.yaml_reader import parse_yaml
from tests.conftest import DATA, SCENARIOS

# Text as Kubernetes objects carry it: names, addresses, URLs, JSON in annotations, odd punctuation.
_TEXT = st.text(alphabet=st.sampled_from(list("abcxyz019 -_./:#'\"{}[],&*!|>%@`?~=\\\té\n")), max_size=12)
_SCALARS = st.one_of(
    _TEXT,
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["yes", "No", "on", "0x1F", "017", "1:30", "~", "null", "1e3", ".5", "2026-11-30T10:00:00Z", ""]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=25,
)


def _agrees(text: str) -> bool:
    """Whether the fast reader read ``text`` (True) or left it to PyYAML (False); a wrong answer fails."""
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    try:
        got = load_block(text.splitlines(), terminated=text.endswith("\n"))
    except OutsideSubsetError:
        return False
    assert got == expected, text
    return True


@settings(max_examples=400, deadline=None)
@given(value=_VALUES, width=st.sampled_from([20, 80, 1000]), indent=st.sampled_from([2, 4]))
def test_equal_to_pyyaml_or_refuses(value: object, width: int, indent: int) -> None:
    _agrees(yaml.safe_dump(value, default_flow_style=False, width=width, indent=indent, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.one_of(st.text(alphabet="abcdefghij0123456789-./", min_size=1, max_size=10), st.integers(0, 65535)),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3),
            st.dictionaries(st.text(alphabet="abcdefgh", min_size=1, max_size=6), inner, min_size=1, max_size=3),
        ),
        max_leaves=20,
    )
)
def test_reads_kubectl_style_output_itself(value: object) -> None:
    """Names, numbers and nested maps and lists (what kubectl prints) never fall back to PyYAML."""
    text = yaml.safe_dump({"root": value}, default_flow_style=False, width=10_000)
    assert _agrees(text), text


def test_kubectl_shapes() -> None:
    text = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    sidecar.istio.io/status: '{"containers":["istio-proxy"],"revision":"default"}'
    note: "a \\"quoted\\" word"
  labels:
    app: reviews   # a comment
  name: reviews-v1-7d4f9c8b5-abcde
spec:
  containers:
  - args:
    - proxy
    - sidecar
    name: istio-proxy
    ports: []
  - - nested
    - list
  script: |
    line one
      indented
    line three
  stripped: |-
    no newline
  empty: {}
  nothing:
status:
  podIPs:
  - ip: 10.244.0.5
  - ip: fd00:10:244::5
"""
    assert _agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a:\n-\n- b\n",  # an empty item before another: null, not the next item nested in it
        "a:\n- # a comment\n- b\n",
        "-\n- b\n",
        "a:\n-\n  - x\n- b\n",  # an empty item's own nested sequence
        "a:\n- b\n-\n",
        "k:\n- - a\n  -\n- c\n",
    ],
)
def test_an_empty_sequence_item_is_null(text: str) -> None:
    """A fuzzing find: ``-`` with nothing after it, followed by ``-`` at its indent, read as a list
    holding the next items where PyYAML reads null and then the next item."""
    assert _agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: |\n  x\n  y",  # the document's last line without a line break: none kept
        "a: |\n  x\n  y\n",
        "a: |\n  x\n\n",  # blank lines after it: the block's own break stays
        "a: |\n  x\n  ",
        "a: |-\n  x",
        "a:\n- |\n  x",
        "a: |\n  x\nb: 1",  # not the last line: its break stays
    ],
)
def test_a_literal_block_at_the_end_keeps_a_line_break_only_where_one_is_written(text: str) -> None:
    """A fuzzing find: ``|`` on the last line of a file without a final line break was read with one
    (clipping keeps the last line's break, and there is none), where PyYAML reads none."""
    assert _agrees(text)
    assert parse_yaml(text, "scenario.yaml") == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["-\t\n- b\n", "a:\n- \t\n- b\n", "a: 1\t\n"])
def test_a_trailing_tab_is_left_to_pyyaml(text: str) -> None:
    """A review find: ``-`` and a tab was read as an empty item where PyYAML refuses the line."""
    with pytest.raises(OutsideSubsetError):
        load_block(text.splitlines())


def test_refuses_what_it_does_not_read() -> None:
    for text in (
        "a: [1, 2]",
        "a: &x 1\nb: *x",
        "a: !!str 1",
        "a: >\n  folded\n",
        "a: b\na: c",
        "a:\n  plain\n  wrapped",
    ):
        try:
            load_block(text.splitlines())
        except OutsideSubsetError:
            continue
        raise AssertionError(f"read {text!r} itself")


@settings(max_examples=400, deadline=None)
@given(
    value=st.dictionaries(
        st.one_of(_TEXT, st.integers(-5, 5)),
        st.recursive(
            _SCALARS,
            lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
            max_leaves=25,
        ),
        max_size=5,
    )
)
def test_writer_round_trips_through_pyyaml_and_the_fast_reader(value: dict) -> None:  # type: ignore[type-arg]
    text = dump_block(value)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == value
    if value and all(isinstance(key, str) for key in value):
        assert load_block(text.splitlines()) == value  # what dsim writes, it reads back itself


_PUNCTUATION = [*":- \"'|>#\t\n{}[],&*!%@`?~\\é", "\n- ", ": ", "\n  ", "---\n", "- - ", "  "]


def _mutated(text: str, rng: random.Random) -> str:
    """``text`` with a few characters replaced, inserted or deleted, from YAML's punctuation."""
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4:
            chars[i] = rng.choice(_PUNCTUATION)
        elif op < 0.7:
            chars.insert(i, rng.choice(_PUNCTUATION))
        else:
            del chars[i]
    return "".join(chars)


@pytest.mark.parametrize("seed", range(4))
def test_damaged_captures_and_scenarios_read_as_pyyaml_reads_them_or_not_at_all(seed: int) -> None:
    """Real files with a few characters damaged, cut into items as the inventory reader cuts them:
    every piece the fast reader reads, PyYAML reads the same; nothing but a refusal escapes it."""
    rng = random.Random(seed)
    files = [DATA / "inventories" / "coverage.yaml", DATA / "inventories" / "blog-dual-stack.yaml"]
    files += sorted(SCENARIOS.glob("*.yaml"))
    texts = [path.read_text() for path in files]
    read = 0
    for _ in range(150):
        for chunk in yaml_chunks(io.StringIO(_mutated(rng.choice(texts), rng))):
            try:
                fast = load_block(chunk.lines)
            except OutsideSubsetError:
                continue
            expected = yaml.load("\n".join(chunk.lines) + "\n", Loader=yaml.CSafeLoader)
            assert fast == expected, "\n".join(chunk.lines)
            read += 1
    assert read > 1000  # the damage leaves most pieces in kubectl's corner: the fast reader was exercised
