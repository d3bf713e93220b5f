"""The public surface: what ``import dsim`` offers, sorted and importable."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsim
from tests.conftest import SCENARIOS


def test_all_is_sorted_and_resolves() -> None:
    assert dsim.__all__ == sorted(dsim.__all__)
    for name in dsim.__all__:
        assert hasattr(dsim, name), name


def test_notebook_round_trip(tmp_path: Path) -> None:
    result = dsim.run(dsim.load_scenario(SCENARIOS / "istio-blog-dual-stack.yaml"))
    loaded = dsim.load_result(result.save(tmp_path / "r"))
    assert loaded.scenario == result.scenario
    assert loaded.provenance == result.provenance
    assert loaded.tables.keys() == result.tables.keys()
    assert loaded.tables["cluster_totals"].equals(result.tables["cluster_totals"])


def test_unknown_design_lists_the_valid_ones() -> None:
    with pytest.raises(dsim.UnknownNameError) as caught:
        dsim.get_design("nope")
    assert str(caught.value) == (
        "unknown design 'nope'; valid designs: single-stack, duplicate, additional-addresses, additional-addresses-1.24"
    )
