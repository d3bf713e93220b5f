"""The mesh's access logs from a captured cluster: ``meshConfig.accessLogFile`` and its encoding and
format, or the Telemetry API's built-in ``envoy`` provider switched on mesh-wide (docs/import.md).

istiod takes the Telemetry API first: where a Telemetry object (or ``defaultProviders.accessLogging``)
sets access logging for a proxy, ``accessLogFile`` is not read for it (``AccessLogging`` in
``pilot/pkg/model/telemetry.go``, the fallback in ``accesslog.go``). The ``envoy`` provider writes
the same file access log as ``accessLogFile: /dev/stdout``, in the mesh's encoding and format
(``telemetryAccessLog``), which is what dsim models. Telemetry that logs for some proxies only, to
another provider, with a filter or by traffic direction, is left out with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsim.errors import quote
from dsim.scenario.access_log_rules import format_limit_problem, json_object_problem, path_problem

ENVOY_PROVIDER = "envoy"
"""Istio's built-in file access log provider (``/dev/stdout``, the mesh's format)."""
ENVOY_PROVIDER_PATH = "/dev/stdout"


def mesh_access_log(config: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The mesh config's ``accessLogFile``, ``accessLogEncoding``, ``accessLogFormat`` and
    ``disableEnvoyListenerLog`` as the scenario's ``mesh.access_log_*``, where they differ from
    Istio's defaults. What istiod cannot read, or reads as its default, and what is beyond dsim's
    limits (:mod:`dsim.scenario.access_log_rules`) is left out with a note saying which."""
    path = config.get("accessLogFile")
    if path is None or path == "":
        return {}
    problem = f"is {type(path).__name__}, not a path" if not isinstance(path, str) else path_problem(path)
    if problem:
        notes.append(f"meshConfig.accessLogFile {quote(str(path))} {problem}: left out, no access log")
        return {}
    return {"access_log_file": path, **_log_format(config, notes)}


def _log_format(config: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The encoding, format and listener log setting every access log of the mesh shares."""
    found: dict[str, Any] = {}
    encoding = config.get("accessLogEncoding", "TEXT")
    if encoding not in ("TEXT", "JSON"):
        notes.append(
            f"meshConfig.accessLogEncoding {quote(str(encoding))} is neither TEXT nor JSON, which istiod "
            "cannot read: left out (TEXT, Istio's default)"
        )
        encoding = "TEXT"
    found["access_log_encoding"] = encoding
    text = config.get("accessLogFormat", "")
    if not isinstance(text, str):
        notes.append(
            f"meshConfig.accessLogFormat is {type(text).__name__}, not text: left out (Istio's default format)"
        )
    elif problem := format_limit_problem(text, encoding):
        notes.append(
            f"meshConfig.accessLogFormat {quote(text)} {problem}, beyond what dsim takes: left out "
            "(the scenario uses Istio's default format)"
        )
    elif problem := json_object_problem(text) if encoding == "JSON" and text else None:
        notes.append(
            f"meshConfig.accessLogFormat {quote(text)} {problem}: istiod then writes its default JSON "
            "format, and so does the scenario"
        )
    elif text:
        found["access_log_format"] = text
    if config.get("disableEnvoyListenerLog") is True:
        found["disable_envoy_listener_log"] = True
    return found


def _names(value: Any) -> list[str] | None:
    """Provider names of a ``providers`` list (``[{name: envoy}]``) or ``defaultProviders`` list
    (``[envoy]``); None when they are not written so."""
    if not isinstance(value, list):
        return None
    names = [item.get("name") if isinstance(item, dict) else item for item in value]
    return [n for n in names if isinstance(n, str)] if all(isinstance(n, str) for n in names) else None


def _mesh_wide_logging(entries: Any, defaults: list[str]) -> bool | str | None:
    """What a mesh-wide Telemetry's ``accessLogging`` entries do for every proxy: True (the ``envoy``
    provider logs), False (disabled), None (they name no provider, the mesh's default ones neither:
    istiod then reads the mesh config's ``accessLogFile``), or why dsim does not model them."""
    if not isinstance(entries, list) or not entries:
        return "its accessLogging is not a list of entries"
    states = set()
    for entry in entries:
        if not isinstance(entry, dict):
            return "an accessLogging entry is not a mapping"
        if entry.get("match") or entry.get("filter"):
            return "an entry logs by traffic direction (match) or with a filter"
        names = _names(entry.get("providers")) if entry.get("providers") else defaults
        if names is None or any(n.lower() != ENVOY_PROVIDER for n in names):
            return f"an entry logs to providers other than the built-in {ENVOY_PROVIDER!r} ({names})"
        if names:
            states.add(entry.get("disabled") is True)
    if not states:
        return None
    if len(states) > 1:
        return "its entries both enable and disable the same provider"
    return not states.pop()


def telemetry_access_log(
    config: Mapping[str, Any],
    telemetries: list[tuple[str, str, dict[str, Any]]],
    root: str,
    found: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """``found`` (the mesh config's access log, :func:`mesh_access_log`) as the Telemetry API
    leaves it: ``telemetries`` are the captured Telemetry objects (namespace, name, body), ``root``
    the root namespace. A mesh-wide one (the root namespace's, no selector or target), or the mesh
    config's ``defaultProviders.accessLogging`` without one, decides every proxy's access log when
    it names the built-in ``envoy`` provider alone; anything else is noted and left out."""
    logging = [(ns, name, body["spec"]) for ns, name, body in telemetries if _has_logging(body)]
    default_providers = config.get("defaultProviders")
    written = default_providers.get("accessLogging") if isinstance(default_providers, dict) else None
    defaults = _names(written) or []
    if not logging and not defaults:
        return found  # no Telemetry API access logging: the mesh config's holds
    targeted = ("selector", "targetRef", "targetRefs")
    mesh_wide = [(ns, n, spec) for ns, n, spec in logging if ns == root and not any(spec.get(k) for k in targeted)]
    partial = [f"{ns}/{n}" for ns, n, spec in logging if (ns, n, spec) not in mesh_wide]
    if partial:
        notes.append(
            f"Telemetry access logging for some proxies only ({', '.join(sorted(partial)[:3])}"
            f"{', ...' if len(partial) > 3 else ''}) is not modelled: dsim gives every sidecar the mesh-wide one"
        )
    redefined = isinstance(config.get("extensionProviders"), list) and any(
        isinstance(p, dict) and str(p.get("name", "")).lower() == ENVOY_PROVIDER for p in config["extensionProviders"]
    )
    if len(mesh_wide) > 1:
        verdict: bool | str | None = f"{len(mesh_wide)} mesh-wide Telemetry objects set it (istiod takes the oldest)"
    elif redefined:
        verdict = f"meshConfig.extensionProviders redefines the {ENVOY_PROVIDER!r} provider"
    elif mesh_wide:
        verdict = _mesh_wide_logging(mesh_wide[0][2]["accessLogging"], defaults)
    else:
        verdict = _mesh_wide_logging([{}], defaults)  # defaultProviders alone
    source = f"Telemetry {mesh_wide[0][0]}/{mesh_wide[0][1]}" if mesh_wide else "meshConfig.defaultProviders"
    if verdict is None:
        return found
    if isinstance(verdict, str):
        notes.append(f"the mesh-wide access logging of {source} is not modelled ({verdict}); {_kept(found)}")
        return found
    if not verdict:
        notes.append(f"{source} disables access logging mesh-wide: no access log (istiod reads no accessLogFile then)")
        return {}
    if found.get("access_log_file") not in (None, ENVOY_PROVIDER_PATH):
        notes.append(
            f"{source} logs through the built-in {ENVOY_PROVIDER!r} provider ({ENVOY_PROVIDER_PATH}), in place of "
            f"meshConfig.accessLogFile {quote(found['access_log_file'])}, as istiod does"
        )
    # The provider writes the mesh's format even where accessLogFile is empty (telemetryAccessLog).
    # _log_format noted its problems already where the mesh config's own file was read.
    return {"access_log_file": ENVOY_PROVIDER_PATH, **_log_format(config, notes if not found else [])}


def _has_logging(body: dict[str, Any]) -> bool:
    spec = body.get("spec")
    return isinstance(spec, dict) and bool(spec.get("accessLogging"))


def _kept(found: Mapping[str, Any]) -> str:
    if found:
        return (
            f"the scenario keeps meshConfig.accessLogFile {quote(found['access_log_file'])}, which istiod ignores then"
        )
    return "the scenario has no access log"
