"""The import fuzz: mutated captures (``tests/inventory/capture_mutations.py``) are imported, the
scenario file written loads and builds, or they are refused with dsim's own error in one line;
never a traceback.

``DSIM_IMPORT_FUZZ_CASES`` sets the number of cases (default 400), ``DSIM_IMPORT_FUZZ_SEED``
another sequence.
"""

from __future__ import annotations

import os

import pytest
import yaml

from dsim import build_cluster, scenario_from_dict
from dsim.errors import DsimError
from dsim.sizing import memory_limit
from tests.inventory.capture_mutations import CaptureCase, cases
from tests.inventory.captures import imported_from
from tests.test_fuzz import MESSAGE_LIMIT, describe_escape

CASES = int(os.environ.get("DSIM_IMPORT_FUZZ_CASES", "400"))
SEED = int(os.environ.get("DSIM_IMPORT_FUZZ_SEED", "2026"))


def _outcome(case: CaptureCase) -> str | None:
    """None when the capture imports and its scenario file loads and builds, else dsim's message."""
    try:
        imported = imported_from(case.objects)
        build_cluster(scenario_from_dict(yaml.safe_load(imported.yaml()), source=f"case {case.number}"))
    except DsimError as e:
        return str(e)
    return None


@pytest.mark.slow
def test_mutated_captures_are_imported_or_refused_in_one_line() -> None:
    problems, refused = [], 0
    with memory_limit(16 * 2**30, described="--max-memory"):  # as the scenario fuzz: no input may take more
        for case in cases(SEED, CASES):
            what = f"case {case.number} ({'; '.join(case.mutations)})"
            try:
                message = _outcome(case)
            except Exception as e:  # the fuzz reports whatever escapes
                problems.append(f"{what}: {describe_escape(e)}")
                continue
            if message is not None:
                refused += 1
                if "\n" in message or len(message) > MESSAGE_LIMIT:
                    problems.append(f"{what}: a message of {len(message)} characters: {message[:120]!r}...")
    assert not problems, "\n".join(problems[:20])
    assert 0 < refused < CASES, refused  # both outcomes are exercised
