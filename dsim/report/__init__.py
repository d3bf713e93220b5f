"""The design-review report: plots (the only matplotlib user in dsim), findings written from the
numbers, and their Markdown and self-contained HTML renderings."""

from dsim.report.plots import figures
from dsim.report.review import notebook_html, write_report

__all__ = ["figures", "notebook_html", "write_report"]
