"""The import fuzz: mutated captures (``tests/inventory/capture_mutations.py``) are imported, and the
scenario they give builds, or they are refused with dsim's own error in one line; never a traceback.

``DSIM_IMPORT_FUZZ_CASES`` sets the number of cases (default 400), ``DSIM_IMPORT_FUZZ_SEED`` another
sequence.
"""

from __future__ import annotations

import os
import traceback

from dsim import build_cluster
from dsim.errors import DsimError
from dsim.inventory.assemble import import_objects
from dsim.inventory.read import KubeObject
from tests.inventory.capture_mutations import cases

CASES = int(os.environ.get("DSIM_IMPORT_FUZZ_CASES", "400"))
SEED = int(os.environ.get("DSIM_IMPORT_FUZZ_SEED", "2026"))
MESSAGE_LIMIT = 400


def test_mutated_captures_are_imported_or_refused_in_one_line() -> None:
    problems, outcomes = [], {"imported": 0, "refused": 0}
    for number, mutations, objects in cases(CASES, SEED):
        try:
            imported = import_objects(KubeObject(body=obj, origin=f"items[{k}]") for k, obj in enumerate(objects))
            build_cluster(imported.load())
            outcomes["imported"] += 1
        except DsimError as e:
            outcomes["refused"] += 1
            if "\n" in str(e) or len(str(e)) > MESSAGE_LIMIT:
                problems.append(f"case {number} ({'; '.join(mutations)}): message {str(e)[:120]!r}...")
        except Exception as e:  # the fuzz reports whatever escapes
            where = traceback.extract_tb(e.__traceback__)[-1]
            problems.append(
                f"case {number} ({'; '.join(mutations)}): {type(e).__name__} at {where.filename}:{where.lineno}"
            )
    assert not problems, "\n".join(problems[:20])
    assert min(outcomes.values()) > CASES // 10, outcomes  # both outcomes are exercised
