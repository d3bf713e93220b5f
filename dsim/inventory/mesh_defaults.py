"""The mesh config's defaults for every cluster and route, from a captured cluster: ``connectTimeout``,
``tcpKeepalive``, ``defaultHttpRetryPolicy`` (docs/istio-objects.md 4.11) and ``localityLbSetting`` (2.5).

The scenario reads them in MeshConfig's own form (:mod:`dsim.scenario.mesh_settings`), so they are
carried over as written; one the scenario's checks refuse (a connect timeout istiod refuses, a
duration or field it cannot read, a ``retryOn`` Envoy does not know) is left out with a note saying
why, not refusing the whole import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsim.errors import ScenarioError
from dsim.scenario.mesh_settings import MESHCONFIG_KEYS, read_mesh_settings


def mesh_defaults(config: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The settings ``config`` (the ``istio`` ConfigMap's mesh config) gives, as the scenario's ``mesh``
    fields, each checked as the scenario will check it; ``notes`` gains one line per setting left out."""
    found: dict[str, Any] = {}
    for field, key in MESHCONFIG_KEYS.items():
        value = config.get(key)
        if value is None:
            continue
        if field == "default_http_retry_policy" and isinstance(value, Mapping):
            value = _as_istiod_reads(value)
        try:
            read_mesh_settings({field: value}, source="meshConfig", path="")
        except ScenarioError as error:
            where = f"meshConfig.{key}" + (f".{error.path.split('.', 1)[1]}" if "." in error.path else "")
            notes.append(f"{where}: {error.message}; left out: the scenario keeps Istio's default for it")
            continue
        found[field] = value
    return found


def _as_istiod_reads(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The mesh retry policy as istiod reads it, which checks none of it (``ConvertPolicy``): a
    negative ``attempts`` is retries off, as 0 is; ``retryOn``'s parts are trimmed (``parseRetryOn``)."""
    read = dict(policy)
    attempts = read.get("attempts")
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts < 0:
        read["attempts"] = 0
    retry_on = read.get("retryOn")
    if isinstance(retry_on, str):
        read["retryOn"] = ",".join(part.strip() for part in retry_on.split(","))
    return read
