"""Design plugins: every module in this package that defines a :class:`Design` subclass.

Adding a design is adding one file here; nothing else needs to know its name.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from dsim.designs.base import Design
from dsim.errors import UnknownNameError

_NOT_PLUGINS = {"base"}


@functools.cache
def _registry() -> dict[str, Design]:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _NOT_PLUGINS:
            importlib.import_module(f"{__name__}.{module.name}")
    found = sorted(_leaf_subclasses(Design), key=lambda cls: (cls.order, cls.name))
    return {cls.name: cls() for cls in found}


def _leaf_subclasses(cls: type[Design]) -> list[type[Design]]:
    found = []
    for sub in cls.__subclasses__():
        if "name" in vars(sub):
            found.append(sub)
        found.extend(_leaf_subclasses(sub))
    return found


def design_names() -> tuple[str, ...]:
    """Every registered design's name, in listing order."""
    return tuple(_registry())


def all_designs() -> tuple[Design, ...]:
    """Every registered design, in listing order."""
    return tuple(_registry().values())


def get_design(name: str) -> Design:
    """The design called ``name``; :class:`UnknownNameError` lists the valid names otherwise."""
    try:
        return _registry()[name]
    except KeyError:
        raise UnknownNameError("design", name, design_names()) from None


__all__ = ["Design", "all_designs", "design_names", "get_design"]
