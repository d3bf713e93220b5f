"""The design-review report: plots (the only matplotlib user in dsim), findings written from the
numbers, and their Markdown and self-contained HTML renderings."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsim.report.plots import figures
    from dsim.report.review import notebook_html, write_report

__all__ = ["figures", "notebook_html", "write_report"]

# Members load on first use (PEP 562): the CLI imports this package's numbers and verdict modules
# for every command, and importing the plots eagerly would load matplotlib for each of them.
_MODULES = {"figures": "dsim.report.plots", "notebook_html": "dsim.report.review", "write_report": "dsim.report.review"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
