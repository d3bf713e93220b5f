"""The mesh settings written as in Istio's MeshConfig (``connect_timeout``, ``tcp_keepalive``,
``default_http_retry_policy``, ``locality_lb_setting``): the fields of
:class:`~dsim.scenario.model.Mesh` whose metadata is :data:`~dsim.scenario.model.ISTIO_FORM`.

Their values are MeshConfig's own (``connectTimeout: 10s``, a ``tcpKeepalive`` as a
DestinationRule writes one, a ``defaultHttpRetryPolicy`` as a VirtualService's ``retries``), so a
platform team pastes them from its ``istio`` ConfigMap; Istio's reader (camelCase keys, durations)
reads them, and writes them back the same way.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from dsim.errors import ScenarioError, quote
from dsim.scenario.convert import join
from dsim.scenario.istio.destination_rule import LocalityLbSetting, TcpKeepalive, locality_setting_problem
from dsim.scenario.istio.reader import Ignored, SpecReader, format_duration, istio_name, to_istio
from dsim.scenario.istio.rules import retry_on_problem
from dsim.scenario.istio.virtual_service import HTTPRetry
from dsim.scenario.model import Mesh

CONNECT_TIMEOUT_MAX_MS = 3_600_000
"""istiod refuses a mesh ``connectTimeout`` beyond an hour (``ValidateConnectTimeout``, at least 1 ms)."""

MESHCONFIG_KEYS = {f.name: istio_name(f) for f in dataclasses.fields(Mesh) if f.metadata.get("istio_form")}
"""Each setting's field name → its key in Istio's MeshConfig (``connect_timeout`` → ``connectTimeout``)."""
ISTIO_FORM_FIELDS = tuple(MESHCONFIG_KEYS)


def split_mesh(raw: Mapping[Any, Any]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """A scenario's ``mesh`` mapping as what the generic converter reads and the settings in Istio's form."""
    plain = {key: value for key, value in raw.items() if key not in ISTIO_FORM_FIELDS}
    istio = {key: value for key, value in raw.items() if key in ISTIO_FORM_FIELDS}
    return plain, istio


def read_mesh_settings(
    raw: Mapping[str, Any], *, source: str, path: str = "mesh"
) -> tuple[dict[str, Any], list[Ignored]]:
    """The settings of ``raw`` (field name → value in Istio's form) read, and the fields Istio has and
    dsim leaves out; a :class:`ScenarioError` naming the field at the first bad value."""
    reader = SpecReader(source)
    hints = typing.get_type_hints(Mesh, include_extras=True)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        where = join(path, name)
        values[name] = None if value is None and _optional(hints[name]) else reader.value(hints[name], value, where)
        problem = setting_problem(name, values[name], reader.ignored_values.get(join(where, "failoverPriority")))
        if problem is not None:
            raise ScenarioError(source, setting_path(where, problem[0]), problem[1])
    return values, reader.ignored


_EXPECTED_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "connect_timeout": (int, "whole milliseconds, an int (a file writes a duration such as '10s')"),
    "tcp_keepalive": ((TcpKeepalive, type(None)), "a TcpKeepalive or None"),
    "default_http_retry_policy": ((HTTPRetry, type(None)), "an HTTPRetry or None"),
    "locality_lb_setting": ((LocalityLbSetting, type(None)), "a LocalityLbSetting or None"),
}


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def setting_problem(name: str, value: Any, failover_priority: Any = None) -> tuple[tuple[str | int, ...], str] | None:
    """What istiod checks beyond a setting's type, as (the keys under the setting, the problem): the
    connect timeout's range; a retry policy's ``retryOn``, which istiod passes to every route
    unchecked and Envoy then reads (held to a VirtualService's rule, ``agent.ValidateHTTPRetry``);
    a locality setting as a DestinationRule's (``ValidateLocalityLbSetting``; ``failover_priority``:
    its ignored ``failoverPriority`` as written). A value of the wrong type (a scenario built in
    Python) is a problem too."""
    kinds, expected = _EXPECTED_TYPES[name]
    if not isinstance(value, kinds) or isinstance(value, bool):
        return (), f"expected {expected} (got {type(value).__name__} {value!r:.80})"
    if isinstance(value, int) and not 1 <= value <= CONNECT_TIMEOUT_MAX_MS:
        shown = format_duration(value) if value > 0 else f"{value}ms"
        return (), f"{quote(shown)} is outside the 1ms to 1h istiod accepts"
    if isinstance(value, HTTPRetry) and value.retry_on:
        problem = retry_on_problem(value.retry_on)
        if problem:
            return ("retryOn",), problem
    if isinstance(value, LocalityLbSetting):
        return locality_setting_problem(value, failover_priority)
    return None


def setting_path(where: str, keys: tuple[str | int, ...]) -> str:
    """The field path of ``keys`` under the setting at ``where``."""
    for key in keys:
        where = join(where, key)
    return where


def mesh_settings_to_istio(mesh: Mesh) -> dict[str, Any]:
    """``mesh``'s settings in Istio's form, as a scenario writes them (field name → value), those at
    their defaults left out."""
    hints = typing.get_type_hints(Mesh, include_extras=True)
    defaults = Mesh()
    return {
        name: to_istio(getattr(mesh, name), hints[name])
        for name in ISTIO_FORM_FIELDS
        if getattr(mesh, name) != getattr(defaults, name)
    }
