"""Figures to files and bytes, reproducibly: the same figure gives the same PNG and SVG bytes
(no creation date in the metadata, a fixed salt for SVG element ids)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

IMAGE_FORMATS = ("png", "svg")
DPI = 110
_SVG_SALT = "dsim"
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def image_bytes(figure: Figure, image_format: str) -> bytes:
    """The figure rendered as ``png`` or ``svg``."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": _SVG_SALT, "svg.fonttype": "path"}):
        figure.savefig(buffer, format=image_format, dpi=DPI, metadata=_METADATA[image_format])
    return buffer.getvalue()


def save_figures(figures: dict[str, Figure], folder: Path) -> dict[str, bytes]:
    """Write each figure as ``<name>.png`` and ``<name>.svg`` into ``folder``; return the PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for name, figure in figures.items():
        for image_format in IMAGE_FORMATS:
            data = image_bytes(figure, image_format)
            (folder / f"{name}.{image_format}").write_bytes(data)
            if image_format == "png":
                pngs[name] = data
    return pngs
