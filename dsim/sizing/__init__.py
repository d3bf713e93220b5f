"""Will a scenario fit in memory? An estimate from the resolved scenario alone, made before
anything is allocated (:mod:`.estimate`), what the machine has (:mod:`.machine`), and the guard
that refuses a scenario the machine, or ``--max-memory``, cannot hold (:mod:`.guard`).
"""

from dsim.sizing.estimate import BYTES, SizeEstimate, Stage, estimate
from dsim.sizing.guard import check_fits, memory_limit
from dsim.sizing.machine import available_memory, format_bytes, parse_memory, resident_memory

__all__ = [
    "BYTES",
    "SizeEstimate",
    "Stage",
    "available_memory",
    "check_fits",
    "estimate",
    "format_bytes",
    "memory_limit",
    "parse_memory",
    "resident_memory",
]
