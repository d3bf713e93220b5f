"""A report as a list of blocks (headings, paragraphs, bullet lists, tables, images), rendered
to Markdown (images as relative links) and to one self-contained HTML page (images embedded).

One structure, two renderings: the two files can never say different things. Text is plain;
`backticks` mark code in both renderings.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re

_CODE = re.compile(r"`([^`]+)`")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Heading:
    text: str
    """The heading's words."""
    level: int = 2
    """1 for the title, 2 for sections, 3 below."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Paragraph:
    text: str
    """Plain text; `backticks` for code."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bullets:
    items: tuple[str, ...]
    """One plain-text line per bullet."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Table:
    header: tuple[str, ...]
    """Column titles."""
    rows: tuple[tuple[str, ...], ...]
    """Cells, already formatted as text."""
    align_right: tuple[bool, ...] = ()
    """Per column: right-align (numbers); default left."""
    caption: str = ""
    """A line under the table."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Image:
    name: str
    """File stem under ``plots/`` (``<name>.png`` and ``<name>.svg``)."""
    caption: str
    """What the plot shows; also its alternative text."""
    png: bytes
    """The PNG itself (embedded in the HTML page)."""


Block = Heading | Paragraph | Bullets | Table | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], *, plots_folder: str = "plots") -> str:
    """The report as Markdown; images link to ``<plots_folder>/<name>.png``."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            right = block.align_right or (False,) * len(block.header)
            lines = [
                "| " + " | ".join(_md_cell(h) for h in block.header) + " |",
                "|" + "|".join("---:" if r else "---" for r in right) + "|",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            if block.caption:
                lines += ["", f"*{block.caption}*"]
            out.append("\n".join(lines))
        else:
            out.append(f"![{block.caption}]({plots_folder}/{block.name}.png)\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; font-size: 0.85rem; color: #59636e; padding-top: 0.3rem; text-align: left; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #59636e; }
code { background: #f6f8fa; padding: 0.1rem 0.3rem; border-radius: 4px; }
"""


def _html_table(block: Table) -> str:
    right = block.align_right or (False,) * len(block.header)
    head = "".join(f"<th>{_inline(h)}</th>" for h in block.header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_inline(c)}</td>' if r else f"<td>{_inline(c)}</td>"
            for c, r in zip(row, right, strict=True)
        )
        + "</tr>\n"
        for row in block.rows
    )
    caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"


def html_fragment(blocks: list[Block]) -> str:
    """The blocks as HTML elements (no page around them), images embedded."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>\n" + "".join(f"<li>{_inline(i)}</li>\n" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        else:
            data = base64.b64encode(block.png).decode("ascii")
            alt = html.escape(block.caption)
            parts.append(
                f'<figure id="{block.name}"><img src="data:image/png;base64,{data}" alt="{alt}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>"
            )
    return "\n".join(parts)


def to_html(blocks: list[Block], *, title: str) -> str:
    """The report as one HTML5 page with its images embedded (no file beside it is needed)."""
    body = html_fragment(blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
