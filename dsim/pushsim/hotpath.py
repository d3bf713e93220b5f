"""Which form of the push model's hot loops runs: the compiled kernels (:mod:`dsim.pushsim.kernels`)
or, with ``DSIM_PUSHSIM_NUMPY=1`` in the environment, their NumPy twins
(:mod:`dsim.pushsim.reference`), e.g. for a bench that checks the two give the same figures."""

from __future__ import annotations

import os
from types import ModuleType

from dsim.pushsim import kernels, reference

ENV = "DSIM_PUSHSIM_NUMPY"


def hot_loops() -> ModuleType:
    """The module whose ``scan``, ``commit``, ``tally`` and ``spread_cpu`` the push model calls
    (read when a simulation is set up, so a process can run both)."""
    return reference if os.environ.get(ENV) == "1" else kernels
